//! `renew`: the current period ends now and renews (§7 DID_RENEW; from billing retry
//! DID_RENEW/BILLING_RECOVERY); and the renewal the scheduler runs at the end of a period,
//! which renews, fails (DID_FAIL_TO_RENEW) or expires (EXPIRED/<intent>).

use serde_json::Value;

use super::transaction_id;
use crate::commerce::catalog::{self, Period};
use crate::commerce::engine::{Ev, EvResult, EventError, NewTxn, Outcome, SubCtx, status_name};
use crate::commerce::events::EventArgs;
use crate::commerce::state::{NextEvent, Offer};
use crate::models::{InAppOwnershipType, NotificationTypeV2, Subtype, TransactionReason};

pub struct Renew {
    id: String,
}

impl Renew {
    pub fn parse(a: &EventArgs) -> EvResult<Renew> {
        Ok(Renew {
            id: transaction_id(a, "renew")?,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.renew_now(&mut ctx, at).await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// The renewal at the end of a period: renews, fails, or expires (clock-driven).
    pub async fn step_renew(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        let sandbox = ctx.env.is_sandbox();
        if let Some(intent) = ctx.st.pending_expire {
            return self.expire(ctx, intent, at).await;
        }
        if !ctx.st.auto_renew_status {
            return self.expire(ctx, 1, at).await;
        }
        self.drop_withdrawn_increase(ctx, at).await?;
        if let Some(pi) = &ctx.st.price_increase
            && pi.requires_consent
            && pi.status == 0
            && pi.in_effect_at(at)
        {
            return self.expire(ctx, 3, at).await;
        }
        let next = self
            .find_product(&ctx.app, &ctx.st.auto_renew_product_id)
            .await?;
        let removed = next.as_ref().is_none_or(|p| {
            matches!(
                p.state.as_deref(),
                Some("REMOVED_FROM_SALE" | "DEVELOPER_REMOVED_FROM_SALE")
            )
        });
        if removed {
            return self.expire(ctx, 4, at).await;
        }
        if sandbox && ctx.st.renewals >= catalog::SANDBOX_MAX_RENEWALS {
            return self.expire(ctx, 1, at).await;
        }
        if let Some(f) = ctx.st.pending_failure.take() {
            return self.fail(ctx, f, at).await;
        }
        self.renew(ctx, at, false).await
    }

    /// A successful renewal starting at `at` (DID_RENEW, or DID_RENEW/BILLING_RECOVERY).
    pub async fn renew(&mut self, ctx: &mut SubCtx, at: i64, recovery: bool) -> EvResult<()> {
        let product = self
            .product(&ctx.app, &ctx.st.auto_renew_product_id.clone())
            .await?;
        let period = product.period.unwrap_or(Period::OneMonth);
        let sf = catalog::storefront(&ctx.sub.storefront).expect("known storefront");
        let latest = self.latest(ctx).await?;
        let orig_ms = latest
            .payload
            .get("originalPurchaseDate")
            .as_ref()
            .and_then(Value::as_i64)
            .unwrap_or(latest.purchase_ms);
        let mut unannounced = None;
        if product.product_id != ctx.sub.product_id {
            // A pending downgrade / crossgrade takes effect: the list price is the new product's.
            ctx.st.renewal_price = catalog::price(&mut self.tx, &product, sf, at).await?.0;
        } else {
            // App Store Connect's price changes in effect now (§5; price_change.rs).
            unannounced = self.list_price_at_renewal(ctx, &product, sf, at).await?;
        }
        let mut offer = ctx.st.renewal_offer().cloned();
        let price = match (&mut offer, ctx.st.price_increase.take()) {
            (Some(o), pi) => {
                ctx.st.price_increase = pi;
                o.periods_left -= 1;
                o.price
            }
            (None, Some(pi)) if (pi.status == 1 || !pi.requires_consent) && pi.in_effect_at(at) => {
                ctx.st.renewal_price = pi.price;
                pi.price
            }
            (None, pi) => {
                ctx.st.price_increase = pi;
                ctx.st.renewal_price
            }
        };
        let family = ctx.sub.ownership == "FAMILY_SHARED";
        // An offer redeemed for a later renewal (OFFER_REDEEMED) may be a FREE_TRIAL or
        // PAY_UP_FRONT period of its own duration.
        let expires = match offer.as_ref().and_then(Offer::fixed_duration) {
            Some(d) => {
                if let Some(o) = &mut offer {
                    o.periods_left = 0;
                }
                d.add(at, ctx.env.is_sandbox())
            }
            None => period.add(at, ctx.env.is_sandbox()),
        };
        let txn = self
            .insert_txn(
                &ctx.app,
                ctx.env,
                NewTxn {
                    customer: &ctx.customer,
                    product: &product,
                    original: Some((ctx.sub.original_transaction_id.clone(), orig_ms)),
                    purchase_ms: at,
                    expires_ms: Some(expires),
                    price: (!family).then(|| (price, ctx.st.currency.clone())),
                    quantity: 1,
                    reason: TransactionReason::Renewal,
                    offer: offer.as_ref(),
                    ownership: InAppOwnershipType::from_wire(&ctx.sub.ownership),
                    storefront: sf,
                },
            )
            .await?;
        ctx.st.offer = offer.filter(|o| o.periods_left > 0);
        ctx.sub.product_id = product.product_id.clone();
        ctx.sub.latest_transaction_id = txn.transaction_id.clone();
        ctx.sub.expires_ms = expires;
        ctx.sub.status = 1;
        ctx.st.period = period.asc().into();
        ctx.st.in_billing_retry = false;
        ctx.st.grace_expires_ms = None;
        ctx.st.retry_ends_ms = None;
        ctx.st.expiration_intent = None;
        ctx.st.next_event = Some(NextEvent::Renew);
        ctx.st.renewals += 1;
        if price > 0 {
            ctx.st.paid_periods += 1;
        }
        self.save_ctx(ctx, at).await?;
        let subtype = recovery.then_some(Subtype::BillingRecovery);
        self.emit_sub(ctx, NotificationTypeV2::DidRenew, subtype, at, &txn, None)
            .await?;
        if let Some(list) = unannounced {
            // An increase nobody was told about: announced now, charged from the next renewal.
            self.announce_list_increase(ctx, &product, list, expires, at)
                .await?;
        }
        Ok(())
    }

    /// `renew`: the period ends now and renews (the emulator's shortcut for the clock reaching
    /// the renewal date): the new period starts at the previous one's `expiresDate`.
    pub async fn renew_now(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        match ctx.sub.status {
            1 => {
                if !ctx.st.auto_renew_status {
                    return Err(EventError::conflict(
                        "auto-renew is off; turn it on (auto-renew --enabled) before renewing",
                    ));
                }
                self.end_period_now(ctx, at).await?;
                self.renew(ctx, at, false).await
            }
            3 | 4 => self.renew(ctx, at, true).await,
            s => Err(EventError::conflict(format!(
                "the subscription is {} (status {s}); a new purchase resubscribes",
                status_name(s)
            ))),
        }
    }
}
