//! The App Store Server API's subscription endpoints: Get All Subscription Statuses, Extend a
//! Subscription Renewal Date, Extend Subscription Renewal Dates for All Active Subscribers and
//! its status (apple-semantics.md §6).

use crate::ledger::{Doc, MassExtensionRow};
use crate::ledger::{LedgerStore, LedgerTx};
use axum::body::Bytes;
use axum::extract::Path;
use crabapple_auth::ServerEndpoint;
use serde_json::{Value, json};

use super::Host;
use super::api::{Call, body_json, optional, original, txn_id, values};
use super::error::{Answer, Refusal, ok};
use crate::commerce::catalog::{self, ProductKind};
use crate::commerce::engine::{Ev, EvResult, EventError, app_apple_id};
use crate::commerce::state::{SubState, renewal_info};
use crate::models::{
    ApiError, ExtendRenewalDateResponse, LastTransactionsItem, MassExtendRenewalDateResponse,
    MassExtendRenewalDateStatusResponse, Status, StatusResponse, SubscriptionGroupIdentifierItem,
};

// ---------------------------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------------------------

/// GET /inApps/v1/subscriptions/{anyTransactionId}?status=…
pub(super) async fn statuses<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = call
        .begin(Some(ServerEndpoint::GetAllSubscriptionStatuses))
        .await?;
    let mut wanted = Vec::new();
    for s in values(&cx.query(), "status") {
        match s.parse::<i64>() {
            Ok(n @ 1..=5) => wanted.push(n),
            _ => {
                return Err(Refusal::api(
                    ApiError::InvalidStatus,
                    format!("status '{s}' is 1–5"),
                ));
            }
        }
    }
    let (customer, _) = cx.customer_of(&id).await?;
    let store = cx.store();
    let subs = store.ledger_subscriptions_of(customer.id).await?;
    let now = cx.now();
    let pki = cx.h.commerce().pki();
    let mut groups: Vec<SubscriptionGroupIdentifierItem> = Vec::new();
    for s in subs {
        if !wanted.is_empty() && !wanted.contains(&s.status) {
            continue;
        }
        let Some(latest) = store.ledger_transaction(&s.latest_transaction_id).await? else {
            continue;
        };
        let st = SubState::from_doc(&s.state);
        let renewal = Doc::of(&renewal_info(&s, &st, &customer)).map_err(anyhow::Error::from)?;
        let item = LastTransactionsItem {
            status: Some(Status::from_wire(s.status)),
            original_transaction_id: Some(s.original_transaction_id.clone()),
            signed_transaction_info: Some(cx.sign_txn(&latest, now)),
            signed_renewal_info: Some(pki.sign_json(renewal.signed_at(now).as_bytes())),
        };
        match groups
            .iter_mut()
            .find(|g| g.subscription_group_identifier.as_deref() == Some(&s.group_id))
        {
            Some(g) => g.last_transactions.get_or_insert_with(Vec::new).push(item),
            None => groups.push(SubscriptionGroupIdentifierItem {
                subscription_group_identifier: Some(s.group_id.clone()),
                last_transactions: Some(vec![item]),
            }),
        }
    }
    ok(&StatusResponse {
        environment: Some(cx.env.wire()),
        bundle_id: Some(cx.app.bundle_id.clone()),
        app_apple_id: app_apple_id(&cx.app),
        data: Some(groups),
    })
}

// ---------------------------------------------------------------------------------------------
// Renewal-date extensions
// ---------------------------------------------------------------------------------------------

fn extend_fields(b: &Value) -> Result<(i64, i64), Refusal> {
    let int_in = |key: &str, range: std::ops::RangeInclusive<i64>, e: ApiError, why: &str| {
        b.get(key)
            .and_then(Value::as_i64)
            .filter(|n| range.contains(n))
            .ok_or_else(|| Refusal::api(e, why))
    };
    let days = int_in(
        "extendByDays",
        1..=90,
        ApiError::InvalidExtendByDays,
        "extendByDays is 1–90",
    )?;
    let reason = int_in(
        "extendReasonCode",
        0..=3,
        ApiError::InvalidExtendReasonCode,
        "extendReasonCode is 0–3",
    )?;
    Ok((days, reason))
}

/// A `requestIdentifier` `accept` takes, else `InvalidRequestIdentifier` saying `why`.
fn request_identifier(
    b: &Value,
    accept: impl Fn(&str) -> bool,
    why: &str,
) -> Result<String, Refusal> {
    b.get("requestIdentifier")
        .and_then(Value::as_str)
        .filter(|r| accept(r))
        .map(str::to_string)
        .ok_or_else(|| Refusal::api(ApiError::InvalidRequestIdentifier, why))
}

/// PUT /inApps/v1/subscriptions/extend/{originalTransactionId}
pub(super) async fn extend<H: Host>(call: Call<H>, Path(id): Path<String>, body: Bytes) -> Answer {
    let cx = call
        .begin(Some(ServerEndpoint::ExtendSubscriptionRenewalDate))
        .await?;
    let b = body_json(&body)?;
    let (days, _reason) = extend_fields(&b)?;
    let rid = request_identifier(
        &b,
        |r| !r.is_empty() && r.len() <= 128,
        "requestIdentifier is required (≤128 characters)",
    )?;
    txn_id(&id, ApiError::InvalidOriginalTransactionId)?;
    let t = cx.own_txn(&id).await?.ok_or_else(|| {
        Refusal::api(
            ApiError::OriginalTransactionIdNotFound,
            format!("no original transaction {id}"),
        )
    })?;
    original(&t, |o| format!("{id} belongs to original transaction {o}"))?;
    if t.product_type != ProductKind::AutoRenewable.product_type() {
        return Err(Refusal::api(
            ApiError::SubscriptionExtensionIneligible,
            "not an auto-renewable subscription",
        ));
    }
    let c = cx.h.commerce();
    let key = format!("{}:{}:{}:{rid}", cx.app.id, cx.env.as_str(), id);
    if let Ok(Some(prev)) = c.store.ledger_record("extend", &key).await {
        return ok(&prev);
    }
    let r: EvResult<Value> = async {
        let at = c.store.now_ms();
        let mut ev = Ev::begin(c).await?;
        let mut ctx = ev.sub_ctx(&id).await?;
        let (latest, eff) = ev.extend(&mut ctx, days, at, true).await?;
        let resp = serde_json::to_value(ExtendRenewalDateResponse {
            original_transaction_id: Some(id.clone()),
            web_order_line_item_id: latest.web_order_line_item_id.clone(),
            success: Some(true),
            effective_date: Some(eff),
        })
        .map_err(anyhow::Error::from)?;
        ev.tx.ledger_put_record("extend", &key, &resp, at).await?;
        ev.commit().await?;
        Ok(resp)
    }
    .await;
    ok(&r?)
}

/// POST /inApps/v1/subscriptions/extend/mass
pub(super) async fn mass_extend<H: Host>(call: Call<H>, body: Bytes) -> Answer {
    let cx = call
        .begin(Some(
            ServerEndpoint::ExtendRenewalDateForAllActiveSubscribers,
        ))
        .await?;
    let b = body_json(&body)?;
    let rid = request_identifier(
        &b,
        |r| uuid::Uuid::parse_str(r).is_ok(),
        "requestIdentifier must be a UUID",
    )?;
    let (days, reason) = extend_fields(&b)?;
    let product_id = b
        .get("productId")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Refusal::api(ApiError::InvalidProductId, "productId is required"))?;
    let storefronts = optional(
        &b,
        "storefrontCountryCodes",
        |v| v.as_array(),
        |_| {
            Refusal::api(
                ApiError::InvalidStorefrontCountryCode,
                "storefrontCountryCodes is a list",
            )
        },
    )?;
    let storefronts = match storefronts {
        None => None,
        Some(a) if a.is_empty() => {
            return Err(Refusal::api(
                ApiError::InvalidEmptyStorefrontCountryCodeList,
                "storefrontCountryCodes is empty",
            ));
        }
        Some(a) => {
            let mut out = Vec::new();
            for v in a {
                match v.as_str().filter(|s| catalog::storefront(s).is_some()) {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        return Err(Refusal::api(
                            ApiError::InvalidStorefrontCountryCode,
                            format!("storefront {v}"),
                        ));
                    }
                }
            }
            Some(out)
        }
    };
    let c = cx.h.commerce();
    let r: EvResult<()> = async {
        let at = c.store.now_ms();
        let mut ev = Ev::begin(c).await?;
        let product = catalog::resolve_product(&mut ev.tx, &cx.app, &product_id).await?;
        if product.is_none_or(|p| p.kind != ProductKind::AutoRenewable) {
            return Err(EventError::api(
                ApiError::InvalidProductId,
                format!(
                    "{product_id} is not an auto-renewable subscription of {}",
                    cx.app.bundle_id
                ),
            ));
        }
        if ev
            .tx
            .ledger_mass_extension(&cx.app.id, cx.env.as_str(), &product_id, &rid)
            .await?
            .is_none()
        {
            let m = MassExtensionRow {
                app_id: cx.app.id.clone(),
                environment: cx.env.as_str().into(),
                product_id: product_id.clone(),
                request_identifier: rid.clone(),
                request: json!({
                    "extendByDays": days,
                    "extendReasonCode": reason,
                    "storefrontCountryCodes": storefronts,
                }),
                created_ms: at,
                due_ms: Some(at),
                complete_ms: None,
                succeeded: 0,
                failed: 0,
            };
            ev.tx.ledger_put_mass_extension(&m).await?;
        }
        ev.commit().await?;
        Ok(())
    }
    .await;
    r?;
    c.wake();
    ok(&MassExtendRenewalDateResponse {
        request_identifier: Some(rid),
    })
}

/// GET /inApps/v1/subscriptions/extend/mass/{productId}/{requestIdentifier}
pub(super) async fn mass_extend_status<H: Host>(
    call: Call<H>,
    Path((product, rid)): Path<(String, String)>,
) -> Answer {
    let cx = call.begin(None).await?;
    if uuid::Uuid::parse_str(&rid).is_err() {
        return Err(Refusal::api(
            ApiError::InvalidRequestIdentifier,
            "requestIdentifier must be a UUID",
        ));
    }
    let m = cx
        .store()
        .ledger_mass_extension(&cx.app.id, cx.env.as_str(), &product, &rid)
        .await?
        .ok_or_else(|| {
            Refusal::api(
                ApiError::StatusRequestNotFound,
                format!("no mass extension {rid} for {product}"),
            )
        })?;
    ok(&MassExtendRenewalDateStatusResponse {
        request_identifier: Some(m.request_identifier),
        complete: Some(m.complete_ms.is_some()),
        complete_date: m.complete_ms,
        succeeded_count: Some(m.succeeded),
        failed_count: Some(m.failed),
    })
}
