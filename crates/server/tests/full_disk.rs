//! Issue 8, "Full disk and other storage faults", the form that always runs: SQLite's own
//! `SQLITE_FULL` (13), from the writer connection capped at the database's size with the store's
//! test hook (`Store::limit_pages_for_tests`, `PRAGMA max_page_count`), through the whole server
//! in-process. A capped database refuses every write that needs a new page, so each kind of write
//! is repeated until it is refused: every answer before that is a 2xx whose effect a later read
//! sees, the refusal is Apple's 500 body of its family with the reason "storage full: …", and it
//! left nothing behind (no resource, no ledger row, no notification in the outbox). With the cap
//! lifted, the same server writes again without a restart.
//! (The real thing, a full tmpfs with the binary and the CLI: crates/crabapple/tests/full_disk.rs.)

mod common;

use common::{Resp, World, demo};
use crabapple_storekit::ledger::LedgerStore;
use serde_json::{Value, json};

/// Apple's 500 detail (apple-semantics.md §1.5 error envelope; `AscError::internal`).
const UNEXPECTED_DETAIL: &str = "An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/.";
/// The reason of every refusal for want of space.
const FULL_REASON: &str = "storage full: database or disk is full (SQLite result code 13); nothing was saved - free space where the data directory is, then try again (a running server needs no restart)";
/// A demo app with a sandbox notification URL (crates/asc/world/demo.yaml).
const NOTES: &str = "com.crabapple.notes";
/// How many times a write is repeated at most before the cap must have refused it.
const TRIES: usize = 400;

/// Apple's ASC 500 (§1.5): status, code, title and detail exact; the reason names the cause.
fn assert_full_asc(r: &Resp, what: &str) {
    assert_eq!(
        r.status,
        500,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let e = &r.json()["errors"][0];
    assert_eq!(e["status"], "500", "{what}");
    assert_eq!(e["code"], "UNEXPECTED_ERROR", "{what}");
    assert_eq!(e["title"], "An unexpected error occurred.", "{what}");
    assert_eq!(e["detail"], UNEXPECTED_DETAIL, "{what}");
    assert_eq!(
        r.header("x-crabapple-reason").as_deref(),
        Some(FULL_REASON),
        "{what}"
    );
}

fn bundle_doc(i: &str) -> Value {
    json!({"data": {"type": "bundleIds", "attributes": {
        "name": format!("Full disk {i}"), "identifier": format!("com.example.full.{i}"), "platform": "IOS"}}})
}

/// A request of the Admin key with a JSON document.
async fn send(w: &World, method: &str, path: &str, doc: Value) -> Resp {
    w.call(method, path, Some(&w.token), Some(doc)).await
}

async fn outbox(w: &World) -> usize {
    w.app
        .store()
        .ledger_notifications(None, 1_000_000)
        .await
        .unwrap()
        .len()
}

async fn test_notification(w: &World, token: &str) -> Resp {
    w.call("POST", "/inApps/v1/notifications/test", Some(token), None)
        .await
}

async fn purchase(w: &World, customer: &str) -> Resp {
    buy(w, "com.crabapple.notes.themes", customer).await
}

async fn buy(w: &World, product: &str, customer: &str) -> Resp {
    let body = json!({"bundleId": NOTES, "productId": product, "customer": customer});
    w.call(
        "POST",
        "/crabapple/admin/commerce/purchase",
        None,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn while_storage_is_full_every_write_is_an_honest_500_and_works_again_when_space_returns() {
    // SQLite's own behaviour (its database file), also when the suite runs on PostgreSQL.
    crabapple_server::setup::use_embedded();
    let w = demo().await;
    let iap = w.server_api_token(NOTES).await;
    let store = w.app.store().clone();
    store
        .limit_pages_for_tests(Some(store.page_count().await.unwrap()))
        .await
        .unwrap();

    // POST: every 201 is readable; the refusal created nothing.
    let mut created = Vec::new();
    let refused = loop {
        assert!(created.len() < TRIES, "no POST refused in {TRIES}");
        let i = created.len().to_string();
        let r = send(&w, "POST", "/v1/bundleIds", bundle_doc(&i)).await;
        if r.status != 201 {
            break (i, r);
        }
        created.push(r.json()["data"]["id"].as_str().unwrap().to_string());
    };
    assert_full_asc(&refused.1, "POST /v1/bundleIds");
    eprintln!(
        "{} POSTs acknowledged before the cap refused one",
        created.len()
    );
    let gone = w
        .get(&format!(
            "/v1/bundleIds?filter[identifier]=com.example.full.{}",
            refused.0
        ))
        .await;
    assert_eq!(gone.status, 200);
    assert_eq!(
        gone.json()["data"],
        json!([]),
        "a refused POST left its resource"
    );
    for id in &created {
        assert_eq!(w.get(&format!("/v1/bundleIds/{id}")).await.status, 200);
    }

    // PATCH: longer names, newest first, until one is refused; each 200 is what a GET shows.
    let mut refused = None;
    for id in created.iter().rev() {
        let name = format!("Renamed while the disk fills up {}", "x".repeat(120));
        let doc = json!({"data": {"type": "bundleIds", "id": id, "attributes": {"name": name}}});
        let r = send(&w, "PATCH", &format!("/v1/bundleIds/{id}"), doc).await;
        let after = w.get(&format!("/v1/bundleIds/{id}")).await.json();
        if r.status == 200 {
            assert_eq!(after["data"]["attributes"]["name"], name.as_str());
            continue;
        }
        assert_ne!(
            after["data"]["attributes"]["name"],
            name.as_str(),
            "refused, yet applied"
        );
        refused = Some(r);
        break;
    }
    assert_full_asc(&refused.expect("a PATCH refused"), "PATCH /v1/bundleIds");

    // A commerce event (admin API): refused with the reason, no outbox row left behind.
    let mut refused = None;
    for i in 0..TRIES {
        let before = outbox(&w).await;
        let r = purchase(&w, &format!("full-{i}")).await;
        if r.status == 201 {
            assert_eq!(outbox(&w).await, before + 1, "a purchase notifies once");
            let id = r.json()["transactionId"].as_str().unwrap().to_string();
            let t = w
                .call(
                    "GET",
                    &format!("/crabapple/admin/commerce/transactions/{id}"),
                    None,
                    None,
                )
                .await;
            assert_eq!(t.status, 200, "an acknowledged purchase is stored");
            continue;
        }
        assert_eq!(
            outbox(&w).await,
            before,
            "a refused purchase left a notification"
        );
        refused = Some(r);
        break;
    }
    let r = refused.expect("a purchase refused");
    assert_eq!(r.status, 500);
    assert_eq!(r.json(), json!({ "error": FULL_REASON }));
    assert_eq!(r.header("x-crabapple-reason").as_deref(), Some(FULL_REASON));

    // The App Store Server API (§6): its own 500 body, no test notification left in the outbox.
    let mut refused = None;
    for _ in 0..TRIES {
        let before = outbox(&w).await;
        let r = test_notification(&w, &iap).await;
        if r.status == 200 {
            assert_eq!(outbox(&w).await, before + 1);
            continue;
        }
        assert_eq!(
            outbox(&w).await,
            before,
            "a refused test notification was kept"
        );
        refused = Some(r);
        break;
    }
    let r = refused.expect("a test notification refused");
    assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        r#"{"errorCode":5000000,"errorMessage":"An unknown error occurred."}"#
    );
    assert_eq!(r.header("x-crabapple-reason").as_deref(), Some(FULL_REASON));

    // Space returns: the same server writes again, and every write is what a read then shows.
    store.limit_pages_for_tests(None).await.unwrap();
    let r = send(&w, "POST", "/v1/bundleIds", bundle_doc("after")).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(w.get(&format!("/v1/bundleIds/{id}")).await.status, 200);
    let doc =
        json!({"data": {"type": "bundleIds", "id": id, "attributes": {"name": "Space again"}}});
    let r = send(&w, "PATCH", &format!("/v1/bundleIds/{id}"), doc).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let after = w.get(&format!("/v1/bundleIds/{id}")).await.json();
    assert_eq!(after["data"]["attributes"]["name"], "Space again");
    assert_eq!(purchase(&w, "after").await.status, 201);
    assert_eq!(test_notification(&w, &iap).await.status, 200);
    std::fs::remove_dir_all(&w.dir).ok();
}

/// A renewal that comes due while the store refuses writes is retried once it takes them again:
/// before, the scheduler took the failed step for a broken subscription and stopped renewing it
/// for good (`next_event_ms` cleared by a write that still fitted).
#[tokio::test]
async fn a_renewal_due_while_storage_is_full_is_retried_not_given_up() {
    // SQLite's own behaviour (its database file), also when the suite runs on PostgreSQL.
    crabapple_server::setup::use_embedded();
    let w = demo().await;
    // No sandbox notification URL: no delivery is due before the renewal.
    let app = w
        .get(&format!("/v1/apps?filter[bundleId]={NOTES}"))
        .await
        .json();
    let app_id = app["data"][0]["id"].as_str().unwrap().to_string();
    let doc = json!({"data": {"type": "apps", "id": app_id,
        "attributes": {"subscriptionStatusUrlForSandbox": null}}});
    let r = send(&w, "PATCH", &format!("/v1/apps/{app_id}"), doc).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = buy(&w, "com.crabapple.notes.pro.monthly", "renewing").await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let orig = r.json()["originalTransactionId"]
        .as_str()
        .unwrap()
        .to_string();
    let store = w.app.store().clone();
    let sub = || async { store.ledger_subscription(&orig).await.unwrap().unwrap() };
    store
        .limit_pages_for_tests(Some(store.page_count().await.unwrap()))
        .await
        .unwrap();
    let mut filled = 0;
    while purchase(&w, &format!("filler-{filled}")).await.status == 201 {
        filled += 1;
        assert!(filled < TRIES, "no purchase refused in {TRIES}");
    }
    // Renewal periods until one finds no room (each that fits fills the store further).
    let mut refused = None;
    for _ in 0..10 {
        let before = sub().await;
        let due = before.next_event_ms.expect("a renewal is due");
        store
            .advance_clock(due - store.now_ms() + 1000)
            .await
            .unwrap();
        let run = w.app.commerce.run_due(store.now_ms()).await;
        let after = sub().await;
        if run.is_ok() && after.latest_transaction_id != before.latest_transaction_id {
            continue;
        }
        refused = Some((run, before, after));
        break;
    }
    let (run, before, after) = refused.expect("a renewal refused for want of space");
    let e = run.expect_err("the scheduler reports the refusal");
    let reason = crabapple_store::error_reason(&e);
    assert!(
        reason.starts_with(&format!("subscription {orig}: storage full: ")),
        "{reason}"
    );
    assert_eq!(after.latest_transaction_id, before.latest_transaction_id);
    assert_eq!(
        after.next_event_ms, before.next_event_ms,
        "the subscription was given up"
    );

    store.limit_pages_for_tests(None).await.unwrap();
    w.app.commerce.run_due(store.now_ms()).await.unwrap();
    let renewed = sub().await;
    assert_ne!(renewed.latest_transaction_id, before.latest_transaction_id);
    assert!(renewed.next_event_ms > before.next_event_ms);
    std::fs::remove_dir_all(&w.dir).ok();
}
