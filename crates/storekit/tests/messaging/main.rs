//! The Retention Messaging API over HTTP (`/inApps/v1/messaging/...`): every endpoint, every
//! validation error with its exact status, `errorCode` and `errorMessage`, the performance test
//! POSTing Apple's signed real-time requests to a local endpoint, and the Server API's error body
//! for unknown `/inApps/` paths. Rules and numbers: developer.apple.com/documentation/
//! retentionmessaging and `APIError` of Apple's `@apple/app-store-server-library` 3.1.0.

#[path = "../common/mod.rs"]
mod common;
mod defaults;
mod images;
mod messages;
mod realtime;
#[path = "../commerce/world.rs"]
#[allow(dead_code)]
mod world;

use std::collections::HashMap;
use std::sync::Arc;

use crabapple_auth::{ApiKey, KeyKind, Verifier, generate_key, mint_storekit_token};
use crabapple_storekit::models::ApiError;
use crabapple_storekit::png::encode_solid;
use crabapple_storekit::{Commerce, Host};
use serde_json::Value;

pub use world::{BUNDLE, World};

const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";

struct TestHost {
    commerce: Arc<Commerce>,
    verifier: Verifier,
    keys: HashMap<String, ApiKey>,
}

impl Host for TestHost {
    fn commerce(&self) -> &Arc<Commerce> {
        &self.commerce
    }
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
    fn api_key(&self, key_id: &str) -> Option<ApiKey> {
        self.keys.get(key_id).cloned()
    }
}

/// A crabapple storekit router on a loopback port with one app and an In-App Purchase key.
pub struct Api {
    pub world: World,
    pub base: String,
    http: reqwest::Client,
    p8: String,
    key_id: String,
}

/// A response: status, body text, and the body as JSON (`Null` when empty or not JSON).
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub json: Value,
}

impl Api {
    pub async fn start() -> Api {
        let world = World::new().await;
        let key = generate_key(KeyKind::InAppPurchase);
        let mut keys = HashMap::new();
        keys.insert(key.key_id.clone(), key.to_api_key(ISSUER, &[], "iap"));
        let host = Arc::new(TestHost {
            commerce: world.commerce.clone(),
            verifier: Verifier::default(),
            keys,
        });
        let app = crabapple_storekit::router::<TestHost>().with_state(host);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Api {
            world,
            base,
            http: reqwest::Client::new(),
            p8: key.pkcs8_pem,
            key_id: key.key_id,
        }
    }

    fn token(&self) -> String {
        let now = common::now_ms() / 1000;
        mint_storekit_token(&self.p8, &self.key_id, ISSUER, BUNDLE, now, 300).unwrap()
    }

    /// A request with the In-App Purchase key token; `body` is `(content type, bytes)`.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        auth: bool,
    ) -> Resp {
        let mut rb = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if auth {
            rb = rb.bearer_auth(self.token());
        }
        if let Some((ct, bytes)) = body {
            rb = rb.header("Content-Type", ct).body(bytes);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, text, json }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, true).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None, true).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Resp {
        let bytes = body.to_string().into_bytes();
        self.call("PUT", path, Some(("application/json", bytes)), true)
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        let bytes = body.to_string().into_bytes();
        self.call("POST", path, Some(("application/json", bytes)), true)
            .await
    }

    pub async fn put_png(&self, path: &str, png: Vec<u8>) -> Resp {
        self.call("PUT", path, Some(("image/png", png)), true).await
    }

    /// Uploads an opaque RGB image to the sandbox; panics unless 200.
    pub async fn image(&self, id: &str, bullet: bool) -> () {
        let (png, q) = if bullet {
            (
                encode_solid(64, 64, 2, [0, 128, 255, 255]),
                "?imageSize=BULLET_POINT",
            )
        } else {
            (encode_solid(3840, 160, 2, [0, 128, 255, 255]), "")
        };
        let r = self
            .put_png(&format!("/sandbox/inApps/v1/messaging/image/{id}{q}"), png)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// App Review's decision through the admin API.
    pub async fn review(&self, kind: &str, id: &str, state: &str) {
        let r = self
            .call(
                "PUT",
                &format!("/crabapple/admin/commerce/messaging/{BUNDLE}/sandbox/{kind}/{id}"),
                Some((
                    "application/json",
                    format!("{{\"state\":\"{state}\"}}").into_bytes(),
                )),
                false,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// Asserts Apple's error: status, `errorCode` and the code's `errorMessage`, content type JSON.
#[track_caller]
pub fn assert_apple_error(r: &Resp, status: u16, code: i64) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["errorCode"], code, "{}", r.text);
    let message = ApiError::from_code(code)
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| "Not found.".into());
    assert_eq!(r.json["errorMessage"], message.as_str(), "{}", r.text);
}

/// A lowercase UUID.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn messaging_needs_the_in_app_purchase_key_token() {
    // §1.8: 401 with an empty body, as for every App Store Server API endpoint.
    let api = Api::start().await;
    let r = api
        .call("GET", "/inApps/v1/messaging/image/list", None, false)
        .await;
    assert_eq!((r.status, r.text.as_str()), (401, ""));
}

#[tokio::test]
async fn unknown_inapps_paths_answer_with_the_server_api_error_body() {
    // Apple documents no code for an unknown path: 404 with 4040000 "Not found." (crabapple),
    // never App Store Connect's `{"errors":[…]}`.
    let api = Api::start().await;
    for (method, path) in [
        ("GET", "/inApps/v1/nothing"),
        ("POST", "/inApps/v3/history/1"),
        ("GET", "/sandbox/inApps/v1/messaging/nothing"),
        ("GET", "/inApps/v1/transactions/1/nothing"),
        ("DELETE", "/inApps/v1/messaging/realtime/url/extra"),
    ] {
        let r = api.call(method, path, None, true).await;
        assert_apple_error(&r, 404, 4_040_000);
        assert!(r.json.get("errors").is_none(), "{path}: {}", r.text);
    }
}
