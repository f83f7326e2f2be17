//! `consumption-request`: the customer asks for a refund in the app (§7 CONSUMPTION_REQUEST
//! with `consumptionRequestReason`; for a subscription the system also turns auto-renew off,
//! DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED).

use crate::ledger::LedgerTx;
use serde_json::json;

use crate::ledger::TransactionRow;

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome};
use crate::commerce::events::EventArgs;
use crate::models::{ConsumptionRequestReason, NotificationTypeV2};

pub struct ConsumptionRequest {
    id: String,
    reason: ConsumptionRequestReason,
}

impl ConsumptionRequest {
    pub fn parse(a: &EventArgs) -> EvResult<ConsumptionRequest> {
        let reason = match &a.reason {
            Some(r) => {
                let r =
                    ConsumptionRequestReason::from_wire(&r.to_ascii_uppercase().replace('-', "_"));
                if !r.is_known() {
                    return Err(EventError::bad(
                        "reason is UNINTENDED_PURCHASE, FULFILLMENT_ISSUE, UNSATISFIED_WITH_PURCHASE, LEGAL or OTHER",
                    ));
                }
                r
            }
            None => ConsumptionRequestReason::UnintendedPurchase,
        };
        Ok(ConsumptionRequest {
            id: transaction_id(a, "consumption-request")?,
            reason,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        Ok(Outcome {
            transaction: Some(
                ev.consumption_request(&self.id, self.reason.clone(), at)
                    .await?,
            ),
            ..Default::default()
        })
    }
}

impl Ev<'_> {
    /// `consumption-request` (CONSUMPTION_REQUEST with consumptionRequestReason): the customer
    /// asked for a refund in the app. For a subscription the system also turns auto-renew off
    /// (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED, §7).
    pub async fn consumption_request(
        &mut self,
        id: &str,
        reason: ConsumptionRequestReason,
        at: i64,
    ) -> EvResult<TransactionRow> {
        let txn = self.transaction(id).await?;
        if txn.revoked {
            return Err(EventError::conflict(format!("transaction {id} is revoked")));
        }
        self.tx
            .ledger_put_record(
                "consumption_request",
                &txn.transaction_id,
                &json!({ "at": at, "reason": reason }),
                at,
            )
            .await?;
        self.notify_txn(
            &txn,
            NotificationTypeV2::ConsumptionRequest,
            None,
            Some(reason),
            at,
        )
        .await?;
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
        {
            let mut ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            if ctx.st.auto_renew_status && matches!(ctx.sub.status, 1 | 3 | 4) {
                self.set_auto_renew(&mut ctx, false, at).await?;
            }
        }
        Ok(txn)
    }
}
