//! `auto-renew`: the customer turns auto-renew on or off (§7
//! DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_ENABLED · AUTO_RENEW_DISABLED).

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome, SubCtx};
use crate::commerce::events::EventArgs;
use crate::models::{NotificationTypeV2, Subtype};

pub struct AutoRenew {
    id: String,
    enabled: bool,
}

impl AutoRenew {
    pub fn parse(a: &EventArgs) -> EvResult<AutoRenew> {
        Ok(AutoRenew {
            id: transaction_id(a, "auto-renew")?,
            enabled: a
                .enabled
                .ok_or_else(|| EventError::bad("auto-renew needs enabled: true|false"))?,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.set_auto_renew(&mut ctx, self.enabled, at).await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// `auto-renew` on/off (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_ENABLED|AUTO_RENEW_DISABLED).
    pub async fn set_auto_renew(
        &mut self,
        ctx: &mut SubCtx,
        enabled: bool,
        at: i64,
    ) -> EvResult<()> {
        if ctx.st.auto_renew_status == enabled {
            return Err(EventError::conflict(format!(
                "auto-renew is already {}",
                if enabled { "on" } else { "off" }
            )));
        }
        if enabled && !matches!(ctx.sub.status, 1 | 3 | 4) {
            return Err(EventError::conflict(
                "the subscription has expired; a new purchase resubscribes",
            ));
        }
        ctx.st.auto_renew_status = enabled;
        if enabled && ctx.st.pending_expire == Some(1) {
            ctx.st.pending_expire = None;
        }
        if enabled && ctx.st.expiration_intent == Some(1) {
            ctx.st.expiration_intent = None;
        }
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        let subtype = if enabled {
            Subtype::AutoRenewEnabled
        } else {
            Subtype::AutoRenewDisabled
        };
        self.emit_sub(
            ctx,
            NotificationTypeV2::DidChangeRenewalStatus,
            Some(subtype),
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }
}
