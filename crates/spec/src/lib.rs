//! The spec room: the committed manifest of Apple's App Store Connect OpenAPI spec (structure only:
//! paths, methods, parameters, schema shapes, enums, relationships — no prose) and the lookup of an
//! operation by method and path. It knows nothing else in crabapple.
//!
//! The manifest is written by `cargo run -p xtask -- manifest` from Apple's spec and embedded here at
//! build time; `Manifest::get()` parses it once.

mod manifest;
mod router;

pub use manifest::*;
pub use router::{PathMatch, Router};
