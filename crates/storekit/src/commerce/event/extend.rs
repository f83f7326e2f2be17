//! `extend`: a subscription's renewal date moves later (§6 renewal-date extension rules; §7
//! RENEWAL_EXTENDED), and the mass extension the App Store Server API schedules
//! (RENEWAL_EXTENDED per success, RENEWAL_EXTENSION/FAILURE per failure,
//! RENEWAL_EXTENSION/SUMMARY at the end).

use crate::ledger::LedgerTx;
use serde_json::{Value, json};

use crate::ledger::{MassExtensionRow, SubscriptionRow, TransactionRow};

use super::transaction_id;
use crate::commerce::Env;
use crate::commerce::catalog::{self, DAY_MS};
use crate::commerce::engine::{
    Content, Ev, EvResult, EventError, Outcome, SubCtx, app_apple_id, status_name,
};
use crate::commerce::events::EventArgs;
use crate::commerce::state::NextEvent;
use crate::models::{ApiError, NotificationTypeV2, Subtype, Summary};

pub struct Extend {
    id: String,
    days: i64,
}

impl Extend {
    pub fn parse(a: &EventArgs) -> EvResult<Extend> {
        let days = a
            .days
            .ok_or_else(|| EventError::bad("extend needs days (1–90)"))?;
        if !(1..=90).contains(&days) {
            return Err(EventError::bad("days is 1–90"));
        }
        Ok(Extend {
            id: transaction_id(a, "extend")?,
            days,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        let (_, eff) = ev.extend(&mut ctx, self.days, at, true).await?;
        let mut o = ev.sub_outcome(&ctx.sub.original_transaction_id).await?;
        o.extra.insert("effectiveDate".into(), json!(eff));
        Ok(o)
    }
}

impl Ev<'_> {
    /// Extends one subscription's renewal date (RENEWAL_EXTENDED). Apple's rules
    /// (extending-the-renewal-date-for-auto-renewable-subscriptions): up to 90 days, at most
    /// twice per 365 days, active subscriptions with at least one paid period, not in a free
    /// offer period, not family-shared.
    pub async fn extend(
        &mut self,
        ctx: &mut SubCtx,
        days: i64,
        at: i64,
        notify: bool,
    ) -> EvResult<(TransactionRow, i64)> {
        if ctx.sub.ownership == "FAMILY_SHARED" {
            return Err(EventError::api(
                ApiError::FamilySharedSubscriptionExtensionIneligible,
                "family-shared subscriptions are extended with the purchaser's",
            ));
        }
        if ctx.sub.status != 1 || ctx.sub.expires_ms <= at {
            return Err(EventError::api(
                ApiError::SubscriptionExtensionIneligible,
                format!(
                    "the subscription is {} (status {})",
                    status_name(ctx.sub.status),
                    ctx.sub.status
                ),
            ));
        }
        let mut latest = self.latest(ctx).await?;
        let free = latest
            .payload
            .get("offerDiscountType")
            .as_ref()
            .and_then(Value::as_str)
            == Some("FREE_TRIAL");
        if free || ctx.st.paid_periods == 0 {
            return Err(EventError::api(
                ApiError::SubscriptionExtensionIneligible,
                "the subscription is in a free offer period or has no paid period yet",
            ));
        }
        let year_ago = at - 365 * DAY_MS;
        if ctx.st.extensions.iter().filter(|t| **t > year_ago).count() >= 2 {
            return Err(EventError::api(
                ApiError::SubscriptionMaxExtension,
                "the subscription was already extended twice in the last 365 days",
            ));
        }
        let delta = catalog::days_ms(days, ctx.env.is_sandbox());
        let new_expires = ctx.sub.expires_ms + delta;
        latest.payload.edit(|m| {
            m.insert("expiresDate".into(), json!(new_expires));
        });
        latest.expires_ms = Some(new_expires);
        self.update_txn(&mut latest, at).await?;
        ctx.sub.expires_ms = new_expires;
        ctx.st.extensions.push(at);
        ctx.st.next_event = Some(NextEvent::Renew);
        self.save_ctx(ctx, at).await?;
        if notify {
            self.emit_sub(
                ctx,
                NotificationTypeV2::RenewalExtended,
                None,
                at,
                &latest,
                None,
            )
            .await?;
        }
        Ok((latest, new_expires))
    }

    /// Runs a mass extension: RENEWAL_EXTENDED per success, RENEWAL_EXTENSION/FAILURE per
    /// failure, RENEWAL_EXTENSION/SUMMARY at the end.
    pub async fn run_mass_extension(
        &mut self,
        m: &mut MassExtensionRow,
        subs: &[SubscriptionRow],
        at: i64,
    ) -> EvResult<()> {
        let days = m
            .request
            .get("extendByDays")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let storefronts: Option<Vec<String>> = m
            .request
            .get("storefrontCountryCodes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
        let (mut ok, mut failed) = (0, 0);
        for s in subs {
            if s.status != 1 && s.status != 4 && s.status != 3 {
                continue;
            }
            if let Some(sf) = &storefronts
                && !sf.contains(&s.storefront)
            {
                continue;
            }
            let mut ctx = self.sub_ctx(&s.original_transaction_id).await?;
            match self.extend(&mut ctx, days, at, true).await {
                Ok(_) => ok += 1,
                Err(e) if e.api.is_some() && e.status < 500 => {
                    failed += 1;
                    let latest = self.latest(&ctx).await?;
                    self.emit_sub(
                        &ctx,
                        NotificationTypeV2::RenewalExtension,
                        Some(Subtype::Failure),
                        at,
                        &latest,
                        None,
                    )
                    .await?;
                }
                Err(e) => return Err(e),
            }
        }
        let app = self.app_by_id(&m.app_id).await?;
        let env = Env::from_db(&m.environment);
        let summary = Summary {
            request_identifier: Some(m.request_identifier.clone()),
            environment: Some(env.wire()),
            app_apple_id: app_apple_id(&app),
            bundle_id: Some(app.bundle_id.clone()),
            product_id: Some(m.product_id.clone()),
            storefront_country_codes: storefronts,
            failed_count: Some(failed),
            succeeded_count: Some(ok),
        };
        self.emit(
            &app,
            env,
            NotificationTypeV2::RenewalExtension,
            Some(Subtype::Summary),
            at,
            Content::Summary(summary),
            None,
        )
        .await?;
        m.succeeded = ok;
        m.failed = failed;
        m.complete_ms = Some(at);
        m.due_ms = None;
        self.tx.ledger_put_mass_extension(m).await?;
        Ok(())
    }
}
