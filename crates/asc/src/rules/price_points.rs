//! Apple's price points, computed instead of stored: for every subscription and in-app purchase,
//! one `subscriptionPricePoints` / `inAppPurchasePricePoints` resource per price tier per
//! territory, with Apple's opaque ids (base64 of `{"s":<product>,"t":<territory>,"p":<tier>}`,
//! apple-semantics.md §5) and the spec's attributes (`customerPrice`, `proceeds`, and for
//! subscriptions `proceedsYear2`).
//!
//! Apple has some 800 price points in 175 storefronts. crabapple's table is a smaller, honest
//! approximation: the USD tiers in [`USD_TIERS`] and the storefronts in [`STOREFRONTS`]
//! (crates/storekit `commerce::storefronts`), each tier equalized there
//! ([`Storefront::equalized_milli`]: a fixed rate, the VAT where prices include it, Apple's
//! endings such as `x.99` or whole tens of yen) — the same amount the commerce catalog charges
//! in a territory without its own price. Proceeds are the price net of VAT less a 15 %
//! commission: the demo team is in the App Store Small Business Program (the demo world's app
//! price points: USD 4.99 → proceeds 4.24), so the second-year subscription rate is the same.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use crabapple_reports::proceeds::format_amount;
use crabapple_store::Resource;
use serde_json::{Map, Value, json};

/// Products with price points: `(product type, price point type)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Subscription,
    InAppPurchase,
}

impl Kind {
    pub fn product_type(self) -> &'static str {
        match self {
            Kind::Subscription => "subscriptions",
            Kind::InAppPurchase => "inAppPurchases",
        }
    }

    pub fn point_type(self) -> &'static str {
        match self {
            Kind::Subscription => "subscriptionPricePoints",
            Kind::InAppPurchase => "inAppPurchasePricePoints",
        }
    }

    pub fn of_product(rtype: &str) -> Option<Kind> {
        [Kind::Subscription, Kind::InAppPurchase]
            .into_iter()
            .find(|k| k.product_type() == rtype)
    }

    pub fn of_point(rtype: &str) -> Option<Kind> {
        [Kind::Subscription, Kind::InAppPurchase]
            .into_iter()
            .find(|k| k.point_type() == rtype)
    }
}

/// Customer prices of crabapple's tiers in the United States, in cents (a subset of Apple's).
pub const USD_TIERS: &[u32] = &[
    29, 49, 99, 149, 199, 249, 299, 349, 399, 449, 499, 599, 699, 799, 899, 999, 1099, 1199, 1299,
    1499, 1699, 1999, 2499, 2999, 3499, 3999, 4499, 4999, 5999, 6999, 7999, 8999, 9999, 12999,
    14999, 19999, 24999, 29999, 39999, 49999, 99999,
];

// The one storefront table (currency, conversion, VAT, equalization).
pub use crabapple_storekit::commerce::storefronts::{STOREFRONTS, Storefront, storefront};

/// crabapple's tier code (the `p` of a price point id): 10000 + the USD price in dimes, so USD
/// 4.99 is `10050` and 19.99 is `10200`, as in the demo world's app price points.
pub fn tier_code(usd_cents: u32) -> String {
    format!("{}", 10_000 + (usd_cents + 5) / 10)
}

pub fn tier_of_code(code: &str) -> Option<u32> {
    USD_TIERS.iter().copied().find(|c| tier_code(*c) == code)
}

/// One price point: a product's tier in one storefront.
#[derive(Debug, Clone)]
pub struct PricePoint {
    pub kind: Kind,
    pub product: String,
    pub storefront: Storefront,
    pub usd_cents: u32,
}

impl PricePoint {
    /// Apple's opaque id: base64 (no padding) of `{"s":…,"t":…,"p":…}`.
    pub fn id(&self) -> String {
        // Apple's key order: s, t, p.
        let json = format!(
            "{{\"s\":{},\"t\":\"{}\",\"p\":\"{}\"}}",
            Value::from(self.product.as_str()),
            self.storefront.alpha3,
            tier_code(self.usd_cents)
        );
        URL_SAFE_NO_PAD.encode(json)
    }

    /// The price point an id names, if it is one of crabapple's (either base64 alphabet).
    pub fn parse(kind: Kind, id: &str) -> Option<PricePoint> {
        let bytes = URL_SAFE_NO_PAD
            .decode(id.trim_end_matches('='))
            .or_else(|_| STANDARD_NO_PAD.decode(id.trim_end_matches('=')))
            .ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        let product = v.get("s")?.as_str()?.to_string();
        let storefront = storefront(v.get("t")?.as_str()?)?;
        let usd_cents = tier_of_code(v.get("p")?.as_str()?)?;
        Some(PricePoint {
            kind,
            product,
            storefront,
            usd_cents,
        })
    }

    /// Every price point of a product, by territory then price; only `territories` if given.
    pub fn all(kind: Kind, product: &str, territories: Option<&[String]>) -> Vec<PricePoint> {
        STOREFRONTS
            .iter()
            .filter(|s| territories.is_none_or(|t| t.iter().any(|x| x == s.alpha3)))
            .flat_map(|s| {
                USD_TIERS.iter().map(move |c| PricePoint {
                    kind,
                    product: product.to_string(),
                    storefront: *s,
                    usd_cents: *c,
                })
            })
            .collect()
    }

    /// The same tier of `product` in the other storefronts (Apple's `equalizations`).
    pub fn equalizations(&self, product: &str, territories: Option<&[String]>) -> Vec<PricePoint> {
        PricePoint::all(self.kind, product, territories)
            .into_iter()
            .filter(|p| {
                p.usd_cents == self.usd_cents && p.storefront.alpha3 != self.storefront.alpha3
            })
            .collect()
    }

    /// The customer price in milliunits: the tier's equalization in this storefront.
    fn customer_milli(&self) -> i64 {
        self.storefront.equalized_milli(self.usd_cents)
    }

    /// The customer price, as Apple writes it (`"4.99"`, `"820"`).
    pub fn customer_price(&self) -> String {
        format_amount(self.customer_milli(), self.storefront.currency)
    }

    /// Proceeds: the price net of VAT, less the 15 % commission, rounded down to the minor unit
    /// in floating point. The reports' rule (crates/reports `proceeds::developer_proceeds`) is
    /// the same in exact arithmetic and differs by one minor unit where the exact result is a
    /// whole one (¥990 → 765 there, 764 here); the price points keep their published values.
    pub fn proceeds(&self) -> String {
        let sf = &self.storefront;
        let minor = sf.equalized_minor(self.usd_cents);
        let net = minor as f64 / (1.0 + sf.vat_permille as f64 / 1000.0);
        let unit = if sf.whole() { 1000 } else { 10 };
        format_amount((net * 0.85).floor() as i64 * unit, sf.currency)
    }

    pub fn attributes(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("customerPrice".into(), json!(self.customer_price()));
        m.insert("proceeds".into(), json!(self.proceeds()));
        if self.kind == Kind::Subscription {
            m.insert("proceedsYear2".into(), json!(self.proceeds()));
        }
        m
    }

    pub fn resource(&self) -> Resource {
        Resource {
            rtype: self.kind.point_type().to_string(),
            id: self.id(),
            attributes: self.attributes(),
            seq: 0,
            created_ms: 0,
            updated_ms: 0,
        }
    }
}

/// The `territories` resource of a storefront.
pub fn territory_resource(s: Storefront) -> Resource {
    let mut attributes = Map::new();
    attributes.insert("currency".into(), json!(s.currency));
    Resource {
        rtype: "territories".into(),
        id: s.alpha3.into(),
        attributes,
        seq: 0,
        created_ms: 0,
        updated_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: &str, cents: u32) -> PricePoint {
        PricePoint {
            kind: Kind::Subscription,
            product: "6449081301".into(),
            storefront: storefront(t).unwrap(),
            usd_cents: cents,
        }
    }

    #[test]
    fn ids_are_apples_base64_json_and_round_trip() {
        let p = point("USA", 499);
        let id = p.id();
        let raw = URL_SAFE_NO_PAD.decode(&id).unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            r#"{"s":"6449081301","t":"USA","p":"10050"}"#
        );
        let back = PricePoint::parse(Kind::Subscription, &id).unwrap();
        assert_eq!(back.usd_cents, 499);
        assert_eq!(back.storefront.alpha3, "USA");
        // The demo world's app price point for USD 4.99 uses the same tier code.
        assert!(
            PricePoint::parse(
                Kind::Subscription,
                "eyJzIjoiMTQ5MDU1MzEyNyIsInQiOiJVU0EiLCJwIjoiMTAwNTAifQ"
            )
            .is_some()
        );
        assert!(PricePoint::parse(Kind::Subscription, "not-an-id").is_none());
    }

    #[test]
    fn prices_end_like_apples_and_proceeds_are_net_of_vat() {
        assert_eq!(point("USA", 499).customer_price(), "4.99");
        assert_eq!(point("USA", 499).proceeds(), "4.24");
        assert_eq!(point("USA", 1999).proceeds(), "16.99");
        assert_eq!(point("GBR", 499).customer_price(), "4.99");
        assert_eq!(point("GBR", 999).customer_price(), "9.49");
        for c in USD_TIERS {
            let usd = point("USA", *c).customer_price();
            assert_eq!(
                usd,
                format!("{}.{:02}", c / 100, c % 100),
                "USD tiers are exact"
            );
        }
        assert_eq!(point("CAN", 999).customer_price(), "13.99");
        assert_eq!(point("JPN", 99).customer_price(), "160");
        assert_eq!(point("USA", 29).customer_price(), "0.29");
        assert_eq!(
            point("DEU", 999).customer_price(),
            point("FRA", 999).customer_price()
        );
        assert_ne!(point("DEU", 999).proceeds(), point("FRA", 999).proceeds());
    }
}
