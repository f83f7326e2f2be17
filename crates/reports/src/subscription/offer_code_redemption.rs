//! SUBSCRIPTION_OFFER_CODE_REDEMPTION / SUMMARY / DAILY (Subscription Offer Code Redemption
//! report 1_0, 9 columns, reports-formats.md §2.4): offer codes redeemed on the reporting day,
//! by subscription, offer reference name, code and territory.
//!
//! A redemption is a SUBSCRIBED notification whose transaction carries an offer code
//! (`offerType` 3), or an OFFER_REDEEMED notification whose renewal info (or, for an immediate
//! upgrade, transaction) does. This is the one file where Apple tells codes apart: Offer
//! Reference Name is the offer code's `name` and Offer Code the custom code redeemed
//! (`BLACKFRIDAY30`, `MOTHERSDAY30`), empty for one-time-use codes (§2.4; forum post 6).
//! Date is written `YYYY-MM-DD` like the other subscription files (not captured; open question 9).

use crabapple_storekit::ledger::LedgerReports;
use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use super::common::{
    Catalog, Day, ENVIRONMENT, Offer, OfferKind, Product, cell, notification_renewal_info,
    storefront, tsv,
};
use crate::storefronts::alpha2;

pub const HEADER_1_0: &str = "Date\tApp Name\tApp Apple ID\tSubscription Name\tSubscription Apple ID\tOffer Reference Name\tOffer Code\tTerritory\tRedemptions";

pub(super) async fn render(cat: &mut Catalog<'_>, day: Day) -> Result<Option<String>> {
    let notes = cat
        .store
        .report_notifications(ENVIRONMENT, day.start, day.end)
        .await?;
    let mut groups: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for n in &notes {
        let redeemed = matches!(
            n.notification_type.as_str(),
            "SUBSCRIBED" | "OFFER_REDEEMED"
        );
        let Some(id) = n.transaction_id.as_deref().filter(|_| redeemed) else {
            continue;
        };
        let Some(t) = cat.notified(day, id).await? else {
            continue;
        };
        let renewal = (n.notification_type == "OFFER_REDEEMED")
            .then(|| notification_renewal_info(n))
            .flatten();
        let code = |v: &Value| Offer::of(v).filter(|o| o.kind == OfferKind::OfferCode);
        let (offer, product_id) = match renewal.as_ref().and_then(|r| code(r).map(|o| (o, r))) {
            Some((o, r)) => {
                let pid = r
                    .get("autoRenewProductId")
                    .and_then(Value::as_str)
                    .unwrap_or(&t.product_id)
                    .to_string();
                (o, pid)
            }
            None => match code(t.payload.json()) {
                Some(o) => (o, t.product_id.clone()),
                None => continue,
            },
        };
        let names = cat.offer_code(&offer.identifier).await?;
        let app_name = cat.app_name(&t.app_id).await?;
        let product = cat
            .product(&product_id)
            .await?
            .unwrap_or_else(|| Product::fallback(&t));
        let key = vec![
            day.date.to_string(),
            cell(&app_name),
            t.app_id.clone(),
            cell(&product.name),
            product.apple_id,
            cell(&names.reference_name),
            cell(&names.code),
            alpha2(&storefront(&t)).to_string(),
        ];
        *groups.entry(key).or_default() += 1;
    }
    Ok(tsv(
        HEADER_1_0,
        groups.into_iter().map(|(mut key, n)| {
            key.push(n.to_string());
            key
        }),
    ))
}
