//! The software5.x schema's rules beyond post 11, each with the validator's exact text: element
//! order (sequence: "not allowed here" / "not allowed yet"), required attributes and their
//! values, text types, the importer namespace, well-formedness; and an app's store metadata
//! (versions, locales, screenshots) with its screenshot files checked like the binary.

use crabapple_transporter::validate::check;
use crabapple_transporter::{assets, verify};

/// `metadata.xml` of an app's store metadata with `locale` as given.
fn app_metadata(locale: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<package version="software5.10" xmlns="http://apple.com/itunes/importer">
    <team_id>C7R4B9A2QP</team_id>
    <software>
        <vendor_id>crabapple-demo</vendor_id>
        <software_metadata app_platform="ios">
            <versions>
                <version string="1.0">
                    <locales>
{locale}
                    </locales>
                </version>
            </versions>
        </software_metadata>
    </software>
</package>
"#
    )
}

fn texts(xml: &str) -> Vec<String> {
    check(xml).problems.iter().map(|p| p.text()).collect()
}

#[test]
fn app_store_metadata_with_a_screenshot_passes_and_names_the_package_by_vendor_id() {
    let png = b"\x89PNG\r\n\x1a\n stand-in screenshot";
    let md5 = assets::hex(&<md5::Md5 as md5::Digest>::digest(png));
    let locale = format!(
        r#"                        <locale name="en-US">
                            <title>Crabapple</title>
                            <description>Apple's APIs, on your machine.</description>
                            <keywords><keyword>api</keyword><keyword>emulator</keyword></keywords>
                            <software_screenshots>
                                <software_screenshot display_target="iOS-6.5-in" position="1">
                                    <size>{}</size>
                                    <file_name>shot1.png</file_name>
                                    <checksum type="md5">{md5}</checksum>
                                </software_screenshot>
                            </software_screenshots>
                        </locale>"#,
        png.len()
    );
    let dir = std::env::temp_dir()
        .join(format!("crabapple-transporter-{}-app", std::process::id()))
        .join("crabapple-demo.itmsp");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metadata.xml"), app_metadata(&locale)).unwrap();
    std::fs::write(dir.join("shot1.png"), png).unwrap();
    assert_eq!(verify(&dir, "x.itmsp").errors, Vec::<String>::new());
    let checked = check(&app_metadata(&locale));
    assert_eq!(checked.vendor_id.as_deref(), Some("crabapple-demo"));
    assert_eq!(checked.files.len(), 1);

    std::fs::write(dir.join("shot1.png"), b"changed").unwrap();
    let errors = verify(&dir, "x.itmsp").errors;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].ends_with(&format!(
        "does not match the size in the metadata ({} bytes) at XPath /package/software/software_metadata/versions/version/locales/locale/software_screenshots/software_screenshot.\"",
        png.len()
    )));

    // A schema error names the package by its vendor id.
    std::fs::write(
        dir.join("metadata.xml"),
        app_metadata(r#"<locale name="en-US"><bogus/></locale>"#),
    )
    .unwrap();
    let errors = verify(&dir, "x.itmsp").errors;
    assert_eq!(
        errors.last().unwrap(),
        r#"ERROR ITMS-3000: "Package "crabapple-demo" failed schema validation.""#
    );
}

#[test]
fn locale_children_in_the_wrong_order_are_not_allowed_here() {
    let xml = app_metadata(
        "<locale name=\"en-US\"><description>d</description><title>t</title></locale>",
    );
    assert_eq!(
        texts(&xml),
        [
            r#"Line 10 column 57: element "title" not allowed here; expected the element end-tag or element "keywords", "privacy_url", "promotional_text", "software_screenshots", "software_url", "support_url" or "version_whats_new" at XPath /package/software/software_metadata/versions/version/locales/locale/title"#
        ]
    );
}

#[test]
fn in_app_purchase_child_before_a_required_one_is_not_allowed_yet() {
    let xml = r#"<package version="software5.4" xmlns="http://apple.com/itunes/importer"><software><vendor_id>v</vendor_id><software_metadata><in_app_purchases><in_app_purchase><reference_name>Gems</reference_name><type>consumable</type></in_app_purchase></in_app_purchases></software_metadata></software></package>"#;
    assert_eq!(
        texts(xml),
        [
            r#"Line 1 column 177: element "reference_name" not allowed yet; missing required element "product_id" at XPath /package/software/software_metadata/in_app_purchases/in_app_purchase/reference_name"#
        ]
    );
}

#[test]
fn required_attribute_missing_and_unknown_attribute() {
    let xml = app_metadata(
        r#"<locale name="en-US"><software_screenshots><software_screenshot display_target="iOS-6.5-in" colour="red"><size>1</size><file_name>a.png</file_name><checksum type="md5">0</checksum></software_screenshot></software_screenshots></locale>"#,
    );
    let xpath = "/package/software/software_metadata/versions/version/locales/locale/software_screenshots/software_screenshot";
    assert_eq!(
        texts(&xml),
        [
            format!(
                r#"Line 10 column 106: attribute "colour" not allowed here; expected attribute "display_target" or "position" at XPath {xpath}"#
            ),
            format!(
                r#"Line 10 column 106: element "software_screenshot" missing required attribute "position" at XPath {xpath}"#
            ),
        ]
    );
}

#[test]
fn size_must_be_an_integer() {
    let xml = r#"<package version="software5.10" xmlns="http://apple.com/itunes/importer"><software_assets><asset type="bundle"><data_file><file_name>a.ipa</file_name><size>12 MB</size><checksum type="md5">0</checksum></data_file></asset></software_assets></package>"#;
    assert_eq!(
        texts(xml),
        [
            r#"Line 1 column 169: character content of element "size" invalid; must be an integer at XPath /package/software_assets/asset/data_file/size"#
        ]
    );
}

#[test]
fn text_where_only_elements_are_allowed() {
    let xml = r#"<package version="software5.10" xmlns="http://apple.com/itunes/importer">hello<software_assets><asset type="bundle"><data_file><file_name>a</file_name><size>1</size><checksum type="md5">0</checksum></data_file></asset></software_assets></package>"#;
    assert_eq!(
        texts(xml),
        [
            r#"Line 1 column 79: text not allowed here; expected element "provider", "software", "software_assets" or "team_id" at XPath /package"#
        ]
    );
}

#[test]
fn package_version_must_be_software5_and_asset_type_one_of_apples() {
    let xml = r#"<package version="software4.1" xmlns="http://apple.com/itunes/importer"><software_assets><asset type="app"><data_file><file_name>a</file_name><size>1</size><checksum type="md5">0</checksum></data_file></asset></software_assets></package>"#;
    assert_eq!(
        texts(xml),
        [
            r#"Line 1 column 73: value of attribute "version" is invalid; must be a string matching the regular expression "software5\.[0-9]+" at XPath /package"#,
            r#"Line 1 column 108: value of attribute "type" is invalid; must be equal to "bundle", "developer-id-package", "in-app-purchase-content" or "product-archive" at XPath /package/software_assets/asset"#,
        ]
    );
}

#[test]
fn package_outside_apples_importer_namespace_is_refused() {
    let xml = r#"<package version="software5.10"><software_assets/></package>"#;
    assert_eq!(
        texts(xml),
        [
            r#"Line 1 column 33: element "package" not allowed here; expected element "package" (with xmlns="http://apple.com/itunes/importer") at XPath /package"#
        ]
    );
}

#[test]
fn mismatched_end_tag_is_xerces_well_formedness_error() {
    let xml = "<package version=\"software5.10\" xmlns=\"http://apple.com/itunes/importer\">\n  <provider>X</team_id>\n</package>\n";
    let problems = check(xml).problems;
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].message,
        r#"The element type "provider" must be terminated by the matching end-tag "</provider>"."#
    );
    assert_eq!(problems[0].line, 2);
}

#[test]
fn unclosed_document_must_end_within_the_same_entity() {
    let xml = "<package version=\"software5.10\" xmlns=\"http://apple.com/itunes/importer\">\n";
    assert_eq!(
        texts(xml),
        ["Line 2 column 1: XML document structures must start and end within the same entity."]
    );
}

#[test]
fn s8_5_minimal_build_upload_metadata_is_valid_with_size_first() {
    // apple-semantics.md §8.5: the build-upload metadata every public example uses.
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://apple.com/itunes/importer" version="software5.4">
  <software_assets apple_id="1234567890" app_platform="ios">
    <asset type="bundle">
      <data_file>
        <size>12345678</size>
        <file_name>App.ipa</file_name>
        <checksum type="md5">0123456789abcdef0123456789abcdef</checksum>
      </data_file>
    </asset>
  </software_assets>
</package>
"#;
    let checked = check(xml);
    assert_eq!(checked.problems, Vec::new());
    assert_eq!(checked.files.len(), 1);
    assert_eq!(checked.files[0].file_name.as_deref(), Some("App.ipa"));
    assert_eq!(checked.files[0].size.as_deref(), Some("12345678"));
}
