//! Överblick: one current overview of a person's care, gathered concurrently from every
//! care-provider source that holds a piece of it, merged, de-duplicated and served over GraphQL.
//!
//! The modules follow the path of a request (see README, "Architecture"):
//! `http` (the edge) → `auth` (who asks) → `graphql` (the schema) → `engine` (fan-out under
//! deadlines, with `cache`) → `sources` (protocol adapters) → `merge` (pure de-duplication) →
//! `audit` (one record per access, kept by `store`, the database). `config` loads settings and the
//! source catalog; `app` puts them together; `demo` (feature `demo`) starts the simulated sources
//! of the `overblick-simulators` crate that the demo and the tests run against. `codes` is the
//! one table of the error codes clients see; every layer takes its codes from it.

pub mod access;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod codes;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod engine;
pub mod graphql;
pub mod http;
pub mod live;
pub mod merge;
pub mod metrics;
pub mod notify;
pub mod sources;
pub mod store;
