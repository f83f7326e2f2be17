//! The analytics segment files of every report with known columns (reports-formats.md §4.3)
//! from app units and the ledger: header lines byte for byte as §4.3 writes them, the rows of
//! crabapple's model, the privacy measures of §4.5, consistency with App Downloads and the
//! ledger, and determinism.

#[path = "subscription_world/mod.rs"]
mod world;

use crabapple_reports::analytics::files::{self, Rendered};
use crabapple_reports::analytics::schedule::{Granularity, Instance};
use crabapple_reports::analytics::{CATALOGUE, Kind, Report};
use crabapple_reports::{AppUnitsRow, ReportsTx};
use crabapple_storekit::ledger::LedgerStore;
use jiff::ToSpan;
use jiff::civil::{Date, date};
use serde_json::json;
use world::*;

/// The day of the app units (a Thursday).
const D: Date = date(2030, 1, 10);

fn units(download_type: &str, source_type: &str, territory: &str, n: i64) -> AppUnitsRow {
    AppUnitsRow {
        app_id: APP_ID.into(),
        day: D.to_string(),
        download_type: download_type.into(),
        app_version: "2.1".into(),
        device: "iPhone".into(),
        platform_version: "iOS 18.2".into(),
        source_type: source_type.into(),
        source_info: String::new(),
        campaign: String::new(),
        page_type: "Product page".into(),
        territory: territory.into(),
        pre_order: false,
        units: n,
    }
}

/// A day of downloads: installs 40 + 10 + 20 + 3 + 12 + 2000 + 500 = 2585.
fn day_of_units() -> Vec<AppUnitsRow> {
    vec![
        units("First-time download", "App Store search", "US", 40),
        units("Redownload", "App Store search", "US", 10),
        units("First-time download", "App Store browse", "DE", 20),
        units("First-time download", "App Store search", "FR", 3),
        units("Auto-update", "Unavailable", "US", 100),
        units("Manual update", "App Store search", "US", 6),
        units("First-time download", "Web referrer", "GB", 12),
        units("First-time download", "App Store search", "JP", 2000),
        units("First-time download", "App Store search", "BR", 500),
    ]
}

async fn world_with(rows: &[AppUnitsRow]) -> World {
    let w = World::new().await;
    let mut tx = w.store.begin().await.unwrap();
    tx.add_app_units(rows).await.unwrap();
    tx.commit().await.unwrap();
    w
}

fn report(name: &str) -> &'static Report {
    CATALOGUE.iter().find(|r| r.name == name).unwrap()
}

/// The DAILY instance holding `first` and the day after it.
fn daily(name: &str, first: Date) -> Instance {
    Instance {
        report: report(name),
        request: "q".into(),
        granularity: Granularity::Daily,
        processing_date: first + 2.days(),
    }
}

async fn render(w: &World, name: &str, first: Date) -> Rendered {
    files::render(&w.store, &daily(name, first), APP_ID)
        .await
        .unwrap()
}

async fn text(w: &World, name: &str) -> String {
    render(w, name, D).await.text
}

/// The sum of the metric column `col` over the rows whose cells contain all of `with`.
fn sum(text: &str, col: &str, with: &[&str]) -> i64 {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let i = header.iter().position(|c| *c == col).unwrap();
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|c| with.iter().all(|w| c.contains(w)))
        .map(|c| c[i].parse::<i64>().unwrap())
        .sum()
}

/// reports-formats.md §4.3, written here (not taken from the code under test): the captured
/// Standard headers verbatim, the doc's order for the others (Standard without the D columns).
const HEADERS: &[(&str, &str)] = &[
    (
        "App Store Discovery and Engagement Standard",
        "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tSource Type\tEngagement Type\tDevice\tPlatform Version\tTerritory\tCounts\tUnique Counts",
    ),
    (
        "App Store Discovery and Engagement Detailed",
        "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tPage Title\tSource Type\tSource Info\tCampaign\tEngagement Type\tDevice\tPlatform Version\tTerritory\tCounts\tUnique Counts",
    ),
    (
        "App Sessions Standard",
        "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tTerritory\tSessions\tTotal Session Duration\tUnique Devices",
    ),
    (
        "App Sessions Detailed",
        "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tApp Download Date\tTerritory\tSessions\tTotal Session Duration\tUnique Devices",
    ),
    (
        "App Store Installation and Deletion Standard",
        "Date\tApp Name\tApp Apple Identifier\tEvent\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tTerritory\tCounts\tUnique Devices",
    ),
    (
        "App Store Installation and Deletion Detailed",
        "Date\tApp Name\tApp Apple Identifier\tEvent\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tApp Download Date\tTerritory\tCounts\tUnique Devices",
    ),
    (
        "App Opt In",
        "Date\tApp Name\tApp Apple Identifier\tDownloading Users\tUsers Opting-In",
    ),
    (
        "App Crashes",
        "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tCrashes\tUnique Devices",
    ),
    (
        "App Install Performance",
        "Date\tApp Name\tApp Apple Identifier\tDownload Type\tDownload Info\tInstall Status\tInstall Package Type\tDevice\tPlatform Version\tTerritory\tCounts\tAvg Install Duration (ms)",
    ),
    (
        "App Store Pre-Orders Standard",
        "Date\tApp Name\tApp Apple Identifier\tDevice\tPlatform Version\tSource Type\tPage Type\tTerritory\tPre-Order Start Date\tPre-Order End Date\tPre-Orders Placed\tPre-Orders Canceled",
    ),
    (
        "App Store Pre-Orders Detailed",
        "Date\tApp Name\tApp Apple Identifier\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tTerritory\tPre-Order Start Date\tPre-Order End Date\tPre-Orders Placed\tPre-Orders Canceled",
    ),
    (
        "App Store Web Preview Engagement Standard",
        "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tSource Type\tEngagement Type\tBrowser\tBrowser Version\tDevice\tPlatform Version\tTerritory\tCounts",
    ),
    (
        "App Store Web Preview Engagement Detailed",
        "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tPage Title\tSource Type\tSource Info\tEngagement Type\tBrowser\tBrowser Version\tDevice\tPlatform Version\tTerritory\tCounts",
    ),
    (
        "App Store Subscription State Standard",
        "Date\tApp Name\tApp Apple Identifier\tState Metric\tState Metric Grouping\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tFamily Sharing\tCancellation Reason\tApp Download Source Type\tPage Type\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts",
    ),
    (
        "App Store Subscription State Detailed",
        "Date\tApp Name\tApp Apple Identifier\tState Metric\tState Metric Grouping\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tFamily Sharing\tCancellation Reason\tApp Download Source Type\tApp Download Source Info\tCampaign\tPage Type\tPage Title\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts",
    ),
    (
        "App Store Subscription Event Standard",
        "Event Date\tApp Name\tApp Apple Identifier\tEvent Group\tEvent Name\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tPlan Change Type\tPrevious Subscription Name\tPrevious Subscription Identifier\tFamily Sharing\tCancellation Reason\tChurn Tenure\tPaid Service Days Recovered\tApp Download Source Type\tPage Type\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts",
    ),
    (
        "App Crashes Expanded",
        "Date,App Name,App Apple Identifier,App Version,Build,Device,Platform,Release Type,Territory,Count,Unique Devices",
    ),
];

#[tokio::test]
async fn s4_3_header_lines_are_the_bytes_of_reports_formats() {
    let w = World::new().await;
    for (name, want) in HEADERS {
        let r = report(name);
        assert_eq!(files::header(r), *want, "{name}");
        let got = render(&w, name, D).await.text;
        assert_eq!(got.lines().next(), Some(*want), "{name}");
    }
    // Every report with a file has its header here or in the server tests (Downloads,
    // Purchases) — and the Detailed Subscription Event, a guess without a capture.
    let covered = CATALOGUE
        .iter()
        .filter(|r| r.kind != Kind::NotGenerated)
        .filter(|r| !HEADERS.iter().any(|(n, _)| *n == r.name))
        .map(|r| r.name)
        .collect::<Vec<_>>();
    assert_eq!(
        covered,
        [
            "App Downloads Standard",
            "App Downloads Detailed",
            "App Store Purchases Standard",
            "App Store Purchases Detailed",
            "App Store Subscription Event Detailed",
        ]
    );
}

#[tokio::test]
async fn s4_3_installation_and_deletion_installs_equal_app_downloads_of_the_same_days() {
    let w = world_with(&day_of_units()).await;
    let installs = text(&w, "App Store Installation and Deletion Standard").await;
    let downloads = text(&w, "App Downloads Standard").await;
    let from_downloads = sum(&downloads, "Counts", &["First-time download"])
        + sum(&downloads, "Counts", &["Redownload"]);
    assert_eq!(from_downloads, 2585);
    assert_eq!(sum(&installs, "Counts", &["Install"]), from_downloads);
    // Deletes: 15 % of each row's installs, rounded down: 6 + 1 + 3 + 0 + 1 + 300 + 75.
    assert_eq!(sum(&installs, "Counts", &["Delete"]), 386);
    assert!(installs.contains(
        "2030-01-10\tCrabapple Notes\t1490553127\tInstall\tFirst-time download\t2.1\tiPhone\tiOS 18.2\tApp Store search\tProduct page\t2030-01-10\tUS\t40\t40\n"
    ));
}

#[tokio::test]
async fn s4_3_discovery_impressions_page_views_and_taps_follow_the_documented_ratios() {
    let w = world_with(&day_of_units()).await;
    let t = text(&w, "App Store Discovery and Engagement Standard").await;
    let row = |event: &str, engagement: &str, n: i64, unique: i64| {
        format!(
            "2030-01-10\tCrabapple Notes\t1490553127\t{event}\tProduct page\tApp Store search\t{engagement}\tiPhone\tiOS 18.2\tUS\t{n}\t{unique}\n"
        )
    };
    // US: 40 first-time downloads from search (8 impressions, 3 page views each), 10
    // redownloads, 6 manual updates; Unique Counts 80 % rounded up.
    for want in [
        row("Impression", "", 320, 256),
        row("Page view", "", 120, 96),
        row("Tap", "Get", 40, 32),
        row("Tap", "Redownload", 10, 8),
        row("Tap", "Update", 6, 5),
    ] {
        assert!(t.contains(&want), "{want}\n{t}");
    }
    // DE from browse: 15 impressions per download.
    assert_eq!(sum(&t, "Counts", &["Impression", "DE"]), 300);
    let web = text(&w, "App Store Web Preview Engagement Standard").await;
    assert_eq!(
        web,
        "Date\tApp Name\tApp Apple Identifier\tEvent\tPage Type\tSource Type\tEngagement Type\tBrowser\tBrowser Version\tDevice\tPlatform Version\tTerritory\tCounts\n\
         2030-01-10\tCrabapple Notes\t1490553127\tPage view\tProduct page\tWeb referrer\t\tSafari\t18.2\tiPhone\tiOS 18.2\tGB\t60\n\
         2030-01-10\tCrabapple Notes\t1490553127\tTap\tProduct page\tWeb referrer\tGet\tSafari\t18.2\tiPhone\tiOS 18.2\tGB\t12\n"
    );
}

#[tokio::test]
async fn s4_3_sessions_opt_in_install_performance_and_crashes_rows() {
    let w = world_with(&day_of_units()).await;
    let s = text(&w, "App Sessions Standard").await;
    // JP: 2000 installs → 600 active devices (30 %) × 3 sessions × 240 s, on both days.
    for day in ["2030-01-10", "2030-01-11"] {
        assert!(s.contains(&format!(
            "{day}\tCrabapple Notes\t1490553127\t2.1\tiPhone\tiOS 18.2\tApp Store search\tProduct page\t2030-01-10\tJP\t1800\t432000\t600\n"
        )), "{s}");
    }
    assert_eq!(
        text(&w, "App Opt In").await,
        "Date\tApp Name\tApp Apple Identifier\tDownloading Users\tUsers Opting-In\n2030-01-10\tCrabapple Notes\t1490553127\t2585\t646\n"
    );
    let p = text(&w, "App Install Performance").await;
    assert!(p.contains(
        "2030-01-10\tCrabapple Notes\t1490553127\tAuto-update\t\tSuccess\tDelta\tiPhone\tiOS 18.2\tUS\t100\t2500\n"
    ), "{p}");
    assert!(p.contains(
        "2030-01-10\tCrabapple Notes\t1490553127\tFirst-time download\t\tSuccess\tFull\tiPhone\tiOS 18.2\tJP\t2000\t6000\n"
    ));
    // 2585 installs → 776 active devices → 2328 sessions → 11 crashes (5 per 1,000).
    assert_eq!(
        text(&w, "App Crashes").await,
        "Date\tApp Name\tApp Apple Identifier\tApp Version\tDevice\tPlatform Version\tCrashes\tUnique Devices\n\
         2030-01-10\tCrabapple Notes\t1490553127\t2.1\tiPhone\tiOS 18.2\t11\t11\n\
         2030-01-11\tCrabapple Notes\t1490553127\t2.1\tiPhone\tiOS 18.2\t11\t11\n"
    );
}

#[tokio::test]
async fn s4_3_crashes_expanded_is_comma_separated_and_keeps_counts_of_5_or_more() {
    let w = world_with(&day_of_units()).await;
    let r = render(&w, "App Crashes Expanded", D).await;
    // JP: 9 crashes a day; BR: 2 (dropped); the other territories none.
    assert_eq!(
        r.text,
        "Date,App Name,App Apple Identifier,App Version,Build,Device,Platform,Release Type,Territory,Count,Unique Devices\n\
         2030-01-10,Crabapple Notes,1490553127,2.1,2.1,iPhone,iOS,App Store,JP,9,9\n\
         2030-01-11,Crabapple Notes,1490553127,2.1,2.1,iPhone,iOS,App Store,JP,9,9\n"
    );
    assert_eq!(
        r.reason(report("App Crashes Expanded")).as_deref(),
        Some(
            "reports-formats.md §4.3: 2 of 4 rows of App Crashes Expanded had a Count under 5 and were dropped"
        )
    );
}

#[tokio::test]
async fn s4_5_app_usage_reports_are_not_generated_under_5_users() {
    let w = world_with(&[units("First-time download", "App Store search", "US", 4)]).await;
    for name in [
        "App Sessions Standard",
        "App Sessions Detailed",
        "App Crashes",
    ] {
        let r = render(&w, name, D).await;
        assert_eq!(
            r.withheld.as_deref(),
            Some(
                format!(
                    "reports-formats.md §4.5: {name} is not generated for 2030-01-10 to 2030-01-11: 2 users, fewer than 5"
                )
                .as_str()
            )
        );
        assert_eq!(r.reason(report(name)), r.withheld);
    }
    let r = render(&w, "App Store Installation and Deletion Standard", D).await;
    assert_eq!(
        r.withheld.as_deref(),
        Some(
            "reports-formats.md §4.5: App Store Installation and Deletion Standard is not generated for 2030-01-10 to 2030-01-11: 4 users, fewer than 5"
        )
    );
    // Not an app-usage report: App Downloads and Opt In have their file.
    assert!(render(&w, "App Opt In", D).await.withheld.is_none());
    assert!(
        render(&w, "App Downloads Standard", D)
            .await
            .withheld
            .is_none()
    );
    // 5 installs are enough for Installation and Deletion.
    let w = world_with(&[units("First-time download", "App Store search", "US", 5)]).await;
    let r = render(&w, "App Store Installation and Deletion Standard", D).await;
    assert_eq!((r.withheld, r.rows), (None, 1));
}

#[tokio::test]
async fn s4_5_sessions_detailed_drops_rows_under_5_devices_and_says_how_many() {
    let w = world_with(&day_of_units()).await;
    let name = "App Sessions Detailed";
    let r = render(&w, name, D).await;
    // Active devices a day (no Download Type column: US's downloads and redownloads are one row):
    // US 15, DE 6, FR 1, GB 4, JP 600, BR 150; two days.
    assert_eq!(
        r.reason(report(name)).as_deref(),
        Some(
            "reports-formats.md §4.5: 4 of 12 rows of App Sessions Detailed came from fewer than 5 users or devices and were dropped; the other rows carry stable integer noise (σ≈2)"
        )
    );
    assert_eq!(r.text.lines().count(), 1 + 8);
    // Detailed differs from Standard by the noise only, within a few σ (duration σ = 60 s).
    let standard = text(&w, "App Sessions Standard").await;
    let jp = |t: &str, col: &str| sum(t, col, &["JP", "2030-01-10"]);
    assert!((jp(&r.text, "Sessions") - jp(&standard, "Sessions")).abs() <= 8);
    let duration = |t: &str| jp(t, "Total Session Duration");
    assert_eq!(
        duration(&standard),
        2 * 432_000,
        "two Dates of installs of the 10th"
    );
    assert!((duration(&r.text) - duration(&standard)).abs() <= 2 * 4 * 60);
}

#[tokio::test]
async fn s4_5_two_renders_of_every_report_give_identical_bytes() {
    let w = world_with(&day_of_units()).await;
    w.buy("alice", MONTHLY, Some(json!({"type": "introductory"})))
        .await;
    for r in CATALOGUE {
        let i = daily(r.name, D);
        let a = files::render(&w.store, &i, APP_ID).await.unwrap();
        let b = files::render(&w.store, &i, APP_ID).await.unwrap();
        assert_eq!(a.text, b.text, "{}", r.name);
    }
}

#[tokio::test]
async fn s4_3_subscription_state_active_counts_equal_the_ledgers_active_subscriptions() {
    let w = World::day_of_events().await;
    let r = render(&w, "App Store Subscription State Standard", DAY).await;
    let mut active = 0;
    for product in [MONTHLY, YEARLY] {
        active += w
            .store
            .ledger_subscriptions_of_product(APP_ID, "Production", product)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.status == 1)
            .count() as i64;
    }
    let day = DAY.to_string();
    assert_eq!(sum(&r.text, "Counts", &["Active", &day]), active);
    assert_eq!(active, 5, "{}", r.text);
    assert_eq!(sum(&r.text, "Counts", &["Billing retry", &day]), 1);
    assert!(r.text.contains(&format!(
        "{day}\tCrabapple Notes\t1490553127\tActive\tStandard price\t"
    )));
    assert!(r.text.contains("\tActive\tFree trial\t"), "{}", r.text);
}

#[tokio::test]
async fn s4_3_subscription_event_uses_the_captures_event_groups_and_names() {
    let w = World::day_of_events().await;
    let t = render(&w, "App Store Subscription Event Standard", DAY)
        .await
        .text;
    let day = DAY.to_string();
    for (group, name, n) in [
        ("Offer start", "Free trial start activation", 1),
        ("Renewal", "Full price renewal", 1),
        ("Enter billing issue", "Billing retry from full price", 1),
        ("Refund", "Refund", 1),
    ] {
        assert_eq!(sum(&t, "Counts", &[&day, group, name]), n, "{group}\n{t}");
    }
    assert!(
        t.lines()
            .skip(1)
            .all(|l| l.starts_with(&format!("{day}\tCrabapple Notes\t1490553127\t")))
    );
}

#[tokio::test]
async fn s4_1_weekly_files_have_the_mondays_date_and_sum_the_days() {
    let friday = AppUnitsRow {
        day: (D + 1.days()).to_string(),
        ..units("First-time download", "App Store search", "US", 60)
    };
    let w = world_with(&[
        units("First-time download", "App Store search", "US", 40),
        friday,
    ])
    .await;
    // The Friday after the week of Monday 7 – Sunday 13 January 2030.
    let weekly = Instance {
        report: report("App Store Discovery and Engagement Standard"),
        request: "q".into(),
        granularity: Granularity::Weekly,
        processing_date: date(2030, 1, 18),
    };
    let t = files::render(&w.store, &weekly, APP_ID).await.unwrap().text;
    assert_eq!(
        t.lines().nth(3),
        Some(
            "2030-01-07\tCrabapple Notes\t1490553127\tTap\tProduct page\tApp Store search\tGet\tiPhone\tiOS 18.2\tUS\t100\t80"
        ),
        "{t}"
    );
    assert_eq!(t.lines().count(), 4);
}

/// §4.1 (weekly and monthly files: Date = the first day of the period, the days' rows summed)
/// for App Sessions: an install counts once per day of the period it is active on, whether the
/// days are summed one by one or at once (files/usage.rs). JP's 2000 installs of Thursday 10
/// January 2030 are active 4 days of the week of Monday 7 – Sunday 13: 8000 device-days, 30 %
/// open the app (2400), 3 sessions of 240 s each; in January's monthly file, 22 days (10–31).
#[tokio::test]
async fn s4_1_weekly_and_monthly_sessions_sum_each_installs_active_days() {
    let w = world_with(&day_of_units()).await;
    let at = |granularity, processing_date| Instance {
        report: report("App Sessions Standard"),
        request: "q".into(),
        granularity,
        processing_date,
    };
    let row = |date: &str, devices: i64| {
        let sessions = devices * 3;
        format!(
            "{date}\tCrabapple Notes\t1490553127\t2.1\tiPhone\tiOS 18.2\tApp Store search\tProduct page\t2030-01-10\tJP\t{sessions}\t{}\t{devices}\n",
            sessions * 240
        )
    };
    let weekly = files::render(
        &w.store,
        &at(Granularity::Weekly, date(2030, 1, 18)),
        APP_ID,
    )
    .await
    .unwrap()
    .text;
    assert!(weekly.contains(&row("2030-01-07", 2400)), "{weekly}");
    let monthly = files::render(
        &w.store,
        &at(Granularity::Monthly, date(2030, 2, 5)),
        APP_ID,
    )
    .await
    .unwrap()
    .text;
    // 2000 × 22 = 44000 device-days, 30 % = 13200.
    assert!(monthly.contains(&row("2030-01-01", 13_200)), "{monthly}");
    // The daily files: 600 a day, on each of its two Dates.
    let daily = render(&w, "App Sessions Standard", D).await.text;
    assert!(daily.contains(&row("2030-01-10", 600)), "{daily}");
    assert!(daily.contains(&row("2030-01-11", 600)), "{daily}");
}
