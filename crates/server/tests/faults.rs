//! Issue 13, faults on demand: armed through the admin API (and seed files), each fault kind
//! answers as documented — in the shape of the API the path belongs to, with `Retry-After` where
//! it applies — for exactly the requests it names, as many times as its count says, and every
//! faulted answer says in `X-Crabapple-Reason` that it was injected; disarming restores normal
//! answers.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn arm(w: &World, fault: Value) -> Value {
    let r = w
        .call("POST", "/crabapple/admin/faults", None, Some(fault))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test]
async fn a_503_with_retry_after_hits_its_count_of_requests_then_the_api_answers_again() {
    let w = demo().await;
    let f = arm(&w, json!({"route": "GET /v1/apps*", "kind": "status", "status": 503, "retryAfter": 5, "count": 2})).await;
    assert_eq!(f["id"], "f1");
    for left in [1, 0] {
        let r = w.get("/v1/apps?limit=1").await;
        assert_eq!(r.status, 503);
        assert_eq!(r.header("retry-after").as_deref(), Some("5"));
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        let e = &r.json()["errors"][0];
        assert_eq!(e["status"], "503");
        assert_eq!(e["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(
            r.header("x-crabapple-reason").unwrap(),
            format!("injected fault f1 (status 503) on GET /v1/apps*, {left} left")
        );
    }
    assert_eq!(
        w.get("/v1/apps?limit=1").await.status,
        200,
        "the count is spent"
    );
    let list = w
        .call("GET", "/crabapple/admin/faults", None, None)
        .await
        .json();
    assert_eq!(
        (
            list[0]["matched"].clone(),
            list[0]["fired"].clone(),
            list[0]["count"].clone()
        ),
        (json!(2), json!(2), json!(0))
    );
}

#[tokio::test]
async fn status_faults_answer_in_the_shape_of_each_api() {
    let w = demo().await;
    // App Store Connect: Apple's 500 and 429 documents (apple-semantics.md §1.5, §1.6).
    arm(
        &w,
        json!({"route": "GET /v1/apps", "kind": "status", "status": 500}),
    )
    .await;
    let r = w.get("/v1/apps").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.error_code(), "UNEXPECTED_ERROR");
    assert_eq!(
        r.json()["errors"][0]["detail"],
        "An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/."
    );
    arm(
        &w,
        json!({"route": "GET /v1/builds", "kind": "status", "status": 429}),
    )
    .await;
    let r = w.get("/v1/builds").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_code(), "RATE_LIMIT_EXCEEDED");
    assert_eq!(
        r.header("retry-after").as_deref(),
        Some("60"),
        "a 429 always says when to retry"
    );
    // The App Store Server API: its {errorCode, errorMessage} and Retry-After in epoch ms (§1.9).
    arm(
        &w,
        json!({"route": "/inApps/*", "kind": "status", "status": 429, "retryAfter": 2}),
    )
    .await;
    let token = w.server_api_token("com.crabapple.notes").await;
    let before = now_secs() * 1000;
    let r = w
        .call("GET", "/inApps/v1/transactions/1", Some(&token), None)
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"errorCode": 4290000, "errorMessage": "Rate limit exceeded."})
    );
    let at: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (before + 1_000..before + 10_000).contains(&at),
        "{at} vs {before}"
    );
    // Admin paths are never faulted.
    arm(&w, json!({"route": "*", "kind": "status", "status": 500})).await;
    assert_eq!(
        w.call("GET", "/crabapple/admin/faults", None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        w.call("DELETE", "/crabapple/admin/faults", None, None)
            .await
            .status,
        204
    );
    assert_eq!(w.get("/v1/apps").await.status, 200, "disarmed");
}

#[tokio::test]
async fn a_fault_names_an_entity_and_a_key_and_a_seeded_probability_repeats() {
    let w = demo().await;
    let apps = w.get("/v1/apps").await.json();
    let (a, b) = (
        apps["data"][0]["id"].as_str().unwrap(),
        apps["data"][1]["id"].as_str().unwrap(),
    );
    arm(&w, json!({"route": "GET /v1/apps/*", "entity": a, "kind": "status", "status": 500, "keyId": w.key_id})).await;
    assert_eq!(w.get(&format!("/v1/apps/{a}")).await.status, 500);
    assert_eq!(
        w.get(&format!("/v1/apps/{b}")).await.status,
        200,
        "another entity"
    );
    let (_, other) = w.key_token(crabapple_auth::KeyKind::Team, &["ADMIN"]).await;
    assert_eq!(
        w.call("GET", &format!("/v1/apps/{a}"), Some(&other), None)
            .await
            .status,
        200,
        "another key"
    );
    w.call("DELETE", "/crabapple/admin/faults", None, None)
        .await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        w.call("DELETE", "/crabapple/admin/faults", None, None)
            .await;
        arm(&w, json!({"route": "GET /v1/builds", "kind": "status", "status": 500, "probability": 0.5, "seed": 42})).await;
        let mut hits = Vec::new();
        for _ in 0..20 {
            hits.push(w.get("/v1/builds").await.status == 500);
        }
        runs.push(hits);
    }
    assert_eq!(runs[0], runs[1], "the same seed hits the same requests");
    assert!(
        runs[0].iter().any(|h| *h) && runs[0].iter().any(|h| !*h),
        "{:?}",
        runs[0]
    );
}

#[tokio::test]
async fn latency_delays_the_real_answer() {
    let w = demo().await;
    arm(
        &w,
        json!({"route": "GET /v1/apps", "kind": "latency", "latencyMs": 300, "count": 1}),
    )
    .await;
    let t = Instant::now();
    let r = w.get("/v1/apps").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-crabapple-reason").unwrap(),
        "injected fault f1 (300 ms latency) on GET /v1/apps, 0 left"
    );
}

#[tokio::test]
async fn a_fault_that_cannot_work_is_refused_and_nothing_is_armed() {
    let w = demo().await;
    for (body, error) in [
        (
            json!({"route": "/v1/apps", "kind": "status"}),
            "fault on /v1/apps: kind status needs a status from 400 to 599",
        ),
        (
            json!({"route": "/v1/apps", "kind": "latency"}),
            "fault on /v1/apps: kind latency needs latencyMs",
        ),
        (
            json!({"route": " ", "kind": "drop"}),
            "fault on  : route is required (e.g. \"GET /v1/apps*\")",
        ),
    ] {
        let r = w
            .call("POST", "/crabapple/admin/faults", None, Some(body))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json(), json!({"error": error}));
    }
    let r = w
        .call("DELETE", "/crabapple/admin/faults/f9", None, None)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"error": "no armed fault f9"}))
    );
    assert_eq!(
        w.call("GET", "/crabapple/admin/faults", None, None)
            .await
            .json(),
        json!([])
    );
}

/// Through a real listener: a dropped connection closes without a byte; a truncated answer
/// sends its headers and `Content-Length`, then half the body.
#[tokio::test]
async fn drop_and_truncate_reach_the_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = demo().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crabapple_server::serve(w.app.clone(), listener));
    let fetch = |path: &'static str, token: String| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).to_string()
    };
    arm(
        &w,
        json!({"route": "GET /v1/apps", "kind": "drop", "count": 1}),
    )
    .await;
    assert_eq!(
        fetch("/v1/apps", w.token.clone()).await,
        "",
        "closed without an answer"
    );
    assert!(
        fetch("/v1/apps", w.token.clone())
            .await
            .starts_with("HTTP/1.1 200"),
        "count spent"
    );
    arm(
        &w,
        json!({"route": "GET /v1/builds", "kind": "truncate", "count": 1}),
    )
    .await;
    let text = fetch("/v1/builds", w.token.clone()).await;
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("injected fault f2 (truncated body)"),
        "{head}"
    );
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        body.len(),
        length / 2,
        "half of the {length} bytes announced"
    );
}

/// A notification endpoint that times out: the attempt is recorded as Apple's `TIMED_OUT`
/// (nothing sent), once per count; then the next attempt is made for real.
#[tokio::test]
async fn a_notification_endpoint_fault_records_timed_out_attempts() {
    let w = demo().await;
    let url = "http://127.0.0.1:9/never";
    let r = w
        .call(
            "PUT",
            "/crabapple/admin/commerce/apps/com.crabapple.notes/notification-urls",
            None,
            Some(json!({"production": url, "productionVersion": "V2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    arm(
        &w,
        json!({"route": "http://127.0.0.1:9/*", "kind": "notificationTimeout", "count": 1}),
    )
    .await;
    let r = w
        .call(
            "POST",
            "/crabapple/admin/commerce/purchase",
            None,
            Some(json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "customer": "faulted", "environment": "production"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    w.call("POST", "/crabapple/admin/commerce/run-due", None, None)
        .await;
    let list = w
        .call(
            "GET",
            "/crabapple/admin/commerce/notifications?bundleId=com.crabapple.notes&limit=1",
            None,
            None,
        )
        .await
        .json();
    let attempts = &list["data"][0]["sendAttempts"];
    assert_eq!(attempts[0]["sendAttemptResult"], "TIMED_OUT");
    assert_eq!(
        list["data"][0]["state"], "pending",
        "Apple retries it later"
    );
    let faults = w
        .call("GET", "/crabapple/admin/faults", None, None)
        .await
        .json();
    assert_eq!(
        (faults[0]["fired"].clone(), faults[0]["count"].clone()),
        (json!(1), json!(0))
    );
}

/// A seed file's `faults:` are armed when the world loads (and a reset re-arms them).
#[tokio::test]
async fn a_seed_file_arms_its_faults() {
    let dir = temp_dir("faults-seed");
    let seed = dir.join("seed.yaml");
    std::fs::write(
        &seed,
        "faults:\n  - route: GET /v1/apps\n    kind: status\n    status: 500\n",
    )
    .unwrap();
    let w = open(
        dir.join("data"),
        crabapple_server::setup::WorldChoice::SeedFile(seed),
        100_000,
    )
    .await;
    let r = w.get("/v1/apps").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.header("x-crabapple-reason").unwrap(),
        "injected fault f1 (status 500) on GET /v1/apps"
    );
    w.call("DELETE", "/crabapple/admin/faults", None, None)
        .await;
    assert_eq!(w.get("/v1/apps").await.status, 200);
    assert_eq!(
        w.call("POST", "/crabapple/admin/reset", None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        w.get("/v1/apps").await.status,
        500,
        "the reset world arms its faults again"
    );
}
