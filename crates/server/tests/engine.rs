//! The generic JSON:API engine through the HTTP surface: paging, include, fields, filters, sort,
//! creates/updates/deletes, linkage, inverse relationships, Apple's error documents
//! (apple-semantics.md §1.5) and persistence.

mod common;

use common::*;
use crabapple_server::setup::WorldChoice;
use serde_json::{Value, json};

async fn empty() -> World {
    open(temp_dir("engine"), WorldChoice::Empty, 100_000).await
}

async fn with_apps(n: usize) -> (World, Vec<String>) {
    let w = empty().await;
    let mut ids = Vec::new();
    for i in 0..n {
        let a = w
            .admin_create(
                "apps",
                json!({ "attributes": { "name": format!("App {i}"), "bundleId": format!("com.example.app{i}"), "sku": format!("SKU{i}"), "primaryLocale": "en-US" } }),
            )
            .await;
        ids.push(a["id"].as_str().unwrap().to_string());
    }
    (w, ids)
}

#[tokio::test]
async fn paging_follows_absolute_next_links_and_sees_every_app_once() {
    let (w, ids) = with_apps(5).await;
    let mut seen = Vec::new();
    let mut url = "/v1/apps?limit=2".to_string();
    loop {
        let r = w.get(&url).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        let doc = r.json();
        assert_eq!(doc["meta"]["paging"]["total"], 5);
        assert_eq!(doc["meta"]["paging"]["limit"], 2);
        for d in doc["data"].as_array().unwrap() {
            seen.push(d["id"].as_str().unwrap().to_string());
            assert!(
                d["links"]["self"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://crabapple.test:8686/v1/apps/")
            );
        }
        match doc["links"]["next"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with("http://crabapple.test:8686/v1/apps?"),
                    "{next}"
                );
                url = next
                    .trim_start_matches("http://crabapple.test:8686")
                    .to_string();
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn include_builds_returns_linkage_and_included_resources_with_limit() {
    let (w, ids) = with_apps(2).await;
    for v in 1..=3 {
        w.admin_create("builds", json!({ "attributes": { "version": v.to_string() }, "relationships": { "app": ids[0] } }))
            .await;
    }
    let doc = w
        .get(&format!(
            "/v1/apps/{}?include=builds&limit[builds]=2",
            ids[0]
        ))
        .await
        .json();
    let rel = &doc["data"]["relationships"]["builds"];
    assert_eq!(rel["data"].as_array().unwrap().len(), 2);
    assert_eq!(rel["meta"]["paging"]["total"], 3);
    let inc = doc["included"].as_array().unwrap();
    assert_eq!(inc.len(), 2);
    assert!(
        inc.iter()
            .all(|r| r["type"] == "builds" && r["links"]["self"].is_string())
    );
    // The inverse side was written by the engine: the build's app is the app.
    let bid = inc[0]["id"].as_str().unwrap();
    let app = w.get(&format!("/v1/builds/{bid}/app")).await.json();
    assert_eq!(app["data"]["id"], ids[0].as_str());
    // And the related collection lists all three.
    let builds = w.get(&format!("/v1/apps/{}/builds", ids[0])).await.json();
    assert_eq!(builds["data"].as_array().unwrap().len(), 3);
    let other = w.get(&format!("/v1/apps/{}/builds", ids[1])).await.json();
    assert_eq!(other["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn fields_narrow_attributes_and_relationships() {
    let (w, ids) = with_apps(1).await;
    let doc = w
        .get(&format!("/v1/apps/{}?fields[apps]=name,builds", ids[0]))
        .await
        .json();
    let attrs = doc["data"]["attributes"].as_object().unwrap();
    assert_eq!(attrs.keys().collect::<Vec<_>>(), vec!["name"]);
    let rels = doc["data"]["relationships"].as_object().unwrap();
    assert_eq!(rels.keys().collect::<Vec<_>>(), vec!["builds"]);
}

#[tokio::test]
async fn filters_by_attribute_id_and_relationship_and_sorts() {
    let (w, ids) = with_apps(3).await;
    let doc = w
        .get("/v1/apps?filter[bundleId]=com.example.app1,com.example.app2")
        .await
        .json();
    let got: Vec<&str> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[1].as_str(), ids[2].as_str()]);
    let doc = w
        .get(&format!("/v1/apps?filter[id]={}", ids[0]))
        .await
        .json();
    assert_eq!(doc["data"].as_array().unwrap().len(), 1);
    let doc = w.get("/v1/apps?sort=-name").await.json();
    let names: Vec<&str> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["App 2", "App 1", "App 0"]);
    // A filter on a relationship: builds of one app.
    w.admin_create(
        "builds",
        json!({ "attributes": { "version": "7" }, "relationships": { "app": ids[2] } }),
    )
    .await;
    let doc = w
        .get(&format!("/v1/builds?filter[app]={}", ids[2]))
        .await
        .json();
    assert_eq!(doc["data"].as_array().unwrap().len(), 1);
    let doc = w
        .get(&format!("/v1/builds?filter[app]={}", ids[0]))
        .await
        .json();
    assert_eq!(doc["data"].as_array().unwrap().len(), 0);
}

fn bundle_id_doc(identifier: &str) -> Value {
    json!({ "data": { "type": "bundleIds", "attributes": { "name": "Example", "identifier": identifier, "platform": "IOS" } } })
}

#[tokio::test]
async fn create_answers_201_with_location_and_the_resource_persists() {
    let w = empty().await;
    let r = w
        .call(
            "POST",
            "/v1/bundleIds",
            Some(&w.token),
            Some(bundle_id_doc("com.example.new")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    let id = doc["data"]["id"].as_str().unwrap();
    assert_eq!(id.len(), 10, "bundle ids are Apple's 10-character ids");
    assert_eq!(
        r.header("location").unwrap(),
        format!("http://crabapple.test:8686/v1/bundleIds/{id}")
    );
    assert_eq!(doc["data"]["attributes"]["identifier"], "com.example.new");
    let again = w.get(&format!("/v1/bundleIds/{id}")).await;
    assert_eq!(again.status, 200);
    // Apple refuses a second App ID with the same identifier (409).
    let dup = w
        .call(
            "POST",
            "/v1/bundleIds",
            Some(&w.token),
            Some(bundle_id_doc("com.example.new")),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error_code(), "ENTITY_ERROR.ATTRIBUTE.INVALID");
    assert_eq!(
        dup.json()["errors"][0]["source"]["pointer"],
        "/data/attributes/identifier"
    );
}

#[tokio::test]
async fn bad_documents_get_apples_entity_errors_and_write_nothing() {
    let w = empty().await;
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        // Missing required attribute → 409 ENTITY_ERROR.ATTRIBUTE.REQUIRED.
        (
            json!({ "data": { "type": "bundleIds", "attributes": { "name": "x", "platform": "IOS" } } }),
            409,
            "ENTITY_ERROR.ATTRIBUTE.REQUIRED",
            "/data/attributes/identifier",
        ),
        // Wrong type → 409 ENTITY_ERROR.
        (
            json!({ "data": { "type": "apps", "attributes": { "name": "x", "identifier": "a.b", "platform": "IOS" } } }),
            409,
            "ENTITY_ERROR",
            "/data/type",
        ),
        // Misspelled member → 422 ENTITY_UNPROCESSABLE.
        (
            json!({ "data": { "type": "bundleIds", "atributes": { "name": "x" } } }),
            422,
            "ENTITY_UNPROCESSABLE",
            "/data/atributes",
        ),
        (json!({ "dta": {} }), 422, "ENTITY_UNPROCESSABLE", "/dta"),
        // Enum value outside Apple's list → 409 ENTITY_ERROR.ATTRIBUTE.INVALID.
        (
            json!({ "data": { "type": "bundleIds", "attributes": { "name": "x", "identifier": "a.b", "platform": "WINDOWS" } } }),
            409,
            "ENTITY_ERROR.ATTRIBUTE.INVALID",
            "/data/attributes/platform",
        ),
        // Wrong JSON type for an attribute → 422.
        (
            json!({ "data": { "type": "bundleIds", "attributes": { "name": 5, "identifier": "a.b", "platform": "IOS" } } }),
            422,
            "ENTITY_UNPROCESSABLE",
            "/data/attributes/name",
        ),
    ];
    for (body, status, code, pointer) in cases {
        let r = w
            .call("POST", "/v1/bundleIds", Some(&w.token), Some(body.clone()))
            .await;
        assert_eq!(
            r.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_code(), code, "{body}");
        assert_eq!(
            r.json()["errors"][0]["source"]["pointer"],
            pointer,
            "{body}"
        );
        assert!(r.header("x-crabapple-reason").is_some());
    }
    // Not JSON at all → 400 ENTITY_INVALID.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/bundleIds")
        .header("authorization", format!("Bearer {}", w.token))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let r = w.send(req).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "ENTITY_INVALID");
    // A relationship to a resource that does not exist → 409, and nothing was written.
    let body = json!({ "data": { "type": "betaGroups", "attributes": { "name": "G" }, "relationships": { "app": { "data": { "type": "apps", "id": "999" } } } } });
    let r = w
        .call("POST", "/v1/betaGroups", Some(&w.token), Some(body))
        .await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_code(), "ENTITY_ERROR.RELATIONSHIP.INVALID");
    assert_eq!(w.app.store().count("bundleIds").await.unwrap(), 0);
    assert_eq!(w.app.store().count("betaGroups").await.unwrap(), 0);
}

#[tokio::test]
async fn update_merges_attributes_and_checks_the_id() {
    let w = empty().await;
    let r = w
        .call(
            "POST",
            "/v1/bundleIds",
            Some(&w.token),
            Some(bundle_id_doc("com.example.upd")),
        )
        .await;
    let id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let patch =
        json!({ "data": { "type": "bundleIds", "id": id, "attributes": { "name": "Renamed" } } });
    let r = w
        .call(
            "PATCH",
            &format!("/v1/bundleIds/{id}"),
            Some(&w.token),
            Some(patch),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let a = &r.json()["data"]["attributes"];
    assert_eq!(a["name"], "Renamed");
    assert_eq!(a["identifier"], "com.example.upd", "PATCH merges");
    let wrong =
        json!({ "data": { "type": "bundleIds", "id": "OTHER", "attributes": { "name": "x" } } });
    let r = w
        .call(
            "PATCH",
            &format!("/v1/bundleIds/{id}"),
            Some(&w.token),
            Some(wrong),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        w.get(&format!("/v1/bundleIds/{id}")).await.json()["data"]["attributes"]["name"],
        "Renamed"
    );
}

#[tokio::test]
async fn delete_answers_204_then_404_not_found() {
    let w = empty().await;
    let r = w
        .call(
            "POST",
            "/v1/bundleIds",
            Some(&w.token),
            Some(bundle_id_doc("com.example.del")),
        )
        .await;
    let id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let r = w
        .call(
            "DELETE",
            &format!("/v1/bundleIds/{id}"),
            Some(&w.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let r = w.get(&format!("/v1/bundleIds/{id}")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NOT_FOUND");
    assert!(
        r.json()["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
}

#[tokio::test]
async fn linkage_endpoints_add_replace_and_remove() {
    let (w, apps) = with_apps(3).await;
    let user = w
        .admin_create("users", json!({ "attributes": { "username": "u@example.com", "roles": ["DEVELOPER"], "allAppsVisible": false } }))
        .await;
    let uid = user["id"].as_str().unwrap();
    let path = format!("/v1/users/{uid}/relationships/visibleApps");
    let add =
        json!({ "data": [{ "type": "apps", "id": apps[0] }, { "type": "apps", "id": apps[1] }] });
    assert_eq!(
        w.call("POST", &path, Some(&w.token), Some(add))
            .await
            .status,
        204
    );
    let doc = w.get(&path).await.json();
    assert_eq!(doc["data"].as_array().unwrap().len(), 2);
    assert_eq!(doc["meta"]["paging"]["total"], 2);
    let replace = json!({ "data": [{ "type": "apps", "id": apps[2] }] });
    assert_eq!(
        w.call("PATCH", &path, Some(&w.token), Some(replace))
            .await
            .status,
        204
    );
    let doc = w.get(&path).await.json();
    assert_eq!(doc["data"], json!([{ "type": "apps", "id": apps[2] }]));
    let remove = json!({ "data": [{ "type": "apps", "id": apps[2] }] });
    assert_eq!(
        w.call("DELETE", &path, Some(&w.token), Some(remove))
            .await
            .status,
        204
    );
    assert_eq!(w.get(&path).await.json()["data"], json!([]));
    // Linking to something that does not exist is refused.
    let bad = json!({ "data": [{ "type": "apps", "id": "404404404" }] });
    assert_eq!(
        w.call("POST", &path, Some(&w.token), Some(bad))
            .await
            .status,
        409
    );
}

#[tokio::test]
async fn routing_and_parameter_errors_are_apples() {
    let (w, ids) = with_apps(1).await;
    let r = w.get("/v1/bananas").await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "PATH_ERROR"));
    let r = w.call("PUT", "/v1/apps", Some(&w.token), None).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "METHOD_NOT_ALLOWED")
    );
    let r = w.get("/v1/appPreviewSets").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["errors"][0]["detail"],
        "The resource 'appPreviewSets' does not allow 'GET_COLLECTION'. Allowed operations are: GET_INSTANCE, CREATE, DELETE"
    );
    let r = w.get("/v1/apps?sorting=name").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.ILLEGAL")
    );
    assert_eq!(r.json()["errors"][0]["source"]["parameter"], "sorting");
    let r = w.get("/v1/certificates?filter[certificateType]=NOPE").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.INVALID")
    );
    let e = &r.json()["errors"][0];
    assert_eq!(e["source"]["parameter"], "filter[certificateType]");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("'NOPE' is not a valid filter value. Expected one of: APPLE_PAY")
    );
    let r = w.get("/v1/apps?limit=201").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.INVALID")
    );
    let r = w.get(&format!("/v1/apps/{}?include=nope", ids[0])).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.INVALID")
    );
    let r = w.get("/v1/apps?cursor=%%%").await;
    assert_eq!(r.status, 400);
    let r = w.get("/v1/actors").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.REQUIRED")
    );
}

#[tokio::test]
async fn analytics_report_request_is_one_per_app_and_access_type() {
    let (w, ids) = with_apps(1).await;
    let body = json!({ "data": { "type": "analyticsReportRequests", "attributes": { "accessType": "ONGOING" }, "relationships": { "app": { "data": { "type": "apps", "id": ids[0] } } } } });
    let r = w
        .call(
            "POST",
            "/v1/analyticsReportRequests",
            Some(&w.token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["data"]["attributes"]["stoppedDueToInactivity"],
        false
    );
    let r = w
        .call(
            "POST",
            "/v1/analyticsReportRequests",
            Some(&w.token),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_code(), "STATE_ERROR");
    assert_eq!(
        r.json()["errors"][0]["detail"],
        "You already have such an entity"
    );
    let listed = w
        .get(&format!("/v1/apps/{}/analyticsReportRequests", ids[0]))
        .await
        .json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = temp_dir("restart");
    let id;
    {
        let w = open(dir.clone(), WorldChoice::Empty, 100).await;
        let r = w
            .call(
                "POST",
                "/v1/bundleIds",
                Some(&w.token),
                Some(bundle_id_doc("com.example.keep")),
            )
            .await;
        id = r.json()["data"]["id"].as_str().unwrap().to_string();
        w.app.store().advance_clock(3 * 86_400_000).await.unwrap();
    }
    let w = open(dir, WorldChoice::Empty, 100).await;
    let r = w.get(&format!("/v1/bundleIds/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"]["attributes"]["identifier"],
        "com.example.keep"
    );
    assert_eq!(
        w.app.store().clock.offset_ms(),
        3 * 86_400_000,
        "the virtual clock persists"
    );
    assert_eq!(
        w.app.store().keys().await.unwrap().len(),
        1,
        "no second key on restart"
    );
}

/// `included` lists the resources in the order of `data` (each item's linkage in turn), the
/// same bytes on every request; and every document is exactly what `serde_json` writes for it
/// (resource objects are written from prepared templates, issue 12: the bytes must not change).
#[tokio::test]
async fn included_follows_data_and_documents_are_serde_json_bytes() {
    let (w, ids) = with_apps(3).await;
    for id in &ids {
        for v in 1..=2 {
            w.admin_create("builds", json!({ "attributes": { "version": v.to_string() }, "relationships": { "app": id } }))
                .await;
        }
    }
    let first = w.get("/v1/apps?include=builds").await;
    assert_eq!(first.status, 200);
    for _ in 0..5 {
        assert_eq!(w.get("/v1/apps?include=builds").await.body, first.body);
    }
    let doc = first.json();
    let linked: Vec<&Value> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["relationships"]["builds"]["data"].as_array().unwrap())
        .collect();
    let included: Vec<Value> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({ "type": r["type"], "id": r["id"] }))
        .collect();
    assert_eq!(linked.len(), 6);
    assert_eq!(linked.into_iter().cloned().collect::<Vec<_>>(), included);
    for uri in [
        "/v1/apps?include=builds".to_string(),
        format!("/v1/apps/{}", ids[0]),
        format!("/v1/apps/{}?fields[apps]=name,builds", ids[0]),
        format!("/v1/apps/{}/builds", ids[1]),
    ] {
        let body = w.get(&uri).await.body;
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&v).unwrap()).unwrap(),
            String::from_utf8(body).unwrap(),
            "{uri}"
        );
    }
}
