//! The admin API of build processing and Beta App Review (`/crabapple/admin/builds/settings`,
//! outside Apple's namespace): how long processing and Beta App Review take, what the reviewer
//! decides and which build numbers fail processing ([`crabapple_asc::rules::builds::Settings`]).
//! Errors are the admin API's `{"error": message}` ([`Refusal::admin`]).
//!
//! - `GET|PATCH /crabapple/admin/builds/settings` — `{"processingMinutes": 10,
//!   "betaReviewWaitMinutes": 720, "betaReviewMinutes": 720, "betaReviewOutcome": "APPROVED",
//!   "invalidBuilds": {"42": "ITMS-90062: …"}}`. A change applies to what is planned afterwards.

use crate::App;
use crate::settings;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use crabapple_asc::rules::builds::Settings;
use crabapple_storekit::http::Answer;
use serde_json::Value;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route(
        "/crabapple/admin/builds/settings",
        get(get_settings).patch(patch_settings),
    )
}

async fn get_settings(State(app): State<Arc<App>>) -> Answer {
    settings::get::<Settings>(&app).await
}

async fn patch_settings(State(app): State<Arc<App>>, Json(patch): Json<Value>) -> Answer {
    settings::patch::<Settings>(&app, patch).await
}
