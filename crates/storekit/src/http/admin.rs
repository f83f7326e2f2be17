//! crabapple's commerce admin API (`/crabapple/admin/commerce/…`, no token, like the rest of
//! the admin API):
//!
//! | method + path | what |
//! |---|---|
//! | `POST /crabapple/admin/commerce/{event}` | an event (`purchase`, `renew`, `refund`, … see [`crate::commerce::events`]) |
//! | `GET /crabapple/admin/commerce/notifications?bundleId=&limit=` | the outbox / history, decoded |
//! | `GET /crabapple/admin/commerce/transactions/{id}` | a transaction as stored |
//! | `GET /crabapple/admin/commerce/subscriptions/{id}` | a subscription's renewal state (any transaction id) |
//! | `PUT /crabapple/admin/commerce/apps/{bundleId}/notification-urls` | `{"production","productionVersion","sandbox","sandboxVersion"}` (the app's `subscriptionStatusUrl…` attributes) |
//! | `GET|PUT /crabapple/admin/commerce/settings` | delivery timeout and concurrency, rate-limit scale |
//! | `POST /crabapple/admin/commerce/run-due` | run everything due now (also done on every clock advance) |
//! | `GET /crabapple/admin/commerce/ca?format=pem|der` | the signing root certificate |

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Host;
use crate::commerce::Settings;
use crate::commerce::events::{self, EventArgs};
use crate::commerce::state::{SubState, renewal_info};

pub fn routes<H: Host>() -> Router<Arc<H>> {
    Router::new()
        .route(
            "/crabapple/admin/commerce/notifications",
            get(notifications::<H>),
        )
        .route(
            "/crabapple/admin/commerce/transactions/{id}",
            get(transaction::<H>),
        )
        .route(
            "/crabapple/admin/commerce/subscriptions/{id}",
            get(subscription::<H>),
        )
        .route(
            "/crabapple/admin/commerce/apps/{bundle}/notification-urls",
            put(set_urls::<H>).get(get_urls::<H>),
        )
        .route(
            "/crabapple/admin/commerce/settings",
            get(get_settings::<H>).put(put_settings::<H>),
        )
        .route("/crabapple/admin/commerce/run-due", post(run_due::<H>))
        .route("/crabapple/admin/commerce/ca", get(ca::<H>))
        .route("/crabapple/admin/commerce/{event}", post(event::<H>))
}

fn admin_error(status: u16, msg: impl Into<String>) -> Response {
    let msg = msg.into();
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(
            crabapple_http::REASON_HEADER,
            crabapple_http::reason_value(&msg),
        )],
        Json(json!({ "error": msg })),
    )
        .into_response()
}

async fn event<H: Host>(
    State(h): State<Arc<H>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let args: EventArgs = if body.is_empty() {
        EventArgs::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(a) => a,
            Err(e) => return admin_error(400, format!("{name}: {e}")),
        }
    };
    match events::apply(h.commerce(), &name, args).await {
        Ok(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Err(e) => admin_error(e.status, e.message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    bundle_id: Option<String>,
    limit: Option<i64>,
}

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

async fn notifications<H: Host>(State(h): State<Arc<H>>, Query(q): Query<ListQuery>) -> Response {
    let store = &h.commerce().store;
    let app = match &q.bundle_id {
        Some(b) => match store.ledger_app_by_bundle(b).await {
            Ok(Some(a)) => Some(a.id),
            Ok(None) => return admin_error(404, format!("no app with bundle id {b}")),
            Err(e) => return admin_error(500, format!("{e:#}")),
        },
        None => None,
    };
    match store
        .ledger_notifications(app.as_deref(), q.limit.unwrap_or(100))
        .await
    {
        Ok(rows) => {
            let list: Vec<Value> = rows
                .iter()
                .map(|n| {
                    let mut payload = decode_jws(&n.signed_payload);
                    if let Some(d) = payload.get_mut("data").and_then(Value::as_object_mut) {
                        for k in ["signedTransactionInfo", "signedRenewalInfo"] {
                            if let Some(j) = d.get(k).and_then(Value::as_str) {
                                let decoded = decode_jws(j);
                                d.insert(format!("{k}Decoded"), decoded);
                            }
                        }
                    }
                    json!({
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
                        "signedPayload": n.signed_payload,
                    })
                })
                .collect();
            Json(json!({ "data": list })).into_response()
        }
        Err(e) => admin_error(500, format!("{e:#}")),
    }
}

async fn transaction<H: Host>(State(h): State<Arc<H>>, Path(id): Path<String>) -> Response {
    match h.commerce().store.ledger_transaction(&id).await {
        Ok(Some(t)) => Json(json!({
            "transactionId": t.transaction_id,
            "originalTransactionId": t.original_transaction_id,
            "environment": t.environment,
            "bundleId": t.bundle_id,
            "productType": t.product_type,
            "orderId": t.order_id,
            "revoked": t.revoked,
            "finished": t.finished,
            "transaction": t.payload,
        }))
        .into_response(),
        Ok(None) => admin_error(404, format!("no transaction {id}")),
        Err(e) => admin_error(500, format!("{e:#}")),
    }
}

async fn subscription<H: Host>(State(h): State<Arc<H>>, Path(id): Path<String>) -> Response {
    match events::subscription_of(h.commerce(), &id).await {
        Ok(ctx) => {
            let st = SubState::from_value(&ctx.sub.state);
            Json(json!({
                "originalTransactionId": ctx.sub.original_transaction_id,
                "customer": ctx.customer.label,
                "environment": ctx.sub.environment,
                "subscriptionGroupIdentifier": ctx.sub.group_id,
                "productId": ctx.sub.product_id,
                "status": ctx.sub.status,
                "expiresDate": ctx.sub.expires_ms,
                "latestTransactionId": ctx.sub.latest_transaction_id,
                "nextEventDate": ctx.sub.next_event_ms,
                "renewalInfo": renewal_info(&ctx.sub, &st, &ctx.customer),
                "state": ctx.sub.state,
            }))
            .into_response()
        }
        Err(e) => admin_error(e.status, e.message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Urls {
    #[serde(default, with = "double_option")]
    production: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    production_version: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    sandbox: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    sandbox_version: Option<Option<String>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}

fn urls_of(attrs: &Map<String, Value>) -> Value {
    json!({
        "production": attrs.get("subscriptionStatusUrl"),
        "productionVersion": attrs.get("subscriptionStatusUrlVersion"),
        "sandbox": attrs.get("subscriptionStatusUrlForSandbox"),
        "sandboxVersion": attrs.get("subscriptionStatusUrlVersionForSandbox"),
    })
}

async fn get_urls<H: Host>(State(h): State<Arc<H>>, Path(bundle): Path<String>) -> Response {
    match h.commerce().store.ledger_app_by_bundle(&bundle).await {
        Ok(Some(app)) => Json(urls_of(&app.attributes)).into_response(),
        Ok(None) => admin_error(404, format!("no app with bundle id {bundle}")),
        Err(e) => admin_error(500, format!("{e:#}")),
    }
}

async fn set_urls<H: Host>(
    State(h): State<Arc<H>>,
    Path(bundle): Path<String>,
    Json(u): Json<Urls>,
) -> Response {
    let store = &h.commerce().store;
    let app = match store.ledger_app_by_bundle(&bundle).await {
        Ok(Some(a)) => a,
        Ok(None) => return admin_error(404, format!("no app with bundle id {bundle}")),
        Err(e) => return admin_error(500, format!("{e:#}")),
    };
    let mut changes = Map::new();
    for (value, version, url_key, version_key) in [
        (
            &u.production,
            &u.production_version,
            "subscriptionStatusUrl",
            "subscriptionStatusUrlVersion",
        ),
        (
            &u.sandbox,
            &u.sandbox_version,
            "subscriptionStatusUrlForSandbox",
            "subscriptionStatusUrlVersionForSandbox",
        ),
    ] {
        if let Some(v) = value {
            if let Some(url) = v
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return admin_error(400, format!("'{url}' is not an http(s) URL"));
            }
            changes.insert(url_key.into(), json!(v));
            if version.is_none() {
                changes.insert(version_key.into(), json!(v.as_ref().map(|_| "V2")));
            }
        }
        if let Some(ver) = version {
            if let Some(x) = ver
                && x != "V1"
                && x != "V2"
            {
                return admin_error(400, format!("version '{x}' is V1 or V2"));
            }
            changes.insert(version_key.into(), json!(ver));
        }
    }
    let r: anyhow::Result<()> = async {
        let mut tx = store.begin().await?;
        tx.ledger_set_attributes("apps", &app.id, &changes).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = r {
        return admin_error(500, format!("{e:#}"));
    }
    match store.ledger_app_by_bundle(&bundle).await {
        Ok(Some(app)) => Json(urls_of(&app.attributes)).into_response(),
        _ => admin_error(500, "app vanished"),
    }
}

async fn get_settings<H: Host>(State(h): State<Arc<H>>) -> Response {
    Json(h.commerce().settings()).into_response()
}

async fn put_settings<H: Host>(
    State(h): State<Arc<H>>,
    Json(patch): Json<Map<String, Value>>,
) -> Response {
    let mut current = match serde_json::to_value(h.commerce().settings()) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in patch {
        if !current.contains_key(&k) {
            return admin_error(400, format!("unknown setting '{k}'"));
        }
        current.insert(k, v);
    }
    match serde_json::from_value::<Settings>(Value::Object(current)) {
        Ok(s) => {
            h.commerce().set_settings(s.clone());
            Json(s).into_response()
        }
        Err(e) => admin_error(400, e.to_string()),
    }
}

async fn run_due<H: Host>(State(h): State<Arc<H>>) -> Response {
    let c = h.commerce();
    match c.run_due(c.store.now_ms()).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => admin_error(500, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct CaQuery {
    format: Option<String>,
}

async fn ca<H: Host>(State(h): State<Arc<H>>, Query(q): Query<CaQuery>) -> Response {
    let pki = h.commerce().pki();
    match q.format.as_deref() {
        Some("der") => (
            [(CONTENT_TYPE, "application/pkix-cert")],
            pki.root_der().to_vec(),
        )
            .into_response(),
        None | Some("pem") => {
            ([(CONTENT_TYPE, "application/x-pem-file")], pki.root_pem()).into_response()
        }
        Some(f) => admin_error(400, format!("format '{f}' is pem or der")),
    }
}
