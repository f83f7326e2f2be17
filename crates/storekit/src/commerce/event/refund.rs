//! `refund`: the App Store refunds a transaction (§7 REFUND, with `revocationDate`,
//! `revocationReason`, `revocationType` and `revocationPercentage`); a refunded subscription
//! period revokes the subscription (status 5).

use crate::ledger::LedgerTx;
use serde_json::json;

use crate::ledger::TransactionRow;

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome};
use crate::commerce::events::EventArgs;
use crate::models::{NotificationTypeV2, RevocationReason, RevocationType};

pub struct Refund {
    id: String,
    reason: i64,
    percentage: Option<i64>,
}

impl Refund {
    pub fn parse(a: &EventArgs) -> EvResult<Refund> {
        Ok(Refund {
            id: transaction_id(a, "refund")?,
            reason: a.revocation_reason.unwrap_or(0),
            percentage: a.percentage,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        Ok(Outcome {
            transaction: Some(
                ev.refund(&self.id, self.reason, self.percentage, at)
                    .await?,
            ),
            ..Default::default()
        })
    }
}

impl Ev<'_> {
    /// `refund` (REFUND): revocationDate/Reason/Type/Percentage; a refunded subscription period
    /// revokes the subscription (status 5).
    pub async fn refund(
        &mut self,
        id: &str,
        reason: i64,
        percentage: Option<i64>,
        at: i64,
    ) -> EvResult<TransactionRow> {
        let mut txn = self.transaction(id).await?;
        if txn.revoked {
            return Err(EventError::conflict(format!(
                "transaction {id} is already revoked"
            )));
        }
        if txn.ownership == "FAMILY_SHARED" {
            return Err(EventError::bad(
                "family-shared transactions aren't refunded (the purchaser's is); use revoke",
            ));
        }
        let pct = percentage.unwrap_or(100_000);
        if !(1..=100_000).contains(&pct) {
            return Err(EventError::bad("percentage is in milliunits, 1..=100000"));
        }
        let rtype = if pct == 100_000 {
            RevocationType::RefundFull
        } else {
            RevocationType::RefundProrated
        };
        txn.payload.edit(|m| {
            m.insert(
                "revocationReason".into(),
                json!(RevocationReason::from_wire(reason)),
            );
            m.insert("revocationDate".into(), json!(at));
            m.insert("revocationType".into(), json!(rtype));
            m.insert("revocationPercentage".into(), json!(pct));
        });
        txn.revoked = true;
        txn.revoked_ms = Some(at);
        txn.refund_seq = Some(self.tx.ledger_next("refund_seq", 1).await?);
        self.update_txn(&mut txn, at).await?;
        self.revoke_subscription_of(&txn, at).await?;
        self.notify_txn(&txn, NotificationTypeV2::Refund, None, None, at)
            .await?;
        Ok(txn)
    }

    pub(crate) async fn revoke_subscription_of(
        &mut self,
        txn: &TransactionRow,
        at: i64,
    ) -> EvResult<()> {
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
            && sub.latest_transaction_id == txn.transaction_id
            && matches!(sub.status, 1 | 3 | 4)
        {
            let mut ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            ctx.sub.status = 5;
            ctx.st.next_event = None;
            ctx.st.in_billing_retry = false;
            self.save_ctx(&mut ctx, at).await?;
        }
        Ok(())
    }
}
