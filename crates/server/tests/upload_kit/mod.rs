//! Helpers of the upload tests (crates/server/tests/uploads.rs): reservations, parts PUT on the
//! client's host, commits, a small real `.ipa` and PNGs, a screenshot set in a new version.

use crate::common::*;
use crabapple_asc::rules::bundle::build_ipa;
use crabapple_server::setup::WorldChoice;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::io::Cursor;

pub const HOST: &str = "http://crabapple.test:8686";
pub const BUNDLE_ID: &str = "com.example.pilot";

pub async fn empty() -> World {
    open(temp_dir("uploads"), WorldChoice::Empty, 100_000).await
}

pub async fn new_app(w: &World) -> String {
    let a = w
        .admin_create(
            "apps",
            json!({ "attributes": { "name": "Pilot", "bundleId": BUNDLE_ID, "sku": "PILOT", "primaryLocale": "en-US" } }),
        )
        .await;
    a["id"].as_str().unwrap().to_string()
}

pub async fn send(w: &World, method: &str, uri: &str, body: Value) -> Resp {
    w.call(method, uri, Some(&w.token.clone()), Some(body))
        .await
}

pub fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    r.json()["data"].clone()
}

pub fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 40, 90]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// PUTs every part of a reservation's `uploadOperations` (the URLs are on the client's host).
pub async fn put_parts(w: &World, reservation: &Value, bytes: &[u8]) {
    for op in reservation["attributes"]["uploadOperations"]
        .as_array()
        .unwrap()
    {
        let r = put(w, op, bytes).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let part = &bytes[op_range(op)];
        assert_eq!(r.header("etag"), Some(format!("\"{}\"", md5_hex(part))));
    }
}

pub fn op_range(op: &Value) -> std::ops::Range<usize> {
    let off = op["offset"].as_u64().unwrap() as usize;
    off..off + op["length"].as_u64().unwrap() as usize
}

pub async fn put(w: &World, op: &Value, bytes: &[u8]) -> Resp {
    put_raw(w, op["url"].as_str().unwrap(), bytes[op_range(op)].to_vec()).await
}

pub async fn put_raw(w: &World, url: &str, body: Vec<u8>) -> Resp {
    let path = url
        .strip_prefix(HOST)
        .expect("an upload URL on the client's host");
    let req = axum::http::Request::builder()
        .method("PUT")
        .uri(path)
        .header("host", "crabapple.test:8686")
        .header("content-type", "application/octet-stream")
        .body(axum::body::Body::from(body))
        .unwrap();
    w.send(req).await
}

/// A build upload of `app` for version `short` (`number`) and its reserved file of `size` bytes.
pub async fn reserve_build(
    w: &World,
    app: &str,
    short: &str,
    number: &str,
    size: usize,
) -> (String, Value) {
    let upload = ok(
        &send(w, "POST", "/v1/buildUploads", json!({"data": {"type": "buildUploads",
            "attributes": {"cfBundleShortVersionString": short, "cfBundleVersion": number, "platform": "IOS"},
            "relationships": {"app": {"data": {"type": "apps", "id": app}}}}}))
        .await,
        201,
    );
    let upload_id = upload["id"].as_str().unwrap().to_string();
    let file = ok(
        &send(w, "POST", "/v1/buildUploadFiles", json!({"data": {"type": "buildUploadFiles",
            "attributes": {"fileName": "Pilot.ipa", "fileSize": size, "assetType": "ASSET", "uti": "com.apple.ipa"},
            "relationships": {"buildUpload": {"data": {"type": "buildUploads", "id": upload_id}}}}}))
        .await,
        201,
    );
    (upload_id, file)
}

pub async fn commit_build_file(w: &World, file: &Value, md5: &str) -> Value {
    let id = file["id"].as_str().unwrap();
    ok(
        &send(w, "PATCH", &format!("/v1/buildUploadFiles/{id}"), json!({"data": {"type": "buildUploadFiles", "id": id,
            "attributes": {"uploaded": true, "sourceFileChecksums": {"file": {"hash": md5, "algorithm": "MD5"}}}}}))
        .await,
        200,
    )
}

/// Reserve → PUT → commit of `ipa`; the build upload afterwards.
pub async fn upload_build(w: &World, app: &str, short: &str, number: &str, ipa: &[u8]) -> Value {
    let (upload, file) = reserve_build(w, app, short, number, ipa.len()).await;
    put_parts(w, &file, ipa).await;
    commit_build_file(w, &file, &md5_hex(ipa)).await;
    ok(&w.get(&format!("/v1/buildUploads/{upload}")).await, 200)
}

pub fn ipa(bundle_id: &str, short: &str, number: &str) -> Vec<u8> {
    build_ipa(
        "Pilot",
        &[
            ("CFBundleIdentifier", bundle_id),
            ("CFBundleShortVersionString", short),
            ("CFBundleVersion", number),
            ("MinimumOSVersion", "17.0"),
        ],
        // As Xcode copies it into the bundle: crushed (CgBI, crates/asc/src/rules/cgbi.rs).
        &[(
            "AppIcon60x60@3x.png",
            crabapple_asc::rules::cgbi::crush(&image::RgbaImage::from_pixel(
                180,
                180,
                image::Rgba([200, 40, 90, 255]),
            )),
        )],
    )
}

pub fn upload_state(upload: &Value) -> (String, Value) {
    let s = &upload["attributes"]["state"];
    (
        s["state"].as_str().unwrap().to_string(),
        s["errors"].clone(),
    )
}

/// A version localization (en-US) of a new version 1.0 of a new app.
pub async fn localization(w: &World) -> Value {
    let app = new_app(w).await;
    let version = ok(
        &send(
            w,
            "POST",
            "/v1/appStoreVersions",
            json!({"data": {"type": "appStoreVersions",
            "attributes": {"platform": "IOS", "versionString": "1.0"},
            "relationships": {"app": {"data": {"type": "apps", "id": app}}}}}),
        )
        .await,
        201,
    );
    let loc = ok(
        &send(w, "POST", "/v1/appStoreVersionLocalizations", json!({"data": {"type": "appStoreVersionLocalizations",
            "attributes": {"locale": "en-US"},
            "relationships": {"appStoreVersion": {"data": {"type": "appStoreVersions", "id": version["id"]}}}}}))
        .await,
        201,
    );
    loc["id"].clone()
}

/// A screenshot set of `display` in a new version's localization of a new app.
pub async fn screenshot_set(w: &World, display: &str) -> String {
    let loc = localization(w).await;
    let set = ok(
        &send(w, "POST", "/v1/appScreenshotSets", json!({"data": {"type": "appScreenshotSets",
            "attributes": {"screenshotDisplayType": display},
            "relationships": {"appStoreVersionLocalization": {"data": {"type": "appStoreVersionLocalizations", "id": loc}}}}}))
        .await,
        201,
    );
    set["id"].as_str().unwrap().to_string()
}

pub async fn reserve_screenshot(w: &World, set: &str, name: &str, size: usize) -> Resp {
    send(w, "POST", "/v1/appScreenshots", json!({"data": {"type": "appScreenshots",
        "attributes": {"fileName": name, "fileSize": size},
        "relationships": {"appScreenshotSet": {"data": {"type": "appScreenshotSets", "id": set}}}}}))
    .await
}

/// Reserve → PUT → commit of a screenshot's bytes; the committed screenshot.
pub async fn upload_screenshot(w: &World, set: &str, bytes: &[u8], checksum: &str) -> Value {
    let shot = ok(
        &reserve_screenshot(w, set, "shot.png", bytes.len()).await,
        201,
    );
    assert_eq!(
        shot["attributes"]["assetDeliveryState"]["state"],
        "AWAITING_UPLOAD"
    );
    put_parts(w, &shot, bytes).await;
    let id = shot["id"].as_str().unwrap();
    ok(
        &send(
            w,
            "PATCH",
            &format!("/v1/appScreenshots/{id}"),
            json!({"data": {"type": "appScreenshots", "id": id,
            "attributes": {"uploaded": true, "sourceFileChecksum": checksum}}}),
        )
        .await,
        200,
    )
}

/// A preview set (IPHONE_67) of the version localization `loc`.
pub async fn preview_set(w: &World, loc: Value) -> String {
    let set = ok(
        &send(w, "POST", "/v1/appPreviewSets", json!({"data": {"type": "appPreviewSets",
            "attributes": {"previewType": "IPHONE_67"},
            "relationships": {"appStoreVersionLocalization": {"data": {"type": "appStoreVersionLocalizations", "id": loc}}}}}))
        .await,
        201,
    );
    set["id"].as_str().unwrap().to_string()
}
