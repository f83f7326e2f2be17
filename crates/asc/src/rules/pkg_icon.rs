//! The icon of the app a macOS `.pkg` installs. The component's `Payload` (pkg.rs
//! [`super::pkg::app_payload`]) is a gzip-compressed cpio archive in the portable ASCII format
//! `pkgbuild` writes (POSIX.1 "odc": magic `070707`, a 76-byte header of octal fields, the path,
//! then the file). It is read as a stream — only the app's `Contents/Info.plist` and the `.icns`
//! files of its `Contents/Resources` are kept — and the icon is the `.icns` the Info.plist's
//! `CFBundleIconFile` names (else the first one): of its images, the largest PNG (`ic07` 128 px
//! … `ic10` 1024 px; older JPEG 2000 and packed-bitmap entries are not read).
//!
//! A payload in another format (Apple's `pbzx` streams, which only Apple's own packages use) has
//! no icon read: the build gets its app's generated one.

use image::DynamicImage;
use std::io::{Cursor, Read};

/// Largest cpio stream read out of a payload, and largest kept file (bombs stop here).
const MAX_UNPACKED: u64 = 2 << 30;
const MAX_KEPT: u64 = 32 << 20;

/// The app's icon: (the `.icns` file's name, its largest image).
pub fn icon(pkg: &[u8]) -> Option<(String, DynamicImage)> {
    let (payload, app) = super::pkg::app_payload(pkg)?;
    if !payload.starts_with(&[0x1f, 0x8b]) {
        return None;
    }
    let app = app
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_string();
    let info_path = format!("{app}/Contents/Info.plist");
    let resources = format!("{app}/Contents/Resources/");
    let mut cpio = flate2::read::MultiGzDecoder::new(&payload[..]).take(MAX_UNPACKED);
    let (mut info, mut icns) = (None, Vec::new());
    while let Some((name, size)) = entry(&mut cpio) {
        if name == "TRAILER!!!" {
            break;
        }
        let name = name.trim_start_matches("./");
        let keep = size <= MAX_KEPT
            && (name == info_path
                || name
                    .strip_prefix(&resources)
                    .is_some_and(|f| !f.contains('/') && f.ends_with(".icns")));
        let mut data = Vec::new();
        if keep {
            (&mut cpio).take(size).read_to_end(&mut data).ok()?;
        } else {
            std::io::copy(&mut (&mut cpio).take(size), &mut std::io::sink()).ok()?;
            continue;
        }
        if name == info_path {
            info = Some(data);
        } else {
            icns.push((name.rsplit('/').next().unwrap_or(name).to_string(), data));
        }
    }
    let named = info
        .and_then(|b| plist::Value::from_reader(Cursor::new(b)).ok())
        .and_then(|v| {
            let f = v.as_dictionary()?.get("CFBundleIconFile")?.as_string()?;
            Some(if f.ends_with(".icns") {
                f.to_string()
            } else {
                format!("{f}.icns")
            })
        });
    let pick = named
        .and_then(|n| icns.iter().position(|(f, _)| *f == n))
        .unwrap_or(0);
    let (file, data) = icns.get(pick)?;
    Some((file.clone(), largest_png(data)?))
}

/// One odc header and path: (path, file size). `None` at the end of the stream or on a header
/// that is not odc.
fn entry(r: &mut impl Read) -> Option<(String, u64)> {
    let mut h = [0u8; 76];
    r.read_exact(&mut h).ok()?;
    if &h[..6] != b"070707" {
        return None;
    }
    let octal = |b: &[u8]| u64::from_str_radix(std::str::from_utf8(b).ok()?, 8).ok();
    let (name_size, file_size) = (octal(&h[59..65])?, octal(&h[65..76])?);
    if name_size == 0 || name_size > 4096 {
        return None;
    }
    let mut name = vec![0u8; name_size as usize];
    r.read_exact(&mut name).ok()?;
    name.pop_if(|b| *b == 0);
    Some((String::from_utf8(name).ok()?, file_size))
}

/// The largest PNG image of an `.icns` file (`icns`, its length, then entries of a 4-byte type
/// and a length that counts their 8-byte header).
fn largest_png(icns: &[u8]) -> Option<DynamicImage> {
    if icns.get(..4)? != b"icns" {
        return None;
    }
    let mut best: Option<DynamicImage> = None;
    let mut at = 8;
    while at + 8 <= icns.len() {
        let len = u32::from_be_bytes(icns[at + 4..at + 8].try_into().ok()?) as usize;
        if len < 8 {
            break;
        }
        let data = icns.get(at + 8..at + len)?;
        if data.starts_with(b"\x89PNG")
            && let Some(img) = super::images::decode(data)
            && best.as_ref().is_none_or(|b| img.width() > b.width())
        {
            best = Some(img);
        }
        at += len;
    }
    best
}

/// Test and demo helper: a `Payload` (gzip-compressed odc cpio) installing `./App.app` with an
/// Info.plist naming `AppIcon` and `Contents/Resources/AppIcon.icns` holding `icon` at 128 and
/// 256 px (plus another `.icns` it does not name).
pub fn build_payload(icon: &DynamicImage) -> Vec<u8> {
    use std::io::Write;
    let png = |side: u32| {
        let mut out = Vec::new();
        icon.resize_exact(side, side, image::imageops::FilterType::Triangle)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .expect("a PNG");
        out
    };
    let icns = |entries: &[(&[u8; 4], Vec<u8>)]| {
        let body: Vec<u8> = entries
            .iter()
            .flat_map(|(t, d)| {
                let mut e = t.to_vec();
                e.extend_from_slice(&((d.len() + 8) as u32).to_be_bytes());
                e.extend_from_slice(d);
                e
            })
            .collect();
        let mut out = b"icns".to_vec();
        out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out
    };
    let info = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict><key>CFBundleIconFile</key><string>AppIcon</string></dict></plist>\n";
    let files: Vec<(&str, Vec<u8>)> = vec![
        (".", Vec::new()),
        (
            "./App.app/Contents/Resources/Other.icns",
            icns(&[(b"ic07", png(64))]),
        ),
        ("./App.app/Contents/Info.plist", info.to_vec()),
        ("./App.app/Contents/MacOS/App", b"\xcf\xfa\xed\xfe".to_vec()),
        (
            "./App.app/Contents/Resources/AppIcon.icns",
            icns(&[(b"ic07", png(128)), (b"ic08", png(256))]),
        ),
        ("TRAILER!!!", Vec::new()),
    ];
    let mut cpio = Vec::new();
    for (i, (name, data)) in files.iter().enumerate() {
        let mode = if data.is_empty() && *name == "." {
            0o40755
        } else {
            0o100644
        };
        write!(
            cpio,
            "070707{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:06o}{:011o}{:06o}{:011o}",
            0,
            i + 1,
            mode,
            0,
            0,
            1,
            0,
            0,
            name.len() + 1,
            data.len()
        )
        .expect("cpio");
        cpio.extend_from_slice(name.as_bytes());
        cpio.push(0);
        cpio.extend_from_slice(data);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&cpio).expect("gzip");
    gz.finish().expect("gzip")
}
