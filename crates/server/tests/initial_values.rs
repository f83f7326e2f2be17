//! What Apple fills when a resource is created through the API (issue 7 §2;
//! crates/asc/src/rules/initial.rs, uploads.rs): initial states, flags, lists, numbering and an
//! asset reservation's upload operations. A value the client
//! sent is never replaced.

mod common;

use common::*;
use crabapple_server::setup::WorldChoice;
use serde_json::{Value, json};

async fn empty() -> World {
    open(temp_dir("initial"), WorldChoice::Empty, 100_000).await
}

async fn new_app(w: &World) -> String {
    let a = w
        .admin_create(
            "apps",
            json!({ "attributes": { "name": "Orchard", "bundleId": "com.example.orchard", "sku": "ORCHARD", "primaryLocale": "en-US" } }),
        )
        .await;
    a["id"].as_str().unwrap().to_string()
}

/// POSTs `{"data": {type, attributes, relationships}}` (each relationship `(name, type, id)`),
/// asserts 201 and answers the new resource.
async fn create(w: &World, rtype: &str, attributes: Value, rels: &[(&str, &str, &str)]) -> Value {
    let mut relationships = serde_json::Map::new();
    for (name, t, id) in rels {
        let data = if *name == "betaGroups" {
            json!([{ "type": t, "id": id }])
        } else {
            json!({ "type": t, "id": id })
        };
        relationships.insert(name.to_string(), json!({ "data": data }));
    }
    let body = json!({ "data": { "type": rtype, "attributes": attributes, "relationships": relationships } });
    let r = w
        .call(
            "POST",
            &format!("/v1/{rtype}"),
            Some(&w.token.clone()),
            Some(body),
        )
        .await;
    assert_eq!(
        r.status,
        201,
        "{rtype}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["data"].clone()
}

/// Creates a `rtype` whose to-one `rel` is `parent` (a resource object answered before).
async fn child(w: &World, rtype: &str, attributes: Value, rel: &str, parent: &Value) -> Value {
    let (t, id) = (
        parent["type"].as_str().unwrap(),
        parent["id"].as_str().unwrap(),
    );
    create(w, rtype, attributes, &[(rel, t, id)]).await
}

async fn new_version(w: &World, app: &str) -> Value {
    let app = json!({ "type": "apps", "id": app });
    let attributes = json!({ "platform": "IOS", "versionString": "2.0" });
    child(w, "appStoreVersions", attributes, "app", &app).await
}

#[tokio::test]
async fn a_new_version_is_downloadable_app_store_reviewed_and_prepared_for_submission() {
    let w = empty().await;
    let app = new_app(&w).await;
    let v = new_version(&w, &app).await;
    let a = &v["attributes"];
    assert_eq!(a["appStoreState"], "PREPARE_FOR_SUBMISSION");
    assert_eq!(a["downloadable"], true);
    assert_eq!(a["reviewType"], "APP_STORE");
    assert_eq!(a["usesIdfa"], false);
    // Really unset until the developer writes it (tests/prism/unset-on-create.tsv).
    assert_eq!(a["copyright"], Value::Null);
}

#[tokio::test]
async fn a_review_submission_starts_ready_for_review_and_unsubmitted() {
    let w = empty().await;
    let app = new_app(&w).await;
    let s = create(&w, "reviewSubmissions", json!({}), &[("app", "apps", &app)]).await;
    assert_eq!(s["attributes"]["state"], "READY_FOR_REVIEW");
    assert_eq!(s["attributes"]["platform"], "IOS");
    assert_eq!(s["attributes"]["submittedDate"], Value::Null);
}

#[tokio::test]
async fn a_tester_of_a_group_is_an_email_invitee_with_no_devices_and_the_clients_flags_stay() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create(
        &w,
        "betaGroups",
        json!({ "name": "Friends", "feedbackEnabled": true }),
        &[("app", "apps", &app)],
    )
    .await;
    assert_eq!(
        g["attributes"]["feedbackEnabled"], true,
        "the client's value"
    );
    assert_eq!(g["attributes"]["iosBuildsAvailableForAppleVision"], false);
    assert_eq!(g["attributes"]["publicLink"], Value::Null);
    let gid = g["id"].as_str().unwrap();
    let t = create(
        &w,
        "betaTesters",
        json!({ "email": "pat@example.com" }),
        &[("betaGroups", "betaGroups", gid)],
    )
    .await;
    // testflight.rs: INVITED once the group has a build to test.
    assert_eq!(t["attributes"]["state"], "NOT_INVITED");
    assert_eq!(t["attributes"]["inviteType"], "EMAIL");
    assert_eq!(t["attributes"]["appDevices"], json!([]));
}

#[tokio::test]
async fn subscriptions_of_a_group_are_numbered_by_level() {
    let w = empty().await;
    let app = new_app(&w).await;
    let group = create(
        &w,
        "subscriptionGroups",
        json!({ "referenceName": "Premium" }),
        &[("app", "apps", &app)],
    )
    .await;
    let gid = group["id"].as_str().unwrap();
    let mut levels = Vec::new();
    for (name, product) in [
        ("Monthly", "com.example.orchard.m"),
        ("Yearly", "com.example.orchard.y"),
    ] {
        let s = create(
            &w,
            "subscriptions",
            json!({ "name": name, "productId": product }),
            &[("group", "subscriptionGroups", gid)],
        )
        .await;
        assert_eq!(s["attributes"]["familySharable"], false);
        levels.push(s["attributes"]["groupLevel"].clone());
    }
    assert_eq!(levels, [json!(1), json!(2)]);
}

#[tokio::test]
async fn a_screenshot_reservation_answers_upload_operations_on_the_clients_host() {
    let w = empty().await;
    let app = new_app(&w).await;
    let v = new_version(&w, &app).await;
    let l = child(
        &w,
        "appStoreVersionLocalizations",
        json!({ "locale": "en-US" }),
        "appStoreVersion",
        &v,
    )
    .await;
    let set = child(
        &w,
        "appScreenshotSets",
        json!({ "screenshotDisplayType": "APP_IPHONE_67" }),
        "appStoreVersionLocalization",
        &l,
    )
    .await;
    let shot = child(
        &w,
        "appScreenshots",
        json!({ "fileName": "home.png", "fileSize": 12_000_000 }),
        "appScreenshotSet",
        &set,
    )
    .await;
    let id = shot["id"].as_str().unwrap();
    let a = &shot["attributes"];
    let url = |part: u32| {
        format!("http://crabapple.test:8686/crabapple/uploads/appScreenshots/{id}/{part}")
    };
    let header = json!([{ "name": "Content-Type", "value": "image/png" }]);
    assert_eq!(
        a["uploadOperations"],
        json!([
            { "method": "PUT", "url": url(1), "length": 5_242_880, "offset": 0, "requestHeaders": header },
            { "method": "PUT", "url": url(2), "length": 5_242_880, "offset": 5_242_880, "requestHeaders": header },
            { "method": "PUT", "url": url(3), "length": 1_514_240, "offset": 10_485_760, "requestHeaders": header },
        ])
    );
    assert_eq!(
        a["assetDeliveryState"],
        json!({ "state": "AWAITING_UPLOAD", "errors": [], "warnings": [] })
    );
    assert_eq!(a["assetToken"], format!("appScreenshots/{id}/home.png"));
    // Known once the upload is committed and processed.
    assert_eq!(a["sourceFileChecksum"], Value::Null);
    assert_eq!(a["imageAsset"], Value::Null);
}
