//! A macOS installer package (`.pkg`, a product archive) opened for its app's identity. A `.pkg`
//! is a xar archive: a 28-byte big-endian header (`xar!`, header size, version, compressed and
//! uncompressed table-of-contents lengths, checksum algorithm), a zlib-compressed XML table of
//! contents, then the heap its `<data>` elements point into (`<offset>` from the heap's start,
//! `<length>` stored, `<encoding style>` octet-stream or zlib "x-gzip").
//!
//! A product archive holds a component package (`<Name>.pkg/`) whose `PackageInfo` names the
//! bundles it installs: `<bundle path="./App.app" id="…" CFBundleShortVersionString="…"
//! CFBundleVersion="…"/>`. The app is the bundle with the shortest path. The app's files
//! (its Info.plist, its icon) are inside the component's `Payload` ([`app_payload`]; its icon is
//! read by pkg_icon.rs).

use flate2::read::ZlibDecoder;
use std::io::Read;

/// Largest table of contents or `PackageInfo` read (a bomb stops here).
const MAX_XML: u64 = 8 * 1024 * 1024;
/// Largest zlib-encoded `Payload` inflated (a stored one is read where it lies).
const MAX_PAYLOAD: u64 = 256 << 20;

/// The identity of the app a `.pkg` installs: (CFBundleIdentifier, CFBundleShortVersionString,
/// CFBundleVersion), each `None` when the bundle does not say.
pub type Identity = (Option<String>, Option<String>, Option<String>);

/// The table of contents (XML) of a xar archive, and where its heap begins.
fn toc(bytes: &[u8]) -> Option<(String, usize)> {
    if bytes.len() < 28 || &bytes[..4] != b"xar!" {
        return None;
    }
    let be16 = |o: usize| u16::from_be_bytes([bytes[o], bytes[o + 1]]) as usize;
    let be64 = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[o..o + 8]);
        u64::from_be_bytes(b) as usize
    };
    let header = be16(4);
    let toc_len = be64(8);
    let toc_z = bytes.get(header..header.checked_add(toc_len)?)?;
    let toc = inflate(toc_z)?;
    let heap = header + toc_len;
    Some((toc, heap))
}

/// The [`Identity`] of a `.pkg`'s app. `None`: not a xar package with a bundle.
pub fn open(bytes: &[u8]) -> Option<Identity> {
    app_of(bytes).map(|a| a.identity)
}

/// What the component that installs the app says of it.
struct App {
    identity: Identity,
    /// Its path in the component's payload (`./App.app`).
    path: String,
    /// Where its `PackageInfo` is in the table of contents.
    at: usize,
}

fn app_of(bytes: &[u8]) -> Option<App> {
    let (toc, heap) = toc(bytes)?;
    let mut best: Option<(usize, App)> = None;
    for (start, file) in files_named(&toc, "PackageInfo") {
        let Some(info) = data_of(file, bytes, heap) else {
            continue;
        };
        for bundle in elements(&info, "bundle") {
            let path = attr(bundle, "path").unwrap_or_default();
            let found = (
                attr(bundle, "id"),
                attr(bundle, "CFBundleShortVersionString"),
                attr(bundle, "CFBundleVersion"),
            );
            if best.as_ref().is_none_or(|(len, _)| path.len() < *len) {
                best = Some((
                    path.len(),
                    App {
                        identity: found,
                        path,
                        at: start,
                    },
                ));
            }
        }
    }
    best.map(|(_, b)| b)
}

/// The `Payload` of the component that installs the app (the one nearest its `PackageInfo` in
/// the table of contents: they are siblings) as stored, and the app's path in it.
pub fn app_payload(bytes: &[u8]) -> Option<(std::borrow::Cow<'_, [u8]>, String)> {
    let app = app_of(bytes)?;
    let (toc, heap) = toc(bytes)?;
    let mut nearest: Option<(usize, std::borrow::Cow<'_, [u8]>)> = None;
    for (start, file) in files_named(&toc, "Payload") {
        let distance = start.abs_diff(app.at);
        if nearest.as_ref().is_some_and(|(d, _)| *d <= distance) {
            continue;
        }
        if let Some(data) = data_bytes(file, bytes, heap, MAX_PAYLOAD) {
            nearest = Some((distance, data));
        }
    }
    nearest.map(|(_, data)| (data, app.path))
}

/// The plain-file elements of the table of contents called `name`: where the name is, and the
/// element around it (xar writes `<data>` before `<name>`; a plain file has no nested files).
fn files_named<'a>(toc: &'a str, name: &str) -> Vec<(usize, &'a str)> {
    let needle = format!("<name>{name}</name>");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = toc[from..].find(&needle) {
        let start = from + at;
        from = start + 1;
        let file_start = toc[..start].rfind("<file").unwrap_or(0);
        let end = toc[start..]
            .find("</file>")
            .map_or(toc.len(), |e| start + e);
        out.push((start, &toc[file_start..end]));
    }
    out
}

fn inflate(z: &[u8]) -> Option<String> {
    let mut out = String::new();
    ZlibDecoder::new(z)
        .take(MAX_XML)
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}

/// The contents a file element's `<data>` points at, decoded (at most `max` bytes).
fn data_bytes<'a>(
    file: &str,
    bytes: &'a [u8],
    heap: usize,
    max: u64,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    let data = between(file, "<data>", "</data>")?;
    let num = |tag: &str| -> Option<usize> {
        between(data, &format!("<{tag}>"), &format!("</{tag}>"))?
            .trim()
            .parse()
            .ok()
    };
    let (offset, length) = (num("offset")?, num("length")?);
    let raw =
        bytes.get(heap.checked_add(offset)?..heap.checked_add(offset)?.checked_add(length)?)?;
    if data.contains("application/x-gzip") || data.contains("application/zlib") {
        let mut out = Vec::new();
        ZlibDecoder::new(raw).take(max).read_to_end(&mut out).ok()?;
        Some(out.into())
    } else {
        Some(raw.into())
    }
}

/// The text a file element's `<data>` points at, decoded.
fn data_of(file: &str, bytes: &[u8], heap: usize) -> Option<String> {
    String::from_utf8(data_bytes(file, bytes, heap, MAX_XML)?.into_owned()).ok()
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(&s[a..b])
}

/// The start tags `<name …>` of an XML text (attributes only).
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name} ");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let tag = &rest[at..];
        let end = tag.find('>').unwrap_or(tag.len());
        out.push(&tag[..end]);
        rest = &tag[end..];
    }
    out
}

/// An attribute's value in a start tag (double or single quotes; XML entities for `&`, `<`,
/// `>`, `"`, `'` decoded).
fn attr(tag: &str, name: &str) -> Option<String> {
    for q in ['"', '\''] {
        let key = format!(" {name}={q}");
        if let Some(at) = tag.find(&key) {
            let v = &tag[at + key.len()..];
            let v = &v[..v.find(q)?];
            return Some(
                v.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            );
        }
    }
    None
}

/// Test helper: a xar product archive with one component whose `PackageInfo` names a bundle
/// and whose `Payload` installs the app with an icon (pkg_icon.rs: the generated icon of
/// `bundle_id`).
pub fn build_pkg(bundle_id: &str, short: &str, number: &str) -> Vec<u8> {
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;
    let info = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<pkg-info format-version=\"2\" identifier=\"{bundle_id}.pkg\" version=\"{short}\" install-location=\"/Applications\">\n  <bundle path=\"./App.app/Contents/Library/Helper.app\" id=\"{bundle_id}.helper\" CFBundleShortVersionString=\"9\" CFBundleVersion=\"9\"/>\n  <bundle path=\"./App.app\" id=\"{bundle_id}\" CFBundleShortVersionString=\"{short}\" CFBundleVersion=\"{number}\"/>\n</pkg-info>\n"
    );
    let z = |b: &[u8]| {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).expect("zlib");
        e.finish().expect("zlib")
    };
    let info_z = z(info.as_bytes());
    let payload = super::pkg_icon::build_payload(&image::DynamicImage::ImageRgba8(
        super::images::generated_icon(bundle_id, 256),
    ));
    let toc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xar><toc><checksum style=\"sha1\"><offset>0</offset><size>20</size></checksum>\
<file id=\"1\"><name>App.pkg</name><type>directory</type>\
<file id=\"2\"><data><length>{}</length><offset>20</offset><size>{}</size><encoding style=\"application/x-gzip\"/></data><name>PackageInfo</name><type>file</type></file>\
<file id=\"3\"><data><length>{}</length><offset>{}</offset><size>{}</size><encoding style=\"application/octet-stream\"/></data><name>Payload</name><type>file</type></file>\
</file></toc></xar>",
        info_z.len(),
        info.len(),
        payload.len(),
        20 + info_z.len(),
        payload.len()
    );
    let toc_z = z(toc.as_bytes());
    let mut out = Vec::new();
    out.extend_from_slice(b"xar!");
    out.extend_from_slice(&28u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(toc_z.len() as u64).to_be_bytes());
    out.extend_from_slice(&(toc.len() as u64).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&toc_z);
    out.extend_from_slice(&[0u8; 20]);
    out.extend_from_slice(&info_z);
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_archive_names_its_apps_identity_in_its_package_info() {
        let pkg = build_pkg("com.example.desk", "3.1", "310");
        assert_eq!(
            open(&pkg),
            Some((
                Some("com.example.desk".into()),
                Some("3.1".into()),
                Some("310".into())
            ))
        );
        assert_eq!(open(b"xar!short"), None);
        assert_eq!(open(b"PK\x03\x04 a zip"), None);
    }
}
