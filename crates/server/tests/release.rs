//! Issue 11, releasing an approved version: the developer's release request, a scheduled release
//! at its date, a phased release paused and completed, and the deprecated removal from review —
//! on the demo world with the virtual clock moved by the admin API (helpers: common/review.rs).

mod common;
mod review_support;

use common::demo;
use review_support::*;
use serde_json::json;

#[tokio::test]
async fn a_manual_release_waits_for_the_developers_release_request() {
    let w = demo().await;
    // A version not waiting for its developer cannot be released.
    let r = w
        .api(
            "POST",
            "/v1/appStoreVersionReleaseRequests",
            json!({"data": {"type": "appStoreVersionReleaseRequests", "relationships": {
                "appStoreVersion": {"data": {"type": "appStoreVersions", "id": NOTES_240}}}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(error(&r)["code"], "STATE_ERROR");
    assert_eq!(
        error(&r)["detail"],
        format!(
            "The appStoreVersion with id '{NOTES_240}' cannot be released in its current state PREPARE_FOR_SUBMISSION. Only a version in PENDING_DEVELOPER_RELEASE can be released."
        )
    );
    let r = w
        .api(
            "POST",
            "/v1/appStoreVersionReleaseRequests",
            json!({"data": {"type": "appStoreVersionReleaseRequests", "relationships": {
                "appStoreVersion": {"data": {"type": "appStoreVersions", "id": CINEMA_110}}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        w.version_state(CINEMA_110).await,
        (
            "PROCESSING_FOR_DISTRIBUTION".into(),
            "PROCESSING_FOR_APP_STORE".into()
        )
    );
    w.advance("1h").await;
    assert_eq!(
        w.version_state(CINEMA_110).await,
        ("READY_FOR_DISTRIBUTION".into(), "READY_FOR_SALE".into())
    );
    // The previous live tvOS version was replaced.
    assert_eq!(
        w.version_state("6f4ff90a-a05f-5fec-9724-fe63dfce41ef")
            .await
            .0,
        "REPLACED_WITH_NEW_VERSION"
    );
    // The rules this file proves, for `crabapple spec coverage`.
    common::check_facts(
        "rules-release",
        &common::rules_header("crates/server/tests/release.rs"),
        [
            ("appStoreVersionReleaseRequests_createInstance", "§8.4 releaseType MANUAL — only a version PENDING_DEVELOPER_RELEASE is released (409 STATE_ERROR)"),
            ("appStoreVersionSubmissions_deleteInstance", "the deprecated removal from review — the version DEVELOPER_REJECTED, its submission COMPLETE"),
        ]
        .iter()
        .map(|(op, fact)| format!("{op}\t{fact}"))
        .collect(),
    );
}

#[tokio::test]
async fn a_scheduled_release_goes_live_at_its_earliest_release_date_not_before() {
    let w = demo().await;
    let now = w.app.store().now_ms();
    let earliest = crabapple_asc::rules::rfc3339(now + 5 * 86_400_000);
    let r = w
        .patch_version(json!({"releaseType": "SCHEDULED", "earliestReleaseDate": earliest}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.submit_notes().await;
    w.advance("1d").await;
    w.advance("2h").await;
    assert_eq!(w.version_state(NOTES_240).await.0, "PENDING_APPLE_RELEASE");
    w.advance("3d").await;
    assert_eq!(
        w.version_state(NOTES_240).await.0,
        "PENDING_APPLE_RELEASE",
        "not before its date"
    );
    w.advance("22h").await;
    assert_eq!(
        w.version_state(NOTES_240).await.0,
        "PROCESSING_FOR_DISTRIBUTION"
    );
    w.advance("1h").await;
    assert_eq!(w.version_state(NOTES_240).await.0, "READY_FOR_DISTRIBUTION");
    let h = w
        .get(&format!(
            "/crabapple/v1/appStoreVersions/{NOTES_240}/history"
        ))
        .await
        .json();
    let released = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["changes"]["appVersionState"] == "PROCESSING_FOR_DISTRIBUTION")
        .unwrap()
        .clone();
    assert_eq!(released["date"], earliest.as_str());
}

#[tokio::test]
async fn deleting_the_deprecated_app_store_version_submission_removes_the_version_from_review() {
    let w = demo().await;
    let s = w
        .admin_create(
            "appStoreVersionSubmissions",
            json!({"relationships": {"appStoreVersion": ORCHARD_190}}),
        )
        .await;
    let id = s["id"].as_str().unwrap();
    let r = w
        .call(
            "DELETE",
            &format!("/v1/appStoreVersionSubmissions/{id}"),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        w.version_state(ORCHARD_190).await,
        ("DEVELOPER_REJECTED".into(), "DEVELOPER_REJECTED".into())
    );
    // The seeded submission that held it: canceled, then complete.
    let sub = "cc027004-a99f-5465-ace4-f77012608d1c";
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "COMPLETE"
    );
    let h = w
        .get(&format!(
            "/crabapple/v1/appStoreVersions/{ORCHARD_190}/history"
        ))
        .await
        .json();
    let states: Vec<&str> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["changes"]["appVersionState"]
                .as_str()
                .or(e["changes"]["state"].as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(
        states,
        ["CANCELING", "COMPLETE", "REMOVED", "DEVELOPER_REJECTED"]
    );
}

#[tokio::test]
async fn a_paused_phased_release_resumes_by_itself_after_30_days_and_completes_on_request() {
    let w = demo().await;
    // Crabapple Fit 4.1.0 (demo world): phased release ACTIVE on day 5.
    let version = "1c06ae1a-486a-5d86-9c6d-64a2acf0821c";
    let id = "976e0224-f1f5-5d5d-9c0e-af157b8ce3cb";
    let read = format!("/v1/appStoreVersions/{version}/appStoreVersionPhasedRelease");
    let write = format!("/v1/appStoreVersionPhasedReleases/{id}");
    let patch = |state: &str| json!({"data": {"type": "appStoreVersionPhasedReleases", "id": id, "attributes": {"phasedReleaseState": state}}});
    let r = w.api("PATCH", &write, patch("PAUSED")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.advance("29d").await;
    assert_eq!(w.attribute(&read, "phasedReleaseState").await, "PAUSED");
    w.advance("1d").await;
    let p = w.get(&read).await.json()["data"]["attributes"].clone();
    assert_eq!(p["phasedReleaseState"], "ACTIVE");
    assert_eq!(p["totalPauseDuration"], 30);
    assert_eq!(p["currentDayNumber"], 5);
    w.advance("1d").await;
    assert_eq!(w.attribute(&read, "currentDayNumber").await, 6);
    // Released to everyone now: the remaining days are dropped.
    let r = w.api("PATCH", &write, patch("COMPLETE")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.advance("3d").await;
    let p = w.get(&read).await.json()["data"]["attributes"].clone();
    assert_eq!(p["phasedReleaseState"], "COMPLETE");
    assert_eq!(p["currentDayNumber"], 6);
    // A finished phased release does not pause (crabapple's wording; Apple's text is not public).
    let r = w.api("PATCH", &write, patch("PAUSED")).await;
    assert_eq!(r.status, 409);
    assert_eq!(error(&r)["code"], "STATE_ERROR");
    assert_eq!(
        error(&r)["detail"],
        "The phased release cannot change from COMPLETE to PAUSED."
    );
    assert_eq!(
        error(&r)["source"]["pointer"],
        "/data/attributes/phasedReleaseState"
    );
}
