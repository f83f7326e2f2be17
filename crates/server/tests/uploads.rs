//! Release flows through the HTTP surface (issue 11): a real `.ipa` built here is reserved,
//! PUT in parts and committed (crates/asc rules/uploads.rs, assets.rs, builds_upload.rs,
//! bundle.rs), becomes a PROCESSING build whose icon is served at Apple's template URL shape
//! (rules/images.rs, crates/server/src/uploads.rs); each mismatch is Apple's processing error.
//! Screenshots and previews follow Apple's reservation flow with their checks.

mod common;
mod upload_kit;

use common::*;
use serde_json::{Value, json};
use upload_kit::*;

#[tokio::test]
async fn an_uploaded_ipa_becomes_a_processing_build_whose_icon_is_served_at_three_sizes_and_two_formats()
 {
    let w = empty().await;
    let app = new_app(&w).await;
    let bytes = ipa(BUNDLE_ID, "1.0", "7");
    let before = w.app.store().now_ms();
    let upload = upload_build(&w, &app, "1.0", "7", &bytes).await;
    assert_eq!(upload_state(&upload), ("COMPLETE".into(), json!([])));
    let after = w.app.store().now_ms();
    let builds = ok(&w.get(&format!("/v1/apps/{app}/builds")).await, 200);
    let build = &builds.as_array().unwrap()[0];
    let attrs = &build["attributes"];
    assert_eq!(attrs["version"], "7");
    assert_eq!(attrs["processingState"], "PROCESSING");
    assert_eq!(attrs["minOsVersion"], "17.0");
    // The virtual time of the commit, to the second (it may fall in the second before `after`).
    let uploaded = attrs["uploadedDate"].as_str().unwrap();
    assert!(
        (before / 1000..=after / 1000).any(|s| uploaded == crabapple_asc::rules::rfc3339(s * 1000)),
        "{uploaded} not between {before} and {after}"
    );
    let build_id = build["id"].as_str().unwrap();
    let pre = ok(
        &w.get(&format!("/v1/builds/{build_id}/preReleaseVersion"))
            .await,
        200,
    );
    assert_eq!(
        pre["attributes"],
        json!({"version": "1.0", "platform": "IOS"})
    );
    let token = &attrs["iconAssetToken"];
    let template = token["templateUrl"].as_str().unwrap();
    assert!(
        template.starts_with(&format!("{HOST}/crabapple/images/"))
            && template.ends_with(".png/{w}x{h}bb.{f}"),
        "{template}"
    );
    assert_eq!(
        (token["width"].clone(), token["height"].clone()),
        (json!(180), json!(180))
    );
    let icons = ok(&w.get(&format!("/v1/builds/{build_id}/icons")).await, 200);
    let icons = icons.as_array().unwrap();
    assert_eq!(icons.len(), 1);
    assert_eq!(icons[0]["attributes"]["iconType"], "APP_STORE");
    assert_eq!(icons[0]["attributes"]["name"], "AppIcon60x60");
    assert_eq!(icons[0]["attributes"]["iconAsset"], *token);
    for side in [29u32, 120, 180] {
        for (f, format) in [
            ("png", image::ImageFormat::Png),
            ("jpg", image::ImageFormat::Jpeg),
            ("webp", image::ImageFormat::WebP),
        ] {
            let url = template
                .replace("{w}", &side.to_string())
                .replace("{h}", &side.to_string())
                .replace("{f}", f);
            let r = w.get(url.strip_prefix(HOST).unwrap()).await;
            assert_eq!(r.status, 200, "{url}");
            assert_eq!(
                r.header("cache-control").as_deref(),
                Some("public, max-age=86400")
            );
            assert!(r.header("etag").is_some());
            let img = image::load_from_memory_with_format(&r.body, format).unwrap();
            assert_eq!((img.width(), img.height()), (side, side), "{url}");
            assert!(img.to_rgb8().get_pixel(side / 2, side / 2).0[0] > 150);
        }
    }
    // Processing on the virtual clock (rules/builds.rs): VALID after its processing time, with
    // Apple's 90-day expiration date.
    let r = w
        .call(
            "POST",
            "/crabapple/admin/clock/advance",
            None,
            Some(json!({"by": "11m"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let b = ok(&w.get(&format!("/v1/builds/{build_id}")).await, 200);
    assert_eq!(b["attributes"]["processingState"], "VALID");
    assert_eq!(b["attributes"]["expired"], false);
    assert!(b["attributes"]["expirationDate"].is_string());
}

#[tokio::test]
async fn itms_90054_when_the_bundle_identifier_is_not_the_apps() {
    let w = empty().await;
    let app = new_app(&w).await;
    let upload = upload_build(&w, &app, "1.0", "1", &ipa("com.example.other", "1.0", "1")).await;
    assert_eq!(
        upload_state(&upload),
        (
            "FAILED".into(),
            json!([{"code": "ITMS-90054", "description": "This bundle is invalid. The bundle identifier cannot be changed from the current value, 'com.example.pilot'. If you want to change your bundle identifier, you will need to create a new application in App Store Connect. (The bundle's CFBundleIdentifier is 'com.example.other'.)"}])
        )
    );
    assert_eq!(
        ok(&w.get(&format!("/v1/apps/{app}/builds")).await, 200),
        json!([])
    );
}

#[tokio::test]
async fn itms_90345_when_the_info_plist_versions_are_not_the_uploads() {
    let w = empty().await;
    let app = new_app(&w).await;
    let upload = upload_build(&w, &app, "1.0", "1", &ipa(BUNDLE_ID, "1.1", "2")).await;
    assert_eq!(
        upload_state(&upload),
        (
            "FAILED".into(),
            json!([
                {"code": "ITMS-90345", "description": "Metadata/Info.plist Mismatch. The value for cfBundleShortVersionString of the build upload ('1.0') does not match the value for CFBundleShortVersionString in the Info.plist ('1.1')."},
                {"code": "ITMS-90345", "description": "Metadata/Info.plist Mismatch. The value for cfBundleVersion of the build upload ('1') does not match the value for CFBundleVersion in the Info.plist ('2')."}
            ])
        )
    );
}

#[tokio::test]
async fn itms_90189_redundant_binary_upload_for_a_build_number_already_used_for_the_version() {
    let w = empty().await;
    let app = new_app(&w).await;
    let first = upload_build(&w, &app, "1.0", "3", &ipa(BUNDLE_ID, "1.0", "3")).await;
    assert_eq!(upload_state(&first).0, "COMPLETE");
    let again = upload_build(&w, &app, "1.0", "3", &ipa(BUNDLE_ID, "1.0", "3")).await;
    assert_eq!(
        upload_state(&again),
        (
            "FAILED".into(),
            json!([{"code": "ITMS-90189", "description": "Redundant Binary Upload. You've already uploaded a build with build number '3' for version number '1.0'. Make sure you increment the build string before you upload your app to App Store Connect."}])
        )
    );
    // Another version may reuse the number (TN2420).
    let other = upload_build(&w, &app, "1.1", "3", &ipa(BUNDLE_ID, "1.1", "3")).await;
    assert_eq!(upload_state(&other).0, "COMPLETE");
    assert_eq!(
        ok(&w.get(&format!("/v1/apps/{app}/builds")).await, 200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn itms_90167_for_a_file_that_is_not_a_zip_with_an_app() {
    let w = empty().await;
    let app = new_app(&w).await;
    let upload = upload_build(&w, &app, "1.0", "1", b"plain text, not a bundle").await;
    assert_eq!(
        upload_state(&upload),
        (
            "FAILED".into(),
            json!([{"code": "ITMS-90167", "description": "No .app bundles found in the package."}])
        )
    );
}

#[tokio::test]
async fn a_macos_pkg_becomes_a_build_of_the_identity_its_package_info_names() {
    let w = empty().await;
    let app = new_app(&w).await;
    let pkg = crabapple_asc::rules::pkg::build_pkg(BUNDLE_ID, "2.0", "20");
    let upload = ok(
        &send(&w, "POST", "/v1/buildUploads", json!({"data": {"type": "buildUploads",
            "attributes": {"cfBundleShortVersionString": "2.0", "cfBundleVersion": "20", "platform": "MAC_OS"},
            "relationships": {"app": {"data": {"type": "apps", "id": app}}}}}))
        .await,
        201,
    );
    let file = ok(
        &send(&w, "POST", "/v1/buildUploadFiles", json!({"data": {"type": "buildUploadFiles",
            "attributes": {"fileName": "Pilot.pkg", "fileSize": pkg.len(), "assetType": "ASSET", "uti": "com.apple.pkg"},
            "relationships": {"buildUpload": {"data": {"type": "buildUploads", "id": upload["id"]}}}}}))
        .await,
        201,
    );
    put_parts(&w, &file, &pkg).await;
    commit_build_file(&w, &file, &md5_hex(&pkg)).await;
    let u = ok(
        &w.get(&format!(
            "/v1/buildUploads/{}",
            upload["id"].as_str().unwrap()
        ))
        .await,
        200,
    );
    assert_eq!(upload_state(&u), ("COMPLETE".into(), json!([])));
    let builds = ok(&w.get(&format!("/v1/apps/{app}/builds")).await, 200);
    let b = &builds[0];
    assert_eq!(b["attributes"]["version"], "20");
    // The icon is the app's `.icns` out of the package's payload (pkg_icon.rs), served like an
    // iOS build's: 256 px, not the app's generated icon.
    let token = &b["attributes"]["iconAssetToken"];
    let template = token["templateUrl"].as_str().unwrap();
    assert_ne!(
        template,
        format!("{HOST}/crabapple/images/app-{app}.png/{{w}}x{{h}}bb.{{f}}")
    );
    assert_eq!(
        (token["width"].clone(), token["height"].clone()),
        (json!(256), json!(256))
    );
    let icons = ok(
        &w.get(&format!("/v1/builds/{}/icons", b["id"].as_str().unwrap()))
            .await,
        200,
    );
    assert_eq!(icons[0]["attributes"]["name"], "AppIcon");
    let url = template
        .replace("{w}", "256")
        .replace("{h}", "256")
        .replace("{f}", "png");
    let served = w.get(url.strip_prefix(HOST).unwrap()).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        image::load_from_memory(&served.body).unwrap().to_rgba8(),
        crabapple_asc::rules::images::generated_icon(BUNDLE_ID, 256)
    );
    let pre = ok(
        &w.get(&format!(
            "/v1/builds/{}/preReleaseVersion",
            b["id"].as_str().unwrap()
        ))
        .await,
        200,
    );
    assert_eq!(
        pre["attributes"],
        json!({"version": "2.0", "platform": "MAC_OS"})
    );
}

#[tokio::test]
async fn a_wrong_checksum_fails_the_file_and_its_upload_and_a_commit_is_not_repeated() {
    let w = empty().await;
    let app = new_app(&w).await;
    let bytes = ipa(BUNDLE_ID, "1.0", "1");
    let (upload, file) = reserve_build(&w, &app, "1.0", "1", bytes.len()).await;
    put_parts(&w, &file, &bytes).await;
    let committed = commit_build_file(&w, &file, "00000000000000000000000000000000").await;
    let expected = json!({"state": "FAILED", "warnings": [], "errors": [{"code": "FILE_CHECKSUM_MISMATCH",
        "description": format!("The checksum of the uploaded file ({}) does not match the sourceFileChecksum provided (00000000000000000000000000000000).", md5_hex(&bytes))}]});
    assert_eq!(committed["attributes"]["assetDeliveryState"], expected);
    assert_eq!(
        committed["attributes"]["uploadOperations"],
        json!([]),
        "no operations left; an array, as the spec declares"
    );
    let u = ok(&w.get(&format!("/v1/buildUploads/{upload}")).await, 200);
    assert_eq!(
        upload_state(&u),
        ("FAILED".into(), expected["errors"].clone())
    );
    // §8.3 [DEV]: a delivered asset is not committed twice.
    let id = file["id"].as_str().unwrap();
    let r = send(
        &w,
        "PATCH",
        &format!("/v1/buildUploadFiles/{id}"),
        json!({"data": {"type": "buildUploadFiles", "id": id, "attributes": {"uploaded": true}}}),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["errors"][0]["code"], "STATE_ERROR");
    assert_eq!(
        r.json()["errors"][0]["detail"],
        "Asset in Failed! can't be re-committed!"
    );
}

#[tokio::test]
async fn upload_parts_are_refused_in_the_storage_hosts_xml_for_each_mistake() {
    let w = empty().await;
    let app = new_app(&w).await;
    let bytes = ipa(BUNDLE_ID, "1.0", "1");
    let (_, file) = reserve_build(&w, &app, "1.0", "1", bytes.len()).await;
    let op = file["attributes"]["uploadOperations"][0].clone();
    let url = op["url"].as_str().unwrap().to_string();
    let xml = |r: &Resp| String::from_utf8_lossy(&r.body).to_string();
    // Wrong length: shorter and longer.
    let r = put_raw(&w, &url, bytes[..10].to_vec()).await;
    assert_eq!(r.status, 400);
    assert!(xml(&r).contains("<Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed object size.</Message>"), "{}", xml(&r));
    let mut long = bytes.clone();
    long.push(0);
    let r = put_raw(&w, &url, long).await;
    assert_eq!(
        (r.status, xml(&r).contains("<Code>EntityTooLarge</Code>")),
        (400, true)
    );
    // A part the reservation does not have.
    let part_9 = format!("{}/9", url.rsplit_once('/').unwrap().0);
    let r = put_raw(&w, &part_9, bytes.clone()).await;
    assert_eq!(
        (r.status, xml(&r).contains("<Code>InvalidPart</Code>")),
        (400, true)
    );
    // Content-Range not at the operation's offset.
    let req = axum::http::Request::builder()
        .method("PUT")
        .uri(url.strip_prefix(HOST).unwrap())
        .header(
            "content-range",
            format!("bytes 5-{}/{}", bytes.len() + 4, bytes.len()),
        )
        .body(axum::body::Body::from(bytes.clone()))
        .unwrap();
    let r = w.send(req).await;
    assert_eq!(
        (r.status, xml(&r).contains("<Code>InvalidRange</Code>")),
        (416, true)
    );
    // No such reservation.
    let r = put_raw(
        &w,
        &format!("{HOST}/crabapple/uploads/buildUploadFiles/nope/1"),
        bytes.clone(),
    )
    .await;
    assert_eq!(r.status, 404);
    assert!(xml(&r).contains("<Code>NoSuchUpload</Code><Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message>"));
    // Committed: no more parts.
    put_parts(&w, &file, &bytes).await;
    commit_build_file(&w, &file, &md5_hex(&bytes)).await;
    let r = put_raw(&w, &url, bytes.clone()).await;
    assert_eq!(
        (r.status, xml(&r).contains("<Code>NoSuchUpload</Code>")),
        (404, true)
    );
}

#[tokio::test]
async fn a_commit_before_every_part_arrived_fails_with_the_missing_parts() {
    let w = empty().await;
    let app = new_app(&w).await;
    let (upload, file) = reserve_build(&w, &app, "1.0", "1", 100).await;
    let committed = commit_build_file(&w, &file, "x").await;
    assert_eq!(
        committed["attributes"]["assetDeliveryState"]["errors"],
        json!([{"code": "ASSET_UPLOAD_INCOMPLETE", "description": "The asset was committed before all of its parts were uploaded (missing part 1 of 1)."}])
    );
    let u = ok(&w.get(&format!("/v1/buildUploads/{upload}")).await, 200);
    assert_eq!(upload_state(&u).0, "FAILED");
}

#[tokio::test]
async fn images_answer_404_for_unknown_tokens_400_for_bad_sizes_and_304_for_their_etag() {
    let w = demo().await;
    // A demo build's generated icon (forum post 1: the icon URL must lead to an image).
    let b = ok(&w.get("/v1/builds?limit=1").await, 200);
    let template = b[0]["attributes"]["iconAssetToken"]["templateUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        template.starts_with(&format!("{HOST}/crabapple/images/app-")),
        "{template}"
    );
    // Forum post 1: the build's icons are listed, on crabapple's host.
    let icons = ok(
        &w.get(&format!(
            "/v1/builds/{}/icons",
            b[0]["id"].as_str().unwrap()
        ))
        .await,
        200,
    );
    assert!(!icons.as_array().unwrap().is_empty());
    for i in icons.as_array().unwrap() {
        let t = i["attributes"]["iconAsset"]["templateUrl"]
            .as_str()
            .unwrap();
        assert!(
            t.starts_with(&format!("{HOST}/crabapple/images/app-")),
            "{t}"
        );
    }
    let url = template.replace("{w}x{h}bb.{f}", "64x64bb.png");
    let path = url.strip_prefix(HOST).unwrap();
    let r = w.get(path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));
    let img = image::load_from_memory(&r.body).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
    let etag = r.header("etag").unwrap();
    let req = axum::http::Request::builder()
        .uri(path)
        .header("if-none-match", &etag)
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(w.send(req).await.status, 304);
    assert_eq!(
        w.get("/crabapple/images/builds-unknown.png/64x64bb.png")
            .await
            .status,
        404
    );
    assert_eq!(
        w.get("/crabapple/images/app-0.png/64x64bb.png")
            .await
            .status,
        404
    );
    for bad in ["64x64bb.gif", "0x64bb.png", "64x64.png", "99999x1bb.jpg"] {
        let r = w
            .get(&template.replace("{w}x{h}bb.{f}", bad).replace(HOST, ""))
            .await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

#[tokio::test]
async fn a_screenshot_of_a_size_apple_accepts_completes_and_is_served_at_its_template_url() {
    let w = empty().await;
    let set = screenshot_set(&w, "APP_IPHONE_67").await;
    let bytes = png(1290, 2796);
    let shot = upload_screenshot(&w, &set, &bytes, &md5_hex(&bytes)).await;
    let a = &shot["attributes"];
    assert_eq!(a["assetType"], "SortedAPP_IPHONE_67ScreenShot");
    assert_eq!(
        a["assetDeliveryState"],
        json!({"state": "COMPLETE", "errors": [], "warnings": []})
    );
    assert_eq!(a["sourceFileChecksum"], json!(md5_hex(&bytes)));
    assert_eq!(
        (
            a["imageAsset"]["width"].clone(),
            a["imageAsset"]["height"].clone()
        ),
        (json!(1290), json!(2796))
    );
    let url = a["imageAsset"]["templateUrl"]
        .as_str()
        .unwrap()
        .replace("{w}x{h}bb.{f}", "300x300bb.jpg");
    let r = w.get(url.strip_prefix(HOST).unwrap()).await;
    assert_eq!(r.status, 200);
    let img = image::load_from_memory_with_format(&r.body, image::ImageFormat::Jpeg).unwrap();
    // Fitted into the box, aspect kept (Apple's `bb`).
    assert_eq!((img.width(), img.height()), (138, 300));
    // Deleted (fastlane deletes and uploads again): its image goes with it.
    let id = shot["id"].as_str().unwrap();
    let r = w
        .call(
            "DELETE",
            &format!("/v1/appScreenshots/{id}"),
            Some(&w.token.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(w.get(url.strip_prefix(HOST).unwrap()).await.status, 404);
    assert!(!w.dir.join("uploads/appScreenshots").join(id).exists());
}

#[tokio::test]
async fn image_incorrect_dimensions_for_a_size_the_display_type_does_not_take() {
    let w = empty().await;
    let set = screenshot_set(&w, "APP_IPHONE_67").await;
    let bytes = png(1284, 2778);
    let shot = upload_screenshot(&w, &set, &bytes, &md5_hex(&bytes)).await;
    assert_eq!(
        shot["attributes"]["assetDeliveryState"],
        json!({"state": "FAILED", "warnings": [], "errors": [{"code": "IMAGE_INCORRECT_DIMENSIONS",
            "description": "The dimensions of the image (1284x2778) are not supported for APP_IPHONE_67. Please adjust to acceptable dimensions and re-save it."}]})
    );
    assert_eq!(shot["attributes"]["imageAsset"], Value::Null);
}

#[tokio::test]
async fn image_tool_failure_for_a_file_that_is_not_an_image_and_checksum_mismatch() {
    let w = empty().await;
    let set = screenshot_set(&w, "APP_IPHONE_67").await;
    let text = b"not an image".to_vec();
    let shot = upload_screenshot(&w, &set, &text, &md5_hex(&text)).await;
    assert_eq!(
        shot["attributes"]["assetDeliveryState"]["errors"],
        json!([{"code": "IMAGE_TOOL_FAILURE", "description": "The file could not be read as an image. Upload a .jpeg, .jpg, or .png file."}])
    );
    let bytes = png(1290, 2796);
    let shot = upload_screenshot(&w, &set, &bytes, "0123456789abcdef0123456789abcdef").await;
    assert_eq!(shot["attributes"]["assetDeliveryState"]["state"], "FAILED");
    assert_eq!(
        shot["attributes"]["assetDeliveryState"]["errors"][0]["code"],
        "FILE_CHECKSUM_MISMATCH"
    );
}

#[tokio::test]
async fn a_screenshot_sets_relationship_orders_its_screenshots() {
    let w = empty().await;
    let set = screenshot_set(&w, "APP_IPHONE_65").await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let s = ok(
            &reserve_screenshot(&w, &set, &format!("{n}.png"), 10).await,
            201,
        );
        // fastlane issue 16643: a 6.5" screenshot's assetType.
        assert_eq!(s["attributes"]["assetType"], "SortedD33ScreenShot");
        ids.push(s["id"].as_str().unwrap().to_string());
    }
    // The 11th is refused: `the_upload_rules_are_apples_409s`.
    ids.reverse();
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "appScreenshots", "id": id}))
        .collect();
    let r = send(
        &w,
        "PATCH",
        &format!("/v1/appScreenshotSets/{set}/relationships/appScreenshots"),
        json!({"data": data}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let listed = ok(
        &w.get(&format!("/v1/appScreenshotSets/{set}/appScreenshots"))
            .await,
        200,
    );
    let order: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, ids);
}

#[tokio::test]
async fn a_preview_is_checked_by_size_and_checksum_without_decoding_the_video() {
    let w = empty().await;
    let loc = localization(&w).await;
    let set = preview_set(&w, loc).await;
    let video = vec![7u8; 4096];
    let p = ok(
        &send(
            &w,
            "POST",
            "/v1/appPreviews",
            json!({"data": {"type": "appPreviews",
            "attributes": {"fileName": "trailer.mov", "fileSize": video.len()},
            "relationships": {"appPreviewSet": {"data": {"type": "appPreviewSets", "id": set}}}}}),
        )
        .await,
        201,
    );
    assert_eq!(p["attributes"]["mimeType"], "video/quicktime");
    put_parts(&w, &p, &video).await;
    let id = p["id"].as_str().unwrap();
    let done = ok(
        &send(
            &w,
            "PATCH",
            &format!("/v1/appPreviews/{id}"),
            json!({"data": {"type": "appPreviews", "id": id,
            "attributes": {"uploaded": true, "sourceFileChecksum": md5_hex(&video)}}}),
        )
        .await,
        200,
    );
    let complete = json!({"state": "COMPLETE", "errors": [], "warnings": []});
    assert_eq!(done["attributes"]["videoDeliveryState"], complete);
    assert_eq!(done["attributes"]["assetDeliveryState"], complete);
}

/// One refusal of Apple's error document, exactly.
fn refused(r: &Resp, status: u16, code: &str, title: &str, detail: &str, pointer: Option<&str>) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let e = &r.json()["errors"][0];
    assert_eq!(
        (&e["status"], &e["code"], &e["title"], &e["detail"]),
        (
            &json!(status.to_string()),
            &json!(code),
            &json!(title),
            &json!(detail)
        )
    );
    assert_eq!(e["source"]["pointer"].as_str(), pointer);
}

/// A committed asset committed again: apple-semantics.md §8.3 [DEV] "Asset in Completed! can't
/// be re-committed!".
async fn recommitted(w: &World, rtype: &str, id: &str) {
    let again = json!({"data": {"type": rtype, "id": id, "attributes": {"uploaded": true}}});
    let r = send(w, "PATCH", &format!("/v1/{rtype}/{id}"), again).await;
    let detail = "Asset in Completed! can't be re-committed!";
    refused(&r, 409, "STATE_ERROR", STATE, detail, None);
}

const STATE: &str = "The request cannot be fulfilled because of the state of another resource.";

/// Apple's refusals of the upload flows as one table (`tests/coverage/rules-uploads.tsv`, the
/// "rules" column of `crabapple spec coverage`): each a request that breaks the rule and the
/// exact answer.
#[tokio::test]
async fn the_upload_rules_are_apples_409s() {
    const RELATIONSHIP: &str = "The provided entity includes a relationship with an invalid value";
    let w = empty().await;
    let mut facts = Vec::new();

    // apple-semantics.md §8.3 [DEV]: "Asset in Completed! can't be re-committed!".
    let set = screenshot_set(&w, "APP_IPHONE_47").await;
    let bytes = png(750, 1334);
    let shot = upload_screenshot(&w, &set, &bytes, &md5_hex(&bytes)).await;
    assert_eq!(
        shot["attributes"]["assetDeliveryState"]["state"],
        "COMPLETE"
    );
    recommitted(&w, "appScreenshots", shot["id"].as_str().unwrap()).await;
    facts.push("appScreenshots_updateInstance\tapple-semantics.md §8.3 — a completed screenshot committed again → 409 STATE_ERROR".to_string());

    let bytes = ipa(BUNDLE_ID, "1.0", "1");
    let app = new_app(&w).await;
    let (_, file) = reserve_build(&w, &app, "1.0", "1", bytes.len()).await;
    put_parts(&w, &file, &bytes).await;
    commit_build_file(&w, &file, &md5_hex(&bytes)).await;
    recommitted(&w, "buildUploadFiles", file["id"].as_str().unwrap()).await;
    facts.push("buildUploadFiles_updateInstance\tapple-semantics.md §8.3 — a delivered build file committed again → 409 STATE_ERROR".to_string());

    // Apple's "Screenshot specifications": up to 10 screenshots per set (wording guessed).
    for n in 1..10 {
        ok(
            &reserve_screenshot(&w, &set, &format!("{n}.png"), 10).await,
            201,
        );
    }
    let r = reserve_screenshot(&w, &set, "10.png", 10).await;
    let detail = format!("The appScreenshotSet '{set}' already has the maximum of 10 screenshots.");
    refused(
        &r,
        409,
        "ENTITY_ERROR.RELATIONSHIP.INVALID",
        RELATIONSHIP,
        &detail,
        Some("/data/relationships/appScreenshotSet"),
    );
    facts.push("appScreenshots_createInstance\tApple's screenshot specifications — an 11th screenshot in a set → 409 ENTITY_ERROR.RELATIONSHIP.INVALID".to_string());

    // Apple's "App preview specifications": up to 3 previews per set (wording guessed).
    let loc = localization(&w).await;
    let pset = preview_set(&w, loc).await;
    let pset = pset.as_str();
    let preview = |n: usize| {
        json!({"data": {"type": "appPreviews", "attributes": {"fileName": format!("{n}.mov"), "fileSize": 10},
        "relationships": {"appPreviewSet": {"data": {"type": "appPreviewSets", "id": pset}}}}})
    };
    for n in 0..3 {
        ok(&send(&w, "POST", "/v1/appPreviews", preview(n)).await, 201);
    }
    let r = send(&w, "POST", "/v1/appPreviews", preview(3)).await;
    let detail = format!("The appPreviewSet '{pset}' already has the maximum of 3 previews.");
    refused(
        &r,
        409,
        "ENTITY_ERROR.RELATIONSHIP.INVALID",
        RELATIONSHIP,
        &detail,
        Some("/data/relationships/appPreviewSet"),
    );
    facts.push("appPreviews_createInstance\tApple's app preview specifications — a 4th preview in a set → 409 ENTITY_ERROR.RELATIONSHIP.INVALID".to_string());

    check_facts(
        "rules-uploads",
        &rules_header("crates/server/tests/uploads.rs"),
        facts,
    );
}
