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
//! `{base}/crabapple/uploads/{type}/{id}/{part}`, served by crates/server/src/uploads.rs; the
//! commit is assets.rs.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation(rtype: &str, file: &str, size: i64) -> Write {
        let mut attributes = Map::new();
        attributes.insert("fileName".into(), json!(file));
        attributes.insert("fileSize".into(), json!(size));
        Write {
            op_id: String::new(),
            rtype: rtype.into(),
            id: "f00d".into(),
            attributes,
            relationships: Vec::new(),
            existing: None,
            base: "https://asc.example:8443".into(),
        }
    }

    #[test]
    fn a_build_upload_file_gets_numbered_parts_that_expire_after_a_day() {
        let w = reservation("buildUploadFiles", "App.ipa", PART_SIZE + 10);
        let ops = operations(&w, PART_SIZE + 10, 0, true);
        assert_eq!(
            ops,
            vec![
                json!({"method": "PUT", "url": "https://asc.example:8443/crabapple/uploads/buildUploadFiles/f00d/1",
                       "length": PART_SIZE, "offset": 0, "partNumber": 1, "expiration": "1970-01-02T00:00:00Z",
                       "requestHeaders": [{"name": "Content-Type", "value": "application/octet-stream"}]}),
                json!({"method": "PUT", "url": "https://asc.example:8443/crabapple/uploads/buildUploadFiles/f00d/2",
                       "length": 10, "offset": PART_SIZE, "partNumber": 2, "expiration": "1970-01-02T00:00:00Z",
                       "requestHeaders": [{"name": "Content-Type", "value": "application/octet-stream"}]}),
            ]
        );
    }

    #[test]
    fn a_preview_reservation_is_awaiting_its_video_and_keeps_what_the_client_sent() {
        let mut w = reservation("appPreviews", "trailer.MOV", 100);
        w.attributes.insert("assetToken".into(), json!("mine"));
        reserve(&mut w, 0, |_| true, false);
        let awaiting = json!({"state": "AWAITING_UPLOAD", "errors": [], "warnings": []});
        assert_eq!(w.attributes["videoDeliveryState"], awaiting);
        assert_eq!(w.attributes["assetDeliveryState"], awaiting);
        assert_eq!(w.attributes["mimeType"], "video/quicktime");
        assert_eq!(w.attributes["assetToken"], "mine");
        assert_eq!(w.attributes["uploadOperations"][0]["length"], 100);
    }
}
