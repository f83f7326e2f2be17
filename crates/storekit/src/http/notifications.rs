//! The App Store Server API's notification endpoints: Request a Test Notification, Get Test
//! Notification Status and Get Notification History (apple-semantics.md §6).

use crate::ledger::LedgerStore;
use crate::ledger::NotificationQuery;
use axum::body::Bytes;
use axum::extract::Path;
use crabapple_auth::ServerEndpoint;
use serde_json::{Value, json};

use super::Host;
use super::api::{
    Call, PAGE, body_json, encode_token, fingerprint, is_id, optional, page, resume, single,
};
use super::error::{Answer, Refusal, ok};
use crate::commerce::catalog::DAY_MS;
use crate::commerce::engine::{Ev, EvResult, notification_url};
use crate::models::{ApiError, NotificationTypeV2, SendTestNotificationResponse, Subtype};

/// POST /inApps/v1/notifications/test
pub(super) async fn test_notification<H: Host>(call: Call<H>) -> Answer {
    let cx = call
        .begin(Some(ServerEndpoint::RequestTestNotification))
        .await?;
    if notification_url(&cx.app, cx.env).0.is_none() {
        return Err(Refusal::api(
            ApiError::ServerNotificationUrlNotFound,
            format!(
                "no {} notification URL for {}",
                cx.env.as_str(),
                cx.app.bundle_id
            ),
        ));
    }
    let c = cx.h.commerce();
    let r: EvResult<String> = async {
        let at = c.store.now_ms();
        let token = format!("{}_{at}", uuid::Uuid::new_v4());
        let mut ev = Ev::begin(c).await?;
        ev.emit(
            &cx.app,
            cx.env,
            NotificationTypeV2::Test,
            None,
            at,
            crate::commerce::engine::Content::Test,
            Some(token.clone()),
        )
        .await?;
        ev.commit().await?;
        Ok(token)
    }
    .await;
    ok(&SendTestNotificationResponse {
        test_notification_token: Some(r?),
    })
}

/// GET /inApps/v1/notifications/test/{testNotificationToken}
pub(super) async fn test_notification_status<H: Host>(
    call: Call<H>,
    Path(token): Path<String>,
) -> Answer {
    let cx = call
        .begin(Some(ServerEndpoint::GetTestNotificationStatus))
        .await?;
    let well_formed = token
        .split_once('_')
        .is_some_and(|(u, t)| uuid::Uuid::parse_str(u).is_ok() && t.parse::<i64>().is_ok());
    if !well_formed {
        return Err(Refusal::api(
            ApiError::InvalidTestNotificationToken,
            "not a test notification token",
        ));
    }
    let n = cx.store().ledger_notification_by_test_token(&token).await?;
    let now = cx.now();
    match n {
        // Retrievable for six months, once the first attempt has been made.
        Some(n)
            if n.app_id == cx.app.id
                && n.environment == cx.env.as_str()
                && now - n.signed_date_ms <= 183 * DAY_MS
                && n.attempts.as_array().is_some_and(|a| !a.is_empty()) =>
        {
            let signed = cx.h.commerce().signed_payload(&n).await?;
            ok(&json!({
                "signedPayload": signed,
                "firstSendAttemptResult": n.attempts[0]["sendAttemptResult"],
                "sendAttempts": n.attempts,
            }))
        }
        _ => Err(Refusal::api(
            ApiError::TestNotificationNotFound,
            "unknown or expired token, or not attempted yet",
        )),
    }
}

/// POST /inApps/v1/notifications/history?paginationToken=
pub(super) async fn notification_history<H: Host>(call: Call<H>, body: Bytes) -> Answer {
    let cx = call
        .begin(Some(ServerEndpoint::GetNotificationHistory))
        .await?;
    let b = body_json(&body)?;
    let now = cx.now();
    let start = match b.get("startDate").and_then(Value::as_i64) {
        Some(s) if s >= 0 => s,
        _ => {
            return Err(Refusal::api(
                ApiError::InvalidStartDate,
                "startDate (ms) is required",
            ));
        }
    };
    let end = match b.get("endDate").and_then(Value::as_i64) {
        Some(e) if e >= 0 => e.min(now),
        _ => {
            return Err(Refusal::api(
                ApiError::InvalidEndDate,
                "endDate (ms) is required",
            ));
        }
    };
    if start >= end {
        return Err(Refusal::api(
            ApiError::StartDateAfterEndDate,
            "startDate must precede endDate",
        ));
    }
    let window_days = if cx.env.is_sandbox() { 30 } else { 180 };
    if start < now - window_days * DAY_MS {
        return Err(Refusal::api(
            ApiError::StartDateTooFarInPast,
            format!(
                "startDate is more than {window_days} days ago ({})",
                cx.env.as_str()
            ),
        ));
    }
    let ntype = optional(
        &b,
        "notificationType",
        |v| {
            let t = NotificationTypeV2::from_wire(v.as_str()?);
            t.is_known().then(|| t.as_str().to_string())
        },
        |v| {
            Refusal::api(
                ApiError::InvalidNotificationType,
                format!("notificationType {v}"),
            )
        },
    )?;
    let subtype = optional(
        &b,
        "notificationSubtype",
        |v| {
            let s = Subtype::from_wire(v.as_str()?);
            (s.is_known() && ntype.is_some()).then(|| s.as_str().to_string())
        },
        |v| {
            Refusal::api(
                ApiError::InvalidNotificationType,
                format!("notificationSubtype {v} (needs a notificationType)"),
            )
        },
    )?;
    let txn_id = optional(
        &b,
        "transactionId",
        |v| v.as_str().filter(|s| is_id(s)).map(str::to_string),
        |v| Refusal::api(ApiError::InvalidTransactionId, format!("transactionId {v}")),
    )?;
    if txn_id.is_some() && ntype.is_some() {
        return Err(Refusal::api(
            ApiError::MultipleFiltersSupplied,
            "notificationType and transactionId are exclusive",
        ));
    }
    let customer_id = match &txn_id {
        Some(id) => Some(cx.customer_of(id).await?.0.id),
        None => None,
    };
    let only_failures = b
        .get("onlyFailures")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let fp = fingerprint(&format!(
        "{}:{}:{start}:{ntype:?}:{subtype:?}:{txn_id:?}:{only_failures}",
        cx.app.id,
        cx.env.as_str()
    ));
    let q = cx.query();
    let after = resume(
        single(&q, "paginationToken").filter(|t| !t.is_empty()),
        "n",
        fp,
        (
            ApiError::InvalidPaginationToken,
            "the paginationToken doesn't belong to this request body",
        ),
    )?;
    let nq = NotificationQuery {
        app_id: cx.app.id.clone(),
        environment: cx.env.as_str().into(),
        start_ms: start,
        end_ms: end,
        notification_type: ntype,
        subtype,
        customer_id,
        only_failures,
        after_seq: after,
        limit: PAGE + 1,
    };
    let mut rows = cx.store().ledger_notification_history(&nq).await?;
    let has_more = page(&mut rows, PAGE);
    let mut items = Vec::with_capacity(rows.len());
    for n in &rows {
        let signed = cx.h.commerce().signed_payload(n).await?;
        let mut item = json!({ "signedPayload": signed, "sendAttempts": n.attempts });
        if let Some(first) = n.attempts.get(0) {
            item["firstSendAttemptResult"] = first["sendAttemptResult"].clone();
        }
        items.push(item);
    }
    let mut resp = json!({ "hasMore": has_more, "notificationHistory": items });
    if has_more && let Some(last) = rows.last() {
        resp["paginationToken"] = json!(encode_token("n", last.seq, fp));
    }
    ok(&resp)
}
