//! Answers kept for repeated reads (crates/server/src/answers.rs, issue 12 performance): a read
//! asked again with nothing changed is served kept, and every change — this process's writes
//! through the API, another process's resource writes and its linkage-only writes (the CLI, a
//! replica) — is seen at the next request, as the uncached engine would answer it.

mod common;

use common::*;
use crabapple_server::setup::WorldChoice;
use serde_json::json;

#[tokio::test]
async fn a_repeated_read_is_served_kept_until_this_or_another_process_writes() {
    let w = open(temp_dir("answers"), WorldChoice::Empty, 100_000).await;
    let app = w
        .admin_create(
            "apps",
            json!({ "attributes": { "name": "Kept", "bundleId": "com.example.kept", "sku": "KEPT", "primaryLocale": "en-US" } }),
        )
        .await;
    let id = app["id"].as_str().unwrap().to_string();
    let name = |r: &Resp| r.json()["data"]["attributes"]["name"].clone();

    let first = w.get(&format!("/v1/apps/{id}")).await;
    let served = w.app.answers_served();
    let second = w.get(&format!("/v1/apps/{id}")).await;
    assert_eq!(
        w.app.answers_served(),
        served + 1,
        "the second read is kept"
    );
    assert_eq!((second.status, &second.body), (200, &first.body));
    assert_eq!(second.header("content-type").unwrap(), "application/json");
    assert!(second.header("x-rate-limit").is_some());
    // Another query, another answer.
    let fields = w.get(&format!("/v1/apps/{id}?fields[apps]=name")).await;
    assert_ne!(fields.body, first.body);

    // A write through the API: the next read sees it.
    let patched = w
        .call(
            "PATCH",
            &format!("/v1/apps/{id}"),
            Some(&w.token.clone()),
            Some(json!({ "data": { "type": "apps", "id": id, "attributes": { "contentRightsDeclaration": "USES_THIRD_PARTY_CONTENT" } } })),
        )
        .await;
    assert_eq!(
        patched.status,
        200,
        "{}",
        String::from_utf8_lossy(&patched.body)
    );
    let after = w.get(&format!("/v1/apps/{id}")).await;
    assert_eq!(
        after.json()["data"]["attributes"]["contentRightsDeclaration"],
        "USES_THIRD_PARTY_CONTENT"
    );

    // Another process (a store on the same database) renames the app: seen at the next read.
    let other = crabapple_server::setup::open(&w.dir).await.unwrap();
    w.get(&format!("/v1/apps/{id}")).await;
    let mut tx = other.begin().await.unwrap();
    let mut attrs = tx.get("apps", &id).await.unwrap().unwrap().attributes;
    attrs.insert("name".into(), json!("Renamed elsewhere"));
    tx.put("apps", &id, &attrs).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        name(&w.get(&format!("/v1/apps/{id}")).await),
        "Renamed elsewhere"
    );

    // Another process links a build to the app and writes nothing else: the app's builds
    // linkage, read and kept before, lists it at the next read.
    let build = w
        .admin_create(
            "builds",
            json!({ "attributes": { "version": "1" }, "relationships": { "app": id } }),
        )
        .await;
    let mut tx = other.begin().await.unwrap();
    let mut b2 = tx
        .get("builds", build["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap()
        .attributes;
    b2.insert("version".into(), json!("2"));
    tx.put("builds", "crabapple-answers-b2", &b2).await.unwrap();
    tx.commit().await.unwrap();
    let linkage = format!("/v1/apps/{id}/relationships/builds");
    let before = w.get(&linkage).await.json()["data"]
        .as_array()
        .unwrap()
        .len();
    let served = w.app.answers_served();
    w.get(&linkage).await;
    assert_eq!(
        w.app.answers_served(),
        served + 1,
        "the linkage read is kept"
    );
    let mut tx = other.begin().await.unwrap();
    tx.link(("apps", &id), "builds", ("builds", "crabapple-answers-b2"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let listed = w.get(&linkage).await.json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, before + 1);
}
