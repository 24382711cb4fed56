//! Configuration: the service's settings and the source catalog.

pub mod catalog;
