//! Build uploads through the API (App Store Connect API 4.x: `buildUploads` → `buildUploadFiles`
//! → PUT the parts → `PATCH buildUploadFiles/{id}` `uploaded: true` with `sourceFileChecksums`):
//! what committing the bundle file does. The bundle is opened (bundle.rs) and checked as Apple's
//! processing checks it; each problem is a `StateDetail` in the `buildUploads`' `state.errors`
//! with `state` FAILED — never a silent success. A good bundle becomes a `builds` resource:
//! `processingState` PROCESSING, `uploadedDate` the virtual now, `version` = CFBundleVersion,
//! linked to its app, its `preReleaseVersion` (CFBundleShortVersionString + platform, created on
//! first use, as Apple does) and its upload, with its icon (`buildIcons`, `iconAssetToken`).
//! The upload's `state` is then COMPLETE. Moving the build on (VALID, expiry) is the review
//! rules' job.
//!
//! Processing errors (`code`, `description`):
//! - ITMS-90189 "Redundant Binary Upload…": observed text (widely quoted) — a build number
//!   already used for the version and platform;
//! - ITMS-90054 bundle identifier ≠ the app's `bundleId`: observed wording ("cannot be changed
//!   from the current value");
//! - ITMS-90345 "Metadata/Info.plist Mismatch": observed for Transporter's metadata.xml; used
//!   here for the upload's `cfBundleShortVersionString`/`cfBundleVersion` against the Info.plist;
//! - ITMS-90167, ITMS-90059, ITMS-90049/90056/90057 (bundle.rs): structure and missing keys;
//!   the numbers of 90059 and 90057 are guessed.

use super::{assets, bundle, images, rfc3339};
use crabapple_jsonapi::{AscError, Engine, Write};
use crabapple_store::Tx;
use serde_json::{Map, Value, json};

/// The upload a build file belongs to.
async fn upload_of(tx: &mut Tx, file_id: &str) -> Result<Option<String>, AscError> {
    Ok(tx
        .linked("buildUploadFiles", file_id, "buildUpload")
        .await?
        .into_iter()
        .next()
        .map(|(_, id)| id))
}

/// Sets the upload's `state` (BuildUploadState with its `StateDetail` lists).
async fn set_upload_state(
    tx: &mut Tx,
    upload: &str,
    state: &str,
    errors: Vec<Value>,
) -> Result<(), AscError> {
    let Some(r) = tx.get("buildUploads", upload).await? else {
        return Ok(());
    };
    let mut attrs = r.attributes;
    attrs.insert(
        "state".into(),
        json!({"state": state, "errors": errors, "warnings": [], "infos": []}),
    );
    tx.put("buildUploads", upload, &attrs).await?;
    Ok(())
}

/// The file's delivery failed (missing parts, checksum): so does its upload, with the same errors.
pub async fn failed_file(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    let errors = w
        .attributes
        .get("assetDeliveryState")
        .and_then(|s| s.get("errors"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(upload) = upload_of(tx, &w.id).await? {
        set_upload_state(tx, &upload, "FAILED", errors).await?;
    }
    Ok(())
}

/// The bundle file of an upload arrived whole: open it, check it, make the build.
pub async fn committed(
    engine: &Engine,
    tx: &mut Tx,
    w: &Write,
    bytes: &[u8],
) -> Result<(), AscError> {
    // Only the bundle itself (`assetType` ASSET) becomes a build; descriptions and SPI files are
    // kept as delivered.
    if w.attributes
        .get("assetType")
        .and_then(Value::as_str)
        .unwrap_or("ASSET")
        != "ASSET"
    {
        return Ok(());
    }
    let Some(upload) = upload_of(tx, &w.id).await? else {
        return Ok(());
    };
    let Some(u) = tx.get("buildUploads", &upload).await? else {
        return Ok(());
    };
    let attr = |k: &str| {
        u.attributes
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (short, number, platform) = (
        attr("cfBundleShortVersionString"),
        attr("cfBundleVersion"),
        attr("platform"),
    );
    let app = tx
        .linked("buildUploads", &upload, "app")
        .await?
        .into_iter()
        .next()
        .map(|(_, id)| id);
    let Some(app) = app else {
        return Ok(());
    };
    let app_res = tx.get("apps", &app).await?;
    let bundle_id = app_res
        .as_ref()
        .and_then(|r| r.attributes.get("bundleId"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let info = match bundle::open(bytes) {
        Ok(i) => i,
        Err(e) => return set_upload_state(tx, &upload, "FAILED", vec![e]).await,
    };
    let mut errors = Vec::new();
    if info.bundle_id != bundle_id {
        errors.push(assets::state_error(
            "ITMS-90054",
            format!(
                "This bundle is invalid. The bundle identifier cannot be changed from the current value, '{bundle_id}'. If you want to change your bundle identifier, you will need to create a new application in App Store Connect. (The bundle's CFBundleIdentifier is '{}'.)",
                info.bundle_id
            ),
        ));
    }
    for (key, plist_value, upload_value, attr_name) in [
        (
            "CFBundleShortVersionString",
            &info.short_version,
            &short,
            "cfBundleShortVersionString",
        ),
        ("CFBundleVersion", &info.version, &number, "cfBundleVersion"),
    ] {
        if plist_value != upload_value {
            errors.push(assets::state_error(
                "ITMS-90345",
                format!(
                    "Metadata/Info.plist Mismatch. The value for {attr_name} of the build upload ('{upload_value}') does not match the value for {key} in the Info.plist ('{plist_value}')."
                ),
            ));
        }
    }
    let prerelease = find_prerelease(tx, &app, &info.short_version, &platform).await?;
    if let Some(pre) = &prerelease
        && build_number_used(tx, pre, &info.version).await?
    {
        errors.push(assets::state_error(
            "ITMS-90189",
            format!(
                "Redundant Binary Upload. You've already uploaded a build with build number '{}' for version number '{}'. Make sure you increment the build string before you upload your app to App Store Connect.",
                info.version, info.short_version
            ),
        ));
    }
    if !errors.is_empty() {
        return set_upload_state(tx, &upload, "FAILED", errors).await;
    }
    let now = tx.now_ms();
    let pre = match prerelease {
        Some(p) => p,
        None => {
            let mut attrs = Map::new();
            attrs.insert("version".into(), json!(info.short_version));
            attrs.insert("platform".into(), json!(platform));
            create(
                engine,
                tx,
                "preReleaseVersions",
                attrs,
                vec![rel("app", "apps", &app)],
            )
            .await?
        }
    };
    let build_id = engine.new_id("builds");
    let (token, width, height) = match &info.icon {
        Some((_, img)) => {
            let token = format!("builds-{build_id}");
            match images::save(tx.data_dir(), &token, img) {
                Ok(()) => (token, img.width(), img.height()),
                Err(e) => {
                    tracing::warn!("storing the icon of build {build_id}: {e:#}");
                    (
                        images::app_icon_token(&app),
                        images::ICON_SIDE,
                        images::ICON_SIDE,
                    )
                }
            }
        }
        None => (
            images::app_icon_token(&app),
            images::ICON_SIDE,
            images::ICON_SIDE,
        ),
    };
    let asset = images::image_asset(&token, width, height);
    let mut icon = Map::new();
    icon.insert("iconType".into(), json!("APP_STORE"));
    let icon_name = info
        .icon
        .as_ref()
        .map(|(f, _)| {
            f.trim_end_matches(".png")
                .trim_end_matches(".icns")
                .split('@')
                .next()
                .unwrap_or("AppIcon")
                .to_string()
        })
        .unwrap_or_else(|| "AppIcon".into());
    icon.insert("name".into(), json!(icon_name));
    icon.insert("masked".into(), json!(true));
    icon.insert("iconAsset".into(), asset.clone());
    let icon_id = create(engine, tx, "buildIcons", icon, Vec::new()).await?;
    let mut b = Map::new();
    b.insert("version".into(), json!(info.version));
    b.insert("uploadedDate".into(), json!(rfc3339(now)));
    b.insert("processingState".into(), json!("PROCESSING"));
    b.insert("iconAssetToken".into(), asset);
    if let Some(min) = &info.min_os {
        b.insert("minOsVersion".into(), json!(min));
    }
    let mut bw = Write {
        op_id: "buildUploadFiles_commit".into(),
        rtype: "builds".into(),
        id: build_id.clone(),
        attributes: b,
        relationships: vec![
            rel("app", "apps", &app),
            rel("preReleaseVersion", "preReleaseVersions", &pre),
            rel("buildUpload", "buildUploads", &upload),
            ("icons".into(), vec![("buildIcons".into(), icon_id)]),
        ],
        existing: None,
        base: w.base.clone(),
    };
    run_families(engine, tx, &mut bw).await?;
    // Processing (PROCESSING → VALID) and the 90-day expiry on the virtual clock (builds.rs).
    super::builds::plan_processing(tx, &build_id).await?;
    set_upload_state(tx, &upload, "COMPLETE", Vec::new()).await?;
    if let Some(r) = tx.get("buildUploads", &upload).await? {
        let mut attrs = r.attributes;
        attrs.insert("uploadedDate".into(), json!(rfc3339(now)));
        tx.put("buildUploads", &upload, &attrs).await?;
    }
    Ok(())
}

fn rel(name: &str, rtype: &str, id: &str) -> (String, Vec<(String, String)>) {
    (name.into(), vec![(rtype.into(), id.into())])
}

/// Runs every family's rules on a resource this module creates, then writes it.
async fn run_families(engine: &Engine, tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    for f in engine.families() {
        f.before_write(engine, tx, w).await?;
    }
    engine.write(tx, w).await
}

async fn create(
    engine: &Engine,
    tx: &mut Tx,
    rtype: &str,
    attributes: Map<String, Value>,
    relationships: Vec<(String, Vec<(String, String)>)>,
) -> Result<String, AscError> {
    let mut w = Write {
        op_id: format!("{rtype}_createInstance"),
        rtype: rtype.into(),
        id: engine.new_id(rtype),
        attributes,
        relationships,
        existing: None,
        base: String::new(),
    };
    run_families(engine, tx, &mut w).await?;
    Ok(w.id)
}

/// The app's pre-release version `version` on `platform`, if it exists.
async fn find_prerelease(
    tx: &mut Tx,
    app: &str,
    version: &str,
    platform: &str,
) -> Result<Option<String>, AscError> {
    for (t, id) in tx.linked("apps", app, "preReleaseVersions").await? {
        let Some(r) = tx.get(&t, &id).await? else {
            continue;
        };
        let same = |k: &str, v: &str| r.attributes.get(k).and_then(Value::as_str) == Some(v);
        if same("version", version) && (platform.is_empty() || same("platform", platform)) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Whether a build of this pre-release version already has build number `number`.
async fn build_number_used(tx: &mut Tx, pre: &str, number: &str) -> Result<bool, AscError> {
    for (t, id) in tx.linked("preReleaseVersions", pre, "builds").await? {
        if let Some(r) = tx.get(&t, &id).await?
            && r.attributes.get("version").and_then(Value::as_str) == Some(number)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
