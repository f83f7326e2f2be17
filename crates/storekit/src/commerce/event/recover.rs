//! `recover`: the customer fixes billing during billing retry or the grace period (§7
//! DID_RENEW/BILLING_RECOVERY).

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome, SubCtx, status_name};
use crate::commerce::events::EventArgs;

pub struct Recover {
    id: String,
}

impl Recover {
    pub fn parse(a: &EventArgs) -> EvResult<Recover> {
        Ok(Recover {
            id: transaction_id(a, "recover")?,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.recover(&mut ctx, at).await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// `recover`: the customer fixes billing during retry (DID_RENEW/BILLING_RECOVERY).
    pub async fn recover(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        if !matches!(ctx.sub.status, 3 | 4) {
            return Err(EventError::conflict(format!(
                "the subscription is {} (status {}); recovery needs billing retry (3) or grace period (4)",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        self.renew(ctx, at, true).await
    }
}
