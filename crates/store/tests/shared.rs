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

/// The suite's PostgreSQL (the tests of replicas need one; scripts/test.sh starts it).
fn postgres_url() -> String {
    std::env::var("CRABAPPLE_TEST_POSTGRES_URL").expect(
        "CRABAPPLE_TEST_POSTGRES_URL: start PostgreSQL with `scripts/pg.sh start` and export the \
         URL it prints (scripts/test.sh does both)",
    )
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

/// A look that finds the WAL index unchanged answers without asking SQLite (shared.rs
/// `WalIndex`); no commit of another store is missed by it: 200 commits of the other store,
/// of resources and of `meta` alone, each seen at the next look, and a second look sees nothing.
#[tokio::test]
async fn every_commit_of_another_store_is_seen_at_the_next_look_through_the_wal_index() {
    let (_db, server, cli) = two_stores_with_app_1_cached("wal-index").await;
    for i in 0..200 {
        if i % 2 == 0 {
            let mut tx = cli.begin().await.unwrap();
            tx.put("apps", "1", &attrs(json!({"name": format!("v{i}")})))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        } else {
            cli.meta_set("commerce.settings", &format!("{{\"i\":{i}}}"))
                .await
                .unwrap();
        }
        assert!(server.see_other_writers().await.unwrap(), "commit {i}");
        assert!(
            !server.see_other_writers().await.unwrap(),
            "after commit {i}"
        );
        let name = server.get("apps", "1").await.unwrap().unwrap().attributes["name"].clone();
        assert_eq!(name, format!("v{}", i - i % 2), "commit {i}");
    }
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

/// Issue 12 "rate limits per key as Apple's hourly quota across replicas (SQL counter)": two
/// stores of one PostgreSQL schema (two replicas; a SQLite server counts in memory) alternate 300 hits of a key limited to 250 per hour —
/// most counted in memory (quota.rs) far from the limit, every one exactly near it — and
/// exactly 250 are allowed, the last with 0 remaining.
#[tokio::test]
async fn a_keys_quota_counted_in_memory_far_from_its_limit_stays_exact_across_two_stores() {
    let url = postgres_url();
    let dir = TempDb::new("quota");
    let schema = format!("s_quota_{}", std::process::id());
    let a = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    let b = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    let now = 1_800_000_000_000;
    let mut allowed = 0;
    let mut last_remaining = None;
    for i in 0..300 {
        let store = if i % 2 == 0 { &a } else { &b };
        let q = store
            .quota_hit("KEY", 250, 3_600_000, now + i)
            .await
            .unwrap();
        if q.allowed {
            allowed += 1;
            last_remaining = Some(q.remaining);
        } else {
            assert_eq!(q.remaining, 0, "hit {i}");
        }
    }
    assert_eq!(allowed, 250);
    assert_eq!(last_remaining, Some(0));
    // Far from the limit most hits are counted in memory (a store holds a quarter of the room
    // below 150 its last exact count left); near it, as each store sees it, every one is exact,
    // the 50 refused ones included.
    let exact = a.quota_exact_counts() + b.quota_exact_counts();
    assert!((50..170).contains(&exact), "{exact} exact counts");
    drop((a, b));
    Store::drop_schema(&url, &schema).await.unwrap();
}

/// A busy key far below its limit costs about one exact count a second, not one per fixed
/// number of hits (quota.rs: a replica holds up to a quarter of the room below its limit, at
/// most `HELD_MAX`): 10,000 hits within a second of a key limited to 100,000,000 an hour are 3
/// exact counts (the first, then one per 4,096 held hits), and every hit sees its remaining count.
#[tokio::test]
async fn a_busy_key_far_below_its_limit_costs_about_one_exact_count_a_second() {
    let url = postgres_url();
    let dir = TempDb::new("quota-busy");
    let schema = format!("s_quota_busy_{}", std::process::id());
    let a = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    let now = 1_800_000_000_000;
    for i in 0..10_000 {
        let q = a
            .quota_hit("KEY", 100_000_000, 3_600_000, now + i / 20)
            .await
            .unwrap();
        assert!(q.allowed);
        assert_eq!(q.remaining, 100_000_000 - 1 - i, "hit {i}");
    }
    assert_eq!(a.quota_exact_counts(), 3);
    // A second after the last exact count the held hits are written with the next one.
    a.quota_hit("KEY", 100_000_000, 3_600_000, now + 1_500)
        .await
        .unwrap();
    assert_eq!(a.quota_exact_counts(), 4);
    drop(a);
    Store::drop_schema(&url, &schema).await.unwrap();
}

/// A reset of a key's counts (the Server API's budgets rescaled on one replica) is a fresh
/// start on every replica: hits another replica held in memory from before are forgotten with
/// `quota_forget` (which that replica runs when it adopts the new settings), not written later
/// against the new budget — so a new limit of 1 allows exactly the first hit.
#[tokio::test]
async fn after_a_quota_reset_hits_another_store_held_in_memory_do_not_count() {
    let url = postgres_url();
    let dir = TempDb::new("quota-reset");
    let schema = format!("s_quota_reset_{}", std::process::id());
    let a = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    let b = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    let now = 1_800_000_000_000;
    // Far below its limit: `b` holds most of these hits in memory.
    for i in 0..20 {
        assert!(
            b.quota_hit("p|KEY", 10_000, 3_600_000, now + i)
                .await
                .unwrap()
                .allowed
        );
    }
    a.quota_reset("p|").await.unwrap();
    b.quota_forget("p|");
    let first = b.quota_hit("p|KEY", 1, 3_600_000, now + 100).await.unwrap();
    let second = a.quota_hit("p|KEY", 1, 3_600_000, now + 101).await.unwrap();
    assert_eq!((first.allowed, first.remaining), (true, 0));
    assert_eq!((second.allowed, second.remaining), (false, 0));
    drop((a, b));
    Store::drop_schema(&url, &schema).await.unwrap();
}

/// Two stores of one PostgreSQL schema, each a serving replica (issue 12); `a` has app `1`
/// cached; both rely on notifications when this returns.
async fn two_replicas_relying_on_notifications(
    case: &str,
) -> (String, String, TempDb, Store, Store) {
    crabapple_store::notify::serve_replicas();
    let url = postgres_url();
    let dir = TempDb::new(case);
    let schema = format!("s_{case}_{}", std::process::id());
    let a = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    // The registration of a replica gone long ago: the next replica to join removes it.
    a.meta_set("listener.gone", "1").await.unwrap();
    let b = Store::connect_schema(&url, &schema, &dir.0).await.unwrap();
    let mut tx = a.begin().await.unwrap();
    tx.put("apps", "1", &attrs(json!({"name": "before"})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A replica relies on its notifications once registered for notify::LEASE_MS.
    let started = Instant::now();
    while !(a.relies_on_notifications() && b.relies_on_notifications()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never relied on notifications"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.see_other_writers().await.unwrap();
    b.see_other_writers().await.unwrap();
    assert_eq!(
        a.get("apps", "1").await.unwrap().unwrap().attributes["name"],
        "before"
    );
    assert_eq!(a.meta_get("listener.gone").await.unwrap(), None);
    (url, schema, dir, a, b)
}

async fn rename(store: &Store, name: &str) {
    let mut tx = store.begin().await.unwrap();
    tx.put("apps", "1", &attrs(json!({"name": name})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Issue 12 "replicas invalidate through LISTEN/NOTIFY on PostgreSQL; a write on replica A is
/// visible on replica B at the next request": 200 writes alternating between two replicas, each
/// read back at once on the other one from its cache — never stale, and no write token read
/// (each replica relies on its notifications throughout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_is_seen_by_the_other_at_its_next_request_by_notifications() {
    let (url, schema, _dir, a, b) = two_replicas_relying_on_notifications("notify").await;
    for i in 0..200 {
        let (writer, reader) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let name = format!("name {i}");
        rename(writer, &name).await;
        assert!(reader.relies_on_notifications(), "write {i}");
        assert!(
            reader.see_other_writers().await.unwrap(),
            "write {i} noticed"
        );
        let seen = reader.get("apps", "1").await.unwrap().unwrap();
        assert_eq!(seen.attributes["name"], name.as_str(), "write {i}");
        // Read again from the cache: no other commit since.
        assert!(!reader.see_other_writers().await.unwrap());
    }
    drop((a, b));
    Store::drop_schema(&url, &schema).await.unwrap();
}

/// notify.rs: a replica whose listening session is lost stops relying on notifications (it
/// reads the write token at each check until it listens again and has been registered for a
/// lease), and a writer waits at most a lease for the acknowledgement it will not get — nothing
/// stale is ever read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_listening_session_falls_back_to_reading_the_token() {
    let (url, schema, _dir, a, b) = two_replicas_relying_on_notifications("lost").await;
    // This process's one listening session (listen.rs) is ended by the server.
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(listener_name())
    .execute(&mut admin)
    .await
    .unwrap();
    let started = Instant::now();
    let mut fell_back = false;
    for i in 0..40 {
        let name = format!("after {i}");
        rename(&b, &name).await;
        fell_back |= !a.relies_on_notifications();
        a.see_other_writers().await.unwrap();
        assert_eq!(
            a.get("apps", "1").await.unwrap().unwrap().attributes["name"],
            name.as_str()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        fell_back,
        "a replica without its listening session relied on notifications"
    );
    // Listening again, both rely on notifications after a lease.
    while !(a.relies_on_notifications() && b.relies_on_notifications()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never listened again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rename(&b, "listening again").await;
    a.see_other_writers().await.unwrap();
    assert_eq!(
        a.get("apps", "1").await.unwrap().unwrap().attributes["name"],
        "listening again"
    );
    drop((a, b));
    Store::drop_schema(&url, &schema).await.unwrap();
}

/// The `application_name` of this process's listening session (listen.rs).
fn listener_name() -> String {
    format!("crabapple-listener {}", std::process::id())
}

/// How many listening sessions this process holds on the database at `url`.
async fn listening_sessions(url: &str) -> i64 {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(listener_name())
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

/// listen.rs (issue 12: a hundred worlds on one database, each open on every replica): the
/// serving stores of twenty worlds open in one process, and a second replica of one of them,
/// share one listening session — one connection in `pg_stat_activity` — each relying on its
/// notifications and hearing only its own world's commits; the session ends with the last store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_worlds_open_in_one_process_share_one_listening_session() {
    crabapple_store::notify::serve_replicas();
    let url = postgres_url();
    let dir = TempDb::new("twenty");
    let schemas: Vec<String> = (0..20)
        .map(|n| format!("s_twenty_{n}_{}", std::process::id()))
        .collect();
    let mut worlds = Vec::new();
    for schema in &schemas {
        worlds.push(Store::connect_schema(&url, schema, &dir.0).await.unwrap());
    }
    let replica = Store::connect_schema(&url, &schemas[0], &dir.0)
        .await
        .unwrap();
    let started = Instant::now();
    while !(replica.relies_on_notifications() && worlds.iter().all(|w| w.relies_on_notifications()))
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never relied on notifications"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listening_sessions(&url).await, 1);
    for w in &worlds {
        w.see_other_writers().await.unwrap();
    }
    replica.see_other_writers().await.unwrap();
    // A write on the second replica of world 0 is heard by world 0 only.
    rename(&replica, "heard").await;
    assert!(worlds[0].relies_on_notifications());
    assert!(worlds[0].see_other_writers().await.unwrap());
    assert_eq!(
        worlds[0]
            .get("apps", "1")
            .await
            .unwrap()
            .unwrap()
            .attributes["name"],
        "heard"
    );
    for w in &worlds[1..] {
        assert!(w.relies_on_notifications());
        assert!(!w.see_other_writers().await.unwrap());
    }
    assert_eq!(listening_sessions(&url).await, 1);
    drop((worlds, replica));
    let closing = Instant::now();
    while listening_sessions(&url).await > 0 {
        assert!(
            closing.elapsed() < Duration::from_secs(10),
            "the listening session outlived its stores"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for schema in &schemas {
        Store::drop_schema(&url, schema).await.unwrap();
    }
}

/// The write-ahead log's file size.
fn wal_file_bytes(db: &TempDb) -> u64 {
    std::fs::metadata(db.0.join("crabapple.db-wal")).map_or(0, |m| m.len())
}

/// Commits `n` transactions of 40 resources of ~2 KB each while another store (another process)
/// reads in a loop; the largest the log file was after a commit.
async fn largest_log_while_another_reads(db: &TempDb, writer: &Store, n: usize) -> u64 {
    let reader = Store::open(&db.file()).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reading = {
        let stop = stop.clone();
        tokio::spawn(async move {
            // Reads of 20 ms, 2 ms apart, as a busy server's scheduler and downloads do.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut read = reader.read_pool().begin().await.unwrap();
                let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM resources")
                    .fetch_one(&mut *read)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                read.commit().await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut largest = 0;
    for i in 0..n {
        let mut tx = writer.begin().await.unwrap();
        for j in 0..40 {
            let text = format!("{i}-{j}-").repeat(300);
            tx.put("apps", &format!("{i}-{j}"), &attrs(json!({ "name": text })))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        largest = largest.max(wal_file_bytes(db));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reading.await.unwrap();
    largest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_while_another_process_reads() {
    // crates/store/src/wal.rs: SQLite starts its log over only when no one reads it as a writer
    // begins; a server reading at every commit kept `crabapple simulate`'s log growing (19.8 GB).
    // ~20 MB are written each time: 5 times SQLite's own checkpoint threshold (1,000 pages).
    let db = TempDb::new("wal");
    let writer = Store::open(&db.file()).await.unwrap();
    writer.set_wal_limit(6 << 20);
    let bounded = largest_log_while_another_reads(&db, &writer, 250).await;
    assert!(writer.wal_bytes().unwrap() < 7 << 20);
    // The same without a limit, after: SQLite alone let it grow.
    writer.set_wal_limit(0);
    let unbounded = largest_log_while_another_reads(&db, &writer, 250).await;
    eprintln!("largest log: {bounded} bytes with a 6 MB limit, {unbounded} bytes without");
    // A checkpoint that found the reader reading lets one more commit in before the next try.
    assert!(bounded < 12 << 20, "{bounded}");
}
