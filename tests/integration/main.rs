//! Integration tests: the real service on port 0 against real FHIR simulators on loopback.

mod access;
mod blocks;
mod caching;
mod demo;
mod edge;
mod fault_matrix;
mod faults;
mod filters;
mod harness;
mod lab_reports;
mod labels;
mod notifications;
mod overview;
mod paging;
#[path = "../common/pki.rs"]
mod pki;
mod platform;
mod readme;
mod real_data;
mod rules;
mod schema;
mod security;
mod shape;
mod subscriptions;
mod tokens;
