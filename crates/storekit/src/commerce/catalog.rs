//! What can be bought: products resolved from the App Store Connect resources that define them,
//! their prices, storefronts, and subscription periods on the production and sandbox clocks.
//!
//! A product is an `inAppPurchases` resource (attribute `inAppPurchaseType` CONSUMABLE /
//! NON_CONSUMABLE / NON_RENEWING_SUBSCRIPTION) or a `subscriptions` resource (auto-renewable,
//! `subscriptionPeriod`, `groupLevel`, linked to its `subscriptionGroups`). Its app is found
//! through linkage in either direction (`inAppPurchases —app→ apps` as `POST /v2/inAppPurchases`
//! writes it, or `apps —inAppPurchasesV2→ inAppPurchases`; a group likewise). So a product
//! created through the App Store Connect API is purchasable here.

use crate::ledger::AppRow;
use crate::ledger::LedgerTx;
use anyhow::{Result, anyhow};
use crabapple_store::Tx;
use serde_json::{Map, Value};

use super::price_day::PriceZone;
use crate::models::Type;

/// Apple's `productType` families (Get Transaction History `productType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    Consumable,
    NonConsumable,
    NonRenewing,
    AutoRenewable,
}

impl ProductKind {
    /// The `productType` query value and ledger column.
    pub fn product_type(self) -> &'static str {
        match self {
            ProductKind::Consumable => "CONSUMABLE",
            ProductKind::NonConsumable => "NON_CONSUMABLE",
            ProductKind::NonRenewing => "NON_RENEWABLE",
            ProductKind::AutoRenewable => "AUTO_RENEWABLE",
        }
    }

    /// The transaction's `type`.
    pub fn wire_type(self) -> Type {
        match self {
            ProductKind::Consumable => Type::Consumable,
            ProductKind::NonConsumable => Type::NonConsumable,
            ProductKind::NonRenewing => Type::NonRenewingSubscription,
            ProductKind::AutoRenewable => Type::AutoRenewableSubscription,
        }
    }
}

/// An auto-renewable subscription's duration (ASC `subscriptionPeriod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    OneWeek,
    OneMonth,
    TwoMonths,
    ThreeMonths,
    SixMonths,
    OneYear,
}

impl Period {
    pub fn from_asc(s: &str) -> Option<Period> {
        Some(match s {
            "ONE_WEEK" => Period::OneWeek,
            "ONE_MONTH" => Period::OneMonth,
            "TWO_MONTHS" => Period::TwoMonths,
            "THREE_MONTHS" => Period::ThreeMonths,
            "SIX_MONTHS" => Period::SixMonths,
            "ONE_YEAR" => Period::OneYear,
            _ => return None,
        })
    }

    pub fn asc(self) -> &'static str {
        match self {
            Period::OneWeek => "ONE_WEEK",
            Period::OneMonth => "ONE_MONTH",
            Period::TwoMonths => "TWO_MONTHS",
            Period::ThreeMonths => "THREE_MONTHS",
            Period::SixMonths => "SIX_MONTHS",
            Period::OneYear => "ONE_YEAR",
        }
    }

    /// ISO 8601 duration (`offerPeriod` style).
    pub fn iso(self) -> &'static str {
        match self {
            Period::OneWeek => "P1W",
            Period::OneMonth => "P1M",
            Period::TwoMonths => "P2M",
            Period::ThreeMonths => "P3M",
            Period::SixMonths => "P6M",
            Period::OneYear => "P1Y",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Period::OneWeek => Duration::weeks(1),
            Period::OneMonth => Duration::months(1),
            Period::TwoMonths => Duration::months(2),
            Period::ThreeMonths => Duration::months(3),
            Period::SixMonths => Duration::months(6),
            Period::OneYear => Duration::years(1),
        }
    }

    /// `from + one period` on the environment's clock.
    pub fn add(self, from_ms: i64, sandbox: bool) -> i64 {
        self.duration().add(from_ms, sandbox)
    }
}

/// A calendar duration (`P3D`, `P1W`, `P1M`, `P1Y`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration {
    pub years: i64,
    pub months: i64,
    pub weeks: i64,
    pub days: i64,
}

const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;

impl Duration {
    pub fn days(n: i64) -> Duration {
        Duration {
            days: n,
            ..Default::default()
        }
    }
    pub fn weeks(n: i64) -> Duration {
        Duration {
            weeks: n,
            ..Default::default()
        }
    }
    pub fn months(n: i64) -> Duration {
        Duration {
            months: n,
            ..Default::default()
        }
    }
    pub fn years(n: i64) -> Duration {
        Duration {
            years: n,
            ..Default::default()
        }
    }

    /// Parses an ISO 8601 date duration such as `P1W`, `P3D`, `P1M`, `P1Y2M`.
    pub fn parse_iso(s: &str) -> Option<Duration> {
        let rest = s.strip_prefix('P')?;
        if rest.is_empty() {
            return None;
        }
        let mut d = Duration::default();
        let mut num = String::new();
        for c in rest.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().ok()?;
            num.clear();
            match c {
                'Y' => d.years += n,
                'M' => d.months += n,
                'W' => d.weeks += n,
                'D' => d.days += n,
                _ => return None,
            }
        }
        num.is_empty().then_some(d)
    }

    /// `from + self`: calendar arithmetic in UTC in production; Apple's accelerated sandbox
    /// renewal rate in the sandbox.
    ///
    /// Sandbox rates (Apple, "SKTestSession.TimeRate.monthlyRenewalEveryFiveMinutes",
    /// https://developer.apple.com/documentation/storekittest/sktestsession/timerate-swift.enum/monthlyrenewaleveryfiveminutes
    /// — "The sandbox environment also supports this subscription renewal rate", the default
    /// renewal rate of a Sandbox Apple Account): 1 week → 3 minutes, 1 month → 5 minutes,
    /// 2 months → 10 minutes, 3 months → 15 minutes, 6 months → 30 minutes, 1 year → 1 hour.
    /// Days (offer periods like `P3D`) are scaled at the weekly rate (3 minutes per 7 days),
    /// at least one minute — Apple publishes no rate for them.
    pub fn add(self, from_ms: i64, sandbox: bool) -> i64 {
        if sandbox {
            let mut ms = self.years * 60 * MINUTE_MS
                + self.months * 5 * MINUTE_MS
                + self.weeks * 3 * MINUTE_MS;
            if self.days > 0 {
                ms += (self.days * 3 * MINUTE_MS / 7).max(MINUTE_MS);
            }
            return from_ms + ms.max(MINUTE_MS);
        }
        let span = jiff::Span::new()
            .years(self.years)
            .months(self.months)
            .weeks(self.weeks)
            .days(self.days);
        jiff::Timestamp::from_millisecond(from_ms)
            .ok()
            .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC))
            .and_then(|z| z.checked_add(span).ok())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(
                from_ms
                    + (self.years * 365 + self.months * 30 + self.weeks * 7 + self.days) * DAY_MS,
            )
    }
}

/// Days on the environment's clock: the sandbox compresses time at the monthly rate
/// (30 days → 5 minutes, i.e. 10 seconds per day) for grace and billing-retry periods and
/// renewal-date extensions; production days are 24 hours.
pub fn days_ms(days: i64, sandbox: bool) -> i64 {
    if sandbox {
        days * 10_000
    } else {
        days * DAY_MS
    }
}

/// Apple's billing retry lasts 60 days ("The App Store continues to retry billing for 60 days",
/// notificationType DID_FAIL_TO_RENEW).
pub const BILLING_RETRY_DAYS: i64 = 60;

/// Sandbox subscriptions "renew up to 12 times after the initial purchase" (Apple, "Testing an
/// auto-renewable subscription",
/// https://developer.apple.com/documentation/storekit/testing-an-auto-renewable-subscription).
pub const SANDBOX_MAX_RENEWALS: i64 = 12;

/// A purchasable product.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// `inAppPurchases` or `subscriptions`.
    pub resource_type: String,
    pub resource_id: String,
    pub product_id: String,
    pub kind: ProductKind,
    /// `subscriptionGroups` id (auto-renewables).
    pub group_id: Option<String>,
    /// `groupLevel` (1 = highest level of service).
    pub group_level: Option<i64>,
    pub period: Option<Period>,
    pub family_sharable: bool,
    /// `state` (e.g. REMOVED_FROM_SALE).
    pub state: Option<String>,
}

/// Finds `product_id` among the products of `app`. A product linked to no app at all is
/// accepted too (synthesized worlds leave products unlinked).
pub async fn resolve_product(
    tx: &mut Tx,
    app: &AppRow,
    product_id: &str,
) -> Result<Option<Product>> {
    let candidates = tx.ledger_products_named(product_id).await?;
    let mut unlinked = None;
    for (rtype, id, attrs) in candidates {
        let (group_id, app_ids) = if rtype == "subscriptions" {
            let groups = tx
                .linked_any("subscriptions", &id, "subscriptionGroups")
                .await?;
            let mut apps = Vec::new();
            for g in &groups {
                apps.extend(tx.linked_any("subscriptionGroups", g, "apps").await?);
            }
            (groups.into_iter().next(), apps)
        } else {
            (None, tx.linked_any("inAppPurchases", &id, "apps").await?)
        };
        let product = product_from(&rtype, &id, &attrs, group_id)?;
        let Some(product) = product else { continue };
        if app_ids.iter().any(|a| a == &app.id) {
            return Ok(Some(product));
        }
        if app_ids.is_empty() && unlinked.is_none() {
            unlinked = Some(product);
        }
    }
    Ok(unlinked)
}

fn product_from(
    rtype: &str,
    id: &str,
    attrs: &Map<String, Value>,
    group_id: Option<String>,
) -> Result<Option<Product>> {
    let product_id = attrs
        .get("productId")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("{rtype}/{id} has no productId"))?
        .to_string();
    let state = attrs
        .get("state")
        .and_then(Value::as_str)
        .map(str::to_string);
    let family_sharable = attrs
        .get("familySharable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if rtype == "subscriptions" {
        let period = attrs
            .get("subscriptionPeriod")
            .and_then(Value::as_str)
            .and_then(Period::from_asc)
            .unwrap_or(Period::OneMonth);
        return Ok(Some(Product {
            resource_type: rtype.into(),
            resource_id: id.into(),
            product_id,
            kind: ProductKind::AutoRenewable,
            group_id: Some(group_id.unwrap_or_else(|| id.to_string())),
            group_level: attrs.get("groupLevel").and_then(Value::as_i64),
            period: Some(period),
            family_sharable,
            state,
        }));
    }
    let kind = match attrs.get("inAppPurchaseType").and_then(Value::as_str) {
        Some("CONSUMABLE") => ProductKind::Consumable,
        Some("NON_CONSUMABLE") => ProductKind::NonConsumable,
        Some("NON_RENEWING_SUBSCRIPTION") => ProductKind::NonRenewing,
        _ => return Ok(None),
    };
    Ok(Some(Product {
        resource_type: rtype.into(),
        resource_id: id.into(),
        product_id,
        kind,
        group_id: None,
        group_level: None,
        period: None,
        family_sharable,
        state,
    }))
}

/// Every subscription product of a group (for level changes).
pub async fn group_products(tx: &mut Tx, group_id: &str) -> Result<Vec<Product>> {
    let ids = tx
        .linked_any("subscriptionGroups", group_id, "subscriptions")
        .await?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = tx.get("subscriptions", &id).await?
            && let Some(p) =
                product_from("subscriptions", &id, &r.attributes, Some(group_id.into()))?
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// The app's billing grace period: `(enabled, days)` for this environment, from its
/// `subscriptionGracePeriods` resource (`optIn` / `sandboxOptIn`, `duration`); off when absent.
pub async fn grace_period(
    tx: &mut Tx,
    app: &AppRow,
    sandbox: bool,
    period: Period,
) -> Result<(bool, i64)> {
    let ids = tx
        .linked_any("apps", &app.id, "subscriptionGracePeriods")
        .await?;
    let mut enabled = false;
    let mut days = None;
    for id in ids {
        if let Some(r) = tx.get("subscriptionGracePeriods", &id).await? {
            let key = if sandbox { "sandboxOptIn" } else { "optIn" };
            enabled = r
                .attributes
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(false);
            days = match r.attributes.get("duration").and_then(Value::as_str) {
                Some("THREE_DAYS") => Some(3),
                Some("SIXTEEN_DAYS") => Some(16),
                Some("TWENTY_EIGHT_DAYS") => Some(28),
                _ => None,
            };
        }
    }
    Ok((enabled, days.unwrap_or_else(|| default_grace_days(period))))
}

/// Apple's default grace lengths: 6 days for weekly subscriptions, 16 days otherwise.
pub fn default_grace_days(period: Period) -> i64 {
    match period {
        Period::OneWeek => 6,
        _ => 16,
    }
}

// The storefront table lives in `storefronts.rs` (shared with App Store Connect's price points
// and the reports).
pub use super::storefronts::{STOREFRONTS, Storefront, storefront};

/// The customer price of `product` in `storefront` at virtual time `at`, in milliunits, with its
/// currency (explicit `price` / `currency` event arguments override it, in the events):
/// - the App Store Connect price in effect then for the storefront's territory (a
///   `subscriptionPrices` / in-app purchase price linked to a price point whose `customerPrice`
///   is set, whose `startDate` is on or before `at`'s day in App Store Connect's price zone; a
///   scheduled change applies from its start date on, apple-semantics.md §5);
/// - else, as Apple prices every other territory from a base territory's tier (§5), the
///   equalization ([`Storefront::equalized_milli`]) of the product's United States price: the
///   USA price in effect then, or without one the default for the product type
///   ([`default_usd_milli`]) — in the storefront's currency with Apple's rounding (whole yen and
///   won), the same amount `GET …/pricePoints?filter[territory]=…` shows for that tier.
pub async fn price(
    tx: &mut Tx,
    product: &Product,
    sf: Storefront,
    at: i64,
) -> Result<(i64, String)> {
    // A price is in effect from 00:00 of its `startDate` in App Store Connect's price zone
    // (price_day.rs, forum post 13).
    let [own, base] = prices_in_effect(tx, product, [sf.alpha3, "USA"], at).await?;
    if let Some((p, _)) = own {
        let currency = match tx.get("territories", sf.alpha3).await? {
            Some(t) => t
                .attributes
                .get("currency")
                .and_then(Value::as_str)
                .unwrap_or(sf.currency)
                .to_string(),
            None => sf.currency.to_string(),
        };
        return Ok((p, currency));
    }
    let usd_milli = base.map_or_else(|| default_usd_milli(product), |(p, _)| p);
    let usd_cents = u32::try_from(usd_milli / 10).unwrap_or(u32::MAX);
    Ok((sf.equalized_milli(usd_cents), sf.currency.to_string()))
}

/// The United States price of a product without App Store Connect prices, in milliunits of USD.
pub fn default_usd_milli(product: &Product) -> i64 {
    match (product.kind, product.period) {
        (ProductKind::Consumable, _) => 990,
        (ProductKind::NonConsumable, _) => 2990,
        (ProductKind::NonRenewing, _) => 4990,
        (ProductKind::AutoRenewable, Some(Period::OneWeek)) => 1990,
        (ProductKind::AutoRenewable, Some(Period::TwoMonths)) => 8990,
        (ProductKind::AutoRenewable, Some(Period::ThreeMonths)) => 12990,
        (ProductKind::AutoRenewable, Some(Period::SixMonths)) => 24990,
        (ProductKind::AutoRenewable, Some(Period::OneYear)) => 39990,
        (ProductKind::AutoRenewable, _) => 4990,
    }
}

pub use super::price_day::utc_day;

/// The App Store Connect price of `product` in `territory` in effect at `at` (milliunits) and the
/// id of the price resource that set it: the latest `startDate` on or before `at`'s day in App
/// Store Connect's price zone (a price takes effect at 00:00 there: price_day.rs, forum post 13).
pub async fn asc_price_in_effect(
    tx: &mut Tx,
    product: &Product,
    territory: &str,
    at: i64,
) -> Result<Option<(i64, String)>> {
    let [p] = prices_in_effect(tx, product, [territory], at).await?;
    Ok(p)
}

/// [`asc_price_in_effect`] for several territories, reading the product's prices once.
async fn prices_in_effect<const N: usize>(
    tx: &mut Tx,
    product: &Product,
    territories: [&str; N],
    at: i64,
) -> Result<[Option<(i64, String)>; N]> {
    let today = PriceZone::of(tx).await?.day(at);
    // Subscriptions: subscriptions → subscriptionPrices → (territory, subscriptionPricePoints).
    // In-app purchases: inAppPurchases → inAppPurchasePriceSchedules → inAppPurchasePrices →
    // (territory, inAppPurchasePricePoints).
    let (price_type, point_type, prices) = if product.resource_type == "subscriptions" {
        let p = tx
            .linked_any("subscriptions", &product.resource_id, "subscriptionPrices")
            .await?;
        ("subscriptionPrices", "subscriptionPricePoints", p)
    } else {
        let mut p = Vec::new();
        for s in tx
            .linked_any(
                "inAppPurchases",
                &product.resource_id,
                "inAppPurchasePriceSchedules",
            )
            .await?
        {
            p.extend(
                tx.linked_any("inAppPurchasePriceSchedules", &s, "inAppPurchasePrices")
                    .await?,
            );
        }
        ("inAppPurchasePrices", "inAppPurchasePricePoints", p)
    };
    let mut best: [Option<(String, i64, String)>; N] = std::array::from_fn(|_| None);
    for price_id in prices {
        let linked = tx.linked_any(price_type, &price_id, "territories").await?;
        // A price linked to no territory applies to every territory.
        let applies = territories.map(|t| linked.is_empty() || linked.iter().any(|l| l == t));
        if !applies.contains(&true) {
            continue;
        }
        let start = tx
            .get(price_type, &price_id)
            .await?
            .and_then(|r| {
                r.attributes
                    .get("startDate")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        if start > today {
            continue; // a scheduled change, not yet in effect
        }
        for point in tx.linked_any(price_type, &price_id, point_type).await? {
            let Some(r) = tx.get(point_type, &point).await? else {
                continue;
            };
            let Some(amount) = r.attributes.get("customerPrice").and_then(parse_price) else {
                continue;
            };
            for (best, _) in best.iter_mut().zip(applies).filter(|(_, a)| *a) {
                if best.as_ref().is_none_or(|(s, _, _)| start >= *s) {
                    *best = Some((start.clone(), amount, price_id.clone()));
                }
            }
        }
    }
    Ok(best.map(|b| b.map(|(_, p, id)| (p, id))))
}

/// `"9.99"` / `9.99` → 9990 milliunits.
pub fn parse_price(v: &Value) -> Option<i64> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int: i64 = int.parse().ok()?;
    let mut frac = frac.to_string();
    if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while frac.len() < 3 {
        frac.push('0');
    }
    Some(int * 1000 + frac.parse::<i64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_rates_follow_apples_table() {
        let t0 = 1_700_000_000_000;
        let m = 60_000;
        assert_eq!(Period::OneWeek.add(t0, true) - t0, 3 * m);
        assert_eq!(Period::OneMonth.add(t0, true) - t0, 5 * m);
        assert_eq!(Period::TwoMonths.add(t0, true) - t0, 10 * m);
        assert_eq!(Period::ThreeMonths.add(t0, true) - t0, 15 * m);
        assert_eq!(Period::SixMonths.add(t0, true) - t0, 30 * m);
        assert_eq!(Period::OneYear.add(t0, true) - t0, 60 * m);
    }

    #[test]
    fn production_periods_are_calendar_periods() {
        // 2024-01-31T00:00:00Z + 1 month = 2024-02-29 (jiff clamps to the month's end).
        let jan31 = 1_706_659_200_000;
        assert_eq!(Period::OneMonth.add(jan31, false), 1_709_164_800_000);
        assert_eq!(Period::OneWeek.add(jan31, false) - jan31, 7 * DAY_MS);
        assert_eq!(Period::OneYear.add(jan31, false) - jan31, 366 * DAY_MS);
    }

    #[test]
    fn iso_durations_and_prices() {
        assert_eq!(Duration::parse_iso("P1W"), Some(Duration::weeks(1)));
        assert_eq!(Duration::parse_iso("P3D"), Some(Duration::days(3)));
        assert_eq!(
            Duration::parse_iso("P1Y2M").map(|d| (d.years, d.months)),
            Some((1, 2))
        );
        assert_eq!(Duration::parse_iso("1W"), None);
        assert_eq!(parse_price(&Value::from("9.99")), Some(9990));
        assert_eq!(parse_price(&Value::from("10")), Some(10000));
        assert_eq!(parse_price(&Value::from("0.5")), Some(500));
        assert_eq!(storefront("USA").unwrap().id, "143441");
    }
}
