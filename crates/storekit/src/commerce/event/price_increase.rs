//! `price-increase`: a price increase announced to the subscriber (§5 consent rules; §7
//! PRICE_INCREASE/PENDING · PRICE_INCREASE/ACCEPTED).

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome, SubCtx};
use crate::commerce::events::EventArgs;
use crate::commerce::state::PriceIncrease;
use crate::models::{NotificationTypeV2, Subtype};

pub struct PriceIncreaseEvent {
    id: String,
    price: Option<i64>,
    consent: bool,
    requires_consent: bool,
}

impl PriceIncreaseEvent {
    pub fn parse(a: &EventArgs) -> EvResult<PriceIncreaseEvent> {
        Ok(PriceIncreaseEvent {
            id: transaction_id(a, "price-increase")?,
            price: a.price,
            consent: a.consent.unwrap_or(false),
            requires_consent: a.requires_consent.unwrap_or(true),
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.price_increase(
            &mut ctx,
            self.price,
            self.consent,
            self.requires_consent,
            at,
        )
        .await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// `price-increase` (PRICE_INCREASE/PENDING|ACCEPTED).
    pub async fn price_increase(
        &mut self,
        ctx: &mut SubCtx,
        price: Option<i64>,
        consent: bool,
        requires_consent: bool,
        at: i64,
    ) -> EvResult<()> {
        if !matches!(ctx.sub.status, 1 | 3 | 4) {
            return Err(EventError::conflict("the subscription has expired"));
        }
        let price = match (price, &ctx.st.price_increase) {
            (Some(p), _) => p,
            (None, Some(pi)) => pi.price,
            (None, None) => ctx.st.renewal_price + ctx.st.renewal_price / 5,
        };
        // Consent given, or an increase that needs no consent: the customer is notified and
        // the new price applies at the next renewal (ACCEPTED); else PENDING.
        let status = i64::from(consent || !requires_consent);
        // Consent to an App Store Connect price change keeps its start (price_change.rs).
        let effective_ms = ctx
            .st
            .price_increase
            .as_ref()
            .filter(|p| p.price == price)
            .and_then(|p| p.effective_ms);
        let pi = PriceIncrease {
            price,
            requires_consent,
            status,
            effective_ms,
        };
        self.announce_increase(ctx, pi, at).await
    }

    /// Tells the customer about a price increase (§7 PRICE_INCREASE/PENDING when consent is
    /// still needed, PRICE_INCREASE/ACCEPTED otherwise) and keeps it in the renewal state.
    pub(crate) async fn announce_increase(
        &mut self,
        ctx: &mut SubCtx,
        pi: PriceIncrease,
        at: i64,
    ) -> EvResult<()> {
        let status = pi.status;
        ctx.st.price_increase = Some(pi);
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        let subtype = if status == 1 {
            Subtype::Accepted
        } else {
            Subtype::Pending
        };
        self.emit_sub(
            ctx,
            NotificationTypeV2::PriceIncrease,
            Some(subtype),
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }
}
