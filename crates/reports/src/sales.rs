//! The Summary Sales 1_0 file (reports-formats.md §2.4): one line per Apple key — every column
//! but Units — with the units summed, from the simulator's app units and the ledger's sales and
//! refunds of the period.
//!
//! App units: Product Type Identifier `1F` for first-time downloads, `3F` for redownloads and
//! restores, `7F` for updates; customer price and proceeds `0.00` (crabapple writes free-app
//! units; a paid app's price per unit is not recorded by the simulator yet). In-app purchases:
//! see [`crate::items`]; refunds have negative Units and Customer Price and positive Developer
//! Proceeds (§2.4); Developer Proceeds and Customer Price are per unit; Parent Identifier is the
//! app's SKU. Provider `APPLE`, Provider Country `US`; empty cells are empty (open question 9);
//! the file ends with a newline (open question 9).

use crate::countries;
use crate::items::{self, us_date};
use crate::period::ReportPeriod;
use crate::proceeds::format_amount;
use anyhow::Result;
use crabapple_store::Store;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Summary Sales 1_0's 28 columns, in Apple's order.
pub const HEADER: &str = "Provider\tProvider Country\tSKU\tDeveloper\tTitle\tVersion\tProduct Type Identifier\tUnits\tDeveloper Proceeds\tBegin Date\tEnd Date\tCustomer Currency\tCountry Code\tCurrency of Proceeds\tApple Identifier\tCustomer Price\tPromo Code\tParent Identifier\tSubscription\tPeriod\tCategory\tCMB\tDevice\tSupported Platforms\tProceeds Reason\tPreserved Pricing\tClient\tOrder Type";

/// Pre-Order Summary 1_0's 19 columns (§2.4). The demo world has no pre-orders, so the file would
/// be this line alone, which Apple answers with 404 "no sales" (the family never sends it).
pub const PRE_ORDER_HEADER: &str = "Provider\tProvider Country\tSKU\tDeveloper\tTitle\tPre-Order Start Date\tPre-Order End Date\tOrdered\tCanceled\tCumulative Ordered\tCumulative Canceled\tStart Date\tEnd Date\tCountry Code\tApple Identifier\tDevice\tSupported Platforms\tCategory\tClient";

const UNITS: usize = 7;

/// Product Type Identifier of an app unit by Apple's Download Type.
fn download_pti(download_type: &str) -> &'static str {
    match download_type {
        "Redownload" | "Restore" => "3F",
        "Manual update" | "Auto-update" => "7F",
        _ => "1F",
    }
}

/// The file's text, or `None` when the period has no units and no sales (Apple's 404 "There
/// were no sales for the date specified.").
pub async fn render(
    store: &Store,
    period: &ReportPeriod,
    developer: &str,
) -> Result<Option<String>> {
    let begin = us_date(period.first);
    let end = us_date(period.last);
    // Key: every cell but Units (left empty), value: the units.
    let mut lines: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    let mut apps: HashMap<String, (String, String)> = HashMap::new();
    let units = store
        .app_units(&period.first.to_string(), &period.last.to_string())
        .await?;
    for u in units {
        if !apps.contains_key(&u.app_id) {
            let a = store.get("apps", &u.app_id).await?;
            let attr = |k: &str| {
                a.as_ref()
                    .and_then(|a| a.attributes.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            apps.insert(u.app_id.clone(), (attr("sku"), attr("name")));
        }
        let (sku, name) = &apps[&u.app_id];
        let currency = countries::country(&u.territory)
            .map(|c| c.currency)
            .unwrap_or("USD");
        let zero = format_amount(0, currency);
        let key = vec![
            "APPLE".into(),
            "US".into(),
            sku.clone(),
            developer.into(),
            name.clone(),
            u.app_version.clone(),
            download_pti(&u.download_type).into(),
            String::new(),
            zero.clone(),
            begin.clone(),
            end.clone(),
            currency.into(),
            u.territory.clone(),
            currency.into(),
            u.app_id.clone(),
            zero,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            u.device.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            if u.pre_order {
                "Pre-Order".into()
            } else {
                String::new()
            },
        ];
        *lines.entry(key).or_default() += u.units;
    }
    let (start_ms, end_ms) = period.bounds_ms();
    for i in items::items(store, start_ms, end_ms).await? {
        let key = vec![
            "APPLE".into(),
            "US".into(),
            i.product_id.clone(),
            developer.into(),
            i.title.clone(),
            String::new(),
            i.product_type_identifier.into(),
            String::new(),
            format_amount(i.proceeds_milli, &i.currency),
            begin.clone(),
            end.clone(),
            i.currency.clone(),
            countries::alpha2(&i.storefront),
            i.currency.clone(),
            i.apple_id.clone(),
            format_amount(i.price_milli, &i.currency),
            String::new(),
            i.app_sku.clone(),
            i.subscription.into(),
            i.period.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            i.proceeds_reason.into(),
            String::new(),
            String::new(),
            String::new(),
        ];
        *lines.entry(key).or_default() += i.units;
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let mut out = format!("{HEADER}\n");
    for (mut cells, units) in lines {
        cells[UNITS] = units.to_string();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s2_4_summary_sales_1_0_header_bytes() {
        // reports-formats.md §2.4, written out here (not taken from the code under test).
        let expected = b"Provider\tProvider Country\tSKU\tDeveloper\tTitle\tVersion\tProduct Type Identifier\tUnits\tDeveloper Proceeds\tBegin Date\tEnd Date\tCustomer Currency\tCountry Code\tCurrency of Proceeds\tApple Identifier\tCustomer Price\tPromo Code\tParent Identifier\tSubscription\tPeriod\tCategory\tCMB\tDevice\tSupported Platforms\tProceeds Reason\tPreserved Pricing\tClient\tOrder Type";
        assert_eq!(HEADER.as_bytes(), expected);
        assert_eq!(HEADER.split('\t').count(), 28);
        assert_eq!(HEADER.split('\t').nth(UNITS), Some("Units"));
    }

    #[test]
    fn s2_4_pre_order_1_0_header_bytes() {
        let expected = b"Provider\tProvider Country\tSKU\tDeveloper\tTitle\tPre-Order Start Date\tPre-Order End Date\tOrdered\tCanceled\tCumulative Ordered\tCumulative Canceled\tStart Date\tEnd Date\tCountry Code\tApple Identifier\tDevice\tSupported Platforms\tCategory\tClient";
        assert_eq!(PRE_ORDER_HEADER.as_bytes(), expected);
        assert_eq!(PRE_ORDER_HEADER.split('\t').count(), 19);
    }
}
