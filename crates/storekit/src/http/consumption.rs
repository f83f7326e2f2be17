//! The App Store Server API's Send Consumption Information (v1, deprecated, and v2): the checks
//! of the request body and the record of what was sent (apple-semantics.md §6).

use crate::ledger::TransactionRow;
use crate::ledger::{LedgerStore, LedgerTx};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use crabapple_auth::ServerEndpoint;
use serde_json::{Value, json};

use super::Host;
use super::api::{Call, Cx, body_json, not_family_shared, optional, txn_id};
use super::error::{Answer, Refusal, empty};
use crate::commerce::catalog::ProductKind;
use crate::models::{ApiError, DeliveryStatus, RefundPreference};

/// Shared checks: the transaction exists, is this app's, is not family-shared, is not an app
/// transaction id.
async fn consumption_target<H: Host>(cx: &Cx<H>, id: &str) -> Result<TransactionRow, Refusal> {
    let id = txn_id(id, ApiError::InvalidTransactionId)?;
    match cx.own_txn(id).await? {
        Some(t) => not_family_shared(&t).map(|()| t),
        None => {
            let at = cx.store().ledger_customer_by_app_transaction(id).await?;
            if at.is_some_and(|c| cx.owns_customer(&c)) {
                Err(Refusal::api(
                    ApiError::AppTransactionIdNotSupported,
                    "an app transaction id",
                ))
            } else {
                Err(cx.not_found(id))
            }
        }
    }
}

async fn record_consumption<H: Host>(
    cx: &Cx<H>,
    t: &TransactionRow,
    version: u8,
    body: &Value,
) -> Answer {
    let at = cx.now();
    let mut tx = cx.store().begin().await?;
    tx.ledger_put_record(
        "consumption",
        &t.transaction_id,
        &json!({"version": version, "receivedDate": at, "body": body}),
        at,
    )
    .await?;
    tx.commit().await?;
    empty(StatusCode::ACCEPTED)
}

fn int_in(v: &Value, key: &str, range: std::ops::RangeInclusive<i64>) -> bool {
    v.get(key)
        .and_then(Value::as_i64)
        .is_some_and(|n| range.contains(&n))
}

/// What both consumption endpoints check first: auth, the transaction, a JSON body,
/// `customerConsented` (must be true: 4000035) and `sampleContentProvided` (a boolean).
async fn consumption_request<H: Host>(
    call: Call<H>,
    id: &str,
    body: &Bytes,
) -> Result<(Cx<H>, TransactionRow, Value), Refusal> {
    let cx = call
        .begin(Some(ServerEndpoint::SendConsumptionInformation))
        .await?;
    let t = consumption_target(&cx, id).await?;
    let b = body_json(body)?;
    if b.get("customerConsented").and_then(Value::as_bool) != Some(true) {
        return Err(Refusal::api(
            ApiError::InvalidCustomerConsented,
            "customerConsented must be true",
        ));
    }
    if b.get("sampleContentProvided")
        .and_then(Value::as_bool)
        .is_none()
    {
        return Err(Refusal::api(
            ApiError::InvalidSampleContentProvided,
            "sampleContentProvided (boolean) is required",
        ));
    }
    Ok((cx, t, b))
}

/// PUT /inApps/v2/transactions/consumption/{transactionId} (API 1.19) → 202
pub(super) async fn consumption_v2<H: Host>(
    call: Call<H>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let (cx, t, b) = consumption_request(call, &id, &body).await?;
    let delivery = match b
        .get("deliveryStatus")
        .and_then(Value::as_str)
        .map(DeliveryStatus::from_wire)
    {
        Some(d) if d.is_known() => d,
        _ => {
            return Err(Refusal::api(
                ApiError::InvalidDeliveryStatus,
                "deliveryStatus is required: DELIVERED, UNDELIVERED_QUALITY_ISSUE, UNDELIVERED_WRONG_ITEM, UNDELIVERED_SERVER_OUTAGE or UNDELIVERED_OTHER",
            ));
        }
    };
    let preference = optional(
        &b,
        "refundPreference",
        |v| {
            v.as_str()
                .map(RefundPreference::from_wire)
                .filter(|p| p.is_known())
        },
        |_| {
            Refusal::api(
                ApiError::InvalidRefundPreference,
                "refundPreference is DECLINE, GRANT_FULL or GRANT_PRORATED",
            )
        },
    )?;
    let pct = optional(
        &b,
        "consumptionPercentage",
        |v| v.as_i64().filter(|n| (0..=100_000).contains(n)),
        |_| {
            Refusal::api(
                ApiError::ConsumptionPercentageOutOfRange,
                "consumptionPercentage is milliunits 0–100000",
            )
        },
    )?;
    let auto = t.product_type == ProductKind::AutoRenewable.product_type();
    if auto && pct.is_some() {
        return Err(Refusal::api(
            ApiError::ConsumptionPercentageAutoRenewableSubscription,
            "don't send consumptionPercentage for auto-renewable subscriptions",
        ));
    }
    if delivery != DeliveryStatus::Delivered && pct.is_some_and(|p| p != 0) {
        return Err(Refusal::api(
            ApiError::UndeliveredConsumptionPercentageNonZero,
            "consumptionPercentage must be 0 when deliveryStatus isn't DELIVERED",
        ));
    }
    if preference == Some(RefundPreference::GrantProrated)
        && !auto
        && !pct.is_some_and(|p| p > 0 && p < 100_000)
    {
        return Err(Refusal::api(
            ApiError::ConsumptionPercentageOutOfRange,
            "GRANT_PRORATED needs 0 < consumptionPercentage < 100000",
        ));
    }
    record_consumption(&cx, &t, 2, &b).await
}

/// PUT /inApps/v1/transactions/consumption/{transactionId} (deprecated) → 202
pub(super) async fn consumption_v1<H: Host>(
    call: Call<H>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let (cx, t, b) = consumption_request(call, &id, &body).await?;
    let checks: [(&str, std::ops::RangeInclusive<i64>, ApiError); 9] = [
        (
            "consumptionStatus",
            0..=3,
            ApiError::InvalidConsumptionStatus,
        ),
        ("platform", 0..=2, ApiError::InvalidPlatform),
        ("deliveryStatus", 0..=5, ApiError::InvalidDeliveryStatus),
        ("accountTenure", 0..=7, ApiError::InvalidAccountTenure),
        ("playTime", 0..=7, ApiError::InvalidPlayTime),
        (
            "lifetimeDollarsRefunded",
            0..=7,
            ApiError::InvalidLifetimeDollarsRefunded,
        ),
        (
            "lifetimeDollarsPurchased",
            0..=7,
            ApiError::InvalidLifetimeDollarsPurchased,
        ),
        ("userStatus", 0..=4, ApiError::InvalidUserStatus),
        ("refundPreference", 0..=3, ApiError::InvalidRefundPreference),
    ];
    for (key, range, e) in checks {
        let optional = key == "refundPreference";
        if (optional && b.get(key).is_none_or(Value::is_null)) || int_in(&b, key, range.clone()) {
            continue;
        }
        return Err(Refusal::api(
            e,
            format!(
                "{key} must be an integer in {}–{}",
                range.start(),
                range.end()
            ),
        ));
    }
    match b.get("appAccountToken").and_then(Value::as_str) {
        Some("") => {}
        Some(t) if uuid::Uuid::parse_str(t).is_ok() => {}
        _ => {
            return Err(Refusal::api(
                ApiError::InvalidAppAccountToken,
                "appAccountToken must be a UUID or an empty string",
            ));
        }
    }
    record_consumption(&cx, &t, 1, &b).await
}
