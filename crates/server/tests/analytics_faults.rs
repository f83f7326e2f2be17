//! Injected faults of Analytics Reports and the explanation endpoint (issue 10, "Reports II"):
//! forum posts 2 (gaps of days and of months), 3 (an empty instances array) and 12 (a partial
//! snapshot) reproduced on the simulator, each with the explanation crabapple gives; late and
//! empty instances; faults from the seed file.

mod common;

use common::analytics::*;
use common::reports::*;
use common::*;
use crabapple_reports::analytics::lifecycle::pacific_time;
use crabapple_reports::pacific;
use crabapple_server::setup::WorldChoice;
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Value, json};

/// Adds a fault through the admin API; its id.
async fn inject(w: &World, fault: Value) -> String {
    let r = analytics_admin(w, "POST", "faults", Some(fault)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_string()
}

async fn explain(w: &World, query: &str) -> Value {
    let r = analytics_admin(w, "GET", &format!("explain?{query}"), None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// The explained instance of `granularity` and processing date `p`: (status, explanation).
fn story(x: &Value, granularity: &str, p: Date) -> (String, String) {
    let i = x["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["granularity"] == granularity && i["processingDate"] == p.to_string())
        .unwrap_or_else(|| panic!("no {granularity} {p} in {x}"));
    (
        i["status"].as_str().unwrap().to_string(),
        i["explanation"].as_str().unwrap().to_string(),
    )
}

/// [`story`] of the instance (`granularity`, `p`) in the explanation of Date `date` of `report`.
async fn explained(
    w: &World,
    report: &str,
    date: Date,
    granularity: &str,
    p: Date,
) -> (String, String) {
    story(
        &explain(w, &format!("reportId={report}&date={date}")).await,
        granularity,
        p,
    )
}

fn pair(status: &str, text: &str) -> (String, String) {
    (status.to_string(), text.to_string())
}

/// Forum post 2: "I have data on June 1, no data on June 2-4, and then data from June 5 to
/// now." A `missingDays` fault on three Dates: the DAILY instances that hold only missing Dates
/// do not exist, the ones that hold one of them lack its rows, and every answer says it was
/// injected.
#[tokio::test]
async fn forum_post_2_gaps_of_days_are_injected_missing_days_and_explained() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let d0 = today(&w).await;
    let rows: Vec<_> = (0..8)
        .map(|n| day_units(d0 + n.days(), "First-time download", "US", "", 10 + n))
        .collect();
    add_units(&w, &rows).await;
    let (g1, g3) = (d0 + 2.days(), d0 + 4.days());
    let id = inject(
        &w,
        json!({"kind": "missingDays", "app": APP, "report": "App Downloads Standard", "from": g1.to_string(), "to": g3.to_string()}),
    )
    .await;
    assert_eq!(id, "f1");
    at_day(&w, d0 + 9.days(), 1).await;
    let std = format!("r3-{req}");
    let r = w
        .get(&format!("/v1/analyticsReports/{std}/instances?limit=200"))
        .await;
    let list = r.json()["data"].as_array().unwrap().clone();
    // Processing dates d0+2 … d0+9, less d0+4 (holds g1, g1+1) and d0+5 (g1+1, g3).
    let expected: Vec<String> = [9, 8, 7, 6, 3, 2]
        .iter()
        .map(|n| (d0 + n.days()).to_string())
        .collect();
    assert_eq!(processing_dates(&list), expected);
    assert_eq!(
        r.header("x-crabapple-reason"),
        Some(reason(&format!(
            "injected fault f1 (missingDays) removed 2 instances (processing dates {}, {})",
            d0 + 4.days(),
            d0 + 5.days()
        )))
    );
    // d0+3 holds d0+1 and g1: only d0+1's row is left.
    let inst = format!("{std}-d{}", (d0 + 3.days()).strftime("%Y%m%d"));
    let f = segment_file(&w, &inst).await;
    let text = gunzip(&f.body);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with(&(d0 + 1.days()).to_string())
    );
    assert_eq!(
        f.header("x-crabapple-reason"),
        Some(reason(&format!(
            "injected fault f1 (missingDays): 1 rows of the missing days {g1} removed from this file"
        )))
    );

    let x = explain(&w, &format!("reportId={std}&date={}", d0 + 3.days())).await;
    assert_eq!(x["faults"][0]["id"], "f1");
    assert_eq!(
        story(&x, "DAILY", d0 + 5.days()),
        pair(
            "removedByFault",
            &format!(
                "injected fault f1 (missingDays): every Date it would hold ({} to {g3}) is a missing day",
                d0 + 3.days()
            )
        )
    );
    // The day after the gap: its row is in d0+6 (complete day) and d0+7 is out too.
    assert_eq!(
        explained(&w, &std, d0 + 5.days(), "DAILY", d0 + 7.days()).await,
        pair(
            "available",
            &format!(
                "available: holds Dates {} to {}, 2 rows, 1 of them for {} (its complete day)",
                d0 + 5.days(),
                d0 + 6.days(),
                d0 + 5.days()
            )
        )
    );
}

/// Forum post 2's big gaps: "I'd have data on Jan 2024, but not on Feb-Mar 2024, then there's
/// data again from April 2024 onwards … on both ONGOING and ONE_TIME_SNAPSHOT". Two missing
/// months in a snapshot's history: their MONTHLY instances are absent, the others are there.
#[tokio::test]
async fn forum_post_2_gaps_of_months_in_a_one_time_snapshot() {
    let w = demo().await;
    let now = today(&w).await;
    let month = |back: i64| (now.first_of_month() - back.months()).first_of_month();
    let rows: Vec<_> = (1..=5)
        .map(|b| day_units(month(b) + 9.days(), "First-time download", "US", "", 40))
        .collect();
    add_units(&w, &rows).await;
    let (gap_from, gap_to) = (month(4), month(2) - 1.days());
    inject(
        &w,
        json!({"kind": "missingDays", "app": APP, "report": "App Downloads Detailed", "from": gap_from.to_string(), "to": gap_to.to_string()}),
    )
    .await;
    let req = request(&w, "ONE_TIME_SNAPSHOT").await;
    at_day(&w, now + 2.days(), 1).await;
    let det = format!("r4-{req}");
    let monthly = processing_dates(&instances(&w, &det, "&filter[granularity]=MONTHLY").await);
    let fifth = |m: Date| (m.last_of_month() + 5.days()).to_string();
    // The months before and after the gap are there; the two of the gap are not.
    assert!(monthly.contains(&fifth(month(5))), "{monthly:?}");
    assert!(monthly.contains(&fifth(month(2))), "{monthly:?}");
    assert!(!monthly.contains(&fifth(month(4))), "{monthly:?}");
    assert!(!monthly.contains(&fifth(month(3))), "{monthly:?}");
    let x = explain(&w, &format!("reportId={det}&date={}", month(3) + 14.days())).await;
    let p = month(3).last_of_month() + 5.days();
    assert_eq!(
        story(&x, "MONTHLY", p),
        pair(
            "removedByFault",
            &format!(
                "injected fault f1 (missingDays): every Date it would hold ({} to {}) is a missing day",
                month(3),
                month(3).last_of_month()
            )
        )
    );
}

/// Forum post 3: "the request for the analytics report instances returns with a response code
/// 200 but the data array is always empty … there is no error message". The processing delay:
/// a new request has no instances for 24–48 hours, Apple says nothing; crabapple's header and
/// explanation say why.
#[tokio::test]
async fn forum_post_3_an_empty_instances_array_is_the_processing_delay_and_says_so() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let r0 = today(&w).await;
    let std = format!("r3-{req}");
    let r = w
        .get(&format!(
            "/v1/analyticsReports/{std}/instances?filter[granularity]=DAILY"
        ))
        .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["data"], json!([]));
    assert_eq!(doc["meta"]["paging"]["total"], 0);
    assert_eq!(
        r.header("x-crabapple-reason"),
        Some(reason(&format!(
            "no instances of App Downloads Standard: request {req} was made on {r0}: its first instances appear on {} at 00:00 Pacific (apple-semantics.md §2.3: \"Your first report request generates in 1–2 days\")",
            r0 + 2.days()
        )))
    );
    assert_eq!(
        explained(&w, &std, r0, "DAILY", r0 + 2.days()).await,
        pair(
            "notYet",
            &format!(
                "processing date {} has not come yet (today is {r0} in Pacific time; an instance appears at 00:00 Pacific of its processing date, apple-semantics.md §2.3)",
                r0 + 2.days()
            )
        )
    );
    let before = r0 - 1.days();
    assert_eq!(
        explained(&w, &std, before, "DAILY", r0 + 1.days()).await,
        pair(
            "beforeRequest",
            &format!(
                "the request was made on {r0}: an ONGOING request's first processing date is {} and it makes no history before it (apple-semantics.md §2.2: \"Use ONE_TIME_SNAPSHOT to get historical data\")",
                r0 + 2.days()
            )
        )
    );
}

/// Forum post 3 with an injected cause: instances listed, but an `emptyInstances` fault leaves
/// them without segments (`…/segments` answers `"data": []`), and a `lateInstances` fault shows
/// the next day's instance 30 hours after its processing date.
#[tokio::test]
async fn forum_post_3_empty_and_late_instances_are_injected_and_explained() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let r0 = today(&w).await;
    let std = format!("r3-{req}");
    let (p1, p2) = (r0 + 2.days(), r0 + 3.days());
    inject(
        &w,
        json!({"kind": "emptyInstances", "report": "App Downloads Standard", "dates": [p1.to_string()]}),
    )
    .await;
    inject(
        &w,
        json!({"kind": "lateInstances", "app": APP, "dates": [p2.to_string()], "delayHours": 30}),
    )
    .await;
    at_day(&w, p1, 1).await;
    let empty = format!(
        "injected fault f1 (emptyInstances): 1 listed instances have no segments (processing dates {p1})"
    );
    assert_eq!(
        listed(&w, &std, "").await,
        (vec![p1.to_string()], Some(reason(&empty)))
    );
    let inst = format!("{std}-d{}", p1.strftime("%Y%m%d"));
    let r = w
        .get(&format!("/v1/analyticsReportInstances/{inst}/segments"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"], json!([]));
    assert_eq!(
        r.header("x-crabapple-reason"),
        Some(reason(&format!(
            "injected fault f1 (emptyInstances): instance {inst} has no segments"
        )))
    );
    let seg = format!("{inst}-s1");
    not_found(
        &w.get(&format!("/v1/analyticsReportSegments/{seg}")).await,
        "analyticsReportSegments",
        &seg,
    );

    // The next day: p2's instance is late (30 h), then there.
    at_day(&w, p2, 2).await;
    let due = pacific::day_bounds_ms(p2).0 + 30 * 3_600_000;
    let late = format!(
        "{empty}; injected fault f2 (lateInstances): 1 instances appear late, the next at {}",
        pacific_time(due)
    );
    assert_eq!(
        listed(&w, &std, "").await,
        (vec![p1.to_string()], Some(reason(&late)))
    );
    assert_eq!(
        explained(&w, &std, r0 + 1.days(), "DAILY", p2).await,
        pair(
            "late",
            &format!(
                "injected fault f2 (lateInstances): appears at {} instead of 00:00 Pacific on {p2} (delayHours 30)",
                pacific_time(due)
            )
        )
    );
    assert_eq!(
        explained(&w, &std, r0 + 1.days(), "DAILY", p1).await.0,
        "empty"
    );
    // 30 hours after p2 began (06:00 the next day, whose own instance is out too).
    advance_to(&w, due).await;
    assert_eq!(
        processing_dates(&instances(&w, &std, "").await),
        [(p2 + 1.days()).to_string(), p2.to_string(), p1.to_string()]
    );
    // Faults are listed and removed through the admin API.
    let list = w
        .call("GET", "/crabapple/admin/analytics/faults", None, None)
        .await
        .json();
    assert_eq!(
        list["data"][1],
        json!({"id": "f2", "kind": "lateInstances", "app": APP, "dates": [p2.to_string()], "seed": 0, "delayHours": 30})
    );
    let d = w
        .call("DELETE", "/crabapple/admin/analytics/faults/f1", None, None)
        .await;
    assert_eq!(d.status, 204);
    let d = w
        .call("DELETE", "/crabapple/admin/analytics/faults/f1", None, None)
        .await;
    assert_eq!(d.status, 404);
    assert_eq!(d.json(), json!({"error": "no analytics fault f1"}));
    assert_eq!(segment_file(&w, &inst).await.status, 200);
}

/// Forum post 12: "I received the first one-time-snapshot detailed report for the App Store
/// Purchases, and it contains partial data for several days. Shouldn't that be a full report of
/// everything in analytics for like last year or so?" Two causes, both explained: a
/// `partialSnapshot` fault keeps the last 5 days of history, and in what is left the privacy
/// threshold drops the rows of fewer than 5 paying users (reports-formats.md §4.5).
#[tokio::test]
async fn forum_post_12_a_partial_snapshot_of_purchases_detailed_and_its_thresholded_rows() {
    let w = demo().await;
    let r0 = today(&w).await;
    // The app's data starts 60 days back (the snapshot's history would reach it).
    add_units(
        &w,
        &[day_units(
            r0 - 60.days(),
            "First-time download",
            "US",
            "",
            30,
        )],
    )
    .await;
    inject(
        &w,
        json!({"kind": "partialSnapshot", "app": APP, "report": "App Store Purchases Detailed", "historyDays": 5}),
    )
    .await;
    // Six paying users in the US (kept), two in Great Britain (under the threshold).
    for (n, storefront) in ["USA", "USA", "USA", "USA", "USA", "USA", "GBR", "GBR"]
        .iter()
        .enumerate()
    {
        post(
            &w,
            "/crabapple/admin/commerce/purchase",
            json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "storefront": storefront, "customer": format!("post12-{n}")}),
        )
        .await;
    }
    let req = request(&w, "ONE_TIME_SNAPSHOT").await;
    let delivery = r0 + 2.days();
    at_day(&w, delivery, 1).await;
    let det = format!("r13-{req}");
    let r = w
        .get(&format!(
            "/v1/analyticsReports/{det}/instances?filter[granularity]=DAILY&limit=200"
        ))
        .await;
    let daily = processing_dates(r.json()["data"].as_array().unwrap());
    // Only the instances whose last Date reaches delivery-5: processing dates delivery-4 … delivery.
    let expected: Vec<String> = (0..5).map(|n| (delivery - n.days()).to_string()).collect();
    assert_eq!(daily, expected);
    let why = r.header("x-crabapple-reason").unwrap();
    assert!(
        why.starts_with(&reason("injected fault f1 (partialSnapshot) removed ")),
        "{why}"
    );
    // The Standard snapshot is whole: the fault names the Detailed report only.
    let std = instances(&w, &format!("r12-{req}"), "&filter[granularity]=DAILY").await;
    assert!(std.len() > 50, "{}", std.len());

    let old = r0 - 20.days();
    assert_eq!(
        explained(&w, &det, old, "DAILY", old + 2.days()).await,
        pair(
            "removedByFault",
            &format!(
                "injected fault f1 (partialSnapshot): the snapshot delivered on {delivery} holds only the last 5 days of history (Dates from {})",
                delivery - 5.days()
            )
        )
    );
    assert_eq!(
        explained(&w, &det, r0, "DAILY", delivery).await,
        pair(
            "available",
            &format!(
                "available: holds Dates {r0} to {}, 1 rows, 1 of them for {r0} (its complete day); reports-formats.md §4.5: 1 of 2 rows of App Store Purchases Detailed came from fewer than 5 users or devices and were dropped; the other rows carry stable integer noise (σ≈2)",
                r0 + 1.days()
            )
        )
    );
    // After the delivery day the snapshot makes nothing new.
    assert_eq!(
        explained(&w, &det, delivery, "DAILY", delivery + 2.days()).await,
        pair(
            "afterSnapshot",
            &format!(
                "a ONE_TIME_SNAPSHOT \"doesn't generate any new data after the day you request it\" (apple-semantics.md §2.2): its last processing date is {delivery}; an ONGOING request makes the later days"
            )
        )
    );
}

/// The admin API refuses faults it cannot apply, with a sentence; the explanation endpoint
/// refuses questions that name nothing.
#[tokio::test]
async fn faults_and_explain_refuse_what_names_nothing() {
    let w = demo().await;
    for (fault, message) in [
        (
            json!({"kind": "missingDays", "report": "Downloads"}),
            "report 'Downloads' is not a report of the catalogue (reports-formats.md §4.2); use its API name or '*'",
        ),
        (
            json!({"kind": "lateInstances"}),
            "a lateInstances fault needs delayHours > 0 (or delayDays)",
        ),
        (
            json!({"kind": "partialSnapshot"}),
            "a partialSnapshot fault needs historyDays ≥ 1 or the days of its gaps (dates, from–to or rate)",
        ),
    ] {
        let r = analytics_admin(&w, "POST", "faults", Some(fault)).await;
        assert_eq!((r.status, r.json()), (400, json!({"error": message})));
    }
    for (query, status, message) in [
        (
            "date=2026-01-01",
            400,
            "give reportId and date (YYYY-MM-DD), or instanceId",
        ),
        (
            "reportId=r3-nope&date=2026-01-01",
            404,
            "no analyticsReportRequests/nope",
        ),
        (
            "reportId=x&date=2026-01-01",
            404,
            "'x' is no analytics report id",
        ),
        (
            "instanceId=r3-nope-d2026",
            404,
            "'r3-nope-d2026' is no analytics report instance id",
        ),
    ] {
        let r = analytics_admin(&w, "GET", &format!("explain?{query}"), None).await;
        assert_eq!(
            (r.status, r.json()),
            (status, json!({"error": message})),
            "{query}"
        );
    }
}

/// The seed file's `analytics:` section sets the settings and faults of a new world; a reset
/// brings them back.
#[tokio::test]
async fn the_seed_files_analytics_section_sets_settings_and_faults() {
    let dir = temp_dir("analytics-seed");
    let seed = dir.join("seed.yaml");
    std::fs::write(
        &seed,
        "analytics:\n  inactivityDays: 7\n  faults:\n    - kind: missingDays\n      app: \"1476097583\"\n      rate: 0.1\n      seed: 42\n",
    )
    .unwrap();
    let w = open(dir.join("data"), WorldChoice::SeedFile(seed), 100_000).await;
    let get = |path: &'static str| {
        let w = &w;
        async move { w.call("GET", path, None, None).await.json() }
    };
    let settings = json!({"inactivityDays": 7, "deletedSnapshotBlockDays": 30});
    assert_eq!(get("/crabapple/admin/analytics/settings").await, settings);
    let faults = json!({"data": [{"id": "f1", "kind": "missingDays", "app": "1476097583", "rate": 0.1, "seed": 42}]});
    assert_eq!(get("/crabapple/admin/analytics/faults").await, faults);
    w.call(
        "PATCH",
        "/crabapple/admin/analytics/settings",
        None,
        Some(json!({"inactivityDays": 2})),
    )
    .await;
    w.call("DELETE", "/crabapple/admin/analytics/faults", None, None)
        .await;
    assert_eq!(
        get("/crabapple/admin/analytics/faults").await,
        json!({"data": []})
    );
    let r = w.call("POST", "/crabapple/admin/reset", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(get("/crabapple/admin/analytics/settings").await, settings);
    assert_eq!(get("/crabapple/admin/analytics/faults").await, faults);
}

/// reports-formats.md §4.2 (the whole catalogue) and §4.3 (no columns for App Clip Usage nor,
/// but for an unordered list of Home Screen Widget Installs, for the framework reports): such a
/// report is listed, has no instances for the demo app, and the list and `explain` say why.
#[tokio::test]
async fn s4_2_framework_reports_and_app_clip_usage_have_no_instances_and_explain_says_why() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let d0 = today(&w).await;
    add_units(&w, &[day_units(d0, "First-time download", "US", "", 40)]).await;
    at_day(&w, d0 + 3.days(), 1).await;
    let framework = "Home Screen Widget Installs (FRAMEWORK_USAGE) measures the use of a system framework or service; Apple generates such a report only for an app that uses it (crabapple's reading, the most plausible one of Apple's pages), crabapple's apps record no such use and §4.3 lists its columns but not their order, so it has no instances";
    let performance = "AirPlay Performance (PERFORMANCE) measures the use of a system framework or service; Apple generates such a report only for an app that uses it (crabapple's reading, the most plausible one of Apple's pages), crabapple's apps record no such use and its columns were never published (reports-formats.md §4.3), so it has no instances";
    let clip = "Apple generates App Clip Usage Standard only for an app with an App Clip (reports-formats.md §4.2), and crabapple's apps have none; §4.3 gives no columns for it either, so crabapple makes no instances of it";
    for (n, name, why) in [
        (138, "Home Screen Widget Installs", framework),
        (74, "AirPlay Performance", performance),
        (20, "App Clip Usage Standard", clip),
    ] {
        let report = format!("r{n}-{req}");
        let (dates, list_why) = listed(&w, &report, "").await;
        assert!(dates.is_empty(), "{name}: {dates:?}");
        assert_eq!(
            list_why,
            Some(reason(&format!("no instances of {name}: {why}"))),
            "{name}"
        );
        let x = explain(&w, &format!("reportId={report}&date={d0}")).await;
        assert_eq!(x["report"], name);
        assert_eq!(
            story(&x, "DAILY", d0 + 2.days()),
            pair("notGenerated", why),
            "{name}"
        );
    }
}
