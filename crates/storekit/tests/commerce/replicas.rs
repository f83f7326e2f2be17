//! Issue 12 "1,000 parallel purchases across replicas → 1,000 distinct transactions, the ledger
//! and the notification history agree, every notification delivered exactly once per attempt to
//! a test receiver": two `crabapple serve --database` replicas on the suite's PostgreSQL
//! (`CRABAPPLE_TEST_POSTGRES_URL`, scripts/test.sh starts it), each running its delivery loop.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TempDir;
use crate::kill9::{Server, binary};
use crate::world::Receiver;

const PURCHASES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue12_a_thousand_parallel_purchases_across_two_replicas_are_each_delivered_once() {
    let url = crate::common::postgres_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = format!(
        "{url}{sep}options[search_path]=r_purchases_{}",
        std::process::id()
    );
    let bin = binary();
    let dir = TempDir::new("replica-purchases");
    let rx = Receiver::start().await;
    let a = Server::start_on(&bin, dir.path(), Some(&db)).await;
    let b = Server::start_on(&bin, dir.path(), Some(&db)).await;
    a.app_with_consumable("com.example.replicas", "com.example.replicas.gems", &rx)
        .await;
    let servers = Arc::new([a, b]);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..32 {
        let (servers, next) = (servers.clone(), next.clone());
        tasks.spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= PURCHASES {
                    return made;
                }
                let p = servers[i % 2]
                    .admin(
                        "POST",
                        "/commerce/purchase",
                        json!({"bundleId": "com.example.replicas",
                               "productId": "com.example.replicas.gems",
                               "environment": "production",
                               "customer": format!("c{}", i % 50)}),
                    )
                    .await;
                made.push((
                    p["transaction"]["transactionId"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    p["notifications"][0]["notificationUUID"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                ));
            }
        });
    }
    let mut made = Vec::new();
    while let Some(r) = tasks.join_next().await {
        made.extend(r.unwrap());
    }
    eprintln!("{PURCHASES} purchases in {:?}", started.elapsed());
    let transactions: HashSet<&String> = made.iter().map(|(t, _)| t).collect();
    assert_eq!(transactions.len(), PURCHASES, "distinct transaction ids");
    let uuids: HashSet<&String> = made.iter().map(|(_, u)| u).collect();
    assert_eq!(uuids.len(), PURCHASES, "one notification each");

    // Every notification delivered, with exactly one attempt, and the receiver got each once.
    let deadline = Instant::now() + Duration::from_secs(120);
    let history = loop {
        let list = servers[1]
            .admin("GET", "/commerce/notifications?limit=2000", json!(null))
            .await;
        let rows = list["data"].as_array().unwrap().clone();
        let delivered = rows.iter().filter(|n| n["state"] == "delivered").count();
        if delivered == PURCHASES || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        history.len(),
        PURCHASES,
        "the ledger's notification history"
    );
    for n in &history {
        assert_eq!(n["state"], "delivered", "{n}");
        assert_eq!(n["sendAttempts"].as_array().unwrap().len(), 1, "{n}");
        assert!(uuids.contains(&n["notificationUUID"].as_str().unwrap().to_string()));
    }
    let got = rx.received.lock().unwrap().clone();
    let payloads: HashSet<&String> = got.iter().map(|(_, p)| p).collect();
    assert_eq!(got.len(), PURCHASES, "POSTs the receiver got");
    assert_eq!(payloads.len(), PURCHASES, "each notification exactly once");
}
