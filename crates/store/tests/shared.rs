//! Two `Store`s on one database file stand for two processes (a server and a CLI command):
//! a writer waits out the other's lock even past SQLite's busy timeout, and a store sees the
//! other's commits after `see_other_writers` — at a measured cost per call.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crabapple_store::Store;
use serde_json::{Map, Value, json};
use sqlx::Connection;

struct TempDb(PathBuf);

impl TempDb {
    fn new(label: &str) -> TempDb {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "crabapple-store-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDb(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("crabapple.db")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_waits_out_a_lock_held_longer_than_the_busy_timeout() {
    let db = TempDb::new("lock");
    let a = Store::open(&db.file()).await.unwrap();
    let b = Store::open(&db.file()).await.unwrap();
    // `a` holds the write lock for 7 s: more than one busy timeout (5 s), so `b` only gets
    // through because its BEGIN IMMEDIATE is retried.
    let mut held = a.begin().await.unwrap();
    held.put("apps", "1", &attrs(json!({"name": "held"})))
        .await
        .unwrap();
    let started = Instant::now();
    let waiter = tokio::spawn(async move {
        let mut tx = b.begin().await.unwrap();
        let waited = started.elapsed();
        tx.put("apps", "2", &attrs(json!({"name": "waited"})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        waited
    });
    tokio::time::sleep(Duration::from_secs(7)).await;
    held.commit().await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(waited >= Duration::from_secs(7), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    a.see_other_writers().await.unwrap();
    assert_eq!(
        a.get("apps", "2").await.unwrap().unwrap().attributes["name"],
        "waited"
    );
}

/// Two stores on one new database file (a server and a CLI process); the first wrote app `1`
/// (`name` "before") and has it cached.
async fn two_stores_with_app_1_cached(label: &str) -> (TempDb, Store, Store) {
    let db = TempDb::new(label);
    let server = Store::open(&db.file()).await.unwrap();
    let cli = Store::open(&db.file()).await.unwrap();
    let mut tx = server.begin().await.unwrap();
    tx.put("apps", "1", &attrs(json!({"name": "before"})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    server.see_other_writers().await.unwrap();
    assert_eq!(
        server.get("apps", "1").await.unwrap().unwrap().attributes["name"],
        "before",
        "now cached"
    );
    (db, server, cli)
}

#[tokio::test]
async fn another_stores_commit_is_seen_and_the_check_is_cheap() {
    let (_db, server, cli) = two_stores_with_app_1_cached("coherence").await;

    // This store's own commits are not another process's: the cache is kept.
    let mut tx = server.begin().await.unwrap();
    tx.put("apps", "9", &attrs(json!({"name": "own"})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!server.see_other_writers().await.unwrap());

    // Nothing changed: the check is one PRAGMA on an idle connection.
    let n = 2_000;
    let started = Instant::now();
    for _ in 0..n {
        assert!(!server.see_other_writers().await.unwrap());
    }
    let per_call = started.elapsed() / n;
    eprintln!("see_other_writers without a change: {per_call:?} per call");
    assert!(per_call < Duration::from_millis(2), "{per_call:?}");

    // Another store writes the cached resource and moves the clock.
    let mut tx = cli.begin().await.unwrap();
    tx.put("apps", "1", &attrs(json!({"name": "after"})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    cli.advance_clock(3_600_000).await.unwrap();
    assert_eq!(
        server.get("apps", "1").await.unwrap().unwrap().attributes["name"],
        "before",
        "without the check the cache is stale (what the check is for)"
    );
    assert!(server.see_other_writers().await.unwrap());
    assert_eq!(
        server.get("apps", "1").await.unwrap().unwrap().attributes["name"],
        "after"
    );
    assert_eq!(server.clock.offset_ms(), 3_600_000);

    // Both advance the clock: neither advance is lost.
    server.advance_clock(60_000).await.unwrap();
    cli.advance_clock(60_000).await.unwrap();
    server.see_other_writers().await.unwrap();
    assert_eq!(server.clock.offset_ms(), 3_720_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_opening_a_new_database_at_once_migrate_it_once() {
    for round in 0..5 {
        let db = TempDb::new("open");
        let opens: Vec<_> = (0..6)
            .map(|_| {
                let file = db.file();
                tokio::spawn(async move { Store::open(&file).await.map(|_| ()) })
            })
            .collect();
        for o in opens {
            o.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
        }
    }
}

/// Issue 12 (replicas): another process's commits that wrote no resources (deliveries, the
/// ledger, settings) leave this process's cache of resources as it is; one that wrote any
/// resource empties it. (The row changed underneath below, without a transaction's tokens,
/// shows which of the two the cache did.)
#[tokio::test]
async fn only_another_stores_resource_writes_empty_the_cache() {
    let (db, server, cli) = two_stores_with_app_1_cached("resources-token").await;
    let name = |s: &Store| {
        let s = s.clone();
        async move { s.get("apps", "1").await.unwrap().unwrap().attributes["name"].clone() }
    };
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.file().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE resources SET attributes = '{\"name\":\"underneath\"}' WHERE id = '1'")
        .execute(&mut raw)
        .await
        .unwrap();
    // A settings write of another process: seen, and the cache kept.
    cli.meta_set("commerce.settings", "{}").await.unwrap();
    assert!(server.see_other_writers().await.unwrap());
    assert_eq!(name(&server).await, "before");
    // A resource write of another process: the cache goes.
    let mut tx = cli.begin().await.unwrap();
    tx.put("apps", "2", &attrs(json!({"name": "other"})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(server.see_other_writers().await.unwrap());
    assert_eq!(name(&server).await, "underneath");
}
