//! Apple's App Store Server API (apple-semantics.md §6) over the commerce ledger.
//!
//! Every request: environment (path prefix or host) → In-App Purchase key token
//! (`Verifier::verify_storekit`; 401 with an empty body and `X-Crabapple-Reason`, §1.8 / gap 9)
//! → `bid` must be one of the team's apps → the endpoint's rate limit (§1.9; 429 `4290000` with
//! `Retry-After` in epoch ms) → the endpoint. Errors are `{"errorCode","errorMessage"}` with
//! content type exactly `application/json` ([`super::error::Refusal`]).
//!
//! This module owns the route table and what every endpoint shares (the request context
//! [`Call`] → [`Cx`], ids, query strings, JSON bodies, paging tokens); the endpoints are in [`super::transactions`],
//! [`super::subscriptions`], [`super::consumption`] and [`super::notifications`].

use crate::ledger::LedgerStore;
use std::convert::Infallible;
use std::sync::Arc;

use crate::ledger::{AppRow, CustomerRow, TransactionRow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{MethodRouter, get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crabapple_auth::ServerEndpoint;
use crabapple_store::{Store, Tx};
use serde_json::{Value, json};

use super::error::{Answer, Refusal, empty};
use super::{Host, consumption, notifications, subscriptions, transactions};
use crate::commerce::Env;
use crate::models::ApiError;

/// Page size of transaction history, refund history v2 and notification history.
pub(super) const PAGE: i64 = 20;

pub fn routes<H: Host>() -> Router<Arc<H>> {
    let mut r = Router::new();
    let routes: Vec<(&str, MethodRouter<Arc<H>>)> = vec![
        (
            "/inApps/v1/transactions/{id}",
            get(transactions::transaction_info::<H>),
        ),
        (
            "/inApps/v1/transactions/{id}/finish",
            post(transactions::finish::<H>),
        ),
        (
            "/inApps/v1/transactions/{id}/appAccountToken",
            put(transactions::set_app_account_token::<H>),
        ),
        (
            "/inApps/v1/transactions/appTransactions/{id}",
            get(transactions::app_transaction::<H>),
        ),
        (
            "/inApps/v1/transactions/consumption/{id}",
            put(consumption::consumption_v1::<H>),
        ),
        (
            "/inApps/v2/transactions/consumption/{id}",
            put(consumption::consumption_v2::<H>),
        ),
        (
            "/inApps/v1/history/{id}",
            get(transactions::history_v1::<H>),
        ),
        (
            "/inApps/v2/history/{id}",
            get(transactions::history_v2::<H>),
        ),
        (
            "/inApps/v1/subscriptions/{id}",
            get(subscriptions::statuses::<H>),
        ),
        (
            "/inApps/v1/refund/lookup/{id}",
            get(transactions::refunds_v1::<H>),
        ),
        (
            "/inApps/v2/refund/lookup/{id}",
            get(transactions::refunds_v2::<H>),
        ),
        (
            "/inApps/v1/lookup/{order}",
            get(transactions::lookup_order::<H>),
        ),
        (
            "/inApps/v1/subscriptions/extend/{id}",
            put(subscriptions::extend::<H>),
        ),
        (
            "/inApps/v1/subscriptions/extend/mass",
            post(subscriptions::mass_extend::<H>),
        ),
        (
            "/inApps/v1/subscriptions/extend/mass/{product}/{request}",
            get(subscriptions::mass_extend_status::<H>),
        ),
        (
            "/inApps/v1/notifications/test",
            post(notifications::test_notification::<H>),
        ),
        (
            "/inApps/v1/notifications/test/{token}",
            get(notifications::test_notification_status::<H>),
        ),
        (
            "/inApps/v1/notifications/history",
            post(notifications::notification_history::<H>),
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
// Request context
// ---------------------------------------------------------------------------------------------

/// What every endpoint is called with: the server's state and the request's head. Extracting
/// it never fails, so a handler's own extractors (path, body) refuse first, as they always did;
/// [`Call::begin`] then makes the checks every request goes through.
pub(super) struct Call<H> {
    h: Arc<H>,
    headers: HeaderMap,
    uri: Uri,
}

impl<H: Host> FromRequestParts<Arc<H>> for Call<H> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, h: &Arc<H>) -> Result<Self, Infallible> {
        Ok(Call {
            h: h.clone(),
            headers: parts.headers.clone(),
            uri: parts.uri.clone(),
        })
    }
}

/// A request that passed [`Call::begin`]: the app the token's `bid` names and the environment.
pub(super) struct Cx<H> {
    pub(super) h: Arc<H>,
    pub(super) app: AppRow,
    pub(super) env: Env,
    uri: Uri,
}

impl<H: Host> Call<H> {
    /// Environment (path prefix or host) → In-App Purchase key token → `bid` is one of the
    /// team's apps → the `endpoint`'s rate limit, if it has one.
    pub(super) async fn begin(self, endpoint: Option<ServerEndpoint>) -> Result<Cx<H>, Refusal> {
        let Call { h, headers, uri } = self;
        let c = h.commerce();
        let env = env_of(&uri, &headers);
        let authz = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let wall = c.store.clock.wall_ms();
        h.ensure_key(authz).await;
        let lookup = |id: &str| h.api_key(id);
        let p = h
            .verifier()
            .verify_storekit(authz, wall / 1000, &lookup)
            .map_err(|e| Refusal::Unauthorized(e.reason))?;
        let app = c
            .store
            .ledger_app_by_bundle(&p.bundle_id)
            .await?
            .ok_or_else(|| {
                Refusal::Unauthorized(format!(
                    "bid \"{}\" is not the bundle ID of one of the team's apps (§1.8)",
                    p.bundle_id
                ))
            })?;
        if let Some(ep) = endpoint {
            let rs = c
                .rate_hit(&app.bundle_id, ep, env.is_sandbox(), wall)
                .await?;
            if !rs.allowed {
                return Err(Refusal::RateLimited {
                    retry_after_ms: rs.retry_after_ms.unwrap_or(wall + 1000),
                    reason: format!(
                        "{ep:?}: {} requests per hour for {} in {} (§1.9)",
                        rs.limit,
                        app.bundle_id,
                        env.as_str()
                    ),
                });
            }
        }
        Ok(Cx { h, app, env, uri })
    }
}

impl<H: Host> Cx<H> {
    pub(super) fn owns(&self, t: &TransactionRow) -> bool {
        t.app_id == self.app.id && t.environment == self.env.as_str()
    }

    pub(super) fn owns_customer(&self, c: &CustomerRow) -> bool {
        c.app_id == self.app.id && c.environment == self.env.as_str()
    }

    /// The app's id and the environment, as the store scopes rows.
    pub(super) fn scope(&self) -> (&str, &str) {
        (&self.app.id, self.env.as_str())
    }

    pub(super) fn store(&self) -> &Store {
        &self.h.commerce().store
    }

    /// The request's query pairs.
    pub(super) fn query(&self) -> Vec<(String, String)> {
        query_pairs(&self.uri)
    }

    pub(super) fn now(&self) -> i64 {
        self.store().now_ms()
    }

    /// A transaction's JWS, signed now.
    pub(super) fn sign_txn(&self, t: &TransactionRow, now: i64) -> String {
        self.h
            .commerce()
            .pki()
            .sign_json(t.payload.signed_at(now).as_bytes())
    }

    /// Every transaction's JWS, all signed at the same moment.
    pub(super) fn sign_all(&self, rows: &[TransactionRow]) -> Vec<String> {
        let now = self.now();
        rows.iter().map(|t| self.sign_txn(t, now)).collect()
    }

    /// A transaction of this app and environment, by transaction id.
    pub(super) async fn own_txn(&self, id: &str) -> Result<Option<TransactionRow>, Refusal> {
        let t = self.store().ledger_transaction(id).await?;
        Ok(t.filter(|t| self.owns(t)))
    }

    /// A transaction of this app and environment that exists: `invalid` if `id` is not a
    /// transaction id, `TransactionIdNotFound` if there is no such transaction.
    pub(super) async fn existing_txn(
        &self,
        id: &str,
        invalid: ApiError,
    ) -> Result<TransactionRow, Refusal> {
        let id = txn_id(id, invalid)?;
        self.own_txn(id).await?.ok_or_else(|| self.not_found(id))
    }

    /// The customer behind any transaction id, original transaction id or app transaction id.
    pub(super) async fn customer_of(
        &self,
        id: &str,
    ) -> Result<(CustomerRow, Option<TransactionRow>), Refusal> {
        let id = txn_id(id, ApiError::InvalidTransactionId)?;
        let store = self.store();
        if let Some(t) = self.own_txn(id).await? {
            let c = store
                .ledger_customer(t.customer_id)
                .await?
                .ok_or_else(|| Refusal::internal("customer vanished"))?;
            return Ok((c, Some(t)));
        }
        if let Some(c) = store
            .ledger_customer_by_app_transaction(id)
            .await?
            .filter(|c| self.owns_customer(c))
        {
            return Ok((c, None));
        }
        Err(self.not_found(id))
    }

    pub(super) fn not_found(&self, id: &str) -> Refusal {
        Refusal::api(
            ApiError::TransactionIdNotFound,
            format!(
                "no transaction {id} for {} in {} (wrong environment? try the {} URL)",
                self.app.bundle_id,
                self.env.as_str(),
                if self.env.is_sandbox() {
                    "production"
                } else {
                    "sandbox"
                }
            ),
        )
    }

    /// Runs `f` in a write transaction: `Ok(())` commits and answers 200 with no body; a
    /// refusal rolls back (a store error is a 500).
    pub(super) async fn in_tx(
        &self,
        f: impl AsyncFnOnce(&mut Tx) -> Result<(), Refusal>,
    ) -> Answer {
        let mut tx = self.store().begin().await?;
        f(&mut tx).await?;
        tx.commit().await?;
        empty(StatusCode::OK)
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

pub(super) fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `id` if it is a transaction id, else `invalid`.
pub(super) fn txn_id(id: &str, invalid: ApiError) -> Result<&str, Refusal> {
    if is_id(id) {
        Ok(id)
    } else {
        Err(Refusal::api(
            invalid,
            format!("'{id}' is not a transaction id"),
        ))
    }
}

/// `FamilyTransactionNotSupported` for a family-shared transaction.
pub(super) fn not_family_shared(t: &TransactionRow) -> Result<(), Refusal> {
    if t.ownership == "FAMILY_SHARED" {
        return Err(Refusal::api(
            ApiError::FamilyTransactionNotSupported,
            "a family-shared transaction",
        ));
    }
    Ok(())
}

/// `TransactionIdIsNotOriginalTransactionId` unless `t` is an original transaction; `why` words
/// the reason from the id of its original.
pub(super) fn original(
    t: &TransactionRow,
    why: impl FnOnce(&str) -> String,
) -> Result<(), Refusal> {
    if t.original_transaction_id != t.transaction_id {
        return Err(Refusal::api(
            ApiError::TransactionIdIsNotOriginalTransactionId,
            why(&t.original_transaction_id),
        ));
    }
    Ok(())
}

/// Keeps the first `size` rows of a page fetched with one row more; whether there are more.
pub(super) fn page<T>(rows: &mut Vec<T>, size: i64) -> bool {
    let has_more = rows.len() as i64 > size;
    rows.truncate(size as usize);
    has_more
}

/// The position a paging token (of `kind`, for this request's `fingerprint`) resumes after;
/// `None` without a token; Apple's error `invalid` for a token of another request.
pub(super) fn resume(
    token: Option<&str>,
    kind: &str,
    fingerprint: u64,
    invalid: (ApiError, &str),
) -> Result<Option<i64>, Refusal> {
    match token {
        None => Ok(None),
        Some(t) => decode_token(kind, t, fingerprint)
            .map(Some)
            .ok_or_else(|| Refusal::api(invalid.0, invalid.1)),
    }
}

/// A body field that may be absent or `null`; when present, `parse` must accept it, else
/// `refuse`.
pub(super) fn optional<'a, T>(
    b: &'a Value,
    key: &str,
    parse: impl FnOnce(&'a Value) -> Option<T>,
    refuse: impl FnOnce(&'a Value) -> Refusal,
) -> Result<Option<T>, Refusal> {
    match b.get(key).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| refuse(v)),
    }
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

pub(super) fn values<'a>(q: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub(super) fn single<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    values(q, key).into_iter().next()
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub(super) fn body_json(body: &Bytes) -> Result<Value, Refusal> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            Refusal::api(
                ApiError::GeneralBadRequest,
                "the request body is not a JSON object",
            )
        })
}

/// Opaque paging tokens: `base64url("<kind>:<seq>:<fingerprint>")`.
pub(super) fn encode_token(kind: &str, seq: i64, fingerprint: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{seq}:{fingerprint:x}"))
}

pub(super) fn decode_token(kind: &str, token: &str, fingerprint: u64) -> Option<i64> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token.trim()).ok()?).ok()?;
    let mut parts = raw.split(':');
    let (k, seq, fp) = (parts.next()?, parts.next()?, parts.next()?);
    (k == kind && u64::from_str_radix(fp, 16).ok()? == fingerprint)
        .then(|| seq.parse().ok())
        .flatten()
}

/// FNV-1a of a request's filters, so a token only pages the request it came from.
pub(super) fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
