//! Persistence of what reports count besides commerce transactions: app units per reporting day
//! and dimension (`report_app_units`, migration 0005). The simulator adds units in bulk; the
//! reports families read them back for a range of days. Purchases, renewals and refunds are the
//! ledger's transactions ([`crate::ledger`]), read by the reports families directly.

use crate::{Store, Tx};
use anyhow::Result;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// App units of one reporting day and one combination of Apple's dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppUnitsRow {
    pub app_id: String,
    /// `YYYY-MM-DD`, the reporting day in Pacific time.
    pub day: String,
    /// Apple's Download Type (`First-time download`, `Redownload`, `Manual update`,
    /// `Auto-update`, `Restore`).
    pub download_type: String,
    pub app_version: String,
    /// Apple's Device (`iPhone`, `iPad`, `Desktop`, `Apple TV`, `Apple Watch`, …).
    pub device: String,
    pub platform_version: String,
    /// Apple's Source Type (`App Store search`, `App Store browse`, `App referrer`, …).
    pub source_type: String,
    pub source_info: String,
    pub campaign: String,
    pub page_type: String,
    /// ISO 3166-1 alpha-2.
    pub territory: String,
    pub pre_order: bool,
    pub units: i64,
}

/// Tables emptied by a commerce reset.
pub(crate) const REPORTS_CLEAR: &[&str] = &["DELETE FROM report_app_units"];

const COLS: &str = "app_id, day, download_type, app_version, device, platform_version, \
    source_type, source_info, campaign, page_type, territory, pre_order, units";

fn row(r: &SqliteRow) -> AppUnitsRow {
    AppUnitsRow {
        app_id: r.get(0),
        day: r.get(1),
        download_type: r.get(2),
        app_version: r.get(3),
        device: r.get(4),
        platform_version: r.get(5),
        source_type: r.get(6),
        source_info: r.get(7),
        campaign: r.get(8),
        page_type: r.get(9),
        territory: r.get(10),
        pre_order: r.get::<i64, _>(11) != 0,
        units: r.get(12),
    }
}

impl Tx {
    /// Adds `rows`' units to what is already counted for the same day and dimensions, in
    /// multi-row statements (a simulated day of a big app has thousands of rows).
    pub async fn add_app_units(&mut self, rows: &[AppUnitsRow]) -> Result<()> {
        // 13 parameters a row: 500 rows stay under SQLite's 32,766 bound parameters.
        for chunk in rows.chunks(500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "INSERT INTO report_app_units ({COLS}) "
            ));
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.app_id)
                    .push_bind(&r.day)
                    .push_bind(&r.download_type)
                    .push_bind(&r.app_version)
                    .push_bind(&r.device)
                    .push_bind(&r.platform_version)
                    .push_bind(&r.source_type)
                    .push_bind(&r.source_info)
                    .push_bind(&r.campaign)
                    .push_bind(&r.page_type)
                    .push_bind(&r.territory)
                    .push_bind(i64::from(r.pre_order))
                    .push_bind(r.units);
            });
            q.push(" ON CONFLICT DO UPDATE SET units = report_app_units.units + excluded.units");
            q.build().execute(self.write_conn().await?).await?;
        }
        Ok(())
    }
}

impl Store {
    /// App units of every app from `first_day` to `last_day` (inclusive, `YYYY-MM-DD`), in
    /// primary-key order.
    pub async fn app_units(&self, first_day: &str, last_day: &str) -> Result<Vec<AppUnitsRow>> {
        self.units_where("day BETWEEN $1 AND $2", &[first_day, last_day])
            .await
    }

    /// App units of one app from `first_day` to `last_day`, by the primary key's prefix.
    pub async fn app_units_of(
        &self,
        app_id: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<Vec<AppUnitsRow>> {
        self.units_where(
            "app_id = $1 AND day BETWEEN $2 AND $3",
            &[app_id, first_day, last_day],
        )
        .await
    }

    /// The first day from `first_day` to `last_day` on which an app has units, if any.
    pub async fn first_app_units_day(
        &self,
        app_id: &str,
        first_day: &str,
        last_day: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(day) FROM report_app_units WHERE app_id = $1 AND day BETWEEN $2 AND $3",
        )
        .bind(app_id)
        .bind(first_day)
        .bind(last_day)
        .fetch_one(&self.reader)
        .await?)
    }

    async fn units_where(&self, filter: &str, keys: &[&str]) -> Result<Vec<AppUnitsRow>> {
        // `COLS` and `filter` are this module's constants, never input.
        let sql = format!(
            "SELECT {COLS} FROM report_app_units WHERE {filter} \
             ORDER BY app_id, day, download_type, app_version, device, platform_version, \
             source_type, source_info, campaign, page_type, territory, pre_order"
        );
        let q = keys
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, k| q.bind(*k));
        Ok(q.fetch_all(&self.reader).await?.iter().map(row).collect())
    }

    /// Transactions bought or refunded in `[start_ms, end_ms)` (through the purchase and refund
    /// time indexes), by purchase time then id.
    pub async fn report_transactions(
        &self,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<crate::ledger::TransactionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_transactions WHERE purchase_ms >= $1 AND purchase_ms < $2 \
             UNION SELECT * FROM commerce_transactions WHERE revoked_ms >= $1 AND revoked_ms < $2 \
             ORDER BY purchase_ms, transaction_id",
        )
        .bind(start_ms)
        .bind(end_ms)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(crate::ledger::transaction_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(day: &str, territory: &str, n: i64) -> AppUnitsRow {
        AppUnitsRow {
            app_id: "1".into(),
            day: day.into(),
            download_type: "First-time download".into(),
            app_version: "1.0".into(),
            device: "iPhone".into(),
            platform_version: "iOS 18.2".into(),
            source_type: "App Store search".into(),
            source_info: String::new(),
            campaign: String::new(),
            page_type: "Product page".into(),
            territory: territory.into(),
            pre_order: false,
            units: n,
        }
    }

    #[tokio::test]
    async fn units_of_the_same_day_and_dimensions_add_up_and_read_back_by_day_range() {
        let dir = std::env::temp_dir().join(format!("crabapple-units-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("db.sqlite")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.add_app_units(&[units("2026-11-01", "US", 3), units("2026-11-02", "US", 5)])
            .await
            .unwrap();
        tx.add_app_units(&[units("2026-11-01", "US", 4), units("2026-11-01", "DE", 1)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let got = store.app_units("2026-11-01", "2026-11-01").await.unwrap();
        assert_eq!(
            got,
            vec![units("2026-11-01", "DE", 1), units("2026-11-01", "US", 7)]
        );
        assert_eq!(
            store
                .app_units("2026-11-01", "2026-11-30")
                .await
                .unwrap()
                .len(),
            3
        );
        let mut tx = store.begin().await.unwrap();
        tx.ledger_clear().await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            store
                .app_units("2026-01-01", "2026-12-31")
                .await
                .unwrap()
                .is_empty()
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
