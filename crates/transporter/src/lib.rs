//! Transporter packages (`.itmsp` directories): `crabapple transporter validate` checks a
//! package as Apple's Transporter does before it uploads one — `metadata.xml` against the
//! `software5.x` schema ([`schema`], checked by [`validate`]), then the files it names
//! ([`assets`]) — and prints Apple's "Package Summary" (forum post 11 quotes Apple's answer).
//! A valid package's binary ([`Binary`]) is what `crabapple transporter upload` turns into a build.

pub mod assets;
pub mod schema;
pub mod validate;

use std::path::{Path, PathBuf};

/// The outcome for one package: Apple's `ERROR ITMS-…` lines, in the order Transporter gives
/// them. No errors: the package is valid.
#[derive(Debug)]
pub struct Report {
    /// The package as the user named it (printed in the summary).
    pub package: String,
    pub errors: Vec<String>,
    /// The app binary a valid package delivers, if it holds one.
    pub binary: Option<Binary>,
}

/// The app binary of a package: the `data_file` of an `asset` of type `bundle` (`.ipa`),
/// `product-archive` or `developer-id-package` (`.pkg`), with what `software_assets` says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub path: PathBuf,
    pub file_name: String,
    /// `software_assets apple_id`: the app's Apple ID.
    pub apple_id: Option<String>,
    /// The App Store Connect API's platform (`IOS`, `MAC_OS`, …) of `app_platform`, else of the
    /// file (`.ipa` iOS, `.pkg` macOS).
    pub platform: String,
    /// `bundle_short_version_string` and `bundle_version`, when the metadata gives them.
    pub short_version: Option<String>,
    pub version: Option<String>,
}

/// The API platform of a Transporter `app_platform`.
pub fn api_platform(app_platform: &str) -> Option<&'static str> {
    Some(match app_platform {
        "ios" => "IOS",
        "osx" => "MAC_OS",
        "appletvos" => "TV_OS",
        "xros" => "VISION_OS",
        _ => return None,
    })
}

const BINARY_ASSETS: &[&str] = &["bundle", "product-archive", "developer-id-package"];

fn binary_of(dir: &Path, checked: &validate::Checked) -> Option<Binary> {
    let file = checked.files.iter().find(|f| {
        f.asset_type
            .as_deref()
            .is_some_and(|t| BINARY_ASSETS.contains(&t))
            && f.file_name
                .as_deref()
                .is_some_and(|n| n.ends_with(".ipa") || n.ends_with(".pkg"))
    })?;
    let file_name = file.file_name.clone()?;
    let attr = |k: &str| checked.software_asset(k).map(str::to_string);
    let by_file = if file_name.ends_with(".pkg") {
        "MAC_OS"
    } else {
        "IOS"
    };
    Some(Binary {
        path: dir.join(&file_name),
        platform: checked
            .software_asset("app_platform")
            .and_then(api_platform)
            .unwrap_or(by_file)
            .to_string(),
        file_name,
        apple_id: attr("apple_id"),
        short_version: attr("bundle_short_version_string"),
        version: attr("bundle_version"),
    })
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Transporter's package summary. Post 11 quotes the upload mode's failure
    /// ("1 package(s) were not uploaded because they had problems: … - Error Messages:");
    /// validation (Transporter's `-m verify`) words it with "verified".
    pub fn summary(&self) -> String {
        let mut out = String::from("Package Summary:\n \n");
        if self.is_valid() {
            out.push_str(&format!(
                "1 package(s) were verified successfully:\n\t{}\n",
                self.package
            ));
            return out;
        }
        out.push_str(&format!(
            "1 package(s) were not verified because they had problems:\n\t{} - Error Messages:\n",
            self.package
        ));
        for e in &self.errors {
            out.push_str(&format!("\t\t{e}\n"));
        }
        out
    }
}

/// Checks the package directory `dir`; `shown` is how the summary names it.
pub fn verify(dir: &Path, shown: &str) -> Report {
    let mut report = Report {
        package: shown.to_string(),
        errors: Vec::new(),
        binary: None,
    };
    let metadata = match std::fs::read(dir.join("metadata.xml")) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => {
            // Apple's text for a package without metadata was not found; crabapple's wording.
            report.errors.push(format!(
                "ERROR ITMS-3000: \"The package {shown} does not contain a metadata.xml file.\""
            ));
            return report;
        }
    };
    let checked = validate::check(&metadata);
    if !checked.problems.is_empty() {
        for p in &checked.problems {
            report
                .errors
                .push(format!("ERROR ITMS-3000: \"{}\"", p.text()));
        }
        // Post 11: the package is named by its vendor id, "null" when the metadata does not
        // give one where the schema expects it.
        let name = checked.vendor_id.as_deref().unwrap_or("null");
        report.errors.push(format!(
            "ERROR ITMS-3000: \"Package \"{name}\" failed schema validation.\""
        ));
        return report;
    }
    for f in &checked.files {
        report.errors.extend(assets::check(dir, f));
    }
    if report.is_valid() {
        report.binary = binary_of(dir, &checked);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_archive_is_the_binary_with_what_software_assets_says_of_it() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<package version="software5.10" xmlns="http://apple.com/itunes/importer">
    <software_assets apple_id="1503318842" app_platform="osx" bundle_short_version_string="1.4.0" bundle_version="1400">
        <asset type="product-archive">
            <data_file>
                <file_name>Cider.pkg</file_name>
                <size>4</size>
                <checksum type="md5">0</checksum>
            </data_file>
        </asset>
    </software_assets>
</package>
"#;
        let checked = validate::check(xml);
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        assert_eq!(
            binary_of(Path::new("P.itmsp"), &checked),
            Some(Binary {
                path: Path::new("P.itmsp").join("Cider.pkg"),
                file_name: "Cider.pkg".into(),
                apple_id: Some("1503318842".into()),
                platform: "MAC_OS".into(),
                short_version: Some("1.4.0".into()),
                version: Some("1400".into()),
            })
        );
        // Not a binary asset: nothing to upload.
        let other = xml.replace("product-archive", "in-app-purchase-content");
        assert_eq!(
            binary_of(Path::new("P.itmsp"), &validate::check(&other)),
            None
        );
    }
}
