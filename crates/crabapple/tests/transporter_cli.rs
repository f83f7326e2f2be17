//! `crabapple transporter validate` as the README shows it (forum post 11): the README's
//! `metadata.xml` of post 11, written into a package, makes the binary print the README's
//! summary (Apple's ITMS-3000 lines) and exit with status 1, as Transporter does.

use std::process::Command;

/// The fenced block that follows `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme = include_str!("../../../README.md");
    let at = readme.find(marker).expect("README has the block") + marker.len();
    let start = at + readme[at..].find("```").unwrap();
    let start = start + readme[start..].find('\n').unwrap() + 1;
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_string()
}

#[test]
fn transporter_validate_prints_post_11_answer_as_the_readme_shows_and_exits_1() {
    let base = std::env::temp_dir().join(format!("crabapple-itmsp-{}", std::process::id()));
    let pkg = base.join("ALGORA_Performance.itmsp");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&pkg).unwrap();
    let metadata = readme_block("laid out as\nApple's answer locates it):");
    assert!(metadata.starts_with("<?xml"), "{metadata}");
    std::fs::write(pkg.join("metadata.xml"), metadata).unwrap();
    std::fs::write(pkg.join("ALGORA_Performance.pkg"), b"xar!").unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_crabapple"))
        .current_dir(&base)
        .args(["transporter", "validate", "ALGORA_Performance.itmsp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        readme_block("What `transporter validate` prints:")
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn transporter_validate_refuses_a_path_that_is_not_a_package_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_crabapple"))
        .args(["transporter", "validate", "no-such.itmsp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "crabapple: no-such.itmsp is not a package directory (NAME.itmsp)\n"
    );
}

mod common;

use md5::{Digest, Md5};

/// Crabapple Notes in the demo world (bundle id com.crabapple.notes).
const NOTES: &str = "1476097583";

/// A package `dir` under `base` holding `file` (`bytes`) as the `data_file` of an `asset` of
/// `asset_type`, `software_assets` with `attributes`; its size and md5 unless `no_checksum`.
fn package(
    base: &std::path::Path,
    dir: &str,
    (file, bytes): (&str, &[u8]),
    (asset_type, attributes): (&str, &str),
    no_checksum: bool,
) -> std::path::PathBuf {
    let pkg = base.join(dir);
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join(file), bytes).unwrap();
    let md5: String = Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sums = if no_checksum {
        String::new()
    } else {
        format!(
            "<size>{}</size>\n                <checksum type=\"md5\">{md5}</checksum>\n",
            bytes.len()
        )
    };
    std::fs::write(
        pkg.join("metadata.xml"),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<package version="software5.10" xmlns="http://apple.com/itunes/importer">
    <software_assets {attributes}>
        <asset type="{asset_type}">
            <data_file>
                <file_name>{file}</file_name>
                {sums}</data_file>
        </asset>
    </software_assets>
</package>
"#
        ),
    )
    .unwrap();
    pkg
}

/// `Notes-NUMBER.itmsp` holding `Notes.ipa` (2.5.0, build `number`) as the `bundle` asset.
fn notes_package(base: &std::path::Path, number: &str, no_checksum: bool) -> std::path::PathBuf {
    let ipa = crabapple_asc::rules::bundle::build_ipa(
        "Notes",
        &[
            ("CFBundleIdentifier", "com.crabapple.notes"),
            ("CFBundleShortVersionString", "2.5.0"),
            ("CFBundleVersion", number),
            ("MinimumOSVersion", "17.0"),
        ],
        &[],
    );
    let dir = format!("Notes-{number}.itmsp");
    let asset = ("bundle", r#"app_platform="ios""#);
    package(base, &dir, ("Notes.ipa", &ipa), asset, no_checksum)
}

/// A data directory `serve` created (the demo world) under `base`.
fn demo_data(base: &std::path::Path) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(base);
    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut child = common::serve(&data);
    common::wait_ready(&mut child);
    let _ = child.kill();
    let _ = child.wait();
    data
}

fn out(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Issue 11: "a corrected package passes and can create a build like an upload". The package's
/// `.ipa` goes through the API's build upload (buildUploads → buildUploadFiles → parts →
/// `uploaded: true`): the build is PROCESSING, VALID 10 minutes later on the virtual clock; a
/// package that fails validation creates nothing; a build number used again is Apple's
/// ITMS-90189 on the upload.
#[test]
fn transporter_upload_delivers_a_valid_packages_ipa_as_an_api_build_upload_processed_on_the_clock()
{
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "crabapple-transporter-upload-{}",
        std::process::id()
    ));
    let data = demo_data(&base);

    // Metadata that fails validation: Transporter's summary, exit 1, no upload.
    let bad = notes_package(&base, "140", true);
    let shown = bad.display().to_string();
    let o = common::run(&["transporter", "upload", &shown], &data);
    let (stdout, _) = out(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout.contains("1 package(s) were not verified because they had problems:")
            && stdout.contains("element \"data_file\" incomplete; missing required elements \"checksum\" and \"size\""),
        "{stdout}"
    );
    assert!(!stdout.contains("delivered"), "{stdout}");

    // Corrected: verified, delivered, the build PROCESSING.
    let _ = std::fs::remove_dir_all(&bad);
    let good = notes_package(&base, "140", false);
    let shown = good.display().to_string();
    let o = common::run(&["transporter", "upload", &shown], &data);
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let size = std::fs::metadata(good.join("Notes.ipa")).unwrap().len();
    assert_eq!(
        lines[..4],
        [
            "Package Summary:",
            " ",
            "1 package(s) were verified successfully:",
            &format!("\t{shown}"),
        ]
    );
    let delivered = lines[4]
        .strip_prefix(&format!(
            "Notes.ipa ({size} bytes) delivered as an API build upload: buildUploads "
        ))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(delivered.ends_with(" COMPLETE"), "{stdout}");
    let (build, rest) = lines[5]
        .strip_prefix("builds ")
        .and_then(|l| l.split_once(": "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(
        rest,
        format!("IOS 2.5.0 (140) of app {NOTES}, processingState PROCESSING")
    );
    assert_eq!(lines.len(), 6, "{stdout}");

    // The same build number again: Apple's processing error on the upload, exit 1.
    let again = common::run(&["transporter", "upload", &shown], &data);
    let (stdout, _) = out(&again);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stdout.contains(" FAILED\n\tERROR ITMS-90189: \"Redundant Binary Upload. You've already uploaded a build with build number '140' for version number '2.5.0'. Make sure you increment the build string before you upload your app to App Store Connect.\"\n"),
        "{stdout}"
    );

    // The API lists the one build, PROCESSING, then VALID after the processing time.
    let token = common::run(&["token"], &data);
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let mut child = common::serve(&data);
    let port = common::wait_ready(&mut child);
    let list = |port| {
        common::http(
            port,
            "GET",
            &format!("/v1/builds?filter[app]={NOTES}&filter[version]=140"),
            Some(&token),
            None,
        )
        .json()
    };
    let got = list(port);
    assert_eq!(got["data"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["data"][0]["id"], build);
    assert_eq!(
        got["data"][0]["attributes"]["processingState"],
        "PROCESSING"
    );
    let advanced = common::http(
        port,
        "POST",
        "/crabapple/admin/clock/advance",
        Some(admin.trim()),
        Some(&serde_json::json!({ "by": "10m" })),
    );
    assert_eq!(advanced.status, 200, "{}", advanced.body);
    let got = list(port);
    assert_eq!(got["data"][0]["attributes"]["processingState"], "VALID");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&base);
}

/// Forum post 11's kind of package, corrected: a macOS `product-archive` (`.pkg`) for the app
/// `apple_id` names, `app_platform="osx"`. The metadata's `bundle_version` must match the
/// binary's: otherwise Apple's ITMS-90345 on the upload, exit 1, no build; matching, a MAC_OS
/// build.
#[test]
fn transporter_upload_of_a_macos_product_archive_checks_the_metadata_against_the_binary_itms_90345()
{
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crabapple-transporter-pkg-{}", std::process::id()));
    let data = demo_data(&base);
    // Cider Press (MAC_OS) in the demo world.
    let pkg = crabapple_asc::rules::pkg::build_pkg("com.crabapple.ciderpress", "1.4.0", "1400");
    let attrs = |number: &str| {
        format!(
            r#"apple_id="1503318842" app_platform="osx" bundle_short_version_string="1.4.0" bundle_version="{number}""#
        )
    };
    let upload = |dir: &str, number: &str| {
        let attributes = attrs(number);
        let asset = ("product-archive", attributes.as_str());
        let dir = package(&base, dir, ("Cider.pkg", &pkg), asset, false);
        common::run(
            &["transporter", "upload", &dir.display().to_string()],
            &data,
        )
    };
    let o = upload("Cider-1401.itmsp", "1401");
    let (stdout, _) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(" FAILED\n\tERROR ITMS-90345: \"Metadata/Info.plist Mismatch. The value for cfBundleVersion of the build upload ('1401') does not match the value for CFBundleVersion in the Info.plist ('1400').\"\n"),
        "{stdout}"
    );
    let o = upload("Cider-1400.itmsp", "1400");
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("builds ")
            && last
                .ends_with(": MAC_OS 1.4.0 (1400) of app 1503318842, processingState PROCESSING"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&base);
}
