//! The reports family's persistence on the store's generic pools and transactions: what reports
//! count besides commerce transactions — app units per reporting day and dimension
//! (`report_app_units`, migration 0005; [`units`]) — and the report files cache's storage
//! (`report_files` and `report_generation`, migration 0007; [`files`]). The simulator adds units
//! in bulk; crabapple-reports' sales and analytics files read them back for a range of days, and
//! its `cache` module decides what is kept. Purchases, renewals and refunds are the commerce
//! ledger's transactions (crabapple-storekit's `ledger`), read by the reports through it.
//!
//! Its own crate, not a module of crabapple-reports: a commerce reset (crabapple-storekit's
//! `ledger_clear`) empties these tables in the same transaction as the ledger
//! ([`ReportsTx::reports_clear`]), and crabapple-reports depends on crabapple-storekit (it reads
//! the ledger), so crabapple-storekit cannot depend on crabapple-reports. crabapple-reports
//! re-exports everything here. The migrations stay with the store, which runs every family's
//! migrations as data.
//!
//! [`ReportsStore`] reads on a [`Store`] (and stores a computed file), [`ReportsTx`] writes in a
//! [`Tx`], as the ledger's `LedgerStore` and `LedgerTx` do.

pub mod files;
pub mod units;

pub use files::ReportFile;
pub use units::AppUnitsRow;

use anyhow::Result;
use crabapple_store::{Store, Tx};

/// The reports' queries on the store's read pool, and a computed file stored on the writer
/// outside a transaction. Implemented for [`Store`] only; its futures are `Send` there
/// (`async_fn_in_trait` is about generic callers).
#[allow(async_fn_in_trait)]
pub trait ReportsStore {
    /// The store the queries run on.
    fn reports_store(&self) -> &Store;

    /// App units of every app from `first_day` to `last_day` (inclusive, `YYYY-MM-DD`), in
    /// primary-key order.
    async fn app_units(&self, first_day: &str, last_day: &str) -> Result<Vec<AppUnitsRow>> {
        units::units_where(
            self.reports_store(),
            "day BETWEEN $1 AND $2",
            &[first_day, last_day],
        )
        .await
    }

    /// App units of one app from `first_day` to `last_day`, by the primary key's prefix.
    async fn app_units_of(
        &self,
        app_id: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<AppUnitsRow>> {
        units::units_where(
            self.reports_store(),
            "app_id = $1 AND day BETWEEN $2 AND $3",
            &[app_id, first_day, last_day],
        )
        .await
    }

    /// The first day from `first_day` to `last_day` on which an app has units, if any.
    async fn first_app_units_day(
        &self,
        app_id: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<Option<String>> {
        units::first_day(self.reports_store(), app_id, first_day, last_day).await
    }

    /// The current generation token: cached files of another generation are never served.
    async fn report_generation(&self) -> Result<String> {
        files::generation(self.reports_store()).await
    }

    /// The answer cached under `key` at `generation`, if any.
    async fn report_file(&self, key: &str, generation: &str) -> Result<Option<ReportFile>> {
        files::file(self.reports_store(), key, generation).await
    }

    /// The cached files of the current generation, newest first (the inspector lists them):
    /// `(key, status, content type, body bytes, reason, created ms)`.
    async fn report_files(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, i64, Option<String>, i64, String, i64)>> {
        files::files(self.reports_store(), limit).await
    }

    /// Stores `file` under `key` if `generation` is still the current one (true then); replaces
    /// the key's row of an older generation and drops the other keys' stale rows. Written on
    /// the writer pool outside a [`Tx`]: a cached file changes no data, so other processes'
    /// resource caches need not start over (no write token, see the store's `shared`).
    async fn put_report_file(
        &self,
        key: &str,
        generation: &str,
        file: &ReportFile,
        now_ms: i64,
    ) -> Result<bool> {
        files::put(self.reports_store(), key, generation, file, now_ms).await
    }
}

impl ReportsStore for Store {
    fn reports_store(&self) -> &Store {
        self
    }
}

/// The reports' writes inside a write transaction. Implemented for [`Tx`] only; its futures are
/// `Send` there.
#[allow(async_fn_in_trait)]
pub trait ReportsTx {
    /// The transaction the statements run in.
    fn reports_tx(&mut self) -> &mut Tx;

    /// Empties the app units and the cached report files and starts a new generation (a
    /// commerce reset: crabapple-storekit's `ledger_clear`), so a file computed before the
    /// reset and stored after it is never served.
    async fn reports_clear(&mut self) -> Result<()> {
        files::clear(self.reports_tx()).await
    }

    /// Adds `rows`' units to what is already counted for the same day and dimensions, in
    /// multi-row statements (a simulated day of a big app has thousands of rows). Units of a
    /// day whose files are out start a new generation.
    async fn add_app_units(&mut self, rows: &[AppUnitsRow]) -> Result<()> {
        units::add(self.reports_tx(), rows).await
    }
}

impl ReportsTx for Tx {
    fn reports_tx(&mut self) -> &mut Tx {
        self
    }
}
