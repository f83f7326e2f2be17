//! Helpers of the reports suites (tests/reports.rs, tests/reports_errors.rs): request URIs,
//! Apple's error parts, gunzip, the admin API's purchase and clock.

use super::{Resp, World};
use serde_json::{Value, json};
use std::io::Read;

/// App units of one day and dimension (First-time downloads and the like) as the simulator
/// records them, on an iPhone found by App Store search.
pub fn units(
    app: &str,
    day: &str,
    download_type: &str,
    territory: &str,
    n: i64,
) -> crabapple_reports::AppUnitsRow {
    crabapple_reports::AppUnitsRow {
        app_id: app.into(),
        day: day.into(),
        download_type: download_type.into(),
        app_version: "2.1".into(),
        device: "iPhone".into(),
        platform_version: "iOS 18.2".into(),
        source_type: "App Store search".into(),
        source_info: String::new(),
        campaign: String::new(),
        page_type: "Product page".into(),
        territory: territory.into(),
        pre_order: false,
        units: n,
    }
}

pub fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

pub async fn post(w: &World, path: &str, body: Value) -> Value {
    let r = w.call("POST", path, None, Some(body)).await;
    assert!(
        r.status < 300,
        "{path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

pub async fn now_ms(w: &World) -> i64 {
    w.app.store().clock.now_ms()
}

/// Moves the virtual clock forward to `target_ms` (at least one millisecond).
pub async fn advance_to(w: &World, target_ms: i64) {
    let by = (target_ms - now_ms(w).await).max(1);
    post(
        w,
        "/crabapple/admin/clock/advance",
        json!({"by": format!("{by}ms")}),
    )
    .await;
}

/// Moves the clock to when today's daily files are out (08:00 Pacific the next day, §2.3) and
/// returns today's Pacific day as `filter[reportDate]` writes it.
pub async fn until_todays_files(w: &World) -> String {
    let day = crabapple_reports::pacific::day_of_ms(now_ms(w).await);
    advance_to(
        w,
        crabapple_reports::period::at_8_pacific(day.tomorrow().unwrap()),
    )
    .await;
    day.to_string()
}

pub fn vendor() -> &'static str {
    "85012345"
}

pub fn sales_uri(
    rtype: &str,
    sub: &str,
    freq: &str,
    date: Option<&str>,
    version: Option<&str>,
) -> String {
    let mut u = format!(
        "/v1/salesReports?filter[vendorNumber]={}&filter[reportType]={rtype}&filter[reportSubType]={sub}&filter[frequency]={freq}",
        vendor()
    );
    if let Some(d) = date {
        u.push_str(&format!("&filter[reportDate]={d}"));
    }
    if let Some(v) = version {
        u.push_str(&format!("&filter[version]={v}"));
    }
    u
}

pub fn finance_uri(rtype: &str, region: &str, date: &str) -> String {
    format!(
        "/v1/financeReports?filter[vendorNumber]={}&filter[reportType]={rtype}&filter[regionCode]={region}&filter[reportDate]={date}",
        vendor()
    )
}

/// An error's (status, code, title, detail, source.parameter).
pub type ErrorParts = (u16, String, String, String, String);

/// The error's (status, code, title, detail, source.parameter).
pub fn err(r: &Resp) -> ErrorParts {
    let v = r.json();
    let e = &v["errors"][0];
    let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    (
        r.status,
        s("code"),
        s("title"),
        s("detail"),
        e["source"]["parameter"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

pub fn e(status: u16, code: &str, title: &str, detail: &str, param: &str) -> ErrorParts {
    (
        status,
        code.into(),
        title.into(),
        detail.into(),
        param.into(),
    )
}

pub const NO_SALES: &str = "There were no sales for the date specified.";
pub const NOT_FOUND_TITLE: &str = "The specified resource does not exist";
pub const INVALID: &str = "PARAMETER_ERROR.INVALID";
pub const INVALID_TITLE: &str = "A parameter has an invalid value";
