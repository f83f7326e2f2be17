//! A crabapple in a temporary data directory, driven in-process through its axum router.

#![allow(dead_code)]

pub mod analytics;
pub mod reports;
pub mod testflight;

use axum::body::Body;
use crabapple_server::setup::{self, WorldChoice};
use crabapple_server::{App, Config, keys};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

pub struct World {
    pub app: Arc<App>,
    pub dir: PathBuf,
    pub token: String,
    pub key_id: String,
    pub issuer: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    // Under the target directory (cargo sets CARGO_TARGET_TMPDIR for integration tests), not /tmp.
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crabapple-test-{tag}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub async fn open(dir: PathBuf, world: WorldChoice, rate_limit: u64) -> World {
    let admin = crabapple_server::access::AdminAccess {
        token: Some(ADMIN_TOKEN.to_string()),
        hosts: None,
    };
    open_with(dir, world, rate_limit, admin).await
}

/// [`open`] with the admin API guarded by `admin`.
pub async fn open_with(
    dir: PathBuf,
    world: WorldChoice,
    rate_limit: u64,
    admin: crabapple_server::access::AdminAccess,
) -> World {
    let store = setup::open(&dir).await.unwrap();
    let config = Config {
        data_dir: dir.clone(),
        public_url: None,
        rate_limit,
        world: world.clone(),
        admin,
        allow_link_local_urls: false,
    };
    let app = App::new(store, config).await.unwrap();
    setup::first_start(&app.engine, &dir, &world).await.unwrap();
    app.reload_keys().await.unwrap();
    crabapple_server::faults::reload(&app).await.unwrap();
    let list = keys::list(app.store(), &dir).await.unwrap();
    let k = list
        .iter()
        .find(|k| k.kind == "team" && k.roles.contains(&"ADMIN".to_string()))
        .unwrap()
        .clone();
    let token = token_for(&dir, &k.key_id, Some(&k.issuer_id), &[]);
    World {
        app,
        dir,
        token,
        key_id: k.key_id,
        issuer: k.issuer_id,
    }
}

/// The admin token of in-process worlds; [`World::call`] sends it on admin paths.
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub async fn demo() -> World {
    open(temp_dir("demo"), WorldChoice::Demo, 100_000).await
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn token_for(
    dir: &std::path::Path,
    key_id: &str,
    issuer: Option<&str>,
    scope: &[String],
) -> String {
    let p8 = std::fs::read_to_string(keys::key_path(dir, key_id)).unwrap();
    crabapple_auth::mint_asc_token(&p8, key_id, issuer, now_secs(), 600, scope).unwrap()
}

/// The request [`World::call`] sends: a Host, the bearer `token`, the admin token on admin paths,
/// a JSON `body`.
pub fn api_request(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> axum::http::Request<Body> {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "crabapple.test:8686");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    // A world's admin API is the admin API under the world's prefix.
    let path = uri.split('?').next().unwrap_or(uri);
    let path = path
        .strip_prefix(crabapple_server::worlds::PATH_PREFIX)
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(path);
    if crabapple_server::access::is_admin_path(path) {
        req = req.header(crabapple_server::access::TOKEN_HEADER, ADMIN_TOKEN);
    }
    match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&b).unwrap())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

/// One request exactly as given: method, uri, headers, and a body with its content type
/// (no token or Host added).
pub fn raw_request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> axum::http::Request<Body> {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match body {
        Some((ct, b)) => req
            .header("content-type", ct)
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

/// Sends `req` through `router` (a world's [`crabapple_server::router`] or the server's
/// [`crabapple_server::front`]).
pub async fn send_to(router: axum::Router, req: axum::http::Request<Body>) -> Resp {
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

impl World {
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.send(api_request(method, uri, token, body)).await
    }

    /// One request exactly as given ([`raw_request`]).
    pub async fn raw(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> Resp {
        self.send(raw_request(method, uri, headers, body)).await
    }

    pub async fn send(&self, req: axum::http::Request<Body>) -> Resp {
        send_to(crabapple_server::router(self.app.clone()), req).await
    }

    /// A new key of `kind` with `roles`, known to the running app: its id and a token for it
    /// (team keys with `iss`, individual keys with `sub: "user"`).
    pub async fn key_token(
        &self,
        kind: crabapple_auth::KeyKind,
        roles: &[&str],
    ) -> (String, String) {
        let k = keys::create(
            self.app.store(),
            &self.dir,
            keys::NewKey {
                kind,
                roles: roles.iter().map(|r| r.to_string()).collect(),
                user_id: None,
                name: None,
            },
        )
        .await
        .unwrap();
        self.app.reload_keys().await.unwrap();
        let issuer = (kind == crabapple_auth::KeyKind::Team).then_some(k.issuer_id.as_str());
        let token = token_for(&self.dir, &k.key_id, issuer, &[]);
        (k.key_id, token)
    }

    /// An App Store Server API token (§1.8): a new In-App Purchase key's JWT for `bundle_id`.
    pub async fn server_api_token(&self, bundle_id: &str) -> String {
        let (key_id, _) = self
            .key_token(crabapple_auth::KeyKind::InAppPurchase, &[])
            .await;
        let p8 = std::fs::read_to_string(keys::key_path(&self.dir, &key_id)).unwrap();
        crabapple_auth::mint_storekit_token(&p8, &key_id, &self.issuer, bundle_id, now_secs(), 1800)
            .unwrap()
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.call("GET", uri, Some(&self.token.clone()), None).await
    }

    /// Creates a resource Apple would create (apps, builds) through the admin API.
    pub async fn admin_create(&self, rtype: &str, body: Value) -> Value {
        let r = self
            .call(
                "POST",
                &format!("/crabapple/admin/resources/{rtype}"),
                None,
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["data"].clone()
    }
}

/// Writes or checks a generated facts file `tests/coverage/{name}.tsv` (`operationId<TAB>rule`
/// lines under a comment header) that `crabapple spec coverage` reads: with
/// `CRABAPPLE_UPDATE_FACTS=1` it is rewritten, otherwise a committed copy that differs fails.
pub fn check_facts(name: &str, header: &str, mut lines: Vec<String>) {
    lines.sort();
    lines.dedup();
    let mut text: String = header.lines().map(|l| format!("# {l}\n")).collect();
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/coverage/{name}.tsv"));
    if std::env::var("CRABAPPLE_UPDATE_FACTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, text,
        "tests/coverage/{name}.tsv is stale: rerun this test with CRABAPPLE_UPDATE_FACTS=1 and commit it"
    );
}

/// The header every rules facts file carries.
pub fn rules_header(test: &str) -> String {
    format!(
        "Operations on which a row of {test} proved an Apple rule:\n\
         operationId<TAB>fact — rule. Generated by that test (CRABAPPLE_UPDATE_FACTS=1 rewrites it);\n\
         read by `crabapple spec coverage`."
    )
}
