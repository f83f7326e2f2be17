//! The commerce ledger, events, scheduler and delivery, end to end at the library level:
//! every event emits Apple's type/subtype pair (§7), the clock drives renewals, billing retry,
//! grace periods and expirations, delivery follows Apple's retry schedule against a local
//! receiver answering 200, 500 and timing out, and the outbox survives a restart.

mod bench;
#[path = "../common/mod.rs"]
mod common;
mod kill9;
mod ledger_rules;
mod world;
mod writers;

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
        &[("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED"))],
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

/// The OFFER_REDEEMED notification among `emitted`, verified with Apple's rules; returns its
/// decoded transaction and renewal info.
async fn offer_redeemed(
    w: &World,
    out: &Value,
    subtype: Option<&str>,
) -> (
    crabapple_storekit::models::JWSTransactionDecodedPayload,
    crabapple_storekit::models::JWSRenewalInfoDecodedPayload,
) {
    let uuid = out["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap();
    let n = w.store.ledger_notification(uuid).await.unwrap().unwrap();
    let v = SignedDataVerifier::new(
        w.pki.root_der().to_vec(),
        Environment::Sandbox,
        BUNDLE,
        None,
    );
    let d = v.verify_and_decode_notification(&n.signed_payload).unwrap();
    assert_eq!(d.notification_type, Some(NotificationTypeV2::OfferRedeemed));
    assert_eq!(d.subtype.as_ref().map(|s| s.as_str()), subtype);
    let data = d.data.unwrap();
    assert_eq!(
        data.status.map(|s| s.value()),
        Some(1),
        "the subscription stays active"
    );
    let tx = v
        .verify_and_decode_signed_transaction(data.signed_transaction_info.as_deref().unwrap())
        .unwrap();
    let ri = v
        .verify_and_decode_renewal_info(data.signed_renewal_info.as_deref().unwrap())
        .unwrap();
    (tx, ri)
}

/// The subscription's latest transaction after the clock passed its renewal date.
async fn after_renewal(w: &World, sub: &Value) -> Value {
    let now = w.store.now_ms();
    let exp = sub["subscription"]["expiresDate"].as_i64().unwrap();
    w.advance(exp - now + 1_000).await;
    let chain = w
        .store
        .ledger_chain(sub["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap();
    chain.last().unwrap().payload.clone()
}

#[tokio::test]
async fn offers_on_an_active_subscription_emit_offer_redeemed() {
    // Same product: OFFER_REDEEMED without a subtype; the offer applies from the next renewal.
    let w = World::new().await;
    let sub = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "sam"}),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    let r = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "sam",
               "offer": {"type": "promotional", "id": "PROMO_HALF", "discountType": "PAY_AS_YOU_GO", "price": 1990, "periods": 2}}),
        &[("OFFER_REDEEMED", None)],
    )
    .await;
    assert_eq!(id(&r), id(&sub), "no new transaction until the renewal");
    assert_eq!(
        r["offerEffectiveDate"], sub["subscription"]["expiresDate"],
        "effective at the next renewal"
    );
    let (tx, ri) = offer_redeemed(&w, &r, None).await;
    assert_eq!(tx.transaction_id.as_deref(), Some(id(&sub).as_str()));
    assert_eq!(tx.offer_type, None);
    assert_eq!(ri.offer_type.map(|o| o.value()), Some(2));
    assert_eq!(ri.offer_identifier.as_deref(), Some("PROMO_HALF"));
    assert_eq!(
        ri.offer_discount_type.as_ref().map(|d| d.as_str()),
        Some("PAY_AS_YOU_GO")
    );
    assert_eq!(ri.renewal_price, Some(1990));
    assert_eq!(ri.auto_renew_product_id.as_deref(), Some(MONTHLY));
    // Two renewals at the offer price, then the list price.
    for _ in 0..2 {
        let latest = w
            .store
            .ledger_subscription(sub["originalTransactionId"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let t = after_renewal(&w, &json!({"originalTransactionId": sub["originalTransactionId"], "subscription": {"expiresDate": latest.expires_ms}})).await;
        assert_eq!(t["transactionReason"], "RENEWAL");
        assert_eq!(t["offerType"], 2);
        assert_eq!(t["offerIdentifier"], "PROMO_HALF");
        assert_eq!(t["offerDiscountType"], "PAY_AS_YOU_GO");
        assert_eq!(t["price"], 1990);
    }
    let latest = w
        .store
        .ledger_subscription(sub["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let t = after_renewal(&w, &json!({"originalTransactionId": sub["originalTransactionId"], "subscription": {"expiresDate": latest.expires_ms}})).await;
    assert!(t.get("offerType").is_none(), "{t}");
    assert_eq!(t["price"], 4990);

    // A higher level: OFFER_REDEEMED/UPGRADE, now, with a new transaction carrying the offer.
    let w = World::new().await;
    let sub = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "uma"}),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    let r = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": PREMIUM, "customer": "uma",
               "offer": {"type": "offer-code", "id": "SPRING", "discountType": "PAY_UP_FRONT", "period": "P3M", "price": 2990}}),
        &[("OFFER_REDEEMED", Some("UPGRADE"))],
    )
    .await;
    assert_ne!(id(&r), id(&sub));
    assert_eq!(r["originalTransactionId"], sub["originalTransactionId"]);
    let (tx, ri) = offer_redeemed(&w, &r, Some("UPGRADE")).await;
    let now = tx.purchase_date.unwrap();
    assert_eq!(r["offerEffectiveDate"], now, "effective now");
    assert!(now >= sub["transaction"]["purchaseDate"].as_i64().unwrap());
    assert_eq!(tx.transaction_id.as_deref(), Some(id(&r).as_str()));
    assert_eq!(tx.product_id.as_deref(), Some(PREMIUM));
    assert_eq!(tx.offer_type.map(|o| o.value()), Some(3));
    assert_eq!(tx.offer_identifier.as_deref(), Some("SPRING"));
    assert_eq!(
        tx.offer_discount_type.as_ref().map(|d| d.as_str()),
        Some("PAY_UP_FRONT")
    );
    assert_eq!(tx.offer_period.as_deref(), Some("P3M"));
    assert_eq!(tx.price, Some(2990));
    assert_eq!(
        tx.expires_date,
        Some(now + 15 * 60_000),
        "three months up front: 15 sandbox minutes"
    );
    assert_eq!(ri.product_id.as_deref(), Some(PREMIUM));
    assert_eq!(ri.offer_type, None, "the offer was this period's");
    let old = w
        .store
        .ledger_transaction(&id(&sub))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.payload["isUpgraded"], true);
    let t = after_renewal(&w, &r).await;
    assert_eq!(
        (t["productId"].as_str(), t["price"].as_i64()),
        (Some(PREMIUM), Some(4990))
    );
    assert!(t.get("offerType").is_none());

    // A lower level: OFFER_REDEEMED/DOWNGRADE; the product and the offer start at the renewal.
    let w = World::new().await;
    let sub = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": PREMIUM, "customer": "dan"}),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    // Auto-renew off: redeeming an offer turns it back on.
    expect(
        &w,
        "auto-renew",
        json!({"transactionId": id(&sub), "enabled": false}),
        &[("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED"))],
    )
    .await;
    let r = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "dan",
               "offer": {"type": "promotional", "id": "STAY", "discountType": "FREE_TRIAL", "period": "P1W"}}),
        &[("OFFER_REDEEMED", Some("DOWNGRADE"))],
    )
    .await;
    assert_eq!(id(&r), id(&sub));
    assert_eq!(r["offerEffectiveDate"], sub["subscription"]["expiresDate"]);
    let (tx, ri) = offer_redeemed(&w, &r, Some("DOWNGRADE")).await;
    assert_eq!(tx.product_id.as_deref(), Some(PREMIUM));
    assert_eq!(ri.product_id.as_deref(), Some(PREMIUM));
    assert_eq!(ri.auto_renew_product_id.as_deref(), Some(MONTHLY));
    assert_eq!(ri.auto_renew_status.map(|s| s.value()), Some(1));
    assert_eq!(ri.offer_type.map(|o| o.value()), Some(2));
    assert_eq!(ri.offer_identifier.as_deref(), Some("STAY"));
    assert_eq!(
        ri.offer_discount_type.as_ref().map(|d| d.as_str()),
        Some("FREE_TRIAL")
    );
    assert_eq!(ri.renewal_price, Some(0));
    let t = after_renewal(&w, &sub).await;
    assert_eq!(t["productId"], MONTHLY);
    assert_eq!(t["offerType"], 2);
    assert_eq!(t["offerIdentifier"], "STAY");
    assert_eq!(t["offerDiscountType"], "FREE_TRIAL");
    assert_eq!(t["price"], 0);
    assert_eq!(
        t["expiresDate"].as_i64().unwrap() - t["purchaseDate"].as_i64().unwrap(),
        3 * 60_000,
        "a one-week free period lasts 3 sandbox minutes"
    );
    let s = w
        .store
        .ledger_subscription(sub["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let t = after_renewal(&w, &json!({"originalTransactionId": sub["originalTransactionId"], "subscription": {"expiresDate": s.expires_ms}})).await;
    assert_eq!(
        (t["productId"].as_str(), t["price"].as_i64()),
        (Some(MONTHLY), Some(4990))
    );
    assert!(t.get("offerType").is_none());

    // Without an offer, and with offers that aren't for active subscribers: 409 as before.
    for offer in [
        None,
        Some(json!({"type": "introductory"})),
        Some(json!({"type": "win-back", "id": "WB"})),
    ] {
        let mut a = json!({"bundleId": BUNDLE, "productId": PREMIUM, "customer": "dan"});
        if let Some(o) = &offer {
            a["offer"] = o.clone();
        }
        let before = count(&w).await;
        let e = w.event("purchase", a).await.unwrap_err();
        assert_eq!(e.status, 409, "{offer:?}: {}", e.message);
        assert_eq!(count(&w).await, before);
    }
}

#[tokio::test]
async fn reset_empties_the_ledger() {
    let w = World::new().await;
    let rx = Receiver::start().await;
    w.set_urls(None, Some(&rx.url("sandbox"))).await;
    let first = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": GEMS, "customer": "ann"}),
        )
        .await
        .unwrap();
    let sub = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "ann"}),
        )
        .await
        .unwrap();
    w.event("consumption-request", json!({"transactionId": id(&first)}))
        .await
        .unwrap();
    w.event("renew", json!({"transactionId": id(&sub)}))
        .await
        .unwrap();
    w.event("extend", json!({"transactionId": id(&sub), "days": 3}))
        .await
        .unwrap();
    let at = w.store.now_ms();
    let mut tx = w.store.begin().await.unwrap();
    tx.ledger_put_mass_extension(&crabapple_store::ledger::MassExtensionRow {
        app_id: APP_ID.to_string(),
        environment: "Sandbox".into(),
        product_id: MONTHLY.into(),
        request_identifier: "3f1e2d4c-5b6a-4789-8a9b-0c1d2e3f4a5b".into(),
        request: json!({"extendByDays": 1, "extendReasonCode": 0}),
        created_ms: at,
        due_ms: Some(at + HOUR),
        complete_ms: None,
        succeeded: 0,
        failed: 0,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let customer = w
        .store
        .ledger_customer_by_label(&APP_ID.to_string(), "Sandbox", "ann")
        .await
        .unwrap()
        .unwrap();
    assert!(count(&w).await >= 4);

    crabapple_storekit::reset(&w.commerce).await.unwrap();

    assert_eq!(count(&w).await, 0, "outbox and notification history");
    for t in [id(&first), id(&sub)] {
        assert!(w.store.ledger_transaction(&t).await.unwrap().is_none());
    }
    let orig = sub["originalTransactionId"].as_str().unwrap();
    assert!(w.store.ledger_subscription(orig).await.unwrap().is_none());
    assert!(w.store.ledger_chain(orig).await.unwrap().is_empty());
    assert!(
        w.store
            .ledger_customer_by_label(&APP_ID.to_string(), "Sandbox", "ann")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .ledger_customer_by_app_transaction(first["appTransactionId"].as_str().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .ledger_record("consumption_request", &id(&first))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .ledger_mass_extension(
                &APP_ID.to_string(),
                "Sandbox",
                MONTHLY,
                "3f1e2d4c-5b6a-4789-8a9b-0c1d2e3f4a5b"
            )
            .await
            .unwrap()
            .is_none()
    );
    let due = w
        .store
        .ledger_next_due(i64::MAX, w.store.clock.wall_ms())
        .await
        .unwrap();
    assert_eq!(due, Default::default(), "nothing is scheduled");

    // A clean slate: the App Store Connect side (app, products, URLs) is untouched, and ids
    // start over as in a new data directory.
    let again = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": GEMS, "customer": "ann"}),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;
    assert_eq!(id(&again), id(&first));
    assert_eq!(again["appTransactionId"], first["appTransactionId"]);
    assert_eq!(again["orderId"], first["orderId"]);
    let c = w
        .store
        .ledger_customer_by_label(&APP_ID.to_string(), "Sandbox", "ann")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.id, customer.id);
    let n = &w.store.ledger_notifications(None, 10).await.unwrap()[0];
    assert_eq!((n.seq, n.state.as_str()), (1, "pending"));
    w.run().await;
    assert_eq!(
        w.store
            .ledger_notification(&n.notification_uuid)
            .await
            .unwrap()
            .unwrap()
            .state,
        "delivered"
    );
}
