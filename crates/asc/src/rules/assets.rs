//! Uploaded assets after their reservation (uploads.rs): where the parts a client PUTs are kept
//! (the data directory's `uploads/<type>/<id>/<part>`, files rather than SQL rows) and what
//! committing them (`PATCH … uploaded: true`) does for every type with `uploadOperations`
//! (`appScreenshots`, `appPreviews`, `buildUploadFiles`, review screenshots, images, …):
//!
//! 1. a committed or failed asset is not committed again: 409 STATE_ERROR "Asset in Completed!
//!    can't be re-committed!" (apple-semantics.md §8.3 [DEV]);
//! 2. every part of `uploadOperations` must have been PUT, else the delivery FAILS;
//! 3. the checksum the client sends must match the bytes: `sourceFileChecksum` (MD5 hex) or, for
//!    build files, `sourceFileChecksums` (`file`: MD5 or SHA_256; `composite`: MD5) — else FAILED;
//! 4. an image asset must decode as PNG or JPEG (else FAILED, IMAGE_TOOL_FAILURE); a screenshot
//!    must have one of the sizes Apple accepts for its set's `screenshotDisplayType`
//!    ([`SCREENSHOT_SIZES`], else FAILED, IMAGE_INCORRECT_DIMENSIONS); it is then served at
//!    `imageAsset.templateUrl` (images.rs);
//! 5. a build file is opened and becomes a build (builds_upload.rs).
//!
//! Apple processes a committed asset asynchronously (UPLOAD_COMPLETE, then COMPLETE or FAILED);
//! crabapple checks it inside the commit, so the PATCH already answers the final state. Videos
//! are not decoded (their size and checksum are checked).
//!
//! Error codes in `assetDeliveryState.errors`: IMAGE_INCORRECT_DIMENSIONS is observed (public
//! client code and fastlane issues); IMAGE_TOOL_FAILURE (not an image), FILE_CHECKSUM_MISMATCH and
//! ASSET_UPLOAD_INCOMPLETE are crabapple's guesses in Apple's style (README "Uploads").
//!
//! Limits: 10 screenshots per screenshot set and 3 previews per preview set (Apple's
//! "Screenshot specifications" / "App preview specifications"); the 409's wording is guessed.

use super::images;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request, Write};
use crabapple_spec::Operation;
use crabapple_store::{Resource, Tx};
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Screenshots a set may hold (Apple: "up to 10 screenshots" per display type and localization).
pub const MAX_SCREENSHOTS: usize = 10;
/// Previews a set may hold (Apple: "up to 3 app previews").
pub const MAX_PREVIEWS: usize = 3;

/// Accepted `(width, height)` pixel sizes per `screenshotDisplayType`, portrait and landscape:
/// Apple's "Screenshot specifications" (App Store Connect Help), as its errors quote them
/// (fastlane issues 14919 and 9768: 3.5" and 9.7" lists; 13181: 5.5"). Types not listed take any
/// decodable image. `IMESSAGE_APP_…` types share their `APP_…` sizes.
pub const SCREENSHOT_SIZES: &[(&str, &[(u32, u32)])] = &[
    ("APP_IPHONE_67", &[(1290, 2796), (1320, 2868), (1260, 2736)]),
    ("APP_IPHONE_65", &[(1242, 2688), (1284, 2778)]),
    (
        "APP_IPHONE_61",
        &[
            (1179, 2556),
            (1206, 2622),
            (1170, 2532),
            (1125, 2436),
            (1080, 2340),
        ],
    ),
    ("APP_IPHONE_58", &[(1125, 2436), (1170, 2532), (1080, 2340)]),
    ("APP_IPHONE_55", &[(1242, 2208)]),
    ("APP_IPHONE_47", &[(750, 1334)]),
    ("APP_IPHONE_40", &[(640, 1096), (640, 1136)]),
    ("APP_IPHONE_35", &[(640, 920), (640, 960)]),
    ("APP_IPAD_PRO_3GEN_129", &[(2064, 2752), (2048, 2732)]),
    (
        "APP_IPAD_PRO_3GEN_11",
        &[(1488, 2266), (1668, 2420), (1668, 2388), (1640, 2360)],
    ),
    ("APP_IPAD_PRO_129", &[(2048, 2732)]),
    ("APP_IPAD_105", &[(1668, 2224)]),
    (
        "APP_IPAD_97",
        &[(768, 1024), (768, 1004), (1536, 2048), (1536, 2008)],
    ),
    (
        "APP_DESKTOP",
        &[(1280, 800), (1440, 900), (2560, 1600), (2880, 1800)],
    ),
    ("APP_APPLE_TV", &[(1920, 1080), (3840, 2160)]),
    ("APP_APPLE_VISION_PRO", &[(3840, 2160)]),
    ("APP_WATCH_ULTRA", &[(410, 502), (422, 514)]),
    ("APP_WATCH_SERIES_10", &[(416, 496)]),
    ("APP_WATCH_SERIES_7", &[(396, 484)]),
    ("APP_WATCH_SERIES_4", &[(368, 448)]),
    ("APP_WATCH_SERIES_3", &[(312, 390)]),
];

/// A screenshot's `assetType` per `screenshotDisplayType`: Apple's internal picture types
/// (observed: an `appScreenshots` payload with `"assetType": "SortedD33ScreenShot"` in fastlane
/// issue 16643; the table is fastlane's `picture_type_map`). Types Apple added later are not
/// in it: crabapple answers `Sorted<display type>ScreenShot` for them (guessed), since clients
/// such as asconnect require a string.
const ASSET_TYPES: &[(&str, &str)] = &[
    ("APP_IPAD_97", "SortedTabletScreenShot"),
    ("APP_IPAD_105", "SortedJ207ScreenShot"),
    ("APP_IPAD_PRO_129", "SortedJ99ScreenShot"),
    ("APP_IPAD_PRO_3GEN_11", "SortedJ317ScreenShot"),
    ("APP_IPAD_PRO_3GEN_129", "SortedJ320ScreenShot"),
    ("APP_IPHONE_35", "SortedScreenShot"),
    ("APP_IPHONE_40", "SortedN41ScreenShot"),
    ("APP_IPHONE_47", "SortedN61ScreenShot"),
    ("APP_IPHONE_55", "SortedN56ScreenShot"),
    ("APP_IPHONE_58", "SortedD22ScreenShot"),
    ("APP_IPHONE_65", "SortedD33ScreenShot"),
    ("APP_WATCH_SERIES_3", "SortedN27ScreenShot"),
    ("APP_WATCH_SERIES_4", "SortedN131ScreenShot"),
    ("APP_APPLE_TV", "SortedATVScreenShot"),
    ("APP_DESKTOP", "SortedDesktopScreenShot"),
];

/// The `assetType` of a screenshot in a set of `display_type` (see [`ASSET_TYPES`]).
pub fn asset_type(display_type: &str) -> String {
    ASSET_TYPES
        .iter()
        .find(|(t, _)| *t == display_type)
        .map(|(_, a)| a.to_string())
        .unwrap_or_else(|| format!("Sorted{display_type}ScreenShot"))
}

/// Whether `(w, h)` is a size Apple accepts for `display_type` (either orientation); `None`
/// when crabapple has no table for the type.
pub fn accepted_size(display_type: &str, w: u32, h: u32) -> Option<bool> {
    let key = display_type
        .strip_prefix("IMESSAGE_")
        .unwrap_or(display_type);
    let (_, sizes) = SCREENSHOT_SIZES.iter().find(|(t, _)| *t == key)?;
    Some(
        sizes
            .iter()
            .any(|&(a, b)| (a, b) == (w, h) || (b, a) == (w, h)),
    )
}

/// Whether a type or id is safe as a path segment.
fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !s.starts_with('.')
}

/// The file of part `part` (1-based) of the upload of `(rtype, id)`.
pub fn part_path(data_dir: &Path, rtype: &str, id: &str, part: u32) -> Option<PathBuf> {
    (safe_segment(rtype) && safe_segment(id)).then(|| {
        data_dir
            .join("uploads")
            .join(rtype)
            .join(id)
            .join(part.to_string())
    })
}

/// Removes the parts and the stored image of the upload of `(rtype, id)` (best effort: a file
/// left behind is only disk space).
pub fn remove_files(data_dir: &Path, rtype: &str, id: &str) {
    if let Some(dir) = part_path(data_dir, rtype, id, 1)
        .as_deref()
        .and_then(Path::parent)
    {
        let _ = std::fs::remove_dir_all(dir);
    }
    images::remove(data_dir, &format!("{rtype}-{id}"));
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One `AppMediaStateError` / `StateDetail`.
pub fn state_error(code: &str, description: impl Into<String>) -> Value {
    json!({"code": code, "description": description.into()})
}

/// What a commit found: the file's bytes, or why its delivery failed.
pub type Delivery = Result<Vec<u8>, Value>;

/// Reads the parts of the upload of `w` (its `uploadOperations` before the commit) in order.
pub fn assemble(data_dir: &Path, existing: &serde_json::Map<String, Value>, w: &Write) -> Delivery {
    let ops = existing
        .get("uploadOperations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut bytes = Vec::new();
    let mut missing = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let part = n as u32 + 1;
        let read = part_path(data_dir, &w.rtype, &w.id, part).and_then(|p| std::fs::read(p).ok());
        match read {
            Some(b) if Some(b.len() as i64) == op.get("length").and_then(Value::as_i64) => {
                bytes.extend_from_slice(&b)
            }
            _ => missing.push(part.to_string()),
        }
    }
    if !missing.is_empty() || ops.is_empty() {
        return Err(state_error(
            "ASSET_UPLOAD_INCOMPLETE",
            format!(
                "The asset was committed before all of its parts were uploaded (missing part {} of {}).",
                if missing.is_empty() {
                    "1".into()
                } else {
                    missing.join(", ")
                },
                ops.len().max(1)
            ),
        ));
    }
    Ok(bytes)
}

/// The checksum error for `expected` (hex, any case) against the digest of the bytes.
fn mismatch(expected: &str, actual: &str) -> Option<Value> {
    (!expected.eq_ignore_ascii_case(actual)).then(|| {
        state_error(
            "FILE_CHECKSUM_MISMATCH",
            format!(
                "The checksum of the uploaded file ({actual}) does not match the sourceFileChecksum provided ({expected})."
            ),
        )
    })
}

/// Checks the client's checksum(s) against `bytes` and the parts' MD5s.
pub fn check_checksum(w: &Write, bytes: &[u8], part_md5s: &[[u8; 16]]) -> Option<Value> {
    let md5 = hex(&Md5::digest(bytes));
    if let Some(sum) = w
        .attributes
        .get("sourceFileChecksum")
        .and_then(Value::as_str)
    {
        return mismatch(sum, &md5);
    }
    let sums = w.attributes.get("sourceFileChecksums")?;
    if let Some(file) = sums.get("file") {
        let hash = file.get("hash").and_then(Value::as_str).unwrap_or_default();
        let actual = match file.get("algorithm").and_then(Value::as_str) {
            Some("SHA_256") => {
                hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
            }
            _ => md5.clone(),
        };
        if let Some(e) = mismatch(hash, &actual) {
            return Some(e);
        }
    }
    // Composite: the MD5 of the parts' MD5s, in part order (as multipart object stores compute
    // it; crabapple's reading of Apple's `composite`).
    if let Some(hash) = sums.pointer("/composite/hash").and_then(Value::as_str) {
        let joined: Vec<u8> = part_md5s.iter().flatten().copied().collect();
        return mismatch(hash, &hex(&Md5::digest(&joined)));
    }
    None
}

/// MD5 of each part (for the composite checksum).
fn part_md5s(existing: &serde_json::Map<String, Value>, bytes: &[u8]) -> Vec<[u8; 16]> {
    let ops = existing
        .get("uploadOperations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ops.iter()
        .filter_map(|op| {
            let off = op.get("offset")?.as_u64()? as usize;
            let len = op.get("length")?.as_u64()? as usize;
            let d = Md5::digest(bytes.get(off..off + len)?);
            Some(d.into())
        })
        .collect()
}

/// The delivery state attribute(s) a type has, set to `state` with `errors`.
fn set_state(w: &mut Write, has: &impl Fn(&str) -> bool, state: &str, errors: Vec<Value>) {
    let v = json!({"state": state, "errors": errors, "warnings": []});
    for k in ["assetDeliveryState", "videoDeliveryState"] {
        if has(k) {
            w.attributes.insert(k.into(), v.clone());
        }
    }
}

/// Relationship replacements whose order is the order of the set's screenshots or previews
/// (Apple's "reorder the screenshots in a set": PATCH the set's relationship with every member).
const ORDERED: &[(&str, &str)] = &[
    (
        "appScreenshotSets_appScreenshots_replaceToManyRelationship",
        "appScreenshots",
    ),
    (
        "appPreviewSets_appPreviews_replaceToManyRelationship",
        "appPreviews",
    ),
];

pub struct Assets;

impl Family for Assets {
    fn name(&self) -> &'static str {
        "assets"
    }

    fn handles(&self, op: &Operation) -> bool {
        ORDERED.iter().any(|(o, _)| *o == op.id)
    }

    /// The generic replacement (membership, Apple's checks), then the members in the order given.
    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        let &(_, rel) = ORDERED.iter().find(|(o, _)| *o == op.id)?;
        Some(Box::pin(async move {
            let op = engine.op(req.op);
            let reply = engine.generic(op, req).await?;
            let order = super::listed_linkage(&req.body);
            let set = (
                op.resource.clone().unwrap_or_default(),
                req.id.clone().unwrap_or_default(),
            );
            let mut tx = engine.store.begin().await?;
            tx.unlink_all((&set.0, &set.1), rel).await?;
            for (t, id) in &order {
                tx.link((&set.0, &set.1), rel, (t, id)).await?;
            }
            tx.commit().await?;
            Ok(reply)
        }))
    }

    /// A deleted asset's files go with it (its parts and its image): clients such as fastlane
    /// delete and upload every screenshot again on each run.
    fn before_delete<'a>(
        &'a self,
        engine: &'a Engine,
        tx: &'a mut Tx,
        existing: &'a Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            let uploads = engine
                .manifest
                .resources
                .get(&existing.rtype)
                .is_some_and(|rt| rt.attributes.contains_key("uploadOperations"));
            if uploads {
                remove_files(tx.data_dir(), &existing.rtype, &existing.id);
            }
            Ok(())
        })
    }

    fn before_write<'a>(
        &'a self,
        engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            let Some(rt) = engine.manifest.resources.get(&w.rtype) else {
                return Ok(());
            };
            if !rt.attributes.contains_key("uploadOperations") {
                return Ok(());
            }
            match &w.existing {
                None => {
                    check_set_limit(tx, w).await?;
                    fill_asset_type(tx, w).await
                }
                Some(_) if w.attributes.get("uploaded") == Some(&Value::Bool(true)) => {
                    let has = |a: &str| rt.attributes.contains_key(a);
                    commit(engine, tx, w, has).await
                }
                Some(_) => Ok(()),
            }
        })
    }
}

/// A new screenshot or preview in a full set: 409 (Apple's limits; wording guessed).
async fn check_set_limit(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    let (rel, max, what) = match w.rtype.as_str() {
        "appScreenshots" => ("appScreenshotSet", MAX_SCREENSHOTS, "screenshots"),
        "appPreviews" => ("appPreviewSet", MAX_PREVIEWS, "previews"),
        _ => return Ok(()),
    };
    let Some((set_type, set)) = w
        .relationships
        .iter()
        .find(|(r, _)| r == rel)
        .and_then(|(_, to)| to.first())
    else {
        return Ok(());
    };
    let members = tx.linked(set_type, set, &w.rtype).await?;
    if members.len() >= max {
        return Err(AscError::entity_error(
            "RELATIONSHIP.INVALID",
            "The provided entity includes a relationship with an invalid value",
            format!("The {rel} '{set}' already has the maximum of {max} {what}."),
            &format!("/data/relationships/{rel}"),
        ));
    }
    Ok(())
}

/// A new screenshot's `assetType`, from its set's display type.
async fn fill_asset_type(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    if w.rtype != "appScreenshots" || w.attributes.contains_key("assetType") {
        return Ok(());
    }
    let set = w
        .relationships
        .iter()
        .find(|(r, _)| r == "appScreenshotSet")
        .and_then(|(_, to)| to.first())
        .cloned();
    if let Some((t, id)) = set
        && let Some(r) = tx.get(&t, &id).await?
        && let Some(display) = r
            .attributes
            .get("screenshotDisplayType")
            .and_then(Value::as_str)
    {
        w.attributes
            .insert("assetType".into(), json!(asset_type(display)));
    }
    Ok(())
}

async fn commit(
    engine: &Engine,
    tx: &mut Tx,
    w: &mut Write,
    has: impl Fn(&str) -> bool,
) -> Result<(), AscError> {
    let existing = w
        .existing
        .as_ref()
        .map(|r| r.attributes.clone())
        .unwrap_or_default();
    w.attributes.remove("uploaded");
    let state = existing
        .get("assetDeliveryState")
        .or_else(|| existing.get("videoDeliveryState"))
        .and_then(|s| s.get("state"))
        .and_then(Value::as_str)
        .unwrap_or("AWAITING_UPLOAD");
    if state != "AWAITING_UPLOAD" {
        // §8.3 [DEV]: "Asset in Completed! can't be re-committed!".
        let shown = match state {
            "COMPLETE" => "Completed",
            "FAILED" => "Failed",
            "UPLOAD_COMPLETE" => "Uploaded",
            other => other,
        };
        return Err(AscError::state_error(format!(
            "Asset in {shown}! can't be re-committed!"
        )));
    }
    // A committed asset has no upload operations left: an empty list (the spec declares the
    // attribute an array, never null; what Apple sends is not documented).
    w.attributes
        .insert("uploadOperations".into(), Value::Array(Vec::new()));
    let data_dir = tx.data_dir().to_path_buf();
    let delivered = assemble(&data_dir, &existing, w).and_then(|bytes| {
        match check_checksum(w, &bytes, &part_md5s(&existing, &bytes)) {
            Some(e) => Err(e),
            None => Ok(bytes),
        }
    });
    let bytes = match delivered {
        Ok(b) => b,
        Err(e) => {
            set_state(w, &has, "FAILED", vec![e]);
            if w.rtype == "buildUploadFiles" {
                super::builds_upload::failed_file(tx, w).await?;
            }
            return Ok(());
        }
    };
    if w.rtype == "buildUploadFiles" {
        set_state(w, &has, "COMPLETE", Vec::new());
        return super::builds_upload::committed(engine, tx, w, &bytes).await;
    }
    if has("imageAsset")
        && let Err(e) = image_asset(tx, w, &bytes, &data_dir).await
    {
        set_state(w, &has, "FAILED", vec![e]);
        return Ok(());
    }
    set_state(w, &has, "COMPLETE", Vec::new());
    Ok(())
}

/// Decodes a committed image, checks a screenshot's size against its set's display type,
/// stores it and sets `imageAsset`.
async fn image_asset(
    tx: &mut Tx,
    w: &mut Write,
    bytes: &[u8],
    data_dir: &Path,
) -> Result<(), Value> {
    let Some(img) = images::decode(bytes) else {
        return Err(state_error(
            "IMAGE_TOOL_FAILURE",
            "The file could not be read as an image. Upload a .jpeg, .jpg, or .png file.",
        ));
    };
    let (width, height) = (img.width(), img.height());
    if w.rtype == "appScreenshots" {
        let sets = tx
            .linked("appScreenshots", &w.id, "appScreenshotSet")
            .await
            .unwrap_or_default();
        for (t, set) in sets {
            let display = match tx.get(&t, &set).await {
                Ok(Some(r)) => r
                    .attributes
                    .get("screenshotDisplayType")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
            if let Some(display) = display
                && accepted_size(&display, width, height) == Some(false)
            {
                return Err(state_error(
                    "IMAGE_INCORRECT_DIMENSIONS",
                    format!(
                        "The dimensions of the image ({width}x{height}) are not supported for {display}. Please adjust to acceptable dimensions and re-save it."
                    ),
                ));
            }
        }
    }
    let token = format!("{}-{}", w.rtype, w.id);
    if let Err(e) = images::save(data_dir, &token, &img) {
        tracing::warn!("storing image {token}: {e:#}");
        return Err(state_error(
            "IMAGE_TOOL_FAILURE",
            "The image could not be stored.",
        ));
    }
    w.attributes.insert(
        "imageAsset".into(),
        images::image_asset(&token, width, height),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screenshot_sizes_follow_apples_specifications_in_both_orientations() {
        assert_eq!(accepted_size("APP_IPHONE_67", 1290, 2796), Some(true));
        assert_eq!(accepted_size("APP_IPHONE_67", 2796, 1290), Some(true));
        assert_eq!(accepted_size("APP_IPHONE_67", 1284, 2778), Some(false));
        assert_eq!(
            accepted_size("IMESSAGE_APP_IPHONE_65", 1284, 2778),
            Some(true)
        );
        assert_eq!(accepted_size("APP_IPAD_97", 1024, 768), Some(true));
        assert_eq!(accepted_size("UNKNOWN", 1, 1), None);
    }

    #[test]
    fn a_screenshots_asset_type_is_apples_picture_type_of_its_display_type() {
        assert_eq!(asset_type("APP_IPHONE_65"), "SortedD33ScreenShot");
        assert_eq!(asset_type("APP_IPHONE_67"), "SortedAPP_IPHONE_67ScreenShot");
    }

    #[test]
    fn part_paths_refuse_segments_that_could_leave_the_uploads_folder() {
        let d = Path::new("/d");
        assert_eq!(
            part_path(d, "appScreenshots", "ab-12", 2),
            Some(PathBuf::from("/d/uploads/appScreenshots/ab-12/2"))
        );
        assert_eq!(part_path(d, "appScreenshots", "..", 1), None);
        assert_eq!(part_path(d, "a/b", "x", 1), None);
    }
}
