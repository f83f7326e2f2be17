//! Every refusal of the App Store Server API family (`/inApps/…`, the Retention Messaging API)
//! and of crabapple's admin API, and the one conversion that writes it as an HTTP response:
//!
//! - [`Refusal::Api`]: Apple's error body `{"errorCode": …, "errorMessage": …}` with the code's
//!   HTTP status and content type exactly `application/json` (apple-semantics.md §6).
//! - [`Refusal::RateLimited`]: 429 `4290000 RateLimitExceeded` with `Retry-After` in epoch
//!   milliseconds (§1.9).
//! - [`Refusal::Unauthorized`]: 401 with an empty body — Apple sends no JSON, so Apple's
//!   libraries raise a bare 401 (§1.8, gap 9).
//! - [`Refusal::Internal`]: 500 `5000000 GeneralInternal`, logged.
//! - [`Refusal::Admin`]: the admin API's `{"error": message}` with any status.
//!
//! Each carries crabapple's reason, sent in [`crabapple_http::REASON_HEADER`]; Apple's body never
//! changes. Handlers return [`Answer`] and refuse with `?`; [`EventError`] (a commerce event's
//! error) converts with one `From`.

use std::fmt::Display;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::commerce::engine::EventError;
use crate::models::ApiError;

/// Why a request of the App Store Server API family or the admin API was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Apple's error body for the code, with the code's HTTP status; the reason.
    Api(ApiError, String),
    /// 429 `RateLimitExceeded` with `Retry-After` (epoch ms, §1.9).
    RateLimited { retry_after_ms: i64, reason: String },
    /// 401 with an empty body (§1.8).
    Unauthorized(String),
    /// 500 `GeneralInternal`; the reason is logged.
    Internal(String),
    /// The admin API's `{"error": message}`; the message is the reason too.
    Admin(StatusCode, String),
    /// A request refused before it reached a handler (413 body too large, 431 header too large,
    /// issue 8): Apple documents no code for these, so the body is `4000000 GeneralBadRequest`
    /// with the HTTP status that says what was wrong.
    Oversized(StatusCode, String),
}

/// What a handler answers: a response, or a refusal.
pub type Answer = Result<Response, Refusal>;

impl Refusal {
    /// Apple's error `e`, with crabapple's `reason`.
    pub fn api(e: ApiError, reason: impl Into<String>) -> Refusal {
        Refusal::Api(e, reason.into())
    }

    /// A failure of crabapple itself (a store error, a task that died).
    pub fn internal(e: impl Display) -> Refusal {
        Refusal::Internal(e.to_string())
    }

    /// The admin API's refusal with `status`.
    pub fn admin(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal::Admin(status, message.into())
    }

    /// The admin API's 500, with a storage fault in plain words or the whole chain of causes.
    pub fn admin_internal(e: anyhow::Error) -> Refusal {
        Refusal::admin(
            StatusCode::INTERNAL_SERVER_ERROR,
            crabapple_store::error_reason(&e),
        )
    }

    /// A commerce event's error as the admin API reports it (its own status: 400, 404, 409, …).
    pub fn admin_event(e: EventError) -> Refusal {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        Refusal::Admin(status, e.message)
    }
}

/// A commerce event's error as the App Store Server API reports it: its Apple error if the rule
/// has one, else 404 → `TransactionIdNotFound`, 5xx → `GeneralInternal`, the rest →
/// `GeneralBadRequest`.
impl From<EventError> for Refusal {
    fn from(e: EventError) -> Refusal {
        match e.api {
            Some(a) => Refusal::Api(a, e.message),
            None if e.status == 404 => Refusal::Api(ApiError::TransactionIdNotFound, e.message),
            None if e.status >= 500 => Refusal::Internal(e.message),
            None => Refusal::Api(ApiError::GeneralBadRequest, e.message),
        }
    }
}

/// A store error: 500 `GeneralInternal`; the reason names a storage fault in plain words
/// ("storage full: …", issue 8) or gives the chain of causes.
impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Refusal {
        Refusal::Internal(crabapple_store::error_reason(&e))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (mut response, reason) = match self {
            Refusal::Api(e, reason) => (apple_error(&e), reason),
            Refusal::RateLimited {
                retry_after_ms,
                reason,
            } => {
                let mut r = apple_error(&ApiError::RateLimitExceeded);
                r.headers_mut()
                    .insert("Retry-After", HeaderValue::from(retry_after_ms));
                (r, reason)
            }
            Refusal::Unauthorized(reason) => (StatusCode::UNAUTHORIZED.into_response(), reason),
            Refusal::Internal(reason) => {
                tracing::warn!("App Store Server API: {reason}");
                (apple_error(&ApiError::GeneralInternal), reason)
            }
            Refusal::Admin(status, message) => {
                (json_response(status, &json!({ "error": message })), message)
            }
            Refusal::Oversized(status, reason) => {
                (json_response(status, &ApiError::GeneralBadRequest), reason)
            }
        };
        response.headers_mut().insert(
            crabapple_http::REASON_HEADER,
            crabapple_http::reason_value(&reason),
        );
        response
    }
}

/// Apple's error body with the code's HTTP status.
fn apple_error(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, e)
}

/// `body` as JSON with content type exactly `application/json`.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut r = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// 200 with `body` as JSON.
pub fn ok<T: Serialize>(body: &T) -> Answer {
    Ok(json_response(StatusCode::OK, body))
}

/// `status` with an empty body.
pub fn empty(status: StatusCode) -> Answer {
    Ok(status.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, content type, reason header and body of a refusal as sent.
    async fn sent(r: Refusal) -> (u16, Option<String>, Option<String>, String) {
        let resp = r.into_response();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let (status, ct, reason) = (
            resp.status().as_u16(),
            header("content-type"),
            header(crabapple_http::REASON_HEADER),
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            ct,
            reason,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn api_refusal_is_apples_error_body_with_the_codes_status() {
        let (status, ct, reason, body) = sent(Refusal::api(
            ApiError::InvalidTransactionId,
            "'x' is not a transaction id",
        ))
        .await;
        assert_eq!(status, 400);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(reason.as_deref(), Some("'x' is not a transaction id"));
        assert_eq!(
            body,
            r#"{"errorCode":4000006,"errorMessage":"Invalid transaction id."}"#
        );
    }

    #[tokio::test]
    async fn unauthorized_is_a_bare_401_section_1_8() {
        let (status, ct, reason, body) = sent(Refusal::Unauthorized("no token".into())).await;
        assert_eq!((status, ct, body.as_str()), (401, None, ""));
        assert_eq!(reason.as_deref(), Some("no token"));
    }

    #[tokio::test]
    async fn rate_limited_is_4290000_with_retry_after_in_epoch_ms_section_1_9() {
        let resp = Refusal::RateLimited {
            retry_after_ms: 1_700_000_000_123,
            reason: "limit".into(),
        }
        .into_response();
        assert_eq!(resp.headers()["Retry-After"], "1700000000123");
        let (status, _, reason, body) = sent(Refusal::RateLimited {
            retry_after_ms: 1,
            reason: "limit".into(),
        })
        .await;
        assert_eq!(status, 429);
        assert_eq!(reason.as_deref(), Some("limit"));
        assert_eq!(
            body,
            r#"{"errorCode":4290000,"errorMessage":"Rate limit exceeded."}"#
        );
    }

    #[tokio::test]
    async fn internal_is_5000000_and_events_map_to_their_apple_error() {
        let (status, _, reason, body) = sent(Refusal::from(anyhow::anyhow!("disk full"))).await;
        assert_eq!(status, 500);
        assert_eq!(reason.as_deref(), Some("disk full"));
        assert_eq!(
            body,
            r#"{"errorCode":5000000,"errorMessage":"An unknown error occurred."}"#
        );
        let (status, _, _, body) = sent(EventError::not_found("no transaction 1").into()).await;
        assert_eq!(status, 404);
        assert_eq!(
            body,
            r#"{"errorCode":4040010,"errorMessage":"Transaction id not found."}"#
        );
        let (status, _, _, body) = sent(EventError::conflict("expired").into()).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"errorCode":4000000,"errorMessage":"Bad request."}"#
        );
    }

    #[tokio::test]
    async fn admin_refusal_is_error_json_with_its_status_and_reason() {
        let (status, ct, reason, body) = sent(Refusal::admin_event(EventError::conflict(
            "the subscription has expired",
        )))
        .await;
        assert_eq!(status, 409);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(reason.as_deref(), Some("the subscription has expired"));
        assert_eq!(body, r#"{"error":"the subscription has expired"}"#);
    }
}
