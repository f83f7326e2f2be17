//! The Summary Sales 1_0 file (reports-formats.md §2.4): one line per Apple key — every column
//! but Units — with the units summed, from the simulator's app units and the ledger's sales and
//! refunds of the period.
//!
//! App units: Product Type Identifier `1F` for first-time downloads, `3F` for redownloads and
//! restores, `7F` for updates. Free apps and every redownload, restore and update have customer
//! price and proceeds `0.00`; a paid app's first-time downloads carry its price in the territory
//! (the USD tier of its price schedule, converted and rounded as the price points are,
//! [`crate::storefronts`]) and the proceeds of that price ([`crate::proceeds`]). In-app purchases:
//! see [`crate::items`]; refunds have negative Units and Customer Price and positive Developer
//! Proceeds (§2.4); Developer Proceeds and Customer Price are per unit; Parent Identifier is the
//! app's SKU. Provider `APPLE`, Provider Country `US`; empty cells are empty (open question 9);
//! the file ends with a newline (open question 9).

use crate::countries;
use crate::items::{self, us_date};
use crate::period::ReportPeriod;
use crate::proceeds::{
    SMALL_BUSINESS_PROGRAM, commission_percent, developer_proceeds, format_amount,
};
use crate::storefronts;
use anyhow::Result;
use base64::Engine as _;
use crabapple_reports_store::ReportsStore;
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

/// The USD price, in cents, of a paid app (0 for a free one): the tier of its price schedule's
/// first manual price. `appPrices` ids are base64 of `{"s","t","p",…}` with `p` = 10000 + the USD
/// price in dimes (crates/asc `price_points::tier_code`), so USD 4.99 is `10050`.
async fn app_usd_cents(store: &Store, app_id: &str) -> Result<u32> {
    let (prices, _) = store
        .linked("appPriceSchedules", app_id, "manualPrices", 0, 1)
        .await?;
    let Some((_, id)) = prices.first() else {
        return Ok(0);
    };
    let raw = id.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw))
        .unwrap_or_default();
    let p = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("p").and_then(Value::as_str)?.parse::<u32>().ok())
        .unwrap_or(10_000);
    Ok(p.saturating_sub(10_000)
        .saturating_mul(10)
        .saturating_sub(1))
}

/// The customer price and proceeds (milliunits) and the currency of one first-time download of an
/// app priced `usd_cents` in `territory` (alpha-2).
fn unit_price(usd_cents: u32, territory: &str) -> (i64, i64, &'static str) {
    let country = countries::country(territory);
    let alpha3 = country.map(|c| c.alpha3).unwrap_or("USA");
    let currency = country.map(|c| c.currency).unwrap_or("USD");
    if usd_cents == 0 {
        return (0, 0, currency);
    }
    let (price, currency) = match storefronts::storefront(alpha3) {
        Some(s) => (s.equalized_milli(usd_cents), s.currency),
        None => (
            countries::convert_milli(i64::from(usd_cents) * 10, "USD", currency),
            currency,
        ),
    };
    let commission = commission_percent(SMALL_BUSINESS_PROGRAM, false);
    (
        price,
        developer_proceeds(price, currency, alpha3, commission),
        currency,
    )
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
    let mut apps: HashMap<String, (String, String, u32)> = HashMap::new();
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
            let cents = app_usd_cents(store, &u.app_id).await?;
            apps.insert(u.app_id.clone(), (attr("sku"), attr("name"), cents));
        }
        let (sku, name, cents) = &apps[&u.app_id];
        let pti = download_pti(&u.download_type);
        // Only a first-time download is paid for (§2.4: redownloads and updates are free).
        let (price, proceeds, currency) =
            unit_price(if pti == "1F" { *cents } else { 0 }, &u.territory);
        let key = vec![
            "APPLE".into(),
            "US".into(),
            sku.clone(),
            developer.into(),
            name.clone(),
            u.app_version.clone(),
            pti.into(),
            String::new(),
            format_amount(proceeds, currency),
            begin.clone(),
            end.clone(),
            currency.into(),
            countries::alpha2(&u.territory),
            currency.into(),
            u.app_id.clone(),
            format_amount(price, currency),
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
    fn s2_4_paid_first_time_downloads_carry_the_price_points_price() {
        // Pippin Budget, USD 4.99 (the demo world's price points: proceeds 4.24).
        assert_eq!(unit_price(499, "US"), (4990, 4240, "USD"));
        // GBP: 4.99 × 0.79 × 1.2 = 4.73 → 4.99 incl. 20 % VAT → proceeds 3.53.
        assert_eq!(unit_price(499, "GB"), (4990, 3530, "GBP"));
        assert_eq!(unit_price(0, "GB"), (0, 0, "GBP"));
        // Sweden: 4.99 × 10.5 × 1.25 = 65.49 → SEK 69 (whole kronor ending in 9), 25 % VAT out.
        assert_eq!(unit_price(499, "SE"), (69_000, 46_920, "SEK"));
        // A territory outside the storefronts: converted, no VAT known.
        assert_eq!(unit_price(499, "PL"), (19_960, 16_960, "PLN"));
    }

    #[test]
    fn s2_4_pre_order_1_0_header_bytes() {
        let expected = b"Provider\tProvider Country\tSKU\tDeveloper\tTitle\tPre-Order Start Date\tPre-Order End Date\tOrdered\tCanceled\tCumulative Ordered\tCumulative Canceled\tStart Date\tEnd Date\tCountry Code\tApple Identifier\tDevice\tSupported Platforms\tCategory\tClient";
        assert_eq!(PRE_ORDER_HEADER.as_bytes(), expected);
        assert_eq!(PRE_ORDER_HEADER.split('\t').count(), 19);
    }
}
