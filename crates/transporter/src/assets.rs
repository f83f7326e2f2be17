//! The asset checks Transporter runs once `metadata.xml` is valid ("Checking the file size of
//! the files", then "Checking the md5 checksum of the files", as its log says): every file the
//! metadata names (`data_file`, `software_screenshot`, `review_screenshot`) must be in the
//! package directory with the `size` and md5 `checksum` the metadata gives.
//!
//! Apple's exact texts for these failures were not found in any public source; the code
//! (ITMS-4000, Transporter's family for package content problems) and the wording below are
//! crabapple's, written in the style of Apple's other Transporter errors.

use crate::validate::FileRef;
use md5::{Digest, Md5};
use std::path::Path;

/// The problems of one file reference, as complete `ERROR ITMS-…` lines.
pub fn check(dir: &Path, file: &FileRef) -> Vec<String> {
    let Some(name) = file.file_name.as_deref() else {
        return Vec::new();
    };
    let at = &file.xpath;
    let inside = !name.is_empty() && !name.contains(['/', '\\']) && name != "..";
    let bytes = match inside.then(|| std::fs::read(dir.join(name))) {
        Some(Ok(b)) => b,
        _ => {
            return vec![format!(
                "ERROR ITMS-4000: \"The file \"{name}\" named at XPath {at} is not in the package.\""
            )];
        }
    };
    let mut errors = Vec::new();
    let given_size = file.size.as_deref().unwrap_or_default();
    if given_size.parse::<u64>().ok() != Some(bytes.len() as u64) {
        errors.push(format!(
            "ERROR ITMS-4000: \"The size of the file \"{name}\" ({} bytes) does not match the size in the metadata ({given_size} bytes) at XPath {at}.\"",
            bytes.len()
        ));
    }
    let actual = hex(&Md5::digest(&bytes));
    let given = file.checksum.as_deref().unwrap_or_default();
    if !given.eq_ignore_ascii_case(&actual) {
        errors.push(format!(
            "ERROR ITMS-4000: \"The md5 checksum of the file \"{name}\" ({actual}) does not match the checksum in the metadata ({given}) at XPath {at}.\""
        ));
    }
    errors
}

/// Lower-case hex, as Apple writes md5 checksums in `metadata.xml`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
