//! Subscription price changes over time (apple-semantics.md §5, forum post 13): the day boundary
//! in Pacific time on the virtual clock, and what a change does to subscribers — renewals,
//! renewal info and PRICE_INCREASE notifications (§6, §7) — end to end through HTTP.

mod common;
mod pricing_support;

use common::*;
use crabapple_storekit::commerce::price_day::{PriceZone, TIME_ZONE_KEY, day_in, zone};
use pricing_support::*;
use serde_json::{Value, json};

/// Forum post 13, step by step: a change starts on day D. At 14:00 Pacific on D-1 a change can
/// be deleted; at 23:00 Pacific on D-1 (07:00 UTC on D) App Store Connect still lists it as
/// future, yet the delete fails ("Only future price changes can be deleted.", 409 ENTITY_ERROR,
/// as the post captured) and so does a new change (409 STATE_ERROR "Must delete future price
/// change before creating a new price change."). After midnight Pacific the change is in effect
/// and a new future change is accepted. With the price zone set to UTC the trap is gone.
#[tokio::test]
async fn forum_post_13_the_hour_before_midnight_pacific() {
    let w = demo().await;
    make_available(&w, SUB, &["USA", "CAN"]).await;
    let usa = point(&w, SUB, "USA", "9.99").await;
    let usa_higher = point(&w, SUB, "USA", "12.99").await;
    let can = equalized(&w, &usa_higher, "CAN").await;
    assert_eq!(post_price(&w, SUB, &usa, None).await.status, 201);
    let d = day(&w, 2);
    let d_start = pacific().day_start_ms(&d).unwrap();
    let created = |r: Resp| {
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()["data"]["id"].as_str().unwrap().to_string()
    };
    let change = created(post_price(&w, SUB, &usa_higher, Some(&d)).await);
    let can_change = created(post_price(&w, SUB, &can, Some(&d)).await);

    // 14:00 Pacific on D-1 (22:00 UTC): still D-1 everywhere; deleting works (the post's 95 %).
    clock_to(&w, d_start - 10 * HOUR).await;
    let r = delete_price(&w, &can_change).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));

    // 23:00 Pacific on D-1 = 07:00 UTC on D.
    clock_to(&w, d_start - HOUR).await;
    assert_eq!(day(&w, 0), day_in(d_start - HOUR, &pacific().tz));
    // App Store Connect still lists it as a future change…
    let listed = prices(&w).await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == change.as_str() && p["attributes"]["startDate"] == d.as_str()),
        "{listed}"
    );
    // …the delete fails as in the post,
    let r = delete_price(&w, &change).await;
    assert_delete_refused(&w, &change, "delete at 23:00 Pacific the day before").await;
    let reason = r.header("x-crabapple-reason").unwrap_or_default();
    assert!(
        reason.contains("UTC") && reason.contains("forum post 13"),
        "{reason}"
    );
    // …and so does the new change the post tried next.
    let r = post_price(&w, SUB, &usa, Some(&day(&w, 5))).await;
    assert_error(
        &r,
        409,
        "STATE_ERROR",
        FUTURE_EXISTS,
        "replace at 23:00 Pacific",
    );
    let reason = r.header("x-crabapple-reason").unwrap_or_default();
    assert!(
        reason.contains("cannot be deleted now either") && reason.contains(&change),
        "{reason}"
    );

    // Midnight Pacific: D has begun; the change is in effect and the next one can be scheduled.
    clock_to(&w, d_start + 60_000).await;
    assert_delete_refused(&w, &change, "delete after midnight Pacific").await;
    created(post_price(&w, SUB, &usa, Some(&day(&w, 5))).await);

    check_facts(
        "rules-price-changes",
        &rules_header("crates/server/tests/price_changes.rs"),
        vec![
            "subscriptionPrices_deleteInstance\tforum post 13, apple-semantics.md §5 — the delete compares startDate with the UTC day: refused at 23:00 Pacific the day before the change (409 ENTITY_ERROR)".into(),
            "subscriptionPrices_createInstance\tforum post 13, apple-semantics.md §5 — a change stays future until its startDate begins in Pacific time (configurable): a new change is refused until then (409 STATE_ERROR)".into(),
        ],
    );

    // The zone is a setting: in UTC, D began at 00:00 UTC and 23:00 Pacific is no trap.
    let w = demo().await;
    w.app.store().meta_set(TIME_ZONE_KEY, "UTC").await.unwrap();
    make_available(&w, SUB, &["USA"]).await;
    let usa = point(&w, SUB, "USA", "9.99").await;
    let usa_higher = point(&w, SUB, "USA", "12.99").await;
    let utc = zone("UTC").unwrap();
    let d = day_in(w.app.store().now_ms() + 2 * 86_400_000, &utc);
    let d_start = PriceZone {
        name: "UTC".into(),
        tz: utc,
    }
    .day_start_ms(&d)
    .unwrap();
    created(post_price(&w, SUB, &usa_higher, Some(&d)).await);
    clock_to(&w, d_start + HOUR).await;
    created(
        post_price(
            &w,
            SUB,
            &usa,
            Some(&day_in(d_start + 3 * 86_400_000, &zone("UTC").unwrap())),
        )
        .await,
    );
}

const BUNDLE: &str = "com.crabapple.notes";
/// Notes Pro Monthly's product id (demo world).
const MONTHLY: &str = "com.crabapple.notes.pro.monthly";
const DAY: i64 = 86_400_000;

async fn commerce(w: &World, event: &str, args: Value) -> Value {
    let r = w
        .call(
            "POST",
            &format!("/crabapple/admin/commerce/{event}"),
            None,
            Some(args),
        )
        .await;
    assert!(
        matches!(r.status, 200 | 201),
        "{event}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

/// A production purchase of Notes Pro Monthly by `customer` in `storefront`.
async fn subscribe(w: &World, customer: &str, storefront: &str) -> String {
    let p = commerce(
        w,
        "purchase",
        json!({ "bundleId": BUNDLE, "productId": MONTHLY, "customer": customer,
                "storefront": storefront, "environment": "production" }),
    )
    .await;
    p["transaction"]["originalTransactionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}"))
        .to_string()
}

/// A `subscriptionPrices` change with `preserveCurrentPrice`.
async fn change_price(w: &World, point: &str, start: &str, preserve: bool) -> String {
    let r = post_price_preserving(w, SUB, point, Some(start), preserve).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json()["data"].clone();
    assert_eq!(d["attributes"]["preserved"], preserve);
    d["id"].as_str().unwrap().to_string()
}

fn jws_payload(jws: &Value) -> Value {
    use base64::Engine as _;
    let part = jws.as_str().unwrap().split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// Get All Subscription Statuses (§6): the latest transaction and renewal info, decoded.
async fn status(w: &World, token: &str, original: &str) -> (Value, Value) {
    let r = w
        .call(
            "GET",
            &format!("/inApps/v1/subscriptions/{original}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let last = &r.json()["data"][0]["lastTransactions"][0];
    (
        jws_payload(&last["signedTransactionInfo"]),
        jws_payload(&last["signedRenewalInfo"]),
    )
}

/// `(notificationType, subtype)` of what the app was sent about `original`, oldest first.
async fn notifications(w: &World, original: &str) -> Vec<(String, String)> {
    let r = w
        .call(
            "GET",
            &format!("/crabapple/admin/commerce/notifications?bundleId={BUNDLE}&limit=200"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    let mut out: Vec<(i64, String, String)> = doc["data"]
        .as_array()
        .expect("a list of notifications")
        .iter()
        .filter(|n| {
            n["payload"]["data"]["signedTransactionInfoDecoded"]["originalTransactionId"]
                == original
        })
        .map(|n| {
            (
                n["signedDate"].as_i64().unwrap_or_default(),
                n["notificationType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                n["subtype"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, t, s)| (t, s)).collect()
}

fn pair(t: &str, s: &str) -> (String, String) {
    (t.to_string(), s.to_string())
}

/// §5 effects end to end: a USA increase from 9.99 to 12.99 starting in 10 days (+30 %: a notice,
/// no consent, PRICE_INCREASE/ACCEPTED at once); the renewal before the start date is charged
/// 9.99, the one after it 12.99 in USD; the Server API's renewal info shows `renewalPrice` and
/// `priceIncreaseStatus` 1 throughout.
#[tokio::test]
async fn a_price_increase_reaches_renewals_and_renewal_info() {
    let w = demo().await;
    let token = w.server_api_token(BUNDLE).await;
    make_available(&w, SUB, &["USA"]).await;
    let (usd999, usd1299) = (
        point(&w, SUB, "USA", "9.99").await,
        point(&w, SUB, "USA", "12.99").await,
    );
    assert_eq!(post_price(&w, SUB, &usd999, None).await.status, 201);
    let t0 = w.app.store().now_ms();
    let ann = subscribe(&w, "ann", "USA").await;
    let (txn, info) = status(&w, &token, &ann).await;
    assert_eq!(
        (txn["price"].clone(), txn["currency"].clone()),
        (json!(9990), json!("USD"))
    );
    assert_eq!(info["renewalPrice"], 9990);

    // 25 days later the change is created, to start in 10 days (after ann's first renewal).
    clock_to(&w, t0 + 25 * DAY).await;
    change_price(&w, &usd1299, &day(&w, 10), false).await;
    assert!(
        notifications(&w, &ann)
            .await
            .contains(&pair("PRICE_INCREASE", "ACCEPTED")),
        "{:?}",
        notifications(&w, &ann).await
    );
    let (_, info) = status(&w, &token, &ann).await;
    assert_eq!(info["priceIncreaseStatus"], 1);
    assert_eq!(
        info["renewalPrice"], 9990,
        "the next renewal is before the start date"
    );

    // The renewal a month after the purchase, before the start date: the old price.
    clock_to(&w, t0 + 33 * DAY).await;
    let (txn, info) = status(&w, &token, &ann).await;
    assert_eq!(txn["transactionReason"], "RENEWAL");
    assert_eq!(txn["price"], 9990, "never charged before its start date");
    assert_eq!(
        info["renewalPrice"], 12990,
        "the next renewal is after the start date"
    );
    assert_eq!(info["priceIncreaseStatus"], 1);

    // The renewal after the start date: the new price, in the storefront's currency.
    clock_to(&w, t0 + 63 * DAY).await;
    let (txn, info) = status(&w, &token, &ann).await;
    assert_eq!(txn["transactionReason"], "RENEWAL");
    assert_eq!(
        (txn["price"].clone(), txn["currency"].clone()),
        (json!(12990), json!("USD"))
    );
    assert_eq!(info["renewalPrice"], 12990);
    let renewals = notifications(&w, &ann)
        .await
        .into_iter()
        .filter(|n| n.0 == "DID_RENEW")
        .count();
    assert_eq!(renewals, 2);
}

/// §5 consent rule and `preserveCurrentPrice`: 4.99 → 12.99 in the USA (+160 % and +US$8) needs
/// consent: PRICE_INCREASE/PENDING, `priceIncreaseStatus` 0, and without consent the first
/// renewal after the start date ends the subscription (EXPIRED/PRICE_INCREASE, §7). In Canada
/// the same kind of increase with `preserveCurrentPrice: true` tells nobody: the existing
/// subscriber keeps the old price, a new one pays the new price.
#[tokio::test]
async fn consent_and_preserved_prices() {
    let w = demo().await;
    let token = w.server_api_token(BUNDLE).await;
    make_available(&w, SUB, &["USA", "CAN"]).await;
    let usd499 = point(&w, SUB, "USA", "4.99").await;
    let usd1299 = point(&w, SUB, "USA", "12.99").await;
    let (can_low, can_high) = (
        equalized(&w, &usd499, "CAN").await,
        equalized(&w, &usd1299, "CAN").await,
    );
    for p in [&usd499, &can_low] {
        assert_eq!(post_price(&w, SUB, p, None).await.status, 201);
    }
    let t0 = w.app.store().now_ms();
    let bea = subscribe(&w, "bea", "USA").await;
    let cal = subscribe(&w, "cal", "CAN").await;
    let (cal_txn, _) = status(&w, &token, &cal).await;
    let cal_price = cal_txn["price"].as_i64().unwrap();
    assert_eq!(cal_txn["currency"], "CAD");

    change_price(&w, &usd1299, &day(&w, 3), false).await;
    change_price(&w, &can_high, &day(&w, 3), true).await;
    assert!(
        notifications(&w, &bea)
            .await
            .contains(&pair("PRICE_INCREASE", "PENDING"))
    );
    let (_, info) = status(&w, &token, &bea).await;
    assert_eq!(info["priceIncreaseStatus"], 0);
    assert!(
        !notifications(&w, &cal)
            .await
            .iter()
            .any(|n| n.0 == "PRICE_INCREASE"),
        "preserved: nobody is told"
    );

    clock_to(&w, t0 + 33 * DAY).await;
    assert!(
        notifications(&w, &bea)
            .await
            .contains(&pair("EXPIRED", "PRICE_INCREASE"))
    );
    let (txn, info) = status(&w, &token, &cal).await;
    assert_eq!(txn["transactionReason"], "RENEWAL");
    assert_eq!(
        txn["price"], cal_price,
        "preserved: the existing subscriber's price"
    );
    assert_eq!(info["renewalPrice"], cal_price);
    let dan = subscribe(&w, "dan", "CAN").await;
    let (txn, _) = status(&w, &token, &dan).await;
    assert!(
        txn["price"].as_i64().unwrap() > cal_price,
        "a new subscriber pays the new price"
    );
}

/// §5: a future change can be deleted before it starts; an increase already announced for it is
/// then never charged, and a pending consent no longer ends the subscription.
#[tokio::test]
async fn a_deleted_increase_is_never_charged() {
    let w = demo().await;
    let token = w.server_api_token(BUNDLE).await;
    make_available(&w, SUB, &["USA"]).await;
    let usd499 = point(&w, SUB, "USA", "4.99").await;
    let usd1299 = point(&w, SUB, "USA", "12.99").await;
    assert_eq!(post_price(&w, SUB, &usd499, None).await.status, 201);
    let t0 = w.app.store().now_ms();
    let eve = subscribe(&w, "eve", "USA").await;
    let change = change_price(&w, &usd1299, &day(&w, 3), false).await;
    assert!(
        notifications(&w, &eve)
            .await
            .contains(&pair("PRICE_INCREASE", "PENDING"))
    );
    let r = delete_price(&w, &change).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));

    clock_to(&w, t0 + 33 * DAY).await;
    let (txn, info) = status(&w, &token, &eve).await;
    assert_eq!(
        txn["transactionReason"], "RENEWAL",
        "not expired for want of consent"
    );
    assert_eq!(txn["price"], 4990);
    assert_eq!(info["renewalPrice"], 4990);
    assert!(info.get("priceIncreaseStatus").is_none(), "{info}");
}
