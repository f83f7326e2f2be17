//! The Retention Messaging API's real-time setup: Configure / Get / Delete Realtime URL
//! (`/inApps/v1/messaging/realtime/url`), Initiate Performance Test and Get Performance Test
//! Results (`/inApps/v1/messaging/performanceTest…`), where crabapple POSTs Apple's signed
//! real-time requests to the configured sandbox URL ([`crate::retention`]); crabapple's admin
//! stand-in for a customer opening the subscription page (one real-time request and the message
//! the system would show); and the answer for any other path under `/inApps/`.
//!
//! Rules (developer.apple.com/documentation/retentionmessaging):
//! - `realtimeURL`: "must begin with https:// and be a maximum of 256 characters"
//!   (`BadRequestRealtimeUrlError`); crabapple also accepts `http://` to a loopback host
//!   (127.0.0.1, localhost, [::1]) so a local endpoint can be tested without TLS.
//! - "Your server needs to pass a performance test before you can configure your Get Retention
//!   Message endpoint for the production environment" (`ForbiddenNoPassingTestError`).
//! - Get Realtime URL without one: `404 RealtimeUrlNotFoundError`.
//! - "The performance test runs only in the sandbox environment. Use original transaction
//!   identifiers of transactions you initiate in the sandbox environment"; one test at a time
//!   (`ExistingPerformanceTestRunError`); results by `requestId` (`InvalidRequestIdError`,
//!   `PerformanceTestRunNotFoundError`).

use crate::ledger::LedgerStore;
use crate::messaging_store::{MessagingStore, MessagingTx};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use crate::messaging_store::PerformanceTestRow;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{MethodRouter, any, get, post, put};
use crabapple_store::Store;
use serde_json::{Value, json};

use super::Host;
use super::api::{Call, Cx, body_json, not_family_shared, original};
use super::error::{Answer, Refusal, ok};
use super::messaging::is_lower_uuid;
use crate::commerce::Env;
use crate::models::ApiError;
use crate::retention::{self, CONFIG};

/// `realtimeURL`: "a maximum of 256 characters".
pub const MAX_URL: usize = 256;

pub fn routes<H: Host>() -> Vec<(&'static str, MethodRouter<Arc<H>>)> {
    vec![
        (
            "/inApps/v1/messaging/realtime/url",
            put(configure_url::<H>)
                .get(get_url::<H>)
                .delete(delete_url::<H>),
        ),
        (
            "/inApps/v1/messaging/performanceTest",
            post(initiate_test::<H>),
        ),
        (
            "/inApps/v1/messaging/performanceTest/result/{id}",
            get(test_results::<H>),
        ),
        // Every other path under /inApps: the Server API's error body, never App Store
        // Connect's. Apple documents no code for an unknown path; crabapple answers 404 with
        // errorCode 4040000, Apple's `<status>0000` pattern for a general error
        // (like 4000000 GeneralBadRequest and 5000000 GeneralInternal).
        ("/inApps/{*rest}", any(unknown_path)),
    ]
}

/// 404 `{"errorCode":4040000,"errorMessage":"Not found."}` for a path the API doesn't have.
async fn unknown_path(uri: Uri) -> Refusal {
    Refusal::api(
        ApiError::Unknown {
            code: 4_040_000,
            message: "Not found.".into(),
        },
        format!("{} is not an App Store Server API path", uri.path()),
    )
}

// ---------------------------------------------------------------------------------------------
// Realtime URL
// ---------------------------------------------------------------------------------------------

/// Apple's rule, plus plain HTTP to a loopback host (crabapple, for local endpoints).
fn realtime_url_ok(s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_URL {
        return Err(format!("realtimeURL is longer than {MAX_URL} characters"));
    }
    let u = reqwest::Url::parse(s).map_err(|e| format!("realtimeURL is not a URL: {e}"))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" if s.starts_with("https://") => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("realtimeURL must begin with https:// (or http:// to a loopback host)".into()),
    }
}

/// PUT /inApps/v1/messaging/realtime/url `{"realtimeURL": "https://…"}`
async fn configure_url<H: Host>(call: Call<H>, body: Bytes) -> Answer {
    let cx = call.begin(None).await?;
    let b = body_json(&body)?;
    let Some(url) = b.get("realtimeURL").and_then(Value::as_str) else {
        return Err(Refusal::api(
            ApiError::BadRequestRealtimeUrl,
            "realtimeURL is required (a string)",
        ));
    };
    if let Err(why) = realtime_url_ok(url) {
        return Err(Refusal::api(ApiError::BadRequestRealtimeUrl, why));
    }
    // Issue 8: crabapple never sends requests to link-local or metadata addresses.
    if let Some(why) = cx.h.commerce().egress.refused(url) {
        return Err(Refusal::api(ApiError::BadRequestRealtimeUrl, why));
    }
    if !cx.env.is_sandbox()
        && !cx
            .store()
            .messaging_has_test(&cx.app.id, Env::Sandbox.as_str(), "PASS")
            .await?
    {
        return Err(Refusal::api(
            ApiError::ForbiddenNoPassingTest,
            "no passing sandbox performance test: run Initiate Performance Test first",
        ));
    }
    set_url(&cx, Some(url)).await
}

/// Sets (`Some`) or deletes (`None`) the environment's realtime URL; 200 with no body.
async fn set_url<H: Host>(cx: &Cx<H>, url: Option<&str>) -> Answer {
    let (app, env) = cx.scope();
    cx.in_tx(async |tx| {
        tx.messaging_set_realtime_url(app, env, url).await?;
        Ok(())
    })
    .await
}

/// GET /inApps/v1/messaging/realtime/url
async fn get_url<H: Host>(call: Call<H>) -> Answer {
    let cx = call.begin(None).await?;
    let (app, env) = cx.scope();
    let url = cx
        .store()
        .messaging_realtime_url(app, env)
        .await?
        .ok_or_else(|| {
            Refusal::api(
                ApiError::RealtimeUrlNotFound,
                format!("no {} realtime URL", cx.env.as_str()),
            )
        })?;
    ok(&json!({ "realtimeURL": url }))
}

/// DELETE /inApps/v1/messaging/realtime/url (200 whether or not one was configured).
async fn delete_url<H: Host>(call: Call<H>) -> Answer {
    set_url(&call.begin(None).await?, None).await
}

// ---------------------------------------------------------------------------------------------
// Performance test
// ---------------------------------------------------------------------------------------------

/// Request ids of the tests this process is running (a test left `PENDING` by a process that
/// stopped doesn't block a new one).
fn running() -> &'static Mutex<HashSet<String>> {
    static RUNNING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

fn bad_test_request(why: impl Into<String>) -> Refusal {
    Refusal::api(ApiError::InvalidPerformanceTestRequest, why)
}

/// POST /inApps/v1/messaging/performanceTest `{"originalTransactionId": "…"}`
async fn initiate_test<H: Host>(call: Call<H>, body: Bytes) -> Answer {
    let cx = call.begin(None).await?;
    if !cx.env.is_sandbox() {
        return Err(bad_test_request(
            "the performance test runs only in the sandbox environment",
        ));
    }
    let b = body_json(&body)?;
    let Some(id) = b.get("originalTransactionId").and_then(Value::as_str) else {
        return Err(bad_test_request(
            "originalTransactionId is required (a string)",
        ));
    };
    let txn = cx.existing_txn(id, ApiError::InvalidTransactionId).await?;
    not_family_shared(&txn)?;
    original(&txn, |o| {
        format!("{id} is not an original transaction id (its original is {o})")
    })?;
    if txn.product_type != "AUTO_RENEWABLE" {
        return Err(bad_test_request(format!(
            "{id} is not an auto-renewable subscription"
        )));
    }
    let c = cx.h.commerce().clone();
    let target = c
        .store
        .messaging_realtime_url(&cx.app.id, Env::Sandbox.as_str())
        .await?
        .ok_or_else(|| {
            Refusal::api(
                ApiError::RealtimeUrlNotFound,
                "configure the sandbox realtime URL before the performance test",
            )
        })?;
    let request_id = uuid::Uuid::new_v4().to_string();
    {
        let mut set = running().lock().expect("running tests");
        let busy = set
            .iter()
            .any(|r| r.starts_with(&format!("{}:", cx.app.id)));
        if busy {
            return Err(Refusal::api(
                ApiError::ExistingPerformanceTestRun,
                "a performance test is already running for this app",
            ));
        }
        set.insert(format!("{}:{request_id}", cx.app.id));
    }
    let row = PerformanceTestRow {
        request_id: request_id.clone(),
        app_id: cx.app.id.clone(),
        environment: Env::Sandbox.as_str().to_string(),
        status: "PENDING".into(),
        result: retention::pending_result(&target, CONFIG),
        created_ms: c.store.now_ms(),
    };
    let stored: anyhow::Result<()> = async {
        let mut tx = c.store.begin().await?;
        tx.messaging_put_test(&row).await?;
        tx.commit().await
    }
    .await;
    let key = format!("{}:{request_id}", cx.app.id);
    if let Err(e) = stored {
        running().lock().expect("running tests").remove(&key);
        return Err(e.into());
    }
    let app = cx.app.clone();
    tokio::spawn(async move {
        if let Err(e) = retention::run_performance_test(c, row, target, app, txn, CONFIG).await {
            tracing::warn!("performance test {key}: {e:#}");
        }
        running().lock().expect("running tests").remove(&key);
    });
    ok(&json!({ "config": CONFIG.to_json(), "requestId": request_id }))
}

/// GET /inApps/v1/messaging/performanceTest/result/{requestId}
async fn test_results<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = call.begin(None).await?;
    if !is_lower_uuid(&id) {
        return Err(Refusal::api(
            ApiError::InvalidRequestId,
            format!("'{id}' is not a performance test request id"),
        ));
    }
    match cx.store().messaging_performance_test(&id).await? {
        Some(t) if t.app_id == cx.app.id && t.environment == cx.env.as_str() => ok(&t.result),
        _ => Err(Refusal::api(
            ApiError::PerformanceTestRunNotFound,
            format!("no performance test {id} in {}", cx.env.as_str()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// A customer views the subscription (admin)
// ---------------------------------------------------------------------------------------------

/// `POST /crabapple/admin/commerce/messaging/{bundleId}/{environment}/realtime`.
pub fn admin_routes<H: Host>() -> Router<Arc<H>> {
    Router::new().route(
        "/crabapple/admin/commerce/messaging/{bundle}/{environment}/realtime",
        post(customer_views::<H>),
    )
}

/// `{"originalTransactionId", "userLocale"?}`: what Apple's server does when the customer views
/// the subscription's details — one real-time request to the environment's Get Retention Message
/// URL (if any) — and the message the system would show: the one the endpoint chose if it is
/// `APPROVED` (`message`, `alternateProduct` or `promotionalOffer`, exactly one), else the
/// default message for the product and locale ("If your server response fails for any reason,
/// the system displays a default retention message"), else none.
async fn customer_views<H: Host>(
    State(h): State<Arc<H>>,
    Path((bundle, environment)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let Some(env) = Env::parse(&environment) else {
        return Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            "environment: sandbox or production",
        ));
    };
    let b: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = b["originalTransactionId"].as_str() else {
        return Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            "originalTransactionId is required",
        ));
    };
    let locale = b["userLocale"].as_str().unwrap_or("en-US");
    let c = h.commerce();
    let found = async {
        let app = c.store.ledger_app_by_bundle(&bundle).await?;
        let txn = c.store.ledger_transaction(id).await?;
        let url = match &app {
            Some(a) => c.store.messaging_realtime_url(&a.id, env.as_str()).await?,
            None => None,
        };
        anyhow::Ok((app, txn, url))
    };
    let (app, txn, url) = match found.await? {
        (Some(app), Some(t), url)
            if t.app_id == app.id
                && t.environment == env.as_str()
                && t.product_type == "AUTO_RENEWABLE" =>
        {
            (app, t, url)
        }
        _ => {
            return Err(Refusal::admin(
                StatusCode::NOT_FOUND,
                format!("no auto-renewable subscription {id} of {bundle} in {environment}"),
            ));
        }
    };
    let request = retention::realtime_request(&app, env, &txn, locale, c.store.now_ms());
    let answer = match &url {
        Some(url) => {
            let timeout = std::time::Duration::from_millis(CONFIG.response_time_threshold);
            Some(retention::call(c, url, &request, timeout).await)
        }
        None => None,
    };
    let chosen = answer.as_ref().and_then(|a| a.body.as_ref());
    let display = shown_message(&c.store, &app.id, env, &txn.product_id, locale, chosen).await?;
    ok(&json!({
        "realtimeURL": url,
        "request": request,
        "sendAttemptResult": answer.as_ref().map(|a| a.result.as_str().to_string()),
        "responseTimeMs": answer.as_ref().map(|a| a.elapsed.as_millis() as u64),
        "response": chosen,
        "display": display,
    }))
}

/// The message the system shows, as `{"source": "REALTIME" | "DEFAULT", "type",
/// "messageIdentifier", …}`, or `null`.
async fn shown_message(
    store: &Store,
    app: &str,
    env: Env,
    product: &str,
    locale: &str,
    chosen: Option<&Value>,
) -> anyhow::Result<Value> {
    let env = env.as_str();
    let approved = async |id: &str| -> anyhow::Result<bool> {
        Ok(store
            .messaging_message(app, env, id)
            .await?
            .is_some_and(|m| m.message_state == "APPROVED"))
    };
    if let Some(r) = chosen {
        let kinds: Vec<&str> = ["message", "alternateProduct", "promotionalOffer"]
            .into_iter()
            .filter(|k| r.get(*k).is_some_and(Value::is_object))
            .collect();
        if let [kind] = kinds.as_slice()
            && let Some(id) = r[*kind]["messageIdentifier"].as_str()
            && approved(id).await?
        {
            let mut shown = r[*kind].clone();
            shown["source"] = json!("REALTIME");
            shown["type"] = json!(kind);
            return Ok(shown);
        }
    }
    if let Some(id) = store.messaging_default(app, env, product, locale).await?
        && approved(&id).await?
    {
        return Ok(json!({"source": "DEFAULT", "type": "message", "messageIdentifier": id}));
    }
    Ok(Value::Null)
}
