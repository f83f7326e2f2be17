//! The commerce ledger, events, scheduler and delivery, end to end at the library level:
//! every event emits Apple's type/subtype pair (§7), the clock drives renewals, billing retry,
//! grace periods and expirations, delivery follows Apple's retry schedule against a local
//! receiver answering 200, 500 and timing out, and the outbox survives a restart.

mod bench;
#[path = "../common/mod.rs"]
mod common;
mod kill9;
mod world;

use std::sync::atomic::Ordering;

use crabapple_storekit::commerce::engine::EventError;
use crabapple_storekit::models::{Environment, NotificationTypeV2, SendAttemptResult};
use crabapple_storekit::verify::SignedDataVerifier;
use serde_json::{Value, json};
use world::*;

const HOUR: i64 = 3_600_000;

/// `(type, subtype)` of every notification emitted since `from` (by outbox sequence).
async fn pairs_since(w: &World, from: usize) -> Vec<(String, Option<String>)> {
    let all = w.store.ledger_notifications(None, 100_000).await.unwrap();
    all.into_iter()
        .skip(from)
        .map(|n| (n.notification_type, n.subtype))
        .collect()
}

fn pair(t: &str, s: Option<&str>) -> (String, Option<String>) {
    (t.to_string(), s.map(str::to_string))
}

async fn count(w: &World) -> usize {
    w.store
        .ledger_notifications(None, 100_000)
        .await
        .unwrap()
        .len()
}

/// Runs one event and checks the pairs it emitted.
async fn expect(w: &World, event: &str, args: Value, want: &[(&str, Option<&str>)]) -> Value {
    let before = count(w).await;
    let out = w
        .event(event, args.clone())
        .await
        .unwrap_or_else(|e| panic!("{event} {args}: {e}"));
    let got = pairs_since(w, before).await;
    let want: Vec<_> = want.iter().map(|(t, s)| pair(t, *s)).collect();
    assert_eq!(got, want, "{event} {args}");
    out
}

async fn expect_clock(w: &World, by_ms: i64, want: &[(&str, Option<&str>)]) {
    let before = count(w).await;
    w.advance(by_ms).await;
    let got = pairs_since(w, before).await;
    let want: Vec<_> = want.iter().map(|(t, s)| pair(t, *s)).collect();
    assert_eq!(got, want, "after advancing {by_ms} ms");
}

fn id(v: &Value) -> String {
    v["transactionId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_event_emits_apples_type_and_subtype() {
    let w = World::new().await;
    let sb = |extra: Value| {
        let mut base = json!({"bundleId": BUNDLE});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    };
    // One-time products: ONE_TIME_CHARGE in both environments.
    let gems = expect(
        &w,
        "purchase",
        sb(json!({"productId": GEMS, "customer": "alice"})),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;
    expect(
        &w,
        "purchase",
        sb(json!({"productId": LIFETIME, "customer": "alice"})),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;
    let again = w
        .event(
            "purchase",
            sb(json!({"productId": LIFETIME, "customer": "alice"})),
        )
        .await;
    assert_eq!(again.unwrap_err().status, 409);
    expect(
        &w,
        "purchase",
        sb(json!({"productId": PASS, "customer": "alice"})),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;
    expect(
        &w,
        "purchase",
        sb(json!({"productId": GEMS, "environment": "production"})),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;
    expect(
        &w,
        "purchase",
        sb(json!({"productId": GEMS, "customer": "alice", "offer": {"type": "offer-code", "id": "GEMS50"}})),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;

    // Subscriptions.
    let sub = expect(
        &w,
        "purchase",
        sb(json!({"productId": MONTHLY, "customer": "alice"})),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    let t = json!({"transactionId": id(&sub)});
    let with = |extra: Value| {
        let mut b = t.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    expect(&w, "renew", t.clone(), &[("DID_RENEW", None)]).await;
    expect(
        &w,
        "upgrade",
        with(json!({"toProductId": PREMIUM})),
        &[("DID_CHANGE_RENEWAL_PREF", Some("UPGRADE"))],
    )
    .await;
    expect(
        &w,
        "downgrade",
        with(json!({"toProductId": MONTHLY})),
        &[("DID_CHANGE_RENEWAL_PREF", Some("DOWNGRADE"))],
    )
    .await;
    expect(
        &w,
        "downgrade",
        with(json!({"toProductId": PREMIUM})),
        &[("DID_CHANGE_RENEWAL_PREF", None)],
    )
    .await;
    expect(
        &w,
        "crossgrade",
        with(json!({"toProductId": YEARLY})),
        &[("DID_CHANGE_RENEWAL_PREF", Some("DOWNGRADE"))],
    )
    .await;
    expect(
        &w,
        "crossgrade",
        with(json!({"toProductId": PREMIUM})),
        &[("DID_CHANGE_RENEWAL_PREF", None)],
    )
    .await;
    expect(
        &w,
        "auto-renew",
        with(json!({"enabled": false})),
        &[("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED"))],
    )
    .await;
    expect(
        &w,
        "auto-renew",
        with(json!({"enabled": true})),
        &[("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_ENABLED"))],
    )
    .await;
    expect(
        &w,
        "price-increase",
        with(json!({"price": 6990})),
        &[("PRICE_INCREASE", Some("PENDING"))],
    )
    .await;
    expect(
        &w,
        "price-increase",
        with(json!({"consent": true})),
        &[("PRICE_INCREASE", Some("ACCEPTED"))],
    )
    .await;
    expect(
        &w,
        "price-increase",
        with(json!({"price": 7990, "requiresConsent": false})),
        &[("PRICE_INCREASE", Some("ACCEPTED"))],
    )
    .await;
    expect(
        &w,
        "extend",
        with(json!({"days": 30})),
        &[("RENEWAL_EXTENDED", None)],
    )
    .await;

    // Billing failure with a grace period, then the grace period ends, then recovery.
    expect(
        &w,
        "fail-renewal",
        with(json!({"gracePeriod": true, "now": true})),
        &[("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD"))],
    )
    .await;
    expect_clock(&w, 16 * 10_000 + 1_000, &[("GRACE_PERIOD_EXPIRED", None)]).await;
    expect(
        &w,
        "recover",
        t.clone(),
        &[("DID_RENEW", Some("BILLING_RECOVERY"))],
    )
    .await;
    // Billing failure without grace: billing retry ends after 60 (sandbox-compressed) days.
    expect(
        &w,
        "fail-renewal",
        with(json!({"gracePeriod": false, "now": true})),
        &[("DID_FAIL_TO_RENEW", None)],
    )
    .await;
    expect_clock(
        &w,
        60 * 10_000 + 1_000,
        &[("EXPIRED", Some("BILLING_RETRY"))],
    )
    .await;

    // Resubscribe in the same group, then every expiration intent.
    for (reason, subtype) in [
        ("voluntary", Some("VOLUNTARY")),
        ("price-increase", Some("PRICE_INCREASE")),
        ("product-not-for-sale", Some("PRODUCT_NOT_FOR_SALE")),
        ("other", None),
    ] {
        let r = expect(
            &w,
            "purchase",
            sb(json!({"productId": MONTHLY, "customer": "alice"})),
            &[("SUBSCRIBED", Some("RESUBSCRIBE"))],
        )
        .await;
        assert_eq!(
            r["originalTransactionId"], sub["originalTransactionId"],
            "a resubscription keeps the original transaction id"
        );
        expect(
            &w,
            "expire",
            json!({"transactionId": id(&r), "reason": reason, "now": true}),
            &[("EXPIRED", subtype)],
        )
        .await;
    }

    // Refunds and consumption requests.
    expect(
        &w,
        "refund",
        json!({"transactionId": id(&gems), "revocationReason": 1}),
        &[("REFUND", None)],
    )
    .await;
    expect(
        &w,
        "refund-reversed",
        json!({"transactionId": id(&gems)}),
        &[("REFUND_REVERSED", None)],
    )
    .await;
    expect(
        &w,
        "refund-declined",
        json!({"transactionId": id(&gems)}),
        &[("REFUND_DECLINED", None)],
    )
    .await;
    expect(
        &w,
        "consumption-request",
        json!({"transactionId": id(&gems), "reason": "LEGAL"}),
        &[("CONSUMPTION_REQUEST", None)],
    )
    .await;
    let s2 = expect(
        &w,
        "purchase",
        sb(json!({"productId": MONTHLY, "customer": "dave"})),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    expect(
        &w,
        "consumption-request",
        json!({"transactionId": id(&s2)}),
        &[
            ("CONSUMPTION_REQUEST", None),
            ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED")),
        ],
    )
    .await;
    expect(
        &w,
        "refund",
        json!({"transactionId": id(&s2), "percentage": 50_000}),
        &[("REFUND", None)],
    )
    .await;

    // Family Sharing: a family member gains access, then loses it.
    let fam = expect(
        &w,
        "purchase",
        sb(json!({"productId": MONTHLY, "customer": "bob", "familyShared": true})),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    assert_eq!(fam["transaction"]["inAppOwnershipType"], "FAMILY_SHARED");
    assert!(
        fam["transaction"].get("price").is_none(),
        "family-shared transactions carry no price"
    );
    expect(
        &w,
        "revoke",
        json!({"transactionId": id(&fam)}),
        &[("REVOKE", None)],
    )
    .await;

    // Clock-driven renewals and expirations.
    let carol = expect(
        &w,
        "purchase",
        sb(json!({"productId": YEARLY, "customer": "carol"})),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    expect_clock(&w, HOUR + 1_000, &[("DID_RENEW", None)]).await;
    expect(
        &w,
        "fail-renewal",
        json!({"transactionId": id(&carol), "gracePeriod": false}),
        &[],
    )
    .await;
    expect_clock(&w, HOUR, &[("DID_FAIL_TO_RENEW", None)]).await;
    let erin = expect(
        &w,
        "purchase",
        sb(json!({"productId": MONTHLY, "customer": "erin"})),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    expect(
        &w,
        "expire",
        json!({"transactionId": id(&erin), "reason": "voluntary"}),
        &[],
    )
    .await;
    // carol's billing retry (10 sandbox minutes) ends within the same advance as erin's expiry.
    expect_clock(
        &w,
        10 * 60_000 + 1_000,
        &[
            ("EXPIRED", Some("VOLUNTARY")),
            ("EXPIRED", Some("BILLING_RETRY")),
        ],
    )
    .await;

    // A sandbox subscription renews 12 times, then expires.
    let frank = expect(
        &w,
        "purchase",
        sb(json!({"productId": WEEKLY, "customer": "frank"})),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    let mut want: Vec<(&str, Option<&str>)> = vec![("DID_RENEW", None); 12];
    want.push(("EXPIRED", Some("VOLUNTARY")));
    expect_clock(&w, 14 * 3 * 60_000, &want).await;
    let chain = w
        .store
        .ledger_chain(frank["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(chain.len(), 13);
    for pair in chain.windows(2) {
        assert_eq!(
            pair[1].purchase_ms,
            pair[0].expires_ms.unwrap(),
            "renewals chain period to period"
        );
        assert_eq!(pair[1].payload["transactionReason"], "RENEWAL");
    }

    // Every signed payload verifies with Apple's rules, and only for the right app/environment.
    let all = w.store.ledger_notifications(None, 100_000).await.unwrap();
    let root = w.pki.root_der().to_vec();
    for n in &all {
        let env = Environment::from_wire(&n.environment);
        let v = SignedDataVerifier::new(root.clone(), env.clone(), BUNDLE, Some(APP_ID));
        let decoded = v.verify_and_decode_notification(&n.signed_payload).unwrap();
        assert_eq!(
            decoded.notification_type,
            Some(NotificationTypeV2::from_wire(&n.notification_type))
        );
        let data = decoded.data.unwrap();
        if env == Environment::Production {
            assert_eq!(data.app_apple_id, Some(APP_ID));
        } else {
            assert_eq!(
                data.app_apple_id, None,
                "appAppleId is absent in the sandbox"
            );
        }
        let tx = v
            .verify_and_decode_signed_transaction(data.signed_transaction_info.as_deref().unwrap())
            .unwrap();
        if n.notification_type == "CONSUMPTION_REQUEST" {
            assert!(data.consumption_request_reason.is_some());
        }
        if tx.r#type.as_ref().map(|t| t.as_str()) == Some("Auto-Renewable Subscription") {
            assert!(data.status.is_some());
            v.verify_and_decode_renewal_info(data.signed_renewal_info.as_deref().unwrap())
                .unwrap();
        } else {
            assert!(data.signed_renewal_info.is_none() && data.status.is_none());
        }
        let wrong_bundle =
            SignedDataVerifier::new(root.clone(), env.clone(), "com.example.other", Some(APP_ID));
        assert!(
            wrong_bundle
                .verify_and_decode_notification(&n.signed_payload)
                .is_err()
        );
        let other_env = if env == Environment::Sandbox {
            Environment::Production
        } else {
            Environment::Sandbox
        };
        let wrong_env = SignedDataVerifier::new(root.clone(), other_env, BUNDLE, Some(APP_ID));
        assert!(
            wrong_env
                .verify_and_decode_notification(&n.signed_payload)
                .is_err()
        );
    }
    assert!(all.len() > 50, "{} notifications", all.len());
    assert!(
        all.iter().all(|n| n.state == "unsent"),
        "no URL configured: nothing is sent"
    );
}

#[tokio::test]
async fn event_errors_are_explained() {
    let w = World::new().await;
    let e: EventError = w
        .event("purchase", json!({"bundleId": BUNDLE, "productId": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
    assert!(e.message.contains("nope"), "{}", e.message);
    let e = w
        .event(
            "purchase",
            json!({"bundleId": "com.nope", "productId": GEMS}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
    let e = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": GEMS, "appAccountToken": "x"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);
    let e = w.event("bogus", json!({})).await.unwrap_err();
    assert_eq!(e.status, 404);
    let e = w
        .event("renew", json!({"transactionId": "1"}))
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
    let gems = w
        .event("purchase", json!({"bundleId": BUNDLE, "productId": GEMS}))
        .await
        .unwrap();
    let e = w
        .event("renew", json!({"transactionId": id(&gems)}))
        .await
        .unwrap_err();
    assert_eq!(e.status, 400, "{}", e.message);
    let sub = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "c"}),
        )
        .await
        .unwrap();
    let e = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": PREMIUM, "customer": "c"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 409, "already subscribed in the group");
    let e = w
        .event(
            "upgrade",
            json!({"transactionId": id(&sub), "toProductId": MONTHLY}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 409);
    let e = w
        .event(
            "downgrade",
            json!({"transactionId": id(&sub), "toProductId": PREMIUM}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 400, "premium is a higher level: {}", e.message);
}

#[tokio::test]
async fn transactions_carry_apples_fields() {
    let w = World::new().await;
    let token = "7e3fb20b-4cdb-47cc-936d-99d65f608138";
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "zoe", "appAccountToken": token,
                   "storefront": "GBR", "offer": {"type": "introductory", "period": "P1W"}}),
        )
        .await
        .unwrap();
    let t = &p["transaction"];
    for key in [
        "transactionId",
        "originalTransactionId",
        "webOrderLineItemId",
        "bundleId",
        "productId",
        "subscriptionGroupIdentifier",
        "purchaseDate",
        "originalPurchaseDate",
        "expiresDate",
        "quantity",
        "type",
        "appAccountToken",
        "inAppOwnershipType",
        "offerType",
        "environment",
        "transactionReason",
        "storefront",
        "storefrontId",
        "price",
        "currency",
        "offerDiscountType",
        "appTransactionId",
        "offerPeriod",
    ] {
        assert!(t.get(key).is_some(), "missing {key} in {t}");
    }
    assert_eq!(t["storefront"], "GBR");
    assert_eq!(t["storefrontId"], "143444");
    assert_eq!(t["currency"], "GBP");
    assert_eq!(t["price"], 0);
    assert_eq!(t["offerType"], 1);
    assert_eq!(t["offerDiscountType"], "FREE_TRIAL");
    assert_eq!(t["appAccountToken"], token);
    assert_eq!(t["type"], "Auto-Renewable Subscription");
    assert_eq!(t["subscriptionGroupIdentifier"], GROUP);
    assert!(t["transactionId"].as_str().unwrap().starts_with("2000000"));
    assert_eq!(
        t["expiresDate"].as_i64().unwrap() - t["purchaseDate"].as_i64().unwrap(),
        3 * 60_000,
        "a one-week trial lasts 3 sandbox minutes"
    );
    let r = &p["subscription"]["renewalInfo"];
    assert_eq!(r["autoRenewProductId"], MONTHLY);
    assert_eq!(r["autoRenewStatus"], 1);
    assert_eq!(r["renewalPrice"], 4990);
    // Extension needs a paid period: a free trial is ineligible.
    let e = w
        .event("extend", json!({"transactionId": id(&p), "days": 5}))
        .await
        .unwrap_err();
    assert_eq!(e.api.map(|a| a.code()), Some(4030004));
    // After the trial the first paid renewal carries the list price and no offer.
    w.advance(3 * 60_000 + 1_000).await;
    let chain = w.store.ledger_chain(&id(&p)).await.unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].payload["price"], 4990);
    assert!(chain[1].payload.get("offerType").is_none());
    // Two extensions per 365 days, the third is refused.
    for _ in 0..2 {
        w.event("extend", json!({"transactionId": id(&p), "days": 90}))
            .await
            .unwrap();
    }
    let e = w
        .event("extend", json!({"transactionId": id(&p), "days": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.api.map(|a| a.code()), Some(4030005));
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
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": GEMS, "environment": "production"}),
        )
        .await
        .unwrap();
    let uuid = p["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = p["notifications"][0]["signedDate"].as_i64().unwrap();
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
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": GEMS, "environment": "production"}),
        )
        .await
        .unwrap();
    let uuid = p["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = p["notifications"][0]["signedDate"].as_i64().unwrap();
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
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": GEMS, "environment": "production"}),
        )
        .await
        .unwrap();
    let uuid = p["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
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
    // A lease held by the dead process must not delay redelivery after restart.
    let n = w
        .store
        .ledger_notification(&uuids[0])
        .await
        .unwrap()
        .unwrap();
    let wall = w.store.clock.wall_ms();
    assert!(
        w.store
            .ledger_lease_notification(n.seq, wall, wall + 3_600_000)
            .await
            .unwrap()
    );
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
    tx.ledger_put_mass_extension(&crabapple_store::ledger::MassExtensionRow {
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
