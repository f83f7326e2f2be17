//! Issue 11, "Versions, review, release — and their history": Apple's rules for versions,
//! review submissions and the reviewer, driven over HTTP on the demo world with the virtual clock
//! moved by the admin API, and the end-to-end release with its history. Test names cite the fact
//! (apple-semantics.md §8.4, the spec, the observed texts cited in crates/asc/src/rules/review).
//! Releases: release.rs.

mod common;
mod review_support;

use common::demo;
use review_support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn a_new_version_while_another_is_editable_is_refused_with_apples_relationship_error() {
    let w = demo().await;
    let r = w
        .api(
            "POST",
            "/v1/appStoreVersions",
            json!({"data": {"type": "appStoreVersions",
                "attributes": {"platform": "IOS", "versionString": "2.5.0"},
                "relationships": {"app": {"data": {"type": "apps", "id": NOTES}}}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    let e = error(&r);
    assert_eq!(e["code"], "ENTITY_ERROR.RELATIONSHIP.INVALID");
    assert_eq!(
        e["detail"],
        "You cannot create a new version of the App in the current state."
    );
    assert_eq!(e["source"]["pointer"], "/data/relationships/app");
    // Another platform has no version in the way: created in PREPARE_FOR_SUBMISSION, both
    // state attributes in step (§8.4).
    let r = w
        .api(
            "POST",
            "/v1/appStoreVersions",
            json!({"data": {"type": "appStoreVersions",
                "attributes": {"platform": "MAC_OS", "versionString": "2.5.0"},
                "relationships": {"app": {"data": {"type": "apps", "id": NOTES}}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let a = &r.json()["data"]["attributes"];
    assert_eq!(a["appVersionState"], "PREPARE_FOR_SUBMISSION");
    assert_eq!(a["appStoreState"], "PREPARE_FOR_SUBMISSION");
    // Its history starts with its creation.
    let id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let h = w
        .get(&format!("/crabapple/v1/appStoreVersions/{id}/history"))
        .await
        .json();
    assert_eq!(h["data"][0]["note"], "created");
    assert_eq!(
        h["data"][0]["changes"]["appVersionState"],
        "PREPARE_FOR_SUBMISSION"
    );
}

#[tokio::test]
async fn a_version_in_review_cannot_be_edited_attribute_cannot_be_edited_at_this_time() {
    let w = demo().await;
    let r = w
        .api(
            "PATCH",
            &format!("/v1/appStoreVersions/{ORCHARD_190}"),
            json!({"data": {"type": "appStoreVersions", "id": ORCHARD_190, "attributes": {"copyright": "2027 Someone"}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    let e = error(&r);
    assert_eq!(e["code"], "STATE_ERROR");
    assert_eq!(
        e["title"],
        "The request cannot be fulfilled because of the state of another resource."
    );
    assert_eq!(
        e["detail"],
        "Attribute 'copyright' cannot be edited at this time"
    );
    // Nor its build (crabapple's wording for the relationship, by analogy).
    let r = w
        .api(
            "PATCH",
            &format!("/v1/appStoreVersions/{ORCHARD_190}"),
            json!({"data": {"type": "appStoreVersions", "id": ORCHARD_190, "relationships": {
                "build": {"data": {"type": "builds", "id": "b0c4bd00-dcb9-56ef-8842-d58ec0dd24dd"}}}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        error(&r)["detail"],
        "Relationship 'build' cannot be edited at this time"
    );
    // Its localization's texts are fixed too, but not its promotional text.
    let loc = "6041282c-5d5b-539a-8e0b-ed608d882902";
    let edit = |attributes: Value| json!({"data": {"type": "appStoreVersionLocalizations", "id": loc, "attributes": attributes}});
    let path = format!("/v1/appStoreVersionLocalizations/{loc}");
    let r = w
        .api("PATCH", &path, edit(json!({"description": "New"})))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        error(&r)["detail"],
        "Attribute 'description' cannot be edited at this time"
    );
    let r = w
        .api(
            "PATCH",
            &path,
            edit(json!({"promotionalText": "Winter event!"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // An editable version takes the same edit.
    let r = w
        .patch_version(json!({"copyright": "2027 Crabapple Labs"}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn missing_requirements_answer_entity_state_invalid_with_one_associated_error_each() {
    let w = demo().await;
    // No build, an empty description, no screenshot.
    let r = w
        .call(
            "PATCH",
            &format!("/crabapple/admin/resources/appStoreVersions/{NOTES_240}"),
            None,
            Some(json!({"relationships": {"build": null}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = w
        .api(
            "PATCH",
            &format!("/v1/appStoreVersionLocalizations/{NOTES_240_EN}"),
            json!({"data": {"type": "appStoreVersionLocalizations", "id": NOTES_240_EN, "attributes": {"description": ""}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sub = w.new_submission(NOTES, "IOS").await;
    let r = w.add_item(&sub, NOTES_240).await;
    assert_eq!(r.status, 409);
    let e = error(&r);
    assert_eq!(e["code"], "STATE_ERROR.ENTITY_STATE_INVALID");
    assert_eq!(
        e["title"],
        format!("appStoreVersions with id '{NOTES_240}' is not in valid state.")
    );
    assert_eq!(
        e["detail"],
        "This resource cannot be reviewed, please check associated errors to see why."
    );
    let assoc = &e["meta"]["associatedErrors"];
    let version = assoc[format!("/v1/appStoreVersions/{NOTES_240}")]
        .as_array()
        .unwrap();
    let details: Vec<&str> = version
        .iter()
        .map(|x| x["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "You must provide a value for the relationship 'build' with this request",
            "A screenshot with type iphone67 is required but was not provided",
        ]
    );
    assert_eq!(
        version[1]["title"],
        "App screenshot missing (APP_IPHONE_67)."
    );
    let loc = &assoc[format!("/v1/appStoreVersionLocalizations/{NOTES_240_EN}")][0];
    assert_eq!(loc["code"], "ENTITY_ERROR.ATTRIBUTE.REQUIRED");
    assert_eq!(
        loc["title"],
        "The provided entity is missing a required attribute"
    );
    assert_eq!(
        loc["detail"],
        "You must provide a value for the attribute 'description' with this request"
    );
    assert_eq!(loc["source"]["pointer"], "/data/attributes/description");
}

#[tokio::test]
async fn a_submission_without_items_does_not_have_any_items() {
    let w = demo().await;
    let sub = w.new_submission(NOTES, "IOS").await;
    let r = w.patch_submission(&sub, json!({"submitted": true})).await;
    assert_eq!(r.status, 409);
    let e = error(&r);
    assert_eq!(e["code"], "STATE_ERROR.ENTITY_STATE_INVALID");
    assert_eq!(e["title"], "Resource state invalid");
    assert_eq!(
        e["detail"],
        format!("reviewSubmissions with id {sub} does not have any items.")
    );
}

#[tokio::test]
async fn canceling_a_submission_makes_the_version_developer_rejected_and_the_submission_complete() {
    let w = demo().await;
    let sub = w.submit_notes().await;
    let s = w.get(&format!("/v1/reviewSubmissions/{sub}")).await.json();
    assert_eq!(s["data"]["attributes"]["state"], "WAITING_FOR_REVIEW");
    assert!(s["data"]["attributes"]["submittedDate"].is_string());
    assert_eq!(w.version_state(NOTES_240).await.0, "WAITING_FOR_REVIEW");
    let r = w.patch_submission(&sub, json!({"canceled": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["attributes"]["state"], "CANCELING");
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "COMPLETE"
    );
    assert_eq!(
        w.version_state(NOTES_240).await,
        ("DEVELOPER_REJECTED".into(), "DEVELOPER_REJECTED".into())
    );
    // The reviewer's planned steps were cancelled with it.
    w.advance("2d").await;
    assert_eq!(w.version_state(NOTES_240).await.0, "DEVELOPER_REJECTED");
    // Canceling again: the submission is finished.
    let r = w.patch_submission(&sub, json!({"canceled": true})).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        error(&r)["detail"],
        format!("reviewSubmissions with id {sub} cannot be canceled in state COMPLETE.")
    );
}

#[tokio::test]
async fn the_reviewer_on_command_rejects_with_its_reason_and_cancels_the_planned_verdict() {
    let w = demo().await;
    let sub = w.submit_notes().await;
    let r = w.reject_now(NOTES_240, "Guideline 4.0 - Design").await;
    assert_eq!(r.json()["appVersionState"], "REJECTED");
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "UNRESOLVED_ISSUES"
    );
    w.advance("2d").await;
    assert_eq!(
        w.version_state(NOTES_240).await.0,
        "REJECTED",
        "the planned approval was cancelled"
    );
    let h = w
        .get(&format!(
            "/crabapple/v1/appStoreVersions/{NOTES_240}/history"
        ))
        .await
        .json();
    assert!(
        h["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["note"] == "rejected: Guideline 4.0 - Design")
    );
    // A version no longer in review cannot be decided.
    let r = w
        .call(
            "POST",
            &format!("/crabapple/admin/appStoreVersions/{NOTES_240}/approve"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn the_history_takes_the_apis_token() {
    let w = demo().await;
    let r = w
        .call(
            "GET",
            &format!("/crabapple/v1/appStoreVersions/{NOTES_240}/history"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(error(&r)["code"], "NOT_AUTHORIZED");
    let r = w
        .get("/crabapple/v1/appStoreVersions/no-such-version/history")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(error(&r)["code"], "NOT_FOUND");
}

/// The end-to-end test: Crabapple Notes 2.4.0 from PREPARE_FOR_SUBMISSION through
/// review (approved after the default day of waiting and two hours in review), processing, and
/// a seven-day phased release (paused once) to COMPLETE; the history lists every transition
/// with its virtual time (forum post 17's "Ready for Distribution" date among them).
#[tokio::test]
async fn a_version_goes_from_creation_to_ready_for_distribution_through_review_and_phased_release()
{
    let w = demo().await;
    let r = w
        .patch_version(json!({"releaseType": "AFTER_APPROVAL"}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let phased = w
        .api(
            "POST",
            "/v1/appStoreVersionPhasedReleases",
            json!({"data": {"type": "appStoreVersionPhasedReleases", "attributes": {"phasedReleaseState": "ACTIVE"},
                "relationships": {"appStoreVersion": {"data": {"type": "appStoreVersions", "id": NOTES_240}}}}}),
        )
        .await;
    assert_eq!(
        phased.status,
        201,
        "{}",
        String::from_utf8_lossy(&phased.body)
    );
    let phased = phased.json()["data"]["id"].as_str().unwrap().to_string();
    // Apple has no GET of a phased release by id: it is read through its version.
    let phased_path = format!("/v1/appStoreVersions/{NOTES_240}/appStoreVersionPhasedRelease");
    let phased_patch = format!("/v1/appStoreVersionPhasedReleases/{phased}");
    let sub = w.submit_notes().await;

    w.advance("1d").await;
    assert_eq!(w.version_state(NOTES_240).await.0, "IN_REVIEW");
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "IN_REVIEW"
    );
    w.advance("2h").await;
    assert_eq!(
        w.version_state(NOTES_240).await,
        (
            "PROCESSING_FOR_DISTRIBUTION".into(),
            "PROCESSING_FOR_APP_STORE".into()
        )
    );
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "COMPLETE"
    );
    w.advance("1h").await;
    assert_eq!(
        w.version_state(NOTES_240).await,
        ("READY_FOR_DISTRIBUTION".into(), "READY_FOR_SALE".into())
    );
    assert_eq!(
        w.version_state(NOTES_230).await.0,
        "REPLACED_WITH_NEW_VERSION"
    );
    let p = w.get(&phased_path).await.json()["data"]["attributes"].clone();
    assert_eq!(p["phasedReleaseState"], "ACTIVE");
    assert_eq!(p["currentDayNumber"], 1);
    w.advance("2d").await;
    assert_eq!(w.attribute(&phased_path, "currentDayNumber").await, 3);

    // Paused for two days: the day does not move; resumed, it continues.
    let patch = |state: &str| json!({"data": {"type": "appStoreVersionPhasedReleases", "id": phased, "attributes": {"phasedReleaseState": state}}});
    let r = w.api("PATCH", &phased_patch, patch("PAUSED")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.advance("2d").await;
    assert_eq!(w.attribute(&phased_path, "currentDayNumber").await, 3);
    assert_eq!(
        w.attribute(&phased_path, "phasedReleaseState").await,
        "PAUSED"
    );
    let r = w.api("PATCH", &phased_patch, patch("ACTIVE")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["attributes"]["totalPauseDuration"], 2);
    w.advance("4d").await;
    assert_eq!(w.attribute(&phased_path, "currentDayNumber").await, 7);
    w.advance("1d").await;
    assert_eq!(
        w.attribute(&phased_path, "phasedReleaseState").await,
        "COMPLETE"
    );

    let h = w
        .get(&format!(
            "/crabapple/v1/appStoreVersions/{NOTES_240}/history"
        ))
        .await;
    assert_eq!(h.status, 200);
    let h = h.json();
    let data = h["data"].as_array().unwrap();
    // Minutes after the submission (the virtual clock runs with real time between requests).
    let t_sub = data[0]["atMs"].as_i64().unwrap();
    let rows: Vec<(String, String, i64)> = data
        .iter()
        .map(|e| {
            let c = &e["changes"];
            let change = [
                "appVersionState",
                "state",
                "phasedReleaseState",
                "currentDayNumber",
            ]
            .iter()
            .find(|k| !c[**k].is_null())
            .map(|k| {
                format!(
                    "{k}={}",
                    c[*k].as_str().map_or(c[*k].to_string(), str::to_string)
                )
            })
            .unwrap_or_default();
            let at = e["atMs"].as_i64().unwrap();
            (
                e["type"].as_str().unwrap().to_string(),
                change,
                (at - t_sub + 30_000).div_euclid(60_000),
            )
        })
        .collect();
    let day = 24 * 60;
    let released = day + 180;
    let phased_row = |c: &str, min: i64| {
        (
            "appStoreVersionPhasedReleases".to_string(),
            c.to_string(),
            min,
        )
    };
    let row = |t: &str, c: &str, min: i64| (t.to_string(), c.to_string(), min);
    assert_eq!(
        rows,
        vec![
            row("reviewSubmissions", "state=WAITING_FOR_REVIEW", 0),
            row("appStoreVersions", "appVersionState=WAITING_FOR_REVIEW", 0),
            row("reviewSubmissions", "state=IN_REVIEW", day),
            row("appStoreVersions", "appVersionState=IN_REVIEW", day),
            row("reviewSubmissions", "state=COMPLETE", day + 120),
            row("reviewSubmissionItems", "state=APPROVED", day + 120),
            row(
                "appStoreVersions",
                "appVersionState=PROCESSING_FOR_DISTRIBUTION",
                day + 120
            ),
            row(
                "appStoreVersions",
                "appVersionState=READY_FOR_DISTRIBUTION",
                released
            ),
            phased_row("phasedReleaseState=ACTIVE", released),
            phased_row("currentDayNumber=2", released + day),
            phased_row("currentDayNumber=3", released + 2 * day),
            phased_row("phasedReleaseState=PAUSED", released + 2 * day),
            phased_row("phasedReleaseState=ACTIVE", released + 4 * day),
            phased_row("currentDayNumber=4", released + 5 * day),
            phased_row("currentDayNumber=5", released + 6 * day),
            phased_row("currentDayNumber=6", released + 7 * day),
            phased_row("currentDayNumber=7", released + 8 * day),
            phased_row("phasedReleaseState=COMPLETE", released + 9 * day),
        ]
    );
    // Forum post 17: the date the version became Ready for Distribution.
    let ready = data
        .iter()
        .find(|e| e["changes"]["appVersionState"] == "READY_FOR_DISTRIBUTION")
        .unwrap();
    assert_eq!(h["meta"]["readyForDistributionDate"], ready["date"]);
    assert_eq!(h["meta"]["planned"], json!([]));

    // The rules this file proves, for `crabapple spec coverage`.
    common::check_facts(
        "rules-review",
        &common::rules_header("crates/server/tests/review.rs"),
        [
            ("appStoreVersions_createInstance", "observed CI logs — a new version while another of the platform is not live: 409 ENTITY_ERROR.RELATIONSHIP.INVALID \"You cannot create a new version of the App in the current state.\""),
            ("appStoreVersions_updateInstance", "fastlane#17933 — a version outside the editable states: 409 STATE_ERROR \"Attribute '…' cannot be edited at this time\""),
            ("appStoreVersionLocalizations_updateInstance", "fastlane#17933 — the texts of a version in review (not promotionalText): 409 STATE_ERROR \"Attribute 'description' cannot be edited at this time\""),
            ("reviewSubmissionItems_createInstance", "fastlane#20009, #20869, codemagic cli-tools#85 — missing build, texts, screenshots: 409 STATE_ERROR.ENTITY_STATE_INVALID with one associated error each"),
            ("reviewSubmissions_updateInstance", "microsoft/asconnect#50 — submitted without items: 409 STATE_ERROR.ENTITY_STATE_INVALID \"does not have any items.\"; submitted → WAITING_FOR_REVIEW → IN_REVIEW → COMPLETE on the clock; canceled → DEVELOPER_REJECTED"),
            ("appStoreVersionPhasedReleases_updateInstance", "Apple's phased release — 7 days 1-2-5-10-20-50-100 %, PAUSED keeps the day, COMPLETE after day 7"),
        ]
        .iter()
        .map(|(op, fact)| format!("{op}\t{fact}"))
        .collect(),
    );
}

#[tokio::test]
async fn the_reviewers_timing_and_reject_rate_are_settings_of_the_world() {
    let w = demo().await;
    let r = w
        .review_settings(json!({"waitingMs": 3_600_000, "inReviewMs": 600_000, "rejectRate": 1.0}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({"waitingMs": 3_600_000, "inReviewMs": 600_000, "rejectRate": 1.0, "processingMs": 3_600_000})
    );
    let r = w.review_settings(json!({"rejectRate": 2})).await;
    assert_eq!(r.status, 400);
    let sub = w.submit_notes().await;
    w.advance("59m").await;
    assert_eq!(w.version_state(NOTES_240).await.0, "WAITING_FOR_REVIEW");
    w.advance("2m").await;
    assert_eq!(w.version_state(NOTES_240).await.0, "IN_REVIEW");
    w.advance("10m").await;
    assert_eq!(
        w.version_state(NOTES_240).await,
        ("REJECTED".into(), "REJECTED".into())
    );
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "UNRESOLVED_ISSUES"
    );
    // Rejected, the version is editable again and can be resubmitted in the same submission.
    let r = w
        .patch_version(json!({"copyright": "2027 Crabapple Labs"}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn a_new_app_without_texts_age_rating_or_price_lists_each_missing_thing() {
    let w = demo().await;
    let app = w
        .admin_create(
            "apps",
            json!({"attributes": {"name": "Bare", "bundleId": "com.crabapple.bare", "sku": "BARE1", "primaryLocale": "en-US"}}),
        )
        .await;
    let app = app["id"].as_str().unwrap().to_string();
    let r = w
        .api(
            "POST",
            "/v1/appStoreVersions",
            json!({"data": {"type": "appStoreVersions",
                "attributes": {"platform": "MAC_OS", "versionString": "1.0"},
                "relationships": {"app": {"data": {"type": "apps", "id": app}}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let version = r.json()["data"]["id"].as_str().unwrap().to_string();
    let sub = w.new_submission(&app, "MAC_OS").await;
    let r = w.add_item(&sub, &version).await;
    assert_eq!(r.status, 409);
    let assoc = &error(&r)["meta"]["associatedErrors"];
    let details = |path: String| -> Vec<String> {
        assoc[path]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        details(format!("/v1/appStoreVersions/{version}")),
        [
            "You must provide a value for the relationship 'build' with this request",
            "You must provide a value for the relationship 'appStoreVersionLocalizations' with this request",
            "A screenshot with type desktop is required but was not provided",
        ]
    );
    assert_eq!(
        details(format!("/v1/apps/{app}")),
        [
            "You must provide a value for the relationship 'ageRatingDeclaration' with this request",
            "You must provide a value for the relationship 'appPriceSchedule' with this request",
        ]
    );
}

#[tokio::test]
async fn one_version_of_an_app_in_review_per_platform() {
    let w = demo().await;
    // Orchard Quest 1.9.0 waits for review; a second iOS version (made as a seed would have it).
    let app = "1482215960";
    let other = w
        .admin_create(
            "appStoreVersions",
            json!({"attributes": {"platform": "IOS", "versionString": "2.0.0", "appVersionState": "PREPARE_FOR_SUBMISSION", "appStoreState": "PREPARE_FOR_SUBMISSION"},
                   "relationships": {"app": app}}),
        )
        .await;
    let other = other["id"].as_str().unwrap().to_string();
    let sub = w.new_submission(app, "IOS").await;
    let r = w.add_item(&sub, &other).await;
    assert_eq!(r.status, 409);
    let e = error(&r);
    assert_eq!(e["code"], "STATE_ERROR.ENTITY_STATE_INVALID");
    let assoc = &e["meta"]["associatedErrors"][format!("/v1/appStoreVersions/{ORCHARD_190}")][0];
    assert_eq!(assoc["code"], "STATE_ERROR");
    assert_eq!(
        assoc["detail"],
        "Version 1.9.0 of this app for IOS is already WAITING_FOR_REVIEW."
    );
}
