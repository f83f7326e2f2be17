//! Issue 12's isolated worlds, driven through the server's front ([`crabapple_server::front`]):
//! parallel creation with clocks of their own, Apple's 401 for another world's token, a sweep
//! of every GET of the spec that finds nothing of another world, deletion, and export → create.

mod common;

use common::{Resp, World, api_request, send_to, token_for};
use crabapple_server::setup::WorldChoice;
use crabapple_server::worlds;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Apple's 401 (apple-semantics.md §1.2), without its random `id`.
fn apple_401() -> Value {
    json!({"errors": [{
        "status": "401",
        "code": "NOT_AUTHORIZED",
        "title": "Authentication credentials are missing or invalid.",
        "detail": "Provide a properly configured and signed bearer token, and make sure that it has not expired. Learn more about Generating Tokens for API Requests https://developer.apple.com/go/?id=api-generating-tokens"
    }]})
}

fn without_ids(mut v: Value) -> Value {
    if let Some(list) = v["errors"].as_array_mut() {
        for e in list {
            if let Some(o) = e.as_object_mut() {
                o.remove("id");
            }
        }
    }
    v
}

/// The default world and the front of its server.
struct Server {
    w: World,
    front: axum::Router,
}

/// A world created through the admin API.
struct Made {
    id: String,
    token: String,
    body: Value,
}

impl Server {
    async fn new() -> Server {
        let w = common::open(common::temp_dir("worlds"), WorldChoice::Demo, 100_000).await;
        let front = crabapple_server::front(&w.app);
        Server { w, front }
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        send_to(self.front.clone(), api_request(method, uri, token, body)).await
    }

    /// `POST /crabapple/admin/worlds` with `body`; the new world's id and a token of its key.
    async fn create(&self, body: Option<Value>) -> Made {
        let r = self
            .call("POST", "/crabapple/admin/worlds", None, body)
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        let id = body["id"].as_str().unwrap().to_string();
        let token = self.token(&id, &body);
        Made { id, token, body }
    }

    /// World `id`'s virtual clock offset, from its admin API's status.
    async fn offset(&self, id: &str) -> Value {
        let uri = format!("/crabapple/worlds/{id}/crabapple/admin/status");
        self.call("GET", &uri, None, None).await.json()["clock"]["offsetMs"].clone()
    }

    /// A token of the key `key` (as the admin API shows a key) of world `id`.
    fn token(&self, id: &str, key: &Value) -> String {
        token_for(
            &worlds::world_dir(&self.w.dir, id),
            key["keyId"].as_str().unwrap(),
            Some(key["issuerId"].as_str().unwrap()),
            &[],
        )
    }

    async fn export(&self, id: &str) -> String {
        let r = self
            .call(
                "GET",
                &format!("/crabapple/admin/worlds/{id}/export"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/yaml")
        );
        String::from_utf8(r.body).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_worlds_created_in_parallel_each_keep_their_own_clock_and_data() {
    let s = std::sync::Arc::new(Server::new().await);
    let mut set = tokio::task::JoinSet::new();
    for n in 0..20 {
        let s = s.clone();
        set.spawn(async move {
            let body = json!({ "name": format!("job-{n}") });
            (n, s.create(Some(body)).await)
        });
    }
    let mut made: Vec<(i64, Made)> = set.join_all().await;
    made.sort_by_key(|(n, _)| *n);
    // Each clock moves by a different amount, and each world writes a bundle ID of its own.
    let mut set = tokio::task::JoinSet::new();
    for (n, m) in &made {
        let (s, n, id, token) = (s.clone(), *n, m.id.clone(), m.token.clone());
        set.spawn(async move {
            let r = s
                .call(
                    "POST",
                    &format!("/crabapple/worlds/{id}/crabapple/admin/clock/advance"),
                    None,
                    Some(json!({ "by": format!("{}h", n + 1) })),
                )
                .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let create = json!({"data": {"type": "bundleIds", "attributes": {
                "identifier": format!("com.parallel.job{n}"), "name": format!("Job {n}"), "platform": "IOS"}}});
            let r = s.call("POST", "/v1/bundleIds", Some(&token), Some(create)).await;
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        });
    }
    set.join_all().await;
    let r = s.call("GET", "/crabapple/admin/worlds", None, None).await;
    assert_eq!(r.status, 200);
    let listed = r.json();
    assert_eq!(listed.as_array().unwrap().len(), 20);
    for (n, m) in &made {
        assert_eq!(
            s.offset(&m.id).await,
            json!((n + 1) * 3_600_000),
            "world {n}"
        );
        let r = s
            .call(
                "GET",
                "/v1/bundleIds?limit=200&fields[bundleIds]=identifier",
                Some(&m.token),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        let mine: Vec<String> = r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["attributes"]["identifier"].as_str())
            .filter(|i| i.starts_with("com.parallel."))
            .map(str::to_string)
            .collect();
        assert_eq!(mine, [format!("com.parallel.job{n}")], "world {n}");
        assert_eq!(m.body["name"], json!(format!("job-{n}")));
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["id"] == json!(m.id)
                    && w["baseUrl"]
                        == json!(format!(
                            "http://crabapple.test:8686/crabapple/worlds/{}",
                            m.id
                        ))),
            "{listed}"
        );
    }
    // The default world's clock did not move.
    let status = s
        .call("GET", "/crabapple/admin/status", None, None)
        .await
        .json();
    assert_eq!(status["clock"]["offsetMs"], json!(0));
}

#[tokio::test]
async fn a_token_of_one_world_is_apples_401_in_another_section_1_2() {
    let s = Server::new().await;
    let a = s.create(None).await;
    let b = s.create(None).await;
    // A's token in A: by its base URL, and by the server's (the token's kid names A's key).
    for uri in [
        format!("/crabapple/worlds/{}/v1/apps", a.id),
        "/v1/apps".to_string(),
    ] {
        let r = s.call("GET", &uri, Some(&a.token), None).await;
        assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
    }
    // A's token in B, and the default world's token in A: Apple's 401, exactly.
    let b_apps = format!("/crabapple/worlds/{}/v1/apps", b.id);
    let a_apps = format!("/crabapple/worlds/{}/v1/apps", a.id);
    for (uri, token) in [(&b_apps, &a.token), (&a_apps, &s.w.token)] {
        let r = s.call("GET", uri, Some(token), None).await;
        assert_eq!(r.status, 401, "{uri}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(without_ids(r.json()), apple_401(), "{uri}");
    }
    // The default world still answers its own token on the server's base URL.
    let r = s.call("GET", "/v1/apps", Some(&s.w.token), None).await;
    assert_eq!(r.status, 200);
    // Links of a world's answers stay in the world.
    let r = s
        .call("GET", "/v1/apps?limit=1", Some(&a.token), None)
        .await;
    let next = r.json()["links"]["next"].as_str().unwrap().to_string();
    assert!(
        next.starts_with(&format!(
            "http://crabapple.test:8686/crabapple/worlds/{}/v1/apps?",
            a.id
        )),
        "{next}"
    );
}

#[tokio::test]
async fn an_unknown_world_is_a_404_and_the_worlds_api_needs_the_admin_token() {
    let s = Server::new().await;
    let r = s
        .call(
            "GET",
            "/crabapple/worlds/nope/v1/apps",
            Some(&s.w.token),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": "no world 'nope' on this server (GET /crabapple/admin/worlds lists them)"})
    );
    // Issue 8's admin access rules guard the worlds API too.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/crabapple/admin/worlds")
        .header("host", "crabapple.test")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = send_to(s.front.clone(), req).await;
    assert_eq!(r.status, 401);
    assert!(worlds::registry(s.w.app.store()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_seed_that_does_not_load_is_a_400_and_leaves_nothing() {
    let s = Server::new().await;
    let r = s
        .call(
            "POST",
            "/crabapple/admin/worlds",
            None,
            Some(json!({"seed": "resources:\n  notAType: []\n"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": "seed: 'notAType' is not a resource type of Apple's spec"})
    );
    let r = s
        .call(
            "POST",
            "/crabapple/admin/worlds",
            None,
            Some(json!({"seed": 7})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"error": "'seed' is the seed file's text (YAML or JSON) or a JSON object"})
    );
    assert!(worlds::registry(s.w.app.store()).await.unwrap().is_empty());
    let left = std::fs::read_dir(s.w.dir.join("worlds"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0, "no world directory is left behind");
}

#[tokio::test]
async fn deleting_a_world_removes_its_data_and_its_token_is_401() {
    let s = Server::new().await;
    let a = s.create(None).await;
    let dir = worlds::world_dir(&s.w.dir, &a.id);
    assert!(worlds::store_exists(&s.w.dir, &a.id));
    assert!(dir.is_dir());
    assert_eq!(
        s.call("GET", "/v1/apps", Some(&a.token), None).await.status,
        200
    );
    let delete = format!("/crabapple/admin/worlds/{}", a.id);
    let r = s.call("DELETE", &delete, None, None).await;
    assert_eq!(r.status, 204);
    assert!(!dir.exists(), "the world's directory is gone");
    assert!(!worlds::store_exists(&s.w.dir, &a.id), "and its store");
    let r = s.call("GET", "/v1/apps", Some(&a.token), None).await;
    assert_eq!(r.status, 401);
    assert_eq!(without_ids(r.json()), apple_401());
    let r = s.call("DELETE", &delete, None, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"error": format!("no world '{}'", a.id)}));
}

/// A world's export without its first line (which names the world).
fn body_of(export: &str) -> String {
    export.lines().skip(1).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn an_exported_world_creates_an_equal_world() {
    let s = Server::new().await;
    let a = s.create(Some(json!({"name": "original"}))).await;
    // A world that lived a little: a bundle ID made by a client, a key, two days.
    let create = json!({"data": {"type": "bundleIds", "attributes": {
        "identifier": "com.export.kept", "name": "Kept", "platform": "IOS"}}});
    assert_eq!(
        s.call("POST", "/v1/bundleIds", Some(&a.token), Some(create))
            .await
            .status,
        201
    );
    let prefix = format!("/crabapple/worlds/{}", a.id);
    let r = s
        .call(
            "POST",
            &format!("{prefix}/crabapple/admin/keys"),
            None,
            Some(json!({"roles": ["DEVELOPER"], "name": "ci developer"})),
        )
        .await;
    assert_eq!(r.status, 201);
    // The new key serves its world at once.
    let dev = r.json();
    let dev_token = s.token(&a.id, &dev);
    assert_eq!(
        s.call("GET", "/v1/apps", Some(&dev_token), None)
            .await
            .status,
        200
    );
    let r = s
        .call(
            "POST",
            &format!("{prefix}/crabapple/admin/clock/advance"),
            None,
            Some(json!({"by": "2d"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let exported = s.export(&a.id).await;
    assert!(exported.starts_with(&format!("# crabapple world export: original ({})\n", a.id)));
    assert!(exported.contains("com.export.kept"));
    let b = s
        .create(Some(json!({"name": "copy", "seed": exported})))
        .await;
    assert_ne!(a.id, b.id);
    let again = s.export(&b.id).await;
    let (a_lines, b_lines) = (body_of(&exported), body_of(&again));
    let differ: Vec<(&str, &str)> = a_lines
        .lines()
        .zip(b_lines.lines())
        .filter(|(x, y)| x != y)
        .take(20)
        .collect();
    if std::env::var_os("WORLDS_DUMP").is_some() {
        std::fs::write(s.w.dir.join("a.yaml"), &exported).unwrap();
        std::fs::write(s.w.dir.join("b.yaml"), &again).unwrap();
        println!("dumped in {}", s.w.dir.display());
    }
    assert_eq!(differ, [], "the first lines that differ");
    assert_eq!(a_lines, b_lines);
    // Equal through Apple's API too.
    for uri in [
        "/v1/apps?limit=200",
        "/v1/bundleIds?limit=200",
        "/v1/users?limit=200",
    ] {
        let ra = s
            .call("GET", &format!("{prefix}{uri}"), Some(&a.token), None)
            .await;
        let rb = s
            .call(
                "GET",
                &format!("/crabapple/worlds/{}{uri}", b.id),
                Some(&b.token),
                None,
            )
            .await;
        assert_eq!((ra.status, rb.status), (200, 200));
        // The same, but for links, which name each world's base URL.
        let b_text = String::from_utf8(rb.body).unwrap().replace(&b.id, &a.id);
        let b_doc: Value = serde_json::from_str(&b_text).unwrap();
        assert_eq!(ra.json()["data"], b_doc["data"], "{uri}");
    }
    assert_eq!(s.offset(&b.id).await, json!(2 * 86_400_000));
}

/// Issue 12: "a test sweeps every GET of the spec with world A's token after world B wrote".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_of_the_spec_with_world_a_token_shows_nothing_of_world_b() {
    let s = Server::new().await;
    let a = s.create(None).await;
    let b = s.create(None).await;
    // World B writes: an app (as Apple would make it) and a bundle ID (as a client does).
    let mark = uuid::Uuid::new_v4().simple().to_string();
    let b_prefix = format!("/crabapple/worlds/{}", b.id);
    let app_id = format!(
        "77{}",
        &mark[..8]
            .bytes()
            .map(|c| (c % 10 + b'0') as char)
            .collect::<String>()
    );
    let r = s
        .call(
            "POST",
            &format!("{b_prefix}/crabapple/admin/resources/apps"),
            None,
            Some(json!({"id": app_id, "attributes": {
                "name": format!("World B {mark}"), "bundleId": format!("com.worldb.{mark}"),
                "sku": format!("SKU{mark}"), "primaryLocale": "en-US"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let create = json!({"data": {"type": "bundleIds", "attributes": {
        "identifier": format!("com.worldb.bundle.{mark}"), "name": format!("B {mark}"), "platform": "IOS"}}});
    let r = s
        .call("POST", "/v1/bundleIds", Some(&b.token), Some(create))
        .await;
    assert_eq!(r.status, 201);
    let bundle_id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let marks = [mark.clone(), app_id.clone(), bundle_id.clone()];
    // B sees what it wrote, where the sweep looks for it.
    for (uri, m) in [
        ("/v1/apps?limit=200", &app_id),
        ("/v1/bundleIds?limit=200", &bundle_id),
    ] {
        let r = s.call("GET", uri, Some(&b.token), None).await;
        assert!(
            String::from_utf8_lossy(&r.body).contains(m.as_str()),
            "{uri}"
        );
    }
    // A's ids: the first stored resource of every type.
    let a_app =
        s.w.app
            .worlds()
            .world(&a.id)
            .await
            .unwrap()
            .unwrap()
            .app
            .clone();
    let mut first_id: BTreeMap<String, String> = BTreeMap::new();
    for (rtype, _) in a_app.store().type_counts().await.unwrap() {
        let q = crabapple_store::ListQuery {
            rtype: rtype.clone(),
            limit: 1,
            ..Default::default()
        };
        if let Some(r) = a_app.store().list(&q).await.unwrap().0.first() {
            first_id.insert(rtype, r.id.clone());
        }
    }
    let manifest = crabapple_spec::Manifest::get();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut swept = 0;
    for op in manifest.operations.iter().filter(|o| o.method == "GET") {
        let mut uris = Vec::new();
        if op.path.contains("{id}") {
            let rtype = op.resource.as_deref().unwrap_or_default();
            if let Some(id) = first_id.get(rtype) {
                uris.push(op.path.replace("{id}", id));
            }
            // B's own ids asked for with A's token.
            match rtype {
                "apps" => uris.push(op.path.replace("{id}", &app_id)),
                "bundleIds" => uris.push(op.path.replace("{id}", &bundle_id)),
                _ => {}
            }
        } else {
            uris.push(op.path.clone());
        }
        for uri in uris {
            let r = s.call("GET", &uri, Some(&a.token), None).await;
            swept += 1;
            *statuses.entry(r.status).or_default() += 1;
            assert!(
                r.status < 500,
                "{} {uri}: {}",
                op.id,
                String::from_utf8_lossy(&r.body)
            );
            let text = String::from_utf8_lossy(&r.body);
            // Asked for by B's id, Apple's 404 names the id asked for (and computed metrics
            // answer any id): only B's other marks must not show.
            for m in marks.iter().filter(|m| !uri.contains(m.as_str())) {
                assert!(
                    !text.contains(m.as_str()),
                    "{} {uri} shows world B's {m}: {text}",
                    op.id
                );
            }
        }
    }
    println!("swept {swept} GETs with world A's token: {statuses:?}");
    assert!(swept >= 797, "every GET operation of the spec: {swept}");
    assert!(
        statuses.get(&200).copied().unwrap_or(0) >= 500,
        "{statuses:?}"
    );
    // B's app, asked for by id with A's token: Apple's 404 for a resource A does not have.
    let r = s
        .call("GET", &format!("/v1/apps/{app_id}"), Some(&a.token), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "NOT_FOUND");
}

/// The App Store Server API's tokens name their In-App Purchase key too (§1.8): a world's key is
/// served by its world, and is a bare 401 in another.
#[tokio::test]
async fn a_worlds_in_app_purchase_key_is_served_by_its_world_and_401_elsewhere_section_1_8() {
    let s = Server::new().await;
    let a = s.create(None).await;
    let b = s.create(None).await;
    let r = s
        .call(
            "POST",
            &format!("/crabapple/worlds/{}/crabapple/admin/keys", a.id),
            None,
            Some(json!({"kind": "inAppPurchase", "name": "server api"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let key = r.json();
    let p8 = std::fs::read_to_string(key["keyPath"].as_str().unwrap()).unwrap();
    let token = crabapple_auth::mint_storekit_token(
        &p8,
        key["keyId"].as_str().unwrap(),
        key["issuerId"].as_str().unwrap(),
        "com.crabapple.notes",
        common::now_secs(),
        1800,
    )
    .unwrap();
    let path = "/inApps/v1/history/1000000000000001";
    let r = s.call("GET", path, Some(&token), None).await;
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["errorCode"], json!(4040010));
    let r = s
        .call(
            "GET",
            &format!("/crabapple/worlds/{}{path}", b.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!((r.status, r.body.as_slice()), (401, &b""[..]));
}
