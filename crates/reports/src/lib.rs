//! The reports room: Apple's Sales and Trends (`GET /v1/salesReports`) and Finance
//! (`GET /v1/financeReports`) files, computed from the commerce ledger and the app units the
//! simulator records (reports-formats.md §1–§3). It owns the report catalogue (types, subtypes,
//! frequencies, versions), the bytes of each file (header lines, number and date formats, gzip),
//! availability on the virtual clock and Apple's error texts for these endpoints; and, as a sibling
//! family, Analytics Reports ([`analytics`], reports-formats.md §4).

// Apple's error document is returned by value on purpose: errors are the cold path.
#![allow(clippy::result_large_err)]

pub mod analytics;
pub mod cache;
pub mod catalogue;
pub mod countries;
pub mod family;
pub mod finance;
pub mod fiscal;
pub mod items;
pub mod pacific;
pub mod period;
pub mod proceeds;
pub mod sales;
pub mod storefronts;
pub mod subscription;
pub mod transport;

pub use family::Reports;
// The family's persistence (its own crate: crabapple-storekit's commerce reset empties it).
pub use crabapple_reports_store::{AppUnitsRow, ReportFile, ReportsStore, ReportsTx};
