//! The bytes of an analytics segment (reports-formats.md §4.1, §4.3, §4.5): a tab-separated text
//! file, gzip'd, with the report's columns in Apple's order, one row per Date and dimensions.
//!
//! - App Downloads: from the app units the simulator records (`report_app_units`), Download Type,
//!   Source Type, Page Type etc. as stored; Page Title is not recorded (empty cells).
//! - App Store Purchases: from the production ledger ([`crate::items`]), as `In-app purchase`
//!   rows per product and territory; Purchases are signed units (refunds negative), Proceeds and
//!   Sales in USD are converted with the fixed rates (refunds negative), Paying Users counts the
//!   purchases (not the refunds). Device `iPhone`, Payment Method, Source Type `Unavailable`, Page
//!   Type `No page` and Pre-Order `No` are crabapple's constants: the ledger does not know them.
//! - Pre-Order cells are `Yes` / `No` (crabapple's reading; Apple's value not captured).
//! - Weekly and monthly files have one Date, the first day of the week or month (§4.1).
//!
//! Privacy (§4.5), Detailed only — Standard files are exact (crabapple's choice, so that Standard
//! totals equal the Sales reports and Detailed ones show what the privacy measures remove):
//! rows with fewer than [`THRESHOLD`] (Counts; Paying Users for Purchases) are dropped, the others
//! get an integer noise of σ≈2 drawn from the md5 of (report name, Date, row dimensions), so the
//! same report gives the same bytes on every request. Purchases Detailed draws once on Paying
//! Users and moves Purchases, Sales and Proceeds in proportion. A noised metric stays ≥ 1.
//! [`Rendered::reason`] counts the dropped rows for the download's `X-Crabapple-Reason`.

use super::schedule::{Granularity, Instance};
use super::{Kind, Report};
use crate::countries;
use crate::items;
use crate::pacific;
use crate::proceeds::format_amount;
use anyhow::Result;
use crabapple_store::Store;
use jiff::civil::Date;
use md5::{Digest, Md5};
use serde_json::Value;
use std::collections::BTreeMap;

/// §4.5: values from fewer than 5 users or devices are omitted.
pub const THRESHOLD: i64 = 5;

/// §4.3, the captured Standard header, verbatim.
pub const DOWNLOADS_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tPre-Order\tTerritory\tCounts";
/// §4.3's doc order with the Detailed-only columns (Source Info, Campaign, Page Title).
pub const DOWNLOADS_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tPre-Order\tTerritory\tCounts";
/// §4.3, the fixture's Standard header, verbatim (`Proceeds in USD`, open question 6).
pub const PURCHASES_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tPurchase Type\tContent Name\tContent Apple Identifier\tPayment Method\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tPre-Order\tTerritory\tPurchases\tProceeds in USD\tSales in USD\tPaying Users";
/// §4.3's doc order with Source Info, Campaign, Page Title.
pub const PURCHASES_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tPurchase Type\tContent Name\tContent Apple Identifier\tPayment Method\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tApp Download Date\tPre-Order\tTerritory\tPurchases\tProceeds in USD\tSales in USD\tPaying Users";

pub fn header(report: &Report) -> &'static str {
    match (report.kind, report.detailed) {
        (Kind::Purchases, false) => PURCHASES_STANDARD,
        (Kind::Purchases, true) => PURCHASES_DETAILED,
        (_, false) => DOWNLOADS_STANDARD,
        (_, true) => DOWNLOADS_DETAILED,
    }
}

/// The integer noise of one row: md5 of the key → Box–Muller → N(0, 2) rounded.
pub fn noise(report: &str, date: &str, key: &[String]) -> i64 {
    let digest = Md5::digest(format!("{report}\n{date}\n{}", key.join("\t")).as_bytes());
    let u = |b: &[u8]| {
        let v = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (u1, u2) = (u(&digest[0..8]), u(&digest[8..16]));
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (2.0 * z).round() as i64
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// The Date cell of a row of day `day` in `instance` (weekly/monthly: the period's first day).
fn date_cell(instance: &Instance, day: Date) -> String {
    match instance.granularity {
        Granularity::Daily => day.to_string(),
        _ => instance.dates().0.to_string(),
    }
}

/// A file's text and what the privacy measures did to it.
pub struct Rendered {
    /// Header and rows, `\n` after each line.
    pub text: String,
    /// Rows computed before thresholding.
    pub rows: usize,
    /// Rows dropped by the threshold (Detailed only).
    pub dropped: usize,
}

impl Rendered {
    /// Why a Detailed file has fewer rows or other numbers than its Standard sibling (the
    /// `X-Crabapple-Reason` of its download); `None` for exact files.
    pub fn reason(&self, report: &Report) -> Option<String> {
        report.detailed.then(|| {
            format!(
                "reports-formats.md §4.5: {} of {} rows of {} came from fewer than {THRESHOLD} users or devices and were dropped; the other rows carry stable integer noise (σ≈2)",
                self.dropped, self.rows, report.name
            )
        })
    }
}

/// The file of `instance` for app `app_id`.
pub async fn render(store: &Store, instance: &Instance, app_id: &str) -> Result<Rendered> {
    let app = store.get("apps", app_id).await?;
    let app_name = app
        .as_ref()
        .and_then(|a| a.attributes.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let report = instance.report;
    let (first, last) = instance.dates();
    let mut out = String::from(header(report));
    out.push('\n');
    // Rows: Date and dimensions → metrics (Counts; or Purchases, Proceeds, Sales milli-USD, Users).
    let mut rows: BTreeMap<Vec<String>, [i64; 4]> = BTreeMap::new();
    let d = report.detailed;
    match report.kind {
        Kind::NotGenerated => {}
        Kind::Downloads => {
            for u in store
                .app_units_of(app_id, &first.to_string(), &last.to_string())
                .await?
            {
                let day: Date = u.day.parse()?;
                let mut key = vec![
                    date_cell(instance, day),
                    app_name.clone(),
                    app_id.to_string(),
                    u.download_type,
                    u.app_version,
                    u.device,
                    u.platform_version,
                    u.source_type,
                ];
                if d {
                    key.extend([u.source_info, u.campaign]);
                }
                key.push(u.page_type);
                if d {
                    key.push(String::new());
                }
                key.extend([yes_no(u.pre_order).to_string(), u.territory]);
                rows.entry(key).or_default()[0] += u.units;
            }
        }
        Kind::Purchases => {
            let start = pacific::day_bounds_ms(first).0;
            let end = pacific::day_bounds_ms(last).1;
            for i in items::items(store, start, end).await? {
                if i.app_id != app_id || i.day < first || i.day > last {
                    continue;
                }
                let mut key = vec![
                    date_cell(instance, i.day),
                    app_name.clone(),
                    app_id.to_string(),
                    "In-app purchase".to_string(),
                    i.title.clone(),
                    i.apple_id.clone(),
                    "Unavailable".into(),
                    "iPhone".into(),
                    String::new(),
                    "Unavailable".into(),
                ];
                if d {
                    key.extend([String::new(), String::new()]);
                }
                key.push("No page".into());
                if d {
                    key.push(String::new());
                }
                key.extend([String::new(), "No".into(), countries::alpha2(&i.storefront)]);
                let usd = |milli: i64| countries::convert_milli(milli, &i.currency, "USD");
                let m = rows.entry(key).or_default();
                m[0] += i.units;
                m[1] += usd(i.units * i.proceeds_milli);
                m[2] += usd(i.units.abs() * i.price_milli);
                m[3] += i64::from(i.units > 0);
            }
        }
    }
    let (total, mut dropped) = (rows.len(), 0);
    for (key, m) in rows {
        let mut m = m;
        let users = if report.kind == Kind::Purchases {
            m[3]
        } else {
            m[0]
        };
        if d {
            if users < THRESHOLD {
                dropped += 1;
                continue;
            }
            let noised = (users + noise(report.name, &key[0], &key[1..])).max(1);
            if report.kind == Kind::Purchases {
                for v in &mut m[0..3] {
                    *v = *v * noised / users;
                }
                m[3] = noised;
            } else {
                m[0] = noised;
            }
        }
        out.push_str(&key.join("\t"));
        if report.kind == Kind::Purchases {
            out.push_str(&format!(
                "\t{}\t{}\t{}\t{}",
                m[0],
                format_amount(m[1], "USD"),
                format_amount(m[2], "USD"),
                m[3]
            ));
        } else {
            out.push_str(&format!("\t{}", m[0]));
        }
        out.push('\n');
    }
    Ok(Rendered {
        text: out,
        rows: total,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_5_noise_is_stable_and_about_sigma_2() {
        let key = vec!["a".to_string()];
        assert_eq!(
            noise("r", "2026-01-01", &key),
            noise("r", "2026-01-01", &key)
        );
        let draws: Vec<i64> = (0..4000)
            .map(|i| noise("App Downloads Detailed", "2026-01-01", &[i.to_string()]))
            .collect();
        let within2 = draws.iter().filter(|n| n.abs() <= 2).count() as f64 / 4000.0;
        let within6 = draws.iter().filter(|n| n.abs() <= 6).count() as f64 / 4000.0;
        let mean = draws.iter().sum::<i64>() as f64 / 4000.0;
        // §4.5: 68.2 % within ±2 (rounding to integers widens it a little), 99.7 % within ±6.
        assert!((0.68..0.85).contains(&within2), "{within2}");
        assert!(within6 > 0.99, "{within6}");
        assert!(mean.abs() < 0.2, "{mean}");
    }

    #[test]
    fn s4_3_headers_have_the_report_columns_in_order() {
        assert_eq!(DOWNLOADS_STANDARD.split('\t').count(), 12);
        assert_eq!(DOWNLOADS_DETAILED.split('\t').count(), 15);
        assert_eq!(PURCHASES_STANDARD.split('\t').count(), 18);
        assert_eq!(PURCHASES_DETAILED.split('\t').count(), 21);
    }
}
