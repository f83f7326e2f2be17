//! What the subscription reports share: the reporting day, the catalogue facts a row names (app,
//! subscription, offer names), a transaction's offer, Apple's value spellings, the Subscriber
//! ID, proceeds per transaction and the TSV text itself.

use crabapple_storekit::ledger::{LedgerReports, LedgerStore};
use std::collections::HashMap;

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crabapple_store::{ListQuery, Store};
use crabapple_storekit::ledger::{CustomerRow, TransactionRow};
use jiff::civil::Date;
use serde_json::Value;

use crate::pacific;
use crate::proceeds::{
    SMALL_BUSINESS_PROGRAM, commission_percent, developer_proceeds, format_amount,
};

/// Reports count the production App Store only; sandbox purchases never reach Sales and Trends.
pub(crate) const ENVIRONMENT: &str = "Production";

pub(super) const DAY_MS: i64 = 86_400_000;

/// The Pacific reporting day: its date and `[start, end)` in epoch ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day {
    pub date: Date,
    pub start: i64,
    pub end: i64,
}

impl Day {
    pub fn new(date: Date) -> Day {
        let (start, end) = pacific::day_bounds_ms(date);
        Day { date, start, end }
    }

    pub fn contains(&self, ms: i64) -> bool {
        (self.start..self.end).contains(&ms)
    }
}

/// A date as the subscription family writes it (`YYYY-MM-DD`, reports-formats.md §1.2), of the
/// Pacific day an instant falls on.
pub(super) fn ymd(ms: i64) -> String {
    pacific::day_of_ms(ms).to_string()
}

/// The TSV text: the header line, then each row, every line ending in `\n` — including the last
/// one (reports-formats.md open question 9 leaves the trailing newline open; crabapple ends every
/// line alike so line-oriented tools count the rows right). `None` without rows.
pub(super) fn tsv(header: &str, rows: impl IntoIterator<Item = Vec<String>>) -> Option<String> {
    let mut out = String::with_capacity(header.len() + 1);
    out.push_str(header);
    out.push('\n');
    let mut any = false;
    for r in rows {
        any = true;
        out.push_str(&r.join("\t"));
        out.push('\n');
    }
    any.then_some(out)
}

/// Tabs and line breaks never reach a cell (Apple's files are unquoted TSV).
pub(super) fn cell(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// An auto-renewable subscription as the reports name it.
#[derive(Debug, Clone)]
pub(crate) struct Product {
    /// The `subscriptions` resource id (Subscription Apple ID).
    pub apple_id: String,
    /// The reference name (Subscription Name).
    pub name: String,
    /// Apple's Standard Subscription Duration (`7 Days`, `1 Month`, …, `1 Year`).
    pub duration: String,
    /// `groupLevel` (1 is the highest level of service).
    pub level: i64,
}

impl Product {
    /// A product no `subscriptions` resource names any more: its product id stands in.
    pub fn fallback(t: &TransactionRow) -> Product {
        Product {
            apple_id: String::new(),
            name: t.product_id.clone(),
            duration: String::new(),
            level: 0,
        }
    }
}

/// Apple's Standard Subscription Duration for an ASC `subscriptionPeriod`.
pub(crate) fn standard_duration(period: &str) -> &'static str {
    match period {
        "ONE_WEEK" => "7 Days",
        "ONE_MONTH" => "1 Month",
        "TWO_MONTHS" => "2 Months",
        "THREE_MONTHS" => "3 Months",
        "SIX_MONTHS" => "6 Months",
        "ONE_YEAR" => "1 Year",
        _ => "",
    }
}

/// An offer's duration (ISO 8601 `offerPeriod`, e.g. `P1W`) in words: `1 Week`, `3 Days`,
/// `2 Months`, `1 Year`.
pub(crate) fn offer_duration(iso: &str) -> String {
    let Some(rest) = iso.strip_prefix('P') else {
        return String::new();
    };
    let (n, unit) = rest.split_at(rest.len().saturating_sub(1));
    let Ok(n) = n.parse::<u32>() else {
        return String::new();
    };
    let word = match unit {
        "D" => "Day",
        "W" => "Week",
        "M" => "Month",
        "Y" => "Year",
        _ => return String::new(),
    };
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// The kinds of subscription offer (Apple's `offerType` 1–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferKind {
    Introductory,
    Promotional,
    OfferCode,
    WinBack,
}

/// A transaction's (or renewal info's) offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offer {
    pub kind: OfferKind,
    /// `offerIdentifier` (promotional offers, offer codes, win-back offers).
    pub identifier: String,
    /// `offerDiscountType`: FREE_TRIAL, PAY_AS_YOU_GO, PAY_UP_FRONT.
    pub discount: String,
    /// `offerPeriod` (ISO 8601).
    pub period: String,
}

impl Offer {
    pub fn of(payload: &Value) -> Option<Offer> {
        let kind = match payload.get("offerType").and_then(Value::as_i64)? {
            1 => OfferKind::Introductory,
            2 => OfferKind::Promotional,
            3 => OfferKind::OfferCode,
            4 => OfferKind::WinBack,
            _ => return None,
        };
        let s = |k: &str| {
            payload
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(Offer {
            kind,
            identifier: s("offerIdentifier"),
            discount: s("offerDiscountType"),
            period: s("offerPeriod"),
        })
    }

    /// Apple's Subscription Offer Type: the discount (`Free Trial`, `Pay As You Go`,
    /// `Pay Up Front`).
    pub fn offer_type(&self) -> &'static str {
        match self.discount.as_str() {
            "FREE_TRIAL" => "Free Trial",
            "PAY_AS_YOU_GO" => "Pay As You Go",
            "PAY_UP_FRONT" => "Pay Up Front",
            _ => "",
        }
    }

    pub fn is_free_trial(&self) -> bool {
        self.discount == "FREE_TRIAL"
    }
}

/// Subscription Offer Type and Subscription Offer Duration of an offer (empty without one).
pub(super) fn offer_type_columns(offer: Option<&Offer>) -> [String; 2] {
    match offer {
        Some(o) => [o.offer_type().to_string(), offer_duration(&o.period)],
        None => Default::default(),
    }
}

/// Customer Price, Customer Currency, Developer Proceeds, Proceeds Currency (proceeds are paid
/// in the customer's currency).
pub(super) fn money_columns(price: i64, proceeds: i64, currency: &str) -> [String; 4] {
    [
        format_amount(price, currency),
        currency.to_string(),
        format_amount(proceeds, currency),
        currency.to_string(),
    ]
}

/// The two offer columns of the Subscription, Subscription Event and Subscriber files:
/// `(Subscription Offer Name, Promotional Offer ID)`.
///
/// Apple fills them as forum post 6 reports: for a redeemed offer code only the offer's
/// reference name (the offer code resource's `name`, e.g. `Holiday Promos`), Promotional Offer ID
/// empty — the code a customer typed (`BLACKFRIDAY30` vs `MOTHERSDAY30`) is told apart only in
/// the Subscription Offer Code Redemption file's Offer Code column. For promotional and win-back
/// offers the name is the offer's reference name and the ID its offer identifier; introductory
/// offers have neither.
pub(crate) struct OfferColumns {
    pub name: String,
    pub id: String,
}

/// An offer code redemption's `(Offer Reference Name, Offer Code)`.
pub(crate) struct CodeNames {
    pub reference_name: String,
    /// The custom code; empty for one-time-use codes (reports-formats.md §2.4).
    pub code: String,
}

/// Catalogue facts read once per report: apps, subscriptions, offers, customers, chains.
pub(crate) struct Catalog<'a> {
    pub store: &'a Store,
    apps: HashMap<String, String>,
    products: HashMap<String, Option<Product>>,
    by_type: HashMap<&'static str, Vec<crabapple_store::Resource>>,
    customers: HashMap<i64, Option<CustomerRow>>,
    chains: HashMap<String, Vec<TransactionRow>>,
    notified: HashMap<String, TransactionRow>,
}

impl<'a> Catalog<'a> {
    pub fn new(store: &'a Store) -> Catalog<'a> {
        Catalog {
            store,
            apps: HashMap::new(),
            products: HashMap::new(),
            by_type: HashMap::new(),
            customers: HashMap::new(),
            chains: HashMap::new(),
            notified: HashMap::new(),
        }
    }

    /// The app's name (`apps.name`).
    pub async fn app_name(&mut self, app_id: &str) -> Result<String> {
        if let Some(n) = self.apps.get(app_id) {
            return Ok(n.clone());
        }
        let name = self
            .store
            .get("apps", app_id)
            .await?
            .and_then(|r| {
                r.attributes
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        self.apps.insert(app_id.to_string(), name.clone());
        Ok(name)
    }

    /// App Name, App Apple ID, Subscription Name, Subscription Apple ID, Subscription Group ID
    /// and Standard Subscription Duration of a transaction's subscription: the columns that
    /// open the rows of every file of the family but the offer code redemptions.
    pub async fn subscription_columns(&mut self, t: &TransactionRow) -> Result<Vec<String>> {
        let app_name = self.app_name(&t.app_id).await?;
        let p = self
            .product(&t.product_id)
            .await?
            .unwrap_or_else(|| Product::fallback(t));
        Ok(vec![
            cell(&app_name),
            t.app_id.clone(),
            cell(&p.name),
            p.apple_id,
            t.group_id.clone().unwrap_or_default(),
            p.duration,
        ])
    }

    /// The `subscriptions` resource of a product id.
    pub async fn product(&mut self, product_id: &str) -> Result<Option<Product>> {
        if let Some(p) = self.products.get(product_id) {
            return Ok(p.clone());
        }
        let p = self
            .store
            .ledger_products_named(product_id)
            .await?
            .into_iter()
            .find(|(t, _, _)| t == "subscriptions")
            .map(|(_, id, a)| {
                let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
                Product {
                    apple_id: id,
                    name: s("name").to_string(),
                    duration: standard_duration(s("subscriptionPeriod")).to_string(),
                    level: a.get("groupLevel").and_then(Value::as_i64).unwrap_or(0),
                }
            });
        self.products.insert(product_id.to_string(), p.clone());
        Ok(p)
    }

    async fn resources(&mut self, rtype: &'static str) -> Result<&[crabapple_store::Resource]> {
        if !self.by_type.contains_key(rtype) {
            let (items, _) = self
                .store
                .list(&ListQuery {
                    rtype: rtype.into(),
                    linked_from: None,
                    filters: Vec::new(),
                    sort: Vec::new(),
                    offset: 0,
                    limit: 100_000,
                })
                .await?;
            self.by_type.insert(rtype, items);
        }
        Ok(&self.by_type[rtype])
    }

    /// A resource of `rtype` whose attribute `attr` is `value`: its attribute `name_attr`.
    async fn name_where(
        &mut self,
        rtype: &'static str,
        attr: &str,
        value: &str,
        name_attr: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .resources(rtype)
            .await?
            .iter()
            .find(|r| r.attributes.get(attr).and_then(Value::as_str) == Some(value))
            .and_then(|r| r.attributes.get(name_attr).and_then(Value::as_str))
            .map(str::to_string))
    }

    /// What an offer code redemption's `offerIdentifier` names. crabapple takes the code the
    /// customer redeemed: a custom code (`subscriptionOfferCodeCustomCodes.customCode`, matched
    /// without regard to case) gives its offer's reference name and the code; an offer code's id
    /// or reference name (one-time-use codes) gives the name and an empty code.
    pub async fn offer_code(&mut self, identifier: &str) -> Result<CodeNames> {
        let custom = self
            .resources("subscriptionOfferCodeCustomCodes")
            .await?
            .iter()
            .find(|r| {
                r.attributes
                    .get("customCode")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.eq_ignore_ascii_case(identifier))
            })
            .map(|r| {
                let code = r.attributes["customCode"].as_str().unwrap_or_default();
                (r.id.clone(), code.to_string())
            });
        if let Some((id, code)) = custom {
            let offers = self
                .store
                .linked_any(
                    "subscriptionOfferCodeCustomCodes",
                    &id,
                    "subscriptionOfferCodes",
                )
                .await?;
            let mut reference_name = String::new();
            for o in offers {
                if let Some(r) = self.store.get("subscriptionOfferCodes", &o).await? {
                    reference_name = r
                        .attributes
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                }
            }
            return Ok(CodeNames {
                reference_name,
                code,
            });
        }
        let by_id_or_name = self
            .resources("subscriptionOfferCodes")
            .await?
            .iter()
            .find(|r| {
                r.id == identifier
                    || r.attributes.get("name").and_then(Value::as_str) == Some(identifier)
            })
            .and_then(|r| r.attributes.get("name").and_then(Value::as_str))
            .map(str::to_string);
        Ok(CodeNames {
            reference_name: by_id_or_name.unwrap_or_else(|| identifier.to_string()),
            code: String::new(),
        })
    }

    /// The offer columns of a transaction's offer (see [`OfferColumns`]).
    pub async fn offer_columns(&mut self, offer: Option<&Offer>) -> Result<OfferColumns> {
        let Some(o) = offer else {
            return Ok(OfferColumns {
                name: String::new(),
                id: String::new(),
            });
        };
        let id = o.identifier.clone();
        Ok(match o.kind {
            OfferKind::Introductory => OfferColumns {
                name: String::new(),
                id: String::new(),
            },
            OfferKind::OfferCode => OfferColumns {
                name: self.offer_code(&id).await?.reference_name,
                id: String::new(),
            },
            OfferKind::Promotional => OfferColumns {
                name: self
                    .name_where("subscriptionPromotionalOffers", "offerCode", &id, "name")
                    .await?
                    .unwrap_or_else(|| id.clone()),
                id,
            },
            OfferKind::WinBack => OfferColumns {
                name: self
                    .name_where("winBackOffers", "offerId", &id, "referenceName")
                    .await?
                    .unwrap_or_else(|| id.clone()),
                id,
            },
        })
    }

    pub async fn customer(&mut self, id: i64) -> Result<Option<CustomerRow>> {
        if let Some(c) = self.customers.get(&id) {
            return Ok(c.clone());
        }
        let c = self.store.ledger_customer(id).await?;
        self.customers.insert(id, c.clone());
        Ok(c)
    }

    /// Proceeds of a transaction (milliunits, per unit) and Apple's Proceeds Reason (`Rate After
    /// One Year` once the subscriber has a year of paid service, reports-formats.md §2.4; the
    /// demo team's Small Business Program rate is 15 % from the first day, proceeds.rs). The
    /// subscription's history is read only when it is a year old.
    pub async fn proceeds(
        &mut self,
        t: &TransactionRow,
        price: i64,
    ) -> Result<(i64, &'static str)> {
        let original = t
            .payload
            .json()
            .get("originalPurchaseDate")
            .and_then(Value::as_i64)
            .unwrap_or(t.purchase_ms);
        let after_year = t.purchase_ms - original >= 365 * DAY_MS
            && paid_days_before(self.chain(&t.original_transaction_id).await?, t) >= 365;
        let rate = commission_percent(SMALL_BUSINESS_PROGRAM, after_year);
        let p = developer_proceeds(price, &currency(t), &storefront(t), rate);
        Ok((
            p,
            if after_year {
                "Rate After One Year"
            } else {
                ""
            },
        ))
    }

    /// Reads the customers of `day`'s notifications at once, for [`Catalog::customer`].
    pub async fn notified_customers(&mut self, day: Day) -> Result<()> {
        for c in self
            .store
            .report_notified_customers(ENVIRONMENT, day.start, day.end)
            .await?
        {
            self.customers.insert(c.id, Some(c));
        }
        Ok(())
    }

    /// The transaction a notification of `day` is about (all of the day's read at once).
    pub async fn notified(&mut self, day: Day, id: &str) -> Result<Option<TransactionRow>> {
        if self.notified.is_empty() {
            let all = self
                .store
                .report_notified_transactions(ENVIRONMENT, day.start, day.end)
                .await?;
            self.notified = all
                .into_iter()
                .map(|t| (t.transaction_id.clone(), t))
                .collect();
        }
        Ok(self.notified.get(id).cloned())
    }

    /// Every transaction of a subscription, in purchase order.
    pub async fn chain(&mut self, original_transaction_id: &str) -> Result<&[TransactionRow]> {
        if !self.chains.contains_key(original_transaction_id) {
            let c = self.store.ledger_chain(original_transaction_id).await?;
            self.chains.insert(original_transaction_id.to_string(), c);
        }
        Ok(&self.chains[original_transaction_id])
    }
}

/// Apple's Subscriber ID: a stable anonymous number per customer (Apple Account) and app — a
/// hash of the customer's app transaction id, never a transaction id (18 digits).
pub(super) fn subscriber_id(c: &CustomerRow) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("subscriber:{}:{}", c.app_id, c.app_transaction_id).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64's finalizer spreads ids that differ in their last digits over all 18 digits.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (100_000_000_000_000_000 + h % 900_000_000_000_000_000).to_string()
}

/// A customer's `originalPlatform` (from the app transaction).
pub(crate) fn platform(c: Option<&CustomerRow>) -> Option<&str> {
    c.and_then(|c| c.app_transaction.json().get("originalPlatform"))
        .and_then(Value::as_str)
}

/// Apple's Device of a customer's purchases, from the app transaction's `originalPlatform`.
pub(crate) fn device(platform: Option<&str>) -> &'static str {
    match platform {
        Some("macOS") => "Desktop",
        Some("tvOS") => "Apple TV",
        Some("visionOS") => "Apple Vision Pro",
        _ => "iPhone",
    }
}

pub(crate) fn price_milli(t: &TransactionRow) -> Option<i64> {
    t.payload.json().get("price").and_then(Value::as_i64)
}

pub(super) fn currency(t: &TransactionRow) -> String {
    t.payload
        .json()
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn storefront(t: &TransactionRow) -> String {
    t.payload
        .json()
        .get("storefront")
        .and_then(Value::as_str)
        .unwrap_or("USA")
        .to_string()
}

/// A paid period: charged (not a free trial) and not family-shared.
pub(super) fn is_paid(t: &TransactionRow) -> bool {
    price_milli(t).is_some_and(|p| p > 0)
        && !Offer::of(t.payload.json()).is_some_and(|o| o.is_free_trial())
}

/// Days of paid service in `chain` before `t` (Apple's one-year rule counts paid service days),
/// as they stood when `t` was bought: a period refunded later still counted then, so a file
/// already out never changes (crates/reports cache.rs serves it for good).
pub(super) fn paid_days_before(chain: &[TransactionRow], t: &TransactionRow) -> i64 {
    chain
        .iter()
        .filter(|c| {
            c.purchase_ms < t.purchase_ms
                && is_paid(c)
                && c.revoked_ms.is_none_or(|r| r > t.purchase_ms)
        })
        .map(|c| (c.expires_ms.unwrap_or(c.purchase_ms) - c.purchase_ms) / DAY_MS)
        .sum()
}

/// Paid transactions in `chain` up to and including `t`: Consecutive Paid Periods.
pub(super) fn paid_periods_through(chain: &[TransactionRow], t: &TransactionRow) -> usize {
    chain
        .iter()
        .filter(|c| c.purchase_ms <= t.purchase_ms && is_paid(c))
        .count()
}

/// The decoded payload of a JWS (crabapple signed it; the reports only read it back).
pub(super) fn jws_payload(jws: &str) -> Option<Value> {
    let part = jws.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// The renewal info a notification carried (`data.signedRenewalInfo`), decoded: from the row's
/// decoded content, or from its JWS for a row written before migration 0006.
pub(super) fn notification_renewal_info(
    n: &crabapple_storekit::ledger::NotificationRow,
) -> Option<Value> {
    if let Some(d) = &n.decoded {
        #[derive(serde::Deserialize)]
        struct Renewal {
            #[serde(rename = "renewalInfo")]
            renewal_info: Option<Value>,
        }
        return serde_json::from_str::<Renewal>(d).ok()?.renewal_info;
    }
    let p = jws_payload(&n.signed_payload)?;
    jws_payload(p.get("data")?.get("signedRenewalInfo")?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_apples_words() {
        assert_eq!(standard_duration("ONE_WEEK"), "7 Days");
        assert_eq!(standard_duration("ONE_YEAR"), "1 Year");
        assert_eq!(offer_duration("P1W"), "1 Week");
        assert_eq!(offer_duration("P3D"), "3 Days");
        assert_eq!(offer_duration("P2M"), "2 Months");
        assert_eq!(offer_duration(""), "");
    }

    /// A refund after a renewal does not change the paid days that renewal's file counted.
    #[test]
    fn paid_days_are_counted_as_they_stood_at_the_purchase() {
        let period = |i: i64, revoked_ms: Option<i64>| TransactionRow {
            transaction_id: format!("t{i}"),
            original_transaction_id: "t0".into(),
            customer_id: 1,
            app_id: "1".into(),
            bundle_id: "b".into(),
            environment: "Production".into(),
            product_id: "p".into(),
            product_type: "AUTO_RENEWABLE".into(),
            group_id: Some("g".into()),
            order_id: "o".into(),
            web_order_line_item_id: None,
            ownership: "PURCHASED".into(),
            purchase_ms: i * 30 * DAY_MS,
            expires_ms: Some((i + 1) * 30 * DAY_MS),
            revoked: revoked_ms.is_some(),
            revoked_ms,
            finished: false,
            mod_seq: i,
            refund_seq: None,
            modified_ms: 0,
            payload: serde_json::json!({"price": 9990}).into(),
        };
        let later = Some(20 * 30 * DAY_MS);
        let before = Some(5 * 30 * DAY_MS);
        let chain: Vec<TransactionRow> = (0..14)
            .map(|i| {
                period(
                    i,
                    if i == 1 {
                        later
                    } else if i == 2 {
                        before
                    } else {
                        None
                    },
                )
            })
            .collect();
        // Period 1 was refunded after period 13 was bought: it still counted then; period 2
        // was refunded before.
        assert_eq!(paid_days_before(&chain, &chain[13]), 12 * 30);
    }

    #[test]
    fn tsv_ends_every_line_with_a_newline_and_is_none_without_rows() {
        assert_eq!(tsv("A\tB", Vec::<Vec<String>>::new()), None);
        assert_eq!(
            tsv("A\tB", vec![vec!["1".into(), "2".into()]]).unwrap(),
            "A\tB\n1\t2\n"
        );
        assert_eq!(cell("a\tb\nc"), "a b c");
    }
}
