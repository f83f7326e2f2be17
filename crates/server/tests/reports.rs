//! Sales and Trends and Finance downloads end to end (issue 9): a purchase through the admin API,
//! the virtual clock moved on, then the next day's SALES file and the FINANCIAL / FINANCE_DETAIL
//! files of its fiscal period contain it — with Apple's transport (reports-formats.md §1.1) and
//! byte-identical on a second download; app units, refunds, paid apps; the subscription family.
//! The errors are tests/reports_errors.rs.

mod common;

use common::reports::*;
use common::*;
use crabapple_reports::ReportsTx;
use crabapple_reports::{fiscal, pacific};
use serde_json::json;

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

/// §2.4: app units by Product Type Identifier (1F first-time, 3F redownload/restore, 7F updates),
/// summed over the dimensions the file does not show; a refund is a line of its own with
/// negative Units and Customer Price and positive proceeds; a paid app's first-time downloads carry
/// its price; the weekly and monthly files add the days up.
#[tokio::test]
async fn s2_4_app_units_and_refunds_in_daily_weekly_and_monthly_files() {
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
    let week = crabapple_reports::period::ReportPeriod::containing(
        crabapple_reports::period::Frequency::Weekly,
        day,
    );
    advance_to(&w, month.available_ms().max(week.available_ms())).await;
    // The week's file (Monday–Sunday) is named after its Sunday (§2.2).
    let r = w
        .get(&sales_uri(
            "SALES",
            "SUMMARY",
            "WEEKLY",
            Some(&d),
            Some("1_0"),
        ))
        .await;
    assert_eq!(
        r.header("x-reports-filename"),
        Some(format!(
            "S_W_{}_{}_V1_0.txt.gz",
            vendor(),
            week.last.strftime("%Y%m%d")
        ))
    );
    assert_eq!(week.last.weekday(), jiff::civil::Weekday::Sunday);
    let weekly = gunzip(&r.body);
    let cells: Vec<&str> = weekly.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(
        (cells[6], cells[7], cells[9], cells[10]),
        (
            "1F",
            "8",
            week.first.strftime("%m/%d/%Y").to_string().as_str(),
            week.last.strftime("%m/%d/%Y").to_string().as_str()
        )
    );
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

/// A family-shared purchase is one sale (the family members' transactions are not sales); a
/// prorated refund is a return of one unit for that share of price and proceeds (crates/reports
/// items.rs: crabapple's reading, Apple's rows are not captured).
#[tokio::test]
async fn s2_4_family_sharing_counts_once_and_a_prorated_refund_returns_its_share() {
    let w = demo().await;
    let bought = post(
        &w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "customer": "family-organizer"}),
    )
    .await;
    // A family member's access to it: a FAMILY_SHARED transaction, not a sale.
    post(
        &w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "customer": "family-member", "familyShared": true}),
    )
    .await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    post(
        &w,
        "/crabapple/admin/commerce/refund",
        json!({"transactionId": bought["transactionId"], "percentage": 50_000}),
    )
    .await;
    advance_to(
        &w,
        crabapple_reports::period::at_8_pacific(day.tomorrow().unwrap()),
    )
    .await;
    let text = gunzip(
        &w.get(&sales_uri(
            "SALES",
            "SUMMARY",
            "DAILY",
            Some(&day.to_string()),
            None,
        ))
        .await
        .body,
    );
    let lines: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let cells: Vec<(&str, &str, &str)> = lines.iter().map(|c| (c[7], c[8], c[15])).collect();
    // Sorted by the key: the return's "-1.49" price sorts before the sale's "2.99".
    assert_eq!(
        cells,
        vec![("-1", "1.27", "-1.49"), ("1", "2.54", "2.99")],
        "{text}"
    );
}
