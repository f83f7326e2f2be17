//! SUBSCRIPTION / SUMMARY / DAILY (Subscription report 1_3, 32 columns, reports-formats.md §2.4):
//! the subscriptions on the books at the end of the reporting day (24:00 Pacific), counted by
//! app, subscription, offer, price, currency, DAY_MS, device and country.
//!
//! A subscription's state at the end of the day follows from its latest transaction bought
//! before then: active while that transaction has not expired (nor been refunded); past its
//! expiry, in billing grace or billing retry as its last notification before then says
//! (DID_FAIL_TO_RENEW/GRACE_PERIOD → grace; DID_FAIL_TO_RENEW or GRACE_PERIOD_EXPIRED → retry),
//! else lapsed and not counted; expired more than Apple's 60 days of billing retry ago, lapsed. Active subscriptions count in the column of their offer (standard
//! price; free trial / pay up front / pay as you go by introductory offer, promotional offer —
//! win-back offers counted with them — or offer code). Subscribers = active + grace period
//! (the subscribers with service that day). Family-shared subscriptions (no price) are left out,
//! as in the Subscriber file. Marketing Opt-Ins are 0: crabapple records no opt-in.

use crabapple_storekit::ledger::LedgerReports;
use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use crabapple_storekit::ledger::TransactionRow;

use super::common::{
    Catalog, DAY_MS, Day, ENVIRONMENT, Offer, OfferKind, cell, currency, device, money_columns,
    price_milli, storefront, tsv,
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
pub(crate) enum State {
    Active,
    Grace,
    BillingRetry,
    Lapsed,
}

/// Apple retries billing for 60 days after a failed renewal (apple-semantics.md §7,
/// DID_FAIL_TO_RENEW): a subscription expired longer ago than that has lapsed.
const BILLING_RETRY_DAYS: i64 = 60;
/// How far before the end of a day a subscription that expired may still be in billing retry.
pub(crate) const RETRY_WINDOW_MS: i64 = (BILLING_RETRY_DAYS + 1) * DAY_MS;

/// The subscriptions' states at the end of a day, from the status notifications of the
/// billing-retry window before it (one query for all of them).
pub(crate) struct States {
    end: i64,
    window_start: i64,
    /// The window's status notifications by transaction: (outbox seq, signed date, state).
    seen: HashMap<String, Vec<(i64, i64, State)>>,
}

impl States {
    pub async fn load(cat: &Catalog<'_>, end: i64) -> Result<States> {
        let mut s = States {
            end,
            window_start: end - RETRY_WINDOW_MS,
            seen: HashMap::new(),
        };
        s.add(cat, end - RETRY_WINDOW_MS, end).await?;
        Ok(s)
    }

    /// The states at `end`, a later day's end, from these: the status notifications signed
    /// since this end are read and those signed before the new window are dropped — the
    /// states [`States::load`] finds at `end`, from a day's notifications instead of the
    /// window's 61 days (issue 10: 70 ms a day of a Subscription State sweep after a simulated
    /// year at 10,000 downloads a day).
    pub async fn slide(mut self, cat: &Catalog<'_>, end: i64) -> Result<States> {
        let window_start = end - RETRY_WINDOW_MS;
        if end < self.end || window_start >= self.end {
            return States::load(cat, end).await;
        }
        self.add(cat, self.end, end).await?;
        self.seen.retain(|_, v| {
            v.retain(|&(_, signed, _)| signed >= window_start);
            !v.is_empty()
        });
        self.end = end;
        self.window_start = window_start;
        Ok(self)
    }

    /// Adds the status notifications signed in `[from, to)`.
    async fn add(&mut self, cat: &Catalog<'_>, from: i64, to: i64) -> Result<()> {
        for n in cat
            .store
            .report_status_notifications(ENVIRONMENT, from, to)
            .await?
        {
            let state = match (n.notification_type.as_str(), n.subtype.as_deref()) {
                ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => State::Grace,
                ("DID_FAIL_TO_RENEW", _) | ("GRACE_PERIOD_EXPIRED", _) => State::BillingRetry,
                _ => State::Lapsed,
            };
            self.seen
                .entry(n.transaction_id)
                .or_default()
                .push((n.seq, n.signed_date_ms, state));
        }
        Ok(())
    }

    /// The state of the subscription whose latest transaction bought before the end is `t`.
    pub fn of(&self, t: &TransactionRow) -> State {
        self.state(&t.transaction_id, t.purchase_ms, t.expires_ms, t.revoked_ms)
    }

    /// [`States::of`] from the transaction's id and dates alone.
    pub fn state(
        &self,
        transaction_id: &str,
        purchase_ms: i64,
        expires_ms: Option<i64>,
        revoked_ms: Option<i64>,
    ) -> State {
        let expires = expires_ms.unwrap_or(purchase_ms);
        if revoked_ms.is_some_and(|r| r < self.end) || expires < self.window_start {
            State::Lapsed
        } else if expires >= self.end {
            State::Active
        } else {
            // The last in outbox order.
            self.seen
                .get(transaction_id)
                .and_then(|v| v.iter().max_by_key(|&&(seq, _, _)| seq))
                .map_or(State::Lapsed, |&(_, _, state)| state)
        }
    }
}

pub(super) async fn render(cat: &mut Catalog<'_>, day: Day) -> Result<Option<String>> {
    let latest = cat
        .store
        .report_latest_subscription_transactions(ENVIRONMENT, day.end - RETRY_WINDOW_MS, day.end)
        .await?;
    let states = States::load(cat, day.end).await?;
    let mut groups: BTreeMap<Vec<String>, [i64; 14]> = BTreeMap::new();
    for (t, platform) in &latest {
        let Some(price) = price_milli(t) else {
            continue;
        };
        let column = match states.of(t) {
            State::Lapsed => continue,
            State::Grace => GRACE,
            State::BillingRetry => BILLING_RETRY,
            State::Active => match Offer::of(t.payload.json()) {
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
        let key = key(cat, t, price, platform.as_deref()).await?;
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
async fn key(
    cat: &mut Catalog<'_>,
    t: &TransactionRow,
    price: i64,
    platform: Option<&str>,
) -> Result<Vec<String>> {
    let offer = Offer::of(t.payload.json());
    let cols = cat.offer_columns(offer.as_ref()).await?;
    let mut row = cat.subscription_columns(t).await?;
    let (dev, reason) = cat.proceeds(t, price).await?;
    row.extend([cell(&cols.name), cell(&cols.id)]);
    row.extend(money_columns(price, dev, &currency(t)));
    row.extend([
        String::new(),
        reason.to_string(),
        String::new(),
        device(platform).to_string(),
        String::new(),
        alpha2(&storefront(t)).to_string(),
    ]);
    Ok(row)
}
