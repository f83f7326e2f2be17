//! A build delivered without HTTP (a Transporter package: `crabapple transporter upload`) goes
//! through the very operations of an API build upload (App Store Connect API 4.x): `POST
//! /v1/buildUploads` → `POST /v1/buildUploadFiles` → each part of its `uploadOperations` to the
//! upload host (uploads.rs's [`accept_part`]) → `PATCH /v1/buildUploadFiles/{id}` `uploaded: true`
//! with the file's MD5 in `sourceFileChecksums`. The engine's rules answer each step as they
//! answer a client (the bundle opened and checked, ITMS-… processing errors on the upload, the
//! build PROCESSING then VALID on the virtual clock); nothing here decides anything itself.

use crate::uploads::accept_part;
use axum::body::Bytes;
use crabapple_asc::rules::assets::hex;
use crabapple_jsonapi::{AscError, Engine, Request};
use md5::{Digest, Md5};
use serde_json::{Value, json};

/// The host the reservations' upload URLs name: no client reads them, the parts go straight to
/// [`accept_part`].
const BASE: &str = "http://localhost";

/// What is delivered: the app's binary and the upload's attributes.
pub struct Delivery<'a> {
    pub app: &'a str,
    /// The API's platform (`IOS`, `MAC_OS`, `TV_OS`, `VISION_OS`).
    pub platform: &'a str,
    pub short_version: &'a str,
    pub version: &'a str,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
}

/// How the upload ended: its `state` (`COMPLETE` or `FAILED`) with its `StateDetail` errors,
/// and the build it made.
#[derive(Debug)]
pub struct Delivered {
    pub upload: String,
    pub state: String,
    pub errors: Vec<Value>,
    pub build: Option<String>,
}

/// A refusal of a step, in one line: `409 ENTITY_ERROR…: detail`.
pub fn refusal_text(e: &AscError) -> String {
    format!(
        "{} {}: {}",
        e.status,
        e.code,
        e.detail.as_deref().unwrap_or(&e.title)
    )
}

/// One operation of Apple's API, by method and path, as the API listener hands it to the engine
/// (after auth); the response document.
async fn call(engine: &Engine, method: &str, path: &str, body: Value) -> Result<Value, AscError> {
    call_with(engine, method, path, &[], body).await
}

async fn call_with(
    engine: &Engine,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Value,
) -> Result<Value, AscError> {
    let found = engine
        .router
        .find(path)
        .ok_or_else(|| AscError::path_error(path))?;
    let op = found
        .operations
        .iter()
        .copied()
        .find(|&i| engine.op(i).method == method)
        .ok_or_else(|| AscError::path_error(path))?;
    let request = Request {
        op,
        id: found.id.as_deref().map(crabapple_http::decode_path_segment),
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        base: BASE.into(),
        path: path.into(),
        content_type: Some("application/json".into()),
        ..Request::default()
    };
    let reply = engine.handle(&request).await?;
    Ok(serde_json::from_slice(&reply.body).unwrap_or(Value::Null))
}

/// The app a binary is for when the package does not name it (`apple_id`): the app whose
/// `bundleId` is the binary's `CFBundleIdentifier` (`GET /v1/apps?filter[bundleId]=…`).
pub async fn app_of_bundle(engine: &Engine, bundle_id: &str) -> Result<Option<String>, String> {
    let query = [("filter[bundleId]", bundle_id)];
    let doc = call_with(engine, "GET", "/v1/apps", &query, Value::Null)
        .await
        .map_err(|e| format!("GET /v1/apps: {}", refusal_text(&e)))?;
    // The app whose bundle id is exactly the binary's.
    Ok(doc["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["attributes"]["bundleId"] == bundle_id)
        .map(id_of_data))
}

fn id_of_data(data: &Value) -> String {
    data["id"].as_str().unwrap_or_default().to_string()
}

fn id_of(doc: &Value) -> String {
    id_of_data(&doc["data"])
}

/// Delivers `d` as a client's API upload does; `Err` is the step that was refused.
pub async fn deliver(engine: &Engine, d: &Delivery<'_>) -> Result<Delivered, String> {
    let refused = |step: &str, e: AscError| format!("{step}: {}", refusal_text(&e));
    // What the clock reached is applied first, as the server does before each request.
    engine
        .run_timeline()
        .await
        .map_err(|e| format!("applying the timeline: {e:#}"))?;
    let upload = call(
        engine,
        "POST",
        "/v1/buildUploads",
        json!({"data": {"type": "buildUploads",
        "attributes": {"cfBundleShortVersionString": d.short_version, "cfBundleVersion": d.version,
                       "platform": d.platform},
        "relationships": {"app": {"data": {"type": "apps", "id": d.app}}}}}),
    )
    .await
    .map_err(|e| refused("POST /v1/buildUploads", e))?;
    let upload = id_of(&upload);
    let uti = if d.file_name.ends_with(".pkg") {
        "com.apple.pkg"
    } else {
        "com.apple.ipa"
    };
    let file = call(engine, "POST", "/v1/buildUploadFiles", json!({"data": {"type": "buildUploadFiles",
        "attributes": {"fileName": d.file_name, "fileSize": d.bytes.len(), "assetType": "ASSET", "uti": uti},
        "relationships": {"buildUpload": {"data": {"type": "buildUploads", "id": upload}}}}}))
    .await
    .map_err(|e| refused("POST /v1/buildUploadFiles", e))?;
    let file_id = id_of(&file);
    let ops = file["data"]["attributes"]["uploadOperations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (n, op) in ops.iter().enumerate() {
        let offset = op["offset"].as_u64().unwrap_or(0) as usize;
        let length = op["length"].as_u64().unwrap_or(0) as usize;
        let part = d.bytes.get(offset..offset + length).unwrap_or_default();
        accept_part(
            &engine.store,
            "buildUploadFiles",
            &file_id,
            &(n + 1).to_string(),
            Some(offset as i64),
            Bytes::copy_from_slice(part),
        )
        .await
        .map_err(|r| {
            let reason = r
                .headers()
                .get(crabapple_http::REASON_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            format!("part {} of {file_id}: {} {reason}", n + 1, r.status())
        })?;
    }
    let md5 = hex(&Md5::digest(d.bytes));
    let path = format!("/v1/buildUploadFiles/{file_id}");
    call(engine, "PATCH", &path, json!({"data": {"type": "buildUploadFiles", "id": file_id,
        "attributes": {"uploaded": true, "sourceFileChecksums": {"file": {"hash": md5, "algorithm": "MD5"}}}}}))
    .await
    .map_err(|e| refused(&format!("PATCH {path}"), e))?;
    let got = call(
        engine,
        "GET",
        &format!("/v1/buildUploads/{upload}"),
        Value::Null,
    )
    .await
    .map_err(|e| refused("GET /v1/buildUploads", e))?;
    let state = &got["data"]["attributes"]["state"];
    let build = engine
        .store
        .linked("buildUploads", &upload, "build", 0, 1)
        .await
        .map_err(|e| format!("reading the upload's build: {e:#}"))?
        .0
        .into_iter()
        .next()
        .map(|(_, id)| id);
    Ok(Delivered {
        upload,
        state: state["state"].as_str().unwrap_or_default().to_string(),
        errors: state["errors"].as_array().cloned().unwrap_or_default(),
        build,
    })
}
