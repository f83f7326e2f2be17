//! Transporter packages (`.itmsp` directories): `crabapple transporter validate` checks a
//! package as Apple's Transporter does before it uploads one — `metadata.xml` against the
//! `software5.x` schema ([`schema`], checked by [`validate`]), then the files it names
//! ([`assets`]) — and prints Apple's "Package Summary" (forum post 11 quotes Apple's answer).

pub mod assets;
pub mod schema;
pub mod validate;

use std::path::Path;

/// The outcome for one package: Apple's `ERROR ITMS-…` lines, in the order Transporter gives
/// them. No errors: the package is valid.
#[derive(Debug)]
pub struct Report {
    /// The package as the user named it (printed in the summary).
    pub package: String,
    pub errors: Vec<String>,
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
    report
}
