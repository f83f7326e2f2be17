//! `expire`: the subscription expires for a reason (an `expirationIntent`) at the renewal date
//! (or now, ending the period): §7 EXPIRED/VOLUNTARY · BILLING_RETRY · PRICE_INCREASE ·
//! PRODUCT_NOT_FOR_SALE · (none: other). A voluntary expiry turns auto-renew off first
//! (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED). The scheduler's expirations use it too.

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome, SubCtx, status_name};
use crate::commerce::events::EventArgs;
use crate::models::{NotificationTypeV2, Subtype};

pub struct Expire {
    id: String,
    intent: i64,
    now: bool,
}

impl Expire {
    pub fn parse(a: &EventArgs) -> EvResult<Expire> {
        Ok(Expire {
            id: transaction_id(a, "expire")?,
            intent: expire_intent(a.reason.as_deref())?,
            now: a.now.unwrap_or(false),
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.expire_event(&mut ctx, self.intent, self.now, at).await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// The subscription expires with an expiration intent (EXPIRED/<subtype>).
    pub async fn expire(&mut self, ctx: &mut SubCtx, intent: i64, at: i64) -> EvResult<()> {
        ctx.sub.status = 2;
        ctx.st.expiration_intent = Some(intent);
        ctx.st.in_billing_retry = false;
        ctx.st.next_event = None;
        ctx.st.pending_expire = None;
        ctx.st.pending_failure = None;
        if matches!(intent, 1 | 3 | 4) {
            ctx.st.auto_renew_status = false;
        }
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::Expired,
            expiration_subtype(intent),
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// `expire`: at the end of the period (or now) the subscription expires for `intent`.
    pub async fn expire_event(
        &mut self,
        ctx: &mut SubCtx,
        intent: i64,
        now: bool,
        at: i64,
    ) -> EvResult<()> {
        if !matches!(ctx.sub.status, 1 | 3 | 4) {
            return Err(EventError::conflict(format!(
                "the subscription is already {} (status {})",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        if now {
            self.end_period_now(ctx, at).await?;
            return self.expire(ctx, intent, at).await;
        }
        ctx.st.pending_expire = Some(intent);
        // A voluntary expiry is the customer turning auto-renew off: DID_CHANGE_RENEWAL_STATUS/
        // AUTO_RENEW_DISABLED now, EXPIRED/VOLUNTARY at the end of the period (§7).
        if intent == 1 && ctx.st.auto_renew_status {
            return self.set_auto_renew(ctx, false, at).await;
        }
        self.save_ctx(ctx, at).await?;
        Ok(())
    }
}

fn expiration_subtype(intent: i64) -> Option<Subtype> {
    match intent {
        1 => Some(Subtype::Voluntary),
        2 => Some(Subtype::BillingRetry),
        3 => Some(Subtype::PriceIncrease),
        4 => Some(Subtype::ProductNotForSale),
        _ => None,
    }
}

/// `expirationIntent` from a reason name or number (§6: 1 cancelled, 2 billing error, 3 no
/// consent to a price increase, 4 product unavailable, 5 other).
fn expire_intent(r: Option<&str>) -> EvResult<i64> {
    Ok(match r.map(|s| s.to_ascii_lowercase().replace('_', "-")) {
        None => 1,
        Some(s) => match s.as_str() {
            "1" | "voluntary" | "cancelled" | "canceled" => 1,
            "2" | "billing-retry" | "billing-error" | "billing" => 2,
            "3" | "price-increase" => 3,
            "4" | "product-not-for-sale" | "product-not-available" => 4,
            "5" | "other" => 5,
            other => {
                return Err(EventError::bad(format!(
                    "unknown expiration reason '{other}' (voluntary, billing-retry, price-increase, product-not-for-sale, other)"
                )));
            }
        },
    })
}
