//! Sales and Trends and Finance downloads end to end (issue 9): a purchase through the admin API,
//! the virtual clock moved on, then the next day's SALES file and the FINANCIAL / FINANCE_DETAIL
//! files of its fiscal period contain it — with Apple's transport (reports-formats.md §1.1) and
//! byte-identical on a second download. Then every error of these endpoints, exact texts.

mod common;

use common::*;
use crabapple_auth::KeyKind;
use crabapple_reports::{fiscal, pacific};
use crabapple_store::reports::AppUnitsRow;
use serde_json::{Value, json};
use std::io::Read;

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

async fn post(w: &World, path: &str, body: Value) -> Value {
    let r = w.call("POST", path, None, Some(body)).await;
    assert!(
        r.status < 300,
        "{path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

async fn now_ms(w: &World) -> i64 {
    w.app.store().clock.now_ms()
}

/// Moves the virtual clock forward to `target_ms` (at least one millisecond).
async fn advance_to(w: &World, target_ms: i64) {
    let by = (target_ms - now_ms(w).await).max(1);
    post(
        w,
        "/crabapple/admin/clock/advance",
        json!({"by": format!("{by}ms")}),
    )
    .await;
}

fn vendor() -> &'static str {
    "85012345"
}

fn sales_uri(
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

fn finance_uri(rtype: &str, region: &str, date: &str) -> String {
    format!(
        "/v1/financeReports?filter[vendorNumber]={}&filter[reportType]={rtype}&filter[regionCode]={region}&filter[reportDate]={date}",
        vendor()
    )
}

/// An error's (status, code, title, detail, source.parameter).
type ErrorParts = (u16, String, String, String, String);

/// The error's (status, code, title, detail, source.parameter).
fn err(r: &Resp) -> ErrorParts {
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

fn e(status: u16, code: &str, title: &str, detail: &str, param: &str) -> ErrorParts {
    (
        status,
        code.into(),
        title.into(),
        detail.into(),
        param.into(),
    )
}

const NO_SALES: &str = "There were no sales for the date specified.";
const NOT_FOUND_TITLE: &str = "The specified resource does not exist";
const INVALID: &str = "PARAMETER_ERROR.INVALID";
const INVALID_TITLE: &str = "A parameter has an invalid value";

#[tokio::test]
async fn issue_9_a_purchase_appears_in_the_next_days_sales_file_and_its_fiscal_periods_finance_files()
 {
    let w = demo().await;
    let bought = post(
        &w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "storefront": "GBR", "customer": "reports-1"}),
    )
    .await;
    // A sandbox purchase never reaches the reports.
    post(
        &w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "customer": "reports-sandbox"}),
    )
    .await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    let date = day.to_string();

    let daily = sales_uri("SALES", "SUMMARY", "DAILY", Some(&date), Some("1_0"));
    // §2.3: before 08:00 Pacific the next day the daily report is not there yet.
    let r = w.get(&daily).await;
    assert_eq!(
        err(&r),
        e(
            404,
            "NOT_FOUND",
            NOT_FOUND_TITLE,
            "Report is not available yet.",
            ""
        )
    );

    advance_to(
        &w,
        crabapple_reports::period::at_8_pacific(day.tomorrow().unwrap()),
    )
    .await;
    let r = w.get(&daily).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // §1.1: Apple's transport, exactly.
    let name = format!("S_D_{}_{}_V1_0.txt.gz", vendor(), day.strftime("%Y%m%d"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/a-gzip")
    );
    assert_eq!(r.header("content-encoding").as_deref(), Some("agzip"));
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment;filename={name}"))
    );
    assert_eq!(r.header("x-reports-filename"), Some(name));
    assert_eq!(
        r.header("x-reports-download-version").as_deref(),
        Some("1_0")
    );
    let text = gunzip(&r.body);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(crabapple_reports::sales::HEADER));
    let us = day.strftime("%m/%d/%Y").to_string();
    assert_eq!(bought["transaction"]["price"], json!(2990));
    let row: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(
        lines.next(),
        None,
        "the sandbox purchase is not reported: {text}"
    );
    assert_eq!(row.len(), 28);
    assert_eq!(
        (row[0], row[1], row[2], row[4], row[6], row[7]),
        (
            "APPLE",
            "US",
            "com.crabapple.notes.handwriting",
            "Handwriting Pack",
            "IA1",
            "1"
        )
    );
    assert_eq!(
        (row[9], row[10], row[11], row[12], row[13]),
        (us.as_str(), us.as_str(), "GBP", "GB", "GBP")
    );
    assert_eq!((row[14], row[17]), ("6449081234", "CRABNOTES1"));
    // GBP 2.99 incl. 20 % VAT → net 2.4916…, × 0.85 (Small Business Program) = 2.11 (§2.4:
    // proceeds per unit).
    assert_eq!((row[15], row[8]), ("2.99", "2.11"));
    let (customer_price, proceeds) = (row[15].to_string(), row[8].to_string());
    // Determinism: the same ledger, the same bytes.
    let again = w.get(&daily).await;
    assert_eq!(again.body, r.body);
    // An omitted reportDate is the latest daily report: this one.
    let latest = w
        .get(&sales_uri("SALES", "SUMMARY", "DAILY", None, None))
        .await;
    assert_eq!(latest.body, r.body);

    // Finance: the fiscal period of the purchase, once issued (§3.6, first Friday after it).
    let period = fiscal::Period::containing(day);
    let fdate = period.report_date();
    let r = w.get(&finance_uri("FINANCIAL", "GB", &fdate)).await;
    assert_eq!(err(&r), e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""));
    advance_to(
        &w,
        crabapple_reports::period::at_8_pacific(period.issued_on()),
    )
    .await;
    let r = w.get(&finance_uri("FINANCIAL", "GB", &fdate)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/a-gzip")
    );
    assert_eq!(
        r.header("x-reports-filename"),
        Some(crabapple_reports::finance::file_name(
            vendor(),
            &period,
            "GB"
        ))
    );
    let text = gunzip(&r.body);
    let (start, end) = (
        period.start.strftime("%m/%d/%Y").to_string(),
        period.end.strftime("%m/%d/%Y").to_string(),
    );
    assert_eq!(
        text,
        format!(
            "{}\n{start}\t{end}\t\t\tcom.crabapple.notes.handwriting\t1\t{proceeds}\t{proceeds}\tGBP\tS\t6449081234\t\tHandwriting Pack\t\t\tIA1\t\tGB\t\t\t{customer_price}\tGBP\nTotal_Rows\t1\nTotal_Amount\t{proceeds}\nTotal_Units\t1\n",
            crabapple_reports::finance::FINANCIAL_HEADER
        )
    );
    assert_eq!(
        w.get(&finance_uri("FINANCIAL", "GB", &fdate)).await.body,
        r.body
    );
    // Another region has no earnings: 404 no sales.
    let r = w.get(&finance_uri("FINANCIAL", "US", &fdate)).await;
    assert_eq!(err(&r), e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""));
    // ZZ: every region, then the per-country summary.
    let zz = gunzip(&w.get(&finance_uri("FINANCIAL", "ZZ", &fdate)).await.body);
    assert!(zz.ends_with(&format!("Total_Rows\t1\nCountry Of Sale\tPartner Share Currency\tQuantity\tExtended Partner Share\nGB\tGBP\t1\t{proceeds}\n")), "{zz}");
    // FINANCE_DETAIL Z1: preamble, header, the row with its trailing empty cell, the summary.
    let detail = gunzip(
        &w.get(&finance_uri("FINANCE_DETAIL", "Z1", &fdate))
            .await
            .body,
    );
    assert_eq!(
        detail,
        format!(
            "Vendor Name\tCrabapple Demo Team\nStart Date\t{start}\nEnd Date\t{end}\n{}\n{us}\t{us}\t6449081234\tcom.crabapple.notes.handwriting\tHandwriting Pack\tCrabapple Demo Team\tIA1\tGB\t1\t{proceeds}\t{proceeds}\tGBP\t{customer_price}\tGBP\tS\t\t\tZ1\t\nCountry Of Sale\tPartner Share Currency\tQuantity\tExtended Partner Share\nGB\tGBP\t1\t{proceeds}\n",
            crabapple_reports::finance::DETAIL_HEADER
        )
    );
}

fn units(app: &str, day: &str, download_type: &str, territory: &str, n: i64) -> AppUnitsRow {
    AppUnitsRow {
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

/// §2.4: app units by Product Type Identifier (1F first-time, 3F redownload/restore, 7F updates),
/// summed over the dimensions the file does not show; a refund is a line of its own with
/// negative Units and Customer Price and positive proceeds; weekly and monthly files add days up.
#[tokio::test]
async fn s2_4_app_units_and_refunds_in_daily_and_monthly_files() {
    let w = demo().await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    let d = day.to_string();
    let mut tx = w.app.store().begin().await.unwrap();
    let mut source = units("1476097583", &d, "First-time download", "US", 3);
    source.source_type = "App referrer".into();
    tx.add_app_units(&[
        units("1476097583", &d, "First-time download", "US", 5),
        source,
        units("1476097583", &d, "Redownload", "US", 2),
        units("1476097583", &d, "Restore", "US", 1),
        units("1476097583", &d, "Auto-update", "DE", 7),
        // Pippin Budget is a paid app (USD 4.99): first-time downloads carry the price.
        units("1490553127", &d, "First-time download", "GB", 2),
        units("1490553127", &d, "Redownload", "GB", 1),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let bought = post(
        &w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "customer": "refunds"}),
    )
    .await;
    let next = day.tomorrow().unwrap();
    advance_to(&w, pacific::day_bounds_ms(next).0 + 3_600_000).await;
    post(
        &w,
        "/crabapple/admin/commerce/refund",
        json!({"bundleId": "com.crabapple.notes", "transactionId": bought["transactionId"], "environment": "production"}),
    )
    .await;
    advance_to(
        &w,
        crabapple_reports::period::at_8_pacific(next.tomorrow().unwrap()),
    )
    .await;
    let file = |date: String| sales_uri("SALES", "SUMMARY", "DAILY", Some(&date), None);
    let text = gunzip(&w.get(&file(d.clone())).await.body);
    let us = day.strftime("%m/%d/%Y").to_string();
    let app = |pti: &str, n: i64, cur: &str, cc: &str| {
        format!(
            "APPLE\tUS\tCRABNOTES1\tCrabapple Demo Team\tCrabapple Notes\t2.1\t{pti}\t{n}\t0.00\t{us}\t{us}\t{cur}\t{cc}\t{cur}\t1476097583\t0.00\t\t\t\t\t\t\tiPhone\t\t\t\t\t"
        )
    };
    let pippin = |pti: &str, n: i64, proceeds: &str, price: &str| {
        format!(
            "APPLE\tUS\tPIPPINBUDGET\tCrabapple Demo Team\tPippin Budget\t2.1\t{pti}\t{n}\t{proceeds}\t{us}\t{us}\tGBP\tGB\tGBP\t1490553127\t{price}\t\t\t\t\t\t\tiPhone\t\t\t\t\t"
        )
    };
    let sale = format!(
        "APPLE\tUS\tcom.crabapple.notes.handwriting\tCrabapple Demo Team\tHandwriting Pack\t\tIA1\t1\t2.54\t{us}\t{us}\tUSD\tUS\tUSD\t6449081234\t2.99\t\tCRABNOTES1\t\t\t\t\t\t\t\t\t\t"
    );
    assert_eq!(
        text,
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{sale}\n",
            crabapple_reports::sales::HEADER,
            app("1F", 8, "USD", "US"),
            app("3F", 3, "USD", "US"),
            app("7F", 7, "EUR", "DE"),
            // GBP 4.99 incl. 20 % VAT → proceeds 3.53; the redownload is free.
            pippin("1F", 2, "3.53", "4.99"),
            pippin("3F", 1, "0.00", "0.00"),
        )
    );
    let refund_day = gunzip(&w.get(&file(next.to_string())).await.body);
    let un = next.strftime("%m/%d/%Y").to_string();
    assert_eq!(
        refund_day.lines().nth(1),
        Some(format!("APPLE\tUS\tcom.crabapple.notes.handwriting\tCrabapple Demo Team\tHandwriting Pack\t\tIA1\t-1\t2.54\t{un}\t{un}\tUSD\tUS\tUSD\t6449081234\t-2.99\t\tCRABNOTES1\t\t\t\t\t\t\t\t\t\t").as_str())
    );
    assert_eq!(refund_day.lines().count(), 2);

    // The month's file, once out (5 days after the month ends): the days add up.
    let month = crabapple_reports::period::ReportPeriod::parse(
        crabapple_reports::period::Frequency::Monthly,
        &day.strftime("%Y-%m").to_string(),
    )
    .unwrap();
    advance_to(&w, month.available_ms()).await;
    let r = w
        .get(&sales_uri(
            "SALES",
            "SUMMARY",
            "MONTHLY",
            Some(&day.strftime("%Y-%m").to_string()),
            Some("1_0"),
        ))
        .await;
    assert_eq!(
        r.header("x-reports-filename"),
        Some(format!(
            "S_M_{}_{}_V1_0.txt.gz",
            vendor(),
            day.strftime("%Y%m")
        ))
    );
    let text = gunzip(&r.body);
    let (first, last) = (
        month.first.strftime("%m/%d/%Y").to_string(),
        month.last.strftime("%m/%d/%Y").to_string(),
    );
    let first_time = text.lines().nth(1).unwrap().split('\t').collect::<Vec<_>>();
    assert_eq!(
        (first_time[6], first_time[7], first_time[9], first_time[10]),
        ("1F", "8", first.as_str(), last.as_str())
    );
    let iap: Vec<&str> = text.lines().filter(|l| l.contains("\tIA1\t")).collect();
    assert_eq!(iap.len(), if month.last >= next { 2 } else { 1 }, "{text}");
}

/// Every error of the two endpoints, exact status, code, title, detail and source (the § in each
/// line). Dates are relative to the virtual clock.
#[tokio::test]
async fn s2_5_and_s4_every_report_error_text() {
    let w = demo().await;
    let now = now_ms(&w).await;
    let today = pacific::day_of_ms(now);
    let tomorrow = today.tomorrow().unwrap().to_string();
    let two_years_ago = (today - jiff::Span::new().days(800)).to_string();
    let version_detail = "The version parameter you have specified is invalid. The latest version for this report is 1_4.";
    let cases: Vec<(&str, String, ErrorParts)> = vec![
        (
            "reports-formats.md §2.5 — a retired version 1_2",
            sales_uri(
                "SUBSCRIPTION",
                "SUMMARY",
                "DAILY",
                Some("2026-11-01"),
                Some("1_2"),
            ),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                version_detail,
                "filter[version]",
            ),
        ),
        (
            "apple-semantics.md §3 — subscription types require the version",
            sales_uri("SUBSCRIBER", "DETAILED", "DAILY", Some("2026-11-01"), None),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                version_detail,
                "filter[version]",
            ),
        ),
        (
            "reports-formats.md §2.1 — SALES 1_1 does not exist",
            sales_uri("SALES", "SUMMARY", "DAILY", Some("2026-11-01"), Some("1_1")),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The version parameter you have specified is invalid. The latest version for this report is 1_0.",
                "filter[version]",
            ),
        ),
        (
            "apple-semantics.md §3 — a sub type outside the table",
            sales_uri("SALES", "DETAILED", "DAILY", None, None),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The report sub type 'DETAILED' is not valid for the report type 'SALES'. Expected one of: SUMMARY",
                "filter[reportSubType]",
            ),
        ),
        (
            "apple-semantics.md §3 — a frequency outside the table",
            sales_uri(
                "SUBSCRIPTION_EVENT",
                "SUMMARY",
                "MONTHLY",
                None,
                Some("1_4"),
            ),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The frequency 'MONTHLY' is not valid for the report type 'SUBSCRIPTION_EVENT' and sub type 'SUMMARY'. Expected one of: DAILY",
                "filter[frequency]",
            ),
        ),
        (
            "reports-formats.md §2.3 — MONTHLY dates are YYYY-MM",
            sales_uri("SALES", "SUMMARY", "MONTHLY", Some("2026-11-01"), None),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The report date '2026-11-01' is not valid for MONTHLY reports. Expected the format YYYY-MM.",
                "filter[reportDate]",
            ),
        ),
        (
            "reports-formats.md §2.3 — YEARLY dates are YYYY",
            sales_uri("SALES", "SUMMARY", "YEARLY", Some("2025-01"), None),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The report date '2025-01' is not valid for YEARLY reports. Expected the format YYYY.",
                "filter[reportDate]",
            ),
        ),
        (
            "reports-formats.md §2.3 — DAILY dates are YYYY-MM-DD",
            sales_uri("SALES", "SUMMARY", "DAILY", Some("2026-11"), None),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The report date '2026-11' is not valid for DAILY reports. Expected the format YYYY-MM-DD.",
                "filter[reportDate]",
            ),
        ),
        (
            "reports-formats.md §2.3 — a future date",
            sales_uri("SALES", "SUMMARY", "DAILY", Some(&tomorrow), None),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                &format!("The report date '{tomorrow}' is in the future."),
                "filter[reportDate]",
            ),
        ),
        (
            "reports-formats.md §2.5 — today's report is not available yet",
            sales_uri("SALES", "SUMMARY", "DAILY", Some(&today.to_string()), None),
            e(
                404,
                "NOT_FOUND",
                NOT_FOUND_TITLE,
                "Report is not available yet.",
                "",
            ),
        ),
        (
            "reports-formats.md §2.3 — past the 1-year retention",
            sales_uri("SALES", "SUMMARY", "DAILY", Some(&two_years_ago), None),
            e(
                410,
                "GONE",
                "The requested resource is no longer available",
                "Report is no longer available.",
                "",
            ),
        ),
        (
            "reports-formats.md §2.3 — subscription types without a date",
            sales_uri("SUBSCRIPTION", "SUMMARY", "DAILY", None, Some("1_4")),
            e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""),
        ),
        (
            "reports-formats.md §2.4 — PRE_ORDER without pre-orders",
            sales_uri("PRE_ORDER", "SUMMARY", "DAILY", Some("2026-11-01"), None),
            e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""),
        ),
        (
            "apple-semantics.md §3 — a wrong vendor number",
            sales_uri("SALES", "SUMMARY", "DAILY", None, None).replace("85012345", "1"),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "'1' is not a valid vendor number for this account",
                "filter[vendorNumber]",
            ),
        ),
        (
            "apple-semantics.md §4 — FINANCE_DETAIL outside Z1",
            finance_uri("FINANCE_DETAIL", "EU", "2026-01"),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The region code 'EU' is not valid for the report type 'FINANCE_DETAIL'. Expected one of: Z1",
                "filter[regionCode]",
            ),
        ),
        (
            "apple-semantics.md §4 — FINANCIAL for Z1",
            finance_uri("FINANCIAL", "Z1", "2026-01"),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The region code 'Z1' is not valid for the report type 'FINANCIAL'. Expected one of: ZZ, EU, LL, AP, WW, AE, AU, BG, BR, CA, CH, CL, CN, CO, CZ, DK, EG, GB, HK, HR, HU, ID, IL, IN, JP, KR, KZ, MX, MY, NG, NO, NZ, PE, PH, PK, PL, QA, RO, RU, SA, SE, SG, TH, TR, TW, TZ, US, VN, ZA",
                "filter[regionCode]",
            ),
        ),
        (
            "apple-semantics.md §4 — a fiscal period outside 01–12",
            finance_uri("FINANCIAL", "US", "2026-13"),
            e(
                400,
                INVALID,
                INVALID_TITLE,
                "The report date '2026-13' is not valid. Expected the fiscal year and period in the format YYYY-MM.",
                "filter[reportDate]",
            ),
        ),
        (
            "apple-semantics.md §4 — a fiscal period not yet issued",
            finance_uri(
                "FINANCIAL",
                "US",
                &fiscal::Period::containing(today).report_date(),
            ),
            e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""),
        ),
        (
            "apple-semantics.md §4 — an issued period without earnings",
            finance_uri("FINANCIAL", "ZZ", "2026-01"),
            e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""),
        ),
    ];
    let mut facts = Vec::new();
    for (why, uri, want) in cases {
        let r = w.get(&uri).await;
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json"),
            "{why}"
        );
        assert_eq!(err(&r), want, "{why}: {uri}");
        let op = if uri.starts_with("/v1/salesReports") {
            "salesReports_getCollection"
        } else {
            "financeReports_getCollection"
        };
        facts.push(format!("{op}\t{why} → {} {}", want.0, want.1));
    }
    check_facts(
        "rules-reports",
        &rules_header("crates/server/tests/reports.rs"),
        facts,
    );
}

/// apple-semantics.md §1.2, §1.7: individual keys never; Sales and Reports reads sales but not
/// finance; Accept other than a-gzip → 406 (plain text).
#[tokio::test]
async fn s1_7_roles_individual_keys_and_accept() {
    let w = demo().await;
    let forbidden = e(
        403,
        "FORBIDDEN_ERROR",
        "This request is forbidden for security reasons",
        "The API key in use does not allow this request",
        "",
    );
    let sales = sales_uri("SALES", "SUMMARY", "DAILY", Some("2026-11-01"), None);
    let finance = finance_uri("FINANCIAL", "ZZ", "2026-01");
    let (_, sales_key) = w.key_token(KeyKind::Team, &["SALES"]).await;
    let r = w.call("GET", &sales, Some(&sales_key), None).await;
    assert_eq!(err(&r).3, NO_SALES);
    let r = w.call("GET", &finance, Some(&sales_key), None).await;
    assert_eq!(err(&r), forbidden);
    let (_, individual) = w.key_token(KeyKind::Individual, &["ADMIN"]).await;
    assert_eq!(
        err(&w.call("GET", &sales, Some(&individual), None).await),
        forbidden
    );
    assert_eq!(
        err(&w.call("GET", &finance, Some(&individual), None).await),
        forbidden
    );
    let (_, finance_key) = w.key_token(KeyKind::Team, &["FINANCE"]).await;
    assert_eq!(
        err(&w.call("GET", &finance, Some(&finance_key), None).await).0,
        404
    );
    let req = axum::http::Request::builder()
        .uri(&sales)
        .header("host", "crabapple.test:8686")
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {}", w.token))
        .body(axum::body::Body::empty())
        .unwrap();
    let r = w.send(req).await;
    assert_eq!(r.status, 406);
    let req = axum::http::Request::builder()
        .uri(&sales)
        .header("host", "crabapple.test:8686")
        .header("accept", "application/a-gzip")
        .header("authorization", format!("Bearer {}", w.token))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(w.send(req).await.status, 404);
}

/// The subscription family is dispatched to `crabapple_reports::subscription::render`: a
/// production subscription purchase is in the next day's SUBSCRIPTION_EVENT file (1_4 and 1_3),
/// named as §1.1's capture, and its SALES line is an `IAY` `New` subscription of `1 Month`.
#[tokio::test]
async fn s2_4_subscription_reports_are_served_through_the_catalogue() {
    let w = demo().await;
    post(
        &w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.pro.monthly", "environment": "production", "customer": "subscriber-1"}),
    )
    .await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    advance_to(
        &w,
        crabapple_reports::period::at_8_pacific(day.tomorrow().unwrap()),
    )
    .await;
    let date = day.to_string();
    for version in ["1_4", "1_3"] {
        let r = w
            .get(&sales_uri(
                "SUBSCRIPTION_EVENT",
                "SUMMARY",
                "DAILY",
                Some(&date),
                Some(version),
            ))
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let name = format!(
            "Subscription_Event_{}_{}_V{version}.txt.gz",
            vendor(),
            day.strftime("%Y%m%d")
        );
        assert_eq!(r.header("x-reports-filename"), Some(name));
        assert_eq!(
            r.header("x-reports-download-version").as_deref(),
            Some(version)
        );
        let text = gunzip(&r.body);
        assert!(
            text.starts_with("Event Date\tEvent\tApp Name\t") && text.contains("Notes Pro Monthly"),
            "{text}"
        );
    }
    let sales = gunzip(
        &w.get(&sales_uri("SALES", "SUMMARY", "DAILY", Some(&date), None))
            .await
            .body,
    );
    let row: Vec<&str> = sales.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(
        (row[2], row[6], row[18], row[19]),
        ("com.crabapple.notes.pro.monthly", "IAY", "New", "1 Month")
    );
}

/// reports-formats.md §2.1's emulator rule: "latest version" is configurable per report type —
/// the `meta` setting `reports.latestVersion.SUBSCRIPTION` = `1_3` makes 1_4 the error.
#[tokio::test]
async fn s2_1_the_latest_version_follows_the_meta_setting() {
    let w = demo().await;
    w.app
        .store()
        .meta_set("reports.latestVersion.SUBSCRIPTION", "1_3")
        .await
        .unwrap();
    let r = w
        .get(&sales_uri(
            "SUBSCRIPTION",
            "SUMMARY",
            "DAILY",
            Some("2026-11-01"),
            Some("1_4"),
        ))
        .await;
    assert_eq!(
        err(&r),
        e(
            400,
            INVALID,
            INVALID_TITLE,
            "The version parameter you have specified is invalid. The latest version for this report is 1_3.",
            "filter[version]"
        )
    );
    // SUBSCRIPTION_EVENT keeps 1_4.
    let r = w
        .get(&sales_uri(
            "SUBSCRIPTION_EVENT",
            "SUMMARY",
            "DAILY",
            Some("2026-11-01"),
            Some("1_4"),
        ))
        .await;
    assert_eq!(err(&r).3, NO_SALES);
}
