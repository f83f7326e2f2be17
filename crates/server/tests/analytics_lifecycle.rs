//! Analytics Reports beyond the schedule (issue 10, "Reports II"): the inactivity stop on the
//! virtual clock (apple-semantics.md §2.3), forum post 5's deleted snapshot, the settings. Fault
//! injection and the explanation endpoint with forum posts 2, 3 and 12 are
//! tests/analytics_faults.rs.

mod common;

use common::analytics::*;
use common::reports::*;
use common::*;
use crabapple_reports::analytics::lifecycle::pacific_time;
use jiff::ToSpan;
use serde_json::{Value, json};

/// Orchard Quest: the demo world's app with an ONGOING and a ONE_TIME_SNAPSHOT request.
const QUEST: &str = "1482215960";
const QUEST_SNAPSHOT: &str = "9907ff56-2716-5e88-bfdc-4f0e5302f690";

async fn stopped(w: &World, req: &str) -> Value {
    let r = w.get(&format!("/v1/analyticsReportRequests/{req}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["attributes"]["stoppedDueToInactivity"].clone()
}

#[tokio::test]
async fn s2_3_settings_default_to_30_days_and_refuse_nonsense() {
    let w = demo().await;
    let r = analytics_admin(&w, "GET", "settings", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"inactivityDays": 30, "deletedSnapshotBlockDays": 30})
    );
    let r = analytics_admin(&w, "PATCH", "settings", Some(json!({"inactivityDays": 3}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"inactivityDays": 3, "deletedSnapshotBlockDays": 30})
    );
    for (body, message) in [
        (
            json!({"inactivityDays": 0}),
            "inactivityDays must be a number of days from 1 to 3650, not 0",
        ),
        (
            json!({"inactiveDays": 3}),
            "analytics settings: unknown field `inactiveDays`, expected `inactivityDays` or `deletedSnapshotBlockDays`",
        ),
    ] {
        let r = analytics_admin(&w, "PATCH", "settings", Some(body)).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json(), json!({"error": message}));
        assert_eq!(r.header("x-crabapple-reason"), Some(reason(message)));
    }
}

/// §2.3: "If you don't retrieve data for a long time, a report request changes to
/// stoppedDueToInactivity. You need to make a new request to resume getting reports." With the
/// default 30 days: a download on the first processing date, then none; on the 31st day after
/// it the request is stopped, no instance is made from that day on, the old ones stay readable
/// and a download does not resume it.
#[tokio::test]
async fn s2_3_stopped_due_to_inactivity_30_days_after_the_last_download_on_the_virtual_clock() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let r0 = today(&w).await;
    let std = format!("r3-{req}");
    let first = r0 + 2.days();
    at_day(&w, first, 1).await;
    let inst = format!("{std}-d{}", first.strftime("%Y%m%d"));
    segment_file(&w, &inst).await;
    assert_eq!(stopped(&w, &req).await, json!(false));

    // Days first+1 … first+30 without a download: still running on the 30th.
    let last = first + 30.days();
    at_day(&w, last, 23).await;
    assert_eq!(stopped(&w, &req).await, json!(false));
    let list = instances(&w, &std, "").await;
    assert_eq!(processing_dates(&list)[0], last.to_string());

    let stop = last + 1.days();
    at_day(&w, stop, 0).await;
    assert_eq!(stopped(&w, &req).await, json!(true));
    let r = w
        .get(&format!("/v1/analyticsReports/{std}/instances?limit=200"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        processing_dates(r.json()["data"].as_array().unwrap())[0],
        last.to_string()
    );
    let why = format!(
        "stoppedDueToInactivity since {stop}: the last segment download was on {first} and a request stops after 30 days without one (inactivityDays, apple-semantics.md §2.3: \"If you don't retrieve data for a long time, a report request changes to stoppedDueToInactivity. You need to make a new request to resume getting reports.\")"
    );
    assert_eq!(
        r.header("x-crabapple-reason"),
        Some(reason(&format!("{why}; 1 instances were not made")))
    );

    // A week later: nothing new, the list of the app shows the stop, an old file still downloads
    // and does not resume the request.
    at_day(&w, stop + 7.days(), 2).await;
    let list = instances(&w, &std, "").await;
    assert_eq!(processing_dates(&list)[0], last.to_string());
    let apps = w
        .get(&format!("/v1/apps/{APP}/analyticsReportRequests"))
        .await
        .json();
    assert_eq!(
        apps["data"][0]["attributes"],
        json!({"accessType": "ONGOING", "stoppedDueToInactivity": true})
    );
    let old = format!("{std}-d{}", last.strftime("%Y%m%d"));
    segment_file(&w, &old).await;
    at_day(&w, stop + 8.days(), 2).await;
    assert_eq!(
        processing_dates(&instances(&w, &std, "").await)[0],
        last.to_string()
    );

    // §2.3: a stopped request still counts for the one-per-accessType rule.
    let r = post_request(&w, APP, "ONGOING").await;
    assert_already_have(&r);

    // The explanation of a day after the stop.
    let day = stop + 2.days();
    let x = analytics_admin(
        &w,
        "GET",
        &format!("explain?reportId={std}&date={day}"),
        None,
    )
    .await
    .json();
    assert_eq!(x["request"]["stoppedOn"], json!(stop.to_string()));
    assert_eq!(x["request"]["lastDownload"], json!(first.to_string()));
    let daily = &x["instances"][0];
    assert_eq!(
        (
            &daily["processingDate"],
            &daily["status"],
            &daily["explanation"]
        ),
        (
            &json!((day + 2.days()).to_string()),
            &json!("stopped"),
            &json!(why)
        )
    );
}

/// A request nobody downloads stops `inactivityDays` after the day before its first
/// processing date (the setting through the admin API).
#[tokio::test]
async fn s2_3_a_never_downloaded_request_stops_after_the_configured_days() {
    let w = demo().await;
    analytics_admin(&w, "PATCH", "settings", Some(json!({"inactivityDays": 2}))).await;
    let req = request(&w, "ONGOING").await;
    let r0 = today(&w).await;
    at_day(&w, r0 + 10.days(), 1).await;
    assert_eq!(stopped(&w, &req).await, json!(true));
    // First processing date r0+2; days r0+2 and r0+3 without a download; stopped on r0+4.
    let list = instances(&w, &format!("r4-{req}"), "&filter[granularity]=DAILY").await;
    assert_eq!(
        processing_dates(&list),
        [(r0 + 3.days()).to_string(), (r0 + 2.days()).to_string()]
    );
}

/// The demo world's Crabapple Cinema request is seeded `stoppedDueToInactivity: true`: it made
/// instances until the world's first start and nothing after.
#[tokio::test]
async fn s2_3_the_demo_worlds_stopped_request_makes_nothing_after_the_first_start() {
    let w = demo().await;
    let start = today(&w).await;
    let report = "r3-f06b2b85-09f0-5819-96e3-76cd12c1bd7a";
    let before = processing_dates(&instances(&w, report, "").await);
    assert_eq!(before[0], (start - 1.days()).to_string());
    at_day(&w, start + 3.days(), 1).await;
    assert_eq!(processing_dates(&instances(&w, report, "").await), before);
    let r = w
        .get(&format!("/v1/analyticsReports/{report}/instances?limit=1"))
        .await;
    assert!(
        r.header("x-crabapple-reason").unwrap().starts_with(&reason(&format!(
            "the request was stored with stoppedDueToInactivity: true on {start} (a seed file or the admin API)"
        ))),
        "{:?}",
        r.header("x-crabapple-reason")
    );
}

/// Forum post 5: "Previously created a one time snapshot report that was later deleted. Trying
/// to recreate it but keeping getting a 409. Been already a week since it was deleted. …
/// Reports request only returns the ONGOING reports link no ONE_TIME_SNAPSHOT." Default: 30
/// days after the delete (reports-formats.md §4.1: one snapshot request per month).
#[tokio::test]
async fn forum_post_5_a_deleted_one_time_snapshot_still_answers_409_a_week_later_and_the_list_shows_only_ongoing()
 {
    let w = demo().await;
    let start = today(&w).await;
    at_day(&w, start + 1.days(), 9).await;
    let deleted_ms = now_ms(&w).await;
    delete_request(&w, QUEST_SNAPSHOT).await;

    // A week later.
    advance_to(&w, deleted_ms + 7 * 86_400_000).await;
    let post = || post_request(&w, QUEST, "ONE_TIME_SNAPSHOT");
    let r = post().await;
    assert_already_have(&r);
    assert_eq!(
        r.header("x-crabapple-reason"),
        Some(reason(&format!(
            "app {QUEST}'s ONE_TIME_SNAPSHOT request {QUEST_SNAPSHOT} was deleted at {}, and Apple still counts a deleted snapshot (forum post 5: 409 \"a week since it was deleted\"; reports-formats.md §4.1: \"You can make a single, one-time snapshot request per month\"): a new one is accepted from {} (deletedSnapshotBlockDays = 30)",
            pacific_time(deleted_ms),
            pacific_time(deleted_ms + 30 * 86_400_000)
        )))
    );
    let list = w
        .get(&format!("/v1/apps/{QUEST}/analyticsReportRequests"))
        .await
        .json();
    let access: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attributes"]["accessType"].as_str().unwrap())
        .collect();
    assert_eq!(access, ["ONGOING"]);

    // 30 days after the delete (a minute more: the delete's own time is a little after
    // `deleted_ms`, read before it while the virtual clock runs): accepted.
    advance_to(&w, deleted_ms + 30 * 86_400_000 + 60_000).await;
    let r = post().await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["data"]["attributes"]["accessType"],
        "ONE_TIME_SNAPSHOT"
    );
}

/// Forum post 5's duration is a setting: with `deletedSnapshotBlockDays: 3` the fourth day
/// accepts a new snapshot; ONGOING requests are never held back by a deleted one.
#[tokio::test]
async fn forum_post_5_the_block_is_configurable_and_only_for_snapshots() {
    let w = demo().await;
    analytics_admin(
        &w,
        "PATCH",
        "settings",
        Some(json!({"deletedSnapshotBlockDays": 3})),
    )
    .await;
    let ongoing = request(&w, "ONGOING").await;
    let snapshot = request(&w, "ONE_TIME_SNAPSHOT").await;
    for id in [&ongoing, &snapshot] {
        delete_request(&w, id).await;
    }
    assert_eq!(post_request(&w, APP, "ONGOING").await.status, 201);
    assert_eq!(post_request(&w, APP, "ONE_TIME_SNAPSHOT").await.status, 409);
    advance_to(&w, now_ms(&w).await + 3 * 86_400_000).await;
    let r = post_request(&w, APP, "ONE_TIME_SNAPSHOT").await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}
