//! Överblick: one current overview of a person's care, gathered concurrently from every
//! care-provider source that holds a piece of it, merged, de-duplicated and served over GraphQL.
//!
//! The modules follow the path of a request (see README, "Architecture"):
//! `http` (the edge) → `auth` (who asks) → `graphql` (the schema) → `engine` (fan-out under
//! deadlines, with `cache`) → `sources` (protocol adapters) → `merge` (pure de-duplication) →
//! `audit` (one record per access, kept by `store`, the database). `config` loads settings and the
//! source catalog; `app` puts them together; `simulator` is the built-in FHIR server the demo and
//! the tests run against.

pub mod access;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod domain;
pub mod engine;
pub mod graphql;
pub mod http;
pub mod merge;
pub mod metrics;
pub mod simulator;
pub mod sources;
pub mod store;
