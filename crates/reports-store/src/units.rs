//! App units per reporting day and combination of Apple's dimensions (`report_app_units`,
//! migration 0005): added in bulk by the simulator, read back for a range of days by the Sales
//! and Analytics files.

use anyhow::Result;
use crabapple_store::{DbRow, QueryBuilder, Store, Tx};
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
    crabapple_store::clock::pacific()
        .to_timestamp(next.to_datetime(jiff::civil::Time::constant(8, 0, 0, 0)))
        .map_or(true, |t| t.as_millisecond() <= now_ms)
}

/// [`crate::ReportsTx::add_app_units`].
pub(crate) async fn add(tx: &mut Tx, rows: &[AppUnitsRow]) -> Result<()> {
    // 13 parameters a row: 500 rows stay under SQLite's 32,766 bound parameters.
    for chunk in rows.chunks(500) {
        let mut q = QueryBuilder::new(format!("INSERT INTO report_app_units ({COLS}) "));
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
        let dialect = tx.dialect();
        q.build_for(dialect)
            .persistent(chunk.len() == 500)
            .execute(tx.write_conn().await?)
            .await?;
    }
    // Units of a day whose files are out change them: cached files are stale (the simulator
    // writes a day before its files appear, so it never gets here).
    let now_ms = tx.now_ms();
    if rows.iter().any(|r| day_reported(&r.day, now_ms)) {
        crate::files::new_generation(tx.write_conn().await?).await?;
    }
    Ok(())
}

/// App units matching `filter` (this module's constants, never input) bound to `keys`, in
/// primary-key order.
pub(crate) async fn units_where(
    store: &Store,
    filter: &str,
    keys: &[&str],
) -> Result<Vec<AppUnitsRow>> {
    let sql = format!(
        "SELECT {COLS} FROM report_app_units WHERE {filter} \
         ORDER BY app_id, day, download_type, app_version, device, platform_version, \
         source_type, source_info, campaign, page_type, territory, pre_order"
    );
    let q = keys
        .iter()
        .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, k| q.bind(*k));
    Ok(q.fetch_all(store.read_pool())
        .await?
        .iter()
        .map(row)
        .collect())
}

/// [`crate::ReportsStore::first_app_units_day`].
pub(crate) async fn first_day(
    store: &Store,
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
    .fetch_one(store.read_pool())
    .await?)
}
