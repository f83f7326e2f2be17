//! `upgrade` / `downgrade` / `crossgrade`: a plan change within the subscription group (§7
//! DID_CHANGE_RENEWAL_PREF/UPGRADE, now · DID_CHANGE_RENEWAL_PREF/DOWNGRADE, at the next renewal
//! · DID_CHANGE_RENEWAL_PREF with no subtype: back to the current product).

use serde_json::Value;

use crate::ledger::TransactionRow;

use super::{need, transaction_id};
use crate::commerce::catalog::{self, Period, Product};
use crate::commerce::engine::{Ev, EvResult, EventError, NewTxn, Outcome, SubCtx, status_name};
use crate::commerce::events::EventArgs;
use crate::commerce::state::{NextEvent, Offer};
use crate::models::{InAppOwnershipType, NotificationTypeV2, Subtype, TransactionReason};

pub struct ChangeProduct {
    id: String,
    to: String,
    /// `upgrade`, `downgrade` or `crossgrade`.
    kind: &'static str,
}

impl ChangeProduct {
    pub fn parse(a: &EventArgs, kind: &'static str) -> EvResult<ChangeProduct> {
        Ok(ChangeProduct {
            id: transaction_id(a, kind)?,
            to: need(&a.to_product_id, "toProductId", kind)?.to_string(),
            kind,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut ctx = ev.sub_ctx(&self.id).await?;
        ev.change_product(&mut ctx, &self.to, self.kind, at).await?;
        ev.sub_outcome(&ctx.sub.original_transaction_id).await
    }
}

impl Ev<'_> {
    /// `upgrade` / `downgrade` / `crossgrade` (DID_CHANGE_RENEWAL_PREF/UPGRADE|DOWNGRADE|none).
    pub async fn change_product(
        &mut self,
        ctx: &mut SubCtx,
        to: &str,
        kind: &str,
        at: i64,
    ) -> EvResult<()> {
        if ctx.sub.status != 1 {
            return Err(EventError::conflict(format!(
                "the subscription is {} (status {}); plan changes need an active subscription",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        let target = self.product(&ctx.app, to).await?;
        if target.group_id.as_deref() != Some(ctx.sub.group_id.as_str()) {
            return Err(EventError::bad(format!(
                "{to} is not in subscription group {}",
                ctx.sub.group_id
            )));
        }
        let current = self.product(&ctx.app, &ctx.sub.product_id.clone()).await?;
        if target.product_id == current.product_id {
            // Back to the current product: cancels a pending downgrade (subtype none).
            if ctx.st.auto_renew_product_id == current.product_id {
                return Err(EventError::conflict(format!(
                    "already subscribed to {to} with no pending change"
                )));
            }
            ctx.st.auto_renew_product_id = current.product_id.clone();
            self.save_ctx(ctx, at).await?;
            let latest = self.latest(ctx).await?;
            self.emit_sub(
                ctx,
                NotificationTypeV2::DidChangeRenewalPref,
                None,
                at,
                &latest,
                None,
            )
            .await?;
            return Ok(());
        }
        let immediate = match kind {
            "upgrade" => {
                if let (Some(a), Some(b)) = (target.group_level, current.group_level)
                    && a >= b
                {
                    return Err(EventError::bad(format!(
                        "{to} (level {a}) is not a higher level of service than {} (level {b}); level 1 is the highest",
                        current.product_id
                    )));
                }
                true
            }
            "downgrade" => {
                if let (Some(a), Some(b)) = (target.group_level, current.group_level)
                    && a <= b
                {
                    return Err(EventError::bad(format!(
                        "{to} (level {a}) is not a lower level of service than {} (level {b})",
                        current.product_id
                    )));
                }
                false
            }
            // Crossgrade: same duration → immediate like an upgrade, else at the next renewal.
            _ => target.period == current.period,
        };
        if !immediate {
            ctx.st.auto_renew_product_id = target.product_id.clone();
            self.save_ctx(ctx, at).await?;
            let latest = self.latest(ctx).await?;
            self.emit_sub(
                ctx,
                NotificationTypeV2::DidChangeRenewalPref,
                Some(Subtype::Downgrade),
                at,
                &latest,
                None,
            )
            .await?;
            return Ok(());
        }
        let sf = catalog::storefront(&ctx.sub.storefront).expect("known storefront");
        let list = catalog::price(&mut self.tx, &target, sf, at).await?;
        let txn = self.switch_now(ctx, &target, None, list, at).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::DidChangeRenewalPref,
            Some(Subtype::Upgrade),
            at,
            &txn,
            None,
        )
        .await?;
        Ok(())
    }

    /// An immediate plan change (an upgrade, or a crossgrade to the same duration): the current
    /// transaction is marked `isUpgraded`, a new transaction for `target` starts a new period now
    /// (at the offer's price and, for FREE_TRIAL / PAY_UP_FRONT, for the offer's duration).
    /// `list` is the target's list price and currency. Saves the subscription; emits nothing.
    pub(crate) async fn switch_now(
        &mut self,
        ctx: &mut SubCtx,
        target: &Product,
        offer: Option<&Offer>,
        list: (i64, String),
        at: i64,
    ) -> EvResult<TransactionRow> {
        let mut old = self.latest(ctx).await?;
        old.payload.edit(|m| {
            m.insert("isUpgraded".into(), Value::Bool(true));
        });
        self.update_txn(&mut old, at).await?;
        let sf = catalog::storefront(&ctx.sub.storefront).expect("known storefront");
        let (list_price, currency) = list;
        let price = offer.map_or(list_price, |o| o.price);
        let period = target.period.unwrap_or(Period::OneMonth);
        let sandbox = ctx.env.is_sandbox();
        let expires = match offer.and_then(Offer::fixed_duration) {
            Some(d) => d.add(at, sandbox),
            None => period.add(at, sandbox),
        };
        let orig_ms = old
            .payload
            .get("originalPurchaseDate")
            .as_ref()
            .and_then(Value::as_i64)
            .unwrap_or(old.purchase_ms);
        let family = ctx.sub.ownership == "FAMILY_SHARED";
        let txn = self
            .insert_txn(
                &ctx.app,
                ctx.env,
                NewTxn {
                    customer: &ctx.customer,
                    product: target,
                    original: Some((ctx.sub.original_transaction_id.clone(), orig_ms)),
                    purchase_ms: at,
                    expires_ms: Some(expires),
                    price: (!family).then(|| (price, currency.clone())),
                    quantity: 1,
                    reason: TransactionReason::Purchase,
                    offer,
                    ownership: InAppOwnershipType::from_wire(&ctx.sub.ownership),
                    storefront: sf,
                },
            )
            .await?;
        ctx.sub.product_id = target.product_id.clone();
        ctx.sub.latest_transaction_id = txn.transaction_id.clone();
        ctx.sub.expires_ms = expires;
        ctx.st.auto_renew_product_id = target.product_id.clone();
        ctx.st.period = period.asc().into();
        ctx.st.renewal_price = list_price;
        ctx.st.currency = currency;
        // The offer's first period is this one; PAY_AS_YOU_GO bills the rest at renewals.
        ctx.st.offer = offer.cloned().map(|mut o| {
            o.periods_left = if o.discount_type == "PAY_AS_YOU_GO" {
                (o.periods_left - 1).max(0)
            } else {
                0
            };
            o
        });
        ctx.st.next_event = Some(NextEvent::Renew);
        if price > 0 {
            ctx.st.paid_periods += 1;
        }
        self.save_ctx(ctx, at).await?;
        Ok(txn)
    }
}
