//! crabapple's storefronts with what pricing needs: currency, a fixed conversion from USD and the
//! VAT included in prices (apple-semantics.md §5). The App Store Connect price points
//! (crates/asc `price_points`) derive their customer prices from this table and the reports'
//! proceeds rule ([`crate::proceeds`]) takes VAT out with it, so both agree.

/// A storefront: its territory, currency and crabapple's conversion from USD.
#[derive(Debug)]
pub struct Storefront {
    pub territory: &'static str,
    pub currency: &'static str,
    /// Units of `currency` per US dollar (a fixed approximation, not a live rate).
    pub per_usd: f64,
    /// VAT included in the customer price, percent (0 where prices exclude sales tax).
    pub price_vat: u32,
    /// VAT taken out of the price before the commission, percent. Differs from `price_vat` in the
    /// euro area, where Apple charges one price across countries with different VAT rates.
    pub vat: u32,
    /// Whether the currency has no minor unit (yen).
    pub whole: bool,
}

/// crabapple's storefronts, sorted by territory (the order price points are listed in).
pub const STOREFRONTS: &[Storefront] = &[
    sf("AUS", "AUD", 1.55, 10, 10, false),
    sf("CAN", "CAD", 1.40, 0, 0, false),
    sf("DEU", "EUR", 0.92, 19, 19, false),
    sf("FRA", "EUR", 0.92, 19, 20, false),
    sf("GBR", "GBP", 0.79, 20, 20, false),
    sf("JPN", "JPY", 150.0, 10, 10, true),
    sf("USA", "USD", 1.0, 0, 0, false),
];

const fn sf(
    territory: &'static str,
    currency: &'static str,
    per_usd: f64,
    price_vat: u32,
    vat: u32,
    whole: bool,
) -> Storefront {
    Storefront {
        territory,
        currency,
        per_usd,
        price_vat,
        vat,
        whole,
    }
}

pub fn storefront(territory: &str) -> Option<&'static Storefront> {
    STOREFRONTS.iter().find(|s| s.territory == territory)
}
