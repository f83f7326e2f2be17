//! The subscription family of Sales and Trends: SUBSCRIPTION, SUBSCRIPTION_EVENT, SUBSCRIBER,
//! SUBSCRIPTION_OFFER_CODE_REDEMPTION and WIN_BACK_ELIGIBILITY files for one reporting day,
//! computed from the ledger (reports-formats.md §2.4). The file transport (gzip, names, headers),
//! parameter checks and availability belong to the caller; this module renders the TSV text.

mod common;
pub mod event;
pub mod offer_code_redemption;
pub mod subscriber;
pub mod summary;
pub mod win_back;

use anyhow::Result;
use crabapple_store::Store;
use jiff::civil::Date;

use common::{Catalog, Day};

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
///
/// Versions: SUBSCRIPTION, SUBSCRIPTION_EVENT and SUBSCRIBER are served in the 1_3 layout under
/// both 1_3 and 1_4 — Apple's 1_4 header lines are not known (reports-formats.md open question 2);
/// SUBSCRIPTION_OFFER_CODE_REDEMPTION and WIN_BACK_ELIGIBILITY have 1_0 only. Which versions a
/// request may ask for is the caller's check; `version` does not change the text today.
pub async fn render(
    store: &Store,
    report: SubscriptionReport,
    _version: &str,
    day: Date,
) -> Result<Option<String>> {
    let mut cat = Catalog::new(store);
    let day = Day::new(day);
    match report {
        SubscriptionReport::Subscription => summary::render(&mut cat, day).await,
        SubscriptionReport::SubscriptionEvent => event::render(&mut cat, day).await,
        SubscriptionReport::Subscriber => subscriber::render(&mut cat, day).await,
        SubscriptionReport::SubscriptionOfferCodeRedemption => {
            offer_code_redemption::render(&mut cat, day).await
        }
        SubscriptionReport::WinBackEligibility => win_back::render(&mut cat, day).await,
    }
}

/// The header line of `report` (the same for every version crabapple serves, see [`render`]).
pub fn header(report: SubscriptionReport) -> &'static str {
    match report {
        SubscriptionReport::Subscription => summary::HEADER_1_3,
        SubscriptionReport::SubscriptionEvent => event::HEADER_1_3,
        SubscriptionReport::Subscriber => subscriber::HEADER_1_3,
        SubscriptionReport::SubscriptionOfferCodeRedemption => offer_code_redemption::HEADER_1_0,
        SubscriptionReport::WinBackEligibility => win_back::HEADER_1_0,
    }
}
