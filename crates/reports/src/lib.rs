//! The reports room: Apple's Sales and Trends (`GET /v1/salesReports`) and Finance
//! (`GET /v1/financeReports`) files, computed from the commerce ledger and the app units the
//! simulator records (reports-formats.md §1–§3). It owns the report catalogue (types, subtypes,
//! frequencies, versions), the bytes of each file (header lines, number and date formats, gzip),
//! availability on the virtual clock and Apple's error texts for these endpoints.

pub mod pacific;
pub mod proceeds;
pub mod storefronts;
pub mod subscription;
