//! Issue 10, "Tests": a collector written the way users write them, over a simulated quarter.
//! It keeps an ONGOING request of Crabapple Notes and, every 20 simulated days (inside the
//! 35-day life of an instance, and often enough not to be stopped for inactivity), pages the
//! App Downloads Standard DAILY instances with `links.next`, downloads each segment at its
//! pre-signed URL, gunzips it, parses it by header names and keeps, per Date, the rows of the
//! latest processing date (reports-formats.md §4.4: "Use the latest instance", overlapping daily
//! windows). Standard files are exact (README "Analytics"), so every collected Date's Counts
//! sum to the app units the simulator recorded for that Pacific day, and App Store Purchases
//! Standard's Purchases to the in-app units of that day's DAILY SALES file.

#[path = "../../server/tests/common/mod.rs"]
mod common;

use common::analytics::{APP, request};
use common::reports::{gunzip, sales_uri};
use crabapple_reports::ReportsStore;
use crabapple_simulator::traffic::{Profile, parse_section};
use crabapple_simulator::{Options, simulate};
use std::collections::BTreeMap;

const HOST: &str = "http://crabapple.test:8686";

/// Date → (processing date, Counts summed over the Date's rows), the latest processing date kept.
type Collected = BTreeMap<String, (String, i64)>;

/// Collects every DAILY instance of `report` into `into`, summing `metric` per Date.
async fn collect(w: &common::World, report: &str, metric: &str, into: &mut Collected) -> usize {
    let mut next = Some(format!(
        "/v1/analyticsReports/{report}/instances?filter[granularity]=DAILY&limit=7"
    ));
    let mut files = 0;
    while let Some(uri) = next {
        let r = w.get(&uri).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let doc = r.json();
        for inst in doc["data"].as_array().unwrap() {
            let id = inst["id"].as_str().unwrap();
            let processed = inst["attributes"]["processingDate"]
                .as_str()
                .unwrap()
                .to_string();
            let segs = w
                .get(&format!("/v1/analyticsReportInstances/{id}/segments"))
                .await
                .json();
            for seg in segs["data"].as_array().unwrap() {
                let url = seg["attributes"]["url"].as_str().unwrap();
                let got = w
                    .call("GET", url.trim_start_matches(HOST), None, None)
                    .await;
                assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
                assert_eq!(
                    seg["attributes"]["sizeInBytes"].as_u64(),
                    Some(got.body.len() as u64)
                );
                files += 1;
                let text = gunzip(&got.body);
                let mut lines = text.lines();
                let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
                let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
                let (date, counts) = (col("Date"), col(metric));
                let mut per_date: BTreeMap<String, i64> = BTreeMap::new();
                for l in lines {
                    let cells: Vec<&str> = l.split('\t').collect();
                    *per_date.entry(cells[date].to_string()).or_default() +=
                        cells[counts].parse::<i64>().unwrap();
                }
                for (d, n) in per_date {
                    let keep = into.get(&d).is_none_or(|(p, _)| *p <= processed);
                    if keep {
                        into.insert(d, (processed.clone(), n));
                    }
                }
            }
        }
        next = doc["links"]["next"]
            .as_str()
            .map(|n| n.trim_start_matches(HOST).to_string());
    }
    files
}

#[tokio::test]
async fn issue_10_a_collector_over_a_simulated_quarter_agrees_with_the_app_units_and_the_sales_files()
 {
    let w = common::demo().await;
    let req = request(&w, "ONGOING").await;
    let reports = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?filter[name]=App%20Downloads%20Standard"
        ))
        .await
        .json();
    let report = reports["data"][0]["id"].as_str().unwrap().to_string();
    let purchases_report = w
        .get(&format!(
            "/v1/analyticsReportRequests/{req}/reports?filter[name]=App%20Store%20Purchases%20Standard"
        ))
        .await
        .json()["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut collected = Collected::new();
    let mut purchases = Collected::new();
    let mut files = 0;
    for days in [20, 20, 20, 20, 10] {
        let o = Options {
            days,
            seed: 42,
            apps: vec!["com.crabapple.notes".into()],
            profile: Some(Profile::Small),
            traffic: parse_section(crabapple_asc::world::DEMO_YAML).unwrap(),
            start: None,
            statement_by_statement: false,
        };
        simulate(&w.app.commerce, &o, |_| {}).await.unwrap();
        files += collect(&w, &report, "Counts", &mut collected).await;
        collect(&w, &purchases_report, "Purchases", &mut purchases).await;
    }
    // The request is still alive (downloads kept it from the inactivity stop).
    let r = w
        .get(&format!("/v1/analyticsReportRequests/{req}"))
        .await
        .json();
    assert_eq!(r["data"]["attributes"]["stoppedDueToInactivity"], false);
    assert!(files >= 80, "{files} files");
    assert!(collected.len() >= 85, "{} dates", collected.len());
    let units = w
        .app
        .store()
        .app_units_of(APP, "2000-01-01", "2999-12-31")
        .await
        .unwrap();
    let mut per_day: BTreeMap<String, i64> = BTreeMap::new();
    for u in units {
        *per_day.entry(u.day).or_default() += u.units;
    }
    for (day, (processed, counts)) in &collected {
        assert_eq!(
            Some(counts),
            per_day.get(day),
            "{day} (processing date {processed})"
        );
    }
    // App Store Purchases Standard's Purchases = the DAILY SALES file's in-app units (rows with
    // a Parent Identifier) of the same day: both come from the production ledger.
    assert!(
        purchases.len() >= 40,
        "{} dates with purchases",
        purchases.len()
    );
    let mut compared = 0;
    for (day, (processed, n)) in &purchases {
        let r = w
            .get(&sales_uri(
                "SALES",
                "SUMMARY",
                "DAILY",
                Some(day),
                Some("1_0"),
            ))
            .await;
        let sales = match r.status {
            200 => {
                let text = gunzip(&r.body);
                let mut lines = text.lines();
                let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
                let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
                let (parent, units) = (col("Parent Identifier"), col("Units"));
                lines
                    .map(|l| l.split('\t').collect::<Vec<_>>())
                    .filter(|c| !c[parent].trim().is_empty())
                    .map(|c| c[units].parse::<i64>().unwrap())
                    .sum()
            }
            404 if r.json()["errors"][0]["detail"]
                == "There were no sales for the date specified." =>
            {
                0
            }
            // The last day's file comes out at 08:00 Pacific the next day (§2.3).
            404 => continue,
            s => panic!("{day}: {s}"),
        };
        compared += 1;
        assert_eq!(*n, sales, "{day} (processing date {processed})");
    }
    assert!(
        compared + 1 >= purchases.len(),
        "{compared} of {}",
        purchases.len()
    );
}
