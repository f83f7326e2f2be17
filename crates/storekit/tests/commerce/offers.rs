//! Offers on an active subscription: OFFER_REDEEMED notifications and their refusals.

use super::*;
use crabapple_storekit::ledger::LedgerStore;

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
    chain.last().unwrap().payload.value()
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
