//! The admin API of build processing and Beta App Review (`/crabapple/admin/builds/settings`,
//! outside Apple's namespace): how long processing and Beta App Review take, what the reviewer
//! decides and which build numbers fail processing ([`crabapple_asc::rules::builds::Settings`]).
//! Errors are the admin API's `{"error": message}` ([`Refusal::admin`]).
//!
//! - `GET|PATCH /crabapple/admin/builds/settings` — `{"processingMinutes": 10,
//!   "betaReviewWaitMinutes": 720, "betaReviewMinutes": 720, "betaReviewOutcome": "APPROVED",
//!   "invalidBuilds": {"42": "ITMS-90062: …"}}`. A change applies to what is planned afterwards.

use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use crabapple_asc::rules::builds::Settings;
use crabapple_storekit::http::{Answer, Refusal};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route(
        "/crabapple/admin/builds/settings",
        get(get_settings).patch(patch_settings),
    )
}

async fn get_settings(State(app): State<Arc<App>>) -> Answer {
    let s: anyhow::Result<Settings> = async {
        let mut tx = app.store().begin().await?;
        Settings::load(&mut tx).await
    }
    .await;
    Ok(Json(json!(s.map_err(Refusal::admin_internal)?)).into_response())
}

async fn patch_settings(State(app): State<Arc<App>>, Json(patch): Json<Value>) -> Answer {
    let saved: anyhow::Result<Result<Settings, String>> = async {
        let mut tx = app.store().begin().await?;
        let merged = match Settings::load(&mut tx).await?.merged(&patch) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        merged.save(&mut tx).await?;
        tx.commit().await?;
        Ok(Ok(merged))
    }
    .await;
    let s = saved
        .map_err(Refusal::admin_internal)?
        .map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, e))?;
    Ok(Json(json!(s)).into_response())
}
