//! Helpers of the Analytics Reports suites (tests/analytics*.rs): requests of the demo app, app
//! units of a day, instance lists, segment downloads at their pre-signed URL.

use super::reports::{err, e, now_ms, NOT_FOUND_TITLE};
use super::{Resp, World};
use crabapple_reports::pacific;
use crabapple_store::reports::AppUnitsRow;
use jiff::civil::Date;
use serde_json::{Value, json};

pub const APP: &str = "1476097583";

/// A new request of `access` for the demo app (the demo world's own one deleted first: one
/// request per app and accessType, §2.3).
pub async fn request(w: &World, access: &str) -> String {
    let old = w
        .get(&format!("/v1/apps/{APP}/analyticsReportRequests"))
        .await
        .json();
    for r in old["data"].as_array().unwrap() {
        if r["attributes"]["accessType"] == access {
            let id = r["id"].as_str().unwrap();
            let d = w
                .call(
                    "DELETE",
                    &format!("/v1/analyticsReportRequests/{id}"),
                    Some(&w.token),
                    None,
                )
                .await;
            assert_eq!(d.status, 204);
        }
    }
    let body = json!({ "data": { "type": "analyticsReportRequests", "attributes": { "accessType": access }, "relationships": { "app": { "data": { "type": "apps", "id": APP } } } } });
    let r = w
        .call(
            "POST",
            "/v1/analyticsReportRequests",
            Some(&w.token),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

pub fn ids(doc: &Value) -> Vec<String> {
    doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn day_units(
    day: Date,
    download_type: &str,
    territory: &str,
    source_info: &str,
    n: i64,
) -> AppUnitsRow {
    AppUnitsRow {
        app_id: APP.into(),
        day: day.to_string(),
        download_type: download_type.into(),
        app_version: "2.1".into(),
        device: "iPhone".into(),
        platform_version: "iOS 18.2".into(),
        source_type: "App Store search".into(),
        source_info: source_info.into(),
        campaign: String::new(),
        page_type: "Product page".into(),
        territory: territory.into(),
        pre_order: false,
        units: n,
    }
}

pub async fn add_units(w: &World, rows: &[AppUnitsRow]) {
    let mut tx = w.app.store().begin().await.unwrap();
    tx.add_app_units(rows).await.unwrap();
    tx.commit().await.unwrap();
}

pub fn not_found(r: &Resp, rtype: &str, id: &str) {
    assert_eq!(
        err(r),
        e(
            404,
            "NOT_FOUND",
            NOT_FOUND_TITLE,
            &format!("There is no resource of type '{rtype}' with id '{id}'"),
            ""
        )
    );
}

pub async fn today(w: &World) -> Date {
    pacific::day_of_ms(now_ms(w).await)
}

/// The segment file of an instance, downloaded at its pre-signed URL without Authorization.
pub async fn segment_file(w: &World, instance: &str) -> Resp {
    let seg = w
        .get(&format!("/v1/analyticsReportInstances/{instance}/segments"))
        .await
        .json();
    let url = seg["data"][0]["attributes"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no segment: {seg}"))
        .to_string();
    let r = w
        .call(
            "GET",
            url.trim_start_matches("http://crabapple.test:8686"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r
}

/// `X-Crabapple-Reason` as sent (percent-encoded outside printable ASCII).
pub fn reason(text: &str) -> String {
    crabapple_http::encode_header_text(text)
}

/// The instances of a report (all pages).
pub async fn instances(w: &World, report: &str, query: &str) -> Vec<Value> {
    let r = w
        .get(&format!(
            "/v1/analyticsReports/{report}/instances?limit=200{query}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"].as_array().unwrap().clone()
}

