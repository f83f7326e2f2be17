//! Builds on the virtual clock (crates/asc/src/rules/builds.rs, beta_review.rs): processing,
//! expiry after 90 days, the build beta detail's states, and Beta App Review with Apple's
//! refusals — each driven through the HTTP surface and the admin clock.

mod common;

use common::testflight::*;
use common::*;
use crabapple_server::setup::WorldChoice;
use serde_json::{Value, json};

async fn empty() -> World {
    open(temp_dir("builds"), WorldChoice::Empty, 100_000).await
}

async fn advance(w: &World, by: &str) {
    let r = w
        .call(
            "POST",
            "/crabapple/admin/clock/advance",
            None,
            Some(json!({ "by": by })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

async fn settings(w: &World, patch: Value) {
    let r = w
        .call(
            "PATCH",
            "/crabapple/admin/builds/settings",
            None,
            Some(patch),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// An app whose test information Beta App Review needs is complete.
async fn app_ready_for_review(w: &World) -> String {
    let app = new_app(w).await;
    let r = send(
        w,
        "POST",
        "/v1/betaAppLocalizations",
        json!({ "data": { "type": "betaAppLocalizations",
                 "attributes": { "locale": "en-GB", "feedbackEmail": "beta@example.com", "description": "Try it" },
                 "relationships": { "app": { "data": { "type": "apps", "id": app } } } } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    review_contact(w, &app).await;
    app
}

async fn review_contact(w: &World, app: &str) {
    let r = send(
        w,
        "PATCH",
        &format!("/v1/betaAppReviewDetails/{app}"),
        json!({ "data": { "type": "betaAppReviewDetails", "id": app,
                 "attributes": { "contactFirstName": "Mara", "contactLastName": "Quince",
                                 "contactPhone": "+44 20 7946 0000", "contactEmail": "review@example.com" } } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// `PATCH /v1/builds/{id}` with `attributes`.
async fn patch_build(w: &World, build: &str, attributes: Value) -> Resp {
    let body = json!({ "data": { "type": "builds", "id": build, "attributes": attributes } });
    send(w, "PATCH", &format!("/v1/builds/{build}"), body).await
}

/// Apple's 409 for a second export compliance answer (rules/builds.rs; fastlane's WrapperError).
fn already_answered() -> (u16, String, String, String) {
    err(
        409,
        "ENTITY_ERROR.ATTRIBUTE.INVALID",
        "An attribute value is invalid.",
        "You cannot update when the value is already set.",
    )
}

async fn attrs(w: &World, uri: &str) -> Value {
    data(w, uri).await["attributes"].clone()
}

async fn submit(w: &World, build: &str) -> Resp {
    send(
        w,
        "POST",
        "/v1/betaAppReviewSubmissions",
        json!({ "data": { "type": "betaAppReviewSubmissions",
                 "relationships": { "build": { "data": { "type": "builds", "id": build } } } } }),
    )
    .await
}

async fn history(w: &World, rtype: &str, id: &str) -> Vec<String> {
    w.app
        .store()
        .timeline_of((rtype, id))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.state == crabapple_store::timeline::EntryState::Applied)
        .map(|e| e.note.clone())
        .collect()
}

#[tokio::test]
async fn a_received_build_is_valid_after_the_processing_time_then_waits_for_export_compliance() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = id(&new_build(&w, &app, json!({ "version": "7" })).await);
    assert_eq!(
        beta_states(&w, &b).await,
        states("PROCESSING", "PROCESSING")
    );
    advance(&w, "9m").await;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    assert_eq!(a["processingState"], "PROCESSING", "10 minutes by default");
    advance(&w, "1m").await;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    assert_eq!(a["processingState"], "VALID");
    let missing = states("MISSING_EXPORT_COMPLIANCE", "MISSING_EXPORT_COMPLIANCE");
    assert_eq!(beta_states(&w, &b).await, missing);
    // The answer unblocks it, as Apple's PATCH of the build does.
    let r = patch_build(&w, &b, json!({ "usesNonExemptEncryption": false })).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ready = states("READY_FOR_BETA_TESTING", "READY_FOR_BETA_SUBMISSION");
    assert_eq!(beta_states(&w, &b).await, ready);
    assert_eq!(
        history(&w, "builds", &b).await,
        ["received: processing", "processed: VALID"]
    );
}

#[tokio::test]
async fn the_processing_time_is_a_setting() {
    let w = empty().await;
    settings(&w, json!({ "processingMinutes": 45 })).await;
    let app = new_app(&w).await;
    let b = id(&new_build(&w, &app, json!({ "version": "8" })).await);
    advance(&w, "44m").await;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    assert_eq!(a["processingState"], "PROCESSING");
    advance(&w, "1m").await;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    assert_eq!(a["processingState"], "VALID");
}

#[tokio::test]
async fn a_build_asked_to_fail_ends_invalid_with_its_reason_in_the_history() {
    let w = empty().await;
    let reason = "ITMS-90062: This bundle is invalid.";
    settings(&w, json!({ "invalidBuilds": { "13": reason } })).await;
    let app = new_app(&w).await;
    let b = id(&new_build(&w, &app, json!({ "version": "13" })).await);
    advance(&w, "10m").await;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    assert_eq!(a["processingState"], "INVALID");
    let exception = states("PROCESSING_EXCEPTION", "PROCESSING_EXCEPTION");
    assert_eq!(beta_states(&w, &b).await, exception);
    assert_eq!(
        history(&w, "builds", &b).await,
        [
            "received: processing".to_string(),
            format!("processed: INVALID — {reason}")
        ]
    );
}

#[tokio::test]
async fn a_testflight_build_expires_90_days_after_upload() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "21").await;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    let uploaded: jiff::Timestamp = a["uploadedDate"].as_str().unwrap().parse().unwrap();
    let expires: jiff::Timestamp = a["expirationDate"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.as_second() - uploaded.as_second(), 90 * 86_400);
    advance(&w, "89d").await;
    assert_eq!(
        attrs(&w, &format!("/v1/builds/{b}")).await["expired"],
        false
    );
    advance(&w, "1d").await;
    assert_eq!(attrs(&w, &format!("/v1/builds/{b}")).await["expired"], true);
    assert_eq!(beta_states(&w, &b).await, states("EXPIRED", "EXPIRED"));
    let expired = w
        .get(&format!(
            "/v1/builds?filter[expired]=true&filter[app]={app}"
        ))
        .await;
    assert_eq!(expired.json()["data"][0]["id"], b.as_str());
}

#[tokio::test]
async fn the_export_compliance_answer_cannot_be_changed_once_set() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "22").await;
    let r = patch_build(&w, &b, json!({ "usesNonExemptEncryption": true })).await;
    assert_eq!(refusal(&r), already_answered());
    assert_eq!(
        r.json()["errors"][0]["source"]["pointer"],
        "/data/attributes/usesNonExemptEncryption"
    );
}

#[tokio::test]
async fn beta_app_review_waits_reviews_and_approves_on_the_clock() {
    let w = empty().await;
    let app = app_ready_for_review(&w).await;
    let b = ready_build(&w, &app, "30").await;
    let r = submit(&w, &b).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let s = r.json()["data"].clone();
    let sid = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["attributes"]["betaReviewState"], "WAITING_FOR_REVIEW");
    let submitted: jiff::Timestamp = s["attributes"]["submittedDate"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((submitted.as_millisecond() - w.app.store().now_ms()).abs() < 2_000);
    let waiting = states("READY_FOR_BETA_TESTING", "WAITING_FOR_BETA_REVIEW");
    assert_eq!(beta_states(&w, &b).await, waiting);
    advance(&w, "12h").await;
    let a = attrs(&w, &format!("/v1/builds/{b}/betaAppReviewSubmission")).await;
    assert_eq!(a["betaReviewState"], "IN_REVIEW");
    let in_review = states("READY_FOR_BETA_TESTING", "IN_BETA_REVIEW");
    assert_eq!(beta_states(&w, &b).await, in_review);
    advance(&w, "12h").await;
    let a = attrs(&w, &format!("/v1/betaAppReviewSubmissions/{sid}")).await;
    assert_eq!(a["betaReviewState"], "APPROVED");
    let approved = states("READY_FOR_BETA_TESTING", "BETA_APPROVED");
    assert_eq!(beta_states(&w, &b).await, approved);
    assert_eq!(
        history(&w, "betaAppReviewSubmissions", &sid).await,
        [
            "submitted for Beta App Review",
            "Beta App Review started",
            "Beta App Review: APPROVED"
        ]
    );
    let found = w
        .get("/v1/builds?filter[betaAppReviewSubmission.betaReviewState]=APPROVED")
        .await;
    assert_eq!(found.json()["data"][0]["id"], b.as_str());
}

#[tokio::test]
async fn the_reviewer_rejects_when_the_outcome_setting_says_so() {
    let w = empty().await;
    settings(
        &w,
        json!({ "betaReviewOutcome": "REJECTED", "betaReviewWaitMinutes": 0, "betaReviewMinutes": 30 }),
    )
    .await;
    let app = app_ready_for_review(&w).await;
    let b = ready_build(&w, &app, "31").await;
    assert_eq!(submit(&w, &b).await.status, 201);
    advance(&w, "30m").await;
    let a = attrs(&w, &format!("/v1/builds/{b}/betaAppReviewSubmission")).await;
    assert_eq!(a["betaReviewState"], "REJECTED");
    assert_eq!(
        beta_states(&w, &b).await,
        states("READY_FOR_BETA_TESTING", "BETA_REJECTED")
    );
}

/// Apple's 422s for a build Beta App Review cannot take (codemagic-ci-cd/cli-tools#346; users'
/// logs of "The build is missing export compliance.").
#[tokio::test]
async fn beta_review_of_a_build_processing_or_without_export_compliance_is_apples_422() {
    let w = empty().await;
    let app = app_ready_for_review(&w).await;
    for (number, attributes, t) in [
        (
            "32",
            json!({ "processingState": "VALID" }),
            "The build is missing export compliance.",
        ),
        (
            "33",
            json!({}),
            "The build is not in a valid processing state for this operation.",
        ),
        (
            "34",
            json!({ "processingState": "INVALID", "usesNonExemptEncryption": false }),
            "The build is not in a valid processing state for this operation.",
        ),
    ] {
        let mut a = attributes;
        a["version"] = json!(number);
        let b = id(&new_build(&w, &app, a).await);
        assert_eq!(
            refusal(&submit(&w, &b).await),
            err(422, "ENTITY_UNPROCESSABLE", t, t),
            "{number}"
        );
    }
}

#[tokio::test]
async fn beta_review_needs_the_apps_test_information() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "34").await;
    let title = "Complete test information is required to submit application Pilot build for external testing.";
    assert_eq!(
        refusal(&submit(&w, &b).await),
        err(
            422,
            "ENTITY_UNPROCESSABLE",
            title,
            "App is missing required Beta App Information: Feedback Email."
        )
    );
    let r = send(
        &w,
        "POST",
        "/v1/betaAppLocalizations",
        json!({ "data": { "type": "betaAppLocalizations",
                 "attributes": { "locale": "en-GB", "feedbackEmail": "beta@example.com" },
                 "relationships": { "app": { "data": { "type": "apps", "id": app } } } } }),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        refusal(&submit(&w, &b).await),
        err(
            422,
            "ENTITY_UNPROCESSABLE",
            title,
            "App is missing required Beta App Review Information: First Name, Last Name, Phone Number, Email."
        )
    );
    review_contact(&w, &app).await;
    assert_eq!(submit(&w, &b).await.status, 201);
}

#[tokio::test]
async fn one_build_of_a_train_in_beta_review_at_a_time() {
    let w = empty().await;
    let app = app_ready_for_review(&w).await;
    let b1 = ready_build(&w, &app, "40").await;
    let b2 = ready_build(&w, &app, "41").await;
    assert_eq!(submit(&w, &b1).await.status, 201);
    assert_eq!(
        refusal(&submit(&w, &b2).await),
        err(
            422,
            "ENTITY_UNPROCESSABLE.ANOTHER_BUILD_IN_REVIEW",
            "Another build is in review.",
            "Another build in the same train is already in beta review. Please submit it again once it gets completed."
        )
    );
    advance(&w, "1d").await;
    assert_eq!(
        submit(&w, &b2).await.status,
        201,
        "once the first is decided"
    );
}

#[tokio::test]
async fn the_admin_api_decides_a_review_at_once() {
    let w = empty().await;
    let app = app_ready_for_review(&w).await;
    let b = ready_build(&w, &app, "42").await;
    let sid = submit(&w, &b).await.json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin_patch(
        &w,
        "betaAppReviewSubmissions",
        &sid,
        json!({ "betaReviewState": "REJECTED" }),
    )
    .await;
    assert_eq!(
        beta_states(&w, &b).await,
        states("READY_FOR_BETA_TESTING", "BETA_REJECTED")
    );
    advance(&w, "2d").await;
    let a = attrs(&w, &format!("/v1/betaAppReviewSubmissions/{sid}")).await;
    assert_eq!(a["betaReviewState"], "REJECTED", "nothing planned is left");
}

#[tokio::test]
async fn build_settings_refuse_what_is_not_a_setting() {
    let w = empty().await;
    let r = w
        .call(
            "PATCH",
            "/crabapple/admin/builds/settings",
            None,
            Some(json!({ "betaReviewOutcome": "MAYBE" })),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "betaReviewOutcome must be APPROVED or REJECTED, not MAYBE"
    );
    let r = w.get("/crabapple/admin/builds/settings").await;
    assert_eq!(
        r.json(),
        json!({ "processingMinutes": 10, "betaReviewWaitMinutes": 720, "betaReviewMinutes": 720,
                "betaReviewOutcome": "APPROVED", "invalidBuilds": {} })
    );
}

#[tokio::test]
async fn the_demo_worlds_processing_build_finishes_and_its_review_goes_on() {
    let w = demo().await;
    // Orchard Quest 1.9.0 (421) is PROCESSING in demo.yaml; (420) waits for Beta App Review.
    let list = w
        .get("/v1/builds?filter[processingState]=PROCESSING&limit=200")
        .await
        .json();
    let processing: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!processing.is_empty());
    advance(&w, "10m").await;
    for id in &processing {
        let a = attrs(&w, &format!("/v1/builds/{id}")).await;
        assert_eq!(a["processingState"], "VALID", "{id}");
    }
    let sub = "1ed91075-7b72-5708-b0ec-0e9a9714ddc2";
    advance(&w, "1d").await;
    let a = attrs(&w, &format!("/v1/betaAppReviewSubmissions/{sub}")).await;
    assert_eq!(a["betaReviewState"], "APPROVED");
}

/// demo.yaml's Crabapple Notes 2.4.0 (131): processed, not expired, export compliance unanswered.
const DEMO_UNANSWERED: &str = "6daac041-99b5-5dc6-95bd-db4129013ef9";

#[tokio::test]
async fn the_demo_worlds_build_131_answers_null_until_its_export_compliance_is_given_once() {
    // Apple answers `null` for the unset answer (rules/builds.rs); the write sweep answers it.
    let w = demo().await;
    let b = DEMO_UNANSWERED;
    let a = attrs(&w, &format!("/v1/builds/{b}")).await;
    assert_eq!(
        (
            &a["processingState"],
            &a["expired"],
            &a["usesNonExemptEncryption"]
        ),
        (&json!("VALID"), &json!(false), &Value::Null)
    );
    let missing = states("MISSING_EXPORT_COMPLIANCE", "MISSING_EXPORT_COMPLIANCE");
    assert_eq!(beta_states(&w, b).await, missing);
    let r = patch_build(&w, b, json!({ "usesNonExemptEncryption": false })).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        beta_states(&w, b).await,
        states("READY_FOR_BETA_TESTING", "READY_FOR_BETA_SUBMISSION")
    );
    let r = patch_build(&w, b, json!({ "usesNonExemptEncryption": true })).await;
    assert_eq!(refusal(&r), already_answered());
}

#[tokio::test]
async fn processing_ends_the_builds_upload_complete_or_failed_with_the_itms_code() {
    let w = empty().await;
    settings(
        &w,
        json!({ "invalidBuilds": { "61": "ITMS-90062: This bundle is invalid." } }),
    )
    .await;
    let app = new_app(&w).await;
    let mut uploads = Vec::new();
    for number in ["60", "61"] {
        let up = w
            .admin_create(
                "buildUploads",
                json!({ "attributes": { "cfBundleVersion": number, "cfBundleShortVersionString": "1.0",
                         "state": { "state": "PROCESSING", "errors": [], "warnings": [], "infos": [] } } }),
            )
            .await;
        let up = up["id"].as_str().unwrap().to_string();
        let b = w
            .admin_create(
                "builds",
                json!({ "attributes": { "version": number },
                        "relationships": { "app": app, "buildUpload": up } }),
            )
            .await;
        uploads.push((up, b["id"].as_str().unwrap().to_string()));
    }
    advance(&w, "10m").await;
    let ok = attrs(&w, &format!("/v1/buildUploads/{}", uploads[0].0)).await;
    assert_eq!(
        ok["state"],
        json!({ "state": "COMPLETE", "errors": [], "warnings": [], "infos": [] })
    );
    let failed = attrs(&w, &format!("/v1/buildUploads/{}", uploads[1].0)).await;
    assert_eq!(
        failed["state"],
        json!({ "state": "FAILED", "errors": [{ "code": "ITMS-90062", "description": "This bundle is invalid." }],
                "warnings": [], "infos": [] })
    );
}

#[tokio::test]
async fn a_seed_files_builds_section_sets_the_processing_time() {
    let dir = temp_dir("builds-seed");
    let seed = dir.join("world.yaml");
    std::fs::write(
        &seed,
        "team: { name: \"Seeded\" }\nsynthesize: false\nbuilds: { processingMinutes: 3 }\n\
         resources:\n  apps:\n    - id: \"1\"\n      attributes: { name: \"One\", bundleId: \"com.example.one\", sku: \"ONE\", primaryLocale: \"en-US\" }\n  \
         builds:\n    - id: \"b1\"\n      attributes: { version: \"1\", processingState: \"PROCESSING\" }\n      relationships: { app: \"1\" }\n",
    )
    .unwrap();
    let w = open(dir.join("data"), WorldChoice::SeedFile(seed), 100_000).await;
    advance(&w, "3m").await;
    assert_eq!(attrs(&w, "/v1/builds/b1").await["processingState"], "VALID");
    let r = w.get("/crabapple/admin/builds/settings").await;
    assert_eq!(r.json()["processingMinutes"], 3);
}

/// `PATCH /v1/builds/{id}` with `expired: true` (the spec's BuildUpdateRequest): the developer
/// expires a build now; nothing planned expires it again.
#[tokio::test]
async fn a_developer_expires_a_build_at_once() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "70").await;
    let r = patch_build(&w, &b, json!({ "expired": true })).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(beta_states(&w, &b).await, states("EXPIRED", "EXPIRED"));
    assert_eq!(
        history(&w, "builds", &b).await,
        ["expired by the developer"]
    );
    advance(&w, "91d").await;
    assert_eq!(
        history(&w, "builds", &b).await,
        ["expired by the developer"]
    );
}

/// Apple notifies testers itself when `autoNotifyEnabled`: a manual notification is refused, 409
/// "Auto-notify already enabled" (rorkai/App-Store-Connect-CLI#2044).
#[tokio::test]
async fn a_manual_beta_notification_is_refused_while_auto_notify_is_enabled() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "80").await;
    let notify = || {
        send(
            &w,
            "POST",
            "/v1/buildBetaNotifications",
            json!({ "data": { "type": "buildBetaNotifications",
                     "relationships": { "build": { "data": { "type": "builds", "id": b } } } } }),
        )
    };
    let r = notify().await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = send(
        &w,
        "PATCH",
        &format!("/v1/buildBetaDetails/{b}"),
        json!({ "data": { "type": "buildBetaDetails", "id": b, "attributes": { "autoNotifyEnabled": true } } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        refusal(&notify().await),
        err(
            409,
            "STATE_ERROR.ENTITY_STATE_INVALID",
            "The request cannot be fulfilled because of the state of another resource.",
            "Auto-notify already enabled"
        )
    );
}
