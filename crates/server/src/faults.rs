//! Faults on demand, served (issue 13): the armed faults ([`crabapple_http::faults`]) applied to
//! the requests they name, before the request reaches its API; every faulted answer carries
//! `X-Crabapple-Reason` saying it was injected. Admin API:
//!
//! | Route | Body / answer |
//! |---|---|
//! | `GET /crabapple/admin/faults` | the armed faults (with `matched` and `fired` counters) |
//! | `POST /crabapple/admin/faults` | one fault (`route`, `kind`, …) → 201 with its `id` |
//! | `DELETE /crabapple/admin/faults` | disarms every fault |
//! | `DELETE /crabapple/admin/faults/{id}` | disarms one (404 if unknown) |
//!
//! The list lives in the store's settings, so `crabapple faults …` and seed files (`faults:`)
//! arm the same faults; a server re-reads it when another process wrote the database.

use crate::App;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use crabapple_http::faults::{self, Fault, Kind, Target};
use crabapple_jsonapi::AscError;
use crabapple_storekit::http::{Answer, Refusal};
use crabapple_storekit::models::ApiError;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The armed faults of a running server (the store's list, with this process's counters).
#[derive(Default)]
pub struct Armed(std::sync::Mutex<Vec<Fault>>);

impl Armed {
    fn replace(&self, list: Vec<Fault>) {
        if let Ok(mut l) = self.0.lock() {
            *l = list;
        }
    }
}

/// The stored list (empty when none was armed).
pub async fn load(store: &crabapple_store::Store) -> anyhow::Result<Vec<Fault>> {
    match store.meta_get(faults::META_KEY).await? {
        Some(s) => faults::parse_list(&serde_json::from_str(&s)?).map_err(|e| anyhow::anyhow!(e)),
        None => Ok(Vec::new()),
    }
}

/// Stores the list (the admin API and `crabapple faults` both write through here).
pub async fn save(store: &crabapple_store::Store, list: &[Fault]) -> anyhow::Result<()> {
    store
        .meta_set(faults::META_KEY, &serde_json::to_string(list)?)
        .await
}

/// Re-reads the stored list (at start, and when another process wrote the database).
pub async fn reload(app: &App) -> anyhow::Result<()> {
    app.faults.replace(load(app.store()).await?);
    Ok(())
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/crabapple/admin/faults",
            get(list).post(arm).delete(disarm_all),
        )
        .route("/crabapple/admin/faults/{id}", delete(disarm))
}

async fn list(State(app): State<Arc<App>>) -> Answer {
    let list = load(app.store()).await.map_err(Refusal::admin_internal)?;
    Ok(Json(list).into_response())
}

async fn arm(State(app): State<Arc<App>>, body: Bytes) -> Answer {
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, format!("not JSON: {e}")))?;
    let mut added =
        faults::parse_list(&json!([v])).map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, e))?;
    let mut list = load(app.store()).await.map_err(Refusal::admin_internal)?;
    added[0].id.clear();
    list.append(&mut added);
    faults::number(&mut list);
    save(app.store(), &list)
        .await
        .map_err(Refusal::admin_internal)?;
    let armed = list.last().cloned();
    app.faults.replace(list);
    Ok((StatusCode::CREATED, Json(armed)).into_response())
}

async fn disarm_all(State(app): State<Arc<App>>) -> Answer {
    save(app.store(), &[])
        .await
        .map_err(Refusal::admin_internal)?;
    app.faults.replace(Vec::new());
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn disarm(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    let mut list = load(app.store()).await.map_err(Refusal::admin_internal)?;
    let before = list.len();
    list.retain(|f| f.id != id);
    if list.len() == before {
        return Err(Refusal::admin(
            StatusCode::NOT_FOUND,
            format!("no armed fault {id}"),
        ));
    }
    save(app.store(), &list)
        .await
        .map_err(Refusal::admin_internal)?;
    app.faults.replace(list);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Writes this process's counters of the HTTP faults into the stored list, keeping what others
/// keep there (the notification sender counts its own faults in the same list).
async fn save_counters(store: &crabapple_store::Store, mine: &[Fault]) -> anyhow::Result<()> {
    let mut stored = load(store).await?;
    for f in stored
        .iter_mut()
        .filter(|f| f.kind != Kind::NotificationTimeout)
    {
        if let Some(m) = mine.iter().find(|m| m.id == f.id) {
            (f.matched, f.fired, f.count) = (m.matched, m.fired, m.count);
        }
    }
    save(store, &stored).await
}

/// Marks a response whose connection is to be closed without it ([`Kind::Drop`]); the
/// listener ([`crate::listen`]) sees the mark.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// Applies the first armed fault that names the request and draws a hit; every other request
/// passes untouched. crabapple's own admin API and inspector are never faulted.
pub async fn inject<F, Fut>(app: &App, req: Request, next: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    let path = req.uri().path();
    // Nothing armed (the usual case): not even the token's key is read.
    if path.starts_with("/crabapple/admin")
        || path.starts_with("/crabapple/ui")
        || app.faults.0.lock().is_ok_and(|l| l.is_empty())
    {
        return next(req).await;
    }
    let key_id = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::token_kid);
    let target = Target {
        method: req.method().as_str(),
        path,
        key_id: key_id.as_deref(),
    };
    let (hit, list) = {
        let Ok(mut list) = app.faults.0.lock() else {
            return next(req).await;
        };
        // Draws until one hits; counters are written back only when a draw moved them (a
        // spent fault that still names the request costs no write).
        let (mut hit, mut changed) = (None, false);
        for f in list
            .iter_mut()
            .filter(|f| f.kind != Kind::NotificationTimeout && f.names(&target))
        {
            let seen = f.matched;
            let fired = f.draw();
            changed |= f.matched != seen;
            if fired {
                hit = Some(f.clone());
                break;
            }
        }
        (hit, changed.then(|| list.clone()))
    };
    if let Some(list) = list
        && let Err(e) = Box::pin(save_counters(app.store(), &list)).await
    {
        tracing::warn!("saving the faults' counters: {e:#}");
    }
    let Some(f) = hit else {
        return next(req).await;
    };
    // What follows is rare: its waits are boxed, so the future every request carries is small.
    let reason = f.describe();
    tracing::info!("{} {}: {reason}", req.method(), req.uri());
    let mut resp = match f.kind {
        Kind::Latency => {
            let pause = std::time::Duration::from_millis(f.latency_ms.unwrap_or(0));
            Box::pin(tokio::time::sleep(pause)).await;
            next(req).await
        }
        Kind::Status => status_answer(req.uri().path(), &f),
        Kind::Drop => {
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(DropConnection);
            r
        }
        Kind::Truncate => Box::pin(truncate(next(req).await)).await,
        Kind::NotificationTimeout => next(req).await,
    };
    resp.headers_mut().insert(
        crabapple_http::REASON_HEADER,
        crabapple_http::reason_value(&reason),
    );
    resp
}

/// The fault's status in the shape of the API `path` belongs to: the Server API's
/// `{errorCode, errorMessage}`, App Store Connect's `{"errors": […]}`, else a text body.
fn status_answer(path: &str, f: &Fault) -> Response<Body> {
    let status = f.status.unwrap_or(500);
    let retry_after = f.retry_after.or((status == 429).then_some(60));
    let mut resp = if path.starts_with("/inApps/") || path.starts_with("/sandbox/inApps/") {
        match status {
            // Apple's Server API sends Retry-After as a UNIX time in milliseconds (§1.9).
            429 => Refusal::RateLimited {
                retry_after_ms: jiff::Timestamp::now().as_millisecond()
                    + retry_after.unwrap_or(60) as i64 * 1000,
                reason: String::new(),
            }
            .into_response(),
            500 => Refusal::api(ApiError::GeneralInternal, "").into_response(),
            s if s >= 500 => Refusal::api(ApiError::GeneralInternalRetryable, "").into_response(),
            _ => Refusal::api(ApiError::GeneralBadRequest, "").into_response(),
        }
    } else if path.starts_with("/v1/") || path.starts_with("/v2/") || path.starts_with("/v3/") {
        let e = match status {
            429 => AscError::rate_limited(""),
            500 => AscError::internal(""),
            // crabapple's wording: Apple documents no App Store Connect 503 body.
            _ => AscError::new(
                status,
                "SERVICE_UNAVAILABLE",
                "The service is currently unavailable.",
                "The service is temporarily unavailable. Please try again later.",
            ),
        };
        crate::wire::error(e, &[])
    } else {
        let mut r = Response::new(Body::from(format!("injected fault {}\n", f.id)));
        r.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(s) = retry_after.filter(|_| !path.contains("inApps/")) {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(s));
    }
    resp
}

/// The real answer's status and headers, then half its body, then an error (the connection
/// closes short of `Content-Length`).
async fn truncate(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let bytes = match http_body_util::BodyExt::collect(body).await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    parts
        .headers
        .insert("content-length", HeaderValue::from(bytes.len()));
    let half = bytes.slice(..bytes.len() / 2);
    let pause = Box::pin(tokio::time::sleep(std::time::Duration::from_millis(100)));
    Response::from_parts(parts, Body::new(Truncated(Some(half), pause)))
}

/// A body that yields its bytes, waits a moment (so they reach the socket), then fails.
struct Truncated(Option<Bytes>, Pin<Box<tokio::time::Sleep>>);

impl HttpBody for Truncated {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if let Some(b) = self.0.take() {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(b))));
        }
        match self.1.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other(
                "truncated by an injected fault",
            )))),
        }
    }
}
