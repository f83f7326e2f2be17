//! The ledger Apple would keep (issue 7 §2): prices by start date, contiguous periods, billing
//! retry and grace counted from the expiry instant, renewal info and notification pairs after
//! each event, and the purchases StoreKit refuses (rejected with nothing written).

use crabapple_storekit::ledger::LedgerStore;
use std::sync::Arc;

use crabapple_auth::{KeyKind, Verifier, generate_key};
use crabapple_storekit::commerce::catalog::utc_day;
use serde_json::{Value, json};

use crate::bench::TestHost;
use crate::world::*;
use crate::{expect, id};

const MINUTE: i64 = 60_000;
/// A sandbox month (apple-semantics.md §7 sandbox rates, catalog tests).
const SANDBOX_MONTH: i64 = 5 * MINUTE;
/// 16 days of billing grace on the sandbox clock (10 s a day).
const SANDBOX_GRACE: i64 = 16 * 10_000;
const DAY: i64 = 86_400_000;

/// `base` with the fields of `extra` added.
fn merged(base: &Value, extra: Value) -> Value {
    let mut b = base.clone();
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    b
}

fn attrs(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// Gives MONTHLY (subscription 6500000001) a US price of `customer_price` from `start`.
async fn price(w: &World, n: u32, start: Option<String>, customer_price: &str) {
    let mut tx = w.store.begin().await.unwrap();
    let (price_id, point_id) = (format!("sp{n}"), format!("spp{n}"));
    tx.put(
        "subscriptionPrices",
        &price_id,
        &attrs(json!({"startDate": start, "preserved": false})),
    )
    .await
    .unwrap();
    tx.put(
        "subscriptionPricePoints",
        &point_id,
        &attrs(json!({"customerPrice": customer_price})),
    )
    .await
    .unwrap();
    tx.link(
        ("subscriptions", "6500000001"),
        "prices",
        ("subscriptionPrices", &price_id),
    )
    .await
    .unwrap();
    tx.link(
        ("subscriptionPrices", &price_id),
        "territory",
        ("territories", "USA"),
    )
    .await
    .unwrap();
    tx.link(
        ("subscriptionPrices", &price_id),
        "subscriptionPricePoint",
        ("subscriptionPricePoints", &point_id),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// apple-semantics.md §5: "you can schedule one future price change" — a scheduled price
/// applies from its `startDate` on (on the virtual clock), not at once.
#[tokio::test]
async fn a_price_dated_in_the_future_applies_from_its_start_date() {
    let w = World::new().await;
    price(&w, 1, None, "4.99").await;
    let start = w.store.now_ms() + 40 * DAY;
    price(&w, 2, Some(utc_day(start)), "9.99").await;
    let buy = |c: &str| json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": c});
    let before = w.event("purchase", buy("ann")).await.unwrap();
    assert_eq!(before["transaction"]["price"], 4990);
    assert_eq!(
        before["subscription"]["renewalInfo"]["renewalPrice"], 4990,
        "the renewal price is today's price"
    );
    // The clock passes the start date (nothing runs: ann's renewals don't matter here).
    w.store.advance_clock(41 * DAY).await.unwrap();
    let after = w.event("purchase", buy("bob")).await.unwrap();
    assert_eq!(after["transaction"]["price"], 9990);
    assert_eq!(after["subscription"]["renewalInfo"]["renewalPrice"], 9990);
}

fn renewal(out: &Value) -> &Value {
    &out["subscription"]["renewalInfo"]
}

fn ms(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// Every transaction of a subscription chain with `(purchaseDate, expiresDate)`, checking the
/// payload and the ledger columns agree.
async fn periods(w: &World, any: &Value) -> Vec<(i64, i64)> {
    let chain = w
        .store
        .ledger_chain(any["originalTransactionId"].as_str().unwrap())
        .await
        .unwrap();
    chain
        .iter()
        .map(|t| {
            assert_eq!(Some(ms(t.payload.json(), "expiresDate")), t.expires_ms);
            assert_eq!(ms(t.payload.json(), "purchaseDate"), t.purchase_ms);
            (t.purchase_ms, t.expires_ms.unwrap())
        })
        .collect()
}

/// `renew`, `fail-renewal --now`, `recover` and `expire --now` each leave what Apple's ledger
/// would: the next period starts at the previous `expiresDate`, billing grace counts from the
/// expiry instant, an expired subscription's `expiresDate` is not in the future, and the
/// renewal info (§6 JWSRenewalInfoDecodedPayload / §7 fields) and the notification pairs (§7
/// "Event → (type, subtype)") match each step.
#[tokio::test]
async fn renew_fail_and_expire_now_keep_periods_contiguous() {
    let w = World::new().await;
    let p = expect(
        &w,
        "purchase",
        json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "kim"}),
        &[("SUBSCRIBED", Some("INITIAL_BUY"))],
    )
    .await;
    let t = json!({"transactionId": id(&p)});
    let with = |extra: Value| merged(&t, extra);
    w.store.advance_clock(MINUTE).await.unwrap();

    // renew: the current period ends now and the renewal starts where it ended (§7 DID_RENEW).
    let r = expect(&w, "renew", t.clone(), &[("DID_RENEW", None)]).await;
    let ps = periods(&w, &p).await;
    assert_eq!(ps.len(), 2);
    let renewed_at = ms(&r["transaction"], "purchaseDate");
    assert_eq!(
        ps[0].1, renewed_at,
        "contiguous: purchaseDate == previous expiresDate"
    );
    assert_eq!(ps[1], (renewed_at, renewed_at + SANDBOX_MONTH));
    assert!(renewed_at - ps[0].0 >= MINUTE && renewed_at < ps[0].0 + SANDBOX_MONTH);
    assert_eq!(r["transaction"]["transactionReason"], "RENEWAL");
    assert_eq!(r["subscription"]["expiresDate"], renewed_at + SANDBOX_MONTH);
    w.store.advance_clock(MINUTE).await.unwrap();

    // fail-renewal --now: the period ends now, the renewal fails, grace starts at the expiry
    // instant (§7 DID_FAIL_TO_RENEW/GRACE_PERIOD; renewal info in billing retry).
    let f = expect(
        &w,
        "fail-renewal",
        with(json!({"gracePeriod": true, "now": true})),
        &[("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD"))],
    )
    .await;
    let failed_at = f["notifications"][0]["signedDate"].as_i64().unwrap();
    let expiry = ms(&f["transaction"], "expiresDate");
    assert_eq!(expiry, failed_at, "the failed period ends at the failure");
    assert_eq!(periods(&w, &p).await[1], (renewed_at, expiry));
    assert_eq!(f["subscription"]["status"], 4);
    assert_eq!(f["subscription"]["expiresDate"], expiry);
    let ri = renewal(&f);
    assert_eq!(ri["autoRenewStatus"], 1);
    assert_eq!(ri["expirationIntent"], 2);
    assert_eq!(ri["isInBillingRetryPeriod"], true);
    assert_eq!(ms(ri, "gracePeriodExpiresDate"), expiry + SANDBOX_GRACE);
    assert_eq!(ms(ri, "renewalDate"), expiry);

    // recover: a new period from the recovery (§7 DID_RENEW/BILLING_RECOVERY).
    let rc = expect(
        &w,
        "recover",
        t.clone(),
        &[("DID_RENEW", Some("BILLING_RECOVERY"))],
    )
    .await;
    let recovered_at = ms(&rc["transaction"], "purchaseDate");
    assert_eq!(
        ms(&rc["transaction"], "expiresDate"),
        recovered_at + SANDBOX_MONTH
    );
    let ri = renewal(&rc);
    assert_eq!(rc["subscription"]["status"], 1);
    assert!(ri.get("expirationIntent").is_none(), "{ri}");
    assert!(ri.get("isInBillingRetryPeriod").is_none(), "{ri}");
    assert!(ri.get("gracePeriodExpiresDate").is_none(), "{ri}");
    w.store.advance_clock(MINUTE).await.unwrap();

    // fail-renewal --now without grace: billing retry from the expiry instant, status 3.
    let f = expect(
        &w,
        "fail-renewal",
        with(json!({"gracePeriod": false, "now": true})),
        &[("DID_FAIL_TO_RENEW", None)],
    )
    .await;
    let expiry = ms(&f["transaction"], "expiresDate");
    assert_eq!(
        expiry,
        f["notifications"][0]["signedDate"].as_i64().unwrap()
    );
    assert_eq!(f["subscription"]["status"], 3);
    let ri = renewal(&f);
    assert_eq!(ri["isInBillingRetryPeriod"], true);
    assert_eq!(ri["expirationIntent"], 2);
    assert!(ri.get("gracePeriodExpiresDate").is_none(), "{ri}");
    // `renew` in billing retry is a recovery.
    let rc = expect(
        &w,
        "renew",
        t.clone(),
        &[("DID_RENEW", Some("BILLING_RECOVERY"))],
    )
    .await;
    assert!(ms(&rc["transaction"], "purchaseDate") >= expiry);
    w.store.advance_clock(MINUTE).await.unwrap();

    // expire --now: the period ends now (§7 EXPIRED/VOLUNTARY).
    let e = expect(
        &w,
        "expire",
        with(json!({"reason": "voluntary", "now": true})),
        &[("EXPIRED", Some("VOLUNTARY"))],
    )
    .await;
    let expired_at = e["notifications"][0]["signedDate"].as_i64().unwrap();
    assert_eq!(ms(&e["transaction"], "expiresDate"), expired_at);
    assert!(expired_at <= w.store.now_ms());
    assert_eq!(e["subscription"]["status"], 2);
    assert_eq!(e["subscription"]["expiresDate"], expired_at);
    let ri = renewal(&e);
    assert_eq!(ri["autoRenewStatus"], 0);
    assert_eq!(ri["expirationIntent"], 1);
    assert_eq!(ri["isInBillingRetryPeriod"], false);
    let ps = periods(&w, &p).await;
    assert_eq!(ps.len(), 4);
    assert_eq!(ps[3].1, expired_at);
    for pair in ps.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "periods never overlap: {ps:?}");
    }
}

/// A voluntary expiry at the end of the period is the customer turning auto-renew off:
/// DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED now, EXPIRED/VOLUNTARY at the renewal date
/// (§7), with `expiresDate` unchanged.
#[tokio::test]
async fn a_voluntary_expiry_turns_auto_renew_off_then_expires_at_the_renewal_date() {
    let w = World::new().await;
    let p = w
        .event(
            "purchase",
            json!({"bundleId": BUNDLE, "productId": MONTHLY, "customer": "lee"}),
        )
        .await
        .unwrap();
    let ends = ms(&p["transaction"], "expiresDate");
    let e = expect(
        &w,
        "expire",
        json!({"transactionId": id(&p), "reason": "voluntary"}),
        &[("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED"))],
    )
    .await;
    assert_eq!(e["subscription"]["status"], 1);
    assert_eq!(renewal(&e)["autoRenewStatus"], 0);
    assert!(renewal(&e).get("expirationIntent").is_none());
    let before = crate::count(&w).await;
    w.advance(SANDBOX_MONTH + 1_000).await;
    assert_eq!(
        crate::pairs_since(&w, before).await,
        vec![crate::pair("EXPIRED", Some("VOLUNTARY"))]
    );
    assert_eq!(
        periods(&w, &p).await,
        vec![(ms(&p["transaction"], "purchaseDate"), ends)]
    );
}

/// What a refused purchase must leave: the same ledger and outbox.
async fn refused(w: &World, args: Value, status: u16, message: &str) {
    let before = w.store.ledger_fingerprint().await.unwrap();
    let outbox = crate::count(w).await;
    let e = w.event("purchase", args.clone()).await.unwrap_err();
    assert_eq!((e.status, e.message.as_str()), (status, message), "{args}");
    assert_eq!(
        w.store.ledger_fingerprint().await.unwrap(),
        before,
        "nothing written"
    );
    assert_eq!(crate::count(w).await, outbox, "no notification");
}

/// The purchases StoreKit never makes are refused with the reason, and nothing is written:
/// Family Sharing only of family-sharable non-consumables and subscriptions (§7 names family
/// access for those two only), subscription offers only on subscriptions (§7: one-time products
/// redeem offer codes), win-back offers only for churned subscribers and introductory offers
/// once per subscription group.
#[tokio::test]
async fn storekit_refuses_impossible_purchases() {
    let w = World::new().await;
    let buy = |pid: &str, c: &str, extra: Value| {
        merged(
            &json!({"bundleId": BUNDLE, "productId": pid, "customer": c}),
            extra,
        )
    };
    // Some history first, so "unchanged" means something.
    w.event("purchase", buy(GEMS, "amy", json!({})))
        .await
        .unwrap();
    let trial = w
        .event(
            "purchase",
            buy(MONTHLY, "amy", json!({"offer": {"type": "introductory"}})),
        )
        .await
        .unwrap();
    w.event(
        "expire",
        json!({"transactionId": id(&trial), "reason": "voluntary", "now": true}),
    )
    .await
    .unwrap();

    refused(
        &w,
        buy(GEMS, "amy", json!({"familyShared": true})),
        400,
        "StoreKit never shares com.example.crabapple.gems through Family Sharing: it is a consumable; only non-consumables and auto-renewable subscriptions are shared",
    )
    .await;
    refused(
        &w,
        buy(WEEKLY, "amy", json!({"familyShared": true})),
        400,
        "StoreKit never shares com.example.crabapple.weekly through Family Sharing: Family Sharing is off for it (familySharable false in App Store Connect)",
    )
    .await;
    refused(
        &w,
        buy(GEMS, "amy", json!({"offer": {"type": "introductory"}})),
        400,
        "StoreKit has no introductory offer for com.example.crabapple.gems: it is a consumable; introductory, promotional and win-back offers are for auto-renewable subscriptions (one-time products take offer codes)",
    )
    .await;
    refused(
        &w,
        buy(YEARLY, "new", json!({"offer": {"type": "win-back", "id": "WB1"}})),
        409,
        "StoreKit refuses this purchase (ineligibleForOffer): new never subscribed in subscription group 20000001; win-back offers are for churned subscribers",
    )
    .await;
    let first = id(&trial);
    refused(
        &w,
        buy(YEARLY, "amy", json!({"offer": {"type": "introductory"}})),
        409,
        &format!(
            "StoreKit refuses this purchase (ineligibleForOffer): amy already redeemed an introductory offer in subscription group 20000001 (transaction {first}); introductory offers are once per subscription group"
        ),
    )
    .await;
    // What StoreKit allows still goes through: a win-back offer for the churned amy.
    expect(
        &w,
        "purchase",
        buy(
            YEARLY,
            "amy",
            json!({"offer": {"type": "win-back", "id": "WB1"}}),
        ),
        &[("SUBSCRIBED", Some("RESUBSCRIBE"))],
    )
    .await;
    expect(
        &w,
        "purchase",
        buy(LIFETIME, "kid", json!({"familyShared": true})),
        &[("ONE_TIME_CHARGE", None)],
    )
    .await;
}

/// The admin API answers a refused event with its 4xx status and `{"error": reason}`, and
/// writes nothing.
#[tokio::test]
async fn the_admin_api_refuses_impossible_purchases_with_the_reason() {
    let w = World::new().await;
    let g = generate_key(KeyKind::InAppPurchase);
    let host = Arc::new(TestHost {
        commerce: w.commerce.clone(),
        verifier: Verifier::default(),
        key: g.to_api_key("issuer-rules", &[], "rules"),
    });
    let app = crabapple_storekit::router::<TestHost>().with_state(host);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let before = w.store.ledger_fingerprint().await.unwrap();
    let r = reqwest::Client::new()
        .post(format!("{base}/crabapple/admin/commerce/purchase"))
        .json(&json!({"bundleId": BUNDLE, "productId": GEMS, "familyShared": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "StoreKit never shares com.example.crabapple.gems through Family Sharing: it is a consumable; only non-consumables and auto-renewable subscriptions are shared"})
    );
    assert_eq!(w.store.ledger_fingerprint().await.unwrap(), before);
}
