//! The storefronts as the reports use them: crabapple's one storefront table (crates/storekit
//! `commerce::storefronts`: alpha-2 and alpha-3 codes, currency, fixed USD rate, VAT and Apple's
//! equalization, apple-semantics.md §5) re-exported, so the reports' proceeds rule
//! ([`crate::proceeds`]) takes out the same VAT the price points put in.

pub use crabapple_storekit::commerce::storefronts::{STOREFRONTS, Storefront, storefront};

/// The alpha-2 code of an alpha-3 storefront (report files write alpha-2 country codes,
/// reports-formats.md §2.4); an unknown code is returned unchanged.
pub fn alpha2(alpha3: &str) -> &str {
    storefront(alpha3).map_or(alpha3, |s| s.alpha2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha2_of_every_storefront() {
        assert_eq!(alpha2("USA"), "US");
        assert_eq!(alpha2("GBR"), "GB");
        assert_eq!(alpha2("CHE"), "CH");
        assert_eq!(alpha2("XYZ"), "XYZ");
        for s in STOREFRONTS {
            assert_eq!(alpha2(s.alpha3).len(), 2, "{}", s.alpha3);
        }
    }

    #[test]
    fn the_finance_country_table_agrees_with_the_storefronts() {
        for s in STOREFRONTS {
            let c = crate::countries::country(s.alpha3).expect(s.alpha3);
            assert_eq!(
                (c.alpha2, c.currency),
                (s.alpha2, s.currency),
                "{}",
                s.alpha3
            );
        }
    }
}
