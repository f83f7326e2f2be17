//! `refund-declined`: the App Store declined a refund request (§7 REFUND_DECLINED); nothing
//! changes.

use crate::ledger::TransactionRow;

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, Outcome};
use crate::commerce::events::EventArgs;
use crate::models::NotificationTypeV2;

pub struct RefundDeclined {
    id: String,
}

impl RefundDeclined {
    pub fn parse(a: &EventArgs) -> EvResult<RefundDeclined> {
        Ok(RefundDeclined {
            id: transaction_id(a, "refund-declined")?,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        Ok(Outcome {
            transaction: Some(ev.refund_declined(&self.id, at).await?),
            ..Default::default()
        })
    }
}

impl Ev<'_> {
    /// `refund-declined` (REFUND_DECLINED): nothing changes.
    pub async fn refund_declined(&mut self, id: &str, at: i64) -> EvResult<TransactionRow> {
        let txn = self.transaction(id).await?;
        self.notify_txn(&txn, NotificationTypeV2::RefundDeclined, None, None, at)
            .await?;
        Ok(txn)
    }
}
