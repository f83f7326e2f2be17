//! The APP_STORE_ENGAGEMENT files (reports-formats.md §4.3), derived from the app units with
//! crabapple's ratios (the module doc of `files` lists them):
//!
//! - App Store Discovery and Engagement: per app units row of first-time downloads, `Impression`
//!   (Engagement Type empty) = units × [`IMPRESSIONS_PER_DOWNLOAD_SEARCH`] /
//!   [`IMPRESSIONS_PER_DOWNLOAD_BROWSE`] / [`IMPRESSIONS_PER_DOWNLOAD_OTHER`] by Source Type,
//!   `Page view` = units × [`PAGE_VIEWS_PER_DOWNLOAD`], `Tap` `Get` = units; redownloads are
//!   `Tap` `Redownload` and manual updates `Tap` `Update` (auto-updates and restores are not
//!   App Store engagement). Unique Counts = [`UNIQUE_PERCENT`] of Counts, rounded up.
//! - App Store Web Preview Engagement: per first-time downloads from `Web referrer`, `Page view`
//!   = units × [`WEB_PREVIEW_VIEWS_PER_DOWNLOAD`] and `Tap` `Get` = units, Browser `Safari` with
//!   the platform's version number (crabapple's constants; the simulator records no browser).

use super::commerce::{unit_cells, units};
use super::{Ctx, Spec, Table, tsv_spec};
use anyhow::Result;
use crabapple_store::Store;

/// §4.3, the captured Standard header, verbatim.
pub const DISCOVERY_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tSource Type\tEngagement Type\tDevice\tPlatform Version\tTerritory\tCounts\tUnique Counts";
/// §4.3's doc order (Page Title, Source Info, Campaign).
pub const DISCOVERY_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tPage Title\tSource Type\tSource Info\tCampaign\tEngagement Type\tDevice\tPlatform Version\tTerritory\tCounts\tUnique Counts";
/// §4.3's doc order without the Detailed-only columns (Date kept: the doc's "x" for it is
/// probably a typo).
pub const WEB_PREVIEW_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tSource Type\tEngagement Type\tBrowser\tBrowser Version\tDevice\tPlatform Version\tTerritory\tCounts";
/// §4.3's doc order (Page Title, Source Info; the doc gives this report no Campaign).
pub const WEB_PREVIEW_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tPage Title\tSource Type\tSource Info\tEngagement Type\tBrowser\tBrowser Version\tDevice\tPlatform Version\tTerritory\tCounts";

/// crabapple's model: impressions per first-time download from `App Store search`.
pub const IMPRESSIONS_PER_DOWNLOAD_SEARCH: i64 = 8;
/// … from `App Store browse`.
pub const IMPRESSIONS_PER_DOWNLOAD_BROWSE: i64 = 15;
/// … from any other Source Type.
pub const IMPRESSIONS_PER_DOWNLOAD_OTHER: i64 = 4;
/// Product page views per first-time download.
pub const PAGE_VIEWS_PER_DOWNLOAD: i64 = 3;
/// Unique Counts as a share of Counts (percent, rounded up).
pub const UNIQUE_PERCENT: i64 = 80;
/// Web preview page views per first-time download from `Web referrer`.
pub const WEB_PREVIEW_VIEWS_PER_DOWNLOAD: i64 = 5;

pub(super) static DISCOVERY: Spec = tsv_spec(DISCOVERY_STANDARD, DISCOVERY_DETAILED, 2, 1, |b| {
    vec![b[0], super::percent_up(b[0], UNIQUE_PERCENT)]
});
pub(super) static WEB_PREVIEW: Spec = tsv_spec(
    WEB_PREVIEW_STANDARD,
    WEB_PREVIEW_DETAILED,
    1,
    0,
    super::same,
);

fn impressions_per_download(source_type: &str) -> i64 {
    match source_type {
        "App Store search" => IMPRESSIONS_PER_DOWNLOAD_SEARCH,
        "App Store browse" => IMPRESSIONS_PER_DOWNLOAD_BROWSE,
        _ => IMPRESSIONS_PER_DOWNLOAD_OTHER,
    }
}

pub(super) async fn discovery(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        let events: Vec<(&str, &str, i64)> = match u.download_type() {
            "First-time download" => vec![
                (
                    "Impression",
                    "",
                    u.units() * impressions_per_download(u.source_type()),
                ),
                ("Page view", "", u.units() * PAGE_VIEWS_PER_DOWNLOAD),
                ("Tap", "Get", u.units()),
            ],
            "Redownload" => vec![("Tap", "Redownload", u.units())],
            "Manual update" => vec![("Tap", "Update", u.units())],
            _ => vec![],
        };
        let date = ctx.date(u.day());
        let mut c = ctx.cells(&date);
        c.extend(unit_cells(&u));
        for (event, engagement, n) in events {
            c.push(("Event", event));
            c.push(("Engagement Type", engagement));
            t.add(&c, &[n]);
        }
    }
    Ok(())
}

pub(super) async fn web_preview(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        if u.download_type() != "First-time download" || u.source_type() != "Web referrer" {
            continue;
        }
        let date = ctx.date(u.day());
        let mut c = ctx.cells(&date);
        c.extend(unit_cells(&u));
        let version = u.platform_version().rsplit(' ').next().unwrap_or_default();
        c.extend([("Browser", "Safari"), ("Browser Version", version)]);
        for (event, engagement, n) in [
            ("Page view", "", u.units() * WEB_PREVIEW_VIEWS_PER_DOWNLOAD),
            ("Tap", "Get", u.units()),
        ] {
            c.push(("Event", event));
            c.push(("Engagement Type", engagement));
            t.add(&c, &[n]);
        }
    }
    Ok(())
}
