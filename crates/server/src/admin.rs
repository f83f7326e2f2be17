//! crabapple's admin API, outside Apple's namespace (`/crabapple/admin/…`): status, reset, and
//! creating what only Apple creates (apps, builds, …) so tests and users can set up state. Who may
//! call it is decided before it runs ([`crate::access`]: token, Host, Origin). Its errors are
//! `{"error": message}` with `X-Crabapple-Reason`, written by the one conversion of
//! [`Refusal::Admin`] that the commerce admin API (`/crabapple/admin/commerce/…`) uses too.

use crate::App;
use crate::keys::{self, NewKey};
use crate::setup;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use crabapple_auth::KeyKind;
use crabapple_jsonapi::{AscError, Linkages, Write};
use crabapple_storekit::http::{Answer, Refusal};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/crabapple/admin/status", get(status))
        .route("/crabapple/admin/reset", post(reset))
        .route("/crabapple/admin/keys", get(list_keys).post(create_key))
        .route("/crabapple/admin/clock/advance", post(advance_clock))
        .route(
            "/crabapple/admin/resources/{type}",
            post(create_resource).get(list_resources),
        )
        .route(
            "/crabapple/admin/resources/{type}/{id}",
            patch(update_resource)
                .delete(delete_resource)
                .get(get_resource),
        )
}

async fn status(State(app): State<Arc<App>>) -> Answer {
    let store = app.store();
    let counts = store.type_counts().await.map_err(Refusal::admin_internal)?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let team = json!({
        "name": store.meta_get("team.name").await.ok().flatten(),
        "issuerId": store.meta_get("team.issuerId").await.ok().flatten(),
        "vendorNumber": store.meta_get("team.vendorNumber").await.ok().flatten(),
    });
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "specVersion": app.engine.manifest.version,
        "team": team,
        "clock": { "nowMs": store.now_ms(), "offsetMs": store.clock.offset_ms() },
        "store": store_status(store, store.serving_replicas().await.unwrap_or(0)),
        "resources": { "total": total, "byType": counts.into_iter().collect::<BTreeMap<_, _>>() },
    }))
    .into_response())
}

/// How the store sees other processes' writes now (crates/store/src/shared.rs, notify.rs), and
/// how many serving replicas are registered for its notifications.
fn store_status(store: &crabapple_store::Store, replicas: usize) -> serde_json::Value {
    let (dialect, coherence) = match store.dialect() {
        crabapple_store::Dialect::Sqlite => ("sqlite", "data version"),
        crabapple_store::Dialect::Postgres if store.relies_on_notifications() => {
            ("postgres", "notifications")
        }
        crabapple_store::Dialect::Postgres => ("postgres", "write token"),
    };
    json!({ "dialect": dialect, "coherence": coherence, "replicas": replicas })
}

async fn reset(State(app): State<Arc<App>>) -> Answer {
    // The commerce ledger (customers, transactions, notifications, …) starts over too.
    crabapple_storekit::reset(&app.commerce)
        .await
        .map_err(Refusal::admin_internal)?;
    let l = setup::reset(&app.engine, &app.config.world)
        .await
        .map_err(Refusal::admin_internal)?;
    // The world's own faults (or none) replace the armed ones.
    crate::faults::reload(&app)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(
        Json(json!({ "seeded": l.seeded, "synthesized": l.synthesized, "linked": l.linked }))
            .into_response(),
    )
}

async fn list_keys(State(app): State<Arc<App>>) -> Answer {
    let k = keys::list(app.store(), &app.config.data_dir)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(Json(json!(k)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyRequest {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

async fn create_key(State(app): State<Arc<App>>, Json(k): Json<KeyRequest>) -> Answer {
    let kind = match k.kind.as_deref() {
        None | Some("team") => KeyKind::Team,
        Some("individual") => KeyKind::Individual,
        Some("inAppPurchase") => KeyKind::InAppPurchase,
        Some(other) => {
            return Err(Refusal::admin(
                StatusCode::BAD_REQUEST,
                format!("kind '{other}' is not team, individual or inAppPurchase"),
            ));
        }
    };
    let new = NewKey {
        kind,
        roles: k.roles,
        user_id: k.user_id,
        name: k.name.as_deref(),
    };
    let info = keys::create(app.store(), &app.config.data_dir, new)
        .await
        .map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
    let _ = app.reload_keys().await;
    Ok((StatusCode::CREATED, Json(json!(info))).into_response())
}

#[derive(Deserialize)]
struct Advance {
    by: String,
}

/// Parses `90s`, `15m`, `12h`, `3d`, `2w` (or plain milliseconds).
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

async fn advance_clock(State(app): State<Arc<App>>, Json(a): Json<Advance>) -> Answer {
    let Some(ms) = parse_duration_ms(&a.by) else {
        return Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            format!("'{}' is not a duration like 3d or 12h", a.by),
        ));
    };
    let now = app
        .store()
        .advance_clock(ms)
        .await
        .map_err(Refusal::admin_internal)?;
    let applied = app
        .engine
        .run_timeline()
        .await
        .map_err(Refusal::admin_internal)?;
    let commerce = crabapple_storekit::run_due(&app.commerce, now)
        .await
        .map_err(|e| tracing::warn!("running what the clock made due: {e:#}"))
        .ok();
    Ok(Json(json!({ "nowMs": now, "offsetMs": app.store().clock.offset_ms(), "commerce": commerce, "timeline": applied.len() })).into_response())
}

#[derive(Deserialize, Default)]
struct ResourceBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    relationships: BTreeMap<String, Value>,
}

/// `{"rel": "id" | ["id", …] | {"type","id"}}` → linkage, target types from the manifest.
fn linkage(app: &App, rtype: &str, rels: &BTreeMap<String, Value>) -> Result<Linkages, String> {
    let rt = app
        .engine
        .manifest
        .resources
        .get(rtype)
        .ok_or_else(|| format!("'{rtype}' is not a resource type of Apple's spec"))?;
    let mut out = Vec::new();
    for (name, v) in rels {
        let target = rt.relationships.get(name).and_then(|r| r.target.clone());
        let item = |v: &Value| -> Result<(String, String), String> {
            match v {
                Value::String(id) => Ok((
                    target
                        .clone()
                        .ok_or_else(|| format!("'{name}' is not a relationship of {rtype}"))?,
                    id.clone(),
                )),
                Value::Object(o) => Ok((
                    o.get("type")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or(target.clone())
                        .ok_or("missing type")?,
                    o.get("id")
                        .and_then(Value::as_str)
                        .ok_or("missing id")?
                        .to_string(),
                )),
                _ => Err(format!(
                    "relationship '{name}' must be an id, a list of ids or {{type, id}}"
                )),
            }
        };
        let list = match v {
            Value::Array(a) => a.iter().map(item).collect::<Result<Vec<_>, _>>()?,
            Value::Null => Vec::new(),
            other => vec![item(other)?],
        };
        out.push((name.clone(), list));
    }
    Ok(out)
}

async fn write_resource(
    app: &App,
    rtype: &str,
    id: Option<String>,
    body: ResourceBody,
    update: bool,
) -> Answer {
    let engine = &app.engine;
    let rels = linkage(app, rtype, &body.relationships)
        .map_err(|e| Refusal::admin(StatusCode::BAD_REQUEST, e))?;
    let result: Result<(String, bool), AscError> = async {
        let mut tx = engine.store.begin().await?;
        let existing = match &id {
            Some(i) => tx.get(rtype, i).await?,
            None => None,
        };
        if update && existing.is_none() {
            return Err(AscError::not_found(
                rtype,
                id.as_deref().unwrap_or_default(),
            ));
        }
        let id = id.unwrap_or_else(|| {
            engine
                .families()
                .iter()
                .find_map(|f| f.new_id(rtype))
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        });
        let mut attributes = existing
            .as_ref()
            .map(|e| e.attributes.clone())
            .unwrap_or_default();
        for (k, v) in body.attributes {
            if v.is_null() {
                attributes.remove(&k);
            } else {
                attributes.insert(k, v);
            }
        }
        for (_, targets) in &rels {
            for (t, i) in targets {
                if !tx.exists(t, i).await? {
                    return Err(AscError::not_found(t, i));
                }
            }
        }
        let created = existing.is_none();
        let mut w = Write {
            op_id: "admin".into(),
            rtype: rtype.to_string(),
            id: id.clone(),
            attributes,
            relationships: rels,
            existing,
            base: String::new(),
        };
        // Apple's initial values and the records Apple creates with it (betaAppReviewDetail, …),
        // or what an update moves on (a build's beta states).
        crabapple_asc::rules::singletons::admin_write(engine, &mut tx, &mut w).await?;
        engine.write(&mut tx, &w).await?;
        tx.commit().await?;
        Ok((id, created))
    }
    .await;
    let (id, created) = result.map_err(|e| {
        Refusal::admin(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            e.reason,
        )
    })?;
    let r = engine
        .store
        .get(rtype, &id)
        .await
        .map_err(Refusal::admin_internal)?
        .ok_or_else(|| Refusal::admin(StatusCode::NOT_FOUND, "vanished"))?;
    let doc = json!({
        "data": engine.render_resource(&Default::default(), &r, "", &Default::default(), &Default::default(), &Default::default()),
    });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(doc)).into_response())
}

async fn create_resource(
    State(app): State<Arc<App>>,
    Path(rtype): Path<String>,
    Json(body): Json<ResourceBody>,
) -> Answer {
    let id = body.id.clone();
    if let Some(i) = &id
        && matches!(app.store().get(&rtype, i).await, Ok(Some(_)))
    {
        return Err(Refusal::admin(
            StatusCode::CONFLICT,
            format!("{rtype}/{i} already exists"),
        ));
    }
    write_resource(&app, &rtype, id, body, false).await
}

async fn update_resource(
    State(app): State<Arc<App>>,
    Path((rtype, id)): Path<(String, String)>,
    Json(body): Json<ResourceBody>,
) -> Answer {
    write_resource(&app, &rtype, Some(id), body, true).await
}

async fn get_resource(
    State(app): State<Arc<App>>,
    Path((rtype, id)): Path<(String, String)>,
) -> Answer {
    let r = app
        .store()
        .get(&rtype, &id)
        .await
        .map_err(Refusal::admin_internal)?
        .ok_or_else(|| Refusal::admin(StatusCode::NOT_FOUND, format!("no {rtype}/{id}")))?;
    Ok(Json(json!({ "type": r.rtype, "id": r.id, "attributes": r.attributes })).into_response())
}

async fn list_resources(State(app): State<Arc<App>>, Path(rtype): Path<String>) -> Answer {
    let q = crabapple_store::ListQuery {
        rtype: rtype.clone(),
        limit: 10_000,
        ..Default::default()
    };
    let (items, total) = app
        .store()
        .list(&q)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(Json(json!({
        "total": total,
        "data": items.iter().map(|r| json!({ "type": r.rtype, "id": r.id, "attributes": r.attributes })).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn delete_resource(
    State(app): State<Arc<App>>,
    Path((rtype, id)): Path<(String, String)>,
) -> Answer {
    let res: anyhow::Result<bool> = async {
        let mut tx = app.store().begin().await?;
        let done = tx.delete(&rtype, &id).await?;
        tx.commit().await?;
        Ok(done)
    }
    .await;
    if !res.map_err(Refusal::admin_internal)? {
        return Err(Refusal::admin(
            StatusCode::NOT_FOUND,
            format!("no {rtype}/{id}"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
