//! The reviewer on command through the admin API (outside Apple's namespace), what
//! `crabapple review approve|reject` does from the command line: the version's planned review is
//! cancelled and the decision applied now (crabapple-asc's `rules::review::decide`).
//!
//! - `POST /crabapple/admin/appStoreVersions/{id}/approve`
//! - `POST /crabapple/admin/appStoreVersions/{id}/reject` with `{"reason": "…"}` (optional)
//!
//! Both answer `{"id": …, "appVersionState": …}`.
//!
//! - `GET|PATCH /crabapple/admin/review/settings` `{"waitingMs", "inReviewMs", "rejectRate",
//!   "processingMs"}`: the reviewer's and the release's timing (crabapple-asc's
//!   `rules::review::Settings`, kept as `meta` of the data directory).
//!
//! Errors are the admin API's `{"error": message}` ([`Refusal::admin`]).

use crate::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use crabapple_asc::rules::review::{Settings, Verdict, decide};
use crabapple_storekit::http::{Answer, Refusal};
use serde_json::{Value, json};
use std::sync::Arc;

/// The reason of a rejection nobody explained.
pub const DEFAULT_REASON: &str = "Guideline 2.1 - Performance - App Completeness";

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/crabapple/admin/appStoreVersions/{id}/{decision}",
            post(review),
        )
        .route(
            "/crabapple/admin/review/settings",
            get(get_settings).patch(patch_settings),
        )
}

/// `(JSON name, meta key)` of each setting.
const KEYS: &[(&str, &str)] = &[
    ("waitingMs", "review.waitingMs"),
    ("inReviewMs", "review.inReviewMs"),
    ("rejectRate", "review.rejectRate"),
    ("processingMs", "release.processingMs"),
];

async fn settings_json(app: &App) -> Answer {
    let mut tx = app.store().begin().await.map_err(Refusal::admin_internal)?;
    let s = Settings::read(&mut tx)
        .await
        .map_err(|e| Refusal::admin(StatusCode::INTERNAL_SERVER_ERROR, e.reason))?;
    tx.commit().await.map_err(Refusal::admin_internal)?;
    Ok(Json(json!({
        "waitingMs": s.waiting_ms,
        "inReviewMs": s.in_review_ms,
        "rejectRate": s.reject_rate,
        "processingMs": s.processing_ms,
    }))
    .into_response())
}

async fn get_settings(State(app): State<Arc<App>>) -> Answer {
    settings_json(&app).await
}

async fn patch_settings(State(app): State<Arc<App>>, Json(body): Json<Value>) -> Answer {
    for (name, key) in KEYS {
        let Some(v) = body.get(*name) else { continue };
        let ok = match *name {
            "rejectRate" => v.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)),
            _ => v.as_i64().is_some_and(|n| n >= 0),
        };
        if !ok {
            return Err(Refusal::admin(
                StatusCode::BAD_REQUEST,
                format!(
                    "{name} must be a number of milliseconds ≥ 0 (rejectRate: 0 to 1), not {v}"
                ),
            ));
        }
        app.store()
            .meta_set(key, &v.to_string())
            .await
            .map_err(Refusal::admin_internal)?;
    }
    settings_json(&app).await
}

async fn review(
    State(app): State<Arc<App>>,
    Path((id, decision)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let reason = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| DEFAULT_REASON.to_string());
    let verdict = match decision.as_str() {
        "approve" => Verdict::Approve,
        "reject" => Verdict::Reject(reason),
        other => {
            return Err(Refusal::admin(
                StatusCode::NOT_FOUND,
                format!("'{other}' is not a decision: approve or reject"),
            ));
        }
    };
    match decide(&app.engine, &id, verdict).await {
        Ok(state) => Ok(Json(json!({"id": id, "appVersionState": state})).into_response()),
        Err(e) => Err(Refusal::admin(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::CONFLICT),
            e.detail.unwrap_or(e.reason),
        )),
    }
}
