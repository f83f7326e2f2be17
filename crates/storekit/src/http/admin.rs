//! crabapple's commerce admin API (`/crabapple/admin/commerce/…`, no token, like the rest of
//! the admin API):
//!
//! | method + path | what |
//! |---|---|
//! | `POST /crabapple/admin/commerce/{event}` | an event (`purchase`, `renew`, `refund`, … see [`crate::commerce::events`]) |
//! | `GET /crabapple/admin/commerce/notifications?bundleId=&limit=` | the outbox / history, decoded |
//! | `GET /crabapple/admin/commerce/notifications/{uuid}` | one notification, decoded |
//! | `POST /crabapple/admin/commerce/notifications/{uuid}/resend` | send it again now (one more attempt, recorded) |
//! | `GET /crabapple/admin/commerce/transactions/{id}` | a transaction as stored |
//! | `GET /crabapple/admin/commerce/subscriptions/{id}` | a subscription's renewal state (any transaction id) |
//! | `PUT /crabapple/admin/commerce/apps/{bundleId}/notification-urls` | `{"production","productionVersion","sandbox","sandboxVersion"}` (the app's `subscriptionStatusUrl…` attributes) |
//! | `GET|PUT /crabapple/admin/commerce/settings` | delivery timeout and concurrency, rate-limit scale |
//! | `POST /crabapple/admin/commerce/run-due` | run everything due now (also done on every clock advance) |
//! | `GET /crabapple/admin/commerce/ca?format=pem|der` | the signing root certificate |

use crate::ledger::{LedgerStore, LedgerTx};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use crate::ledger::AppRow;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Host;
use super::error::{Answer, Refusal};
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
            "/crabapple/admin/commerce/notifications/{uuid}",
            get(notification::<H>),
        )
        .route(
            "/crabapple/admin/commerce/notifications/{uuid}/resend",
            post(resend::<H>),
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

async fn event<H: Host>(
    State(h): State<Arc<H>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Answer {
    let args: EventArgs = if body.is_empty() {
        EventArgs::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, format!("{name}: {e}")))?
    };
    let v = events::apply(h.commerce(), &name, args)
        .await
        .map_err(Refusal::admin_event)?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    bundle_id: Option<String>,
    limit: Option<i64>,
}

async fn notifications<H: Host>(State(h): State<Arc<H>>, Query(q): Query<ListQuery>) -> Answer {
    let store = &h.commerce().store;
    let app = match &q.bundle_id {
        Some(b) => Some(app_by_bundle(&*h, b).await?.id),
        None => None,
    };
    let rows = store
        .ledger_notifications(app.as_deref(), q.limit.unwrap_or(100))
        .await
        .map_err(Refusal::admin_internal)?;
    let mut list = Vec::with_capacity(rows.len());
    for n in &rows {
        let e = crate::commerce::outbox::entry(h.commerce(), n).await;
        list.push(e.map_err(Refusal::admin_internal)?);
    }
    Ok(Json(json!({ "data": list })).into_response())
}

/// One outbox entry, or the admin API's 404.
async fn notification_entry<H: Host>(h: &H, uuid: &str) -> Answer {
    let n = h
        .commerce()
        .store
        .ledger_notification(uuid)
        .await
        .map_err(Refusal::admin_internal)?
        .ok_or_else(|| Refusal::admin(StatusCode::NOT_FOUND, format!("no notification {uuid}")))?;
    let e = crate::commerce::outbox::entry(h.commerce(), &n)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(Json(e).into_response())
}

async fn notification<H: Host>(State(h): State<Arc<H>>, Path(uuid): Path<String>) -> Answer {
    notification_entry(&*h, &uuid).await
}

/// Sends a notification again at the virtual now: the row goes back to the outbox (its
/// attempts kept) and is delivered before the answer, which is the entry with the new attempt.
async fn resend<H: Host>(State(h): State<Arc<H>>, Path(uuid): Path<String>) -> Answer {
    let c = h.commerce();
    let now = c.store.now_ms();
    if !c
        .store
        .ledger_requeue_notification(&uuid, now)
        .await
        .map_err(Refusal::admin_internal)?
    {
        return Err(Refusal::admin(
            StatusCode::NOT_FOUND,
            format!("no notification {uuid}"),
        ));
    }
    c.run_due(now).await.map_err(Refusal::admin_internal)?;
    notification_entry(&*h, &uuid).await
}

/// The app with `bundle` as its bundle id, or the admin API's 404.
async fn app_by_bundle<H: Host>(h: &H, bundle: &str) -> Result<AppRow, Refusal> {
    h.commerce()
        .store
        .ledger_app_by_bundle(bundle)
        .await
        .map_err(Refusal::admin_internal)?
        .ok_or_else(|| {
            Refusal::admin(
                StatusCode::NOT_FOUND,
                format!("no app with bundle id {bundle}"),
            )
        })
}

async fn transaction<H: Host>(State(h): State<Arc<H>>, Path(id): Path<String>) -> Answer {
    let t = h
        .commerce()
        .store
        .ledger_transaction(&id)
        .await
        .map_err(Refusal::admin_internal)?
        .ok_or_else(|| Refusal::admin(StatusCode::NOT_FOUND, format!("no transaction {id}")))?;
    Ok(Json(json!({
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
    .into_response())
}

async fn subscription<H: Host>(State(h): State<Arc<H>>, Path(id): Path<String>) -> Answer {
    let ctx = events::subscription_of(h.commerce(), &id)
        .await
        .map_err(Refusal::admin_event)?;
    let st = SubState::from_doc(&ctx.sub.state);
    Ok(Json(json!({
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
    .into_response())
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

async fn get_urls<H: Host>(State(h): State<Arc<H>>, Path(bundle): Path<String>) -> Answer {
    let app = app_by_bundle(&*h, &bundle).await?;
    Ok(Json(urls_of(&app.attributes)).into_response())
}

async fn set_urls<H: Host>(
    State(h): State<Arc<H>>,
    Path(bundle): Path<String>,
    Json(u): Json<Urls>,
) -> Answer {
    let store = &h.commerce().store;
    let app = app_by_bundle(&*h, &bundle).await?;
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
                return Err(Refusal::admin(
                    StatusCode::BAD_REQUEST,
                    format!("'{url}' is not an http(s) URL"),
                ));
            }
            // Issue 8: no notifications to link-local or cloud metadata addresses.
            if let Some(why) = v
                .as_deref()
                .and_then(|url| h.commerce().egress.refused(url))
            {
                return Err(Refusal::admin(StatusCode::BAD_REQUEST, why));
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
                return Err(Refusal::admin(
                    StatusCode::BAD_REQUEST,
                    format!("version '{x}' is V1 or V2"),
                ));
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
    r.map_err(Refusal::admin_internal)?;
    match store.ledger_app_by_bundle(&bundle).await {
        Ok(Some(app)) => Ok(Json(urls_of(&app.attributes)).into_response()),
        _ => Err(Refusal::admin(
            StatusCode::INTERNAL_SERVER_ERROR,
            "app vanished",
        )),
    }
}

async fn get_settings<H: Host>(State(h): State<Arc<H>>) -> Response {
    Json(h.commerce().settings()).into_response()
}

async fn put_settings<H: Host>(
    State(h): State<Arc<H>>,
    Json(patch): Json<Map<String, Value>>,
) -> Answer {
    let mut current = match serde_json::to_value(h.commerce().settings()) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in patch {
        if !current.contains_key(&k) {
            return Err(Refusal::admin(
                StatusCode::BAD_REQUEST,
                format!("unknown setting '{k}'"),
            ));
        }
        current.insert(k, v);
    }
    let s = serde_json::from_value::<Settings>(Value::Object(current))
        .map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, e.to_string()))?;
    h.commerce()
        .save_settings(s.clone())
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(Json(s).into_response())
}

async fn run_due<H: Host>(State(h): State<Arc<H>>) -> Answer {
    let c = h.commerce();
    let s = c
        .run_due(c.store.now_ms())
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(Json(s).into_response())
}

#[derive(Deserialize)]
struct CaQuery {
    format: Option<String>,
}

async fn ca<H: Host>(State(h): State<Arc<H>>, Query(q): Query<CaQuery>) -> Answer {
    let pki = h.commerce().pki();
    match q.format.as_deref() {
        Some("der") => Ok((
            [(CONTENT_TYPE, "application/pkix-cert")],
            pki.root_der().to_vec(),
        )
            .into_response()),
        None | Some("pem") => {
            Ok(([(CONTENT_TYPE, "application/x-pem-file")], pki.root_pem()).into_response())
        }
        Some(f) => Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            format!("format '{f}' is pem or der"),
        )),
    }
}
