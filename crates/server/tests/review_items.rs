//! Issue 11: review items beyond versions (crates/asc/src/rules/review/items.rs) — an in-app
//! event, a custom product page version and a product page test move with their submission on
//! the reviewer's timeline (the spec's `ReviewSubmissionItemCreateRequest` relationships; the
//! item's `state` enum READY_FOR_REVIEW, ACCEPTED, APPROVED, REJECTED, REMOVED; Apple's Help,
//! "App and submission statuses": "Accepted — This item has been accepted, but one or more items
//! in your submission were rejected"), with the 409s of items.rs (texts guessed, shapes Apple's).

mod common;
mod review_support;

use common::{Resp, World, demo};
use review_support::*;
use serde_json::{Value, json};

fn created(r: &Resp) -> String {
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

async fn new_event(w: &World) -> String {
    created(
        &w.api(
            "POST",
            "/v1/appEvents",
            json!({"data": {"type": "appEvents", "attributes": {"referenceName": "Autumn challenge"},
                "relationships": {"app": {"data": {"type": "apps", "id": NOTES}}}}}),
        )
        .await,
    )
}

async fn new_page_version(w: &World) -> String {
    let page = created(
        &w.api(
            "POST",
            "/v1/appCustomProductPages",
            json!({"data": {"type": "appCustomProductPages", "attributes": {"name": "Students"},
                "relationships": {"app": {"data": {"type": "apps", "id": NOTES}}}}}),
        )
        .await,
    );
    created(
        &w.api(
            "POST",
            "/v1/appCustomProductPageVersions",
            json!({"data": {"type": "appCustomProductPageVersions", "relationships": {
                "appCustomProductPage": {"data": {"type": "appCustomProductPages", "id": page}}}}}),
        )
        .await,
    )
}

async fn new_test(w: &World) -> String {
    created(
        &w.api(
            "POST",
            "/v2/appStoreVersionExperiments",
            json!({"data": {"type": "appStoreVersionExperiments",
                "attributes": {"name": "Icon test", "platform": "IOS", "trafficProportion": 30},
                "relationships": {"app": {"data": {"type": "apps", "id": NOTES}}}}}),
        )
        .await,
    )
}

/// `POST /v1/reviewSubmissionItems` naming `(relationship, type, id)`.
async fn add(w: &World, sub: &str, rel: &str, rtype: &str, id: &str) -> Resp {
    w.api(
        "POST",
        "/v1/reviewSubmissionItems",
        json!({"data": {"type": "reviewSubmissionItems", "relationships": {
            "reviewSubmission": {"data": {"type": "reviewSubmissions", "id": sub}},
            rel: {"data": {"type": rtype, "id": id}}}}}),
    )
    .await
}

/// The item's state (the spec has no GET of one item: its submission's `items` list it) and its
/// resource's own state.
async fn states(w: &World, (sub, item): (&str, &str), path: &str, attr: &str) -> (Value, Value) {
    let items = w
        .get(&format!("/v1/reviewSubmissions/{sub}/items"))
        .await
        .json();
    let state = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == item)
        .map(|i| i["attributes"]["state"].clone())
        .unwrap_or(Value::Null);
    (state, w.attribute(path, attr).await)
}

fn both(s: &str) -> (Value, Value) {
    (json!(s), json!(s))
}

fn refusal(r: &Resp) -> (u16, Value, Value, Value) {
    let e = error(r);
    (
        r.status,
        e["code"].clone(),
        e["title"].clone(),
        e["detail"].clone(),
    )
}

#[tokio::test]
async fn an_event_a_product_page_and_a_test_go_through_review_with_the_version_and_are_approved() {
    let w = demo().await;
    w.screenshot(NOTES_240_EN, "APP_IPHONE_67").await;
    let (event, page, test) = (
        new_event(&w).await,
        new_page_version(&w).await,
        new_test(&w).await,
    );
    let event_path = format!("/v1/appEvents/{event}");
    let page_path = format!("/v1/appCustomProductPageVersions/{page}");
    let test_path = format!("/v2/appStoreVersionExperiments/{test}");
    assert_eq!(w.attribute(&event_path, "eventState").await, "DRAFT");
    assert_eq!(
        w.attribute(&page_path, "state").await,
        "PREPARE_FOR_SUBMISSION"
    );
    let sub = w.new_submission(NOTES, "IOS").await;
    assert_eq!(w.add_item(&sub, NOTES_240).await.status, 201);
    let e = created(&add(&w, &sub, "appEvent", "appEvents", &event).await);
    let p = created(
        &add(
            &w,
            &sub,
            "appCustomProductPageVersion",
            "appCustomProductPageVersions",
            &page,
        )
        .await,
    );
    let t = created(
        &add(
            &w,
            &sub,
            "appStoreVersionExperimentV2",
            "appStoreVersionExperiments",
            &test,
        )
        .await,
    );
    let rows = [
        (&e, &event_path, "eventState"),
        (&p, &page_path, "state"),
        (&t, &test_path, "state"),
    ];
    for (item, path, attr) in rows {
        assert_eq!(
            states(&w, (&sub, item), path, attr).await,
            both("READY_FOR_REVIEW"),
            "{path}"
        );
    }
    let r = w.patch_submission(&sub, json!({"submitted": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for (item, path, attr) in rows {
        assert_eq!(
            states(&w, (&sub, item), path, attr).await,
            (json!("READY_FOR_REVIEW"), json!("WAITING_FOR_REVIEW")),
            "{path}"
        );
    }
    w.advance("1d").await;
    for (_, path, attr) in rows {
        assert_eq!(w.attribute(path, attr).await, "IN_REVIEW", "{path}");
    }
    w.advance("2h").await;
    for (item, path, attr) in rows {
        assert_eq!(
            states(&w, (&sub, item), path, attr).await,
            both("APPROVED"),
            "{path}"
        );
    }
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "COMPLETE"
    );
}

#[tokio::test]
async fn a_rejected_version_leaves_its_event_accepted_apples_accepted_status() {
    // Help, "App and submission statuses": Accepted — "This item has been accepted, but one or
    // more items in your submission were rejected."
    let w = demo().await;
    w.screenshot(NOTES_240_EN, "APP_IPHONE_67").await;
    let event = new_event(&w).await;
    let sub = w.new_submission(NOTES, "IOS").await;
    assert_eq!(w.add_item(&sub, NOTES_240).await.status, 201);
    let item = created(&add(&w, &sub, "appEvent", "appEvents", &event).await);
    let r = w.patch_submission(&sub, json!({"submitted": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.reject_now(NOTES_240, "Guideline 2.1").await;
    let path = format!("/v1/appEvents/{event}");
    assert_eq!(
        states(&w, (&sub, &item), &path, "eventState").await,
        both("ACCEPTED")
    );
    assert_eq!(w.version_state(NOTES_240).await.0, "REJECTED");
    // Sent again, the accepted event is not reviewed again.
    let r = w.patch_submission(&sub, json!({"submitted": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.advance("1d").await;
    w.advance("2h").await;
    assert_eq!(
        states(&w, (&sub, &item), &path, "eventState").await,
        both("ACCEPTED")
    );
}

#[tokio::test]
async fn a_submission_of_an_event_alone_is_rejected_with_the_reject_rate() {
    let w = demo().await;
    let r = w.review_settings(json!({"rejectRate": 1.0})).await;
    assert_eq!(r.status, 200);
    let event = new_event(&w).await;
    let sub = w.new_submission(NOTES, "IOS").await;
    let item = created(&add(&w, &sub, "appEvent", "appEvents", &event).await);
    let r = w.patch_submission(&sub, json!({"submitted": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    w.advance("1d").await;
    w.advance("2h").await;
    let path = format!("/v1/appEvents/{event}");
    assert_eq!(
        states(&w, (&sub, &item), &path, "eventState").await,
        both("REJECTED")
    );
    assert_eq!(
        w.attribute(&format!("/v1/reviewSubmissions/{sub}"), "state")
            .await,
        "UNRESOLVED_ISSUES"
    );
}

#[tokio::test]
async fn an_item_added_twice_is_refused_409_relationship_invalid_guessed_text() {
    let w = demo().await;
    let event = new_event(&w).await;
    let sub = w.new_submission(NOTES, "IOS").await;
    created(&add(&w, &sub, "appEvent", "appEvents", &event).await);
    let r = add(&w, &sub, "appEvent", "appEvents", &event).await;
    assert_eq!(
        refusal(&r),
        (
            409,
            json!("ENTITY_ERROR.RELATIONSHIP.INVALID"),
            json!("The provided entity includes a relationship with an invalid value"),
            json!(format!(
                "appEvents with id '{event}' is already an item of reviewSubmissions with id '{sub}'."
            ))
        )
    );
    assert_eq!(
        error(&r)["source"]["pointer"],
        "/data/relationships/appEvent"
    );
    // A version too.
    w.screenshot(NOTES_240_EN, "APP_IPHONE_67").await;
    assert_eq!(w.add_item(&sub, NOTES_240).await.status, 201);
    let r = w.add_item(&sub, NOTES_240).await;
    assert_eq!(
        error(&r)["detail"],
        format!(
            "appStoreVersions with id '{NOTES_240}' is already an item of reviewSubmissions with id '{sub}'."
        )
    );
}

#[tokio::test]
async fn an_event_that_is_not_a_draft_cannot_be_reviewed_409_entity_state_invalid() {
    let w = demo().await;
    let event = new_event(&w).await;
    let r = w
        .call(
            "PATCH",
            &format!("/crabapple/admin/resources/appEvents/{event}"),
            None,
            Some(json!({"attributes": {"eventState": "PUBLISHED"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sub = w.new_submission(NOTES, "IOS").await;
    let r = add(&w, &sub, "appEvent", "appEvents", &event).await;
    assert_eq!(
        refusal(&r),
        (
            409,
            json!("STATE_ERROR.ENTITY_STATE_INVALID"),
            json!(format!(
                "appEvents with id '{event}' is not in valid state."
            )),
            json!("This resource cannot be reviewed, please check associated errors to see why.")
        )
    );
    assert_eq!(
        r.header("x-crabapple-reason").as_deref(),
        Some("the appEvents is PUBLISHED, not a state in which it can be submitted")
    );
}

#[tokio::test]
async fn canceling_the_submission_removes_the_event_item_and_the_event_is_a_draft_again() {
    let w = demo().await;
    let event = new_event(&w).await;
    let sub = w.new_submission(NOTES, "IOS").await;
    let item = created(&add(&w, &sub, "appEvent", "appEvents", &event).await);
    let r = w.patch_submission(&sub, json!({"submitted": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = w.patch_submission(&sub, json!({"canceled": true})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let path = format!("/v1/appEvents/{event}");
    assert_eq!(
        states(&w, (&sub, &item), &path, "eventState").await,
        (json!("REMOVED"), json!("DRAFT"))
    );
    // Nothing planned is left: the review's steps do not come back.
    w.advance("2d").await;
    assert_eq!(w.attribute(&path, "eventState").await, "DRAFT");
}
