//! Issue 10, "Consistency": over a simulated month, the analytics files against the Sales and
//! Trends files of the same days and against each other, within crabapple's documented model
//! (crates/reports/src/analytics/files/, README "Analytics Reports"):
//!
//! - Standard vs Detailed (reports-formats.md §4.5) for App Downloads and App Store Purchases:
//!   the Detailed total is the Standard total less the rows the <5 threshold dropped plus the
//!   noise, and `explain` lists exactly those dropped rows;
//! - App Store Installation and Deletion vs the DAILY SALES file (installs are first-time
//!   downloads and redownloads, deletions `DELETE_PERCENT` of them);
//! - App Sessions only for an app over the threshold of §4.5 (`ACTIVE_PERCENT` of the installs of
//!   `ACTIVE_DAYS`);
//! - App Store Subscription State and Event vs the Sales SUBSCRIPTION and SUBSCRIPTION_EVENT
//!   files: starts, renewals, cancellations, billing issues and refunds per day and subscription.

#[path = "../../server/tests/common/mod.rs"]
mod common;

use common::analytics::{APP, instances, reason, request, segment_file};
use common::reports::{NO_SALES, gunzip, sales_uri};
use crabapple_reports::ReportsStore;
use crabapple_reports::analytics::files::usage::{ACTIVE_DAYS, ACTIVE_PERCENT, DELETE_PERCENT};
use crabapple_reports::analytics::files::{self, THRESHOLD};
use crabapple_reports::analytics::schedule::{Granularity, Instance};
use crabapple_reports::analytics::{CATALOGUE, Report};
use crabapple_simulator::traffic::parse_section;
use crabapple_simulator::{Options, simulate};
use jiff::ToSpan;
use jiff::civil::Date;
use std::collections::BTreeMap;

/// Crabapple Fit: weekly subscriptions, so a month has renewals.
const FIT: &str = "1524930671";

/// Simulates `days` days of the apps of `traffic` (a world file's `traffic:` section) on the demo
/// world from its virtual now; the first simulated day.
async fn simulate_days(w: &common::World, traffic: &str, days: u32) -> Date {
    let traffic = parse_section(traffic).unwrap();
    let o = Options {
        days,
        seed: 42,
        apps: traffic.keys().cloned().collect(),
        profile: None,
        traffic,
        start: None,
        statement_by_statement: false,
    };
    let summary = simulate(&w.app.commerce, &o, |_| {}).await.unwrap();
    summary.first_day.unwrap()
}

fn report(name: &str) -> &'static Report {
    CATALOGUE.iter().find(|r| r.name == name).unwrap()
}

/// A file as (header, rows), split on `sep`.
fn table(text: &str, sep: char) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(sep)
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(sep).map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"))
}

/// The sum of column `metric` over `rows`.
fn total(header: &[String], rows: &[Vec<String>], metric: &str) -> i64 {
    let i = col(header, metric);
    rows.iter().map(|r| r[i].parse::<i64>().unwrap()).sum()
}

/// The rows of Date `d` of the DAILY file holding `d` as its complete day, rendered for `app`.
async fn day_rows(
    w: &common::World,
    name: &str,
    app: &str,
    d: Date,
) -> (Vec<String>, Vec<Vec<String>>, Option<String>) {
    let i = Instance {
        report: report(name),
        request: "q".into(),
        granularity: Granularity::Daily,
        processing_date: d + 2.days(),
    };
    let r = files::render(w.app.store(), &i, app).await.unwrap();
    let (header, rows) = table(&r.text, '\t');
    let date = if name.contains("Subscription Event") {
        "Event Date"
    } else {
        "Date"
    };
    let c = col(&header, date);
    let rows = rows.into_iter().filter(|r| r[c] == d.to_string()).collect();
    (header, rows, r.withheld)
}

/// The Sales file of `rtype` (SALES 1_0, SUBSCRIPTION and SUBSCRIPTION_EVENT 1_3) for day `d`:
/// `Some(rows)` of `app` (empty on "no sales"), `None` before it is out.
async fn sales(
    w: &common::World,
    rtype: &str,
    app: &str,
    d: Date,
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let version = if rtype == "SALES" { "1_0" } else { "1_3" };
    let r = w
        .get(&sales_uri(
            rtype,
            "SUMMARY",
            "DAILY",
            Some(&d.to_string()),
            Some(version),
        ))
        .await;
    match r.status {
        200 => {
            let (header, rows) = table(&gunzip(&r.body), '\t');
            let id = header
                .iter()
                .position(|h| h == "Apple Identifier" || h == "App Apple ID")
                .unwrap();
            let rows = rows.into_iter().filter(|r| r[id] == app).collect();
            Some((header, rows))
        }
        404 if r.json()["errors"][0]["detail"] == NO_SALES => Some((vec![], vec![])),
        404 => None,
        s => panic!("{rtype} {d}: {s}"),
    }
}

/// §4.5: "Detailed totals differ from Standard" — by the rows the threshold drops and the
/// noise, nothing else. For every DAILY instance of a simulated month of App Downloads and App
/// Store Purchases: Σ Detailed = Σ Standard − Σ dropped rows + noise, per metric; `explain`
/// lists exactly the dropped rows (as many as the download's `X-Crabapple-Reason` counts); the
/// noise stays within 6σ (σ≈2 a row) of zero.
#[tokio::test]
async fn s4_5_detailed_differs_from_standard_by_the_dropped_rows_and_the_noise_over_a_month() {
    let w = common::demo().await;
    let req = request(&w, "ONGOING").await;
    simulate_days(
        &w,
        "traffic:\n  com.crabapple.notes:\n    profile: small\n",
        30,
    )
    .await;
    let mut seen = BTreeMap::<&str, (usize, usize, i64)>::new();
    for (std, det, metrics) in [
        (3, 4, &["Counts"][..]),
        (12, 13, &["Purchases", "Paying Users"][..]),
    ] {
        let name = report(if det == 4 {
            "App Downloads Detailed"
        } else {
            "App Store Purchases Detailed"
        })
        .name;
        let list = instances(&w, &format!("r{std}-{req}"), "&filter[granularity]=DAILY").await;
        assert!(list.len() >= 28, "{name}: {} instances", list.len());
        for inst in &list {
            let std_id = inst["id"].as_str().unwrap();
            let det_id = std_id.replacen(&format!("r{std}-"), &format!("r{det}-"), 1);
            let (sh, srows) = table(&gunzip(&segment_file(&w, std_id).await.body), '\t');
            let got = segment_file(&w, &det_id).await;
            let (dh, drows) = table(&gunzip(&got.body), '\t');
            let x = common::analytics::analytics_admin(
                &w,
                "GET",
                &format!("explain?instanceId={det_id}"),
                None,
            )
            .await
            .json();
            let privacy = &x["instances"][0]["rows"]["privacy"];
            let dropped: Vec<Vec<String>> = privacy["droppedRows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    l.as_str()
                        .unwrap()
                        .split('\t')
                        .map(str::to_string)
                        .collect()
                })
                .collect();
            assert_eq!(privacy["dropped"], dropped.len(), "{det_id}");
            assert_eq!(privacy["threshold"], THRESHOLD);
            assert_eq!(
                got.header("x-crabapple-reason"),
                Some(reason(&format!(
                    "reports-formats.md §4.5: {} of {} rows of {name} came from fewer than 5 users or devices and were dropped; the other rows carry stable integer noise (σ≈2)",
                    dropped.len(),
                    dropped.len() + drows.len()
                ))),
                "{det_id}"
            );
            let users = col(&dh, metrics[metrics.len() - 1]);
            assert!(
                dropped
                    .iter()
                    .all(|r| r[users].parse::<i64>().unwrap() < THRESHOLD)
            );
            for m in metrics {
                let noise = privacy["noise"][m].as_i64().unwrap();
                assert_eq!(
                    total(&dh, &drows, m),
                    total(&sh, &srows, m) - total(&dh, &dropped, m) + noise,
                    "{det_id} {m}"
                );
                let bound = 12.0 * (drows.len() as f64).sqrt();
                assert!(
                    (noise as f64).abs() <= bound.max(12.0),
                    "{det_id} {m} {noise}"
                );
                let e = seen.entry(name).or_default();
                e.2 += noise.abs();
            }
            let e = seen.entry(name).or_default();
            e.0 += dropped.len();
            e.1 += drows.len();
        }
    }
    // The month shows both measures on Downloads; Purchases of a small app (3 % of 100 buyers a
    // day) lose most rows to the threshold (forum post 14).
    let (dropped, kept, noise) = seen["App Downloads Detailed"];
    assert!(dropped > 0 && kept > 0 && noise > 0, "{seen:?}");
    assert!(seen["App Store Purchases Detailed"].0 > 0, "{seen:?}");
}

/// §4.3 with crabapple's model (files/usage.rs): Installation and Deletion's installs are the
/// day's first-time downloads and redownloads, so per day they are at least the DAILY SALES
/// file's first-time downloads (`1F` units) and at most those plus its `3F` units (redownloads
/// and restores; a restore is no install); deletions are `DELETE_PERCENT` (15 %) of each row's
/// installs, rounded down; Unique Devices = Counts.
#[tokio::test]
async fn s4_3_installation_and_deletion_installs_are_sales_first_time_downloads_and_redownloads() {
    let w = common::demo().await;
    let first = simulate_days(
        &w,
        "traffic:\n  com.crabapple.notes:\n    profile: small\n",
        30,
    )
    .await;
    let name = "App Store Installation and Deletion Standard";
    let mut compared = 0;
    for n in 0..30 {
        let d = first + n.days();
        let Some((sh, srows)) = sales(&w, "SALES", APP, d).await else {
            continue;
        };
        let units = |pti: &str| -> i64 {
            if srows.is_empty() {
                return 0;
            }
            let (p, u) = (col(&sh, "Product Type Identifier"), col(&sh, "Units"));
            srows
                .iter()
                .filter(|r| r[p] == pti)
                .map(|r| r[u].parse::<i64>().unwrap())
                .sum()
        };
        let (first_time, redownloads) = (units("1F"), units("3F"));
        let (h, rows, withheld) = day_rows(&w, name, APP, d).await;
        assert_eq!(withheld, None, "{d}");
        let event = col(&h, "Event");
        let of = |e: &str| -> Vec<Vec<String>> {
            rows.iter().filter(|r| r[event] == e).cloned().collect()
        };
        let (installs, deletes) = (of("Install"), of("Delete"));
        let installed = total(&h, &installs, "Counts");
        assert!(
            (first_time..=first_time + redownloads).contains(&installed),
            "{d}: {installed} installs, {first_time} 1F, {redownloads} 3F"
        );
        assert_eq!(total(&h, &installs, "Unique Devices"), installed);
        // Each Delete row is DELETE_PERCENT of its Install row, rounded down (absent when 0).
        let counts = col(&h, "Counts");
        let per_row: i64 = installs
            .iter()
            .map(|r| r[counts].parse::<i64>().unwrap() * DELETE_PERCENT / 100)
            .sum();
        let deleted = total(&h, &deletes, "Counts");
        assert_eq!(deleted, per_row, "{d}: deletions of {installed} installs");
        assert!(deleted <= installed * DELETE_PERCENT / 100);
        compared += 1;
    }
    assert!(compared >= 28, "{compared} days");
}

/// §4.5: "report not generated at all when <5 users for the day/week/month" for App Sessions,
/// with crabapple's users (files/usage.rs): `ACTIVE_PERCENT` (30 %) of the installs (first-time
/// downloads and redownloads of the app units) of the file's days and the `ACTIVE_DAYS` (30) − 1
/// before, rounded up. Crabapple Notes (100 downloads a day) has every day's file; Crabapple Fit
/// at one download a day has none until its installs make 5 users, then every day's.
#[tokio::test]
async fn s4_5_sessions_only_for_an_app_over_the_threshold_over_a_month() {
    let w = common::demo().await;
    let first = simulate_days(
        &w,
        "traffic:\n  com.crabapple.notes:\n    profile: small\n  com.crabapple.fit:\n    downloadsPerDay: 1\n",
        30,
    )
    .await;
    let name = "App Sessions Standard";
    let units = w
        .app
        .store()
        .app_units_of(FIT, "2000-01-01", "2999-12-31")
        .await
        .unwrap();
    let installs_between = |from: Date, to: Date| -> i64 {
        units
            .iter()
            .filter(|u| {
                matches!(
                    u.download_type.as_str(),
                    "First-time download" | "Redownload"
                )
            })
            .filter(|u| {
                let d: Date = u.day.parse().unwrap();
                from <= d && d <= to
            })
            .map(|u| u.units)
            .sum()
    };
    let (mut with, mut without) = (0, 0);
    for n in 0..29 {
        let d = first + n.days();
        let (_, rows, withheld) = day_rows(&w, name, APP, d).await;
        assert_eq!(withheld, None, "Notes {d}");
        assert!(!rows.is_empty(), "Notes {d}");
        // The DAILY file of Dates d and d+1.
        let installed = installs_between(d - (ACTIVE_DAYS - 1).days(), d + 1.days());
        let users = (installed * ACTIVE_PERCENT + 99) / 100;
        let (_, _, withheld) = day_rows(&w, name, FIT, d).await;
        if users < THRESHOLD {
            let end = d + 1.days();
            assert_eq!(
                withheld.as_deref(),
                Some(
                    format!(
                        "reports-formats.md §4.5: {name} is not generated for {d} to {end}: {users} users, fewer than 5"
                    )
                    .as_str()
                )
            );
            without += 1;
        } else {
            assert_eq!(withheld, None, "Fit {d}: {users} users");
            with += 1;
        }
    }
    assert!(
        with > 0 && without > 0,
        "{with} days with, {without} without"
    );
}

/// Sums `metric` of `rows` per (Subscription Name, `key` column value).
fn per_name(
    header: &[String],
    rows: &[Vec<String>],
    key: &str,
    metric: &str,
) -> BTreeMap<(String, String), i64> {
    let (name, k, m) = (
        col(header, "Subscription Name"),
        col(header, key),
        col(header, metric),
    );
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry((r[name].clone(), r[k].clone())).or_default() += r[m].parse::<i64>().unwrap();
    }
    out
}

fn names(m: &BTreeMap<(String, String), i64>) -> Vec<String> {
    let mut n: Vec<String> = m.keys().map(|(s, _)| s.clone()).collect();
    n.dedup();
    n
}

/// The sum over the keys of subscription `s` whose value `pick` accepts.
fn count(m: &BTreeMap<(String, String), i64>, s: &str, pick: impl Fn(&str) -> bool) -> i64 {
    m.iter()
        .filter(|((n, k), _)| n == s && pick(k))
        .map(|(_, v)| v)
        .sum()
}

/// §4.3 (App Store Subscription Event, the capture's Event Group) against the Sales
/// SUBSCRIPTION_EVENT 1_3 file (its Event), per day and Subscription Name — both read the day's
/// notifications (files/subscriptions.rs, crates/reports/src/subscription/event.rs):
///
/// - starts: `Offer start` + `Subscription start` = `Start …` + `Subscribe` + `Reactivate`;
/// - renewals: `Renewal` = `Renew`, `Paid Subscription from …`, `Introductory Price` /
///   `Promotional Offer` / `Offer Code from Paid Subscription`, `Renewal from Billing Retry`, and the renewals into another product (Sales: `Upgrade`,
///   `Downgrade`, `Crossgrade`), so between the first and those plus the plan changes;
/// - billing issues: `Enter billing issue` = `Billing Retry from Paid Subscription` + `Grace
///   Period from Paid Subscription`;
/// - cancellations: `Churn`/`Billing churn` = `Canceled from Billing Retry`; Sales' `Cancel`
///   (turning auto-renew off, or an expiry without it) lies between `Cancellation` (auto-renew
///   off) and `Cancellation` + `Churn`/`Voluntary churn`;
/// - refunds: `Refund` = `Refund`.
///
/// And App Store Subscription State against the Sales SUBSCRIPTION 1_3 file of the same day:
/// `Active` = the sum of its active columns, `Billing retry` = Billing Retry, `Grace period` =
/// Grace Period (both are the subscriptions on the books at 24:00 Pacific).
#[tokio::test]
async fn s4_3_subscription_state_and_event_agree_with_the_sales_subscription_files_per_day() {
    let w = common::demo().await;
    let first = simulate_days(
        &w,
        "traffic:\n  com.crabapple.fit:\n    downloadsPerDay: 300\n",
        30,
    )
    .await;
    let mut totals = BTreeMap::<&str, i64>::new();
    let mut compared = 0;
    for n in 0..30 {
        let d = first + n.days();
        let Some((eh, erows)) = sales(&w, "SUBSCRIPTION_EVENT", FIT, d).await else {
            continue;
        };
        let Some((sh, srows)) = sales(&w, "SUBSCRIPTION", FIT, d).await else {
            continue;
        };
        compared += 1;
        let s = if erows.is_empty() {
            BTreeMap::new()
        } else {
            per_name(&eh, &erows, "Event", "Quantity")
        };
        let (ah, arows, _) = day_rows(&w, "App Store Subscription Event Standard", FIT, d).await;
        let group = per_name(&ah, &arows, "Event Group", "Counts");
        let event = per_name(&ah, &arows, "Event Name", "Counts");
        let mut subs = names(&s);
        subs.extend(names(&group));
        subs.sort();
        subs.dedup();
        for sub in &subs {
            let g = |x: &str| count(&group, sub, |k| k == x);
            let sales = |pick: &dyn Fn(&str) -> bool| count(&s, sub, pick);
            let starts = g("Offer start") + g("Subscription start");
            assert_eq!(
                starts,
                sales(&|e| e.starts_with("Start ") || e == "Subscribe" || e == "Reactivate"),
                "{d} {sub} starts"
            );
            let renewals = sales(&|e| {
                e.starts_with("Paid Subscription from ")
                    || matches!(
                        e,
                        "Renew"
                            | "Introductory Price from Paid Subscription"
                            | "Promotional Offer from Paid Subscription"
                            | "Offer Code from Paid Subscription"
                            | "Renewal from Billing Retry"
                    )
            });
            let changes = sales(&|e| matches!(e, "Upgrade" | "Downgrade" | "Crossgrade"));
            assert!(
                (renewals..=renewals + changes).contains(&g("Renewal")),
                "{d} {sub} renewals: {} vs {renewals} + {changes}\n{s:?}\n{group:?}",
                g("Renewal")
            );
            assert_eq!(
                g("Enter billing issue"),
                sales(&|e| e == "Billing Retry from Paid Subscription"
                    || e == "Grace Period from Paid Subscription"),
                "{d} {sub} billing issues"
            );
            let billing_churn = count(&event, sub, |k| k == "Billing churn");
            let voluntary = count(&event, sub, |k| k == "Voluntary churn");
            assert_eq!(
                billing_churn,
                sales(&|e| e == "Canceled from Billing Retry"),
                "{d} {sub}"
            );
            let cancel = sales(&|e| e == "Cancel");
            assert!(
                (g("Cancellation")..=g("Cancellation") + voluntary).contains(&cancel),
                "{d} {sub} cancellations: {cancel} vs {} + {voluntary}",
                g("Cancellation")
            );
            assert_eq!(g("Refund"), sales(&|e| e == "Refund"), "{d} {sub}");
            *totals.entry("starts").or_default() += starts;
            *totals.entry("renewals").or_default() += g("Renewal");
            *totals.entry("cancellations").or_default() += cancel;
        }

        let (ah, arows, _) = day_rows(&w, "App Store Subscription State Standard", FIT, d).await;
        let state = per_name(&ah, &arows, "State Metric", "Counts");
        let active_columns: Vec<&String> = sh
            .iter()
            .filter(|h| h.ends_with(" Subscriptions"))
            .collect();
        let mut books = BTreeMap::<(String, String), i64>::new();
        if !srows.is_empty() {
            let name = col(&sh, "Subscription Name");
            for r in &srows {
                let cell = |c: &str| r[col(&sh, c)].parse::<i64>().unwrap();
                let active: i64 = active_columns.iter().map(|c| cell(c)).sum();
                for (k, v) in [
                    ("Active", active),
                    ("Billing retry", cell("Billing Retry")),
                    ("Grace period", cell("Grace Period")),
                ] {
                    *books.entry((r[name].clone(), k.to_string())).or_default() += v;
                }
            }
        }
        books.retain(|_, v| *v != 0);
        assert_eq!(state, books, "{d}: Subscription State vs SUBSCRIPTION");
        *totals.entry("active").or_default() += state
            .iter()
            .filter(|((_, k), _)| k == "Active")
            .map(|(_, v)| v)
            .sum::<i64>();
    }
    assert!(compared >= 28, "{compared} days");
    for k in ["starts", "renewals", "cancellations", "active"] {
        assert!(totals.get(k).copied().unwrap_or(0) > 0, "{k}: {totals:?}");
    }
}
