//! Issue 8's "speed as the store grows": latency of `POST /v1/bundleIds` with 100, 1,000, 10,000
//! and 100,000 bundle IDs stored. A benchmark, not a timed assertion: it prints p50/p99 per size
//! and is `#[ignore]`d in the suite. Run it with
//! `cargo test -p crabapple-server --test scaling -- --ignored --nocapture` (add `--release` for
//! release numbers; `SCALING_MAX` caps the largest size, `SCALING_N` sets creates per size).

mod common;

use crabapple_server::setup::WorldChoice;
use serde_json::{Map, json};
use std::time::{Duration, Instant};

/// Stores bundle IDs directly (one transaction, no HTTP) until the team holds `target` of them.
async fn seed_bundle_ids(w: &common::World, target: i64) {
    let store = w.app.store();
    let have = store.count("bundleIds").await.unwrap();
    let mut tx = store.begin().await.unwrap();
    for n in have..target {
        let mut attrs = Map::new();
        attrs.insert("identifier".into(), json!(format!("com.seeded.app{n}")));
        attrs.insert("name".into(), json!(format!("Seeded {n}")));
        attrs.insert("platform".into(), json!("IOS"));
        tx.put("bundleIds", &format!("SEEDED{n:08}"), &attrs)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark (issue 8): prints the create-latency curve, asserts only that creates succeed"]
async fn create_latency_as_bundle_ids_grow() {
    let w = common::open(common::temp_dir("scaling"), WorldChoice::Demo, u64::MAX / 2).await;
    let max = env_or("SCALING_MAX", 100_000);
    let per_size = env_or("SCALING_N", 200);
    let mut made = 0usize;
    println!("POST /v1/bundleIds, {per_size} creates per size (debug unless --release)");
    for size in [100usize, 1_000, 10_000, 100_000] {
        if size > max {
            break;
        }
        let t = Instant::now();
        seed_bundle_ids(&w, size as i64).await;
        let seeded = t.elapsed();
        let mut lat: Vec<Duration> = Vec::with_capacity(per_size);
        for _ in 0..per_size {
            let body = json!({ "data": { "type": "bundleIds", "attributes": {
                "identifier": format!("com.bench.created{made}"),
                "name": format!("Bench {made}"), "platform": "IOS" } } });
            made += 1;
            let t = Instant::now();
            let r = w
                .call("POST", "/v1/bundleIds", Some(&w.token), Some(body))
                .await;
            lat.push(t.elapsed());
            assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        }
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "{size:>7} bundle IDs: p50 {:>9.2?}  p99 {:>9.2?}  (seeded in {seeded:.1?})",
            p(0.50),
            p(0.99)
        );
    }
}
