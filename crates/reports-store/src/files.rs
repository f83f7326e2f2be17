//! The report files cache's storage (`report_files` and `report_generation`, migration 0007; the
//! policy is crabapple-reports' `cache` module): answers of closed periods stored under the
//! generation token they were computed at, which the migration's triggers (catalogue writes),
//! [`crate::ReportsTx::reports_clear`] and [`crate::ReportsTx::add_app_units`] (units of a day
//! whose files are out) replace.

use anyhow::Result;
use crabapple_store::{DbConn, Store, Tx};
use sqlx::Row;

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

/// Tables emptied by a commerce reset ([`clear`]); the cached files go, and the generation
/// changes, so a file computed before the reset and stored after it is never served.
const REPORTS_CLEAR: &[&str] = &["DELETE FROM report_app_units", "DELETE FROM report_files"];

/// Replaces the report generation token (migration 0007 does the same in its triggers; a reset
/// does it after [`REPORTS_CLEAR`]). Random, as the triggers' tokens are.
pub(crate) async fn new_generation(conn: &mut DbConn) -> Result<()> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    sqlx::query("UPDATE report_generation SET token = $1 WHERE id = 1")
        .bind(token[..16].to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// [`crate::ReportsTx::reports_clear`].
pub(crate) async fn clear(tx: &mut Tx) -> Result<()> {
    for q in REPORTS_CLEAR {
        sqlx::query(*q).execute(tx.conn()).await?;
    }
    new_generation(tx.conn()).await
}

/// [`crate::ReportsStore::report_generation`].
pub(crate) async fn generation(store: &Store) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT token FROM report_generation WHERE id = 1")
            .fetch_one(store.read_pool())
            .await?,
    )
}

/// [`crate::ReportsStore::report_file`].
pub(crate) async fn file(store: &Store, key: &str, generation: &str) -> Result<Option<ReportFile>> {
    let row = sqlx::query(
        "SELECT status, content_type, headers, body, reason FROM report_files
         WHERE key = $1 AND generation = $2",
    )
    .bind(key)
    .bind(generation)
    .fetch_optional(store.read_pool())
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

/// [`crate::ReportsStore::report_files`].
pub(crate) async fn files(
    store: &Store,
    limit: i64,
) -> Result<Vec<(String, i64, Option<String>, i64, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT key, status, content_type, length(body), reason, created_ms FROM report_files
         WHERE generation = (SELECT token FROM report_generation WHERE id = 1)
         ORDER BY created_ms DESC, key LIMIT $1",
    )
    .bind(limit)
    .fetch_all(store.read_pool())
    .await?)
}

/// [`crate::ReportsStore::put_report_file`].
pub(crate) async fn put(
    store: &Store,
    key: &str,
    generation: &str,
    file: &ReportFile,
    now_ms: i64,
) -> Result<bool> {
    let headers = serde_json::to_string(&file.headers)?;
    let writer = store.write_pool();
    let r = crabapple_store::with_busy_retry(|| async {
        // Only while `generation` is current: a late write must not drop newer files.
        sqlx::query(
            "DELETE FROM report_files WHERE generation <> $1
             AND $1 = (SELECT token FROM report_generation WHERE id = 1)",
        )
        .bind(generation)
        .execute(writer)
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
        .execute(writer)
        .await?)
    })
    .await?;
    Ok(r.rows_affected() == 1)
}
