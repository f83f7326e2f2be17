//! Benchmarks (ignored by default; numbers on stdout):
//!
//! ```sh
//! cargo test -p crabapple-storekit --test commerce bench -- --ignored --nocapture --test-threads 1
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use crabapple_auth::{ApiKey, KeyKind, Verifier, generate_key, mint_storekit_token};
use crabapple_storekit::verify::verify_jws;
use crabapple_storekit::{Commerce, Host};
use serde_json::{Value, json};

use crate::world::*;

pub struct TestHost {
    pub commerce: Arc<Commerce>,
    pub verifier: Verifier,
    pub key: ApiKey,
}

impl Host for TestHost {
    fn commerce(&self) -> &Arc<Commerce> {
        &self.commerce
    }
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
    fn api_key(&self, key_id: &str) -> Option<ApiKey> {
        (key_id == self.key.key_id).then(|| self.key.clone())
    }
}

#[tokio::test]
#[ignore = "benchmark: prints throughput, run on demand with --ignored --nocapture"]
async fn bench_es256_sign_and_verify() {
    let w = World::new().await;
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": MONTHLY}),
        )
        .await
        .unwrap();
    let payload = p["transaction"].clone();
    let n = 2_000;
    let t = Instant::now();
    let mut last = String::new();
    for _ in 0..n {
        last = w.pki.sign(&payload);
    }
    let sign = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n / 4 {
        verify_jws(&last, w.pki.root_der()).unwrap();
    }
    let verify = (n / 4) as f64 / t.elapsed().as_secs_f64();
    println!(
        "BENCH es256: {sign:.0} signs/s, {verify:.0} full verifications/s (chain + OIDs + signature), one core, debug build"
    );
}

#[tokio::test]
#[ignore = "benchmark: prints throughput, run on demand with --ignored --nocapture"]
async fn bench_notifications_delivered_per_second() {
    let w = World::new().await;
    let rx = Receiver::start().await;
    w.set_urls(Some(&rx.url("prod")), Some(&rx.url("sandbox")))
        .await;
    let n = 2_000;
    let t = Instant::now();
    for _ in 0..n {
        w.event("purchase", json!({"bundleId": BUNDLE, "productId": GEMS}))
            .await
            .unwrap();
    }
    let produced = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s = w.commerce.run_due(w.store.now_ms()).await.unwrap();
    let delivered = s.delivered as f64 / t.elapsed().as_secs_f64();
    assert_eq!(s.delivered, n);
    assert_eq!(rx.received.lock().unwrap().len(), n as usize);
    println!(
        "BENCH notifications: {produced:.0} events/s produced (transaction + signed notification + outbox row, one SQL transaction each), {delivered:.0} signed notifications/s delivered to a local receiver (16 concurrent POSTs), debug build"
    );
}

#[tokio::test]
#[ignore = "benchmark: prints throughput, run on demand with --ignored --nocapture"]
async fn bench_history_paging_10k() {
    let w = World::new().await;
    let n = 10_000;
    let t = Instant::now();
    let mut first = None;
    for _ in 0..n {
        let p = w
            .event(
                "purchase",
                json!({"bundleId": BUNDLE, "productId": GEMS, "customer": "whale"}),
            )
            .await
            .unwrap();
        first.get_or_insert(p["transactionId"].as_str().unwrap().to_string());
    }
    println!(
        "BENCH setup: {n} purchases in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let first = first.unwrap();

    let g = generate_key(KeyKind::InAppPurchase);
    let key = g.to_api_key("issuer-bench", &[], "bench");
    let host = Arc::new(TestHost {
        commerce: w.commerce.clone(),
        verifier: Verifier::default(),
        key,
    });
    let app = crabapple_storekit::router::<TestHost>().with_state(host);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let now = w.store.clock.wall_ms() / 1000;
    let token =
        mint_storekit_token(&g.pkcs8_pem, &g.key_id, "issuer-bench", BUNDLE, now, 3000).unwrap();

    let mut latencies: Vec<Duration> = Vec::new();
    let mut revision: Option<String> = None;
    let mut total = 0;
    let t = Instant::now();
    loop {
        let mut url = format!("{base}/sandbox/inApps/v2/history/{first}");
        if let Some(r) = &revision {
            url.push_str(&format!("?revision={r}"));
        }
        let t1 = Instant::now();
        let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        latencies.push(t1.elapsed());
        total += v["signedTransactions"].as_array().unwrap().len();
        revision = Some(v["revision"].as_str().unwrap().to_string());
        if !v["hasMore"].as_bool().unwrap() {
            break;
        }
    }
    let all = t.elapsed();
    assert_eq!(total, n);
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "BENCH history: {n} transactions of one customer, {} pages of 20 in {:.2} s over HTTP (JWT check, query, 20 ES256 signatures per page): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, debug build",
        latencies.len(),
        all.as_secs_f64(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
    // Filtered and descending paging stay index-driven too.
    let t1 = Instant::now();
    let r = http
        .get(format!(
            "{base}/sandbox/inApps/v2/history/{first}?sort=DESCENDING&productType=CONSUMABLE"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    println!(
        "BENCH history: first DESCENDING filtered page {:.2} ms",
        t1.elapsed().as_secs_f64() * 1000.0
    );
}
