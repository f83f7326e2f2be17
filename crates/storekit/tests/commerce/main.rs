//! The commerce ledger, events, scheduler and delivery, end to end at the library level:
//! every event emits Apple's type/subtype pair (§7), the clock drives renewals, billing retry,
//! grace periods and expirations, delivery follows Apple's retry schedule against a local
//! receiver answering 200, 500 and timing out, and the outbox survives a restart.

mod bench;
mod claims;
#[path = "../common/mod.rs"]
mod common;
mod delivery;
mod idle;
mod kill9;
mod ledger_rules;
mod offers;
mod replicas;
mod world;
mod writers;

use crabapple_storekit::ledger::{LedgerStore, LedgerTx};
use std::sync::atomic::Ordering;

use crabapple_auth::ServerEndpoint;
use crabapple_storekit::commerce::Commerce;
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
    tx.ledger_put_mass_extension(&crabapple_storekit::ledger::MassExtensionRow {
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

/// Issue 12: the admin API's commerce settings live in the store — a second process of the
/// data directory (a replica, or the same server restarted) opens with them, and a process that
/// reloads them after another one saved adopts them.
#[tokio::test]
async fn commerce_settings_are_kept_in_the_store_for_every_process() {
    let w = World::new().await;
    let mut s = w.commerce.settings();
    s.delivery_timeout_ms = 1_234;
    s.rate_limit_scale = 0.5;
    w.commerce.save_settings(s.clone()).await.unwrap();
    let other = Commerce::open(w.store.clone(), w.dir.path()).await.unwrap();
    assert_eq!(other.settings(), s);
    s.delivery_concurrency = 3;
    other.save_settings(s.clone()).await.unwrap();
    assert_ne!(w.commerce.settings(), s);
    w.commerce.reload_settings().await.unwrap();
    assert_eq!(w.commerce.settings(), s);
    assert_eq!(
        w.commerce
            .limiter()
            .budget(ServerEndpoint::GetTransactionInfo, false),
        90_000
    );
}
