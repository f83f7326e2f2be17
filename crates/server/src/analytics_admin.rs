//! The admin API of Analytics Reports (`/crabapple/admin/analytics/…`, outside Apple's
//! namespace): the lifecycle settings, injected faults and the explanation endpoint of
//! [`crabapple_reports::analytics`]. This module only puts them on the wire; errors are the
//! admin API's `{"error": message}` with `X-Crabapple-Reason` ([`Refusal::admin`]).
//!
//! - `GET|PATCH /crabapple/admin/analytics/settings` — `{"inactivityDays": 30,
//!   "deletedSnapshotBlockDays": 30}`.
//! - `GET|POST|DELETE /crabapple/admin/analytics/faults`, `DELETE …/faults/{id}`.
//! - `GET /crabapple/admin/analytics/explain?reportId=…&date=YYYY-MM-DD` or `?instanceId=…`.

use crate::App;
use crate::wire::parse_query;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use crabapple_reports::analytics::faults::{self, Fault};
use crabapple_reports::analytics::{explain, lifecycle::Settings};
use crabapple_storekit::http::{Answer, Refusal};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/crabapple/admin/analytics/settings",
            get(get_settings).patch(patch_settings),
        )
        .route(
            "/crabapple/admin/analytics/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/crabapple/admin/analytics/faults/{id}",
            delete(remove_fault),
        )
        .route("/crabapple/admin/analytics/explain", get(explain_report))
}

async fn get_settings(State(app): State<Arc<App>>) -> Answer {
    crate::settings::get::<Settings>(&app).await
}

async fn patch_settings(State(app): State<Arc<App>>, Json(patch): Json<Value>) -> Answer {
    crate::settings::patch::<Settings>(&app, patch).await
}

async fn list_faults(State(app): State<Arc<App>>) -> Answer {
    let list = faults::load(app.store())
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(Json(json!({ "data": list })).into_response())
}

async fn add_fault(State(app): State<Arc<App>>, Json(body): Json<Value>) -> Answer {
    let f = Fault::parse(&body).map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, e))?;
    let f = faults::add(app.store(), f)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok((StatusCode::CREATED, Json(json!(f))).into_response())
}

async fn clear_faults(State(app): State<Arc<App>>) -> Answer {
    faults::remove(app.store(), None)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_fault(State(app): State<Arc<App>>, Path(id): Path<String>) -> Answer {
    if !faults::remove(app.store(), Some(&id))
        .await
        .map_err(Refusal::admin_internal)?
    {
        return Err(Refusal::admin(
            StatusCode::NOT_FOUND,
            format!("no analytics fault {id}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn explain_report(State(app): State<Arc<App>>, uri: Uri) -> Answer {
    let q = parse_query(uri.query());
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let store = app.store();
    let doc = explain::explain(
        store,
        get("reportId"),
        get("date"),
        get("instanceId"),
        store.clock.now_ms(),
    )
    .await
    .map_err(Refusal::admin_internal)?
    .map_err(|(status, e)| {
        Refusal::admin(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            e,
        )
    })?;
    Ok(Json(doc).into_response())
}
