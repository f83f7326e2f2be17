//! `refund-reversed`: a refund is reversed (§7 REFUND_REVERSED): the revocation is undone and
//! the renewal date is unchanged.

use crate::ledger::LedgerTx;

use crate::ledger::TransactionRow;

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome};
use crate::commerce::events::EventArgs;
use crate::commerce::state::NextEvent;
use crate::models::NotificationTypeV2;

pub struct RefundReversed {
    id: String,
}

impl RefundReversed {
    pub fn parse(a: &EventArgs) -> EvResult<RefundReversed> {
        Ok(RefundReversed {
            id: transaction_id(a, "refund-reversed")?,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        Ok(Outcome {
            transaction: Some(ev.refund_reversed(&self.id, at).await?),
            ..Default::default()
        })
    }
}

impl Ev<'_> {
    /// `refund-reversed` (REFUND_REVERSED): the revocation is undone.
    pub async fn refund_reversed(&mut self, id: &str, at: i64) -> EvResult<TransactionRow> {
        let mut txn = self.transaction(id).await?;
        if !txn.revoked || txn.refund_seq.is_none() {
            return Err(EventError::conflict(format!(
                "transaction {id} is not refunded"
            )));
        }
        txn.payload.edit(|m| {
            for k in [
                "revocationReason",
                "revocationDate",
                "revocationType",
                "revocationPercentage",
            ] {
                m.remove(k);
            }
        });
        txn.revoked = false;
        txn.revoked_ms = None;
        txn.refund_seq = None;
        self.update_txn(&mut txn, at).await?;
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
            && sub.latest_transaction_id == txn.transaction_id
            && sub.status == 5
        {
            let mut ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            // The renewal date is unchanged (§7): active again if the period hasn't ended.
            if ctx.sub.expires_ms > at {
                ctx.sub.status = 1;
                ctx.st.next_event = Some(NextEvent::Renew);
            } else {
                ctx.sub.status = 2;
                ctx.st.expiration_intent.get_or_insert(5);
            }
            self.save_ctx(&mut ctx, at).await?;
        }
        self.notify_txn(&txn, NotificationTypeV2::RefundReversed, None, None, at)
            .await?;
        Ok(txn)
    }
}
