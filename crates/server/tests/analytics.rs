//! Analytics Reports end to end (issue 10, first slice): the catalogue of a request
//! (reports-formats.md §4.2), instances on the virtual clock (§4.4, apple-semantics.md §2.3),
//! segments with md5 `checksum`, `sizeInBytes` and a pre-signed crabapple `url` (§4.1), the
//! files' exact headers (§4.3) and Detailed privacy (§4.5).

mod common;

use common::analytics::*;
use common::reports::*;
use common::*;
use crabapple_reports::ReportsStore;
use crabapple_reports::analytics::{files, schedule};
use crabapple_reports::pacific;
use jiff::ToSpan;
use jiff::civil::Date;
use md5::{Digest, Md5};
use serde_json::json;

#[tokio::test]
async fn s4_2_the_catalogue_of_a_request_with_apples_names_categories_ids_filters_and_paging() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let r = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?limit=200"
        ))
        .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    let names: Vec<&str> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attributes"]["name"].as_str().unwrap())
        .collect();
    // §4.2: the 129 reports of surquest's enum and the two subscription reports of §4.3 at both
    // levels (133 of the 156 a request carries; the other names were never published).
    assert_eq!(names.len(), 133);
    for n in [
        "App Downloads Standard",
        "App Downloads Detailed",
        "App Store Purchases Standard",
        "App Store Purchases Detailed",
        "App Store Pre-Orders Standard",
        "App Store Discovery and Engagement Detailed",
        "App Store Web Preview Engagement Standard",
        "App Sessions Standard",
        "App Store Installation and Deletion Standard",
        "App Opt In",
        "App Clip Usage Detailed",
        "App Crashes",
        "App Crashes Expanded",
        "App Install Performance",
        "App Store Subscription State Standard",
        "App Store Subscription Event Detailed",
        "App Store Web Preview Engagement Detailed",
        "Home Screen Widget Installs",
        "AirPlay Performance",
        "Browser Choice Screen Engagement (iOS versions before 18.2)",
        "CarPlay App Usage",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    assert_eq!(doc["data"][0]["id"], json!(format!("r3-{req}")));
    assert_eq!(doc["data"][0]["type"], "analyticsReports");
    assert_eq!(
        doc["data"][0]["relationships"]["instances"]["links"]["related"],
        json!(format!(
            "http://crabapple.test:8686/v1/analyticsReports/r3-{req}/instances"
        ))
    );

    let commerce = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?filter[category]=COMMERCE"
        ))
        .await
        .json();
    assert_eq!(
        ids(&commerce),
        [3, 4, 10, 11, 12, 13, 25, 26, 27, 28].map(|n| format!("r{n}-{req}"))
    );
    let one = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?filter[name]=App%20Downloads%20Standard"
        ))
        .await
        .json();
    assert_eq!(ids(&one), [format!("r3-{req}")]);
    let opt_in = w
        .get(&format!("/v1/analyticsReportRequests/{req}/reports?filter[name]=App%20Opt%20In&filter[category]=APP_USAGE"))
        .await
        .json();
    assert_eq!(ids(&opt_in), [format!("r189-{req}")]);

    // §2.2: the prose's APP_STORE_COMMERCE is not a category: 400.
    let r = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?filter[category]=APP_STORE_COMMERCE"
        ))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.INVALID")
    );

    let performance = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?filter[category]=PERFORMANCE&limit=200"
        ))
        .await
        .json();
    assert_eq!(ids(&performance).len(), 17);
    assert_eq!(
        performance["data"][0]["attributes"],
        json!({"name": "App Crashes Expanded", "category": "PERFORMANCE"})
    );

    // Paging: links.next until the end, the same 133 reports.
    let mut seen = Vec::new();
    let mut next = Some(format!(
        "/v1/analyticsReportRequests/{req}/reports?limit=50"
    ));
    while let Some(uri) = next {
        let doc = w.get(&uri).await.json();
        assert!(doc["data"].as_array().unwrap().len() <= 50);
        seen.extend(ids(&doc));
        assert_eq!(doc["meta"]["paging"]["total"], 133);
        next = doc["links"]["next"].as_str().map(|n| {
            n.trim_start_matches("http://crabapple.test:8686")
                .to_string()
        });
    }
    assert_eq!(seen, ids(&doc));

    let linkage = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/relationships/reports?limit=2"
        ))
        .await
        .json();
    assert_eq!(
        linkage["data"][1],
        json!({"type": "analyticsReports", "id": format!("r4-{req}")})
    );

    let r = w.get(&format!("/v1/analyticsReports/r12-{req}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["data"]["attributes"],
        json!({"name": "App Store Purchases Standard", "category": "COMMERCE"})
    );
    let r = w.get("/v1/analyticsReports/r12-nope").await;
    not_found(&r, "analyticsReports", "r12-nope");
    let r = w.get("/v1/analyticsReportRequests/nope/reports").await;
    not_found(&r, "analyticsReportRequests", "nope");
}

#[tokio::test]
async fn s2_3_instances_appear_on_the_second_pacific_day_daily_weekly_monthly_and_vanish_after_35_days()
 {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let created = today(&w).await;
    let std = format!("r3-{req}");
    let det = format!("r4-{req}");
    // §2.3: "Your first report request generates in 1–2 days": nothing the first day.
    assert!(instances(&w, &std, "").await.is_empty());
    advance_to(
        &w,
        pacific::day_bounds_ms(created.tomorrow().unwrap()).0 + 3_600_000,
    )
    .await;
    assert!(instances(&w, &std, "").await.is_empty());
    let second = created + 2.days();
    advance_to(&w, pacific::day_bounds_ms(second).0).await;
    let list = instances(&w, &std, "").await;
    assert_eq!(list.len(), 1);
    let id = format!("{std}-d{}", second.strftime("%Y%m%d"));
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(
        list[0]["attributes"],
        json!({"granularity": "DAILY", "processingDate": second.to_string()})
    );
    let r = w.get(&format!("/v1/analyticsReportInstances/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["id"], json!(id));

    // A download now and then keeps the request from stopping (§2.3, stoppedDueToInactivity).
    let mid = second + 20.days();
    advance_to(&w, pacific::day_bounds_ms(mid).0).await;
    segment_file(&w, &format!("{std}-d{}", mid.strftime("%Y%m%d"))).await;

    // 40 days later: 35 DAILY instances are kept, the first one is gone.
    advance_to(&w, pacific::day_bounds_ms(second + 40.days()).0).await;
    let list = instances(&w, &std, "").await;
    assert_eq!(list.len(), 35);
    assert!(
        list.iter()
            .all(|i| i["attributes"]["granularity"] == "DAILY")
    );
    let r = w.get(&format!("/v1/analyticsReportInstances/{id}")).await;
    not_found(&r, "analyticsReportInstances", &id);
    // §4.4: Downloads weekly (Fridays) and monthly (the 5th) are Detailed only.
    let weekly = instances(&w, &det, "&filter[granularity]=WEEKLY").await;
    assert_eq!(weekly.len(), 5);
    for i in &weekly {
        let p: Date = i["attributes"]["processingDate"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(p.weekday(), jiff::civil::Weekday::Friday);
    }
    let monthly = instances(&w, &det, "&filter[granularity]=MONTHLY").await;
    assert!(!monthly.is_empty());
    assert!(monthly.iter().all(|i| {
        i["attributes"]["processingDate"]
            .as_str()
            .unwrap()
            .ends_with("-05")
    }));
    assert!(
        instances(&w, &std, "&filter[granularity]=WEEKLY")
            .await
            .is_empty()
    );
    let p = weekly[0]["attributes"]["processingDate"].as_str().unwrap();
    let on_day = instances(&w, &det, &format!("&filter[processingDate]={p}")).await;
    let grans: Vec<&str> = on_day
        .iter()
        .map(|i| i["attributes"]["granularity"].as_str().unwrap())
        .collect();
    assert!(grans.starts_with(&["DAILY", "WEEKLY"]), "{grans:?}");
}

#[tokio::test]
async fn s4_1_a_segment_is_the_gzip_file_at_a_presigned_url_with_its_md5_and_size_and_expires_like_s3()
 {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let created = today(&w).await;
    let d1 = created;
    let d2 = created.tomorrow().unwrap();
    add_units(
        &w,
        &[
            day_units(d1, "First-time download", "US", "", 7),
            day_units(d1, "First-time download", "US", "example.com", 2),
            day_units(d1, "Redownload", "GB", "", 3),
            day_units(d2, "Auto-update", "FR", "", 12),
        ],
    )
    .await;
    let p = created + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let instance = format!("r3-{req}-d{}", p.strftime("%Y%m%d"));
    let r = w
        .get(&format!("/v1/analyticsReportInstances/{instance}/segments"))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let seg = r.json()["data"][0].clone();
    assert_eq!(seg["type"], "analyticsReportSegments");
    assert_eq!(seg["id"], json!(format!("{instance}-s1")));
    let url = seg["attributes"]["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!(
            "http://crabapple.test:8686/crabapple/analytics/segments/{instance}-s1.txt.gz?Expires="
        )),
        "{url}"
    );
    let path = url
        .trim_start_matches("http://crabapple.test:8686")
        .to_string();
    // Fetched without Authorization (§4.1).
    let r = w.call("GET", &path, None, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(seg["attributes"]["sizeInBytes"], json!(r.body.len()));
    let md5: String = Md5::digest(&r.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(seg["attributes"]["checksum"], json!(md5));
    let text = gunzip(&r.body);
    // §4.3: the captured Standard header, verbatim; Source Info summed away.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Date\tApp Name\tApp Apple Identifier\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tPre-Order\tTerritory\tCounts"
    );
    assert_eq!(lines.len(), 4, "{text}");
    let row: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(row[0], d1.to_string());
    assert_eq!(
        row[2..],
        [
            "1476097583",
            "First-time download",
            "2.1",
            "iPhone",
            "iOS 18.2",
            "App Store search",
            "Product page",
            "No",
            "US",
            "9"
        ]
    );
    assert_eq!(lines[2].split('\t').nth(3), Some("Redownload"));
    assert!(
        lines[3].starts_with(&format!("{d2}\t"))
            && lines[3].ends_with(
                "\tAuto-update\t2.1\tiPhone\tiOS 18.2\tApp Store search\tProduct page\tNo\tFR\t12"
            ),
        "{text}"
    );
    // The same bytes on every download (and through the segment resource).
    let again = w
        .get(&format!("/v1/analyticsReportSegments/{instance}-s1"))
        .await
        .json();
    assert_eq!(again["data"]["attributes"]["checksum"], json!(md5));

    // A wrong signature, then the expiry (1 hour of the virtual clock): S3's 403 XML.
    // (The last hex digit of the signature changed to another one: never the same URL.)
    let flipped = if path.ends_with('0') { '1' } else { '0' };
    let r = w
        .call(
            "GET",
            &format!("{}{flipped}", &path[..path.len() - 1]),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type").as_deref(), Some("application/xml"));
    assert!(String::from_utf8_lossy(&r.body).contains("<Code>SignatureDoesNotMatch</Code>"));
    advance_to(&w, now_ms(&w).await + 3_600_000).await;
    let r = w.call("GET", &path, None, None).await;
    assert_eq!(r.status, 403);
    let body = String::from_utf8_lossy(&r.body).to_string();
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message><Expires>"),
        "{body}"
    );
}

#[tokio::test]
async fn s4_5_detailed_drops_rows_under_5_and_adds_stable_noise_standard_is_exact() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    let mut rows = vec![
        day_units(day, "First-time download", "US", "example.com", 4),
        day_units(day, "First-time download", "US", "", 3),
    ];
    for (i, t) in ["DE", "FR", "JP", "IT", "ES", "NL", "SE", "BR"]
        .iter()
        .enumerate()
    {
        rows.push(day_units(day, "First-time download", t, "", 20 + i as i64));
    }
    add_units(&w, &rows).await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let file = |n: u32| {
        let inst = format!("r{n}-{req}-d{}", p.strftime("%Y%m%d"));
        let w = &w;
        async move { gunzip(&segment_file(w, &inst).await.body) }
    };
    let standard = file(3).await;
    let detailed = file(4).await;
    let inst = format!("r4-{req}-d{}", p.strftime("%Y%m%d"));
    assert_eq!(
        segment_file(&w, &inst).await.header("x-crabapple-reason"),
        Some(reason(
            "reports-formats.md §4.5: 2 of 10 rows of App Downloads Detailed came from fewer than 5 users or devices and were dropped; the other rows carry stable integer noise (σ≈2)"
        ))
    );
    assert_eq!(
        detailed,
        file(4).await,
        "§4.5: the noise is the same on every request"
    );
    assert_eq!(detailed.lines().next(), Some(files::DOWNLOADS_DETAILED));
    assert_eq!(
        files::DOWNLOADS_DETAILED,
        "Date\tApp Name\tApp Apple Identifier\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tPre-Order\tTerritory\tCounts"
    );
    let count = |text: &str, territory: &str| -> Vec<i64> {
        text.lines()
            .skip(1)
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|c| c[c.len() - 2] == territory)
            .map(|c| c[c.len() - 1].parse().unwrap())
            .collect()
    };
    // Standard: US 4+3 = 7, exact. Detailed: the rows of 4 and 3 users are dropped.
    assert_eq!(count(&standard, "US"), [7]);
    assert!(count(&detailed, "US").is_empty(), "{detailed}");
    let mut moved = 0;
    for (i, t) in ["DE", "FR", "JP", "IT", "ES", "NL", "SE", "BR"]
        .iter()
        .enumerate()
    {
        let exact = 20 + i as i64;
        assert_eq!(count(&standard, t), [exact]);
        let noised = count(&detailed, t)[0];
        assert!((noised - exact).abs() <= 8, "{t}: {noised} vs {exact}");
        moved += i64::from(noised != exact);
    }
    assert!(moved > 0, "some noise: {detailed}");
}

#[tokio::test]
async fn s4_3_purchases_standard_from_the_ledger_with_refunds_negative() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    let mut bought = Vec::new();
    for c in ["a1", "a2"] {
        bought.push(post(
            &w,
            "/crabapple/admin/commerce/purchase",
            json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "storefront": "USA", "customer": c}),
        )
        .await);
    }
    // One of them refunded the next day.
    let next = day.tomorrow().unwrap();
    advance_to(&w, pacific::day_bounds_ms(next).0 + 3_600_000).await;
    post(
        &w,
        "/crabapple/admin/commerce/refund",
        json!({"bundleId": "com.crabapple.notes", "transactionId": bought[0]["transactionId"], "environment": "production"}),
    )
    .await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let inst = format!("r12-{req}-d{}", p.strftime("%Y%m%d"));
    let r = segment_file(&w, &inst).await;
    let text = gunzip(&r.body);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Date\tApp Name\tApp Apple Identifier\tPurchase Type\tContent Name\tContent Apple Identifier\tPayment Method\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tPre-Order\tTerritory\tPurchases\tProceeds in USD\tSales in USD\tPaying Users"
    );
    assert_eq!(lines.len(), 3, "{text}");
    let c: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(c[0], day.to_string());
    assert_eq!(
        (c[3], c[13], c[14], c[17]),
        ("In-app purchase", "US", "2", "2")
    );
    let sales: f64 = c[16].parse().unwrap();
    let proceeds: f64 = c[15].parse().unwrap();
    assert!(sales > 0.0 && proceeds > 0.0 && proceeds < sales, "{c:?}");
    // §4.3: "Negative Purchases = refunds", with negative proceeds and sales, no paying user.
    let refund: Vec<&str> = lines[2].split('\t').collect();
    assert_eq!(refund[0], next.to_string());
    assert_eq!((refund[14], refund[17]), ("-1", "0"));
    let (rp, rs): (f64, f64) = (refund[15].parse().unwrap(), refund[16].parse().unwrap());
    assert_eq!((rp * 2.0, rs * 2.0), (-proceeds, -sales), "{text}");
}

#[tokio::test]
async fn s2_2_one_time_snapshot_backfills_from_the_first_data_day_and_makes_nothing_new() {
    let w = demo().await;
    let day = today(&w).await;
    let first = day - 20.days();
    add_units(&w, &[day_units(first, "First-time download", "US", "", 9)]).await;
    let req = request(&w, "ONE_TIME_SNAPSHOT").await;
    let std = format!("r3-{req}");
    assert!(instances(&w, &std, "").await.is_empty());
    let delivery = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(delivery).0).await;
    let list = instances(&w, &std, "").await;
    // Processing dates from first+1 (holding `first` as its partial day) to the delivery day.
    assert_eq!(list.len(), 22);
    assert_eq!(
        list[0]["attributes"]["processingDate"],
        json!(delivery.to_string())
    );
    assert_eq!(
        list[21]["attributes"]["processingDate"],
        json!((first + 1.days()).to_string())
    );
    // Nothing new afterwards.
    advance_to(&w, pacific::day_bounds_ms(delivery + 5.days()).0).await;
    assert_eq!(instances(&w, &std, "").await.len(), 22);
    let oldest = list[21]["id"].as_str().unwrap();
    let r = segment_file(&w, oldest).await;
    assert!(gunzip(&r.body).lines().nth(1).unwrap().ends_with("\tUS\t9"));
}

/// A seed file links the app to its request (`apps.analyticsReportRequests`) and not the other
/// way: the demo world's ONGOING request of Crabapple Notes still finds its app's units.
#[tokio::test]
async fn s4_3_the_demo_worlds_own_request_serves_its_apps_downloads() {
    let w = demo().await;
    let listed = w
        .get(&format!(
            "/v1/apps/{APP}/analyticsReportRequests?filter[accessType]=ONGOING"
        ))
        .await
        .json();
    let req = listed["data"][0]["id"].as_str().unwrap().to_string();
    let day = today(&w).await;
    add_units(&w, &[day_units(day, "First-time download", "JP", "", 6)]).await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0).await;
    let inst = format!("r3-{req}-d{}", p.strftime("%Y%m%d"));
    let r = segment_file(&w, &inst).await;
    let text = gunzip(&r.body);
    assert!(text.lines().any(|l| l.ends_with("\tJP\t6")), "{text}");
}

/// apple-semantics.md §2.2: granularity is DAILY, WEEKLY or MONTHLY; unknown ids are Apple's 404
/// for their type; §2.1 [DEV]: segments hang off instances, not reports.
#[tokio::test]
async fn s2_2_unknown_granularity_ids_and_segments_of_a_report() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let r = w
        .get(&format!(
            "/v1/analyticsReports/r3-{req}/instances?filter[granularity]=HOURLY"
        ))
        .await;
    let body = r.json();
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "PARAMETER_ERROR.INVALID"),
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["source"]["parameter"],
        "filter[granularity]"
    );
    let id = format!("r3-{req}-d20990101");
    not_found(
        &w.get(&format!("/v1/analyticsReportInstances/{id}")).await,
        "analyticsReportInstances",
        &id,
    );
    not_found(
        &w.get(&format!("/v1/analyticsReportInstances/{id}/segments"))
            .await,
        "analyticsReportInstances",
        &id,
    );
    let seg = format!("{id}-s1");
    not_found(
        &w.get(&format!("/v1/analyticsReportSegments/{seg}")).await,
        "analyticsReportSegments",
        &seg,
    );
    let r = w
        .get(&format!("/v1/analyticsReports/r3-{req}/segments"))
        .await;
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
}

/// Forum post 14: "around 200 daily installs and 30 purchases" — App Downloads Detailed arrives,
/// App Store Purchases Detailed is empty. Each Purchases row (product × territory × day) has
/// fewer than 5 paying users, so §4.5's threshold drops them all; the download says so.
#[tokio::test]
async fn forum_post_14_purchases_detailed_is_empty_while_downloads_detailed_arrives() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    let mut rows = Vec::new();
    for (i, t) in ["US", "GB", "DE", "FR", "JP"].iter().enumerate() {
        rows.push(day_units(day, "First-time download", t, "", 40 + i as i64));
    }
    add_units(&w, &rows).await;
    let storefronts = ["USA", "GBR", "DEU", "FRA", "JPN", "CAN", "AUS"];
    // Half the post's 30 a day keeps the test quick; each row still has 2 paying users.
    for n in 0..14 {
        post(
            &w,
            "/crabapple/admin/commerce/purchase",
            json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "storefront": storefronts[n % 7], "customer": format!("post14-{n}")}),
        )
        .await;
    }
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let file = |n: u32| format!("r{n}-{req}-d{}", p.strftime("%Y%m%d"));
    let downloads = segment_file(&w, &file(4)).await;
    assert_eq!(gunzip(&downloads.body).lines().count(), 6);
    let standard = segment_file(&w, &file(12)).await;
    assert_eq!(gunzip(&standard.body).lines().count(), 8);
    assert_eq!(standard.header("x-crabapple-reason"), None);
    let detailed = segment_file(&w, &file(13)).await;
    assert_eq!(
        gunzip(&detailed.body),
        format!("{}\n", files::PURCHASES_DETAILED)
    );
    assert_eq!(
        detailed.header("x-crabapple-reason"),
        Some(reason(
            "reports-formats.md §4.5: 7 of 7 rows of App Store Purchases Detailed came from fewer than 5 users or devices and were dropped; the other rows carry stable integer noise (σ≈2)"
        ))
    );
}

#[tokio::test]
async fn s4_3_every_report_with_a_file_downloads_through_the_chain() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    add_units(
        &w,
        &[
            day_units(day, "First-time download", "US", "", 40),
            day_units(day, "Redownload", "US", "", 10),
        ],
    )
    .await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let d = p.strftime("%Y%m%d");
    for r in crabapple_reports::analytics::CATALOGUE
        .iter()
        .filter(|r| r.granularities.contains(&schedule::Granularity::Daily))
    {
        let inst = format!("r{}-{req}-d{d}", r.n);
        let text = gunzip(&segment_file(&w, &inst).await.body);
        assert_eq!(text.lines().next(), Some(files::header(r)), "{}", r.name);
    }
    // §4.3 with crabapple's ratios: App Opt In's 50 downloading users, 25 % opting in;
    // Installation and Deletion's installs are App Downloads' first-time downloads + redownloads.
    let opt_in = gunzip(&segment_file(&w, &format!("r189-{req}-d{d}")).await.body);
    assert_eq!(
        opt_in.lines().nth(1),
        Some(format!("{day}\tCrabapple Notes\t{APP}\t50\t12").as_str()),
        "{opt_in}"
    );
    let installs = gunzip(&segment_file(&w, &format!("r6-{req}-d{d}")).await.body);
    let counts: i64 = installs
        .lines()
        .filter(|l| l.contains("\tInstall\t"))
        .map(|l| l.rsplit('\t').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(counts, 50);
}

#[tokio::test]
async fn s4_5_an_app_usage_report_of_fewer_than_5_users_has_no_segment() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    add_units(&w, &[day_units(day, "First-time download", "US", "", 4)]).await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let inst = format!("r8-{req}-d{}", p.strftime("%Y%m%d"));
    let seg = w
        .get(&format!("/v1/analyticsReportInstances/{inst}/segments"))
        .await;
    assert_eq!(seg.status, 200);
    assert_eq!(seg.json()["data"], json!([]));
    assert_eq!(
        seg.header("x-crabapple-reason"),
        Some(reason(&format!(
            "reports-formats.md §4.5: App Sessions Standard is not generated for {day} to {}: 2 users, fewer than 5",
            day + 1.days()
        )))
    );
}

/// The report files cache (crates/reports/src/cache.rs) keeps a segment's bytes once its Dates
/// are reported (08:00 Pacific of the processing date): two downloads and the segment's
/// `checksum` are the bytes of the file rendered directly, the cache holds them under
/// `analytics/<app>/r<N>/<granularity>/<processing date>`, and app units written into one of its
/// days later (a reported day: the generation token changes) give the new file, not the kept one.
#[tokio::test]
async fn s4_1_cached_segment_bytes_are_the_rendered_file_and_follow_a_later_write() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    add_units(&w, &[day_units(day, "First-time download", "US", "", 40)]).await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 9 * 3_600_000).await;
    let inst = format!("r3-{req}-d{}", p.strftime("%Y%m%d"));
    let instance = schedule::Instance::parse_id(&inst).unwrap();
    let store = w.app.store();
    let direct = || async {
        let text = files::render(store, &instance, APP).await.unwrap().text;
        crabapple_reports::transport::gzip(&text)
    };
    let first = segment_file(&w, &inst).await.body;
    let want = direct().await;
    assert_eq!(first, want);
    assert_eq!(segment_file(&w, &inst).await.body, want);
    let seg = w
        .get(&format!("/v1/analyticsReportInstances/{inst}/segments"))
        .await
        .json();
    let md5: String = Md5::digest(&want)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(seg["data"][0]["attributes"]["checksum"], json!(md5));
    let key = format!("analytics/{APP}/r3/DAILY/{p}");
    let mut kept = None;
    for _ in 0..100 {
        let generation = store.report_generation().await.unwrap();
        kept = store.report_file(&key, &generation).await.unwrap();
        if kept.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(kept.map(|f| f.body), Some(want.clone()), "{key}");

    // 10 more units of the (reported) day: the next download is the new file.
    add_units(&w, &[day_units(day, "Redownload", "US", "", 10)]).await;
    let after = segment_file(&w, &inst).await.body;
    assert_ne!(after, want);
    assert_eq!(after, direct().await);
    assert!(gunzip(&after).contains("\tRedownload\t"));
}

/// §4.1 (pre-signed segment URLs): the first segment lists of a data directory, made at once,
/// sign their URLs with one key — each URL downloads (a key made twice would refuse one of them
/// with `SignatureDoesNotMatch`).
#[tokio::test]
async fn s4_1_concurrent_first_segment_urls_share_one_signing_key() {
    let w = demo().await;
    let req = request(&w, "ONGOING").await;
    let day = today(&w).await;
    add_units(&w, &[day_units(day, "First-time download", "US", "", 40)]).await;
    let p = day + 2.days();
    advance_to(&w, pacific::day_bounds_ms(p).0 + 60_000).await;
    let d = p.strftime("%Y%m%d");
    let s: Vec<String> = [3, 4, 6, 189]
        .iter()
        .map(|n| format!("/v1/analyticsReportInstances/r{n}-{req}-d{d}/segments"))
        .collect();
    let (a, b, c, e) = tokio::join!(w.get(&s[0]), w.get(&s[1]), w.get(&s[2]), w.get(&s[3]));
    for r in [a, b, c, e] {
        download(&w, &r.json()).await;
    }
}
