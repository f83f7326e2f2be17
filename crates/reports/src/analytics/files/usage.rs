//! The APP_USAGE and PERFORMANCE files (reports-formats.md §4.3), derived from the app units with
//! crabapple's ratios (the module doc of `files` lists them). Installs are the app units of
//! first-time downloads and redownloads.
//!
//! - App Store Installation and Deletion: `Install` = installs, App Download Date = the day;
//!   `Delete` = [`DELETE_PERCENT`] of them (rounded down), on the same day and row. Unique Devices
//!   = Counts. The period's users (§4.5) are its installs.
//! - App Sessions: every install is an active device for [`ACTIVE_DAYS`] days; on a day,
//!   [`ACTIVE_PERCENT`] of a row's active devices (rounded up) open the app:
//!   [`SESSIONS_PER_ACTIVE_DEVICE`] sessions each of [`SECONDS_PER_SESSION`] s. The rows keep the
//!   install's dimensions and its App Download Date. The period's users are [`ACTIVE_PERCENT`]
//!   of the installs of the period and the [`ACTIVE_DAYS`] before it.
//! - App Crashes: [`CRASHES_PER_THOUSAND_SESSIONS`] of those sessions (rounded down) per App
//!   Version, Device and Platform Version; Unique Devices = crashes, at most the active devices.
//! - App Crashes Expanded: the same crashes per Territory, Build = App Version, Platform from the
//!   Device, Release Type `App Store`; comma-separated with ingestr's column order (a guess,
//!   §4.3 and open question 7) and only rows with a Count of at least 5.
//! - App Opt In: Downloading Users = installs, Users Opting-In = [`OPT_IN_PERCENT`] of them.
//! - App Install Performance: every app units row; Install Status `Success`, Install Package Type
//!   `Full` (downloads, restores) or `Delta` (updates), Avg Install Duration [`FULL_INSTALL_MS`] /
//!   [`DELTA_INSTALL_MS`]; Download Info empty (crabapple's values; Apple's are not captured).

use super::commerce::{unit_cells, units};
use super::{Ctx, Noise, Spec, Table, tsv_spec};
use crate::analytics::Kind;
use crate::analytics::schedule::Granularity;
use anyhow::Result;
use crabapple_store::Store;
use jiff::ToSpan;

/// §4.3's doc order without the Detailed-only columns.
pub const INSTALLS_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tEvent\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tTerritory\tCounts\tUnique Devices";
/// §4.3's doc order.
pub const INSTALLS_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tEvent\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tApp Download Date\tTerritory\tCounts\tUnique Devices";
/// §4.3's doc order without the Detailed-only columns; "Total Session Duration" without the
/// doc's "(seconds)", as Fivetran's column name has it.
pub const SESSIONS_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tTerritory\tSessions\tTotal Session Duration\tUnique Devices";
/// §4.3's doc order.
pub const SESSIONS_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tApp Download Date\tTerritory\tSessions\tTotal Session Duration\tUnique Devices";
/// §4.3 (single level).
pub const OPT_IN: &str = "Date\tApp Name\tApp Apple Identifier\tDownloading Users\tUsers Opting-In";
/// §4.3 (single level).
pub const CRASHES: &str = "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tCrashes\tUnique Devices";
/// ingestr's column order and delimiter (§4.3: the file order is unknown — a guess).
pub const CRASHES_EXPANDED: &str = "Date,App Name,App Apple Identifier,App Version,Build,Device,Platform,Release Type,Territory,Count,Unique Devices";
/// §4.3 (daily only, single level), with the doc's "(ms)".
pub const INSTALL_PERFORMANCE: &str = "Date\tApp Name\tApp Apple Identifier\tDownload Type\tDownload Info\tInstall Status\tInstall Package Type\tDevice\tPlatform Version\tTerritory\tCounts\tAvg Install Duration (ms)";

/// crabapple's model: deletions as a share of the day's installs (percent, rounded down).
pub const DELETE_PERCENT: i64 = 15;
/// Days an install counts as an active device.
pub const ACTIVE_DAYS: i64 = 30;
/// Share of the active devices that open the app on a day (percent, rounded up).
pub const ACTIVE_PERCENT: i64 = 30;
/// Sessions per device that opens the app on a day.
pub const SESSIONS_PER_ACTIVE_DEVICE: i64 = 3;
/// Seconds per session.
pub const SECONDS_PER_SESSION: i64 = 240;
/// Crashes per 1,000 sessions (rounded down).
pub const CRASHES_PER_THOUSAND_SESSIONS: i64 = 5;
/// Users Opting-In as a share of Downloading Users (percent, rounded down).
pub const OPT_IN_PERCENT: i64 = 25;
/// Avg Install Duration of a full package (first-time downloads, redownloads, restores).
pub const FULL_INSTALL_MS: i64 = 6000;
/// Avg Install Duration of a delta package (updates).
pub const DELTA_INSTALL_MS: i64 = 2500;

fn active_devices(installed: i64) -> i64 {
    super::percent_up(installed, ACTIVE_PERCENT)
}

pub(super) static INSTALLS: Spec = Spec {
    usage: true,
    ..tsv_spec(INSTALLS_STANDARD, INSTALLS_DETAILED, 2, 1, |b| {
        let c = b[0] + b[1] * DELETE_PERCENT / 100;
        vec![c, c]
    })
};
pub(super) static SESSIONS: Spec = Spec {
    usage: true,
    noise: Noise::SessionDuration,
    ..tsv_spec(SESSIONS_STANDARD, SESSIONS_DETAILED, 3, 2, |b| {
        let devices = active_devices(b[0]);
        let sessions = devices * SESSIONS_PER_ACTIVE_DEVICE;
        vec![sessions, sessions * SECONDS_PER_SESSION, devices]
    })
};
fn crashes(b: &[i64]) -> Vec<i64> {
    let devices = active_devices(b[0]);
    let crashes = devices * SESSIONS_PER_ACTIVE_DEVICE * CRASHES_PER_THOUSAND_SESSIONS / 1000;
    vec![crashes, crashes.min(devices)]
}
pub(super) static CRASHES_SPEC: Spec = Spec {
    usage: true,
    ..tsv_spec(CRASHES, CRASHES, 2, 1, crashes)
};
pub(super) static CRASHES_EXPANDED_SPEC: Spec = Spec {
    threshold_always: true,
    delimiter: ',',
    ..tsv_spec(CRASHES_EXPANDED, CRASHES_EXPANDED, 2, 0, crashes)
};
pub(super) static OPT_IN_SPEC: Spec = tsv_spec(OPT_IN, OPT_IN, 2, 0, |b| {
    vec![b[0], b[0] * OPT_IN_PERCENT / 100]
});
pub(super) static INSTALL_PERFORMANCE_SPEC: Spec =
    tsv_spec(INSTALL_PERFORMANCE, INSTALL_PERFORMANCE, 2, 0, |b| {
        vec![b[0], if b[0] == 0 { 0 } else { b[1] / b[0] }]
    });

fn is_install(download_type: &str) -> bool {
    matches!(download_type, "First-time download" | "Redownload")
}

pub(super) async fn installs(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        if !is_install(u.download_type()) {
            continue;
        }
        let date = ctx.date(u.day());
        let mut c = ctx.cells(&date);
        c.extend(unit_cells(&u));
        c.push(("App Download Date", u.day_text()));
        c.push(("Event", "Install"));
        t.add(&c, &[u.units(), 0]);
        c.push(("Event", "Delete"));
        t.add(&c, &[0, u.units()]);
        t.users += u.units();
    }
    Ok(())
}

/// Apple's Platform of a Device (App Crashes Expanded).
fn platform(device: &str) -> &'static str {
    match device {
        "iPad" => "iPadOS",
        "Desktop" => "macOS",
        "Apple TV" => "tvOS",
        "Apple Watch" => "watchOS",
        "Apple Vision Pro" => "visionOS",
        _ => "iOS",
    }
}

/// Sessions and crashes: each install's active devices on every day of the file it is active.
pub(super) async fn active(store: &Store, ctx: &Ctx, t: &mut Table, kind: Kind) -> Result<()> {
    let mut installed = 0;
    for u in units(store, ctx, ACTIVE_DAYS - 1).await?.iter() {
        if !is_install(u.download_type()) {
            continue;
        }
        installed += u.units();
        let install = u.day();
        let mut cells = unit_cells(&u).to_vec();
        cells.push(("App Download Date", u.day_text()));
        if kind == Kind::CrashesExpanded {
            cells.extend([
                ("Build", u.app_version()),
                ("Platform", platform(u.device())),
                ("Release Type", "App Store"),
            ]);
        }
        let mut day = install.max(ctx.first);
        let end = ctx.last.min(install + (ACTIVE_DAYS - 1).days());
        if day > end {
            continue;
        }
        if ctx.instance.granularity != Granularity::Daily {
            // Weekly and monthly rows carry the period's first day: the install's active days of
            // the period are one row, their units summed at once (the same sum as day by day).
            let days = i64::from((end - day).get_days()) + 1;
            let date = ctx.date(day);
            let mut c = ctx.cells(&date);
            c.extend(cells);
            t.add(&c, &[u.units() * days]);
            continue;
        }
        while day <= end {
            let date = ctx.date(day);
            let mut c = ctx.cells(&date);
            c.extend_from_slice(&cells);
            t.add(&c, &[u.units()]);
            day = day.tomorrow()?;
        }
    }
    t.users = active_devices(installed);
    Ok(())
}

pub(super) async fn opt_in(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        if is_install(u.download_type()) {
            t.add(&ctx.cells(&ctx.date(u.day())), &[u.units()]);
        }
    }
    Ok(())
}

pub(super) async fn install_performance(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        let (package, ms) = match u.download_type() {
            "Manual update" | "Auto-update" => ("Delta", DELTA_INSTALL_MS),
            _ => ("Full", FULL_INSTALL_MS),
        };
        let date = ctx.date(u.day());
        let mut c = ctx.cells(&date);
        c.extend(unit_cells(&u));
        c.extend([
            ("Install Status", "Success"),
            ("Install Package Type", package),
        ]);
        t.add(&c, &[u.units(), u.units() * ms]);
    }
    Ok(())
}
