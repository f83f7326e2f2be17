//! Apple's App Store Server API (apple-semantics.md §6) over the commerce ledger.
//!
//! Every request: environment (path prefix or host) → In-App Purchase key token
//! (`Verifier::verify_storekit`; 401 with an empty body and `X-Crabapple-Reason`, §1.8 / gap 9)
//! → `bid` must be one of the team's apps → the endpoint's rate limit (§1.9; 429 `4290000` with
//! `Retry-After` in epoch ms) → the endpoint. Errors are `{"errorCode","errorMessage"}` with
//! content type exactly `application/json`.

// Handlers return a finished `Response` as their error: errors are the cold path.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crabapple_auth::ServerEndpoint;
use crabapple_store::ledger::{
    AppRow, CustomerRow, HistoryQuery, MassExtensionRow, NotificationQuery, TransactionRow,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::Host;
use crate::commerce::Env;
use crate::commerce::catalog::{self, DAY_MS, ProductKind};
use crate::commerce::engine::{
    Ev, EvResult, EventError, app_apple_id, notification_url, with_signed_date,
};
use crate::commerce::state::{SubState, renewal_info};
use crate::models::{
    ApiError, DeliveryStatus, ExtendRenewalDateResponse, HistoryResponse, LastTransactionsItem,
    MassExtendRenewalDateResponse, MassExtendRenewalDateStatusResponse, NotificationTypeV2,
    OrderLookupResponse, OrderLookupStatus, RefundPreference, SendTestNotificationResponse, Status,
    StatusResponse, SubscriptionGroupIdentifierItem, Subtype, TransactionInfoResponse,
};

const PAGE: i64 = 20;

pub fn routes<H: Host>() -> Router<Arc<H>> {
    let mut r = Router::new();
    let routes: Vec<(&str, MethodRouter<Arc<H>>)> = vec![
        ("/inApps/v1/transactions/{id}", get(transaction_info::<H>)),
        ("/inApps/v1/transactions/{id}/finish", post(finish::<H>)),
        (
            "/inApps/v1/transactions/{id}/appAccountToken",
            put(set_app_account_token::<H>),
        ),
        (
            "/inApps/v1/transactions/appTransactions/{id}",
            get(app_transaction::<H>),
        ),
        (
            "/inApps/v1/transactions/consumption/{id}",
            put(consumption_v1::<H>),
        ),
        (
            "/inApps/v2/transactions/consumption/{id}",
            put(consumption_v2::<H>),
        ),
        ("/inApps/v1/history/{id}", get(history_v1::<H>)),
        ("/inApps/v2/history/{id}", get(history_v2::<H>)),
        ("/inApps/v1/subscriptions/{id}", get(statuses::<H>)),
        ("/inApps/v1/refund/lookup/{id}", get(refunds_v1::<H>)),
        ("/inApps/v2/refund/lookup/{id}", get(refunds_v2::<H>)),
        ("/inApps/v1/lookup/{order}", get(lookup_order::<H>)),
        ("/inApps/v1/subscriptions/extend/{id}", put(extend::<H>)),
        (
            "/inApps/v1/subscriptions/extend/mass",
            post(mass_extend::<H>),
        ),
        (
            "/inApps/v1/subscriptions/extend/mass/{product}/{request}",
            get(mass_extend_status::<H>),
        ),
        (
            "/inApps/v1/notifications/test",
            post(test_notification::<H>),
        ),
        (
            "/inApps/v1/notifications/test/{token}",
            get(test_notification_status::<H>),
        ),
        (
            "/inApps/v1/notifications/history",
            post(notification_history::<H>),
        ),
    ];
    let messaging = super::messaging::routes::<H>().into_iter();
    for (path, mr) in routes
        .into_iter()
        .chain(messaging)
        .chain(super::realtime::routes::<H>())
    {
        r = r
            .route(path, mr.clone())
            .route(&format!("/sandbox{path}"), mr);
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

pub(super) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut r = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn ok<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::OK, body)
}

/// Apple's error body with the code's HTTP status.
pub(super) fn err(e: ApiError, reason: impl AsRef<str>) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(status, &e);
    r.headers_mut().insert(
        crabapple_http::REASON_HEADER,
        crabapple_http::reason_value(reason.as_ref()),
    );
    r
}

/// 401 with an empty body (§1.8, gap 9: Apple sends no JSON, so libraries raise a bare 401).
fn unauthorized(reason: &str) -> Response {
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    r.headers_mut().insert(
        crabapple_http::REASON_HEADER,
        crabapple_http::reason_value(reason),
    );
    r
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::warn!("App Store Server API: {e}");
    err(ApiError::GeneralInternal, e.to_string())
}

fn from_event(e: EventError) -> Response {
    match e.api {
        Some(a) => err(a, &e.message),
        None if e.status == 404 => err(ApiError::TransactionIdNotFound, &e.message),
        None if e.status >= 500 => internal(&e.message),
        None => err(ApiError::GeneralBadRequest, &e.message),
    }
}

pub(super) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

// ---------------------------------------------------------------------------------------------
// Request context
// ---------------------------------------------------------------------------------------------

pub(super) struct Cx {
    pub(super) app: AppRow,
    pub(super) env: Env,
}

impl Cx {
    fn owns(&self, t: &TransactionRow) -> bool {
        t.app_id == self.app.id && t.environment == self.env.as_str()
    }
    fn owns_customer(&self, c: &CustomerRow) -> bool {
        c.app_id == self.app.id && c.environment == self.env.as_str()
    }
}

/// Sandbox by `/sandbox` prefix or `api.storekit-sandbox.*` host; production otherwise.
fn env_of(uri: &Uri, headers: &HeaderMap) -> Env {
    if uri.path().starts_with("/sandbox/") {
        return Env::Sandbox;
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if host.starts_with("api.storekit-sandbox.") {
        Env::Sandbox
    } else {
        Env::Production
    }
}

/// `expr?` for handlers that answer with a ready error response: the value, or return the response.
macro_rules! or_respond {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}
pub(super) use or_respond;

pub(super) async fn begin<H: Host>(
    h: &H,
    headers: &HeaderMap,
    uri: &Uri,
    endpoint: Option<ServerEndpoint>,
) -> Result<Cx, Response> {
    let c = h.commerce();
    let env = env_of(uri, headers);
    let authz = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let wall = c.store.clock.wall_ms();
    h.ensure_key(authz).await;
    let lookup = |id: &str| h.api_key(id);
    let p = h
        .verifier()
        .verify_storekit(authz, wall / 1000, &lookup)
        .map_err(|e| unauthorized(&e.reason))?;
    let app = c
        .store
        .ledger_app_by_bundle(&p.bundle_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            unauthorized(&format!(
                "bid \"{}\" is not the bundle ID of one of the team's apps (§1.8)",
                p.bundle_id
            ))
        })?;
    if let Some(ep) = endpoint {
        let rs = c.limiter().hit(&app.bundle_id, ep, env.is_sandbox(), wall);
        if !rs.allowed {
            let mut r = err(
                ApiError::RateLimitExceeded,
                format!(
                    "{ep:?}: {} requests per hour for {} in {} (§1.9)",
                    rs.limit,
                    app.bundle_id,
                    env.as_str()
                ),
            );
            let retry = rs.retry_after_ms.unwrap_or(wall + 1000);
            r.headers_mut()
                .insert("Retry-After", HeaderValue::from(retry));
            return Err(r);
        }
    }
    Ok(Cx { app, env })
}

pub(super) fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A transaction of this app and environment, by transaction id.
pub(super) async fn own_txn<H: Host>(
    h: &H,
    cx: &Cx,
    id: &str,
) -> Result<Option<TransactionRow>, Response> {
    let t = h
        .commerce()
        .store
        .ledger_transaction(id)
        .await
        .map_err(internal)?;
    Ok(t.filter(|t| cx.owns(t)))
}

/// The customer behind any transaction id, original transaction id or app transaction id.
async fn customer_of<H: Host>(
    h: &H,
    cx: &Cx,
    id: &str,
) -> Result<(CustomerRow, Option<TransactionRow>), Response> {
    if !is_id(id) {
        return Err(err(
            ApiError::InvalidTransactionId,
            format!("'{id}' is not a transaction id"),
        ));
    }
    let store = &h.commerce().store;
    if let Some(t) = own_txn(h, cx, id).await? {
        let c = store
            .ledger_customer(t.customer_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("customer vanished"))?;
        return Ok((c, Some(t)));
    }
    if let Some(c) = store
        .ledger_customer_by_app_transaction(id)
        .await
        .map_err(internal)?
        .filter(|c| cx.owns_customer(c))
    {
        return Ok((c, None));
    }
    Err(not_found(cx, id))
}

pub(super) fn not_found(cx: &Cx, id: &str) -> Response {
    err(
        ApiError::TransactionIdNotFound,
        format!(
            "no transaction {id} for {} in {} (wrong environment? try the {} URL)",
            cx.app.bundle_id,
            cx.env.as_str(),
            if cx.env.is_sandbox() {
                "production"
            } else {
                "sandbox"
            }
        ),
    )
}

fn now_of<H: Host>(h: &H) -> i64 {
    h.commerce().store.now_ms()
}

fn sign_txn<H: Host>(h: &H, t: &TransactionRow, now: i64) -> String {
    h.commerce().pki().sign(&with_signed_date(&t.payload, now))
}

/// Query pairs, percent-decoded (`+` is a space), in order.
pub(super) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

fn values<'a>(q: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub(super) fn single<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    values(q, key).into_iter().next()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub(super) fn body_json(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            err(
                ApiError::GeneralBadRequest,
                "the request body is not a JSON object",
            )
        })
}

/// Opaque paging tokens: `base64url("<kind>:<seq>:<fingerprint>")`.
fn encode_token(kind: &str, seq: i64, fingerprint: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{seq}:{fingerprint:x}"))
}

fn decode_token(kind: &str, token: &str, fingerprint: u64) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token.trim()).ok()?).ok()?;
    let mut parts = raw.split(':');
    let (k, seq, fp) = (parts.next()?, parts.next()?, parts.next()?);
    (k == kind && u64::from_str_radix(fp, 16).ok()? == fingerprint)
        .then(|| seq.parse().ok())
        .flatten()
}

/// FNV-1a of a request's filters, so a token only pages the request it came from.
fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// GET /inApps/v1/transactions/{transactionId}
async fn transaction_info<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::GetTransactionInfo),
        )
        .await
    );
    if !is_id(&id) {
        return err(
            ApiError::InvalidTransactionId,
            format!("'{id}' is not a transaction id"),
        );
    }
    match own_txn(&*h, &cx, &id).await {
        Ok(Some(t)) => ok(&TransactionInfoResponse {
            signed_transaction_info: Some(sign_txn(&*h, &t, now_of(&*h))),
        }),
        Ok(None) => not_found(&cx, &id),
        Err(r) => r,
    }
}

/// POST /inApps/v1/transactions/{transactionId}/finish (API 1.20)
async fn finish<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(begin(&*h, &headers, &uri, None).await);
    if !is_id(&id) {
        return err(
            ApiError::InvalidTransactionId,
            format!("'{id}' is not a transaction id"),
        );
    }
    match own_txn(&*h, &cx, &id).await {
        Ok(Some(t)) => {
            let r: anyhow::Result<()> = async {
                let mut tx = h.commerce().store.begin().await?;
                tx.ledger_finish(&t.transaction_id).await?;
                tx.commit().await
            }
            .await;
            match r {
                Ok(()) => empty(StatusCode::OK),
                Err(e) => internal(e),
            }
        }
        Ok(None) => not_found(&cx, &id),
        Err(r) => r,
    }
}

/// PUT /inApps/v1/transactions/{originalTransactionId}/appAccountToken (API 1.16)
async fn set_app_account_token<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::SetAppAccountToken),
        )
        .await
    );
    let body = or_respond!(body_json(&body));
    let token = match body.get("appAccountToken").and_then(Value::as_str) {
        Some(t) if uuid::Uuid::parse_str(t).is_ok() => t.to_ascii_lowercase(),
        _ => {
            return err(
                ApiError::InvalidAppAccountTokenUuid,
                "appAccountToken must be a UUID",
            );
        }
    };
    if !is_id(&id) {
        return err(
            ApiError::InvalidOriginalTransactionId,
            format!("'{id}' is not a transaction id"),
        );
    }
    let t = match own_txn(&*h, &cx, &id).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(&cx, &id),
        Err(r) => return r,
    };
    if t.original_transaction_id != t.transaction_id {
        return err(
            ApiError::TransactionIdIsNotOriginalTransactionId,
            format!(
                "{id} is a transaction of original transaction {}",
                t.original_transaction_id
            ),
        );
    }
    if t.ownership == "FAMILY_SHARED" {
        return err(
            ApiError::FamilyTransactionNotSupported,
            "a family-shared transaction",
        );
    }
    let c = h.commerce();
    let r: EvResult<()> = async {
        let at = c.store.now_ms();
        let mut ev = Ev::begin(c).await?;
        for mut t in ev.tx.ledger_chain(&id).await? {
            if let Value::Object(m) = &mut t.payload {
                m.insert("appAccountToken".into(), json!(token));
            }
            ev.update_txn(&mut t, at).await?;
        }
        ev.tx
            .ledger_set_customer_token(t.customer_id, Some(&token))
            .await?;
        if let Some(mut s) = ev.tx.ledger_subscription(&id).await? {
            let st = SubState::from_value(&s.state);
            let customer = ev.customer(t.customer_id).await?;
            ev.save_sub(&mut s, &st, &customer, at).await?;
        }
        ev.commit().await?;
        Ok(())
    }
    .await;
    match r {
        Ok(()) => empty(StatusCode::OK),
        Err(e) => from_event(e),
    }
}

/// GET /inApps/v1/transactions/appTransactions/{anyTransactionId}
async fn app_transaction<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(begin(&*h, &headers, &uri, None).await);
    match customer_of(&*h, &cx, &id).await {
        Ok((c, _)) if c.app_transaction.is_object() => ok(&json!({
            "signedAppTransactionInfo": h.commerce().pki().sign(&c.app_transaction),
        })),
        Ok(_) => err(ApiError::AppTransactionDoesNotExist, "no app transaction"),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Consumption information
// ---------------------------------------------------------------------------------------------

/// Shared checks: the transaction exists, is this app's, is not family-shared, is not an app
/// transaction id.
async fn consumption_target<H: Host>(h: &H, cx: &Cx, id: &str) -> Result<TransactionRow, Response> {
    if !is_id(id) {
        return Err(err(
            ApiError::InvalidTransactionId,
            format!("'{id}' is not a transaction id"),
        ));
    }
    match own_txn(h, cx, id).await? {
        Some(t) if t.ownership == "FAMILY_SHARED" => Err(err(
            ApiError::FamilyTransactionNotSupported,
            "a family-shared transaction",
        )),
        Some(t) => Ok(t),
        None => {
            let at = h
                .commerce()
                .store
                .ledger_customer_by_app_transaction(id)
                .await
                .map_err(internal)?;
            if at.is_some_and(|c| cx.owns_customer(&c)) {
                Err(err(
                    ApiError::AppTransactionIdNotSupported,
                    "an app transaction id",
                ))
            } else {
                Err(not_found(cx, id))
            }
        }
    }
}

async fn record_consumption<H: Host>(
    h: &H,
    t: &TransactionRow,
    version: u8,
    body: &Value,
) -> Response {
    let c = h.commerce();
    let r: anyhow::Result<()> = async {
        let at = c.store.now_ms();
        let mut tx = c.store.begin().await?;
        tx.ledger_put_record(
            "consumption",
            &t.transaction_id,
            &json!({"version": version, "receivedDate": at, "body": body}),
            at,
        )
        .await?;
        tx.commit().await
    }
    .await;
    match r {
        Ok(()) => empty(StatusCode::ACCEPTED),
        Err(e) => internal(e),
    }
}

fn int_in(v: &Value, key: &str, range: std::ops::RangeInclusive<i64>) -> bool {
    v.get(key)
        .and_then(Value::as_i64)
        .is_some_and(|n| range.contains(&n))
}

/// What both consumption endpoints check first: auth, the transaction, a JSON body, and
/// `customerConsented` (must be true: 4000035).
async fn consumption_request<H: Host>(
    h: &H,
    headers: &HeaderMap,
    uri: &Uri,
    id: &str,
    body: &Bytes,
) -> Result<(TransactionRow, Value), Response> {
    let cx = begin(
        h,
        headers,
        uri,
        Some(ServerEndpoint::SendConsumptionInformation),
    )
    .await?;
    let t = consumption_target(h, &cx, id).await?;
    let b = body_json(body)?;
    if b.get("customerConsented").and_then(Value::as_bool) != Some(true) {
        return Err(err(
            ApiError::InvalidCustomerConsented,
            "customerConsented must be true",
        ));
    }
    Ok((t, b))
}

/// PUT /inApps/v2/transactions/consumption/{transactionId} (API 1.19) → 202
async fn consumption_v2<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (t, b) = or_respond!(consumption_request(&*h, &headers, &uri, &id, &body).await);
    if b.get("sampleContentProvided")
        .and_then(Value::as_bool)
        .is_none()
    {
        return err(
            ApiError::InvalidSampleContentProvided,
            "sampleContentProvided (boolean) is required",
        );
    }
    let delivery = match b
        .get("deliveryStatus")
        .and_then(Value::as_str)
        .map(DeliveryStatus::from_wire)
    {
        Some(d) if d.is_known() => d,
        _ => {
            return err(
                ApiError::InvalidDeliveryStatus,
                "deliveryStatus is required: DELIVERED, UNDELIVERED_QUALITY_ISSUE, UNDELIVERED_WRONG_ITEM, UNDELIVERED_SERVER_OUTAGE or UNDELIVERED_OTHER",
            );
        }
    };
    let preference = match b.get("refundPreference") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().map(RefundPreference::from_wire) {
            Some(p) if p.is_known() => Some(p),
            _ => {
                return err(
                    ApiError::InvalidRefundPreference,
                    "refundPreference is DECLINE, GRANT_FULL or GRANT_PRORATED",
                );
            }
        },
    };
    let pct = match b.get("consumptionPercentage") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if (0..=100_000).contains(&n) => Some(n),
            _ => {
                return err(
                    ApiError::ConsumptionPercentageOutOfRange,
                    "consumptionPercentage is milliunits 0–100000",
                );
            }
        },
    };
    let auto = t.product_type == ProductKind::AutoRenewable.product_type();
    if auto && pct.is_some() {
        return err(
            ApiError::ConsumptionPercentageAutoRenewableSubscription,
            "don't send consumptionPercentage for auto-renewable subscriptions",
        );
    }
    if delivery != DeliveryStatus::Delivered && pct.is_some_and(|p| p != 0) {
        return err(
            ApiError::UndeliveredConsumptionPercentageNonZero,
            "consumptionPercentage must be 0 when deliveryStatus isn't DELIVERED",
        );
    }
    if preference == Some(RefundPreference::GrantProrated)
        && !auto
        && !pct.is_some_and(|p| p > 0 && p < 100_000)
    {
        return err(
            ApiError::ConsumptionPercentageOutOfRange,
            "GRANT_PRORATED needs 0 < consumptionPercentage < 100000",
        );
    }
    record_consumption(&*h, &t, 2, &b).await
}

/// PUT /inApps/v1/transactions/consumption/{transactionId} (deprecated) → 202
async fn consumption_v1<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (t, b) = or_respond!(consumption_request(&*h, &headers, &uri, &id, &body).await);
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
    if b.get("sampleContentProvided")
        .and_then(Value::as_bool)
        .is_none()
    {
        return err(
            ApiError::InvalidSampleContentProvided,
            "sampleContentProvided (boolean) is required",
        );
    }
    for (key, range, e) in checks {
        let optional = key == "refundPreference";
        if (optional && b.get(key).is_none_or(Value::is_null)) || int_in(&b, key, range.clone()) {
            continue;
        }
        return err(
            e,
            format!(
                "{key} must be an integer in {}–{}",
                range.start(),
                range.end()
            ),
        );
    }
    match b.get("appAccountToken").and_then(Value::as_str) {
        Some("") => {}
        Some(t) if uuid::Uuid::parse_str(t).is_ok() => {}
        _ => {
            return err(
                ApiError::InvalidAppAccountToken,
                "appAccountToken must be a UUID or an empty string",
            );
        }
    }
    record_consumption(&*h, &t, 1, &b).await
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

async fn history<H: Host>(
    h: Arc<H>,
    id: String,
    headers: HeaderMap,
    uri: Uri,
    v2: bool,
) -> Response {
    let ep = if v2 {
        ServerEndpoint::GetTransactionHistoryV2
    } else {
        ServerEndpoint::GetTransactionHistory
    };
    let cx = or_respond!(begin(&*h, &headers, &uri, Some(ep)).await);
    let q = query_pairs(&uri);
    let (customer, _) = or_respond!(customer_of(&*h, &cx, &id).await);
    let mut hq = HistoryQuery {
        customer_id: customer.id,
        limit: PAGE + 1,
        exclude_finished_consumables: !v2,
        ..Default::default()
    };
    let parse_ms = |key: &str, e: ApiError| -> Result<Option<i64>, Response> {
        match single(&q, key) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .map(Some)
                .ok_or_else(|| err(e, format!("{key} '{s}' is not a UNIX time in milliseconds"))),
        }
    };
    hq.start_ms = or_respond!(parse_ms("startDate", ApiError::InvalidStartDate));
    hq.end_ms = or_respond!(parse_ms("endDate", ApiError::InvalidEndDate));
    if let (Some(s), Some(e)) = (hq.start_ms, hq.end_ms)
        && s >= e
    {
        return err(
            ApiError::StartDateAfterEndDate,
            "startDate must precede endDate",
        );
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
            return err(ApiError::InvalidProductType, format!("productType '{t}'"));
        }
        hq.product_types.push(t.to_string());
    }
    for p in values(&q, "productId") {
        if p.is_empty() {
            return err(ApiError::InvalidProductId, "empty productId");
        }
        hq.product_ids.push(p.to_string());
    }
    for g in values(&q, "subscriptionGroupIdentifier") {
        if g.is_empty() {
            return err(
                ApiError::InvalidSubscriptionGroupIdentifier,
                "empty subscriptionGroupIdentifier",
            );
        }
        hq.group_ids.push(g.to_string());
    }
    match single(&q, "sort") {
        None | Some("ASCENDING") => {}
        Some("DESCENDING") => hq.descending = true,
        Some(s) => {
            return err(
                ApiError::InvalidSort,
                format!("sort '{s}' is ASCENDING or DESCENDING"),
            );
        }
    }
    match single(&q, "inAppOwnershipType") {
        None => {}
        Some(o @ ("FAMILY_SHARED" | "PURCHASED")) => hq.ownership = Some(o.to_string()),
        Some(o) => {
            return err(
                ApiError::InvalidInAppOwnershipType,
                format!("inAppOwnershipType '{o}'"),
            );
        }
    }
    if let Some(r) = single(&q, "revoked") {
        match parse_bool(r) {
            Some(b) => hq.revoked = Some(b),
            None => {
                return err(
                    ApiError::InvalidRevoked,
                    format!("revoked '{r}' is true or false"),
                );
            }
        }
    }
    if let Some(r) = single(&q, "excludeRevoked") {
        match parse_bool(r) {
            Some(true) => hq.revoked = Some(false),
            Some(false) => {}
            None => {
                return err(
                    ApiError::InvalidExcludeRevoked,
                    format!("excludeRevoked '{r}'"),
                );
            }
        }
    }
    // The revision pages this exact request: its filters are part of the token.
    let mut filters: Vec<&(String, String)> = q.iter().filter(|(k, _)| k != "revision").collect();
    filters.sort();
    let fp = fingerprint(&format!("{}:{v2}:{filters:?}", customer.id));
    if let Some(r) = single(&q, "revision") {
        match decode_token("h", r, fp) {
            Some(seq) => hq.cursor = Some(seq),
            None => {
                return err(
                    ApiError::InvalidRequestRevision,
                    "the revision doesn't belong to this request (send the same query parameters)",
                );
            }
        }
    }
    let mut rows = match h.commerce().store.ledger_history(&hq).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let has_more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let last = rows
        .last()
        .map(|t| t.mod_seq)
        .or(hq.cursor)
        .unwrap_or(if hq.descending { i64::MAX } else { 0 });
    let now = now_of(&*h);
    ok(&HistoryResponse {
        revision: Some(encode_token("h", last, fp)),
        has_more: Some(has_more),
        bundle_id: Some(cx.app.bundle_id.clone()),
        app_apple_id: app_apple_id(&cx.app),
        environment: Some(cx.env.wire()),
        signed_transactions: Some(rows.iter().map(|t| sign_txn(&*h, t, now)).collect()),
    })
}

/// GET /inApps/v1/history/{anyTransactionId} (deprecated; leaves out finished consumables)
async fn history_v1<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    history(h, id, headers, uri, false).await
}

/// GET /inApps/v2/history/{anyTransactionId}
async fn history_v2<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    history(h, id, headers, uri, true).await
}

/// GET /inApps/v1/subscriptions/{anyTransactionId}?status=…
async fn statuses<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::GetAllSubscriptionStatuses),
        )
        .await
    );
    let mut wanted = Vec::new();
    for s in values(&query_pairs(&uri), "status") {
        match s.parse::<i64>() {
            Ok(n @ 1..=5) => wanted.push(n),
            _ => return err(ApiError::InvalidStatus, format!("status '{s}' is 1–5")),
        }
    }
    let (customer, _) = or_respond!(customer_of(&*h, &cx, &id).await);
    let store = &h.commerce().store;
    let subs = match store.ledger_subscriptions_of(customer.id).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let now = now_of(&*h);
    let pki = h.commerce().pki();
    let mut groups: Vec<SubscriptionGroupIdentifierItem> = Vec::new();
    for s in subs {
        if !wanted.is_empty() && !wanted.contains(&s.status) {
            continue;
        }
        let latest = match store.ledger_transaction(&s.latest_transaction_id).await {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => return internal(e),
        };
        let st = SubState::from_value(&s.state);
        let renewal = serde_json::to_value(renewal_info(&s, &st, &customer)).unwrap_or_default();
        let item = LastTransactionsItem {
            status: Some(Status::from_wire(s.status)),
            original_transaction_id: Some(s.original_transaction_id.clone()),
            signed_transaction_info: Some(sign_txn(&*h, &latest, now)),
            signed_renewal_info: Some(pki.sign(&with_signed_date(&renewal, now))),
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

async fn refunds<H: Host>(
    h: Arc<H>,
    id: String,
    headers: HeaderMap,
    uri: Uri,
    v2: bool,
) -> Response {
    let ep = if v2 {
        ServerEndpoint::GetRefundHistoryV2
    } else {
        ServerEndpoint::GetRefundHistory
    };
    let cx = or_respond!(begin(&*h, &headers, &uri, Some(ep)).await);
    let (customer, _) = or_respond!(customer_of(&*h, &cx, &id).await);
    let fp = fingerprint(&format!("refunds:{}", customer.id));
    let mut cursor = None;
    if v2 && let Some(r) = single(&query_pairs(&uri), "revision").filter(|r| !r.is_empty()) {
        match decode_token("r", r, fp) {
            Some(s) => cursor = Some(s),
            None => return err(ApiError::InvalidRequestRevision, "unknown revision"),
        }
    }
    let page = if v2 { PAGE } else { 50 };
    let mut rows = match h
        .commerce()
        .store
        .ledger_refunds(customer.id, cursor, page + 1)
        .await
    {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let has_more = rows.len() as i64 > page;
    rows.truncate(page as usize);
    let now = now_of(&*h);
    let signed: Vec<String> = rows.iter().map(|t| sign_txn(&*h, t, now)).collect();
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
async fn refunds_v1<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    refunds(h, id, headers, uri, false).await
}

/// GET /inApps/v2/refund/lookup/{anyTransactionId}?revision=
async fn refunds_v2<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    refunds(h, id, headers, uri, true).await
}

/// GET /inApps/v1/lookup/{orderId} — not available in the sandbox (status 1, no transactions).
async fn lookup_order<H: Host>(
    State(h): State<Arc<H>>,
    Path(order): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(begin(&*h, &headers, &uri, Some(ServerEndpoint::LookUpOrderId)).await);
    let invalid = || {
        ok(&OrderLookupResponse {
            status: Some(OrderLookupStatus::Invalid),
            signed_transactions: Some(Vec::new()),
        })
    };
    if cx.env.is_sandbox() {
        return invalid();
    }
    let rows: Vec<TransactionRow> = match h.commerce().store.ledger_by_order(&order).await {
        Ok(r) => r.into_iter().filter(|t| cx.owns(t)).collect(),
        Err(e) => return internal(e),
    };
    if rows.is_empty() {
        return invalid();
    }
    let now = now_of(&*h);
    ok(&OrderLookupResponse {
        status: Some(OrderLookupStatus::Valid),
        signed_transactions: Some(rows.iter().map(|t| sign_txn(&*h, t, now)).collect()),
    })
}

// ---------------------------------------------------------------------------------------------
// Renewal-date extensions
// ---------------------------------------------------------------------------------------------

fn extend_fields(b: &Value) -> Result<(i64, i64), Response> {
    let days = match b.get("extendByDays").and_then(Value::as_i64) {
        Some(d @ 1..=90) => d,
        _ => return Err(err(ApiError::InvalidExtendByDays, "extendByDays is 1–90")),
    };
    let reason = match b.get("extendReasonCode").and_then(Value::as_i64) {
        Some(r @ 0..=3) => r,
        _ => {
            return Err(err(
                ApiError::InvalidExtendReasonCode,
                "extendReasonCode is 0–3",
            ));
        }
    };
    Ok((days, reason))
}

/// PUT /inApps/v1/subscriptions/extend/{originalTransactionId}
async fn extend<H: Host>(
    State(h): State<Arc<H>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::ExtendSubscriptionRenewalDate),
        )
        .await
    );
    let b = or_respond!(body_json(&body));
    let (days, _reason) = or_respond!(extend_fields(&b));
    let rid = match b.get("requestIdentifier").and_then(Value::as_str) {
        Some(r) if !r.is_empty() && r.len() <= 128 => r.to_string(),
        _ => {
            return err(
                ApiError::InvalidRequestIdentifier,
                "requestIdentifier is required (≤128 characters)",
            );
        }
    };
    if !is_id(&id) {
        return err(
            ApiError::InvalidOriginalTransactionId,
            format!("'{id}' is not a transaction id"),
        );
    }
    let t = match own_txn(&*h, &cx, &id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return err(
                ApiError::OriginalTransactionIdNotFound,
                format!("no original transaction {id}"),
            );
        }
        Err(r) => return r,
    };
    if t.original_transaction_id != t.transaction_id {
        return err(
            ApiError::TransactionIdIsNotOriginalTransactionId,
            format!(
                "{id} belongs to original transaction {}",
                t.original_transaction_id
            ),
        );
    }
    if t.product_type != ProductKind::AutoRenewable.product_type() {
        return err(
            ApiError::SubscriptionExtensionIneligible,
            "not an auto-renewable subscription",
        );
    }
    let c = h.commerce();
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
    match r {
        Ok(v) => ok(&v),
        Err(e) => from_event(e),
    }
}

/// POST /inApps/v1/subscriptions/extend/mass
async fn mass_extend<H: Host>(
    State(h): State<Arc<H>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::ExtendRenewalDateForAllActiveSubscribers),
        )
        .await
    );
    let b = or_respond!(body_json(&body));
    let rid = match b.get("requestIdentifier").and_then(Value::as_str) {
        Some(r) if uuid::Uuid::parse_str(r).is_ok() => r.to_string(),
        _ => {
            return err(
                ApiError::InvalidRequestIdentifier,
                "requestIdentifier must be a UUID",
            );
        }
    };
    let (days, reason) = or_respond!(extend_fields(&b));
    let product_id = match b.get("productId").and_then(Value::as_str) {
        Some(p) if !p.is_empty() => p.to_string(),
        _ => return err(ApiError::InvalidProductId, "productId is required"),
    };
    let storefronts = match b.get("storefrontCountryCodes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.is_empty() => {
            return err(
                ApiError::InvalidEmptyStorefrontCountryCodeList,
                "storefrontCountryCodes is empty",
            );
        }
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for v in a {
                match v.as_str().filter(|s| catalog::storefront(s).is_some()) {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        return err(
                            ApiError::InvalidStorefrontCountryCode,
                            format!("storefront {v}"),
                        );
                    }
                }
            }
            Some(out)
        }
        Some(_) => {
            return err(
                ApiError::InvalidStorefrontCountryCode,
                "storefrontCountryCodes is a list",
            );
        }
    };
    let c = h.commerce();
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
    match r {
        Ok(()) => {
            c.wake();
            ok(&MassExtendRenewalDateResponse {
                request_identifier: Some(rid),
            })
        }
        Err(e) => from_event(e),
    }
}

/// GET /inApps/v1/subscriptions/extend/mass/{productId}/{requestIdentifier}
async fn mass_extend_status<H: Host>(
    State(h): State<Arc<H>>,
    Path((product, rid)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(begin(&*h, &headers, &uri, None).await);
    if uuid::Uuid::parse_str(&rid).is_err() {
        return err(
            ApiError::InvalidRequestIdentifier,
            "requestIdentifier must be a UUID",
        );
    }
    match h
        .commerce()
        .store
        .ledger_mass_extension(&cx.app.id, cx.env.as_str(), &product, &rid)
        .await
    {
        Ok(Some(m)) => ok(&MassExtendRenewalDateStatusResponse {
            request_identifier: Some(m.request_identifier),
            complete: Some(m.complete_ms.is_some()),
            complete_date: m.complete_ms,
            succeeded_count: Some(m.succeeded),
            failed_count: Some(m.failed),
        }),
        Ok(None) => err(
            ApiError::StatusRequestNotFound,
            format!("no mass extension {rid} for {product}"),
        ),
        Err(e) => internal(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

/// POST /inApps/v1/notifications/test
async fn test_notification<H: Host>(
    State(h): State<Arc<H>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::RequestTestNotification),
        )
        .await
    );
    if notification_url(&cx.app, cx.env).0.is_none() {
        return err(
            ApiError::ServerNotificationUrlNotFound,
            format!(
                "no {} notification URL for {}",
                cx.env.as_str(),
                cx.app.bundle_id
            ),
        );
    }
    let c = h.commerce();
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
    match r {
        Ok(token) => ok(&SendTestNotificationResponse {
            test_notification_token: Some(token),
        }),
        Err(e) => from_event(e),
    }
}

/// GET /inApps/v1/notifications/test/{testNotificationToken}
async fn test_notification_status<H: Host>(
    State(h): State<Arc<H>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::GetTestNotificationStatus),
        )
        .await
    );
    let well_formed = token
        .split_once('_')
        .is_some_and(|(u, t)| uuid::Uuid::parse_str(u).is_ok() && t.parse::<i64>().is_ok());
    if !well_formed {
        return err(
            ApiError::InvalidTestNotificationToken,
            "not a test notification token",
        );
    }
    let n = match h
        .commerce()
        .store
        .ledger_notification_by_test_token(&token)
        .await
    {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    let now = now_of(&*h);
    match n {
        // Retrievable for six months, once the first attempt has been made.
        Some(n)
            if n.app_id == cx.app.id
                && n.environment == cx.env.as_str()
                && now - n.signed_date_ms <= 183 * DAY_MS
                && n.attempts.as_array().is_some_and(|a| !a.is_empty()) =>
        {
            ok(&json!({
                "signedPayload": n.signed_payload,
                "firstSendAttemptResult": n.attempts[0]["sendAttemptResult"],
                "sendAttempts": n.attempts,
            }))
        }
        _ => err(
            ApiError::TestNotificationNotFound,
            "unknown or expired token, or not attempted yet",
        ),
    }
}

/// POST /inApps/v1/notifications/history?paginationToken=
async fn notification_history<H: Host>(
    State(h): State<Arc<H>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let cx = or_respond!(
        begin(
            &*h,
            &headers,
            &uri,
            Some(ServerEndpoint::GetNotificationHistory),
        )
        .await
    );
    let b = or_respond!(body_json(&body));
    let now = now_of(&*h);
    let start = match b.get("startDate").and_then(Value::as_i64) {
        Some(s) if s >= 0 => s,
        _ => return err(ApiError::InvalidStartDate, "startDate (ms) is required"),
    };
    let end = match b.get("endDate").and_then(Value::as_i64) {
        Some(e) if e >= 0 => e.min(now),
        _ => return err(ApiError::InvalidEndDate, "endDate (ms) is required"),
    };
    if start >= end {
        return err(
            ApiError::StartDateAfterEndDate,
            "startDate must precede endDate",
        );
    }
    let window_days = if cx.env.is_sandbox() { 30 } else { 180 };
    if start < now - window_days * DAY_MS {
        return err(
            ApiError::StartDateTooFarInPast,
            format!(
                "startDate is more than {window_days} days ago ({})",
                cx.env.as_str()
            ),
        );
    }
    let ntype = match b.get("notificationType") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().map(NotificationTypeV2::from_wire) {
            Some(t) if t.is_known() => Some(t.as_str().to_string()),
            _ => {
                return err(
                    ApiError::InvalidNotificationType,
                    format!("notificationType {v}"),
                );
            }
        },
    };
    let subtype = match b.get("notificationSubtype") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str().map(Subtype::from_wire) {
            Some(s) if s.is_known() && ntype.is_some() => Some(s.as_str().to_string()),
            _ => {
                return err(
                    ApiError::InvalidNotificationType,
                    format!("notificationSubtype {v} (needs a notificationType)"),
                );
            }
        },
    };
    let txn_id = match b.get("transactionId") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_str() {
            Some(s) if is_id(s) => Some(s.to_string()),
            _ => return err(ApiError::InvalidTransactionId, format!("transactionId {v}")),
        },
    };
    if txn_id.is_some() && ntype.is_some() {
        return err(
            ApiError::MultipleFiltersSupplied,
            "notificationType and transactionId are exclusive",
        );
    }
    let customer_id = match &txn_id {
        Some(id) => match customer_of(&*h, &cx, id).await {
            Ok((c, _)) => Some(c.id),
            Err(r) => return r,
        },
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
    let q = query_pairs(&uri);
    let after = match single(&q, "paginationToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match decode_token("n", t, fp) {
            Some(s) => Some(s),
            None => {
                return err(
                    ApiError::InvalidPaginationToken,
                    "the paginationToken doesn't belong to this request body",
                );
            }
        },
    };
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
    let mut rows = match h.commerce().store.ledger_notification_history(&nq).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let has_more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let items: Vec<Value> = rows
        .iter()
        .map(|n| {
            let mut item = json!({ "signedPayload": n.signed_payload, "sendAttempts": n.attempts });
            if let Some(first) = n.attempts.get(0) {
                item["firstSendAttemptResult"] = first["sendAttemptResult"].clone();
            }
            item
        })
        .collect();
    let mut resp = json!({ "hasMore": has_more, "notificationHistory": items });
    if has_more && let Some(last) = rows.last() {
        resp["paginationToken"] = json!(encode_token("n", last.seq, fp));
    }
    ok(&resp)
}
