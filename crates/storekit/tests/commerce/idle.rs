//! Issue 12, idle worlds: the delivery loop ([`Commerce::spawn`]) sleeps until the earliest
//! scheduled work or a commit, instead of looking at the ledger every 250 ms (a hundred idle
//! worlds on one PostgreSQL instance sent it ~400 statements a second). Work is still run on
//! time: a renewal due in 2 virtual seconds (the clock runs with the wall clock), and one another
//! process's clock advance made due.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crabapple_store::Store;
use crabapple_storekit::ledger::LedgerStore;
use crabapple_storekit::{Commerce, Pki};
use serde_json::json;

use crate::common::TempDir;
use crate::world::{BUNDLE, MONTHLY, World};

/// A monthly subscription bought now: its original transaction id and when its renewal is due.
async fn subscription(w: &World) -> (String, i64) {
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "ann"}),
        )
        .await
        .unwrap();
    let orig = p["transactionId"].as_str().unwrap().to_string();
    let s = w.store.ledger_subscription(&orig).await.unwrap().unwrap();
    (orig, s.next_event_ms.expect("a renewal is scheduled"))
}

/// Waits (at most 10 s) until the scheduler ran the subscription's step due at `due`.
async fn stepped(store: &Store, orig: &str, due: i64) -> Duration {
    let started = Instant::now();
    loop {
        let s = store.ledger_subscription(orig).await.unwrap().unwrap();
        if s.next_event_ms != Some(due) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the renewal due at {due} was not run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_an_idle_loop_runs_a_renewal_due_in_two_virtual_seconds_on_time() {
    let w = World::new().await;
    let (orig, due) = subscription(&w).await;
    let handle = w.commerce.spawn();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The renewal comes due 2 s from now; the advance (a commit here) wakes the loop, which
    // then sleeps until then.
    w.store
        .advance_clock(due - w.store.now_ms() - 2_000)
        .await
        .unwrap();
    let took = stepped(&w.store, &orig, due).await;
    handle.abort();
    assert!(
        took >= Duration::from_millis(1_800) && took < Duration::from_millis(3_000),
        "run {took:?} after the advance, due 2 s after it"
    );
}

/// SQLite: another process (here a second store on the same file, as `crabapple clock advance`
/// opens one) moves the clock past the renewal: the loop sees the commit in the WAL index within
/// a look ([`crabapple_store::commits::SQLITE_LOOK`]) and runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_an_idle_loop_runs_what_another_processs_clock_advance_made_due() {
    let w = World::new().await;
    let (orig, due) = subscription(&w).await;
    let handle = w.commerce.spawn();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other = Store::open(&w.dir.path().join("crabapple.db"))
        .await
        .unwrap();
    other
        .advance_clock(due - other.now_ms() + 1_000)
        .await
        .unwrap();
    let took = stepped(&w.store, &orig, due).await;
    handle.abort();
    assert!(
        took < Duration::from_millis(1_500),
        "run {took:?} after the other process's advance"
    );
}

/// An idle scheduler sends its store nothing for 6 s (it used to look every 250 ms: about 24
/// looks), counted by the store's pools ([`Store::pool_uses`]); a wake makes it look again.
async fn idle_for_six_seconds(store: &Store, commerce: &Arc<Commerce>) {
    let handle = commerce.spawn();
    // The first passes: at the start, and on PostgreSQL when the listening session begins.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = store.pool_uses();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = store.pool_uses();
    commerce.wake();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let woken = store.pool_uses();
    handle.abort();
    assert_eq!(after, before, "statements of an idle scheduler");
    assert!(woken > after, "a wake looks at the ledger");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_an_idle_worlds_scheduler_sends_sqlite_no_statement_for_six_seconds() {
    let w = World::new().await;
    subscription(&w).await;
    idle_for_six_seconds(&w.store, &w.commerce).await;
}

/// PostgreSQL, the case of issue 12 (a hundred idle worlds on one instance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_an_idle_worlds_scheduler_sends_postgresql_no_statement_for_six_seconds() {
    let url = crate::common::postgres_url();
    let dir = TempDir::new("idle-pg");
    let schema = format!("idle_{}", std::process::id());
    let store = Store::connect_schema(&url, &schema, dir.path())
        .await
        .unwrap();
    let commerce = Commerce::new(store.clone(), Arc::new(Pki::generate().unwrap()));
    idle_for_six_seconds(&store, &commerce).await;
    drop((commerce, store));
    Store::drop_schema(&url, &schema).await.unwrap();
}
