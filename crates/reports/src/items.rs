//! What the money reports count, read once from the store: each production transaction bought or
//! refunded in a period becomes an [`Item`] (a sale, or a return with negative units), with the
//! product and app facts the files print and the proceeds of [`crate::proceeds`].
//!
//! Sandbox purchases never reach Sales and Trends or Finance (Apple reports only App Store
//! sales), so only `Production` transactions count; family-shared transactions are not sales
//! either (the organizer's purchase is). A prorated refund (`REFUND_PRORATED`,
//! `revocationPercentage` in thousandths of a percent) is a return of one unit for that share of
//! the price and proceeds — crabapple's reading; Apple's Sales rows for partial refunds are not
//! captured (analytics shows them as 0 purchases with negative proceeds, reports-formats.md §4.3).
//!
//! Product Type Identifiers (apple-semantics.md §3 lists `IA1, IA9, IAY, IAC`; Apple's reference
//! page was not read), crabapple's mapping: consumables and non-consumables `IA1`, non-renewing
//! subscriptions `IA9`, auto-renewable subscriptions `IAY` (`IAC`, Apple's free subscription, is
//! not produced: crabapple has no free subscriptions).

use crate::pacific;
use crate::proceeds::{SMALL_BUSINESS_PROGRAM, commission_percent, developer_proceeds};
use crate::subscription::common::standard_duration;
use anyhow::Result;
use crabapple_store::Store;
use crabapple_storekit::ledger::TransactionRow;
use crabapple_storekit::ledger::{LedgerReports, LedgerStore};
use jiff::civil::Date;
use serde_json::Value;
use std::collections::HashMap;

/// One sale or return of a product.
#[derive(Debug, Clone)]
pub struct Item {
    /// The parent app: Apple ID, name, SKU.
    pub app_id: String,
    pub app_sku: String,
    /// The product: its product id (the report's SKU / Vendor Identifier), Apple ID, name.
    pub product_id: String,
    pub apple_id: String,
    pub title: String,
    pub product_type_identifier: &'static str,
    /// Auto-renewable subscriptions: `New` (first purchase) or `Renewal`.
    pub subscription: &'static str,
    /// Auto-renewable subscriptions: the standard duration (`1 Month`, …).
    pub period: String,
    /// Signed units (returns negative).
    pub units: i64,
    /// Signed customer price of one unit, milliunits of `currency`.
    pub price_milli: i64,
    /// Proceeds of one unit, milliunits of `currency`, always positive (§2.4).
    pub proceeds_milli: i64,
    pub currency: String,
    /// ISO 3166-1 alpha-3 storefront.
    pub storefront: String,
    /// `Rate After One Year` when the 15 % after-a-year rate applied to a subscription.
    pub proceeds_reason: &'static str,
    /// The Pacific day of the sale or of the refund.
    pub day: Date,
}

impl Item {
    pub fn is_return(&self) -> bool {
        self.units < 0
    }
}

const YEAR_MS: i64 = 365 * 86_400_000;

fn pti(product_type: &str) -> &'static str {
    match product_type {
        "AUTO_RENEWABLE" => "IAY",
        "NON_RENEWABLE" => "IA9",
        _ => "IA1",
    }
}

/// Product and app facts, looked up once per product.
#[derive(Clone, Default)]
struct Facts {
    apple_id: String,
    title: String,
    period: String,
    app_sku: String,
}

async fn facts(store: &Store, t: &TransactionRow) -> Result<Facts> {
    let mut f = Facts::default();
    if let Some((_, id, attrs)) = store
        .ledger_products_named(&t.product_id)
        .await?
        .into_iter()
        .next()
    {
        f.apple_id = id;
        f.title = attrs
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        f.period = standard_duration(
            attrs
                .get("subscriptionPeriod")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
        .to_string();
    }
    if let Some(app) = store.get("apps", &t.app_id).await? {
        f.app_sku = app
            .attributes
            .get("sku")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
    }
    Ok(f)
}

/// The production sales and returns of `[start_ms, end_ms)`, in purchase order (a refund follows
/// its sale when both fall in the period).
pub async fn items(store: &Store, start_ms: i64, end_ms: i64) -> Result<Vec<Item>> {
    let mut cache: HashMap<String, Facts> = HashMap::new();
    let mut out = Vec::new();
    for t in store.report_transactions(start_ms, end_ms).await? {
        if !t.environment.eq_ignore_ascii_case("production") || t.ownership == "FAMILY_SHARED" {
            continue;
        }
        let key = format!("{}\n{}", t.app_id, t.product_id);
        let f = match cache.get(&key) {
            Some(f) => f.clone(),
            None => {
                let f = facts(store, &t).await?;
                cache.insert(key, f.clone());
                f
            }
        };
        let p = t.payload.json();
        let price = p.get("price").and_then(Value::as_i64).unwrap_or(0);
        let currency = p
            .get("currency")
            .and_then(Value::as_str)
            .unwrap_or("USD")
            .to_string();
        let storefront = p
            .get("storefront")
            .and_then(Value::as_str)
            .unwrap_or("USA")
            .to_string();
        let quantity = p
            .get("quantity")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        let original_ms = p
            .get("originalPurchaseDate")
            .and_then(Value::as_i64)
            .unwrap_or(t.purchase_ms);
        let renewable = t.product_type == "AUTO_RENEWABLE";
        let after_year = renewable && t.purchase_ms - original_ms >= YEAR_MS;
        let commission = commission_percent(SMALL_BUSINESS_PROGRAM, after_year);
        let proceeds = developer_proceeds(price, &currency, &storefront, commission);
        let item = Item {
            app_id: t.app_id.clone(),
            app_sku: f.app_sku.clone(),
            product_id: t.product_id.clone(),
            apple_id: f.apple_id.clone(),
            title: f.title.clone(),
            product_type_identifier: pti(&t.product_type),
            subscription: match (renewable, t.transaction_id == t.original_transaction_id) {
                (false, _) => "",
                (true, true) => "New",
                (true, false) => "Renewal",
            },
            period: if renewable {
                f.period.clone()
            } else {
                String::new()
            },
            units: quantity,
            price_milli: price,
            proceeds_milli: proceeds,
            currency,
            storefront,
            proceeds_reason: if after_year {
                "Rate After One Year"
            } else {
                ""
            },
            day: pacific::day_of_ms(t.purchase_ms),
        };
        if (start_ms..end_ms).contains(&t.purchase_ms) {
            out.push(item.clone());
        }
        if let Some(r) = t.revoked_ms.filter(|r| (start_ms..end_ms).contains(r)) {
            let prorated =
                p.get("revocationType").and_then(Value::as_str) == Some("REFUND_PRORATED");
            let share = |milli: i64| match p.get("revocationPercentage").and_then(Value::as_i64) {
                Some(pct) if prorated => milli * pct / 100_000,
                _ => milli,
            };
            out.push(Item {
                units: -item.units,
                price_milli: -share(item.price_milli),
                proceeds_milli: share(item.proceeds_milli),
                day: pacific::day_of_ms(r),
                ..item
            });
        }
    }
    Ok(out)
}

/// `MM/DD/YYYY`, the date format of Sales Summary and Finance files (reports-formats.md §1.2).
pub fn us_date(d: Date) -> String {
    d.strftime("%m/%d/%Y").to_string()
}
