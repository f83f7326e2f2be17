//! An offer redeemed on an active subscription (a `purchase` with a promotional or offer-code
//! offer while subscribed in the product's group; §7 "Offer on active sub"): OFFER_REDEEMED ·
//! OFFER_REDEEMED/UPGRADE · OFFER_REDEEMED/DOWNGRADE.

use serde_json::Value;

use crate::commerce::catalog::Product;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome, status_name};
use crate::commerce::state::Offer;
use crate::models::{NotificationTypeV2, OfferType, Subtype};

impl Ev<'_> {
    /// A subscription offer redeemed while the customer is subscribed in the product's group
    /// (§7 "Offer on active sub"): OFFER_REDEEMED
    /// - without a subtype for the current product: the offer applies from the next renewal
    ///   (Apple DTS on the Developer Forums: "offers to the same product will always be applied
    ///   upon renewal", https://developer.apple.com/forums/thread/756304; the same for offer
    ///   codes, https://developer.apple.com/forums/thread/722812);
    /// - UPGRADE for a higher level of service: now, a new period at the offer price (the plan
    ///   change rules apply, same thread; a crossgrade to the same duration is immediate too);
    /// - DOWNGRADE for a lower level (or a crossgrade to another duration): the product and the
    ///   offer take effect at the next renewal.
    ///
    /// Introductory offers are for new subscribers of the group and win-back offers for churned
    /// ones (an expired subscription that won't renew, supporting-win-back-offers-in-your-app),
    /// so neither can be redeemed on an active subscription.
    pub(crate) async fn redeem_offer(
        &mut self,
        original_transaction_id: &str,
        target: &Product,
        offer: &Offer,
        list: (i64, String),
        at: i64,
    ) -> EvResult<Outcome> {
        let mut ctx = self.sub_ctx(original_transaction_id).await?;
        let who = &ctx.customer.label;
        match offer.offer_type() {
            OfferType::IntroductoryOffer => {
                return Err(EventError::conflict(format!(
                    "{who} is already subscribed in group {} (originalTransactionId {original_transaction_id}); introductory offers are for new subscribers of the group",
                    ctx.sub.group_id
                )));
            }
            OfferType::WinBackOffer => {
                return Err(EventError::conflict(format!(
                    "{who} is subscribed in group {} (originalTransactionId {original_transaction_id}); win-back offers are for churned subscribers (expired, not renewing)",
                    ctx.sub.group_id
                )));
            }
            _ => {}
        }
        if ctx.sub.status != 1 {
            return Err(EventError::conflict(format!(
                "{who}'s subscription {original_transaction_id} is {} (status {}); offers are redeemed on an active subscription (or after it expires, as a resubscription)",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        if ctx.sub.ownership == "FAMILY_SHARED" {
            return Err(EventError::conflict(format!(
                "{who}'s subscription {original_transaction_id} is shared through Family Sharing; the purchaser redeems offers"
            )));
        }
        let current = self.product(&ctx.app, &ctx.sub.product_id.clone()).await?;
        // Level 1 is the highest level of service.
        let subtype = if target.product_id == current.product_id {
            None
        } else {
            match (target.group_level, current.group_level) {
                (Some(a), Some(b)) if a < b => Some(Subtype::Upgrade),
                (Some(a), Some(b)) if a > b => Some(Subtype::Downgrade),
                // A crossgrade: the same duration is immediate, another one at the next renewal.
                _ if target.period == current.period => Some(Subtype::Upgrade),
                _ => Some(Subtype::Downgrade),
            }
        };
        // Redeeming an offer is a purchase: the subscription renews again.
        ctx.st.auto_renew_status = true;
        if ctx.st.pending_expire == Some(1) {
            ctx.st.pending_expire = None;
        }
        if ctx.st.expiration_intent == Some(1) {
            ctx.st.expiration_intent = None;
        }
        let mut outcome = Outcome::default();
        let txn = if subtype == Some(Subtype::Upgrade) {
            outcome
                .extra
                .insert("offerEffectiveDate".into(), Value::from(at));
            self.switch_now(&mut ctx, target, Some(offer), list, at)
                .await?
        } else {
            outcome
                .extra
                .insert("offerEffectiveDate".into(), Value::from(ctx.sub.expires_ms));
            ctx.st.auto_renew_product_id = target.product_id.clone();
            // The offer bills the next renewal(s); `renew` uses its duration for FREE_TRIAL and
            // PAY_UP_FRONT.
            let mut o = offer.clone();
            o.periods_left = if o.discount_type == "PAY_AS_YOU_GO" {
                o.periods_left.max(1)
            } else {
                1
            };
            ctx.st.offer = Some(o);
            self.save_ctx(&mut ctx, at).await?;
            self.latest(&ctx).await?
        };
        self.emit_sub(
            &ctx,
            NotificationTypeV2::OfferRedeemed,
            subtype,
            at,
            &txn,
            None,
        )
        .await?;
        outcome.customer = Some(ctx.customer);
        outcome.transaction = Some(txn);
        outcome.subscription = Some(ctx.sub);
        Ok(outcome)
    }
}
