//! Every error of `GET /v1/salesReports` and `GET /v1/financeReports` (issue 9): exact status,
//! code, title, detail and source, each row naming its fact; roles, individual keys and Accept;
//! the configurable latest version. The rows write tests/coverage/rules-reports.tsv.

mod common;

use common::reports::*;
use common::*;
use crabapple_auth::KeyKind;
use crabapple_reports::{fiscal, pacific};

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
        &rules_header("crates/server/tests/reports_errors.rs"),
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
