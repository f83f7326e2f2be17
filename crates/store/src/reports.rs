//! Persistence of what reports count besides commerce transactions: app units per reporting day
//! and dimension (`report_app_units`, migration 0005). The simulator adds units in bulk; the
//! reports families read them back for a range of days. Purchases, renewals and refunds are the
//! commerce ledger's transactions (crabapple-storekit's `ledger`), read by the reports families
//! through it.
//!
//! Also the report files cache's storage (`report_files` and `report_generation`, migration 0007;
//! the policy is crabapple-reports' `cache` module): answers of closed periods stored under the
//! generation token they were computed at, which the migration's triggers, [`Tx::reports_clear`]
//! and [`Tx::add_app_units`] (units of a day whose files are out) replace.

use crate::db::DbRow;
use crate::{Store, Tx};
use anyhow::Result;
use sqlx::Row;

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

/// Tables emptied by a commerce reset ([`Tx::reports_clear`]); the cached files go, and the
/// generation changes, so a file computed before the reset and stored after it is never served.
const REPORTS_CLEAR: &[&str] = &["DELETE FROM report_app_units", "DELETE FROM report_files"];

/// Replaces the report generation token (migration 0007 does the same in its triggers; a reset
/// does it after [`REPORTS_CLEAR`]). Random, as the triggers' tokens are.
async fn new_generation(conn: &mut crate::db::DbConn) -> Result<()> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query("UPDATE report_generation SET token = $1 WHERE id = 1")
        .bind(token[..16].to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A cached answer of `GET /v1/salesReports` or `/v1/financeReports` (migration 0007): a file
/// (status 200) or Apple's "no sales" 404 (empty body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Why, for the log (a 404's reason).
    pub reason: String,
}

/// Whether the reports of Pacific day `day` (`YYYY-MM-DD`) are out at `now_ms`: from 08:00
/// Pacific the next day (reports-formats.md §2.3), the earliest any file counting the day exists.
fn day_reported(day: &str, now_ms: i64) -> bool {
    let Some(next) = day
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.tomorrow().ok())
    else {
        return true;
    };
    crate::clock::pacific()
        .to_timestamp(next.to_datetime(jiff::civil::Time::constant(8, 0, 0, 0)))
        .map_or(true, |t| t.as_millisecond() <= now_ms)
}

const COLS: &str = "app_id, day, download_type, app_version, device, platform_version, \
    source_type, source_info, campaign, page_type, territory, pre_order, units";

fn row(r: &DbRow) -> AppUnitsRow {
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
    /// Empties the app units and the cached report files and starts a new generation (a
    /// commerce reset: crabapple-storekit's `ledger_clear`).
    pub async fn reports_clear(&mut self) -> Result<()> {
        for q in REPORTS_CLEAR {
            sqlx::query(*q).execute(&mut *self.tx).await?;
        }
        new_generation(&mut self.tx).await
    }

    /// Adds `rows`' units to what is already counted for the same day and dimensions, in
    /// multi-row statements (a simulated day of a big app has thousands of rows).
    pub async fn add_app_units(&mut self, rows: &[AppUnitsRow]) -> Result<()> {
        // 13 parameters a row: 500 rows stay under SQLite's 32,766 bound parameters.
        for chunk in rows.chunks(500) {
            let mut q =
                crate::db::QueryBuilder::new(format!("INSERT INTO report_app_units ({COLS}) "));
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
            q.push(
                " ON CONFLICT (app_id, day, download_type, app_version, device, platform_version, \
                 source_type, source_info, campaign, page_type, territory, pre_order) \
                 DO UPDATE SET units = report_app_units.units + excluded.units",
            );
            q.build_for(self.dialect())
                .persistent(chunk.len() == 500)
                .execute(self.write_conn().await?)
                .await?;
        }
        // Units of a day whose files are out change them: cached files are stale (the simulator
        // writes a day before its files appear, so it never gets here).
        if rows.iter().any(|r| day_reported(&r.day, self.now_ms)) {
            new_generation(self.write_conn().await?).await?;
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
}

/// The report files cache's storage (migration 0007).
impl Store {
    /// The current generation token: cached files of another generation are never served.
    pub async fn report_generation(&self) -> Result<String> {
        Ok(
            sqlx::query_scalar("SELECT token FROM report_generation WHERE id = 1")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    /// The answer cached under `key` at `generation`, if any.
    pub async fn report_file(&self, key: &str, generation: &str) -> Result<Option<ReportFile>> {
        let row = sqlx::query(
            "SELECT status, content_type, headers, body, reason FROM report_files
             WHERE key = $1 AND generation = $2",
        )
        .bind(key)
        .bind(generation)
        .fetch_optional(&self.reader)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(ReportFile {
            status: r.get::<i64, _>(0) as u16,
            content_type: r.get(1),
            headers: serde_json::from_str(r.get::<&str, _>(2))?,
            body: r.get(3),
            reason: r.get(4),
        }))
    }

    /// The cached files of the current generation, newest first (the inspector lists them):
    /// `(key, status, content type, body bytes, reason, created ms)`.
    pub async fn report_files(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, i64, Option<String>, i64, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT key, status, content_type, length(body), reason, created_ms FROM report_files
             WHERE generation = (SELECT token FROM report_generation WHERE id = 1)
             ORDER BY created_ms DESC, key LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Stores `file` under `key` if `generation` is still the current one (true then); replaces
    /// the key's row of an older generation and drops the other keys' stale rows. Written on
    /// the writer connection outside a [`Tx`]: a cached file changes no data, so other
    /// processes' resource caches need not start over (no write token, see `shared`).
    pub async fn put_report_file(
        &self,
        key: &str,
        generation: &str,
        file: &ReportFile,
        now_ms: i64,
    ) -> Result<bool> {
        let headers = serde_json::to_string(&file.headers)?;
        let r = crate::shared::with_busy_retry(|| async {
            // Only while `generation` is current: a late write must not drop newer files.
            sqlx::query(
                "DELETE FROM report_files WHERE generation <> $1
                 AND $1 = (SELECT token FROM report_generation WHERE id = 1)",
            )
            .bind(generation)
            .execute(&self.writer)
            .await?;
            Ok(sqlx::query(
                "INSERT INTO report_files
                   (key, generation, status, content_type, headers, body, reason, created_ms)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM report_generation
                 WHERE id = 1 AND token = $2
                 ON CONFLICT (key) DO UPDATE SET generation = excluded.generation,
                   status = excluded.status, content_type = excluded.content_type,
                   headers = excluded.headers, body = excluded.body, reason = excluded.reason,
                   created_ms = excluded.created_ms",
            )
            .bind(key)
            .bind(generation)
            .bind(i64::from(file.status))
            .bind(&file.content_type)
            .bind(&headers)
            .bind(&file.body)
            .bind(&file.reason)
            .bind(now_ms)
            .execute(&self.writer)
            .await?)
        })
        .await?;
        Ok(r.rows_affected() == 1)
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
        tx.reports_clear().await.unwrap();
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

    fn file(body: &[u8]) -> ReportFile {
        ReportFile {
            status: 200,
            content_type: Some("application/a-gzip".into()),
            headers: vec![(
                "x-reports-filename".into(),
                "S_D_1_20261101_V1_0.txt.gz".into(),
            )],
            body: body.to_vec(),
            reason: String::new(),
        }
    }

    /// Migration 0007: a file is stored and served only under the generation it was computed at;
    /// catalogue writes, units of a reported day and `reports_clear` change the generation, units
    /// of a day not reported yet (what the simulator writes) do not.
    #[tokio::test]
    async fn report_files_are_kept_per_generation_and_the_generation_follows_what_files_read() {
        let dir = std::env::temp_dir().join(format!("crabapple-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("db.sqlite")).await.unwrap();
        let now = store.now_ms();
        let g0 = store.report_generation().await.unwrap();
        assert!(
            store
                .put_report_file("k", &g0, &file(b"a"), now)
                .await
                .unwrap()
        );
        assert_eq!(store.report_file("k", &g0).await.unwrap(), Some(file(b"a")));

        let today = crate::clock::pacific()
            .to_datetime(jiff::Timestamp::from_millisecond(now).unwrap())
            .date();
        let mut tx = store.begin().await.unwrap();
        tx.add_app_units(&[units(&today.to_string(), "US", 1)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.report_generation().await.unwrap(), g0);

        let reported = today.checked_sub(jiff::Span::new().days(2)).unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.add_app_units(&[units(&reported.to_string(), "US", 1)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let g1 = store.report_generation().await.unwrap();
        assert_ne!(g1, g0);
        assert_eq!(store.report_file("k", &g1).await.unwrap(), None);
        assert!(
            store
                .put_report_file("k", &g1, &file(b"b"), now)
                .await
                .unwrap()
        );
        // A file computed under the old generation and stored late is refused, and drops nothing.
        assert!(
            !store
                .put_report_file("late", &g0, &file(b"c"), now)
                .await
                .unwrap()
        );
        assert_eq!(store.report_file("k", &g1).await.unwrap(), Some(file(b"b")));

        let mut tx = store.begin().await.unwrap();
        tx.put("apps", "1", &serde_json::Map::new()).await.unwrap();
        tx.commit().await.unwrap();
        let g2 = store.report_generation().await.unwrap();
        assert_ne!(g2, g1);

        assert!(
            store
                .put_report_file("k", &g2, &file(b"d"), now)
                .await
                .unwrap()
        );
        let mut tx = store.begin().await.unwrap();
        tx.reports_clear().await.unwrap();
        tx.commit().await.unwrap();
        let g3 = store.report_generation().await.unwrap();
        assert_ne!(g3, g2);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_files")
            .fetch_one(store.reader())
            .await
            .unwrap();
        assert_eq!(left, 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
