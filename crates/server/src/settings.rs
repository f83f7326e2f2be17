//! The admin API's `PATCH` of a settings object crabapple keeps in its store (Analytics Reports'
//! lifecycle, build processing and Beta App Review): read, merge the members sent, save, answer
//! the result — or 400 with the sentence saying which member is wrong.

use crate::App;
use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use crabapple_store::Tx;
use crabapple_storekit::http::{Answer, Refusal};
use serde::Serialize;
use serde_json::{Value, json};

/// A settings object of the store.
pub trait Settings: Serialize + Sized {
    fn load(tx: &mut Tx) -> impl Future<Output = anyhow::Result<Self>> + Send;
    /// These settings with the members of `patch` replaced, or why not.
    fn merged(&self, patch: &Value) -> Result<Self, String>;
    fn save(&self, tx: &mut Tx) -> impl Future<Output = anyhow::Result<()>> + Send;
}

impl Settings for crabapple_reports::analytics::lifecycle::Settings {
    async fn load(tx: &mut Tx) -> anyhow::Result<Self> {
        Self::load_tx(tx).await
    }
    fn merged(&self, patch: &Value) -> Result<Self, String> {
        self.merged(patch)
    }
    async fn save(&self, tx: &mut Tx) -> anyhow::Result<()> {
        self.save(tx).await
    }
}

impl Settings for crabapple_asc::rules::builds::Settings {
    async fn load(tx: &mut Tx) -> anyhow::Result<Self> {
        Self::load(tx).await
    }
    fn merged(&self, patch: &Value) -> Result<Self, String> {
        self.merged(patch)
    }
    async fn save(&self, tx: &mut Tx) -> anyhow::Result<()> {
        self.save(tx).await
    }
}

/// `GET`: the settings now.
pub async fn get<S: Settings>(app: &App) -> Answer {
    let s: anyhow::Result<S> = async {
        let mut tx = app.store().begin().await?;
        S::load(&mut tx).await
    }
    .await;
    Ok(Json(json!(s.map_err(Refusal::admin_internal)?)).into_response())
}

/// `PATCH`: the members of `patch` replaced and saved; the settings after.
pub async fn patch<S: Settings>(app: &App, patch: Value) -> Answer {
    let saved: anyhow::Result<Result<S, String>> = async {
        let mut tx = app.store().begin().await?;
        let merged = match S::load(&mut tx).await?.merged(&patch) {
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
