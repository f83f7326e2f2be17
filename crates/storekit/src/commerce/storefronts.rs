//! crabapple's storefronts — the one table every crate prices with — and Apple's equalization.
//!
//! A storefront is an App Store country: ISO 3166-1 alpha-3 (a transaction's `storefront`, the
//! App Store Connect `territories` id), alpha-2 (report files' `Country Code`), Apple's
//! `storefrontId`, its currency, crabapple's fixed conversion from US dollars, the VAT included
//! in its prices and the way its price points end.
//!
//! Apple's rule (apple-semantics.md §5): a product has a price in one base territory and every
//! other territory gets the price point of the same tier there — its *equalization*. crabapple's
//! equalization ([`Storefront::equalized_milli`]) converts the USD price with the fixed rate,
//! adds the VAT where prices include it and rounds as Apple's price points end. The App Store
//! Connect price points (crates/asc `price_points`), the commerce catalog's customer prices
//! ([`super::catalog::price`]), the Sales reports' paid-app units and the reports' proceeds rule
//! (which takes the VAT back out) all use this table, so they agree.
//!
//! Rates are deterministic approximations, not live rates. Euro-area prices are one price
//! (Germany's 19 % VAT included) while each country's own VAT is taken out of the proceeds, as
//! Apple does when one euro price spans countries with different VAT rates.

use crate::ledger::whole_currency;

/// How a storefront's price points end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Up to `0.x9` below 1, `x.49` or `x.99` below 10, `x.99` above (USD 4.99, GBP 9.49,
    /// CAD 13.99).
    Cents,
    /// Whole units, to the nearest `step` below 100 steps and to the nearest 10 steps above
    /// (yen: ¥160, ¥1,500 with step 10; won: ₩1,500, ₩15,000 with step 100).
    Whole(u32),
    /// Up to whole units ending in 9 below 1,000 (₹99, ₹489), in 99 above (₹1,999).
    Nines,
}

/// One storefront (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Storefront {
    /// ISO 3166-1 alpha-3: the transaction's `storefront`, and the `territories` id of App
    /// Store Connect.
    pub alpha3: &'static str,
    /// ISO 3166-1 alpha-2, as report files write countries (reports-formats.md §2.4).
    pub alpha2: &'static str,
    /// Apple's `storefrontId` (`143441` for the United States).
    pub id: &'static str,
    /// ISO 4217 currency of the storefront's prices.
    pub currency: &'static str,
    /// Units of `currency` per US dollar (a fixed approximation, not a live rate).
    pub per_usd: f64,
    /// VAT included in the customer price, per mille (190 = 19 %; 0 where prices exclude tax).
    pub price_vat_permille: u32,
    /// VAT taken out of the price before the commission, per mille. Differs from
    /// `price_vat_permille` in the euro area, where one price spans different VAT rates.
    pub vat_permille: u32,
    pub rounding: Rounding,
}

use Rounding::{Cents, Nines, Whole};

/// crabapple's storefronts, sorted by alpha-3 (the order price points are listed in).
pub const STOREFRONTS: &[Storefront] = &[
    sf("AUS", "AU", "143460", "AUD", 1.55, 100, 100, Cents),
    sf("AUT", "AT", "143445", "EUR", 0.92, 190, 200, Cents),
    sf("BEL", "BE", "143446", "EUR", 0.92, 190, 210, Cents),
    sf("BRA", "BR", "143503", "BRL", 5.00, 0, 0, Cents),
    sf("CAN", "CA", "143455", "CAD", 1.40, 0, 0, Cents),
    sf("CHE", "CH", "143459", "CHF", 0.88, 81, 81, Cents),
    sf("CHN", "CN", "143465", "CNY", 7.20, 60, 60, Whole(1)),
    sf("DEU", "DE", "143443", "EUR", 0.92, 190, 190, Cents),
    sf("DNK", "DK", "143458", "DKK", 6.90, 250, 250, Nines),
    sf("ESP", "ES", "143454", "EUR", 0.92, 190, 210, Cents),
    sf("FIN", "FI", "143447", "EUR", 0.92, 190, 255, Cents),
    sf("FRA", "FR", "143442", "EUR", 0.92, 190, 200, Cents),
    sf("GBR", "GB", "143444", "GBP", 0.79, 200, 200, Cents),
    sf("GRC", "GR", "143448", "EUR", 0.92, 190, 240, Cents),
    sf("HKG", "HK", "143463", "HKD", 7.80, 0, 0, Whole(1)),
    sf("IND", "IN", "143467", "INR", 83.0, 180, 180, Nines),
    sf("IRL", "IE", "143449", "EUR", 0.92, 190, 230, Cents),
    sf("ITA", "IT", "143450", "EUR", 0.92, 190, 220, Cents),
    sf("JPN", "JP", "143462", "JPY", 150.0, 100, 100, Whole(10)),
    sf("KOR", "KR", "143466", "KRW", 1350.0, 100, 100, Whole(100)),
    sf("LUX", "LU", "143451", "EUR", 0.92, 190, 170, Cents),
    sf("MEX", "MX", "143468", "MXN", 17.0, 160, 160, Nines),
    sf("NLD", "NL", "143452", "EUR", 0.92, 190, 210, Cents),
    sf("NOR", "NO", "143457", "NOK", 10.8, 250, 250, Nines),
    sf("NZL", "NZ", "143461", "NZD", 1.65, 150, 150, Cents),
    sf("PRT", "PT", "143453", "EUR", 0.92, 190, 230, Cents),
    sf("RUS", "RU", "143469", "RUB", 90.0, 200, 200, Nines),
    sf("SGP", "SG", "143464", "SGD", 1.35, 90, 90, Cents),
    sf("SWE", "SE", "143456", "SEK", 10.5, 250, 250, Nines),
    sf("TWN", "TW", "143470", "TWD", 32.0, 50, 50, Whole(10)),
    sf("USA", "US", "143441", "USD", 1.0, 0, 0, Cents),
];

#[allow(clippy::too_many_arguments)]
const fn sf(
    alpha3: &'static str,
    alpha2: &'static str,
    id: &'static str,
    currency: &'static str,
    per_usd: f64,
    price_vat_permille: u32,
    vat_permille: u32,
    rounding: Rounding,
) -> Storefront {
    Storefront {
        alpha3,
        alpha2,
        id,
        currency,
        per_usd,
        price_vat_permille,
        vat_permille,
        rounding,
    }
}

/// The storefront of an alpha-3 code.
pub fn storefront(alpha3: &str) -> Option<Storefront> {
    STOREFRONTS
        .binary_search_by(|s| s.alpha3.cmp(alpha3))
        .ok()
        .map(|i| STOREFRONTS[i])
}

/// The fixed rate of `currency` (units per US dollar) if a storefront prices in it.
pub fn per_usd(currency: &str) -> Option<f64> {
    STOREFRONTS
        .iter()
        .find(|s| s.currency == currency)
        .map(|s| s.per_usd)
}

impl Storefront {
    /// Whether the currency has no minor unit (yen, won): prices are whole units.
    pub fn whole(&self) -> bool {
        whole_currency(self.currency)
    }

    /// Apple's equalization: the customer price here, in milliunits of [`Self::currency`]
    /// (Apple's `price` unit), of the tier whose United States price is `usd_cents` — converted
    /// with the fixed rate, VAT added where prices include it, rounded as [`Self::rounding`]
    /// says (whole yen and won).
    pub fn equalized_milli(&self, usd_cents: u32) -> i64 {
        let local = usd_cents as f64 / 100.0
            * self.per_usd
            * (1.0 + self.price_vat_permille as f64 / 1000.0);
        let units = match self.rounding {
            Cents => {
                let cents = if local < 1.0 {
                    // 0.29, 0.39, … 0.99: up to the next tenth, less one cent.
                    (((local * 10.0 - 1e-9).ceil() as i64) * 10 - 1).max(29)
                } else if local < 10.0 {
                    // Up to the next x.49 or x.99.
                    ((local * 2.0 - 1e-9).ceil() as i64) * 50 - 1
                } else {
                    // Up to the next x.99.
                    ((local - 1e-9).ceil() as i64) * 100 - 1
                };
                return cents * 10;
            }
            Whole(step) => {
                let step = f64::from(step);
                let step = if local < 100.0 * step {
                    step
                } else {
                    10.0 * step
                };
                ((local / step).round() * step).max(step) as i64
            }
            Nines => {
                let step = if local < 1000.0 { 10.0 } else { 100.0 };
                (((local + 1.0) / step - 1e-9).ceil() * step) as i64 - 1
            }
        };
        units * 1000
    }

    /// [`Self::equalized_milli`] in the currency's minor units (cents; yen and won).
    pub fn equalized_minor(&self, usd_cents: u32) -> i64 {
        self.equalized_milli(usd_cents) / if self.whole() { 1000 } else { 10 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(alpha3: &str, usd_cents: u32) -> i64 {
        storefront(alpha3).unwrap().equalized_milli(usd_cents)
    }

    #[test]
    fn one_sorted_table_with_apples_storefront_ids() {
        assert!(STOREFRONTS.windows(2).all(|w| w[0].alpha3 < w[1].alpha3));
        assert_eq!(storefront("USA").unwrap().id, "143441");
        assert_eq!(storefront("JPN").unwrap().id, "143462");
        assert_eq!(storefront("BRA").unwrap().alpha2, "BR");
        assert!(storefront("XYZ").is_none());
        for s in STOREFRONTS {
            assert_eq!((s.alpha3.len(), s.alpha2.len(), s.id.len()), (3, 2, 6));
        }
        assert_eq!(per_usd("JPY"), Some(150.0));
        assert_eq!(per_usd("XXX"), None);
    }

    #[test]
    fn equalization_s5_ends_like_apples_price_points() {
        // United States prices are the tiers themselves.
        assert_eq!(eq("USA", 499), 4990);
        assert_eq!(eq("USA", 3999), 39990);
        assert_eq!(eq("USA", 29), 290);
        assert_eq!(eq("GBR", 999), 9490);
        assert_eq!(eq("CAN", 999), 13990);
        // Whole yen: 0.99 × 150 × 1.10 = 163.35 → ¥160; 39.99 → 6,598.35 → ¥6,600.
        assert_eq!(eq("JPN", 99), 160_000);
        assert_eq!(eq("JPN", 3999), 6_600_000);
        // Whole won: 4.99 × 1,350 × 1.10 = 7,410.15 → ₩7,400.
        assert_eq!(eq("KOR", 499), 7_400_000);
        // Rupees ending in 9: 4.99 × 83 × 1.18 = 488.7 → ₹489; 39.99 → 3,916.6 → ₹3,999.
        assert_eq!(eq("IND", 499), 489_000);
        assert_eq!(eq("IND", 3999), 3_999_000);
        assert_eq!(eq("IND", 99), 99_000);
        // One euro price across the euro area.
        assert_eq!(eq("DEU", 999), eq("ITA", 999));
        assert_eq!(eq("DEU", 999), 10_990);
        // Minor units: cents, whole yen.
        assert_eq!(storefront("JPN").unwrap().equalized_minor(99), 160);
        assert_eq!(storefront("GBR").unwrap().equalized_minor(999), 949);
        for s in STOREFRONTS {
            for c in [29, 99, 499, 999, 3999, 99999] {
                let p = s.equalized_milli(c);
                assert!(p > 0 && p % 10 == 0, "{} {c}: {p}", s.alpha3);
                assert!(!s.whole() || p % 1000 == 0, "{} {c}: {p}", s.alpha3);
            }
        }
    }
}
