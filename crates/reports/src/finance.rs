//! Finance files (`GET /v1/financeReports`, reports-formats.md §3): one fiscal period's
//! production sales and returns ([`crate::items`]) as FINANCIAL for one region (§3.2), FINANCIAL
//! `ZZ` for all regions (§3.3) or FINANCE_DETAIL `Z1` (§3.4).
//!
//! Partner Share is the developer proceeds of one unit ([`crate::proceeds`]) in the region's
//! currency: per-country regions and `EU` are paid in the customer's currency, the USD regions
//! (`LL`, `AP`, `WW`) get the proceeds converted with [`crate::countries::convert_milli`]'s fixed
//! rates. Transactions fall in a period by their Pacific day, as in Sales and Trends.
//!
//! Layout choices where the sources stop (reports-formats.md §6): `ZZ` (open question 8) is one
//! section of every region's rows in their own currencies, `Total_Rows`, then the per-country
//! summary table of §3.3 — no `Total_Amount`/`Total_Units`, which cannot add up amounts in
//! several currencies. FINANCE_DETAIL (open question 10): alpha-2 `Country of Sale`, the trailing
//! empty cell on data rows only; amounts in rows as the currency writes them, in the trailer with
//! two decimals (the one fixture). Files end with a newline (open question 9).

use crate::countries;
use crate::fiscal::Period;
use crate::items::{Item, items, us_date};
use crate::pacific;
use crate::proceeds::format_amount;
use anyhow::Result;
use crabapple_store::Store;
use std::collections::BTreeMap;

/// FINANCIAL's 22 columns (§3.2, the file's spelling).
pub const FINANCIAL_HEADER: &str = "Start Date\tEnd Date\tUPC\tISRC/ISBN\tVendor Identifier\tQuantity\tPartner Share\tExtended Partner Share\tPartner Share Currency\tSales or Return\tApple Identifier\tArtist/Show/Developer/Author\tTitle\tLabel/Studio/Network/Developer/Publisher\tGrid\tProduct Type Identifier\tISAN/Other Identifier\tCountry Of Sale\tPre-order Flag\tPromo Code\tCustomer Price\tCustomer Currency";

/// FINANCE_DETAIL's 18 columns (§3.4).
pub const DETAIL_HEADER: &str = "Transaction Date\tSettlement Date\tApple Identifier\tSKU\tTitle\tDeveloper Name\tProduct Type Identifier\tCountry of Sale\tQuantity\tPartner Share\tExtended Partner Share\tPartner Share Currency\tCustomer Price\tCustomer Currency\tSale or Return\tPromo Code\tOrder Type\tRegion";

/// The per-country summary of `ZZ` and FINANCE_DETAIL (§3.3, §3.4).
pub const COUNTRY_SUMMARY_HEADER: &str =
    "Country Of Sale\tPartner Share Currency\tQuantity\tExtended Partner Share";

/// Apple's `reportType` of Finance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinanceReport {
    Financial,
    FinanceDetail,
}

/// The region currency an item is paid in: the country's region (EU: EUR; LL/AP/WW: USD).
fn share_currency(i: &Item) -> &'static str {
    countries::region_currency(countries::region_of(&i.storefront)).unwrap_or("USD")
}

fn share_milli(i: &Item) -> i64 {
    countries::convert_milli(i.proceeds_milli, &i.currency, share_currency(i))
}

/// `4250.00`: two decimals whatever the currency (FINANCE_DETAIL's trailer).
fn two_decimals(milli: i64) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let cents = (milli.unsigned_abs() + 5) / 10;
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// Items of `period`, with their share currency and per-unit share.
async fn period_items(store: &Store, period: &Period) -> Result<Vec<Item>> {
    let start = pacific::day_bounds_ms(period.start).0;
    let end = pacific::day_bounds_ms(period.end).1;
    items(store, start, end).await
}

/// The file for `region` of fiscal `period`, or `None` without earnings (Apple's 404).
/// `vendor_name` is the preamble's legal name (FINANCE_DETAIL). `region` was checked by the caller.
pub async fn render(
    store: &Store,
    report: FinanceReport,
    region: &str,
    period: &Period,
    vendor_name: &str,
) -> Result<Option<String>> {
    let all = period_items(store, period).await?;
    let mine: Vec<Item> = match (report, region) {
        (FinanceReport::FinanceDetail, _) | (_, "ZZ") => all,
        _ => all
            .into_iter()
            .filter(|i| countries::region_of(&i.storefront) == region)
            .collect(),
    };
    if mine.is_empty() {
        return Ok(None);
    }
    Ok(Some(match report {
        FinanceReport::Financial => financial(&mine, period, region == "ZZ"),
        FinanceReport::FinanceDetail => detail(&mine, period, vendor_name),
    }))
}

/// Per (country, currency): quantity and extended share.
fn country_summary(lines: &[(Vec<String>, i64, i64, String, String)]) -> String {
    let mut by: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (_, qty, share, country, cur) in lines {
        let e = by.entry((country.clone(), cur.clone())).or_default();
        e.0 += qty;
        e.1 += qty * share;
    }
    let mut out = format!("{COUNTRY_SUMMARY_HEADER}\n");
    for ((country, cur), (qty, ext)) in by {
        out.push_str(&format!("{country}\t{cur}\t{qty}\t{}\n", two_decimals(ext)));
    }
    out
}

fn financial(items: &[Item], period: &Period, zz: bool) -> String {
    let start = us_date(period.start);
    let end = us_date(period.end);
    // Key: the cells but Quantity/Extended Partner Share; value: quantity.
    let mut lines: BTreeMap<Vec<String>, (i64, i64, String, String)> = BTreeMap::new();
    for i in items {
        let cur = share_currency(i);
        let share = share_milli(i);
        let country = countries::alpha2(&i.storefront);
        let key = vec![
            start.clone(),
            end.clone(),
            String::new(),
            String::new(),
            i.product_id.clone(),
            String::new(),
            format_amount(share, cur),
            String::new(),
            cur.to_string(),
            if i.is_return() { "R" } else { "S" }.to_string(),
            i.apple_id.clone(),
            String::new(),
            i.title.clone(),
            String::new(),
            String::new(),
            i.product_type_identifier.to_string(),
            String::new(),
            country.clone(),
            String::new(),
            String::new(),
            format_amount(i.price_milli, &i.currency),
            i.currency.clone(),
        ];
        let e = lines
            .entry(key)
            .or_insert((0, share, country, cur.to_string()));
        e.0 += i.units;
    }
    let mut out = format!("{FINANCIAL_HEADER}\n");
    let (mut units, mut amount) = (0, 0);
    let mut summary = Vec::new();
    for (mut cells, (qty, share, country, cur)) in lines {
        cells[5] = qty.to_string();
        cells[7] = format_amount(qty * share, &cur);
        out.push_str(&cells.join("\t"));
        out.push('\n');
        units += qty;
        amount += qty * share;
        summary.push((Vec::new(), qty, share, country, cur));
    }
    out.push_str(&format!("Total_Rows\t{}\n", summary.len()));
    if zz {
        out.push_str(&country_summary(&summary));
    } else {
        let cur = summary.first().map(|s| s.4.clone()).unwrap_or_default();
        out.push_str(&format!("Total_Amount\t{}\n", format_amount(amount, &cur)));
        out.push_str(&format!("Total_Units\t{units}\n"));
    }
    out
}

fn detail(items: &[Item], period: &Period, vendor_name: &str) -> String {
    let mut out = format!(
        "Vendor Name\t{vendor_name}\nStart Date\t{}\nEnd Date\t{}\n{DETAIL_HEADER}\n",
        us_date(period.start),
        us_date(period.end)
    );
    let mut lines: BTreeMap<Vec<String>, (i64, i64, String, String)> = BTreeMap::new();
    for i in items {
        let cur = share_currency(i);
        let share = share_milli(i);
        let country = countries::alpha2(&i.storefront);
        let day = us_date(i.day);
        let key = vec![
            day.clone(),
            day,
            i.apple_id.clone(),
            i.product_id.clone(),
            i.title.clone(),
            vendor_name.to_string(),
            i.product_type_identifier.to_string(),
            country.clone(),
            String::new(),
            format_amount(share, cur),
            String::new(),
            cur.to_string(),
            format_amount(i.price_milli, &i.currency),
            i.currency.clone(),
            if i.is_return() { "R" } else { "S" }.to_string(),
            String::new(),
            String::new(),
            "Z1".to_string(),
            // The trailing empty cell of data rows (§3.4, "as in the real file").
            String::new(),
        ];
        let e = lines
            .entry(key)
            .or_insert((0, share, country, cur.to_string()));
        e.0 += i.units;
    }
    let mut summary = Vec::new();
    for (mut cells, (qty, share, country, cur)) in lines {
        cells[8] = qty.to_string();
        cells[10] = format_amount(qty * share, &cur);
        out.push_str(&cells.join("\t"));
        out.push('\n');
        summary.push((Vec::new(), qty, share, country, cur));
    }
    out.push_str(&country_summary(&summary));
    out
}

/// The file name: `<vendor>_<MMYY>_<region>.txt.gz`, MMYY being the fiscal month's label
/// (`0426` = fiscal April 2026 = FY2026 P07, §3.2's UI name; the API name is open question 8).
pub fn file_name(vendor: &str, period: &Period, region: &str) -> String {
    let month = (period.period + 8) % 12 + 1;
    let year = if month >= 10 {
        period.year - 1
    } else {
        period.year
    };
    format!("{vendor}_{month:02}{:02}_{region}.txt.gz", year % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_2_financial_header_bytes() {
        let expected = b"Start Date\tEnd Date\tUPC\tISRC/ISBN\tVendor Identifier\tQuantity\tPartner Share\tExtended Partner Share\tPartner Share Currency\tSales or Return\tApple Identifier\tArtist/Show/Developer/Author\tTitle\tLabel/Studio/Network/Developer/Publisher\tGrid\tProduct Type Identifier\tISAN/Other Identifier\tCountry Of Sale\tPre-order Flag\tPromo Code\tCustomer Price\tCustomer Currency";
        assert_eq!(FINANCIAL_HEADER.as_bytes(), expected);
        assert_eq!(FINANCIAL_HEADER.split('\t').count(), 22);
    }

    #[test]
    fn s3_4_finance_detail_and_summary_header_bytes() {
        let expected = b"Transaction Date\tSettlement Date\tApple Identifier\tSKU\tTitle\tDeveloper Name\tProduct Type Identifier\tCountry of Sale\tQuantity\tPartner Share\tExtended Partner Share\tPartner Share Currency\tCustomer Price\tCustomer Currency\tSale or Return\tPromo Code\tOrder Type\tRegion";
        assert_eq!(DETAIL_HEADER.as_bytes(), expected);
        assert_eq!(
            COUNTRY_SUMMARY_HEADER.as_bytes(),
            b"Country Of Sale\tPartner Share Currency\tQuantity\tExtended Partner Share"
        );
    }

    fn item(storefront: &str, currency: &str, units: i64, price: i64, proceeds: i64) -> Item {
        Item {
            app_id: "1476097583".into(),
            app_sku: "CRABNOTES1".into(),
            product_id: "com.crabapple.notes.handwriting".into(),
            apple_id: "6449081234".into(),
            title: "Handwriting Pack".into(),
            product_type_identifier: "IA1",
            subscription: "",
            period: String::new(),
            units,
            price_milli: price * units.signum(),
            proceeds_milli: proceeds,
            currency: currency.into(),
            storefront: storefront.into(),
            proceeds_reason: "",
            day: jiff::civil::date(2026, 9, 12),
        }
    }

    #[test]
    fn s3_2_returns_are_negative_quantity_and_extended_share_with_positive_share() {
        let p = Period::of(2026, 12).unwrap();
        let items = [
            item("GBR", "GBP", 1, 2990, 2110),
            item("GBR", "GBP", 1, 2990, 2110),
            item("GBR", "GBP", -1, 2990, 2110),
        ];
        let row = |q: &str, ext: &str, sr: &str, price: &str| {
            format!(
                "08/30/2026\t09/26/2026\t\t\tcom.crabapple.notes.handwriting\t{q}\t2.11\t{ext}\tGBP\t{sr}\t6449081234\t\tHandwriting Pack\t\t\tIA1\t\tGB\t\t\t{price}\tGBP\n"
            )
        };
        assert_eq!(
            financial(&items, &p, false),
            format!(
                "{FINANCIAL_HEADER}\n{}{}Total_Rows\t2\nTotal_Amount\t2.11\nTotal_Units\t1\n",
                row("-1", "-2.11", "R", "-2.99"),
                row("2", "4.22", "S", "2.99"),
            )
        );
    }

    #[test]
    fn s3_3_usd_regions_convert_the_proceeds_and_zz_sums_per_country() {
        let p = Period::of(2026, 12).unwrap();
        // Sri Lanka is in AP (USD); its customers pay USD here. Sweden is its own region (SEK).
        let items = [
            item("LKA", "USD", 1, 2990, 2540),
            item("SWE", "SEK", 2, 31_000, 26_350),
        ];
        let zz = financial(&items, &p, true);
        assert!(zz.ends_with("Total_Rows\t2\nCountry Of Sale\tPartner Share Currency\tQuantity\tExtended Partner Share\nLK\tUSD\t1\t2.54\nSE\tSEK\t2\t52.70\n"), "{zz}");
        // A sale in euro countries is paid in EUR in the EU region; a Japanese sale converted to
        // another currency would use the fixed rates (1 USD = 150 JPY).
        assert_eq!(countries::convert_milli(2_540, "USD", "JPY"), 381_000);
        let detail = detail(&items[..1], &p, "Crabapple Demo Team");
        assert_eq!(
            detail,
            format!(
                "Vendor Name\tCrabapple Demo Team\nStart Date\t08/30/2026\nEnd Date\t09/26/2026\n{DETAIL_HEADER}\n09/12/2026\t09/12/2026\t6449081234\tcom.crabapple.notes.handwriting\tHandwriting Pack\tCrabapple Demo Team\tIA1\tLK\t1\t2.54\t2.54\tUSD\t2.99\tUSD\tS\t\t\tZ1\t\n{COUNTRY_SUMMARY_HEADER}\nLK\tUSD\t1\t2.54\n"
            )
        );
    }

    #[test]
    fn s3_2_file_names_carry_the_fiscal_month_label() {
        let p = Period::of(2026, 7).unwrap();
        assert_eq!(file_name("88085216", &p, "GB"), "88085216_0426_GB.txt.gz");
        let p = Period::of(2026, 1).unwrap();
        assert_eq!(file_name("1", &p, "ZZ"), "1_1025_ZZ.txt.gz");
        assert_eq!(two_decimals(4_250_000), "4250.00");
        assert_eq!(two_decimals(-8_000), "-8.00");
    }
}
