//! Helpers of the Analytics Reports suites (tests/analytics*.rs): requests of the demo app, app
//! units of a day, instance lists, segment downloads at their pre-signed URL.

use super::reports::{NOT_FOUND_TITLE, e, err, now_ms};
use super::{Resp, World};
use crabapple_reports::pacific;
use crabapple_reports::{AppUnitsRow, ReportsTx};
use jiff::civil::Date;
use serde_json::{Value, json};

pub const APP: &str = "1476097583";

/// `POST /v1/analyticsReportRequests` for `app` and `access`.
pub async fn post_request(w: &World, app: &str, access: &str) -> Resp {
    let body = json!({ "data": { "type": "analyticsReportRequests", "attributes": { "accessType": access }, "relationships": { "app": { "data": { "type": "apps", "id": app } } } } });
    w.call(
        "POST",
        "/v1/analyticsReportRequests",
        Some(&w.token),
        Some(body),
    )
    .await
}

/// `DELETE /v1/analyticsReportRequests/{id}`, answered 204.
pub async fn delete_request(w: &World, id: &str) {
    let d = w
        .call(
            "DELETE",
            &format!("/v1/analyticsReportRequests/{id}"),
            Some(&w.token),
            None,
        )
        .await;
    assert_eq!(d.status, 204, "{}", String::from_utf8_lossy(&d.body));
}

/// A new request of `access` for the demo app (the demo world's own one deleted first: one
/// request per app and accessType, §2.3).
pub async fn request(w: &World, access: &str) -> String {
    let old = w
        .get(&format!("/v1/apps/{APP}/analyticsReportRequests"))
        .await
        .json();
    for r in old["data"].as_array().unwrap() {
        if r["attributes"]["accessType"] == access {
            delete_request(w, r["id"].as_str().unwrap()).await;
        }
    }
    let r = post_request(w, APP, access).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

/// §2.3's answer to a second request of an app and accessType.
pub fn assert_already_have(r: &Resp) {
    assert_eq!(
        err(r),
        e(
            409,
            "STATE_ERROR",
            "The request cannot be fulfilled because of the state of another resource.",
            "You already have such an entity",
            ""
        )
    );
}

/// The admin API's analytics endpoint `path` (`settings`, `faults`, …) called with `method`.
pub async fn analytics_admin(w: &World, method: &str, path: &str, body: Option<Value>) -> Resp {
    w.call(
        method,
        &format!("/crabapple/admin/analytics/{path}"),
        None,
        body,
    )
    .await
}

/// Moves the virtual clock to `hours` after 00:00 Pacific of `day`.
pub async fn at_day(w: &World, day: Date, hours: i64) {
    super::reports::advance_to(w, pacific::day_bounds_ms(day).0 + hours * 3_600_000).await;
}

/// The processing dates of a report's instances (`query` appended) and the list's
/// `X-Crabapple-Reason`.
pub async fn listed(w: &World, report: &str, query: &str) -> (Vec<String>, Option<String>) {
    let r = w
        .get(&format!(
            "/v1/analyticsReports/{report}/instances?limit=200{query}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let dates = processing_dates(r.json()["data"].as_array().unwrap());
    (dates, r.header("x-crabapple-reason"))
}

/// The `processingDate`s of a list of instances.
pub fn processing_dates(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|i| {
            i["attributes"]["processingDate"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
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
    download(w, &seg).await
}

/// The file of the first segment of a `…/segments` document, downloaded at its pre-signed URL
/// without Authorization (200).
pub async fn download(w: &World, segments: &Value) -> Resp {
    let url = segments["data"][0]["attributes"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no segment: {segments}"))
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
