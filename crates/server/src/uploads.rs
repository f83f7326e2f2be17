//! crabapple's own upload and image URLs, outside Apple's namespace and without an
//! Authorization header (Apple's are pre-signed storage URLs and CDN URLs):
//!
//! - `PUT /crabapple/uploads/{type}/{id}/{part}`: one part of a reservation's
//!   `uploadOperations` (crabapple-asc rules/uploads.rs builds the URLs on the client's host).
//!   The bytes go to the data directory (rules/assets.rs); committing reads them there.
//! - `GET /crabapple/images/{token}.png/{w}x{h}bb.{f}`: an `ImageAsset.templateUrl` with its size
//!   and format filled in (rules/images.rs), the image resized, with `Cache-Control` and `ETag`.
//!
//! Apple's upload host is an object store; its refusals are that kind of store's XML errors, so
//! crabapple answers in that shape (`<Error><Code>…</Code><Message>…</Message></Error>`, the
//! same shape as the analytics segment downloads) — crabapple's choice, documented in the README:
//! 404 NoSuchUpload (no such reservation, or one already committed), 400 InvalidPart (a part
//! number the reservation does not have), 400 EntityTooSmall / EntityTooLarge (the body is not
//! the operation's `length`), 416 InvalidRange (a `Content-Range` whose start is not the
//! operation's `offset`), 403 AccessDenied "Request has expired" (a build part after its
//! `expiration`). Each refusal carries the precise reason in `X-Crabapple-Reason`.

use crate::App;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, StatusCode, header};
use crabapple_asc::rules::{assets, images};
use md5::{Digest, Md5};
use serde_json::Value;
use std::sync::Arc;

/// One refusal of the upload host.
fn storage_error(status: StatusCode, code: &str, message: &str, reason: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(
            crabapple_http::REASON_HEADER,
            crabapple_http::encode_header_text(reason),
        )
        .body(Body::from(body))
        .expect("a valid response")
}

fn no_such_upload(reason: &str) -> Response<Body> {
    storage_error(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        reason,
    )
}

/// The start of a `Content-Range: bytes a-b/n` header.
fn range_start(headers: &HeaderMap) -> Option<i64> {
    let v = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let range = v.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

pub async fn put_part(
    State(app): State<Arc<App>>,
    Path((rtype, id, part)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    match accept_part(app.store(), &rtype, &id, &part, range_start(&headers), body).await {
        // The part's MD5 as its entity tag (DeliveryFileUploadOperation.entityTag).
        Ok(etag) => Response::builder()
            .status(StatusCode::OK)
            .header(header::ETAG, etag)
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .expect("a valid response"),
        Err(refusal) => refusal,
    }
}

/// Stores part `part` of reservation `rtype/id` (`range`: where its `Content-Range` starts, if
/// sent), as the upload host does: its entity tag, or the host's refusal. In-process deliveries
/// (build_delivery.rs) put their parts here too.
pub async fn accept_part(
    store: &crabapple_store::Store,
    rtype: &str,
    id: &str,
    part: &str,
    range: Option<i64>,
    body: Bytes,
) -> Result<String, Response<Body>> {
    let resource = match store.get(rtype, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(no_such_upload(&format!("no reservation {rtype}/{id}"))),
        Err(e) => {
            tracing::warn!("upload {rtype}/{id}: {e:#}");
            return Err(storage_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
                "the store could not be read",
            ));
        }
    };
    let attrs = &resource.attributes;
    let state = attrs
        .get("assetDeliveryState")
        .or_else(|| attrs.get("videoDeliveryState"))
        .and_then(|s| s.get("state"))
        .and_then(Value::as_str);
    let ops = attrs.get("uploadOperations").and_then(Value::as_array);
    let (Some(ops), Some("AWAITING_UPLOAD")) = (ops, state) else {
        return Err(no_such_upload(&format!(
            "{rtype}/{id} is not awaiting an upload (it was committed)"
        )));
    };
    let n: Option<usize> = part.parse().ok().filter(|n| *n >= 1);
    let Some((n, op)) = n.and_then(|n| ops.get(n - 1).map(|op| (n, op))) else {
        return Err(storage_error(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            "One or more of the specified parts could not be found.",
            &format!(
                "{rtype}/{id} has {} upload operations; part '{part}' is none of them",
                ops.len()
            ),
        ));
    };
    let length = op.get("length").and_then(Value::as_i64).unwrap_or(0);
    let offset = op.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let now = store.now_ms();
    if let Some(exp) = op.get("expiration").and_then(Value::as_str)
        && let Ok(t) = exp.parse::<jiff::Timestamp>()
        && now > t.as_millisecond()
    {
        return Err(storage_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired",
            &format!("part {n} of {rtype}/{id} expired at {exp}"),
        ));
    }
    if let Some(start) = range
        && start != offset
    {
        return Err(storage_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
            &format!("part {n} starts at offset {offset}; the Content-Range starts at {start}"),
        ));
    }
    let got = body.len() as i64;
    if got != length {
        let (status, code, message) = if got < length {
            (
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            )
        };
        return Err(storage_error(
            status,
            code,
            message,
            &format!("part {n} of {rtype}/{id} is {length} bytes long; the request sent {got}"),
        ));
    }
    let Some(path) = assets::part_path(store.data_dir(), rtype, id, n as u32) else {
        return Err(no_such_upload(&format!("{rtype}/{id} cannot name a file")));
    };
    let written = {
        let body = body.clone();
        tokio::task::spawn_blocking(move || crabapple_store::files::write_replacing(&path, &body))
            .await
    };
    if !matches!(written, Ok(Ok(()))) {
        tracing::warn!("storing part {n} of {rtype}/{id}: {written:?}");
        return Err(storage_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
            "the part could not be written",
        ));
    }
    Ok(format!("\"{}\"", assets::hex(&Md5::digest(&body))))
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(text.to_string()))
        .expect("a valid response")
}

/// How long a client may keep an image: a token names one committed image for good.
pub const IMAGE_CACHE_CONTROL: &str = "public, max-age=86400";

pub async fn get_image(
    State(app): State<Arc<App>>,
    Path((file, size)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response<Body> {
    let Some(token) = file.strip_suffix(".png").filter(|t| images::valid_token(t)) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let Some(size) = images::parse_size(&size) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Bad Request: the size must be {w}x{h}bb.{f} with 1 to 4096 pixels and f one of png, jpg, webp",
        );
    };
    let store = app.store();
    let app_name = match token.strip_prefix("app-") {
        Some(app_id) => store
            .get("apps", app_id)
            .await
            .ok()
            .flatten()
            .and_then(|r| {
                r.attributes
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }),
        None => None,
    };
    let dir = store.data_dir().to_path_buf();
    let token = token.to_string();
    let rendered = tokio::task::spawn_blocking(move || {
        let side = size.width.min(size.height);
        let img = images::source(&dir, &token, side, |_| app_name)?;
        Some(images::render(&img, size))
    })
    .await;
    let bytes = match rendered {
        Ok(Some(Ok(b))) => b,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "Not Found"),
        other => {
            tracing::warn!("rendering an image: {:?}", other.err());
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let etag = format!("\"{}\"", assets::hex(&Md5::digest(&bytes)));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let builder = Response::builder()
        .header(header::CACHE_CONTROL, IMAGE_CACHE_CONTROL)
        .header(header::ETAG, &etag);
    if matches {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .expect("a valid response");
    }
    builder
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, size.format.content_type())
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(Body::from(bytes))
        .expect("a valid response")
}
