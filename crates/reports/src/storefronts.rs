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

/// ISO 3166-1 alpha-2 of the storefronts crabapple sells in (transactions carry alpha-3; report
/// files write alpha-2 country codes, reports-formats.md §2.4).
const ALPHA2: &[(&str, &str)] = &[
    ("AUS", "AU"),
    ("AUT", "AT"),
    ("BEL", "BE"),
    ("BRA", "BR"),
    ("CAN", "CA"),
    ("CHE", "CH"),
    ("CHN", "CN"),
    ("DEU", "DE"),
    ("DNK", "DK"),
    ("ESP", "ES"),
    ("FIN", "FI"),
    ("FRA", "FR"),
    ("GBR", "GB"),
    ("GRC", "GR"),
    ("HKG", "HK"),
    ("IND", "IN"),
    ("IRL", "IE"),
    ("ITA", "IT"),
    ("JPN", "JP"),
    ("KOR", "KR"),
    ("LUX", "LU"),
    ("MEX", "MX"),
    ("NLD", "NL"),
    ("NOR", "NO"),
    ("NZL", "NZ"),
    ("PRT", "PT"),
    ("RUS", "RU"),
    ("SGP", "SG"),
    ("SWE", "SE"),
    ("TWN", "TW"),
    ("USA", "US"),
];

/// The alpha-2 code of an alpha-3 storefront; an unknown code is returned unchanged.
pub fn alpha2(alpha3: &str) -> &str {
    ALPHA2
        .binary_search_by(|(a3, _)| (*a3).cmp(alpha3))
        .map_or(alpha3, |i| ALPHA2[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha2_of_every_storefront() {
        assert!(ALPHA2.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        assert_eq!(alpha2("USA"), "US");
        assert_eq!(alpha2("GBR"), "GB");
        assert_eq!(alpha2("CHE"), "CH");
        assert_eq!(alpha2("XYZ"), "XYZ");
        for s in STOREFRONTS {
            assert_eq!(alpha2(s.territory).len(), 2, "{}", s.territory);
        }
    }
}
