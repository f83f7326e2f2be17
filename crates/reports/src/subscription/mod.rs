//! The subscription family of Sales and Trends: SUBSCRIPTION, SUBSCRIPTION_EVENT, SUBSCRIBER,
//! SUBSCRIPTION_OFFER_CODE_REDEMPTION and WIN_BACK_ELIGIBILITY files for one reporting day,
//! computed from the ledger (reports-formats.md §2.4). The file transport (gzip, names, headers),
//! parameter checks and availability belong to the caller; this module renders the TSV text.

use anyhow::Result;
use crabapple_store::Store;
use jiff::civil::Date;

/// A report of the subscription family (Apple's `reportType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionReport {
    Subscription,
    SubscriptionEvent,
    Subscriber,
    SubscriptionOfferCodeRedemption,
    WinBackEligibility,
}

/// The TSV text (header line, then one line per row, `\n`-terminated) of `report` at `version`
/// for the Pacific reporting day `day`; `None` when the day has no rows (Apple's 404 "There were
/// no sales for the date specified.").
pub async fn render(
    _store: &Store,
    _report: SubscriptionReport,
    _version: &str,
    _day: Date,
) -> Result<Option<String>> {
    Ok(None)
}
