//! The COMMERCE files from app units and the ledger (reports-formats.md §4.3):
//!
//! - App Downloads: the app units as stored; Page Title is not recorded (empty cells).
//! - App Store Purchases: from the production ledger ([`crate::items`]), as `In-app purchase`
//!   rows per product and territory; Purchases are signed units (refunds negative), Proceeds and
//!   Sales in USD are converted with the fixed rates (refunds negative), Paying Users counts the
//!   purchases (not the refunds). Device `iPhone`, Payment Method, Source Type `Unavailable`, Page
//!   Type `No page` and Pre-Order `No` are crabapple's constants: the ledger does not know them.
//! - App Store Pre-Orders: the app units marked Pre-Order, as Pre-Orders Placed;
//!   [`PRE_ORDER_CANCEL_PERCENT`] of them canceled. Pre-Order Start and End Dates are empty (the
//!   simulator records no pre-order period).
//! - Pre-Order cells are `Yes` / `No` (crabapple's reading; Apple's value not captured).

use super::unit_days::{DayMemo, Unit, UnitDay, kept};
use super::{Ctx, Spec, Table, same, tsv_spec, yes_no};
use crate::{countries, items, pacific};
use anyhow::Result;
use crabapple_store::Store;
use jiff::civil::Date;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};

/// §4.3, the captured Standard header, verbatim.
pub const DOWNLOADS_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tPage Type\tPre-Order\tTerritory\tCounts";
/// §4.3's doc order with the Detailed-only columns (Source Info, Campaign, Page Title).
pub const DOWNLOADS_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tDownload Type\tApp Version\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tPre-Order\tTerritory\tCounts";
/// §4.3, the fixture's Standard header, verbatim (`Proceeds in USD`, open question 6).
pub const PURCHASES_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tPurchase Type\tContent Name\tContent Apple Identifier\tPayment Method\tDevice\tPlatform Version\tSource Type\tPage Type\tApp Download Date\tPre-Order\tTerritory\tPurchases\tProceeds in USD\tSales in USD\tPaying Users";
/// §4.3's doc order with Source Info, Campaign, Page Title.
pub const PURCHASES_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tPurchase Type\tContent Name\tContent Apple Identifier\tPayment Method\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tApp Download Date\tPre-Order\tTerritory\tPurchases\tProceeds in USD\tSales in USD\tPaying Users";
/// §4.3's doc order without the Detailed-only columns.
pub const PRE_ORDERS_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tDevice\tPlatform Version\tSource Type\tPage Type\tTerritory\tPre-Order Start Date\tPre-Order End Date\tPre-Orders Placed\tPre-Orders Canceled";
/// §4.3's doc order.
pub const PRE_ORDERS_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tDevice\tPlatform Version\tSource Type\tSource Info\tCampaign\tPage Type\tPage Title\tTerritory\tPre-Order Start Date\tPre-Order End Date\tPre-Orders Placed\tPre-Orders Canceled";

/// crabapple's model: the share of placed pre-orders canceled the same day (rounded down).
pub const PRE_ORDER_CANCEL_PERCENT: i64 = 10;

pub(super) static DOWNLOADS: Spec = tsv_spec(DOWNLOADS_STANDARD, DOWNLOADS_DETAILED, 1, 0, same);
pub(super) static PURCHASES: Spec = Spec {
    money: &[1, 2],
    noise: super::Noise::Proportional,
    ..tsv_spec(PURCHASES_STANDARD, PURCHASES_DETAILED, 4, 3, same)
};
pub(super) static PRE_ORDERS: Spec =
    tsv_spec(PRE_ORDERS_STANDARD, PRE_ORDERS_DETAILED, 2, 0, |b| {
        vec![b[0], b[0] * PRE_ORDER_CANCEL_PERCENT / 100]
    });

/// The app units of the file's Dates (and `extra_days` before them), one list per day
/// ([`super::unit_days`]); `.iter().flat_map(|d| d.iter())` walks them.
pub(super) async fn units(store: &Store, ctx: &Ctx, extra_days: i64) -> Result<Units> {
    use jiff::ToSpan;
    let from = ctx.first - extra_days.days();
    Ok(Units(
        super::unit_days::of(store, &ctx.app_id, from, ctx.last).await?,
    ))
}

/// App units by day.
pub(super) struct Units(Vec<std::sync::Arc<UnitDay>>);

impl Units {
    pub(super) fn iter(&self) -> impl Iterator<Item = Unit<'_>> {
        self.0.iter().flat_map(|d| d.iter())
    }
}

/// The cells an app units row gives every report (each picks those of its header).
pub(super) fn unit_cells<'a>(u: &Unit<'a>) -> [(&'static str, &'a str); 10] {
    [
        ("Download Type", u.download_type()),
        ("App Version", u.app_version()),
        ("Device", u.device()),
        ("Platform Version", u.platform_version()),
        ("Source Type", u.source_type()),
        ("Source Info", u.source_info()),
        ("Campaign", u.campaign()),
        ("Page Type", u.page_type()),
        ("Pre-Order", yes_no(u.pre_order())),
        ("Territory", u.territory()),
    ]
}

pub(super) async fn downloads(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        let date = ctx.date(u.day());
        let mut c = ctx.cells(&date);
        c.extend(unit_cells(&u));
        t.add(&c, &[u.units()]);
    }
    Ok(())
}

pub(super) async fn pre_orders(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    for u in units(store, ctx, 0).await?.iter() {
        if !u.pre_order() {
            continue;
        }
        let date = ctx.date(u.day());
        let mut c = ctx.cells(&date);
        c.extend(unit_cells(&u));
        t.add(&c, &[u.units()]);
    }
    Ok(())
}

/// An app's App Store Purchases of one day: per (Content Name, Content Apple Identifier,
/// Territory), the summed Purchases, Proceeds in USD, Sales in USD and Paying Users (the same
/// integers a file adds up item by item: each item converted to USD on its own).
type PurchaseDay = Vec<([String; 3], [i64; 4])>;

static PURCHASE_DAYS: LazyLock<Mutex<DayMemo<PurchaseDay>>> = LazyLock::new(Default::default);

/// App `app`'s purchases of `day`, kept once the day is final (a year's walk reads each day in
/// six files: Standard and Detailed, DAILY, WEEKLY and MONTHLY).
async fn purchase_day(store: &Store, app: &str, day: Date) -> Result<Arc<PurchaseDay>> {
    let (found, key) = kept(store, &PURCHASE_DAYS, app, day).await?;
    if let Some(rows) = found {
        return Ok(rows);
    }
    let (start, end) = pacific::day_bounds_ms(day);
    let mut sums: BTreeMap<[String; 3], [i64; 4]> = BTreeMap::new();
    for i in items::items(store, start, end).await? {
        if i.app_id != app || i.day != day {
            continue;
        }
        let usd = |milli: i64| countries::convert_milli(milli, &i.currency, "USD");
        let m = [
            i.units,
            usd(i.units * i.proceeds_milli),
            usd(i.units.abs() * i.price_milli),
            i64::from(i.units > 0),
        ];
        let sum = sums
            .entry([i.title, i.apple_id, countries::alpha2(&i.storefront)])
            .or_default();
        for (s, v) in sum.iter_mut().zip(m) {
            *s += v;
        }
    }
    let rows: Arc<PurchaseDay> = Arc::new(sums.into_iter().collect());
    if let Some(k) = key {
        let n = 64
            + rows
                .iter()
                .map(|(c, _)| 120 + c.concat().len())
                .sum::<usize>();
        let mut memo = PURCHASE_DAYS.lock().unwrap_or_else(|e| e.into_inner());
        memo.put(k, rows.clone(), n);
    }
    Ok(rows)
}

pub(super) async fn purchases(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    let mut day = ctx.first;
    while day <= ctx.last {
        let date = ctx.date(day);
        for ([title, apple_id, territory], m) in purchase_day(store, &ctx.app_id, day).await?.iter()
        {
            let mut c = ctx.cells(&date);
            c.extend([
                ("Purchase Type", "In-app purchase"),
                ("Content Name", title.as_str()),
                ("Content Apple Identifier", apple_id),
                ("Payment Method", "Unavailable"),
                ("Device", "iPhone"),
                ("Source Type", "Unavailable"),
                ("Page Type", "No page"),
                ("Pre-Order", "No"),
                ("Territory", territory),
            ]);
            t.add(&c, m);
        }
        day = day.tomorrow()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s4_3_headers_have_the_report_columns_in_order() {
        assert_eq!(DOWNLOADS_STANDARD.split('\t').count(), 12);
        assert_eq!(DOWNLOADS_DETAILED.split('\t').count(), 15);
        assert_eq!(PURCHASES_STANDARD.split('\t').count(), 18);
        assert_eq!(PURCHASES_DETAILED.split('\t').count(), 21);
        assert_eq!(PRE_ORDERS_STANDARD.split('\t').count(), 12);
        assert_eq!(PRE_ORDERS_DETAILED.split('\t').count(), 15);
    }
}
