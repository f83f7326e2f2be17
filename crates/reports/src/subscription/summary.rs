//! SUBSCRIPTION / SUMMARY / DAILY (Subscription report 1_3, 32 columns, reports-formats.md §2.4):
//! the subscriptions on the books at the end of the reporting day (24:00 Pacific), counted by
//! app, subscription, offer, price, currency, proceeds, device and country.
//!
//! A subscription's state at the end of the day follows from its latest transaction bought
//! before then: active while that transaction has not expired (nor been refunded); past its
//! expiry, in billing grace or billing retry as its last notification before then says
//! (DID_FAIL_TO_RENEW/GRACE_PERIOD → grace; DID_FAIL_TO_RENEW or GRACE_PERIOD_EXPIRED → retry),
//! else lapsed and not counted. Active subscriptions count in the column of their offer (standard
//! price; free trial / pay up front / pay as you go by introductory offer, promotional offer —
//! win-back offers counted with them — or offer code). Subscribers = active + grace period
//! (the subscribers with service that day). Family-shared subscriptions (no price) are left out,
//! as in the Subscriber file. Marketing Opt-Ins are 0: crabapple records no opt-in.

use std::collections::BTreeMap;

use anyhow::Result;
use crabapple_store::ledger::TransactionRow;

use super::common::{
    Catalog, Day, ENVIRONMENT, Offer, OfferKind, cell, currency, device, money_columns,
    price_milli, proceeds, storefront, tsv,
};
use crate::storefronts::alpha2;

/// The header line of version 1_3: the 32-name list of reports-formats.md §2.4 in its order
/// (the only full list, a client struct), with column 7 named `Subscription Offer Name` as in the
/// newer help copy and Fivetran's column set (open question 3). Also served as 1_4 (open question 2).
pub const HEADER_1_3: &str = "App Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tSubscription Offer Name\tPromotional Offer ID\tCustomer Price\tCustomer Currency\tDeveloper Proceeds\tProceeds Currency\tPreserved Pricing\tProceeds Reason\tClient\tDevice\tState\tCountry\tActive Standard Price Subscriptions\tActive Free Trial Introductory Offer Subscriptions\tActive Pay Up Front Introductory Offer Subscriptions\tActive Pay As You Go Introductory Offer Subscriptions\tFree Trial Promotional Offer Subscriptions\tPay Up Front Promotional Offer Subscriptions\tPay As You Go Promotional Offer Subscriptions\tMarketing Opt-Ins\tBilling Retry\tGrace Period\tFree Trial Offer Code Subscriptions\tPay Up Front Offer Code Subscriptions\tPay As You Go Offer Code Subscriptions\tSubscribers";

/// Indexes into the 14 count columns.
const STANDARD: usize = 0;
const INTRO: usize = 1;
const PROMO: usize = 4;
const BILLING_RETRY: usize = 8;
const GRACE: usize = 9;
const CODE: usize = 10;
const SUBSCRIBERS: usize = 13;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Active,
    Grace,
    BillingRetry,
    Lapsed,
}

/// A subscription's state at `end_ms`, from its latest transaction bought before then.
pub(super) async fn state_at(cat: &Catalog<'_>, t: &TransactionRow, end_ms: i64) -> Result<State> {
    if t.revoked_ms.is_some_and(|r| r < end_ms) {
        return Ok(State::Lapsed);
    }
    if t.expires_ms.is_some_and(|x| x >= end_ms) {
        return Ok(State::Active);
    }
    let notes = cat
        .store
        .report_customer_notifications(t.customer_id, end_ms)
        .await?;
    let mut state = State::Lapsed;
    for n in notes.iter().filter(|n| {
        n.transaction_id.as_deref() == Some(t.transaction_id.as_str())
            && n.signed_date_ms >= t.expires_ms.unwrap_or(0)
    }) {
        state = match (n.notification_type.as_str(), n.subtype.as_deref()) {
            ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => State::Grace,
            ("DID_FAIL_TO_RENEW", _) | ("GRACE_PERIOD_EXPIRED", _) => State::BillingRetry,
            ("EXPIRED", _) | ("REFUND", _) | ("REVOKE", _) => State::Lapsed,
            _ => state,
        };
    }
    Ok(state)
}

pub(super) async fn render(cat: &mut Catalog<'_>, day: Day) -> Result<Option<String>> {
    let latest = cat
        .store
        .report_latest_subscription_transactions(ENVIRONMENT, day.end)
        .await?;
    let mut groups: BTreeMap<Vec<String>, [i64; 14]> = BTreeMap::new();
    for t in &latest {
        let Some(price) = price_milli(t) else {
            continue;
        };
        let column = match state_at(cat, t, day.end).await? {
            State::Lapsed => continue,
            State::Grace => GRACE,
            State::BillingRetry => BILLING_RETRY,
            State::Active => match Offer::of(&t.payload) {
                None => STANDARD,
                Some(o) => {
                    let base = match o.kind {
                        OfferKind::Introductory => INTRO,
                        OfferKind::Promotional | OfferKind::WinBack => PROMO,
                        OfferKind::OfferCode => CODE,
                    };
                    base + match o.discount.as_str() {
                        "PAY_UP_FRONT" => 1,
                        "PAY_AS_YOU_GO" => 2,
                        _ => 0,
                    }
                }
            },
        };
        let key = key(cat, t, price).await?;
        let counts = groups.entry(key).or_default();
        counts[column] += 1;
        if column != BILLING_RETRY {
            counts[SUBSCRIBERS] += 1;
        }
    }
    Ok(tsv(
        HEADER_1_3,
        groups.into_iter().map(|(mut key, counts)| {
            key.extend(counts.iter().map(i64::to_string));
            key
        }),
    ))
}

/// The 18 grouping columns.
async fn key(cat: &mut Catalog<'_>, t: &TransactionRow, price: i64) -> Result<Vec<String>> {
    let offer = Offer::of(&t.payload);
    let cols = cat.offer_columns(offer.as_ref()).await?;
    let mut row = cat.subscription_columns(t).await?;
    let customer = cat.customer(t.customer_id).await?;
    let chain = cat.chain(&t.original_transaction_id).await?;
    let (dev, reason) = proceeds(chain, t, price);
    row.extend([cell(&cols.name), cell(&cols.id)]);
    row.extend(money_columns(price, dev, &currency(t)));
    row.extend([
        String::new(),
        reason.to_string(),
        String::new(),
        device(customer.as_ref()).to_string(),
        String::new(),
        alpha2(&storefront(t)).to_string(),
    ]);
    Ok(row)
}
