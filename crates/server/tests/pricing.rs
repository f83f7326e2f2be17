//! Subscription and in-app purchase price points and Apple's pricing rules (apple-semantics.md §5)
//! through the HTTP surface, on the demo world.

mod common;
mod pricing_support;

use common::*;
use pricing_support::*;
use serde_json::{Value, json};

/// Notes Pro Yearly (demo world).
const OTHER_SUB: &str = "6449081302";
/// Handwriting Pack (demo world).
const IAP: &str = "6449081234";
/// Theme Bundle (demo world).
const OTHER_IAP: &str = "6449081235";
/// crabapple's tiers × storefronts (price_points.rs).
const TIERS: usize = 41;
const TERRITORIES: usize = 31;

#[tokio::test]
async fn demo_subscription_has_a_price_point_per_tier_per_territory() {
    let w = demo().await;
    let r = w
        .get(&format!("/v1/subscriptions/{SUB}/pricePoints?limit=200"))
        .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["meta"]["paging"]["total"], TIERS * TERRITORIES);
    assert_eq!(doc["data"].as_array().unwrap().len(), 200);
    assert!(doc["links"]["next"].as_str().unwrap().contains("cursor="));
    let p = &doc["data"][0];
    assert_eq!(p["type"], "subscriptionPricePoints");
    for a in ["customerPrice", "proceeds", "proceedsYear2"] {
        assert!(p["attributes"][a].is_string(), "{a}: {p}");
    }
    assert!(
        p["relationships"]["equalizations"]["links"]["related"]
            .as_str()
            .unwrap()
            .ends_with("/equalizations")
    );

    // filter[territory] and include=territory; the id is Apple's base64 JSON.
    let doc = points_in(
        &w,
        &format!("/v1/subscriptions/{SUB}/pricePoints"),
        "USA",
        "&include=territory",
    )
    .await;
    assert_eq!(doc["data"].as_array().unwrap().len(), TIERS);
    let usd499 = priced(&doc, "4.99");
    assert_eq!(usd499["attributes"]["proceeds"], "4.24");
    assert_eq!(
        usd499["relationships"]["territory"]["data"],
        json!({ "type": "territories", "id": "USA" })
    );
    assert_eq!(
        usd499["id"],
        b64(&format!(r#"{{"s":"{SUB}","t":"USA","p":"10050"}}"#)).as_str()
    );
    assert_eq!(
        doc["included"],
        json!([{ "type": "territories", "id": "USA", "attributes": { "currency": "USD" },
                 "links": { "self": "http://crabapple.test:8686/v1/territories/USA" } }])
    );

    // The linkage endpoint lists the same ids.
    let r = w
        .get(&format!(
            "/v1/subscriptions/{SUB}/relationships/pricePoints?limit=3"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 3);
    assert_eq!(r.json()["meta"]["paging"]["total"], TIERS * TERRITORIES);
}

#[tokio::test]
async fn subscription_created_through_the_api_has_price_points_at_once() {
    let w = demo().await;
    let r = w
        .call(
            "POST",
            "/v1/subscriptions",
            Some(&w.token),
            Some(json!({ "data": {
                "type": "subscriptions",
                "attributes": { "name": "Notes Pro Weekly", "productId": "com.crabapple.notes.pro.weekly", "subscriptionPeriod": "ONE_WEEK" },
                "relationships": { "group": rel("subscriptionGroups", "20934512") }
            }})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let r = w
        .get(&format!(
            "/v1/subscriptions/{id}/pricePoints?filter[territory]=JPN,GBR"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["meta"]["paging"]["total"], TIERS * 2);
    let p = point(&w, &id, "USA", "9.99").await;
    make_available(&w, &id, &["USA"]).await;
    assert_eq!(post_price(&w, &id, &p, None).await.status, 201);
}

#[tokio::test]
async fn price_point_instance_and_its_equalizations() {
    let w = demo().await;
    let p = point(&w, SUB, "USA", "9.99").await;
    let r = w
        .get(&format!(
            "/v1/subscriptionPricePoints/{p}?include=territory"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    assert_eq!(doc["data"]["id"], p.as_str());
    assert_eq!(doc["data"]["attributes"]["customerPrice"], "9.99");
    assert_eq!(doc["included"][0]["id"], "USA");

    let r = w
        .get(&format!("/v1/subscriptionPricePoints/{p}/equalizations"))
        .await;
    assert_eq!(r.status, 200);
    let eq = r.json();
    assert_eq!(eq["data"].as_array().unwrap().len(), TERRITORIES - 1);
    let r = w
        .get(&format!(
            "/v1/subscriptionPricePoints/{p}/equalizations?filter[territory]=GBR"
        ))
        .await;
    let gbr = r.json();
    assert_eq!(gbr["data"].as_array().unwrap().len(), 1);
    assert_eq!(gbr["data"][0]["attributes"]["customerPrice"], "9.49");
    assert_eq!(
        gbr["data"][0]["id"],
        point(&w, SUB, "GBR", "9.49").await.as_str()
    );
    // filter[subscription]: the same tier of another subscription.
    let yearly = equalized_in(&w, &p, "GBR", &format!("&filter[subscription]={OTHER_SUB}")).await;
    assert_eq!(yearly, point(&w, OTHER_SUB, "GBR", "9.49").await);
    let r = w
        .get(&format!(
            "/v1/subscriptionPricePoints/{p}/relationships/equalizations"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), TERRITORIES - 1);

    // An id that names no price point, or a subscription that does not exist: Apple's 404.
    for bad in [
        "bm90LWEtcHJpY2UtcG9pbnQ".to_string(),
        b64(r#"{"s":"1","t":"USA","p":"10100"}"#),
    ] {
        let r = w.get(&format!("/v1/subscriptionPricePoints/{bad}")).await;
        assert_eq!(r.status, 404, "{bad}");
        assert_eq!(r.error_code(), "NOT_FOUND");
    }
    // A price point the world stored itself (a seed's, or the one synthesized for the offers'
    // prices) is served as stored.
    let stored = w
        .call(
            "GET",
            "/crabapple/admin/resources/subscriptionPricePoints",
            None,
            None,
        )
        .await
        .json();
    let own = stored["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .find(|id| !id.starts_with("eyJ"))
        .expect("the demo world stores a synthesized price point");
    let r = w.get(&format!("/v1/subscriptionPricePoints/{own}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["id"], own);
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[derive(Debug, PartialEq)]
enum Want {
    /// 201 with the price.
    Created,
    /// 409 ENTITY_ERROR.RELATIONSHIP.INVALID "An error occurred while processing the pricing
    /// information." (§5).
    Refused,
    /// 409 STATE_ERROR "Must delete future price change before creating a new price change."
    /// (forum post 13, §5).
    FutureExists,
    /// 409 ENTITY_ERROR.ATTRIBUTE.INVALID on `startDate` (a guess, §5 has no text).
    Past,
}

fn past_detail(start: &str) -> String {
    format!("The start date '{start}' is in the past. Choose today or a future date.")
}

/// §5 rules, one row each.
#[tokio::test]
async fn subscription_price_rules_answer_apples_errors() {
    let w = demo().await;
    let usa = point(&w, SUB, "USA", "9.99").await;
    let usa_higher = point(&w, SUB, "USA", "12.99").await;
    let gbr = point(&w, SUB, "GBR", "9.49").await;
    let other = point(&w, OTHER_SUB, "USA", "9.99").await;

    // No availability yet (§5): the same opaque 409.
    let r = post_price(&w, SUB, &usa, None).await;
    assert_error(
        &r,
        409,
        "ENTITY_ERROR.RELATIONSHIP.INVALID",
        PRICING_DETAIL,
        "no availability",
    );
    assert_eq!(
        r.json()["errors"][0]["source"]["pointer"],
        "/data/relationships/subscriptionPricePoint/id"
    );
    make_available(&w, SUB, &["USA", "CAN"]).await;

    let in_future = day(&w, 5);
    let later = day(&w, 9);
    // (what, price point, startDate, answer)
    let rows: Vec<(&str, String, Option<String>, Want)> = vec![
        (
            "not a price point",
            "bm90LWEtcHJpY2UtcG9pbnQ".into(),
            None,
            Want::Refused,
        ),
        (
            "another subscription's price point",
            other.clone(),
            None,
            Want::Refused,
        ),
        (
            "a territory the subscription is not available in",
            gbr.clone(),
            None,
            Want::Refused,
        ),
        ("the starting price", usa.clone(), None, Want::Created),
        (
            "a second price on the same day",
            usa_higher.clone(),
            None,
            Want::Refused,
        ),
        (
            "a start date in the past",
            usa_higher.clone(),
            Some(day(&w, -1)),
            Want::Past,
        ),
        (
            "a future change",
            usa_higher.clone(),
            Some(in_future.clone()),
            Want::Created,
        ),
        (
            "a second future change in the territory",
            usa.clone(),
            Some(later.clone()),
            Want::FutureExists,
        ),
        (
            "a new price today while a change is scheduled",
            usa.clone(),
            None,
            Want::FutureExists,
        ),
    ];
    for (what, pp, start, want) in rows {
        let r = post_price(&w, SUB, &pp, start.as_deref()).await;
        match want {
            Want::Created => {
                assert_eq!(
                    r.status,
                    201,
                    "{what}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                let d = &r.json()["data"];
                assert_eq!(d["attributes"]["preserved"], false, "{what}");
                // Without startDate the price starts today.
                let want = start.clone().unwrap_or_else(|| day(&w, 0));
                assert_eq!(d["attributes"]["startDate"], want.as_str(), "{what}");
            }
            // §5: Apple's one answer for every unacceptable price.
            Want::Refused => assert_error(
                &r,
                409,
                "ENTITY_ERROR.RELATIONSHIP.INVALID",
                PRICING_DETAIL,
                what,
            ),
            Want::FutureExists => {
                assert_error(&r, 409, "STATE_ERROR", FUTURE_EXISTS, what);
                assert_eq!(
                    r.json()["errors"][0]["title"],
                    "The request cannot be fulfilled because of the state of another resource.",
                );
            }
            Want::Past => {
                let start = start.as_deref().unwrap();
                assert_error(
                    &r,
                    409,
                    "ENTITY_ERROR.ATTRIBUTE.INVALID",
                    &past_detail(start),
                    what,
                );
                assert_eq!(
                    r.json()["errors"][0]["source"]["pointer"],
                    "/data/attributes/startDate"
                );
            }
        }
    }

    let doc = prices(&w).await;
    assert_eq!(doc["data"].as_array().unwrap().len(), 2);
    let included: Vec<&str> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["type"].as_str().unwrap())
        .collect();
    assert!(
        included.contains(&"subscriptionPricePoints"),
        "{included:?}"
    );
    let current = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["startDate"] == day(&w, 0).as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // One future change per territory: the API refused the second one, the first stays (Apple's
    // web UI would have replaced it, §5).
    let scheduled: Vec<&Value> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["attributes"]["startDate"] == in_future.as_str())
        .collect();
    assert_eq!(scheduled.len(), 1, "{doc}");
    let future = scheduled[0]["id"].as_str().unwrap().to_string();

    // Only future changes can be deleted (§5).
    assert_delete_refused(&w, &current, "delete the price in effect").await;
    // Once the virtual clock passes its start date, the change is in effect too.
    w.app.store().advance_clock(10 * 86_400_000).await.unwrap();
    assert_delete_refused(&w, &future, "delete a change now in effect").await;
    let r = post_price(&w, SUB, &usa, Some(&day(&w, 3))).await;
    assert_eq!(r.status, 201);
    let scheduled = r.json()["data"]["id"].as_str().unwrap().to_string();
    let r = delete_price(&w, &scheduled).await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    check_facts(
        "rules-pricing",
        &rules_header("crates/server/tests/pricing.rs"),
        vec![
            "subscriptionPrices_createInstance\tapple-semantics.md §5 — a price needs a price point of the subscription in a territory where it is available (409)".into(),
            "subscriptionPrices_createInstance\tapple-semantics.md §5, forum post 13 — one future change per territory: a new change while one is scheduled (409 STATE_ERROR)".into(),
            "subscriptionPrices_createInstance\tapple-semantics.md §5 — a startDate before today (409 ENTITY_ERROR.ATTRIBUTE.INVALID, text a guess)".into(),
            "subscriptionPrices_deleteInstance\tapple-semantics.md §5 — only future price changes can be deleted (409)".into(),
        ],
    );
}

#[tokio::test]
async fn in_app_purchase_price_points_and_a_price_schedule() {
    let w = demo().await;
    let doc = points_in(
        &w,
        &format!("/v2/inAppPurchases/{IAP}/pricePoints"),
        "USA",
        "",
    )
    .await;
    assert_eq!(doc["data"].as_array().unwrap().len(), TIERS);
    let p = priced(&doc, "2.99");
    assert_eq!(p["type"], "inAppPurchasePricePoints");
    assert!(p["attributes"].get("proceedsYear2").is_none());
    let id = p["id"].as_str().unwrap().to_string();
    let r = w
        .get(&format!(
            "/v1/inAppPurchasePricePoints/{id}/equalizations?filter[territory]=JPN"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);

    // A price schedule whose inline manual price names the price point.
    let body = |pp: &str| {
        json!({
            "data": {
                "type": "inAppPurchasePriceSchedules",
                "relationships": {
                    "inAppPurchase": rel("inAppPurchases", IAP),
                    "baseTerritory": rel("territories", "USA"),
                    "manualPrices": { "data": [{ "type": "inAppPurchasePrices", "id": "${price1}" }] }
                }
            },
            "included": [{
                "type": "inAppPurchasePrices",
                "id": "${price1}",
                "attributes": { "startDate": null },
                "relationships": {
                    "inAppPurchaseV2": rel("inAppPurchases", IAP),
                    "inAppPurchasePricePoint": rel("inAppPurchasePricePoints", pp)
                }
            }]
        })
    };
    // Refused (§5's answer): no price point, and another in-app purchase's price point.
    let others = points_in(
        &w,
        &format!("/v2/inAppPurchases/{OTHER_IAP}/pricePoints"),
        "USA",
        "",
    )
    .await;
    for (what, pp) in [
        ("no price point", "bm90LWEtcHJpY2UtcG9pbnQ"),
        (
            "another in-app purchase's price point",
            priced(&others, "2.99")["id"].as_str().unwrap(),
        ),
    ] {
        let r = w
            .call(
                "POST",
                "/v1/inAppPurchasePriceSchedules",
                Some(&w.token),
                Some(body(pp)),
            )
            .await;
        assert_error(
            &r,
            409,
            "ENTITY_ERROR.RELATIONSHIP.INVALID",
            PRICING_DETAIL,
            what,
        );
        assert_eq!(
            r.json()["errors"][0]["source"]["pointer"],
            "/included/0/relationships/inAppPurchasePricePoint/id",
            "{what}"
        );
    }
    let r = w
        .call(
            "POST",
            "/v1/inAppPurchasePriceSchedules",
            Some(&w.token),
            Some(body(&id)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

/// §5: the starting price is set with `PATCH /v1/subscriptions/{id}` and inline `included`
/// prices; each inline price follows the same rules.
#[tokio::test]
async fn starting_prices_inline_in_a_subscription_update() {
    let w = demo().await;
    make_available(&w, SUB, &["USA", "JPN"]).await;
    let usa = point(&w, SUB, "USA", "4.99").await;
    let jpn = equalized(&w, &usa, "JPN").await;
    let gbr = equalized(&w, &usa, "GBR").await;
    let patch = |points: &[&str]| {
        let included: Vec<Value> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({ "type": "subscriptionPrices", "id": format!("${{price{i}}}"),
                        "relationships": { "subscriptionPricePoint": rel("subscriptionPricePoints", p) } })
            })
            .collect();
        let linkage: Vec<Value> = (0..points.len())
            .map(|i| json!({ "type": "subscriptionPrices", "id": format!("${{price{i}}}") }))
            .collect();
        json!({ "data": { "type": "subscriptions", "id": SUB,
                          "relationships": { "prices": { "data": linkage } } },
                "included": included })
    };
    let path = format!("/v1/subscriptions/{SUB}");
    // GBR is not among the subscription's territories: nothing is written.
    let r = w
        .call("PATCH", &path, Some(&w.token), Some(patch(&[&usa, &gbr])))
        .await;
    assert_error(
        &r,
        409,
        "ENTITY_ERROR.RELATIONSHIP.INVALID",
        PRICING_DETAIL,
        "inline price outside the availability",
    );
    assert_eq!(prices(&w).await["data"].as_array().unwrap().len(), 0);

    let r = w
        .call("PATCH", &path, Some(&w.token), Some(patch(&[&usa, &jpn])))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = prices(&w).await;
    let mut territories: Vec<&str> = doc["included"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["type"] == "territories")
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    territories.sort();
    assert_eq!(territories, ["JPN", "USA"]);
    for p in doc["data"].as_array().unwrap() {
        assert_eq!(p["attributes"]["startDate"], day(&w, 0).as_str());
    }
}
