//! The proceeds rule shared by every report that shows money (Sales, Subscriber, Subscription,
//! Finance): what the developer earns on a customer price, and how report files write amounts.
//!
//! Apple keeps a 30 % commission, 15 % for auto-renewable subscriptions after a subscriber's first
//! year of paid service and for members of the App Store Small Business Program (the demo team is
//! a member: its price points show USD 4.99 → proceeds 4.24, apple-semantics.md §5). The commission
//! is taken from the price net of VAT where the storefront's prices include VAT (the table in
//! [`crate::storefronts`]); storefronts outside that table are treated as VAT-exclusive.
//! Proceeds are rounded down to the currency's minor unit, as the price points round them.

use crate::storefronts::storefront;

/// The demo team is in the App Store Small Business Program (see the module comment).
pub const SMALL_BUSINESS_PROGRAM: bool = true;

/// Apple's commission in percent: 15 for Small Business Program members and for subscriptions
/// after one year of paid service, else 30.
pub fn commission_percent(small_business: bool, after_one_paid_year: bool) -> i64 {
    if small_business || after_one_paid_year {
        15
    } else {
        30
    }
}

/// Currencies without a minor unit in crabapple's storefronts.
fn whole_currency(currency: &str) -> bool {
    crabapple_storekit::ledger::whole_currency(currency)
}

/// Milliunits in one minor unit of `currency` (10 for cents, 1000 for yen).
fn minor_milli(currency: &str) -> i64 {
    if whole_currency(currency) { 1000 } else { 10 }
}

/// The VAT (per mille) taken out of prices in `storefront` (ISO 3166-1 alpha-3) before the
/// commission; 0 where the storefront's prices exclude it or crabapple has no rate for it.
pub fn vat_permille(storefront_alpha3: &str) -> i64 {
    storefront(storefront_alpha3).map_or(0, |s| i64::from(s.vat_permille))
}

/// The developer's proceeds, in milliunits of `currency`, on a customer price of `price_milli`
/// (Apple's `price` in the transaction payload) paid in `storefront_alpha3`, with
/// `commission_percent` (see [`commission_percent`]). A negative price (a refund) gives the
/// negative of the sale's proceeds.
pub fn developer_proceeds(
    price_milli: i64,
    currency: &str,
    storefront_alpha3: &str,
    commission_percent: i64,
) -> i64 {
    let vat = vat_permille(storefront_alpha3);
    let abs = i128::from(price_milli.abs());
    let net = abs * i128::from(100 - commission_percent) * 10 / i128::from(1000 + vat);
    let unit = i128::from(minor_milli(currency));
    let floored = (net / unit * unit) as i64;
    floored * price_milli.signum()
}

/// An amount as report files write it: two decimals (`4.99`, `-4.99`, `0.00`), whole units for
/// currencies without a minor unit (`160`).
pub fn format_amount(milli: i64, currency: &str) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    if whole_currency(currency) {
        format!("{sign}{}", abs / 1000)
    } else {
        let cents = abs / 10;
        format!("{sign}{}.{:02}", cents / 100, cents % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_is_30_percent_or_15_for_small_business_and_second_year() {
        assert_eq!(commission_percent(false, false), 30);
        assert_eq!(commission_percent(true, false), 15);
        assert_eq!(commission_percent(false, true), 15);
        assert_eq!(commission_percent(SMALL_BUSINESS_PROGRAM, false), 15);
    }

    #[test]
    fn proceeds_match_the_demo_price_points() {
        // apple-semantics.md §5 / the demo world's price points: USD 4.99 → 4.24, 19.99 → 16.99.
        assert_eq!(developer_proceeds(4990, "USD", "USA", 15), 4240);
        assert_eq!(developer_proceeds(19990, "USD", "USA", 15), 16990);
        assert_eq!(developer_proceeds(9990, "USD", "USA", 30), 6990);
        assert_eq!(
            format_amount(developer_proceeds(4990, "USD", "USA", 15), "USD"),
            "4.24"
        );
    }

    #[test]
    fn proceeds_are_net_of_vat_where_prices_include_it() {
        // GBP 4.99 incl. 20 % VAT: net 4.158…, × 0.85 = 3.534… → 3.53.
        assert_eq!(developer_proceeds(4990, "GBP", "GBR", 15), 3530);
        // One euro price, different VAT: Germany 19 %, France 20 %.
        assert_eq!(developer_proceeds(10990, "EUR", "DEU", 15), 7850);
        assert_eq!(developer_proceeds(10990, "EUR", "FRA", 15), 7780);
        // Yen: whole units. 160 incl. 10 % → 145.45 × 0.85 = 123.6 → 123.
        assert_eq!(developer_proceeds(160_000, "JPY", "JPN", 15), 123_000);
        // The same euro price in Italy (22 %): 4.09… × 0.85 = 3.476… → 3.47.
        assert_eq!(developer_proceeds(4990, "EUR", "ITA", 15), 3470);
        // VAT in tenths of a percent: Switzerland 8.1 %, 4.616… × 0.85 = 3.923… → 3.92.
        assert_eq!(developer_proceeds(4990, "CHF", "CHE", 15), 3920);
        // A country outside crabapple's storefronts is VAT-exclusive.
        assert_eq!(developer_proceeds(4990, "PLN", "POL", 15), 4240);
    }

    #[test]
    fn refunds_mirror_the_sale() {
        assert_eq!(developer_proceeds(-4990, "USD", "USA", 15), -4240);
        assert_eq!(format_amount(-4990, "USD"), "-4.99");
        assert_eq!(format_amount(0, "USD"), "0.00");
        assert_eq!(format_amount(160_000, "JPY"), "160");
        assert_eq!(format_amount(5, "USD"), "0.00");
    }
}
