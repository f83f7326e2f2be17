//! What Apple answers an asset reservation with (every type with an `uploadOperations`
//! attribute: `appScreenshots`, `appPreviews`, `buildUploadFiles`, …): the upload operations that
//! cover the file in parts, `assetDeliveryState` (and `videoDeliveryState`) `AWAITING_UPLOAD`, an
//! `assetToken` and, for previews, the `mimeType`.
//!
//! Spec: `UploadOperation` {method, url, length, offset, requestHeaders} and, for build uploads,
//! `DeliveryFileUploadOperation` (also `partNumber`, `expiration`). Apple's "Uploading assets to
//! App Store Connect": reserve, PUT each part to its `url` with its `requestHeaders`, then commit
//! with `uploaded: true` and the checksum.
//!
//! The URLs point at crabapple itself on the host the client used:
//! `{base}/crabapple/uploads/{type}/{id}/{part}`. Serving those PUTs is a later issue (see the
//! README); until then a client gets its reservation but its upload is not stored.

use super::rfc3339;
use crabapple_jsonapi::Write;
use serde_json::{Map, Value, json};

/// Size of one upload part (the last part is shorter). Apple's part size varies by asset; any
/// client uploads the parts it is given.
pub const PART_SIZE: i64 = 5 * 1024 * 1024;

/// The `Content-Type` Apple asks an upload part to be sent with, from the file's extension.
pub fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "mov" => "video/quicktime",
        "mp4" => "video/mp4",
        "m4v" => "video/x-m4v",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The upload operations covering `size` bytes in parts of [`PART_SIZE`]; `delivery` adds the
/// `partNumber` and `expiration` of a `DeliveryFileUploadOperation` (build uploads).
pub fn operations(w: &Write, size: i64, now_ms: i64, delivery: bool) -> Vec<Value> {
    let file_name = w
        .attributes
        .get("fileName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ctype = content_type(file_name);
    let mut out = Vec::new();
    let mut offset = 0i64;
    let mut part = 1i64;
    while offset < size {
        let length = PART_SIZE.min(size - offset);
        let mut op = json!({
            "method": "PUT",
            "url": format!("{}/crabapple/uploads/{}/{}/{part}", w.base, w.rtype, w.id),
            "length": length,
            "offset": offset,
            "requestHeaders": [{"name": "Content-Type", "value": ctype}],
        });
        if delivery {
            op["partNumber"] = json!(part);
            // Reservations of build files are valid for a day.
            op["expiration"] = json!(rfc3339(now_ms + 86_400_000));
        }
        out.push(op);
        offset += length;
        part += 1;
    }
    out
}

/// Fills a new reservation's upload values that the client did not send. `has` says whether the
/// type declares an attribute; `delivery` whether its operations are `DeliveryFileUploadOperation`s.
pub fn reserve(w: &mut Write, now_ms: i64, has: impl Fn(&str) -> bool, delivery: bool) {
    let size = w
        .attributes
        .get("fileSize")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let ops = operations(w, size, now_ms, delivery);
    let file_name = w
        .attributes
        .get("fileName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut fill = Map::new();
    fill.insert("uploadOperations".into(), Value::Array(ops));
    let awaiting = json!({"state": "AWAITING_UPLOAD", "errors": [], "warnings": []});
    fill.insert("assetDeliveryState".into(), awaiting.clone());
    fill.insert("videoDeliveryState".into(), awaiting);
    // Apple's token names the stored asset; crabapple's names the reservation.
    fill.insert(
        "assetToken".into(),
        json!(format!("{}/{}/{file_name}", w.rtype, w.id)),
    );
    let ctype = content_type(&file_name);
    if ctype.starts_with("video/") {
        fill.insert("mimeType".into(), json!(ctype));
    }
    for (k, v) in fill {
        if has(&k) && !w.attributes.contains_key(&k) {
            w.attributes.insert(k, v);
        }
    }
}
