//! What the pricing tests share: the demo world's subscription, its price points, posting and
//! deleting `subscriptionPrices`, Apple's error assertions and the virtual clock.
// Each test crate uses part of it.
#![allow(dead_code)]

use crate::common::*;
use crabapple_storekit::commerce::price_day::{DEFAULT_TIME_ZONE, PriceZone, day_in, zone};
use serde_json::{Value, json};

pub fn rel(t: &str, id: &str) -> Value {
    json!({ "data": { "type": t, "id": id } })
}

/// The price points at `path` (a product's `pricePoints`) in `territory`, on one page.
pub async fn points_in(w: &World, path: &str, territory: &str, extra: &str) -> Value {
    let r = w
        .get(&format!(
            "{path}?filter[territory]={territory}&limit=200{extra}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// The price point of a list costing `price`.
pub fn priced<'a>(doc: &'a Value, price: &str) -> &'a Value {
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["customerPrice"] == price)
        .unwrap_or_else(|| panic!("no {price} price point"))
}

/// The id of `sub`'s price point in `territory` costing `price`.
pub async fn point(w: &World, sub: &str, territory: &str, price: &str) -> String {
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
pub async fn equalized(w: &World, point: &str, territory: &str) -> String {
    equalized_in(w, point, territory, "").await
}

pub async fn equalized_in(w: &World, point: &str, territory: &str, extra: &str) -> String {
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

pub async fn make_available(w: &World, sub: &str, territories: &[&str]) {
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

pub async fn post_price(w: &World, sub: &str, point: &str, start: Option<&str>) -> Resp {
    post_price_preserving(w, sub, point, start, false).await
}

/// `POST /v1/subscriptionPrices` with `preserveCurrentPrice`.
pub async fn post_price_preserving(
    w: &World,
    sub: &str,
    point: &str,
    start: Option<&str>,
    preserve: bool,
) -> Resp {
    let mut attributes = json!({ "preserveCurrentPrice": preserve });
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

pub fn assert_error(r: &Resp, status: u16, code: &str, detail: &str, what: &str) {
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
pub fn day(w: &World, days: i64) -> String {
    day_in(
        w.app.store().now_ms() + days * 86_400_000,
        &zone(DEFAULT_TIME_ZONE).unwrap(),
    )
}

pub async fn delete_price(w: &World, id: &str) -> Resp {
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
pub async fn assert_delete_refused(w: &World, id: &str, what: &str) {
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

pub async fn prices(w: &World) -> Value {
    let r = w
        .get(&format!(
            "/v1/subscriptions/{SUB}/prices?include=subscriptionPricePoint,territory"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub const FUTURE_EXISTS: &str =
    "Must delete future price change before creating a new price change.";

/// Moves the virtual clock to `at` (ms) through the admin API, running what is due.
pub async fn clock_to(w: &World, at: i64) {
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

pub fn pacific() -> PriceZone {
    PriceZone {
        name: DEFAULT_TIME_ZONE.into(),
        tz: zone(DEFAULT_TIME_ZONE).unwrap(),
    }
}

pub const HOUR: i64 = 3_600_000;

pub const PRICING_DETAIL: &str = "An error occurred while processing the pricing information.";

/// Notes Pro Monthly (demo world).
pub const SUB: &str = "6449081301";
