//! `revoke`: a family member loses access to a family-shared purchase (§7 REVOKE).

use serde_json::json;

use crate::ledger::TransactionRow;

use super::transaction_id;
use crate::commerce::engine::{Ev, EvResult, EventError, Outcome};
use crate::commerce::events::EventArgs;
use crate::models::{NotificationTypeV2, RevocationType};

pub struct Revoke {
    id: String,
}

impl Revoke {
    pub fn parse(a: &EventArgs) -> EvResult<Revoke> {
        Ok(Revoke {
            id: transaction_id(a, "revoke")?,
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        Ok(Outcome {
            transaction: Some(ev.revoke(&self.id, at).await?),
            ..Default::default()
        })
    }
}

impl Ev<'_> {
    /// `revoke` (REVOKE): a family member loses access to a family-shared purchase.
    pub async fn revoke(&mut self, id: &str, at: i64) -> EvResult<TransactionRow> {
        let mut txn = self.transaction(id).await?;
        if txn.ownership != "FAMILY_SHARED" {
            return Err(EventError::bad(format!(
                "transaction {id} is not family-shared (purchase with familyShared: true for a family member)"
            )));
        }
        if txn.revoked {
            return Err(EventError::conflict(format!(
                "transaction {id} is already revoked"
            )));
        }
        txn.payload.edit(|m| {
            m.insert("revocationReason".into(), json!(0));
            m.insert("revocationDate".into(), json!(at));
            m.insert("revocationType".into(), json!(RevocationType::FamilyRevoke));
        });
        txn.revoked = true;
        txn.revoked_ms = Some(at);
        self.update_txn(&mut txn, at).await?;
        self.revoke_subscription_of(&txn, at).await?;
        self.notify_txn(&txn, NotificationTypeV2::Revoke, None, None, at)
            .await?;
        Ok(txn)
    }
}
