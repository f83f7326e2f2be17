//! `fail-renewal`: the next renewal attempt fails, at the renewal date (or now, ending the
//! period): §7 DID_FAIL_TO_RENEW · DID_FAIL_TO_RENEW/GRACE_PERIOD; the grace period's end
//! (GRACE_PERIOD_EXPIRED) as the clock passes it. Billing retry and grace count from the
//! expiry instant.

use super::transaction_id;
use crate::commerce::catalog::{self, Period};
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome, SubCtx, status_name};
use crate::commerce::events::EventArgs;
use crate::commerce::state::{NextEvent, PendingFailure};
use crate::models::{NotificationTypeV2, Subtype};

pub struct FailRenewal {
    id: String,
    grace: Option<bool>,
    now: bool,
}

impl FailRenewal {
    pub fn parse(a: &EventArgs) -> EvResult<FailRenewal> {
        Ok(FailRenewal {
            id: transaction_id(a, "fail-renewal")?,
            grace: a.grace_period,
            now: a.now.unwrap_or(false),
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.fail_renewal(&mut ctx, self.grace, self.now, at).await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// The renewal attempt at the end of the period fails: billing retry, with or without a
    /// grace period, both counted from the expiry instant (`expiresDate`, which the clock has
    /// reached: the scheduler runs this at it, `fail-renewal --now` ends the period first).
    pub(crate) async fn fail(
        &mut self,
        ctx: &mut SubCtx,
        f: PendingFailure,
        at: i64,
    ) -> EvResult<()> {
        let sandbox = ctx.env.is_sandbox();
        let period = Period::from_asc(&ctx.st.period).unwrap_or(Period::OneMonth);
        let (enabled, days) =
            catalog::grace_period(&mut self.tx, &ctx.app, sandbox, period).await?;
        let grace = f.grace.unwrap_or(enabled);
        let expiry = ctx.sub.expires_ms.min(at);
        ctx.st.in_billing_retry = true;
        ctx.st.expiration_intent = Some(2);
        ctx.st.retry_ends_ms =
            Some(expiry + catalog::days_ms(catalog::BILLING_RETRY_DAYS, sandbox));
        let subtype = if grace {
            ctx.st.grace_expires_ms = Some(expiry + catalog::days_ms(days, sandbox));
            ctx.st.next_event = Some(NextEvent::GraceEnd);
            ctx.sub.status = 4;
            Some(Subtype::GracePeriod)
        } else {
            ctx.st.grace_expires_ms = None;
            ctx.st.next_event = Some(NextEvent::RetryEnd);
            ctx.sub.status = 3;
            None
        };
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::DidFailToRenew,
            subtype,
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// The grace period ends; billing retry continues (GRACE_PERIOD_EXPIRED).
    pub async fn step_grace_end(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        ctx.sub.status = 3;
        ctx.st.next_event = Some(NextEvent::RetryEnd);
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::GracePeriodExpired,
            None,
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// `fail-renewal`: the next renewal attempt fails (now, with `now`).
    pub async fn fail_renewal(
        &mut self,
        ctx: &mut SubCtx,
        grace: Option<bool>,
        now: bool,
        at: i64,
    ) -> EvResult<()> {
        if ctx.sub.status != 1 {
            return Err(EventError::conflict(format!(
                "the subscription is {} (status {}); only an active subscription can fail to renew",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        let f = PendingFailure { grace };
        if now {
            self.end_period_now(ctx, at).await?;
            return self.fail(ctx, f, at).await;
        }
        ctx.st.pending_failure = Some(f);
        self.save_ctx(ctx, at).await?;
        Ok(())
    }
}
