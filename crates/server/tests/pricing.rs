//! Subscription and in-app purchase price points and Apple's pricing rules (apple-semantics.md §5)
//! through the HTTP surface, on the demo world.

mod common;

use common::*;
use crabapple_storekit::commerce::price_day::{
    DEFAULT_TIME_ZONE, PriceZone, TIME_ZONE_KEY, day_in, zone,
};
use serde_json::{Value, json};

/// Notes Pro Monthly (demo world).
const SUB: &str = "6449081301";
/// Notes Pro Yearly (demo world).
const OTHER_SUB: &str = "6449081302";
/// Handwriting Pack (demo world).
const IAP: &str = "6449081234";
/// Theme Bundle (demo world).
const OTHER_IAP: &str = "6449081235";
/// crabapple's tiers × storefronts (price_points.rs).
const TIERS: usize = 41;
const TERRITORIES: usize = 7;

const PRICING_DETAIL: &str = "An error occurred while processing the pricing information.";

fn rel(t: &str, id: &str) -> Value {
    json!({ "data": { "type": t, "id": id } })
}

/// The price points at `path` (a product's `pricePoints`) in `territory`, on one page.
async fn points_in(w: &World, path: &str, territory: &str, extra: &str) -> Value {
    let r = w
        .get(&format!(
            "{path}?filter[territory]={territory}&limit=200{extra}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// The price point of a list costing `price`.
fn priced<'a>(doc: &'a Value, price: &str) -> &'a Value {
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["customerPrice"] == price)
        .unwrap_or_else(|| panic!("no {price} price point"))
}

/// The id of `sub`'s price point in `territory` costing `price`.
async fn point(w: &World, sub: &str, territory: &str, price: &str) -> String {
    let doc = points_in(
        w,
        &format!("/v1/subscriptions/{sub}/pricePoints"),
        territory,
        "",
    )
    .await;
    priced(&doc, price)["id"].as_str().unwrap().to_string()
}

/// The id of the same tier in another territory (`equalizations`).
async fn equalized(w: &World, point: &str, territory: &str) -> String {
    equalized_in(w, point, territory, "").await
}

async fn equalized_in(w: &World, point: &str, territory: &str, extra: &str) -> String {
    let doc = points_in(
        w,
        &format!("/v1/subscriptionPricePoints/{point}/equalizations"),
        territory,
        extra,
    )
    .await;
    assert_eq!(doc["data"].as_array().unwrap().len(), 1, "{doc}");
    doc["data"][0]["id"].as_str().unwrap().to_string()
}

async fn make_available(w: &World, sub: &str, territories: &[&str]) {
    let ts: Vec<Value> = territories
        .iter()
        .map(|t| json!({ "type": "territories", "id": t }))
        .collect();
    let r = w
        .call(
            "POST",
            "/v1/subscriptionAvailabilities",
            Some(&w.token),
            Some(json!({ "data": {
                "type": "subscriptionAvailabilities",
                "attributes": { "availableInNewTerritories": false },
                "relationships": {
                    "subscription": rel("subscriptions", sub),
                    "availableTerritories": { "data": ts },
                }
            }})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

async fn post_price(w: &World, sub: &str, point: &str, start: Option<&str>) -> Resp {
    let mut attributes = json!({ "preserveCurrentPrice": false });
    if let Some(s) = start {
        attributes["startDate"] = json!(s);
    }
    w.call(
        "POST",
        "/v1/subscriptionPrices",
        Some(&w.token),
        Some(json!({ "data": {
            "type": "subscriptionPrices",
            "attributes": attributes,
            "relationships": {
                "subscription": rel("subscriptions", sub),
                "subscriptionPricePoint": rel("subscriptionPricePoints", point),
            }
        }})),
    )
    .await
}

fn assert_error(r: &Resp, status: u16, code: &str, detail: &str, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let e = &r.json()["errors"][0];
    assert_eq!(e["status"], status.to_string(), "{what}");
    assert_eq!(e["code"], code, "{what}");
    assert_eq!(e["detail"], detail, "{what}");
}

/// The day `days` from now in App Store Connect's price zone (Pacific time, forum post 13).
fn day(w: &World, days: i64) -> String {
    day_in(
        w.app.store().now_ms() + days * 86_400_000,
        &zone(DEFAULT_TIME_ZONE).unwrap(),
    )
}

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

const FUTURE_EXISTS: &str = "Must delete future price change before creating a new price change.";

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

async fn delete_price(w: &World, id: &str) -> Resp {
    w.call(
        "DELETE",
        &format!("/v1/subscriptionPrices/{id}"),
        Some(&w.token),
        None,
    )
    .await
}

/// §5: 409 "Cannot delete Subscription Price with id <id>. Only future price changes can be
/// deleted."
async fn assert_delete_refused(w: &World, id: &str, what: &str) {
    let r = delete_price(w, id).await;
    assert_error(
        &r,
        409,
        "ENTITY_ERROR",
        &format!(
            "Cannot delete Subscription Price with id {id}. Only future price changes can be deleted."
        ),
        what,
    );
}

async fn prices(w: &World) -> Value {
    let r = w
        .get(&format!(
            "/v1/subscriptions/{SUB}/prices?include=subscriptionPricePoint,territory"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
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

/// Moves the virtual clock to `at` (ms) through the admin API, running what is due.
async fn clock_to(w: &World, at: i64) {
    let by = at - w.app.store().now_ms();
    assert!(by >= 0, "the clock only moves forward");
    let r = w
        .call(
            "POST",
            "/crabapple/admin/clock/advance",
            None,
            Some(json!({ "by": by.to_string() })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

fn pacific() -> PriceZone {
    PriceZone {
        name: DEFAULT_TIME_ZONE.into(),
        tz: zone(DEFAULT_TIME_ZONE).unwrap(),
    }
}

const HOUR: i64 = 3_600_000;

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
