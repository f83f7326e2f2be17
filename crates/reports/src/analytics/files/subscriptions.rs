//! App Store Subscription State and Subscription Event (reports-formats.md §4.3), from the
//! production ledger of the app, one Pacific day at a time.
//!
//! - State: the subscriptions on the books at the end of each day, with the states of the Sales
//!   SUBSCRIPTION report ([`crate::subscription::summary::States`]): State Metric `Active`
//!   (State Metric Grouping `Standard price`, `Free trial`, `Pay as you go` or `Pay up front`),
//!   `Grace period` or `Billing retry`; lapsed subscriptions are not counted. Counts = the number
//!   of subscriptions. Family-shared subscriptions (no price) are left out, as in the Sales file.
//! - Event: the day's notifications of the app, as `Event Group` / `Event Name`. The values seen
//!   in the 2026-09-07 capture are `Offer start` / `Free trial start activation`, `Renewal` /
//!   `Full price renewal` and `Enter billing issue` / `Billing retry from full price`; the others
//!   are crabapple's in the same style (see [`event_names`]).
//!
//! crabapple's vocabulary and constants (Apple's values are not documented, §6 question 4):
//! the State Metric names, Billing Frequency from the duration (`Weekly`, `Monthly`, `Every 2
//! Months`, `Quarterly`, `Every 6 Months`, `Yearly`), Offer Type `Introductory offer`,
//! `Promotional offer`, `Offer code`, `Win-back offer`; App Download Source Type `Unavailable`,
//! Page Type `No page`, Pre-Order `No` (the ledger does not know how the app was found). Billing
//! Period, Vanity Code, Cancellation Reason (State), Previous Subscription, Churn Tenure and Paid
//! Service Days Recovered stay empty.

use super::unit_days::{DayMemo, Key, kept};
use super::{Cells, Ctx, Spec, Table, refs, same, tsv_spec, yes_no};
use crate::storefronts::alpha2;
use crate::subscription::common::{
    self, Catalog, Day, ENVIRONMENT, Offer, OfferKind, device, offer_duration, price_milli,
    storefront,
};
use crate::subscription::summary::{RETRY_WINDOW_MS, State, States};
use anyhow::Result;
use crabapple_store::Store;
use crabapple_storekit::ledger::LedgerReports;
use crabapple_storekit::ledger::{NotificationRow, TransactionRow};
use jiff::civil::Date;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// §4.3's doc order without the Detailed-only columns.
pub const SUBSCRIPTION_STATE_STANDARD: &str = "Date\tApp Name\tApp Apple Identifier\tState Metric\tState Metric Grouping\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tFamily Sharing\tCancellation Reason\tApp Download Source Type\tPage Type\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts";
/// §4.3's doc order.
pub const SUBSCRIPTION_STATE_DETAILED: &str = "Date\tApp Name\tApp Apple Identifier\tState Metric\tState Metric Grouping\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tFamily Sharing\tCancellation Reason\tApp Download Source Type\tApp Download Source Info\tCampaign\tPage Type\tPage Title\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts";
/// §4.3, the 2026-09-07 capture's Standard header, verbatim (trusted over the doc's list).
pub const SUBSCRIPTION_EVENT_STANDARD: &str = "Event Date\tApp Name\tApp Apple Identifier\tEvent Group\tEvent Name\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tPlan Change Type\tPrevious Subscription Name\tPrevious Subscription Identifier\tFamily Sharing\tCancellation Reason\tChurn Tenure\tPaid Service Days Recovered\tApp Download Source Type\tPage Type\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts";
/// The capture's order with the doc's Detailed-only columns where the doc puts them (App
/// Download Source Info and Campaign after App Download Source Type, Page Title after Page
/// Type) — a guess, no Detailed file was captured.
pub const SUBSCRIPTION_EVENT_DETAILED: &str = "Event Date\tApp Name\tApp Apple Identifier\tEvent Group\tEvent Name\tSubscription Name\tSubscription Identifier\tSubscription Duration\tBilling Frequency\tBilling Period\tSubscription Group\tSubscription Group Identifier\tOffer Type\tOffer Name\tOffer ID\tVanity Code\tOffer Pricing\tOffer Duration\tPlan Change Type\tPrevious Subscription Name\tPrevious Subscription Identifier\tFamily Sharing\tCancellation Reason\tChurn Tenure\tPaid Service Days Recovered\tApp Download Source Type\tApp Download Source Info\tCampaign\tPage Type\tPage Title\tPre-Order\tOriginal Purchase Device\tTerritory\tCounts";

pub(super) static STATE: Spec = tsv_spec(
    SUBSCRIPTION_STATE_STANDARD,
    SUBSCRIPTION_STATE_DETAILED,
    1,
    0,
    same,
);
pub(super) static EVENT: Spec = tsv_spec(
    SUBSCRIPTION_EVENT_STANDARD,
    SUBSCRIPTION_EVENT_DETAILED,
    1,
    0,
    same,
);

fn billing_frequency(duration: &str) -> &'static str {
    match duration {
        "7 Days" => "Weekly",
        "1 Month" => "Monthly",
        "2 Months" => "Every 2 Months",
        "3 Months" => "Quarterly",
        "6 Months" => "Every 6 Months",
        "1 Year" => "Yearly",
        _ => "",
    }
}

fn offer_pricing(o: &Offer) -> &'static str {
    match o.discount.as_str() {
        "FREE_TRIAL" => "Free trial",
        "PAY_AS_YOU_GO" => "Pay as you go",
        "PAY_UP_FRONT" => "Pay up front",
        _ => "",
    }
}

/// Subscription group id → reference name, read once per file.
type Groups = HashMap<String, String>;

/// The cells of a subscription transaction every row of both files has.
async fn subscription_cells(
    cat: &mut Catalog<'_>,
    groups: &mut Groups,
    t: &TransactionRow,
    platform: Option<&str>,
) -> Result<Cells> {
    let p = cat.product(&t.product_id).await?;
    let (name, id, duration) = p
        .map_or((t.product_id.clone(), String::new(), String::new()), |p| {
            (p.name, p.apple_id, p.duration)
        });
    let group_id = t.group_id.clone().unwrap_or_default();
    let group = match groups.get(&group_id) {
        Some(name) => name.clone(),
        None => {
            let name = match cat.store.get("subscriptionGroups", &group_id).await? {
                Some(g) => g
                    .attributes
                    .get("referenceName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                None => String::new(),
            };
            groups.insert(group_id.clone(), name.clone());
            name
        }
    };
    let offer = Offer::of(t.payload.json());
    let names = cat.offer_columns(offer.as_ref()).await?;
    let mut c: Cells = vec![
        ("Subscription Name", name),
        ("Subscription Identifier", id),
        (
            "Billing Frequency",
            billing_frequency(&duration).to_string(),
        ),
        ("Subscription Duration", duration),
        ("Subscription Group", group),
        ("Subscription Group Identifier", group_id),
        (
            "Family Sharing",
            yes_no(t.ownership == "FAMILY_SHARED").to_string(),
        ),
        ("App Download Source Type", "Unavailable".into()),
        ("Page Type", "No page".into()),
        ("Pre-Order", "No".into()),
        ("Original Purchase Device", device(platform).to_string()),
        ("Territory", alpha2(&storefront(t)).to_string()),
    ];
    if let Some(o) = &offer {
        let kind = match o.kind {
            OfferKind::Introductory => "Introductory offer",
            OfferKind::Promotional => "Promotional offer",
            OfferKind::OfferCode => "Offer code",
            OfferKind::WinBack => "Win-back offer",
        };
        c.extend([
            ("Offer Type", kind.to_string()),
            ("Offer Name", names.name),
            ("Offer ID", names.id),
            ("Offer Pricing", offer_pricing(o).to_string()),
            ("Offer Duration", offer_duration(&o.period)),
        ]);
    }
    Ok(c)
}

/// A day's rows of a subscription file without the file's Date and app cells, with their
/// Counts.
type DayRows = Vec<(Cells, i64)>;

static STATE_DAYS: LazyLock<Mutex<DayMemo<DayRows>>> = LazyLock::new(Default::default);
static EVENT_DAYS: LazyLock<Mutex<DayMemo<DayRows>>> = LazyLock::new(Default::default);

/// One day of the ledger computed at a time in the process: a day's Subscription State reads
/// every subscription still on the books with its parsed payload (tens of thousands after a
/// simulated year at 10,000 downloads a day), so files computed in parallel (a collector
/// downloading on 4 connections) multiplied the peak memory.
static ONE_DAY_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// The day's rows as [`kept`] finds them after waiting for [`ONE_DAY_AT_A_TIME`] (a file that
/// waited may find the day computed by the one before it), with the permit to compute them.
async fn kept_in_turn(
    store: &Store,
    memo: &Mutex<DayMemo<DayRows>>,
    app: &str,
    day: Date,
) -> Result<(
    Option<Arc<DayRows>>,
    Option<Key>,
    Option<tokio::sync::SemaphorePermit<'static>>,
)> {
    if let (Some(rows), key) = kept(store, memo, app, day).await? {
        return Ok((Some(rows), key, None));
    }
    let turn = ONE_DAY_AT_A_TIME.acquire().await?;
    let (rows, key) = kept(store, memo, app, day).await?;
    Ok((rows, key, Some(turn)))
}

/// `rows`, kept in `memo` under `key` if there is one.
fn keep(memo: &Mutex<DayMemo<DayRows>>, key: Option<Key>, rows: DayRows) -> Arc<DayRows> {
    let rows = Arc::new(rows);
    if let Some(k) = key {
        let n = rows.len() * 1024;
        memo.lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(k, rows.clone(), n);
    }
    rows
}

/// Adds a day's rows to the file.
fn add_day(ctx: &Ctx, t: &mut Table, day: Date, rows: &DayRows) {
    let date = ctx.date(day);
    for (cells, n) in rows {
        let mut c = ctx.cells(&date);
        c.extend(refs(cells));
        t.add(&c, &[*n]);
    }
}

pub(super) async fn state(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    let mut cat = Catalog::new(store);
    let mut groups = Groups::new();
    let mut day = ctx.first;
    while day <= ctx.last {
        let rows = match kept_in_turn(store, &STATE_DAYS, &ctx.app_id, day).await? {
            (Some(rows), _, _) => rows,
            // A day that may still change: computed alone, not kept.
            (None, None, _turn) => {
                let end = Day::new(day).end;
                let mut books = Books::default();
                let latest = store
                    .report_latest_subscription_transactions(
                        ENVIRONMENT,
                        end - RETRY_WINDOW_MS,
                        end,
                    )
                    .await?;
                books.add(&mut cat, &mut groups, ctx, latest).await?;
                Arc::new(books.rows(&States::load(&cat, end).await?))
            }
            (None, Some(key), _turn) => state_sweep(&mut cat, &mut groups, ctx, day, key).await?,
        };
        add_day(ctx, t, day, &rows);
        day = day.tomorrow()?;
    }
    Ok(())
}

/// Days one Subscription State computation sweeps through (see [`state_sweep`]).
const SWEEP_DAYS: i64 = 32;

/// The days of `day`'s block of [`SWEEP_DAYS`] (counted from 2000-01-01) that are final, computed
/// in one sweep and kept; `day`'s rows (kept under `key`). The block's first day reads each
/// subscription's latest transaction from the ledger; each next day only adds the
/// subscriptions' transactions bought that day and drops the ones expired before its
/// billing-retry window — the same rows the full read of that day would find, without reading
/// every subscription on the books again (issue 10: a day took 2–6 s after a simulated year at
/// 10,000 downloads a day, and collectors ask for the days in any order).
async fn state_sweep(
    cat: &mut Catalog<'_>,
    groups: &mut Groups,
    ctx: &Ctx,
    day: Date,
    key: Key,
) -> Result<Arc<DayRows>> {
    let store = cat.store;
    let since = (day - jiff::civil::date(2000, 1, 1)).get_days() as i64;
    let first = day - jiff::Span::new().days(since.rem_euclid(SWEEP_DAYS));
    let last = first + jiff::Span::new().days(SWEEP_DAYS - 1);
    let mut books = Books::default();
    let mut read_until: Option<i64> = None;
    let mut states: Option<States> = None;
    let mut out = None;
    let mut d = first;
    while d <= last {
        let d_key = if d == day {
            Some(key.clone())
        } else {
            kept(store, &STATE_DAYS, &ctx.app_id, d).await?.1
        };
        if d > day && d_key.is_none() {
            break; // not final yet: a later request computes it
        }
        let end = Day::new(d).end;
        let from = end - RETRY_WINDOW_MS;
        let bought = match read_until {
            None => {
                store
                    .report_latest_subscription_transactions(ENVIRONMENT, from, end)
                    .await?
            }
            Some(since) => {
                store
                    .report_subscription_purchases(ENVIRONMENT, since, end)
                    .await?
            }
        };
        books.add(cat, groups, ctx, bought).await?;
        books
            .latest
            .retain(|_, h| h.expires_ms.unwrap_or(h.purchase_ms) >= from);
        read_until = Some(end);
        let known = d_key
            .as_ref()
            .and_then(|k| STATE_DAYS.lock().unwrap_or_else(|e| e.into_inner()).get(k));
        let rows = match known {
            Some(rows) => rows,
            None => {
                let now = match states.take() {
                    Some(s) => s.slide(cat, end).await?,
                    None => States::load(cat, end).await?,
                };
                let rows = books.rows(&now);
                states = Some(now);
                keep(&STATE_DAYS, d_key, rows)
            }
        };
        if d == day {
            out = Some(rows);
        }
        d = d.tomorrow()?;
    }
    Ok(out.expect("the sweep reaches the asked day"))
}

/// Each subscription's latest transaction bought so far (by original transaction id) and still
/// running at the start of the last day's billing-retry window, with the cells of its rows
/// computed once, when the transaction is added.
#[derive(Default)]
struct Books {
    latest: HashMap<Box<str>, Held>,
    /// Distinct cells (without the State Metric ones), by number.
    cells: Vec<Cells>,
    numbers: HashMap<Cells, u32>,
}

/// What a day's state of a subscription needs of its latest transaction ([`States::state`]):
/// the rows themselves were 1 KB each, a hundred thousand after a year at 10,000 downloads a
/// day.
struct Held {
    transaction_id: Box<str>,
    purchase_ms: i64,
    expires_ms: Option<i64>,
    revoked_ms: Option<i64>,
    /// The number of its cells and its State Metric Grouping when `Active`; `None` for another
    /// app's subscription or one without a price (family shared), which the file leaves out.
    row: Option<(u32, &'static str)>,
}

impl Books {
    /// Adds transactions in (purchase, id) order: the last one of a subscription is its latest.
    async fn add(
        &mut self,
        cat: &mut Catalog<'_>,
        groups: &mut Groups,
        ctx: &Ctx,
        bought: Vec<(TransactionRow, Option<String>)>,
    ) -> Result<()> {
        for (tx, platform) in bought {
            let row = if tx.app_id != ctx.app_id || price_milli(&tx).is_none() {
                None
            } else {
                let grouping = match Offer::of(tx.payload.json()) {
                    None => "Standard price",
                    Some(o) => offer_pricing(&o),
                };
                let c = subscription_cells(cat, groups, &tx, platform.as_deref()).await?;
                let n = match self.numbers.get(&c) {
                    Some(&n) => n,
                    None => {
                        let n = self.cells.len() as u32;
                        self.numbers.insert(c.clone(), n);
                        self.cells.push(c);
                        n
                    }
                };
                Some((n, grouping))
            };
            let held = Held {
                transaction_id: tx.transaction_id.into(),
                purchase_ms: tx.purchase_ms,
                expires_ms: tx.expires_ms,
                revoked_ms: tx.revoked_ms,
                row,
            };
            self.latest.insert(tx.original_transaction_id.into(), held);
        }
        Ok(())
    }

    /// The subscriptions on the books at the end of `states`' day by their cells (see the module
    /// doc).
    fn rows(&self, states: &States) -> DayRows {
        let mut counts: HashMap<(u32, &str, &str), i64> = HashMap::new();
        for h in self.latest.values() {
            let Some((n, active)) = h.row else {
                continue;
            };
            let state = states.state(&h.transaction_id, h.purchase_ms, h.expires_ms, h.revoked_ms);
            let (metric, grouping) = match state {
                State::Lapsed => continue,
                State::Grace => ("Grace period", ""),
                State::BillingRetry => ("Billing retry", ""),
                State::Active => ("Active", active),
            };
            *counts.entry((n, metric, grouping)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((n, metric, grouping), count)| {
                let mut c = self.cells[n as usize].clone();
                c.extend([
                    ("State Metric", metric.to_string()),
                    ("State Metric Grouping", grouping.to_string()),
                ]);
                (c, count)
            })
            .collect()
    }
}

/// (Event Group, Event Name, Plan Change Type, Cancellation Reason) of a notification about a
/// transaction, `None` for notifications that are no subscription event.
pub(crate) fn event_names(
    n: &NotificationRow,
    offer: Option<&Offer>,
) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    let pricing = offer.map(offer_pricing);
    Some(match (n.notification_type.as_str(), n.subtype.as_deref()) {
        ("SUBSCRIBED", _) if offer.is_some() => match pricing {
            Some("Free trial") => ("Offer start", "Free trial start activation", "", ""),
            Some("Pay up front") => ("Offer start", "Pay up front start activation", "", ""),
            _ => ("Offer start", "Pay as you go start activation", "", ""),
        },
        ("SUBSCRIBED", Some("RESUBSCRIBE")) => ("Subscription start", "Reactivation", "", ""),
        ("SUBSCRIBED", _) => ("Subscription start", "Full price start activation", "", ""),
        ("DID_RENEW", Some("BILLING_RECOVERY")) => {
            ("Renewal", "Full price renewal from billing retry", "", "")
        }
        ("DID_RENEW", _) if offer.is_some() => ("Renewal", "Offer renewal", "", ""),
        ("DID_RENEW", _) => ("Renewal", "Full price renewal", "", ""),
        ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => (
            "Enter billing issue",
            "Grace period from full price",
            "",
            "",
        ),
        ("DID_FAIL_TO_RENEW", _) => (
            "Enter billing issue",
            "Billing retry from full price",
            "",
            "",
        ),
        ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED")) => {
            ("Cancellation", "Auto-renew turned off", "", "Other")
        }
        ("DID_CHANGE_RENEWAL_PREF", Some("UPGRADE")) => ("Plan change", "Upgrade", "Upgrade", ""),
        ("DID_CHANGE_RENEWAL_PREF", Some("DOWNGRADE")) => {
            ("Plan change", "Downgrade", "Downgrade", "")
        }
        ("EXPIRED", Some("BILLING_RETRY")) => ("Churn", "Billing churn", "", "Billing issue"),
        ("EXPIRED", _) => ("Churn", "Voluntary churn", "", ""),
        ("REFUND", _) => ("Refund", "Refund", "", ""),
        _ => return None,
    })
}

pub(super) async fn event(store: &Store, ctx: &Ctx, t: &mut Table) -> Result<()> {
    let mut groups = Groups::new();
    let mut day = ctx.first;
    while day <= ctx.last {
        let rows = match kept_in_turn(store, &EVENT_DAYS, &ctx.app_id, day).await? {
            (Some(rows), _, _) => rows,
            (None, key, _turn) => keep(
                &EVENT_DAYS,
                key,
                event_of_day(store, &mut groups, ctx, day).await?,
            ),
        };
        add_day(ctx, t, day, &rows);
        day = day.tomorrow()?;
    }
    Ok(())
}

/// The day's notifications of the app as subscription events, by their cells.
async fn event_of_day(store: &Store, groups: &mut Groups, ctx: &Ctx, day: Date) -> Result<DayRows> {
    let d = Day::new(day);
    // One catalogue per day: it reads the day's notified transactions once.
    let mut cat = Catalog::new(store);
    cat.notified_customers(d).await?;
    let mut rows: HashMap<Cells, i64> = HashMap::new();
    for n in store
        .report_notifications(ENVIRONMENT, d.start, d.end)
        .await?
    {
        let Some(id) = n
            .transaction_id
            .as_deref()
            .filter(|_| n.app_id == ctx.app_id)
        else {
            continue;
        };
        let Some(tx) = cat.notified(d, id).await? else {
            continue;
        };
        if tx.product_type != "AUTO_RENEWABLE" || price_milli(&tx).is_none() {
            continue;
        }
        let offer = Offer::of(tx.payload.json());
        let Some((group, name, plan, reason)) = event_names(&n, offer.as_ref()) else {
            continue;
        };
        let customer = cat.customer(tx.customer_id).await?;
        let platform = common::platform(customer.as_ref()).map(str::to_string);
        let mut c = subscription_cells(&mut cat, groups, &tx, platform.as_deref()).await?;
        c.extend([
            ("Event Group", group.to_string()),
            ("Event Name", name.to_string()),
            ("Plan Change Type", plan.to_string()),
            ("Cancellation Reason", reason.to_string()),
        ]);
        *rows.entry(c).or_default() += 1;
    }
    Ok(rows.into_iter().collect())
}
