//! Countries and regions as the report files name them: ISO alpha-2 (`Country Code`, `Country of
//! Sale`) for the alpha-3 storefronts the ledger records, each country's currency, the Finance
//! region its sales are reported in (apple-semantics.md §4, "Financial report regions and
//! currencies"), and crabapple's fixed conversion rates between currencies.
//!
//! Regions: `ZZ` all regions in one file (FINANCIAL only), `Z1` Financial Detail (FINANCE_DETAIL
//! only), the regional codes `EU` (EUR, the euro area), `LL` (USD, Latin America and the
//! Caribbean), `AP` (USD, South Asia and Pacific), `WW` (USD, rest of world), and the per-country
//! codes of §4, each in its own currency. Countries not in this table are reported in `WW`.

/// One country: `(alpha-2, alpha-3, currency, Finance region)`.
pub struct Country {
    pub alpha2: &'static str,
    pub alpha3: &'static str,
    pub currency: &'static str,
    pub region: &'static str,
}

const fn c(
    alpha2: &'static str,
    alpha3: &'static str,
    currency: &'static str,
    region: &'static str,
) -> Country {
    Country {
        alpha2,
        alpha3,
        currency,
        region,
    }
}

/// The per-country regions of apple-semantics.md §4 (each its own region, in its currency), the
/// euro area (`EU`) and a few countries of the other regional codes.
pub const COUNTRIES: &[Country] = &[
    c("AE", "ARE", "AED", "AE"),
    c("AR", "ARG", "USD", "LL"),
    c("AT", "AUT", "EUR", "EU"),
    c("AU", "AUS", "AUD", "AU"),
    c("BE", "BEL", "EUR", "EU"),
    c("BG", "BGR", "BGN", "BG"),
    c("BR", "BRA", "BRL", "BR"),
    c("CA", "CAN", "CAD", "CA"),
    c("CH", "CHE", "CHF", "CH"),
    c("CL", "CHL", "CLP", "CL"),
    c("CN", "CHN", "CNY", "CN"),
    c("CO", "COL", "COP", "CO"),
    c("CZ", "CZE", "CZK", "CZ"),
    c("DE", "DEU", "EUR", "EU"),
    c("DK", "DNK", "DKK", "DK"),
    c("EG", "EGY", "EGP", "EG"),
    c("ES", "ESP", "EUR", "EU"),
    c("FI", "FIN", "EUR", "EU"),
    c("FR", "FRA", "EUR", "EU"),
    c("GB", "GBR", "GBP", "GB"),
    c("GR", "GRC", "EUR", "EU"),
    c("HK", "HKG", "HKD", "HK"),
    c("HR", "HRV", "EUR", "HR"),
    c("HU", "HUN", "HUF", "HU"),
    c("ID", "IDN", "IDR", "ID"),
    c("IE", "IRL", "EUR", "EU"),
    c("IL", "ISR", "ILS", "IL"),
    c("IN", "IND", "INR", "IN"),
    c("IT", "ITA", "EUR", "EU"),
    c("JP", "JPN", "JPY", "JP"),
    c("KR", "KOR", "KRW", "KR"),
    c("KZ", "KAZ", "KZT", "KZ"),
    c("LK", "LKA", "USD", "AP"),
    c("LU", "LUX", "EUR", "EU"),
    c("MX", "MEX", "MXN", "MX"),
    c("MY", "MYS", "MYR", "MY"),
    c("NG", "NGA", "NGN", "NG"),
    c("NL", "NLD", "EUR", "EU"),
    c("NO", "NOR", "NOK", "NO"),
    c("NZ", "NZL", "NZD", "NZ"),
    c("PE", "PER", "PEN", "PE"),
    c("PH", "PHL", "PHP", "PH"),
    c("PK", "PAK", "PKR", "PK"),
    c("PL", "POL", "PLN", "PL"),
    c("PT", "PRT", "EUR", "EU"),
    c("QA", "QAT", "QAR", "QA"),
    c("RO", "ROU", "RON", "RO"),
    c("RU", "RUS", "RUB", "RU"),
    c("SA", "SAU", "SAR", "SA"),
    c("SE", "SWE", "SEK", "SE"),
    c("SG", "SGP", "SGD", "SG"),
    c("TH", "THA", "THB", "TH"),
    c("TR", "TUR", "TRY", "TR"),
    c("TW", "TWN", "TWD", "TW"),
    c("TZ", "TZA", "TZS", "TZ"),
    c("US", "USA", "USD", "US"),
    c("VN", "VNM", "VND", "VN"),
    c("ZA", "ZAF", "ZAR", "ZA"),
];

/// Finance regions with their currency: the regional codes, then every per-country code.
pub fn region_currency(region: &str) -> Option<&'static str> {
    match region {
        "EU" => Some("EUR"),
        "LL" | "AP" | "WW" => Some("USD"),
        _ => COUNTRIES
            .iter()
            .find(|c| c.region == region && c.alpha2 == region)
            .map(|c| c.currency),
    }
}

/// A country by its alpha-3 storefront code (the ledger's `storefront`) or its alpha-2 code.
pub fn country(code: &str) -> Option<&'static Country> {
    COUNTRIES
        .iter()
        .find(|c| c.alpha3 == code || c.alpha2 == code)
}

/// The alpha-2 code of a storefront (alpha-3 unknown to the table: its first two letters).
pub fn alpha2(code: &str) -> String {
    country(code)
        .map(|c| c.alpha2.to_string())
        .unwrap_or_else(|| code.chars().take(2).collect())
}

/// The Finance region a country's sales are reported in (`WW` for countries not in the table).
pub fn region_of(code: &str) -> &'static str {
    country(code).map(|c| c.region).unwrap_or("WW")
}

/// Units of `currency` per US dollar: the rate of [`crate::storefronts`] where one of its
/// storefronts uses the currency (so price points and reports agree), else this table of the
/// other Finance currencies (crabapple's fixed approximations, deterministic on purpose — not
/// live rates). Unknown currencies count as USD.
pub fn per_usd(currency: &str) -> f64 {
    if let Some(rate) = crabapple_storekit::commerce::storefronts::per_usd(currency) {
        return rate;
    }
    match currency {
        "AED" => 3.67,
        "BGN" => 1.80,
        "CLP" => 900.0,
        "COP" => 4000.0,
        "CZK" => 23.0,
        "EGP" => 48.0,
        "HUF" => 360.0,
        "IDR" => 15_800.0,
        "ILS" => 3.70,
        "KZT" => 470.0,
        "MYR" => 4.70,
        "NGN" => 1500.0,
        "PEN" => 3.75,
        "PHP" => 56.0,
        "PKR" => 280.0,
        "PLN" => 4.00,
        "QAR" => 3.64,
        "RON" => 4.60,
        "SAR" => 3.75,
        "THB" => 36.0,
        "TRY" => 32.0,
        "TZS" => 2600.0,
        "VND" => 25_000.0,
        "ZAR" => 18.5,
        _ => 1.0,
    }
}

/// `milli` milliunits of `from` converted to `to` through the fixed rates, rounded to the
/// milliunit (same currency: unchanged).
pub fn convert_milli(milli: i64, from: &str, to: &str) -> i64 {
    if from == to {
        milli
    } else {
        (milli as f64 / per_usd(from) * per_usd(to)).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storefronts_map_to_alpha2_and_regions_of_apple_semantics_s4() {
        assert_eq!(alpha2("USA"), "US");
        assert_eq!(alpha2("GBR"), "GB");
        assert_eq!(region_of("DEU"), "EU");
        assert_eq!(region_of("FRA"), "EU");
        assert_eq!(region_of("JPN"), "JP");
        assert_eq!(region_of("ARG"), "LL");
        assert_eq!(region_of("XYZ"), "WW");
        assert_eq!(region_currency("EU"), Some("EUR"));
        assert_eq!(region_currency("WW"), Some("USD"));
        assert_eq!(region_currency("GB"), Some("GBP"));
        assert_eq!(region_currency("DE"), None, "euro countries report in EU");
        // Every per-country code of apple-semantics.md §4 is a region.
        for r in "US AU BR BG CA CL CN CO CZ HR DK EG HK HU IN ID IL JP KZ KR MY MX NZ NG NO PK PE PH PL QA RO RU SA SG ZA SE CH TW TH TR AE GB TZ VN".split(' ') {
            assert!(region_currency(r).is_some(), "{r}");
        }
    }

    #[test]
    fn conversion_goes_through_the_fixed_usd_rates() {
        assert_eq!(convert_milli(4240, "USD", "USD"), 4240);
        assert_eq!(convert_milli(100_000, "USD", "EUR"), 92_000);
        assert_eq!(convert_milli(150_000, "JPY", "USD"), 1000);
        assert_eq!(convert_milli(1000, "USD", "SEK"), 10_500);
    }
}
