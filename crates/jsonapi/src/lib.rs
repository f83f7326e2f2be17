//! The jsonapi room: the generic, spec-driven JSON:API engine behind every App Store Connect
//! operation — query checking, filters, sort, cursor paging, include, fields, linkage, links,
//! request-document validation and Apple's error documents. Families add rules through
//! [`family::Family`]; the engine knows none of them.

// Apple's error document is returned by value on purpose: errors are the cold path.
#![allow(clippy::result_large_err)]

pub mod engine;
pub mod error;
pub mod family;
pub mod lengths;
pub mod query;
pub mod schema;
pub mod synth;

pub use engine::{Engine, Reply, Request};
pub use error::AscError;
pub use family::{BoxFut, Family, Linkages, Write};
