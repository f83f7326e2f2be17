//! SUBSCRIPTION_EVENT / SUMMARY / DAILY (Subscription Event report 1_3, 29 columns,
//! reports-formats.md §2.4): the day's subscription events, one row per event and grouping key
//! (every other column) with its Quantity.
//!
//! Events come from the day's notifications (the outbox keeps Apple's type/subtype for every
//! commerce event) and the transactions they carry. Apple's event names, from the values seen in
//! §2.4 and Apple's list (truncated there; names marked * are crabapple's reading of it):
//!
//! | notification | event |
//! |---|---|
//! | SUBSCRIBED (any subtype) with an introductory / offer-code / promotional* / win-back* offer | Start Introductory Offer · Start Offer Code · Start Promotional Offer* · Start Win-Back Offer* |
//! | SUBSCRIBED/INITIAL_BUY · SUBSCRIBED/RESUBSCRIBE without offer | Subscribe · Reactivate (Days Canceled = days since the last period ended) |
//! | DID_RENEW after an offer period | Paid Subscription from Introductory Offer · Paid Subscription from Promotional Offer* · Paid Subscription from Offer Code* |
//! | DID_RENEW into an offer redeemed while subscribed | Introductory Price from Paid Subscription (seen) · Promotional Offer from Paid Subscription* · Offer Code from Paid Subscription* |
//! | DID_RENEW to another product of the group | Upgrade · Downgrade · Crossgrade (by `groupLevel`; Previous Subscription columns) |
//! | DID_RENEW otherwise | Renew |
//! | DID_RENEW/BILLING_RECOVERY | Renewal from Billing Retry |
//! | DID_FAIL_TO_RENEW · DID_FAIL_TO_RENEW/GRACE_PERIOD | Billing Retry from Paid Subscription · Grace Period from Paid Subscription* |
//! | DID_CHANGE_RENEWAL_PREF/UPGRADE, OFFER_REDEEMED/UPGRADE (immediate) | Upgrade |
//! | DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED | Cancel (Cancellation Reason `Other`*) |
//! | EXPIRED/BILLING_RETRY | Canceled from Billing Retry (`Billing issue`*) |
//! | EXPIRED/PRICE_INCREASE · EXPIRED/PRODUCT_NOT_FOR_SALE | Cancel (`Price increase`* · `Product was not available`*) |
//! | REFUND | Refund |
//!
//! A voluntary expiry (EXPIRED/VOLUNTARY) is a Cancel only when auto-renew was not turned off
//! before in that period (`expire --now`); otherwise its Cancel was counted that day. Marketing Opt-In, Preserved Pricing, Client, State and Paid Service Days
//! Recovered stay empty (crabapple records none of them).

use crabapple_storekit::ledger::LedgerReports;
use std::collections::BTreeMap;

use anyhow::Result;
use crabapple_storekit::ledger::{NotificationRow, TransactionRow};

use super::common::{
    Catalog, DAY_MS, Day, ENVIRONMENT, Offer, OfferKind, cell, device, offer_type_columns,
    paid_periods_through, platform, price_milli, storefront, tsv, ymd,
};
use crate::storefronts::alpha2;

/// The header line of version 1_3 (column 15 named as the newer help copy and the fixtures name
/// it, reports-formats.md open question 3; also served as 1_4, open question 2).
pub const HEADER_1_3: &str = "Event Date\tEvent\tApp Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tSubscription Offer Type\tSubscription Offer Duration\tMarketing Opt-In\tMarketing Opt-In Duration\tPreserved Pricing\tProceeds Reason\tSubscription Offer Name\tPromotional Offer ID\tConsecutive Paid Periods\tOriginal Start Date\tDevice\tClient\tState\tCountry\tPrevious Subscription Name\tPrevious Subscription Apple ID\tDays Before Canceling\tCancellation Reason\tDays Canceled\tQuantity\tPaid Service Days Recovered";

/// One event before grouping.
struct Event {
    name: &'static str,
    /// The transaction the event is about.
    tx: TransactionRow,
    /// The product before an upgrade, downgrade or crossgrade.
    previous: Option<String>,
    cancellation_reason: &'static str,
    days_before_canceling: Option<i64>,
    days_canceled: Option<i64>,
}

pub(super) async fn render(cat: &mut Catalog<'_>, day: Day) -> Result<Option<String>> {
    let notes = cat
        .store
        .report_notifications(ENVIRONMENT, day.start, day.end)
        .await?;
    let mut groups: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for n in &notes {
        let Some(e) = event_of(cat, day, n).await? else {
            continue;
        };
        let key = columns(cat, day, &e).await?;
        *groups.entry(key).or_default() += 1;
    }
    Ok(tsv(
        HEADER_1_3,
        groups.into_iter().map(|(mut key, quantity)| {
            key.push(quantity.to_string());
            key.push(String::new());
            key
        }),
    ))
}

fn offer_kind(t: &TransactionRow) -> Option<OfferKind> {
    Offer::of(t.payload.json()).map(|o| o.kind)
}

async fn event_of(cat: &mut Catalog<'_>, day: Day, n: &NotificationRow) -> Result<Option<Event>> {
    let Some(id) = &n.transaction_id else {
        return Ok(None);
    };
    let Some(tx) = cat.notified(day, id).await? else {
        return Ok(None);
    };
    if tx.product_type != "AUTO_RENEWABLE" || price_milli(&tx).is_none() {
        return Ok(None);
    }
    let chain = cat.chain(&tx.original_transaction_id).await?.to_vec();
    let prev = chain
        .iter()
        .rfind(|c| c.purchase_ms < tx.purchase_ms)
        .cloned();
    let original_ms = chain.first().map_or(tx.purchase_ms, |c| c.purchase_ms);
    let mut e = Event {
        name: "",
        tx: tx.clone(),
        previous: None,
        cancellation_reason: "",
        days_before_canceling: None,
        days_canceled: None,
    };
    let cancel = |e: &mut Event, name, reason| {
        e.name = name;
        e.cancellation_reason = reason;
        e.days_before_canceling = Some((n.signed_date_ms - original_ms) / DAY_MS);
    };
    match (n.notification_type.as_str(), n.subtype.as_deref()) {
        ("SUBSCRIBED", sub) => {
            e.name = match offer_kind(&tx) {
                Some(OfferKind::Introductory) => "Start Introductory Offer",
                Some(OfferKind::OfferCode) => "Start Offer Code",
                Some(OfferKind::Promotional) => "Start Promotional Offer",
                Some(OfferKind::WinBack) => "Start Win-Back Offer",
                None if sub == Some("RESUBSCRIBE") => "Reactivate",
                None => "Subscribe",
            };
            if sub == Some("RESUBSCRIBE") {
                e.days_canceled = prev
                    .as_ref()
                    .and_then(|p| p.expires_ms)
                    .map(|x| (tx.purchase_ms - x).max(0) / DAY_MS);
            }
        }
        ("DID_RENEW", Some("BILLING_RECOVERY")) => e.name = "Renewal from Billing Retry",
        ("DID_RENEW", _) => {
            let (before, now) = (prev.as_ref().and_then(offer_kind), offer_kind(&tx));
            e.name = match prev.as_ref() {
                Some(p) if p.product_id != tx.product_id => {
                    e.previous = Some(p.product_id.clone());
                    change(cat, &p.product_id, &tx.product_id).await?
                }
                _ => match (before, now) {
                    (Some(OfferKind::Introductory), None) => {
                        "Paid Subscription from Introductory Offer"
                    }
                    (Some(OfferKind::Promotional | OfferKind::WinBack), None) => {
                        "Paid Subscription from Promotional Offer"
                    }
                    (Some(OfferKind::OfferCode), None) => "Paid Subscription from Offer Code",
                    (None, Some(OfferKind::Introductory)) => {
                        "Introductory Price from Paid Subscription"
                    }
                    (None, Some(OfferKind::Promotional | OfferKind::WinBack)) => {
                        "Promotional Offer from Paid Subscription"
                    }
                    (None, Some(OfferKind::OfferCode)) => "Offer Code from Paid Subscription",
                    _ => "Renew",
                },
            };
        }
        ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => {
            e.name = "Grace Period from Paid Subscription"
        }
        ("DID_FAIL_TO_RENEW", _) => e.name = "Billing Retry from Paid Subscription",
        ("DID_CHANGE_RENEWAL_PREF" | "OFFER_REDEEMED", Some("UPGRADE")) => {
            e.name = "Upgrade";
            e.previous = prev
                .as_ref()
                .filter(|p| p.product_id != tx.product_id)
                .map(|p| p.product_id.clone());
        }
        ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED")) => {
            cancel(&mut e, "Cancel", "Other")
        }
        ("EXPIRED", Some("VOLUNTARY")) if !auto_renew_disabled(cat, n, &tx).await? => {
            cancel(&mut e, "Cancel", "Other")
        }
        ("EXPIRED", Some("BILLING_RETRY")) => {
            cancel(&mut e, "Canceled from Billing Retry", "Billing issue")
        }
        ("EXPIRED", Some("PRICE_INCREASE")) => cancel(&mut e, "Cancel", "Price increase"),
        ("EXPIRED", Some("PRODUCT_NOT_FOR_SALE")) => {
            cancel(&mut e, "Cancel", "Product was not available")
        }
        ("REFUND", _) => e.name = "Refund",
        _ => {}
    }
    Ok((!e.name.is_empty()).then_some(e))
}

/// Whether auto-renew was turned off (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED) during the
/// period that a voluntary expiry ends: then the Cancel was counted that day, not again now.
async fn auto_renew_disabled(
    cat: &Catalog<'_>,
    n: &NotificationRow,
    tx: &TransactionRow,
) -> Result<bool> {
    let Some(customer) = n.customer_id else {
        return Ok(false);
    };
    let notes = cat
        .store
        .report_customer_notifications(customer, n.signed_date_ms)
        .await?;
    Ok(notes.iter().any(|m| {
        m.seq < n.seq
            && m.transaction_id == n.transaction_id
            && m.signed_date_ms >= tx.purchase_ms
            && m.notification_type == "DID_CHANGE_RENEWAL_STATUS"
            && m.subtype.as_deref() == Some("AUTO_RENEW_DISABLED")
    }))
}

/// Upgrade, Downgrade or Crossgrade from one product of a group to another: by `groupLevel`,
/// 1 being the highest level of service.
async fn change(cat: &mut Catalog<'_>, from: &str, to: &str) -> Result<&'static str> {
    let from = cat.product(from).await?.map_or(0, |p| p.level);
    let to = cat.product(to).await?.map_or(0, |p| p.level);
    Ok(match to.cmp(&from) {
        std::cmp::Ordering::Less => "Upgrade",
        std::cmp::Ordering::Greater => "Downgrade",
        std::cmp::Ordering::Equal => "Crossgrade",
    })
}

/// Every column but Quantity and Paid Service Days Recovered.
async fn columns(cat: &mut Catalog<'_>, day: Day, e: &Event) -> Result<Vec<String>> {
    let t = &e.tx;
    let previous = match &e.previous {
        Some(p) => cat.product(p).await?.map(|p| (p.name, p.apple_id)),
        None => None,
    };
    let offer = Offer::of(t.payload.json());
    let cols = cat.offer_columns(offer.as_ref()).await?;
    let mut row = vec![day.date.to_string(), e.name.to_string()];
    row.extend(cat.subscription_columns(t).await?);
    let customer = cat.customer(t.customer_id).await?;
    let (_, reason) = cat.proceeds(t, price_milli(t).unwrap_or(0)).await?;
    let periods = paid_periods_through(cat.chain(&t.original_transaction_id).await?, t);
    let original = t
        .payload
        .json()
        .get("originalPurchaseDate")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(t.purchase_ms);
    let opt = |v: Option<i64>| v.map(|d| d.to_string()).unwrap_or_default();
    let (prev_name, prev_id) = previous.unwrap_or_default();
    row.extend(offer_type_columns(offer.as_ref()));
    row.extend([
        String::new(),
        String::new(),
        String::new(),
        reason.to_string(),
        cell(&cols.name),
        cell(&cols.id),
        periods.to_string(),
        ymd(original),
        device(platform(customer.as_ref())).to_string(),
        String::new(),
        String::new(),
        alpha2(&storefront(t)).to_string(),
        cell(&prev_name),
        prev_id,
        opt(e.days_before_canceling),
        e.cancellation_reason.to_string(),
        opt(e.days_canceled),
    ]);
    Ok(row)
}
