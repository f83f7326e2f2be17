//! Configure / Get / Delete Realtime URL, Initiate Performance Test and its results: crabapple
//! POSTs Apple's signed `DecodedRealtimeRequestBody` to a local Get Retention Message endpoint.

use crabapple_storekit::ledger::LedgerStore;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use crabapple_storekit::verify::verify_jws;
use serde_json::{Value, json};

use crate::world::{GEMS, MONTHLY};
use crate::{Api, assert_apple_error, uuid};

const URL: &str = "/sandbox/inApps/v1/messaging/realtime/url";
const TEST: &str = "/sandbox/inApps/v1/messaging/performanceTest";

/// A Get Retention Message endpoint: answers `status` with a `RealtimeResponseBody` after
/// `delay_ms`, keeping every `signedPayload`.
struct Endpoint {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct EpState {
    status: u16,
    delay_ms: u64,
    received: Arc<Mutex<Vec<String>>>,
}

async fn answer(State(s): State<EpState>, body: Bytes) -> (StatusCode, String) {
    tokio::time::sleep(Duration::from_millis(s.delay_ms)).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(p) = v["signedPayload"].as_str() {
        s.received.lock().unwrap().push(p.to_string());
    }
    let reply = json!({"message": {"messageIdentifier": "a1b2c3d4-e5f6-7890-a1b2-c3d4e5f67890"}});
    (StatusCode::from_u16(s.status).unwrap(), reply.to_string())
}

impl Endpoint {
    async fn start(status: u16, delay_ms: u64) -> Endpoint {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = EpState {
            status,
            delay_ms,
            received: received.clone(),
        };
        let app = axum::Router::new()
            .route("/retention", post(answer))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/retention", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Endpoint { url, received }
    }
}

/// A sandbox subscription purchase: its original transaction id.
async fn subscribe(api: &Api, product: &str) -> String {
    let out = api
        .world
        .event(
            "purchase",
            json!({"bundleId": crate::BUNDLE, "productId": product, "customer": uuid()}),
        )
        .await
        .unwrap();
    out["transactionId"].as_str().unwrap().to_string()
}

/// Polls Get Performance Test Results until the test isn't PENDING.
async fn finished(api: &Api, request_id: &str) -> Value {
    for _ in 0..200 {
        let r = api.get(&format!("{TEST}/result/{request_id}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.json["result"] != "PENDING" {
            return r.json;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("performance test {request_id} still PENDING after 20 s");
}

#[tokio::test]
async fn realtime_url_rules() {
    // realtimeURL: "must begin with https:// and be a maximum of 256 characters"
    // → 400 BadRequestRealtimeUrlError 4000215; none configured → 404 RealtimeUrlNotFoundError.
    let api = Api::start().await;
    assert_apple_error(&api.get(URL).await, 404, 4_040_021);
    let long = format!("https://example.com/{}", "a".repeat(237));
    assert_eq!(long.len(), 257);
    for bad in [
        json!({"realtimeURL": "ftp://example.com/r"}),
        json!({"realtimeURL": "http://example.com/r"}),
        json!({"realtimeURL": "https//example.com"}),
        json!({"realtimeURL": long}),
        json!({"realtimeURL": 5}),
        json!({}),
    ] {
        assert_apple_error(&api.put_json(URL, &bad).await, 400, 4_000_215);
    }
    let ok = format!("https://example.com/{}", "a".repeat(236));
    for url in [
        ok.as_str(),
        "http://127.0.0.1:9/r",
        "https://retention.example.com/v1",
    ] {
        let r = api.put_json(URL, &json!({"realtimeURL": url})).await;
        assert_eq!((r.status, r.text.as_str()), (200, ""), "{url}");
        assert_eq!(api.get(URL).await.json, json!({"realtimeURL": url}));
    }
    // Production needs a passing performance test: 403 ForbiddenNoPassingTestError 4030026.
    let prod = "/inApps/v1/messaging/realtime/url";
    let r = api
        .put_json(prod, &json!({"realtimeURL": "https://example.com/p"}))
        .await;
    assert_apple_error(&r, 403, 4_030_026);
    assert_apple_error(&api.get(prod).await, 404, 4_040_021);
    // Delete: 200, then Get is 404 again.
    assert_eq!(api.delete(URL).await.status, 200);
    assert_apple_error(&api.get(URL).await, 404, 4_040_021);
    assert_eq!(api.delete(URL).await.status, 200);
}

#[tokio::test]
async fn performance_test_posts_signed_realtime_requests_and_passes() {
    let api = Api::start().await;
    let ep = Endpoint::start(200, 30).await;
    let otid = subscribe(&api, MONTHLY).await;
    assert_eq!(
        api.put_json(URL, &json!({"realtimeURL": ep.url}))
            .await
            .status,
        200
    );
    let r = api
        .post_json(TEST, &json!({"originalTransactionId": otid}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let config = json!({"maxConcurrentRequests": 10, "totalRequests": 100, "totalDuration": 30000,
        "responseTimeThreshold": 700, "successRateThreshold": 90});
    assert_eq!(r.json["config"], config);
    let request_id = r.json["requestId"].as_str().unwrap().to_string();
    // One test at a time: 400 ExistingPerformanceTestRunError 4000213.
    let again = api
        .post_json(TEST, &json!({"originalTransactionId": otid}))
        .await;
    assert_apple_error(&again, 400, 4_000_213);
    let result = finished(&api, &request_id).await;
    assert_eq!(result["result"], "PASS", "{result}");
    assert_eq!(result["successRate"], 100);
    assert_eq!(result["numPending"], 0);
    assert_eq!(result["target"], ep.url.as_str());
    assert_eq!(result["config"], config);
    assert_eq!(result["failures"], json!({}));
    let times = &result["responseTimes"];
    assert!(times["p50"].as_u64().unwrap() >= 30, "{times}");
    assert!(times["p99"].as_u64() >= times["p50"].as_u64(), "{times}");
    // Every request was Apple's signed DecodedRealtimeRequestBody for the subscription.
    let received = ep.received.lock().unwrap().clone();
    assert_eq!(received.len(), 100);
    let mut request_ids = std::collections::HashSet::new();
    for jws in &received {
        let p = verify_jws(jws, api.world.pki.root_der()).unwrap();
        assert_eq!(p["originalTransactionId"], otid.as_str());
        assert_eq!(p["productId"], MONTHLY);
        assert_eq!(p["appAppleId"], crate::world::APP_ID);
        assert_eq!(p["environment"], "Sandbox");
        assert_eq!(p["userLocale"], "en-US");
        assert!(p["signedDate"].as_i64().is_some());
        request_ids.insert(p["requestIdentifier"].as_str().unwrap().to_string());
    }
    assert_eq!(
        request_ids.len(),
        100,
        "a new requestIdentifier per request"
    );
    // A passing test opens the production URL.
    let r = api
        .put_json(
            "/inApps/v1/messaging/realtime/url",
            &json!({"realtimeURL": "https://example.com/prod"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Results are per environment.
    let prod = api
        .get(&format!(
            "/inApps/v1/messaging/performanceTest/result/{request_id}"
        ))
        .await;
    assert_apple_error(&prod, 404, 4_040_018);
}

#[tokio::test]
async fn performance_test_fails_when_the_endpoint_fails() {
    let api = Api::start().await;
    let ep = Endpoint::start(500, 0).await;
    let otid = subscribe(&api, MONTHLY).await;
    api.put_json(URL, &json!({"realtimeURL": ep.url})).await;
    let r = api
        .post_json(TEST, &json!({"originalTransactionId": otid}))
        .await;
    let result = finished(&api, r.json["requestId"].as_str().unwrap()).await;
    assert_eq!(result["result"], "FAIL");
    assert_eq!(result["successRate"], 0);
    assert_eq!(
        result["failures"],
        json!({"UNSUCCESSFUL_HTTP_RESPONSE_CODE": 100})
    );
    let r = api
        .put_json(
            "/inApps/v1/messaging/realtime/url",
            &json!({"realtimeURL": "https://example.com/prod"}),
        )
        .await;
    assert_apple_error(&r, 403, 4_030_026);
}

#[tokio::test]
async fn performance_test_request_errors() {
    let api = Api::start().await;
    let otid = subscribe(&api, MONTHLY).await;
    let body = json!({"originalTransactionId": otid});
    // No sandbox URL yet: 404 RealtimeUrlNotFoundError.
    assert_apple_error(&api.post_json(TEST, &body).await, 404, 4_040_021);
    api.put_json(URL, &json!({"realtimeURL": "http://127.0.0.1:9/r"}))
        .await;
    // "The performance test runs only in the sandbox environment."
    let prod = api
        .post_json("/inApps/v1/messaging/performanceTest", &body)
        .await;
    assert_apple_error(&prod, 400, 4_000_211);
    // InvalidPerformanceTestRequestError: no originalTransactionId; not a subscription.
    assert_apple_error(&api.post_json(TEST, &json!({})).await, 400, 4_000_211);
    let gems = subscribe(&api, GEMS).await;
    let r = api
        .post_json(TEST, &json!({"originalTransactionId": gems}))
        .await;
    assert_apple_error(&r, 400, 4_000_211);
    // InvalidTransactionIdError 4000006; TransactionIdNotFoundError 4040010.
    let r = api
        .post_json(TEST, &json!({"originalTransactionId": "abc"}))
        .await;
    assert_apple_error(&r, 400, 4_000_006);
    let r = api
        .post_json(TEST, &json!({"originalTransactionId": "999999999"}))
        .await;
    assert_apple_error(&r, 404, 4_040_010);
    // A Family Sharing transaction: FamilyTransactionNotSupportedError 4000185.
    let family = api
        .world
        .event(
            "purchase",
            json!({"bundleId": crate::BUNDLE, "productId": crate::world::YEARLY,
                "customer": uuid(), "familyShared": true}),
        )
        .await
        .unwrap();
    let r = api
        .post_json(
            TEST,
            &json!({"originalTransactionId": family["transactionId"]}),
        )
        .await;
    assert_apple_error(&r, 400, 4_000_185);
    // A renewal's transaction id: TransactionIdIsNotOriginalTransactionIdError 4000187.
    api.world.advance(6 * 60 * 1000).await;
    let chain = api.world.store.ledger_chain(&otid).await.unwrap();
    let renewal = chain
        .iter()
        .find(|t| t.transaction_id != otid)
        .expect("a sandbox renewal after 6 minutes");
    let r = api
        .post_json(
            TEST,
            &json!({"originalTransactionId": renewal.transaction_id}),
        )
        .await;
    assert_apple_error(&r, 400, 4_000_187);
    // Results: InvalidRequestIdError 4000212, PerformanceTestRunNotFoundError 4040018.
    assert_apple_error(
        &api.get(&format!("{TEST}/result/not-a-uuid")).await,
        400,
        4_000_212,
    );
    assert_apple_error(
        &api.get(&format!("{TEST}/result/{}", uuid())).await,
        404,
        4_040_018,
    );
}

/// The admin stand-in for a customer opening the subscription page.
async fn customer_views(api: &Api, otid: &str) -> Value {
    let r = api
        .call(
            "POST",
            &format!(
                "/crabapple/admin/commerce/messaging/{}/sandbox/realtime",
                crate::BUNDLE
            ),
            Some((
                "application/json",
                json!({"originalTransactionId": otid, "userLocale": "en-US"})
                    .to_string()
                    .into_bytes(),
            )),
            false,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

#[tokio::test]
async fn a_customer_sees_the_endpoints_approved_message_or_the_default() {
    // "If your server response fails for any reason, the system displays a default retention
    // message" (Responding to real-time retention messaging requests); the chosen message must
    // be APPROVED (`message`).
    let api = Api::start().await;
    let otid = subscribe(&api, MONTHLY).await;
    // The endpoints answer message a1b2c3d4-…; upload it, and a default.
    let chosen = "a1b2c3d4-e5f6-7890-a1b2-c3d4e5f67890";
    let fallback = uuid();
    for id in [chosen, fallback.as_str()] {
        let r = api
            .put_json(
                &format!("/sandbox/inApps/v1/messaging/message/{id}"),
                &json!({"header": "h", "body": "b"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // No URL, no default: nothing is shown.
    let v = customer_views(&api, &otid).await;
    assert_eq!(
        (v["sendAttemptResult"].clone(), v["display"].clone()),
        (Value::Null, Value::Null)
    );
    api.review("messages", &fallback, "APPROVED").await;
    let r = api
        .put_json(
            &format!("/sandbox/inApps/v1/messaging/default/{MONTHLY}/en-US"),
            &json!({"messageIdentifier": fallback}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ok = Endpoint::start(200, 0).await;
    api.put_json(URL, &json!({"realtimeURL": ok.url})).await;
    // The endpoint's message is still PENDING: the default shows.
    let v = customer_views(&api, &otid).await;
    assert_eq!(v["sendAttemptResult"], "SUCCESS");
    assert_eq!(v["response"]["message"]["messageIdentifier"], chosen);
    assert_eq!(
        v["display"],
        json!({"source": "DEFAULT", "type": "message", "messageIdentifier": fallback})
    );
    api.review("messages", chosen, "APPROVED").await;
    let v = customer_views(&api, &otid).await;
    assert_eq!(
        v["display"],
        json!({"source": "REALTIME", "type": "message", "messageIdentifier": chosen})
    );
    // The request the endpoint got is the one reported, signed.
    let received = ok.received.lock().unwrap().clone();
    let p = verify_jws(received.last().unwrap(), api.world.pki.root_der()).unwrap();
    assert_eq!(p, v["request"]);
    // An endpoint that fails: the default again.
    let failing = Endpoint::start(500, 0).await;
    api.put_json(URL, &json!({"realtimeURL": failing.url}))
        .await;
    let v = customer_views(&api, &otid).await;
    assert_eq!(v["sendAttemptResult"], "UNSUCCESSFUL_HTTP_RESPONSE_CODE");
    assert_eq!(v["display"]["source"], "DEFAULT");
}
