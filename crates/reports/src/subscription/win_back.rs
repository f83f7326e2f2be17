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

use crabapple_storekit::ledger::LedgerReports;
use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;

use super::common::{Catalog, DAY_MS, Day, ENVIRONMENT, price_milli, storefront, tsv};
use super::summary::{State, States};
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
        .report_latest_subscription_transactions(ENVIRONMENT, i64::MIN, day.end)
        .await?;
    let states = States::load(cat, day.end).await?;
    let mut live: HashSet<(i64, String)> = HashSet::new();
    for (t, _) in &latest {
        if states.of(t) != State::Lapsed {
            live.insert((t.customer_id, t.group_id.clone().unwrap_or_default()));
        }
    }
    let tenures: HashMap<String, (i64, Option<i64>)> = cat
        .store
        .report_subscription_tenures(ENVIRONMENT, day.end)
        .await?
        .into_iter()
        .map(|(original, paid_days, win_back)| (original, (paid_days, win_back)))
        .collect();
    let mut groups: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for (t, _) in &latest {
        let group = t.group_id.clone().unwrap_or_default();
        if states.of(t) != State::Lapsed
            || price_milli(t).is_none()
            || live.contains(&(t.customer_id, group.clone()))
        {
            continue;
        }
        let ended = t.revoked_ms.or(t.expires_ms).unwrap_or(t.purchase_ms);
        let (paid_days, last_win_back) = tenures
            .get(&t.original_transaction_id)
            .copied()
            .unwrap_or_default();
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
