//! SUBSCRIBER / DETAILED / DAILY (Subscriber report 1_3, 26 columns, reports-formats.md §2.4):
//! one row per auto-renewable transaction bought on the reporting day and one per refund
//! granted that day.
//!
//! - Sale rows: Customer Price and per-unit Developer Proceeds of the transaction (free trials
//!   `0.00`), Units 1, Purchase Date empty.
//! - Refund rows: negative Customer Price and Developer Proceeds (the refunded share for a
//!   prorated refund), `Refund` = `Yes`, the original Purchase Date, Units 0 — as Apple's stub
//!   in §2.4 shows.
//! - Family-shared transactions carry no price and make no row.
//! - Subscriber ID is the customer's anonymous id ([`super::common::subscriber_id`]).

use anyhow::Result;
use crabapple_storekit::ledger::LedgerReports;
use crabapple_storekit::ledger::TransactionRow;
use serde_json::Value;

use super::common::{
    Catalog, Day, ENVIRONMENT, Offer, cell, currency, device, money_columns, offer_type_columns,
    platform, price_milli, storefront, subscriber_id, tsv, ymd,
};
use crate::storefronts::alpha2;

/// The header line of version 1_3 (also served as 1_4, whose columns are unknown:
/// reports-formats.md open question 2).
pub const HEADER_1_3: &str = "Event Date\tApp Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tSubscription Offer Name\tPromotional Offer ID\tSubscription Offer Type\tSubscription Offer Duration\tMarketing Opt-In Duration\tCustomer Price\tCustomer Currency\tDeveloper Proceeds\tProceeds Currency\tPreserved Pricing\tProceeds Reason\tClient\tDevice\tCountry\tSubscriber ID\tSubscriber ID Reset\tRefund\tPurchase Date\tUnits";

pub(super) async fn render(cat: &mut Catalog<'_>, day: Day) -> Result<Option<String>> {
    let txs = cat
        .store
        .report_subscription_transactions(ENVIRONMENT, day.start, day.end)
        .await?;
    // (event time, transaction id, refund?) keeps sales and refunds in time order.
    let mut events: Vec<(i64, &TransactionRow, bool)> = Vec::new();
    for t in &txs {
        if day.contains(t.purchase_ms) {
            events.push((t.purchase_ms, t, false));
        }
        if let Some(r) = t.revoked_ms.filter(|r| day.contains(*r)) {
            events.push((r, t, true));
        }
    }
    events.sort_by(|a, b| (a.0, &a.1.transaction_id, a.2).cmp(&(b.0, &b.1.transaction_id, b.2)));
    let mut rows = Vec::new();
    for (_, t, refund) in events {
        if let Some(r) = row(cat, day, t, refund).await? {
            rows.push(r);
        }
    }
    Ok(tsv(HEADER_1_3, rows))
}

async fn row(
    cat: &mut Catalog<'_>,
    day: Day,
    t: &TransactionRow,
    refund: bool,
) -> Result<Option<Vec<String>>> {
    let Some(list_price) = price_milli(t) else {
        return Ok(None);
    };
    let price = if refund {
        let pct = t
            .payload
            .json()
            .get("revocationPercentage")
            .and_then(Value::as_i64)
            .unwrap_or(100_000);
        -(list_price * pct / 100_000)
    } else {
        list_price
    };
    let offer = Offer::of(t.payload.json());
    let cols = cat.offer_columns(offer.as_ref()).await?;
    let mut row = vec![day.date.to_string()];
    row.extend(cat.subscription_columns(t).await?);
    let customer = cat.customer(t.customer_id).await?;
    let (dev, reason) = cat.proceeds(t, price).await?;
    row.extend([cell(&cols.name), cell(&cols.id)]);
    row.extend(offer_type_columns(offer.as_ref()));
    row.push(String::new());
    row.extend(money_columns(price, dev, &currency(t)));
    row.extend([
        String::new(),
        reason.to_string(),
        String::new(),
        device(platform(customer.as_ref())).to_string(),
        alpha2(&storefront(t)).to_string(),
        customer.as_ref().map(subscriber_id).unwrap_or_default(),
        String::new(),
        if refund { "Yes".into() } else { String::new() },
        if refund {
            ymd(t.purchase_ms)
        } else {
            String::new()
        },
        if refund { "0".into() } else { "1".into() },
    ]);
    Ok(Some(row))
}
