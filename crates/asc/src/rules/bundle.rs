//! An uploaded app bundle opened for real: an `.ipa` is a zip with `Payload/<Name>.app/Info.plist`
//! (binary or XML property list); crabapple reads the identity Apple checks (CFBundleIdentifier,
//! CFBundleShortVersionString, CFBundleVersion) and the app icon.
//!
//! The icon: the files `CFBundleIcons` → `CFBundlePrimaryIcon` → `CFBundleIconFiles` (or the
//! older `CFBundleIconFiles`) name, with their `@2x`/`@3x`/`~ipad` variants, else any
//! `AppIcon*.png` in the `.app`, else `iTunesArtwork`; the largest one that decodes wins. Xcode
//! "crushes" the PNGs it copies into a bundle (Apple's CgBI variant: premultiplied BGRA,
//! headerless deflate), which standard decoders refuse; they are read by cgbi.rs. With no
//! decodable icon the build gets the generated icon of its app (images.rs). Modern apps keep
//! their 1024 pt icon only in `Assets.car` (a compiled asset catalogue), which is not read: the
//! largest loose icon (180 × 180 for an iPhone app) is what a build shows.
//!
//! A macOS `.pkg` (a xar archive, not a zip) is read for its app's identity (pkg.rs) and its
//! icon (pkg_icon.rs: the largest PNG of the app's `.icns`).
//!
//! Errors are Apple's processing errors (`StateDetail` with an `ITMS-9xxxx` code), see
//! builds_upload.rs for which codes are observed and which are guessed.

use super::assets::state_error;
use image::DynamicImage;
use serde_json::Value;
use std::io::{Cursor, Read};

/// Largest Info.plist or icon read out of a bundle (a zip bomb stops here).
const MAX_ENTRY: u64 = 16 * 1024 * 1024;

/// What crabapple learns from a bundle.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    pub bundle_id: String,
    pub short_version: String,
    pub version: String,
    /// The minimum OS the bundle declares (`MinimumOSVersion`, or `LSMinimumSystemVersion`).
    pub min_os: Option<String>,
    /// The app icon and its file name, when one decodes.
    pub icon: Option<(String, DynamicImage)>,
}

/// Opens the bytes of an `.ipa` (or another zip holding a `.app`). `Err`: Apple's processing
/// error for the package.
pub fn open(bytes: &[u8]) -> Result<BundleInfo, Value> {
    let no_app = || state_error("ITMS-90167", "No .app bundles found in the package.");
    if bytes.starts_with(b"xar!") {
        return open_pkg(bytes).ok_or_else(no_app)?;
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| no_app())?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    // Payload/<Name>.app/Info.plist: the app's own, not a framework's or an extension's.
    let app_dir = names
        .iter()
        .filter_map(|n| {
            let rest = n.strip_prefix("Payload/")?;
            let (app, _) = rest.split_once(".app/")?;
            (!app.contains('/')).then(|| format!("Payload/{app}.app/"))
        })
        .min()
        .ok_or_else(no_app)?;
    let plist_name = format!("{app_dir}Info.plist");
    let missing_plist = || {
        state_error(
            "ITMS-90059",
            format!(
                "This bundle is invalid. The Info.plist file is missing or could not be parsed: '{plist_name}'."
            ),
        )
    };
    let raw = read_entry(&mut zip, &plist_name).ok_or_else(missing_plist)?;
    let plist = plist::Value::from_reader(Cursor::new(raw)).map_err(|_| missing_plist())?;
    let dict = plist.as_dictionary().ok_or_else(missing_plist)?;
    let text = |k: &str| {
        dict.get(k)
            .and_then(plist::Value::as_string)
            .map(str::to_string)
    };
    let (bundle_id, short_version, version) = identity(text)?;
    let icon = icon(&mut zip, &names, &app_dir, dict);
    Ok(BundleInfo {
        bundle_id,
        short_version,
        version,
        min_os: text("MinimumOSVersion").or_else(|| text("LSMinimumSystemVersion")),
        icon,
    })
}

/// The three keys Apple requires, each missing one its processing error.
fn identity(text: impl Fn(&str) -> Option<String>) -> Result<(String, String, String), Value> {
    let required = |k: &str, code: &str| {
        text(k).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            state_error(
                code,
                format!(
                    "This bundle is invalid. The Info.plist file is missing the required key: {k}."
                ),
            )
        })
    };
    Ok((
        required("CFBundleIdentifier", "ITMS-90049")?,
        required("CFBundleShortVersionString", "ITMS-90057")?,
        required("CFBundleVersion", "ITMS-90056")?,
    ))
}

/// A `.pkg` (pkg.rs): its app's identity from the component's PackageInfo, its icon from the
/// app's `.icns` in the component's payload (pkg_icon.rs).
fn open_pkg(bytes: &[u8]) -> Option<Result<BundleInfo, Value>> {
    let (id, short, number) = super::pkg::open(bytes)?;
    let text = |k: &str| match k {
        "CFBundleIdentifier" => id.clone(),
        "CFBundleShortVersionString" => short.clone(),
        "CFBundleVersion" => number.clone(),
        _ => None,
    };
    Some(
        identity(text).map(|(bundle_id, short_version, version)| BundleInfo {
            bundle_id,
            short_version,
            version,
            min_os: None,
            icon: super::pkg_icon::icon(bytes),
        }),
    )
}

fn read_entry(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Option<Vec<u8>> {
    let f = zip.by_name(name).ok()?;
    let mut out = Vec::new();
    f.take(MAX_ENTRY).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Icon file name stems the Info.plist declares.
fn declared_icons(dict: &plist::Dictionary) -> Vec<String> {
    let mut out = Vec::new();
    let files = |v: Option<&plist::Value>| -> Vec<String> {
        v.and_then(plist::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(plist::Value::as_string)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    for key in ["CFBundleIcons", "CFBundleIcons~ipad"] {
        let primary = dict
            .get(key)
            .and_then(plist::Value::as_dictionary)
            .and_then(|d| d.get("CFBundlePrimaryIcon"))
            .and_then(plist::Value::as_dictionary);
        if let Some(p) = primary {
            out.extend(files(p.get("CFBundleIconFiles")));
            if let Some(n) = p.get("CFBundleIconName").and_then(plist::Value::as_string) {
                out.push(n.to_string());
            }
        }
    }
    out.extend(files(dict.get("CFBundleIconFiles")));
    if let Some(f) = dict
        .get("CFBundleIconFile")
        .and_then(plist::Value::as_string)
    {
        out.push(f.to_string());
    }
    out
}

/// The largest decodable icon of the bundle (see the module's comment).
fn icon(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    names: &[String],
    app_dir: &str,
    dict: &plist::Dictionary,
) -> Option<(String, DynamicImage)> {
    let stems: Vec<String> = declared_icons(dict)
        .into_iter()
        .map(|s| s.trim_end_matches(".png").to_string())
        .collect();
    let candidates: Vec<String> = names
        .iter()
        .filter(|n| {
            let Some(file) = n.strip_prefix(app_dir) else {
                return n.as_str() == "iTunesArtwork";
            };
            if file.contains('/') || !file.ends_with(".png") {
                return false;
            }
            stems.iter().any(|s| file.starts_with(s.as_str())) || file.starts_with("AppIcon")
        })
        .cloned()
        .collect();
    let mut best: Option<(String, DynamicImage)> = None;
    for name in candidates {
        let Some(img) = read_entry(zip, &name)
            .and_then(|b| super::cgbi::decode(&b).or_else(|| super::images::decode(&b)))
        else {
            // Not an image.
            continue;
        };
        if best.as_ref().is_none_or(|(_, b)| img.width() > b.width()) {
            let file = name.rsplit('/').next().unwrap_or(&name).to_string();
            best = Some((file, img));
        }
    }
    best
}

/// Test and demo helper: an `.ipa` holding `Payload/<name>.app/Info.plist` (binary plist) with
/// the given keys, and the given PNG icons in the `.app`.
pub fn build_ipa(name: &str, keys: &[(&str, &str)], icons: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut dict = plist::Dictionary::new();
    for (k, v) in keys {
        dict.insert((*k).to_string(), plist::Value::String((*v).to_string()));
    }
    if !icons.is_empty() {
        let files: Vec<plist::Value> = icons
            .iter()
            .map(|(f, _)| {
                let stem = f.trim_end_matches(".png");
                let stem = stem.split('@').next().unwrap_or(stem);
                plist::Value::String(stem.to_string())
            })
            .collect();
        let mut primary = plist::Dictionary::new();
        primary.insert("CFBundleIconFiles".into(), plist::Value::Array(files));
        let mut icons_dict = plist::Dictionary::new();
        icons_dict.insert(
            "CFBundlePrimaryIcon".into(),
            plist::Value::Dictionary(primary),
        );
        dict.insert("CFBundleIcons".into(), plist::Value::Dictionary(icons_dict));
    }
    let mut plist_bytes = Vec::new();
    plist::Value::Dictionary(dict)
        .to_writer_binary(&mut plist_bytes)
        .expect("a plist");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let app = format!("Payload/{name}.app/");
    zip.start_file(format!("{app}Info.plist"), opts)
        .expect("zip entry");
    zip.write_all(&plist_bytes).expect("zip write");
    zip.start_file(format!("{app}{name}"), opts)
        .expect("zip entry");
    zip.write_all(b"\xcf\xfa\xed\xfe").expect("zip write");
    for (file, png) in icons {
        zip.start_file(format!("{app}{file}"), opts)
            .expect("zip entry");
        zip.write_all(png).expect("zip write");
    }
    zip.finish().expect("zip").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(side: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgba8(super::super::images::generated_icon("t", side));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    const KEYS: &[(&str, &str)] = &[
        ("CFBundleIdentifier", "com.example.notes"),
        ("CFBundleShortVersionString", "2.5.0"),
        ("CFBundleVersion", "140"),
    ];

    #[test]
    fn an_ipa_yields_its_identity_and_its_largest_decodable_icon() {
        let ipa = build_ipa(
            "Notes",
            KEYS,
            &[
                ("AppIcon60x60@2x.png", png(120)),
                ("AppIcon60x60@3x.png", png(180)),
                ("AppIcon76x76@2x~ipad.png", b"not a PNG".to_vec()),
            ],
        );
        let b = open(&ipa).unwrap();
        assert_eq!(
            (
                b.bundle_id.as_str(),
                b.short_version.as_str(),
                b.version.as_str()
            ),
            ("com.example.notes", "2.5.0", "140")
        );
        let (file, img) = b.icon.unwrap();
        assert_eq!((file.as_str(), img.width()), ("AppIcon60x60@3x.png", 180));
    }

    /// Xcode's crushed icons (CgBI) are read like any other: the 180 pt one wins.
    #[test]
    fn an_ipa_built_by_xcode_yields_its_crushed_icon() {
        let crushed =
            super::super::cgbi::crush(&super::super::images::generated_icon("xcode", 180));
        let ipa = build_ipa(
            "Notes",
            KEYS,
            &[
                ("AppIcon60x60@2x.png", png(120)),
                ("AppIcon60x60@3x.png", crushed),
            ],
        );
        let (file, img) = open(&ipa).unwrap().icon.unwrap();
        assert_eq!((file.as_str(), img.width()), ("AppIcon60x60@3x.png", 180));
        assert_eq!(
            img.to_rgba8(),
            super::super::images::generated_icon("xcode", 180)
        );
    }

    #[test]
    fn itms_90167_for_bytes_that_are_not_a_zip_with_an_app() {
        let e = open(b"not a zip").unwrap_err();
        assert_eq!(e["code"], "ITMS-90167");
        assert_eq!(e["description"], "No .app bundles found in the package.");
    }

    #[test]
    fn a_pkg_yields_the_identity_its_package_info_names_and_its_apps_icns_icon() {
        let b = open(&super::super::pkg::build_pkg(
            "com.example.desk",
            "3.1",
            "310",
        ))
        .unwrap();
        assert_eq!(
            (
                b.bundle_id.as_str(),
                b.short_version.as_str(),
                b.version.as_str()
            ),
            ("com.example.desk", "3.1", "310")
        );
        // The `.icns` the Info.plist names (not the other one), its largest image.
        let (file, img) = b.icon.unwrap();
        assert_eq!((file.as_str(), img.width()), ("AppIcon.icns", 256));
        assert_eq!(
            img.to_rgba8(),
            super::super::images::generated_icon("com.example.desk", 256)
        );
    }

    #[test]
    fn itms_90056_when_the_info_plist_has_no_cfbundleversion() {
        let ipa = build_ipa("Notes", &KEYS[..2], &[]);
        let e = open(&ipa).unwrap_err();
        assert_eq!(e["code"], "ITMS-90056");
        assert_eq!(
            e["description"],
            "This bundle is invalid. The Info.plist file is missing the required key: CFBundleVersion."
        );
    }
}
