//! TestFlight through the HTTP surface: what Apple creates with every app, app info and build
//! (crates/asc/src/rules/singletons.rs), the values Apple sets on beta groups, beta testers and
//! builds (crates/asc/src/rules/testflight.rs, defaults.rs), which builds a group can be given,
//! and testers invited when a build reaches them.

mod common;

use common::testflight::*;
use common::*;
use crabapple_server::setup::WorldChoice;
use serde_json::{Value, json};

async fn empty() -> World {
    open(temp_dir("testflight"), WorldChoice::Empty, 100_000).await
}

async fn post(w: &World, uri: &str, body: Value) -> Resp {
    send(w, "POST", uri, body).await
}

async fn patch(w: &World, uri: &str, body: Value) -> Resp {
    send(w, "PATCH", uri, body).await
}

#[tokio::test]
async fn a_new_app_has_its_testflight_records_with_the_app_id() {
    let w = empty().await;
    let app = new_app(&w).await;
    // spaceship PATCHes betaAppReviewDetails/{app id} without reading the id first.
    let d = data(&w, &format!("/v1/apps/{app}/betaAppReviewDetail")).await;
    assert_eq!(d["type"], "betaAppReviewDetails");
    assert_eq!(d["id"], app.as_str());
    assert_eq!(
        d["attributes"],
        json!({ "contactFirstName": null, "contactLastName": null, "contactPhone": null,
                "contactEmail": null, "demoAccountName": null, "demoAccountPassword": null,
                "demoAccountRequired": false, "notes": null })
    );
    let l = data(&w, &format!("/v1/apps/{app}/betaLicenseAgreement")).await;
    assert_eq!(l["type"], "betaLicenseAgreements");
    assert_eq!(l["id"], app.as_str());
    assert_eq!(l["attributes"], json!({ "agreementText": null }));
    // "the id in the URL and in the payload is the app's Apple ID" (Apple, billing grace period).
    let g = data(&w, &format!("/v1/apps/{app}/subscriptionGracePeriod")).await;
    assert_eq!(g["id"], app.as_str());
    assert_eq!(g["attributes"]["optIn"], false);
    assert_eq!(g["attributes"]["sandboxOptIn"], false);
    assert_eq!(g["attributes"]["duration"], Value::Null);
    // Collections filtered by app find them, and they lead back to the app.
    let list = data(&w, &format!("/v1/betaAppReviewDetails?filter[app]={app}")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let back = data(&w, &format!("/v1/betaLicenseAgreements/{app}/app")).await;
    assert_eq!(back["id"], app.as_str());
}

#[tokio::test]
async fn a_new_app_has_no_beta_localization_until_one_is_created() {
    let w = empty().await;
    let app = new_app(&w).await;
    let list = data(&w, &format!("/v1/apps/{app}/betaAppLocalizations")).await;
    assert_eq!(list, json!([]));
    let a = data(&w, &format!("/v1/apps/{app}")).await;
    assert_eq!(a["attributes"]["isOrEverWasMadeForKids"], false);
}

#[tokio::test]
async fn the_review_detail_is_updated_at_the_app_id() {
    let w = empty().await;
    let app = new_app(&w).await;
    let r = patch(
        &w,
        &format!("/v1/betaAppReviewDetails/{app}"),
        json!({ "data": { "type": "betaAppReviewDetails", "id": app,
                          "attributes": { "contactEmail": "review@example.com", "demoAccountRequired": true } } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a = &r.json()["data"]["attributes"];
    assert_eq!(a["contactEmail"], "review@example.com");
    assert_eq!(a["demoAccountRequired"], true);
    assert_eq!(a["notes"], Value::Null);
}

#[tokio::test]
async fn an_unknown_review_detail_is_not_found() {
    let w = empty().await;
    let r = w.get("/v1/betaAppReviewDetails/1234567890").await;
    assert_eq!(r.status, 404);
    let e = &r.json()["errors"][0];
    assert_eq!(e["code"], "NOT_FOUND");
    assert_eq!(
        e["detail"],
        "There is no resource of type 'betaAppReviewDetails' with id '1234567890'"
    );
}

#[tokio::test]
async fn every_demo_app_app_info_and_build_has_its_records() {
    let w = demo().await;
    for a in data(&w, "/v1/apps?limit=200").await.as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        for (rel, ty) in [
            ("betaAppReviewDetail", "betaAppReviewDetails"),
            ("betaLicenseAgreement", "betaLicenseAgreements"),
            ("subscriptionGracePeriod", "subscriptionGracePeriods"),
        ] {
            let d = data(&w, &format!("/v1/apps/{id}/{rel}")).await;
            assert_eq!(d["type"], ty, "{id} {rel}");
            assert_eq!(d["id"], id, "{id} {rel}");
        }
        for info in data(&w, &format!("/v1/apps/{id}/appInfos"))
            .await
            .as_array()
            .unwrap()
        {
            let iid = info["id"].as_str().unwrap();
            let d = data(&w, &format!("/v1/appInfos/{iid}/ageRatingDeclaration")).await;
            assert_eq!(d["type"], "ageRatingDeclarations");
        }
    }
    // A seeded app's detail takes the world's completeAttributes values, but Apple's false.
    let d = data(&w, "/v1/betaAppReviewDetails/1490553127").await;
    assert_eq!(d["attributes"]["demoAccountRequired"], false);
    for b in data(&w, "/v1/builds?limit=200").await.as_array().unwrap() {
        let id = b["id"].as_str().unwrap();
        let d = data(&w, &format!("/v1/builds/{id}/buildBetaDetail")).await;
        assert_eq!(d["type"], "buildBetaDetails", "{id}");
    }
}

/// A world with an app and one build of it with `attributes`: `(world, build)`.
async fn with_build(attributes: Value) -> (World, Value) {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = new_build(&w, &app, attributes).await;
    (w, b)
}

#[tokio::test]
async fn a_new_build_is_processing_and_expires_after_90_days() {
    let (w, b) =
        with_build(json!({ "version": "7", "uploadedDate": "2026-11-01T10:00:00Z" })).await;
    let id = b["id"].as_str().unwrap();
    let a = &b["attributes"];
    assert_eq!(a["processingState"], "PROCESSING");
    assert_eq!(a["expired"], false);
    assert_eq!(a["expirationDate"], "2027-01-30T10:00:00Z");
    let d = data(&w, &format!("/v1/builds/{id}/buildBetaDetail")).await;
    assert_eq!(d["id"], id);
    assert_eq!(
        d["attributes"],
        json!({ "autoNotifyEnabled": false, "internalBuildState": "PROCESSING", "externalBuildState": "PROCESSING" })
    );
}

#[tokio::test]
async fn the_export_compliance_answer_makes_a_valid_build_ready_for_testing() {
    let (w, b) = with_build(json!({ "version": "8", "processingState": "VALID" })).await;
    let id = b["id"].as_str().unwrap();
    let missing = states("MISSING_EXPORT_COMPLIANCE", "MISSING_EXPORT_COMPLIANCE");
    assert_eq!(beta_states(&w, id).await, missing);
    let r = patch(
        &w,
        &format!("/v1/builds/{id}"),
        json!({ "data": { "type": "builds", "id": id, "attributes": { "usesNonExemptEncryption": false } } }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ready = states("READY_FOR_BETA_TESTING", "READY_FOR_BETA_SUBMISSION");
    assert_eq!(beta_states(&w, id).await, ready);
}

#[tokio::test]
async fn a_build_that_finishes_processing_waits_for_export_compliance() {
    let (w, b) = with_build(json!({ "version": "10" })).await;
    let id = b["id"].as_str().unwrap();
    // Apple finishes processing (the admin API plays Apple).
    let r = w
        .call(
            "PATCH",
            &format!("/crabapple/admin/resources/builds/{id}"),
            None,
            Some(json!({ "attributes": { "processingState": "VALID" } })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let missing = states("MISSING_EXPORT_COMPLIANCE", "MISSING_EXPORT_COMPLIANCE");
    assert_eq!(beta_states(&w, id).await, missing);
}

async fn create_group(w: &World, app: &str, name: &str, public: bool) -> Value {
    let r = post(
        w,
        "/v1/betaGroups",
        json!({ "data": { "type": "betaGroups", "attributes": { "name": name, "publicLinkEnabled": public },
                          "relationships": { "app": { "data": { "type": "apps", "id": app } } } } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"].clone()
}

#[tokio::test]
async fn a_public_group_gets_its_testflight_link() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create_group(&w, &app, "Public", true).await;
    let a = &g["attributes"];
    let code = a["publicLinkId"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        a["publicLink"],
        format!("https://testflight.apple.com/join/{code}")
    );
}

#[tokio::test]
async fn a_private_group_has_no_link_and_false_booleans_until_enabled() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create_group(&w, &app, "Private", false).await;
    let a = &g["attributes"];
    assert_eq!(a["publicLink"], Value::Null);
    assert_eq!(a["publicLinkId"], Value::Null);
    for b in [
        "isInternalGroup",
        "hasAccessToAllBuilds",
        "publicLinkEnabled",
        "publicLinkLimitEnabled",
        "feedbackEnabled",
        "iosBuildsAvailableForAppleSiliconMac",
        "iosBuildsAvailableForAppleVision",
    ] {
        assert_eq!(a[b], false, "{b}");
    }
    let id = g["id"].as_str().unwrap();
    let r = patch(
        &w,
        &format!("/v1/betaGroups/{id}"),
        json!({ "data": { "type": "betaGroups", "id": id, "attributes": { "publicLinkEnabled": true } } }),
    )
    .await;
    assert_eq!(r.status, 200);
    let a = &r.json()["data"]["attributes"];
    let code = a["publicLinkId"].as_str().unwrap();
    assert_eq!(
        a["publicLink"],
        format!("https://testflight.apple.com/join/{code}")
    );
}

async fn create_tester(w: &World, email: &str, group: &str) -> Value {
    let r = post(
        w,
        "/v1/betaTesters",
        json!({ "data": { "type": "betaTesters", "attributes": { "email": email },
                          "relationships": { "betaGroups": { "data": [{ "type": "betaGroups", "id": group }] } } } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"].clone()
}

#[tokio::test]
async fn a_tester_of_a_group_is_a_tester_of_its_app() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create_group(&w, &app, "Group", false).await;
    let t = create_tester(&w, "t1@example.com", g["id"].as_str().unwrap()).await;
    assert_eq!(t["attributes"]["inviteType"], "EMAIL");
    // No build in the group: nothing to invite the tester to yet.
    assert_eq!(t["attributes"]["state"], "NOT_INVITED");
    let found = data(&w, &format!("/v1/betaTesters?filter[apps]={app}")).await;
    assert_eq!(found[0]["id"], t["id"]);
}

#[tokio::test]
async fn a_tester_of_a_group_with_a_build_is_invited() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = new_build(
        &w,
        &app,
        json!({ "version": "9", "processingState": "VALID", "usesNonExemptEncryption": false }),
    )
    .await;
    let g = create_group(&w, &app, "Group", false).await;
    let gid = g["id"].as_str().unwrap();
    let r = post(
        &w,
        &format!("/v1/betaGroups/{gid}/relationships/builds"),
        json!({ "data": [{ "type": "builds", "id": b["id"] }] }),
    )
    .await;
    assert_eq!(r.status, 204);
    // An external group: its testers get the build once Beta App Review approved it.
    let t1 = create_tester(&w, "t1@example.com", gid).await;
    assert_eq!(t1["attributes"]["state"], "NOT_INVITED");
    w.admin_create(
        "betaAppReviewSubmissions",
        json!({ "attributes": { "betaReviewState": "APPROVED" }, "relationships": { "build": b["id"] } }),
    )
    .await;
    let t1 = data(&w, &format!("/v1/betaTesters/{}", id(&t1))).await;
    assert_eq!(t1["attributes"]["state"], "INVITED");
    let t = create_tester(&w, "t2@example.com", gid).await;
    assert_eq!(t["attributes"]["state"], "INVITED");
}

#[tokio::test]
async fn adding_testers_to_a_group_makes_them_testers_of_its_app() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g1 = create_group(&w, &app, "One", false).await;
    let g2 = create_group(&w, &app, "Two", false).await;
    let t = create_tester(&w, "t3@example.com", g1["id"].as_str().unwrap()).await;
    let tid = t["id"].as_str().unwrap();
    // Removed from the app, then added to another of its groups: a tester of the app again.
    let r = w
        .call(
            "DELETE",
            &format!("/v1/apps/{app}/relationships/betaTesters"),
            Some(&w.token.clone()),
            Some(json!({ "data": [{ "type": "betaTesters", "id": tid }] })),
        )
        .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let found = data(&w, &format!("/v1/betaTesters?filter[apps]={app}")).await;
    assert_eq!(found, json!([]));
    // Removed from the app, the tester left its groups too.
    let groups = data(&w, &format!("/v1/betaTesters/{tid}/betaGroups")).await;
    assert_eq!(groups, json!([]));
    let g2id = g2["id"].as_str().unwrap();
    let r = post(
        &w,
        &format!("/v1/betaGroups/{g2id}/relationships/betaTesters"),
        json!({ "data": [{ "type": "betaTesters", "id": tid }] }),
    )
    .await;
    assert_eq!(r.status, 204);
    let found = data(&w, &format!("/v1/betaTesters?filter[apps]={app}")).await;
    assert_eq!(found[0]["id"], tid);
}

async fn give(w: &World, group: &str, build: &str) -> Resp {
    post(
        w,
        &format!("/v1/betaGroups/{group}/relationships/builds"),
        json!({ "data": [{ "type": "builds", "id": build }] }),
    )
    .await
}

/// A group is given only a build that finished processing and has its export compliance answer
/// (Apple's 422s: App-Store-Connect-CLI#2595 lists these causes).
#[tokio::test]
async fn a_build_processing_or_without_export_compliance_cannot_be_given_to_a_group_apples_422() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create_group(&w, &app, "External", false).await;
    let not_valid = "The build is not in a valid processing state for this operation.";
    for (attributes, t) in [
        (json!({ "version": "50" }), not_valid),
        (
            json!({ "version": "51", "expired": true, "processingState": "VALID", "usesNonExemptEncryption": false }),
            not_valid,
        ),
        (
            json!({ "version": "52", "processingState": "VALID" }),
            "The build is missing export compliance.",
        ),
    ] {
        let b = id(&new_build(&w, &app, attributes).await);
        let r = give(&w, g["id"].as_str().unwrap(), &b).await;
        assert_eq!(refusal(&r), err(422, "ENTITY_UNPROCESSABLE", t, t));
    }
}

#[tokio::test]
async fn an_internal_group_with_every_build_refuses_one_more_apples_422() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "52").await;
    let g = w
        .admin_create(
            "betaGroups",
            json!({ "attributes": { "name": "Team", "isInternalGroup": true, "hasAccessToAllBuilds": true },
                    "relationships": { "app": app } }),
        )
        .await;
    let r = post(
        &w,
        &format!("/v1/builds/{b}/relationships/betaGroups"),
        json!({ "data": [{ "type": "betaGroups", "id": g["id"] }] }),
    )
    .await;
    assert_eq!(
        refusal(&r),
        err(
            422,
            "ENTITY_UNPROCESSABLE",
            "Builds cannot be assigned to this internal group.",
            "Cannot add internal group to a build."
        )
    );
}

#[tokio::test]
async fn an_internal_group_tests_its_build_at_once_and_invites_its_testers() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "53").await;
    let g = w
        .admin_create(
            "betaGroups",
            json!({ "attributes": { "name": "Team", "isInternalGroup": true },
                    "relationships": { "app": app } }),
        )
        .await;
    let gid = g["id"].as_str().unwrap();
    let t = create_tester(&w, "team@example.com", gid).await;
    assert_eq!(t["attributes"]["state"], "NOT_INVITED");
    assert_eq!(give(&w, gid, &b).await.status, 204);
    assert_eq!(
        beta_states(&w, &b).await,
        states("IN_BETA_TESTING", "READY_FOR_BETA_SUBMISSION")
    );
    let tid = t["id"].as_str().unwrap();
    let t = data(&w, &format!("/v1/betaTesters/{tid}")).await;
    assert_eq!(t["attributes"]["state"], "INVITED");
    // Taken back, the build is no longer tested.
    let r = w
        .call(
            "DELETE",
            &format!("/v1/betaGroups/{gid}/relationships/builds"),
            Some(&w.token.clone()),
            Some(json!({ "data": [{ "type": "builds", "id": b }] })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        beta_states(&w, &b).await,
        states("READY_FOR_BETA_TESTING", "READY_FOR_BETA_SUBMISSION")
    );
}

#[tokio::test]
async fn an_external_group_stages_a_build_until_beta_app_review_approves_it() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "54").await;
    let g = create_group(&w, &app, "Public", true).await;
    let gid = g["id"].as_str().unwrap();
    let t = create_tester(&w, "outsider@example.com", gid).await;
    let tid = t["id"].as_str().unwrap();
    assert_eq!(give(&w, gid, &b).await.status, 204);
    // Staged: not approved, so not testable outside the team yet (App-Store-Connect-CLI#2658).
    assert_eq!(
        beta_states(&w, &b).await,
        states("READY_FOR_BETA_TESTING", "READY_FOR_BETA_SUBMISSION")
    );
    let t = data(&w, &format!("/v1/betaTesters/{tid}")).await;
    assert_eq!(t["attributes"]["state"], "NOT_INVITED");
    // The reviewer approves (admin API plays Apple): the group tests it, its testers are invited.
    let s = w
        .admin_create(
            "betaAppReviewSubmissions",
            json!({ "attributes": { "betaReviewState": "IN_REVIEW" }, "relationships": { "build": b } }),
        )
        .await;
    let sid = s["id"].as_str().unwrap();
    admin_patch(
        &w,
        "betaAppReviewSubmissions",
        sid,
        json!({ "betaReviewState": "APPROVED" }),
    )
    .await;
    assert_eq!(
        beta_states(&w, &b).await,
        states("READY_FOR_BETA_TESTING", "IN_BETA_TESTING")
    );
    let t = data(&w, &format!("/v1/betaTesters/{tid}")).await;
    assert_eq!(t["attributes"]["state"], "INVITED");
}

#[tokio::test]
async fn a_public_link_limit_is_from_1_to_10000() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create_group(&w, &app, "Public", true).await;
    let id = g["id"].as_str().unwrap();
    for (limit, status) in [(0, 409), (1, 200), (10_000, 200), (10_001, 409)] {
        let r = patch(
            &w,
            &format!("/v1/betaGroups/{id}"),
            json!({ "data": { "type": "betaGroups", "id": id,
                     "attributes": { "publicLinkLimitEnabled": true, "publicLinkLimit": limit } } }),
        )
        .await;
        assert_eq!(
            r.status,
            status,
            "{limit}: {}",
            String::from_utf8_lossy(&r.body)
        );
        if status == 409 {
            assert_eq!(
                refusal(&r),
                err(
                    409,
                    "ENTITY_ERROR.ATTRIBUTE.INVALID",
                    "An attribute value is invalid.",
                    &format!("The public link limit must be between 1 and 10000, not {limit}.")
                )
            );
        } else {
            assert_eq!(r.json()["data"]["attributes"]["publicLinkLimit"], limit);
        }
    }
}

#[tokio::test]
async fn what_to_test_is_one_localization_per_locale_of_a_build() {
    let w = empty().await;
    let app = new_app(&w).await;
    let b = ready_build(&w, &app, "55").await;
    let body = json!({ "data": { "type": "betaBuildLocalizations",
        "attributes": { "locale": "en-GB", "whatsNew": "Try the new widget." },
        "relationships": { "build": { "data": { "type": "builds", "id": b } } } } });
    let r = post(&w, "/v1/betaBuildLocalizations", body.clone()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["data"]["attributes"]["whatsNew"],
        "Try the new widget."
    );
    let r = post(&w, "/v1/betaBuildLocalizations", body).await;
    assert_eq!(
        refusal(&r),
        err(
            409,
            "ENTITY_ERROR.ATTRIBUTE.INVALID",
            "An attribute value is invalid.",
            "A localization for the locale 'en-GB' already exists."
        )
    );
    let list = data(&w, &format!("/v1/builds/{b}/betaBuildLocalizations")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_tester_invitation_invites_the_tester() {
    let w = empty().await;
    let app = new_app(&w).await;
    let g = create_group(&w, &app, "Group", false).await;
    let t = create_tester(&w, "later@example.com", g["id"].as_str().unwrap()).await;
    let tid = t["id"].as_str().unwrap();
    assert_eq!(t["attributes"]["state"], "NOT_INVITED");
    let r = post(
        &w,
        "/v1/betaTesterInvitations",
        json!({ "data": { "type": "betaTesterInvitations", "relationships": {
            "app": { "data": { "type": "apps", "id": app } },
            "betaTester": { "data": { "type": "betaTesters", "id": tid } } } } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let t = data(&w, &format!("/v1/betaTesters/{tid}")).await;
    assert_eq!(t["attributes"]["state"], "INVITED");
    // Accepting is the tester's doing: the admin API moves it.
    admin_patch(&w, "betaTesters", tid, json!({ "state": "ACCEPTED" })).await;
    let t = data(&w, &format!("/v1/betaTesters/{tid}")).await;
    assert_eq!(t["attributes"]["state"], "ACCEPTED");
}
