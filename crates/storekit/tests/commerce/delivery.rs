//! Notification delivery: Apple's retry schedule, the outbox across a restart, and mass
//! renewal-date extensions (their EXTENDED / FAILURE / SUMMARY notifications).

use super::*;
use crabapple_storekit::ledger::{LedgerStore, LedgerTx};

/// A production purchase: its notification's UUID and signed date.
async fn production_purchase(w: &World) -> (String, i64) {
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": GEMS, "environment": "production"}),
        )
        .await
        .unwrap();
    let n = &p["notifications"][0];
    (
        n["notificationUUID"].as_str().unwrap().to_string(),
        n["signedDate"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn delivery_follows_apples_retry_schedule() {
    let w = World::new().await;
    let rx = Receiver::start().await;
    w.commerce.set_settings(crabapple_storekit::Settings {
        delivery_timeout_ms: 300,
        ..w.commerce.settings()
    });
    w.set_urls(Some(&rx.url("prod")), Some(&rx.url("sandbox")))
        .await;

    // Production: 500, then a timeout, then 200 — attempts at t, t+1h, t+13h.
    rx.mode.store(MODE_500, Ordering::SeqCst);
    let (uuid, t0) = production_purchase(&w).await;
    w.run().await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!(n.state, "pending");
    assert_eq!(n.next_attempt_ms, Some(t0 + HOUR));
    rx.mode.store(MODE_SLOW, Ordering::SeqCst);
    w.advance(HOUR).await;
    rx.mode.store(MODE_OK, Ordering::SeqCst);
    w.advance(12 * HOUR).await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!(n.state, "delivered");
    assert_eq!(
        attempts(&n.attempts),
        vec![
            (t0, SendAttemptResult::UnsuccessfulHttpResponseCode),
            (t0 + HOUR, SendAttemptResult::TimedOut),
            (t0 + 13 * HOUR, SendAttemptResult::Success),
        ]
    );

    // Always failing: initial attempt + 5 retries at 1, 12, 24, 48, 72 h, replayed by one advance.
    rx.mode.store(MODE_500, Ordering::SeqCst);
    let (uuid, t0) = production_purchase(&w).await;
    w.advance(200 * HOUR).await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!(n.state, "failed");
    let dates: Vec<i64> = attempts(&n.attempts)
        .into_iter()
        .map(|(d, _)| d - t0)
        .collect();
    assert_eq!(
        dates,
        vec![0, HOUR, 13 * HOUR, 37 * HOUR, 85 * HOUR, 157 * HOUR]
    );

    // Sandbox: one attempt only.
    let p = w
        .event("purchase", json!({"bundleId": BUNDLE, "productId": GEMS}))
        .await
        .unwrap();
    let uuid = p["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
    w.advance(200 * HOUR).await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!(n.state, "failed");
    assert_eq!(attempts(&n.attempts).len(), 1);

    // Nobody listening: NO_RESPONSE.
    w.set_urls(Some("http://127.0.0.1:9/none"), None).await;
    let (uuid, _) = production_purchase(&w).await;
    w.run().await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!(attempts(&n.attempts)[0].1, SendAttemptResult::NoResponse);

    // The receiver got exactly the payloads crabapple recorded as attempted, each verifiable.
    let got = rx.received.lock().unwrap().clone();
    assert!(!got.is_empty());
    let v = SignedDataVerifier::new(
        w.pki.root_der().to_vec(),
        Environment::Production,
        BUNDLE,
        Some(APP_ID),
    );
    for (path, payload) in got.iter().filter(|(p, _)| p == "/prod") {
        v.verify_and_decode_notification(payload)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

/// A URL under `.example` (the demo world's) never resolves (RFC 2606): its attempts are
/// recorded without a request, each retry at Apple's time as the clock reaches it, with the
/// result an unresolvable name gives (`NO_RESPONSE`), exactly what attempt-by-attempt delivery
/// recorded (delivery.rs `unreachable`).
#[tokio::test]
async fn a_name_that_never_resolves_fails_on_apples_schedule() {
    let w = World::new().await;
    w.set_urls(Some("https://api.crabapple.example/n"), None)
        .await;
    let (uuid, t0) = production_purchase(&w).await;
    w.advance(14 * HOUR).await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!(n.state, "pending");
    assert_eq!(n.next_attempt_ms, Some(t0 + 37 * HOUR));
    assert_eq!(
        attempts(&n.attempts),
        vec![
            (t0, SendAttemptResult::NoResponse),
            (t0 + HOUR, SendAttemptResult::NoResponse),
            (t0 + 13 * HOUR, SendAttemptResult::NoResponse),
        ]
    );
    w.advance(200 * HOUR).await;
    let n = w.store.ledger_notification(&uuid).await.unwrap().unwrap();
    assert_eq!((n.state.as_str(), n.next_attempt_ms), ("failed", None));
    let dates: Vec<i64> = attempts(&n.attempts)
        .into_iter()
        .map(|(d, r)| {
            assert_eq!(r, SendAttemptResult::NoResponse);
            d - t0
        })
        .collect();
    assert_eq!(
        dates,
        vec![0, HOUR, 13 * HOUR, 37 * HOUR, 85 * HOUR, 157 * HOUR]
    );
}

#[tokio::test]
async fn the_outbox_survives_a_restart() {
    let rx = Receiver::start().await;
    let w = World::new().await;
    w.set_urls(Some(&rx.url("prod")), Some(&rx.url("sandbox")))
        .await;
    // Events are committed with their notifications; the process "dies" before delivering.
    let mut uuids = Vec::new();
    for _ in 0..5 {
        let p = w
            .event("purchase", json!({"bundleId": BUNDLE, "productId": GEMS}))
            .await
            .unwrap();
        uuids.push(
            p["notifications"][0]["notificationUUID"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // A claim held by the dead process must not delay redelivery after restart: it claims
    // the first due notification (due order) and dies before posting it.
    let n = w
        .store
        .ledger_notification(&uuids[0])
        .await
        .unwrap()
        .unwrap();
    let wall = w.store.clock.wall_ms();
    let claimed = w
        .store
        .ledger_claim_notifications(w.store.now_ms(), wall, wall + 3_600_000, 1)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|c| c.seq).collect::<Vec<_>>(), [n.seq]);
    let (dir, pki) = w.into_parts();

    let w2 = World::reopen(dir, pki).await;
    let handle = w2.commerce.spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut done = 0;
        for u in &uuids {
            if w2
                .store
                .ledger_notification(u)
                .await
                .unwrap()
                .unwrap()
                .state
                == "delivered"
            {
                done += 1;
            }
        }
        if done == uuids.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {done} of {} delivered",
            uuids.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    handle.abort();
    assert_eq!(
        rx.received.lock().unwrap().len(),
        uuids.len(),
        "each delivered once"
    );
}

fn attempts(v: &Value) -> Vec<(i64, SendAttemptResult)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attemptDate"].as_i64().unwrap(),
                SendAttemptResult::from_wire(a["sendAttemptResult"].as_str().unwrap()),
            )
        })
        .collect()
}

#[tokio::test]
async fn mass_extension_emits_extended_failure_and_summary() {
    let w = World::new().await;
    let paid = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": YEARLY, "customer": "a"}),
        )
        .await
        .unwrap();
    w.event("purchase", json!({"bundleId": BUNDLE, "productId": YEARLY, "customer": "b", "offer": {"type": "introductory"}}))
        .await
        .unwrap();
    let uk = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": YEARLY, "customer": "c", "storefront": "GBR"}),
        )
        .await
        .unwrap();
    let at = w.store.now_ms();
    let mut tx = w.store.begin().await.unwrap();
    tx.ledger_put_mass_extension(&crabapple_storekit::ledger::MassExtensionRow {
        app_id: APP_ID.to_string(),
        environment: "Sandbox".into(),
        product_id: YEARLY.into(),
        request_identifier: "0a5b1d7e-9f1c-4a53-9a4c-1d2f3e4a5b6c".into(),
        request: json!({"extendByDays": 7, "extendReasonCode": 3, "storefrontCountryCodes": ["USA"]}),
        created_ms: at,
        due_ms: Some(at),
        complete_ms: None,
        succeeded: 0,
        failed: 0,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let before = count(&w).await;
    w.run().await;
    let got = pairs_since(&w, before).await;
    assert_eq!(
        got,
        vec![
            pair("RENEWAL_EXTENDED", None),
            pair("RENEWAL_EXTENSION", Some("FAILURE")),
            pair("RENEWAL_EXTENSION", Some("SUMMARY")),
        ],
        "the paid subscriber is extended, the free-trial one fails, the GBR one is out of scope"
    );
    let all = w.store.ledger_notifications(None, 1000).await.unwrap();
    let v = SignedDataVerifier::new(
        w.pki.root_der().to_vec(),
        Environment::Sandbox,
        BUNDLE,
        None,
    );
    let summary = v
        .verify_and_decode_notification(&all.last().unwrap().signed_payload)
        .unwrap()
        .summary
        .unwrap();
    assert_eq!(
        (summary.succeeded_count, summary.failed_count),
        (Some(1), Some(1))
    );
    assert_eq!(
        summary.storefront_country_codes,
        Some(vec!["USA".to_string()])
    );
    let m = w
        .store
        .ledger_mass_extension(
            &APP_ID.to_string(),
            "Sandbox",
            YEARLY,
            "0a5b1d7e-9f1c-4a53-9a4c-1d2f3e4a5b6c",
        )
        .await
        .unwrap()
        .unwrap();
    assert!(m.complete_ms.is_some());
    let s = w
        .store
        .ledger_subscription(paid["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.expires_ms,
        paid["subscription"]["expiresDate"].as_i64().unwrap() + 70_000
    );
    let s = w
        .store
        .ledger_subscription(uk["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.expires_ms,
        uk["subscription"]["expiresDate"].as_i64().unwrap()
    );
}
