//! Writers in several processes share one data directory (issue 8): a real `crabapple serve`
//! takes API writes while `crabapple purchase` processes write the same SQLite store. No writer
//! fails with `database is locked`, no client sees a 5xx, every CLI event is visible through the
//! API and delivered, and the server's resource cache and clock see another process's commit at
//! once.
//!
//! Needs the `crabapple` binary (see `kill9.rs`). The larger form is `scripts/soak.sh writers`
//! (`CRABAPPLE_WRITERS_EVENTS`, `CRABAPPLE_WRITERS_PARALLEL`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crabapple_store::Store;
use serde_json::{Value, json};

use crate::common::TempDir;
use crate::kill9::{Server, binary};
use crate::world::Receiver;

const BUNDLE: &str = "com.example.writers";
const GEMS: &str = "com.example.writers.gems";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `crabapple purchase`: `Ok(notificationUUID)` or `Err(stderr)`.
fn cli_purchase(bin: &Path, data: &Path, customer: &str) -> Result<String, String> {
    let out = Command::new(bin)
        .env_remove("CRABAPPLE_TEST_DATABASE_URL")
        .args([
            "purchase",
            "--json",
            "--bundle-id",
            BUNDLE,
            "--product",
            GEMS,
        ])
        .args(["--customer", customer, "--data"])
        .arg(data)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    v["notifications"][0]["notificationUUID"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no notification in {v}"))
}

#[derive(Default)]
struct ApiTally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    server_errors: AtomicUsize,
    first_failure: std::sync::Mutex<Option<String>>,
}

/// Writes through the API until `stop`: new bundle ids (App Store Connect resources) and
/// purchases (the admin commerce API), alternately; purchases' notification ids go to `uuids`.
async fn api_writer(
    base: String,
    token: String,
    n: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<ApiTally>,
    uuids: Arc<std::sync::Mutex<Vec<String>>>,
) {
    let c = reqwest::Client::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let (path, body) = if i % 2 == 0 {
            (
                "/crabapple/admin/resources/bundleIds",
                json!({"attributes": {"identifier": format!("com.example.w{n}.b{i}"), "name": "W", "platform": "IOS"}}),
            )
        } else {
            (
                "/crabapple/admin/commerce/purchase",
                json!({"bundleId": BUNDLE, "productId": GEMS, "customer": format!("api-{n}")}),
            )
        };
        let r = c
            .post(format!("{base}{path}"))
            .header("x-crabapple-admin-token", &token)
            .json(&body)
            .send()
            .await;
        let (status, v) = match r {
            Ok(r) => (r.status(), r.json::<Value>().await.unwrap_or(Value::Null)),
            Err(e) => {
                tally.failed.fetch_add(1, Ordering::SeqCst);
                tally
                    .first_failure
                    .lock()
                    .unwrap()
                    .get_or_insert(e.to_string());
                continue;
            }
        };
        if status.is_success() {
            tally.ok.fetch_add(1, Ordering::SeqCst);
            if let Some(u) = v["notifications"][0]["notificationUUID"].as_str() {
                uuids.lock().unwrap().push(u.to_string());
            }
        } else {
            tally.failed.fetch_add(1, Ordering::SeqCst);
            if status.is_server_error() {
                tally.server_errors.fetch_add(1, Ordering::SeqCst);
            }
            tally
                .first_failure
                .lock()
                .unwrap()
                .get_or_insert(format!("POST {path}: {status} {v}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_events_while_the_server_writes_never_fail() {
    let events = env_usize("CRABAPPLE_WRITERS_EVENTS", 200);
    let parallel = env_usize("CRABAPPLE_WRITERS_PARALLEL", 4);
    let bin = binary();
    let dir = TempDir::new("writers");
    let rx = Receiver::start().await;
    let s = Server::start(&bin, dir.path()).await;
    s.app_with_consumable(BUNDLE, GEMS, &rx).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(ApiTally::default());
    let api_uuids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(api_writer(
                s.base.clone(),
                s.token.clone(),
                n,
                stop.clone(),
                tally.clone(),
                api_uuids.clone(),
            ))
        })
        .collect();

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let cli: Vec<_> = (0..parallel)
        .map(|_| {
            let (bin, data, next) = (bin.clone(), dir.path().to_path_buf(), next.clone());
            tokio::task::spawn_blocking(move || {
                let mut out: Vec<Result<String, String>> = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= events {
                        return out;
                    }
                    out.push(cli_purchase(&bin, &data, &format!("cli-{i}")));
                }
            })
        })
        .collect();
    let mut cli_uuids = Vec::new();
    let mut cli_failures = Vec::new();
    for h in cli {
        for r in h.await.unwrap() {
            match r {
                Ok(u) => cli_uuids.push(u),
                Err(e) => cli_failures.push(e),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let api_ok = tally.ok.load(Ordering::SeqCst);
    eprintln!(
        "{events} CLI events ({parallel} at a time) and {api_ok} API writes in {elapsed:?}: \
         {} CLI failures, {} API failures ({} 5xx)",
        cli_failures.len(),
        tally.failed.load(Ordering::SeqCst),
        tally.server_errors.load(Ordering::SeqCst),
    );
    assert_eq!(
        cli_failures.len(),
        0,
        "CLI failures, first: {:?}",
        cli_failures.first()
    );
    assert_eq!(
        tally.failed.load(Ordering::SeqCst),
        0,
        "API failures, first: {:?}",
        tally.first_failure.lock().unwrap()
    );
    assert!(api_ok > 0, "the API writers wrote nothing");

    // Every event of every process is in the outbox, and the CLI's reach the receiver.
    let api_uuids = api_uuids.lock().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = s
            .admin("GET", "/commerce/notifications?limit=100000", Value::Null)
            .await;
        let state: HashMap<&str, &str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| Some((n["notificationUUID"].as_str()?, n["state"].as_str()?)))
            .collect();
        for u in cli_uuids.iter().chain(&api_uuids) {
            assert!(
                state.contains_key(u.as_str()),
                "notification {u} is not listed"
            );
        }
        let pending = cli_uuids
            .iter()
            .filter(|u| state[u.as_str()] != "delivered")
            .count();
        if pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} CLI notifications not delivered"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let received = rx.received.lock().unwrap().len();
    assert!(
        received >= cli_uuids.len(),
        "the receiver got {received} notifications"
    );
}

/// The database file of a data directory (what `crabapple serve --data` opens).
fn db_of(dir: &Path) -> PathBuf {
    dir.join("crabapple.db")
}

#[tokio::test]
async fn another_process_write_is_seen_at_once() {
    let bin = binary();
    let dir = TempDir::new("coherence");
    let rx = Receiver::start().await;
    let s = Server::start(&bin, dir.path()).await;
    let app_id = s.app_with_consumable(BUNDLE, GEMS, &rx).await;

    // A resource the server has read (and cached) is changed by another connection.
    let path = format!("/resources/apps/{app_id}");
    let before = s.admin("GET", &path, Value::Null).await;
    assert_eq!(before["attributes"]["name"], "Example");
    let other = Store::open(&db_of(dir.path())).await.unwrap();
    let mut attrs = before["attributes"].as_object().unwrap().clone();
    attrs.insert("name".into(), json!("Renamed elsewhere"));
    let mut tx = other.begin().await.unwrap();
    tx.put("apps", &app_id, &attrs).await.unwrap();
    tx.commit().await.unwrap();
    let after = s.admin("GET", &path, Value::Null).await;
    assert_eq!(
        after["attributes"]["name"], "Renamed elsewhere",
        "the server served its cached copy"
    );

    // `crabapple clock advance` in another process moves the server's clock before its next
    // answer (not at its next periodic reload).
    let offset = |v: &Value| v["clock"]["offsetMs"].as_i64().unwrap();
    for round in 1..=5 {
        let was = offset(&s.admin("GET", "/status", Value::Null).await);
        let out = Command::new(&bin)
            .env_remove("CRABAPPLE_TEST_DATABASE_URL")
            .args(["clock", "advance", "1h", "--data"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let now = offset(&s.admin("GET", "/status", Value::Null).await);
        assert_eq!(
            now,
            was + 3_600_000,
            "round {round}: the server's clock is stale"
        );
    }
}
