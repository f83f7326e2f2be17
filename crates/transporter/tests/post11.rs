//! Forum post 11 ("metadata file in .itmsp file (Transporter)"): the package its author wrote by
//! hand, laid out as Apple's answer locates it (4-space indents: `</data_file>` ends at line 9
//! column 24, `<software_metadata>` at line 12 column 23, …), gets Apple's ITMS-3000 lines word
//! for word; the package corrected as Apple's schema wants passes; its assets are checked.

use crabapple_transporter::{assets, verify};
use std::path::PathBuf;

/// The metadata.xml Apple answered in post 11.
const POST_11: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<package version="software5.10" xmlns="http://apple.com/itunes/importer">
    <provider>GL5BCCW69X</provider>
    <team_id>GL5BCCW69X</team_id>
    <software_assets>
        <asset type="bundle">
            <data_file>
                <file_name>ALGORA_Performance.pkg</file_name>
            </data_file>
        </asset>
    </software_assets>
    <software_metadata>
        <software>
            <vendor_id>93274081</vendor_id>
            <read_only_info>
                <bundle_id>com.algora.ALGORA-Performance</bundle_id>
                <app_version>0.0.0</app_version>
                <product_family>macOS</product_family>
            </read_only_info>
        </software>
    </software_metadata>
</package>
"#;

/// Apple's answer to it, as post 11 quotes it.
const APPLE_ANSWER: &[&str] = &[
    r#"ERROR ITMS-3000: "Line 9 column 25: element "data_file" incomplete; missing required elements "checksum" and "size" at XPath /package/software_assets/asset/data_file""#,
    r#"ERROR ITMS-3000: "Line 12 column 24: element "software_metadata" not allowed here; expected the element end-tag or element "metadata_token" at XPath /package/software_metadata""#,
    r#"ERROR ITMS-3000: "Line 13 column 19: element "software" not allowed here; expected the element end-tag or element "game_center", "in_app_purchases", "products", "read_only_info" or "versions" at XPath /package/software_metadata/software""#,
    r#"ERROR ITMS-3000: "Line 16 column 28: element "bundle_id" not allowed anywhere; expected element "read_only_value" at XPath /package/software_metadata/software/read_only_info/bundle_id""#,
    r#"ERROR ITMS-3000: "Line 17 column 30: element "app_version" not allowed anywhere; expected element "read_only_value" at XPath /package/software_metadata/software/read_only_info/app_version""#,
    r#"ERROR ITMS-3000: "Line 18 column 33: element "product_family" not allowed anywhere; expected element "read_only_value" at XPath /package/software_metadata/software/read_only_info/product_family""#,
    r#"ERROR ITMS-3000: "Line 19 column 30: element "read_only_info" incomplete; missing required element "read_only_value"""#,
    r#"ERROR ITMS-3000: "Line 20 column 20: element "software" incomplete; expected element "software_assets" or "software_metadata"""#,
    r#"ERROR ITMS-3000: "Package "null" failed schema validation.""#,
];

/// The same package as Apple's schema wants it: the binary's `software_assets` directly under
/// `package` with an md5 checksum and the size of the file that is really in the package.
fn corrected(pkg: &[u8]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<package version="software5.10" xmlns="http://apple.com/itunes/importer">
    <provider>GL5BCCW69X</provider>
    <team_id>GL5BCCW69X</team_id>
    <software_assets apple_id="1234567890" app_platform="osx">
        <asset type="product-archive">
            <data_file>
                <file_name>ALGORA_Performance.pkg</file_name>
                <checksum type="md5">{}</checksum>
                <size>{}</size>
            </data_file>
        </asset>
    </software_assets>
</package>
"#,
        assets::hex(&<md5::Md5 as md5::Digest>::digest(pkg)),
        pkg.len()
    )
}

/// A fresh `ALGORA_Performance.itmsp` directory with this metadata and a small `.pkg`.
fn package(test: &str, metadata: &str, pkg: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!(
            "crabapple-transporter-{}-{test}",
            std::process::id()
        ))
        .join("ALGORA_Performance.itmsp");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metadata.xml"), metadata).unwrap();
    std::fs::write(dir.join("ALGORA_Performance.pkg"), pkg).unwrap();
    dir
}

const PKG: &[u8] = b"xar!\0\x1c\0\x01 a small stand-in for a product archive";

#[test]
fn post_11_package_gets_apples_itms_3000_lines_word_for_word() {
    let dir = package("post11", POST_11, PKG);
    let report = verify(&dir, "ALGORA_Performance.itmsp");
    assert_eq!(report.errors, APPLE_ANSWER);
    assert!(!report.is_valid());
}

#[test]
fn post_11_summary_lists_the_errors_under_the_package() {
    let dir = package("summary", POST_11, PKG);
    let summary = verify(&dir, "ALGORA_Performance.itmsp").summary();
    let head = "Package Summary:\n \n1 package(s) were not verified because they had problems:\n\tALGORA_Performance.itmsp - Error Messages:\n\t\tERROR ITMS-3000: \"Line 9 column 25: ";
    assert!(summary.starts_with(head), "{summary}");
    assert!(
        summary.ends_with("\t\tERROR ITMS-3000: \"Package \"null\" failed schema validation.\"\n")
    );
}

#[test]
fn post_11_corrected_package_is_verified_successfully() {
    let dir = package("corrected", &corrected(PKG), PKG);
    let report = verify(&dir, "ALGORA_Performance.itmsp");
    assert_eq!(report.errors, Vec::<String>::new());
    assert_eq!(
        report.summary(),
        "Package Summary:\n \n1 package(s) were verified successfully:\n\tALGORA_Performance.itmsp\n"
    );
}

#[test]
fn post_11_sha1_checksum_type_is_refused_apple_takes_md5() {
    let xml = corrected(PKG).replace(r#"type="md5""#, r#"type="sha1""#);
    let report = verify(&package("sha1", &xml, PKG), "p.itmsp");
    assert_eq!(
        report.errors,
        [
            r#"ERROR ITMS-3000: "Line 9 column 39: value of attribute "type" is invalid; must be equal to "md5" at XPath /package/software_assets/asset/data_file/checksum""#,
            r#"ERROR ITMS-3000: "Package "null" failed schema validation.""#,
        ]
    );
}

#[test]
fn asset_size_mismatch_is_itms_4000_with_both_sizes() {
    let xml = corrected(PKG);
    let report = verify(&package("size", &xml, b"other bytes"), "p.itmsp");
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(
        report.errors[0],
        format!(
            r#"ERROR ITMS-4000: "The size of the file "ALGORA_Performance.pkg" (11 bytes) does not match the size in the metadata ({} bytes) at XPath /package/software_assets/asset/data_file.""#,
            PKG.len()
        )
    );
    assert!(report.errors[1].starts_with(
        r#"ERROR ITMS-4000: "The md5 checksum of the file "ALGORA_Performance.pkg" ("#
    ));
}

#[test]
fn asset_checksum_mismatch_is_itms_4000_with_both_checksums() {
    let other = b"xar!\0\x1c\0\x01 a small stand-in for a product archivf";
    assert_eq!(other.len(), PKG.len());
    let report = verify(&package("md5", &corrected(PKG), other), "p.itmsp");
    let actual = assets::hex(&<md5::Md5 as md5::Digest>::digest(other));
    let given = assets::hex(&<md5::Md5 as md5::Digest>::digest(PKG));
    assert_eq!(
        report.errors,
        [format!(
            r#"ERROR ITMS-4000: "The md5 checksum of the file "ALGORA_Performance.pkg" ({actual}) does not match the checksum in the metadata ({given}) at XPath /package/software_assets/asset/data_file.""#
        )]
    );
}

#[test]
fn asset_named_but_absent_is_itms_4000() {
    let xml = corrected(PKG).replace(
        "<file_name>ALGORA_Performance.pkg",
        "<file_name>Missing.pkg",
    );
    let report = verify(&package("absent", &xml, PKG), "p.itmsp");
    assert_eq!(
        report.errors,
        [
            r#"ERROR ITMS-4000: "The file "Missing.pkg" named at XPath /package/software_assets/asset/data_file is not in the package.""#
        ]
    );
}

#[test]
fn package_without_metadata_xml_is_refused() {
    let dir = package("nometa", "", PKG);
    std::fs::remove_file(dir.join("metadata.xml")).unwrap();
    let report = verify(&dir, "p.itmsp");
    assert_eq!(
        report.errors,
        [r#"ERROR ITMS-3000: "The package p.itmsp does not contain a metadata.xml file.""#]
    );
}

/// The version the author edited by hand afterwards, as post 11 quotes it (laid out like the
/// first): Apple's answer to it is not in the post; these are the schema's answers.
const POST_11_EDITED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<package version="software5.10" xmlns="http://apple.com/itunes/importer">
    <provider>GL5BCCW69X</provider>
    <team_id>GL5BCCW69X</team_id>
    <software_assets>
        <asset type="bundle">
            <data_file>
                <file_name>ALGORA_Performance.pkg</file_name>
                <checksum type="sha1">7acb9fcb19eb203bdc6038f88d06a67386900b28</checksum>
                <size>75619323</size>
            </data_file>
        </asset>
        <software_metadata>
            <software>
                <vendor_id>93274081</vendor_id>
                <read_only_info>
                    <read_only_value key="bundle_id">com.algora.ALGORA-Performance</read_only_value>
                    <read_only_value key="app_version">0.0.0</read_only_value>
                    <read_only_value key="product_family">macOS</read_only_value>
                </read_only_info>
            </software>
        </software_metadata>
    </software_assets>
</package>
"#;

#[test]
fn post_11_edited_version_still_fails_on_sha1_and_the_metadata_inside_software_assets() {
    let report = verify(&package("edited", POST_11_EDITED, PKG), "p.itmsp");
    assert_eq!(
        report.errors,
        [
            r#"ERROR ITMS-3000: "Line 9 column 39: value of attribute "type" is invalid; must be equal to "md5" at XPath /package/software_assets/asset/data_file/checksum""#,
            r#"ERROR ITMS-3000: "Line 13 column 28: element "software_metadata" not allowed here; expected the element end-tag or element "asset" at XPath /package/software_assets/software_metadata""#,
            r#"ERROR ITMS-3000: "Line 14 column 23: element "software" not allowed here; expected the element end-tag or element "game_center", "in_app_purchases", "products", "read_only_info" or "versions" at XPath /package/software_assets/software_metadata/software""#,
            r#"ERROR ITMS-3000: "Line 21 column 24: element "software" incomplete; expected element "software_assets" or "software_metadata"""#,
            r#"ERROR ITMS-3000: "Package "null" failed schema validation.""#,
        ]
    );
}
