//! The notification outbox as crabapple lists it — the admin API
//! (`GET /crabapple/admin/commerce/notifications`) and `crabapple notifications --json` print the
//! same entry: the row's delivery state and attempts, its JWS (signed now if a batch left it
//! unsigned, [`super::Commerce::signed_payload`]) and that JWS decoded, with the transaction and
//! renewal info decoded next to their signed forms.

use crate::ledger::NotificationRow;
use anyhow::Result;
use base64::Engine as _;
use serde_json::{Value, json};

use super::Commerce;

/// The payload of a compact JWS, or `null`.
fn decode_jws(jws: &str) -> Value {
    jws.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// One outbox row as listed.
pub async fn entry(c: &Commerce, n: &NotificationRow) -> Result<Value> {
    let signed = c.signed_payload(n).await?;
    let mut payload = decode_jws(&signed);
    if let Some(d) = payload.get_mut("data").and_then(Value::as_object_mut) {
        for k in ["signedTransactionInfo", "signedRenewalInfo"] {
            if let Some(j) = d.get(k).and_then(Value::as_str) {
                let decoded = decode_jws(j);
                d.insert(format!("{k}Decoded"), decoded);
            }
        }
    }
    Ok(json!({
        "notificationUUID": n.notification_uuid,
        "notificationType": n.notification_type,
        "subtype": n.subtype,
        "bundleId": n.bundle_id,
        "environment": n.environment,
        "signedDate": n.signed_date_ms,
        "state": n.state,
        "url": n.url,
        "nextAttemptDate": n.next_attempt_ms,
        "sendAttempts": n.attempts,
        "transactionId": n.transaction_id,
        "testNotificationToken": n.test_token,
        "payload": payload,
        "signedPayload": signed,
    }))
}
