//! WIN_BACK_ELIGIBILITY / SUMMARY / DAILY (Win-back Eligibility report 1_0, 12 columns,
//! reports-formats.md §2.4): churned subscriptions as of the end of the reporting day, by
//! subscription, paid tenure, time since they lapsed, win-back history and territory; a row only
//! when it counts at least 5 (Apple's privacy threshold, §2.4).
//!
//! Churned: the subscription's latest transaction has lapsed (expired or refunded, out of grace
//! and billing retry) and the customer has no other live subscription in the group. The bucket
//! labels are crabapple's (Apple's values are not captured): months of paid service (30-day
//! months) and months since the last period ended, in `Less than 1 Month`, `1-2 Months`,
//! `3-5 Months`, `6-11 Months`, `12-23 Months`, `24 Months or More`; Has Previously Redeemed
//! Win-Back Offer `Yes`/`No`; Time Since Last Win-Back Offer in the same buckets, empty without
//! one. The file has no date column (none in Apple's table).

use std::collections::{BTreeMap, HashSet};

use anyhow::Result;

use super::common::{
    Catalog, DAY_MS, Day, ENVIRONMENT, Offer, OfferKind, is_paid, price_milli, storefront, tsv,
};
use super::summary::{State, state_at};
use crate::storefronts::alpha2;

pub const HEADER_1_0: &str = "App Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tSubscription Group ID\tStandard Subscription Duration\tPaid Subscription Tenure\tTime Since Last Subscribed\tHas Previously Redeemed Win-Back Offer\tTime Since Last Win-Back Offer\tTerritory\tChurned Subscription Count";

/// Apple shows a row only from this count on.
pub const MIN_COUNT: i64 = 5;

fn bucket(days: i64) -> &'static str {
    match days / 30 {
        0 => "Less than 1 Month",
        1..=2 => "1-2 Months",
        3..=5 => "3-5 Months",
        6..=11 => "6-11 Months",
        12..=23 => "12-23 Months",
        _ => "24 Months or More",
    }
}

pub(super) async fn render(cat: &mut Catalog<'_>, day: Day) -> Result<Option<String>> {
    let latest = cat
        .store
        .report_latest_subscription_transactions(ENVIRONMENT, day.end)
        .await?;
    let mut states = Vec::with_capacity(latest.len());
    let mut live: HashSet<(i64, String)> = HashSet::new();
    for t in &latest {
        let s = state_at(cat, t, day.end).await?;
        if s != State::Lapsed {
            live.insert((t.customer_id, t.group_id.clone().unwrap_or_default()));
        }
        states.push(s);
    }
    let mut groups: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (t, s) in latest.iter().zip(states) {
        let group = t.group_id.clone().unwrap_or_default();
        if s != State::Lapsed
            || price_milli(t).is_none()
            || live.contains(&(t.customer_id, group.clone()))
        {
            continue;
        }
        let ended = t.revoked_ms.or(t.expires_ms).unwrap_or(t.purchase_ms);
        let chain = cat.chain(&t.original_transaction_id).await?.to_vec();
        let paid_days: i64 = chain
            .iter()
            .filter(|c| is_paid(c) && !c.revoked)
            .map(|c| (c.expires_ms.unwrap_or(c.purchase_ms) - c.purchase_ms) / DAY_MS)
            .sum();
        let last_win_back = chain
            .iter()
            .filter(|c| Offer::of(&c.payload).is_some_and(|o| o.kind == OfferKind::WinBack))
            .map(|c| c.purchase_ms)
            .max();
        let mut key = cat.subscription_columns(t).await?;
        key.extend([
            bucket(paid_days).to_string(),
            bucket((day.end - ended).max(0) / DAY_MS).to_string(),
            if last_win_back.is_some() { "Yes" } else { "No" }.to_string(),
            last_win_back
                .map(|w| bucket((day.end - w) / DAY_MS).to_string())
                .unwrap_or_default(),
            alpha2(&storefront(t)).to_string(),
        ]);
        *groups.entry(key).or_default() += 1;
    }
    Ok(tsv(
        HEADER_1_0,
        groups
            .into_iter()
            .filter(|(_, n)| *n >= MIN_COUNT)
            .map(|(mut key, n)| {
                key.push(n.to_string());
                key
            }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenure_buckets() {
        assert_eq!(bucket(0), "Less than 1 Month");
        assert_eq!(bucket(31), "1-2 Months");
        assert_eq!(bucket(365), "12-23 Months");
        assert_eq!(bucket(800), "24 Months or More");
    }
}
