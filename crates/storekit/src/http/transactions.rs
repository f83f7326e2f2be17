//! The App Store Server API's transaction endpoints: Get Transaction Info, Finish Transaction,
//! Set App Account Token, Get App Transaction Info, Get Transaction History (v1, v2), Get Refund
//! History (v1, v2) and Look Up Order ID (apple-semantics.md §6).

use crate::ledger::{HistoryQuery, TransactionRow};
use crate::ledger::{LedgerStore, LedgerTx};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use crabapple_auth::ServerEndpoint;
use serde_json::{Value, json};

use super::Host;
use super::api::{
    Call, PAGE, body_json, encode_token, fingerprint, not_family_shared, original, page,
    parse_bool, resume, single, values,
};
use super::error::{Answer, Refusal, empty, ok};
use crate::commerce::engine::{Ev, EvResult, app_apple_id};
use crate::commerce::state::SubState;
use crate::models::{
    ApiError, HistoryResponse, OrderLookupResponse, OrderLookupStatus, TransactionInfoResponse,
};

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// GET /inApps/v1/transactions/{transactionId}
pub(super) async fn transaction_info<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = call.begin(Some(ServerEndpoint::GetTransactionInfo)).await?;
    let t = cx.existing_txn(&id, ApiError::InvalidTransactionId).await?;
    ok(&TransactionInfoResponse {
        signed_transaction_info: Some(cx.sign_txn(&t, cx.now())),
    })
}

/// POST /inApps/v1/transactions/{transactionId}/finish (API 1.20)
pub(super) async fn finish<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = call.begin(None).await?;
    let t = cx.existing_txn(&id, ApiError::InvalidTransactionId).await?;
    cx.in_tx(async |tx| {
        tx.ledger_finish(&t.transaction_id).await?;
        Ok(())
    })
    .await
}

/// PUT /inApps/v1/transactions/{originalTransactionId}/appAccountToken (API 1.16)
pub(super) async fn set_app_account_token<H: Host>(
    call: Call<H>,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let cx = call.begin(Some(ServerEndpoint::SetAppAccountToken)).await?;
    let body = body_json(&body)?;
    let token = match body.get("appAccountToken").and_then(Value::as_str) {
        Some(t) if uuid::Uuid::parse_str(t).is_ok() => t.to_ascii_lowercase(),
        _ => {
            return Err(Refusal::api(
                ApiError::InvalidAppAccountTokenUuid,
                "appAccountToken must be a UUID",
            ));
        }
    };
    let t = cx
        .existing_txn(&id, ApiError::InvalidOriginalTransactionId)
        .await?;
    original(&t, |o| {
        format!("{id} is a transaction of original transaction {o}")
    })?;
    not_family_shared(&t)?;
    let c = cx.h.commerce();
    async {
        let at = c.store.now_ms();
        let mut ev = Ev::begin(c).await?;
        for mut t in ev.tx.ledger_chain(&id).await? {
            t.payload.edit(|m| {
                m.insert("appAccountToken".into(), json!(token));
            });
            ev.update_txn(&mut t, at).await?;
        }
        ev.tx
            .ledger_set_customer_token(t.customer_id, Some(&token))
            .await?;
        if let Some(mut s) = ev.tx.ledger_subscription(&id).await? {
            let st = SubState::from_doc(&s.state);
            let customer = ev.customer(t.customer_id).await?;
            ev.save_sub(&mut s, &st, &customer, at).await?;
        }
        ev.commit().await?;
        EvResult::Ok(())
    }
    .await?;
    empty(StatusCode::OK)
}

/// GET /inApps/v1/transactions/appTransactions/{anyTransactionId}
pub(super) async fn app_transaction<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = call.begin(None).await?;
    let (c, _) = cx.customer_of(&id).await?;
    if !c.app_transaction.is_object() {
        return Err(Refusal::api(
            ApiError::AppTransactionDoesNotExist,
            "no app transaction",
        ));
    }
    ok(&json!({
        "signedAppTransactionInfo": cx.h.commerce().pki().sign_json(c.app_transaction.text().as_bytes()),
    }))
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

async fn history<H: Host>(call: Call<H>, id: String, v2: bool) -> Answer {
    let ep = if v2 {
        ServerEndpoint::GetTransactionHistoryV2
    } else {
        ServerEndpoint::GetTransactionHistory
    };
    let cx = call.begin(Some(ep)).await?;
    let q = cx.query();
    let (customer, _) = cx.customer_of(&id).await?;
    let mut hq = HistoryQuery {
        customer_id: customer.id,
        limit: PAGE + 1,
        exclude_finished_consumables: !v2,
        ..Default::default()
    };
    let parse_ms = |key: &str, e: ApiError| -> Result<Option<i64>, Refusal> {
        match single(&q, key) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .map(Some)
                .ok_or_else(|| {
                    Refusal::api(e, format!("{key} '{s}' is not a UNIX time in milliseconds"))
                }),
        }
    };
    hq.start_ms = parse_ms("startDate", ApiError::InvalidStartDate)?;
    hq.end_ms = parse_ms("endDate", ApiError::InvalidEndDate)?;
    if let (Some(s), Some(e)) = (hq.start_ms, hq.end_ms)
        && s >= e
    {
        return Err(Refusal::api(
            ApiError::StartDateAfterEndDate,
            "startDate must precede endDate",
        ));
    }
    for t in values(&q, "productType") {
        if ![
            "AUTO_RENEWABLE",
            "NON_RENEWABLE",
            "CONSUMABLE",
            "NON_CONSUMABLE",
        ]
        .contains(&t)
        {
            return Err(Refusal::api(
                ApiError::InvalidProductType,
                format!("productType '{t}'"),
            ));
        }
        hq.product_types.push(t.to_string());
    }
    for p in values(&q, "productId") {
        if p.is_empty() {
            return Err(Refusal::api(ApiError::InvalidProductId, "empty productId"));
        }
        hq.product_ids.push(p.to_string());
    }
    for g in values(&q, "subscriptionGroupIdentifier") {
        if g.is_empty() {
            return Err(Refusal::api(
                ApiError::InvalidSubscriptionGroupIdentifier,
                "empty subscriptionGroupIdentifier",
            ));
        }
        hq.group_ids.push(g.to_string());
    }
    match single(&q, "sort") {
        None | Some("ASCENDING") => {}
        Some("DESCENDING") => hq.descending = true,
        Some(s) => {
            return Err(Refusal::api(
                ApiError::InvalidSort,
                format!("sort '{s}' is ASCENDING or DESCENDING"),
            ));
        }
    }
    match single(&q, "inAppOwnershipType") {
        None => {}
        Some(o @ ("FAMILY_SHARED" | "PURCHASED")) => hq.ownership = Some(o.to_string()),
        Some(o) => {
            return Err(Refusal::api(
                ApiError::InvalidInAppOwnershipType,
                format!("inAppOwnershipType '{o}'"),
            ));
        }
    }
    let flag = |key: &str, e: ApiError, rule: &str| {
        single(&q, key)
            .map(|r| parse_bool(r).ok_or_else(|| Refusal::api(e, format!("{key} '{r}'{rule}"))))
            .transpose()
    };
    if let Some(b) = flag("revoked", ApiError::InvalidRevoked, " is true or false")? {
        hq.revoked = Some(b);
    }
    if flag("excludeRevoked", ApiError::InvalidExcludeRevoked, "")? == Some(true) {
        hq.revoked = Some(false);
    }
    // The revision pages this exact request: its filters are part of the token.
    let mut filters: Vec<&(String, String)> = q.iter().filter(|(k, _)| k != "revision").collect();
    filters.sort();
    let fp = fingerprint(&format!("{}:{v2}:{filters:?}", customer.id));
    hq.cursor = resume(
        single(&q, "revision"),
        "h",
        fp,
        (
            ApiError::InvalidRequestRevision,
            "the revision doesn't belong to this request (send the same query parameters)",
        ),
    )?;
    let mut rows = cx.store().ledger_history(&hq).await?;
    let has_more = page(&mut rows, PAGE);
    let last = rows
        .last()
        .map(|t| t.mod_seq)
        .or(hq.cursor)
        .unwrap_or(if hq.descending { i64::MAX } else { 0 });
    ok(&HistoryResponse {
        revision: Some(encode_token("h", last, fp)),
        has_more: Some(has_more),
        bundle_id: Some(cx.app.bundle_id.clone()),
        app_apple_id: app_apple_id(&cx.app),
        environment: Some(cx.env.wire()),
        signed_transactions: Some(cx.sign_all(&rows)),
    })
}

/// GET /inApps/v1/history/{anyTransactionId} (deprecated; leaves out finished consumables)
pub(super) async fn history_v1<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    history(call, id, false).await
}

/// GET /inApps/v2/history/{anyTransactionId}
pub(super) async fn history_v2<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    history(call, id, true).await
}

async fn refunds<H: Host>(call: Call<H>, id: String, v2: bool) -> Answer {
    let ep = if v2 {
        ServerEndpoint::GetRefundHistoryV2
    } else {
        ServerEndpoint::GetRefundHistory
    };
    let cx = call.begin(Some(ep)).await?;
    let (customer, _) = cx.customer_of(&id).await?;
    let fp = fingerprint(&format!("refunds:{}", customer.id));
    let q = cx.query();
    let revision = single(&q, "revision").filter(|r| v2 && !r.is_empty());
    let cursor = resume(
        revision,
        "r",
        fp,
        (ApiError::InvalidRequestRevision, "unknown revision"),
    )?;
    let size = if v2 { PAGE } else { 50 };
    let mut rows = cx
        .store()
        .ledger_refunds(customer.id, cursor, size + 1)
        .await?;
    let has_more = page(&mut rows, size);
    let signed = cx.sign_all(&rows);
    if !v2 {
        return ok(&json!({ "signedTransactions": signed }));
    }
    let last = rows
        .last()
        .and_then(|t| t.refund_seq)
        .or(cursor)
        .unwrap_or(0);
    ok(&json!({
        "signedTransactions": signed,
        "revision": encode_token("r", last, fp),
        "hasMore": has_more,
    }))
}

/// GET /inApps/v1/refund/lookup/{originalTransactionId} (deprecated)
pub(super) async fn refunds_v1<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    refunds(call, id, false).await
}

/// GET /inApps/v2/refund/lookup/{anyTransactionId}?revision=
pub(super) async fn refunds_v2<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    refunds(call, id, true).await
}

/// GET /inApps/v1/lookup/{orderId} — not available in the sandbox (status 1, no transactions).
pub(super) async fn lookup_order<H: Host>(call: Call<H>, Path(order): Path<String>) -> Answer {
    let cx = call.begin(Some(ServerEndpoint::LookUpOrderId)).await?;
    let invalid = || {
        ok(&OrderLookupResponse {
            status: Some(OrderLookupStatus::Invalid),
            signed_transactions: Some(Vec::new()),
        })
    };
    if cx.env.is_sandbox() {
        return invalid();
    }
    let rows: Vec<TransactionRow> = cx.store().ledger_by_order(&order).await?;
    let rows: Vec<TransactionRow> = rows.into_iter().filter(|t| cx.owns(t)).collect();
    if rows.is_empty() {
        return invalid();
    }
    ok(&OrderLookupResponse {
        status: Some(OrderLookupStatus::Valid),
        signed_transactions: Some(cx.sign_all(&rows)),
    })
}
