//! The images crabapple serves in place of Apple's image CDN: build icons, screenshots and
//! preview frames, each under a token, and Apple's `ImageAsset.templateUrl` shape for them
//! (apple-semantics.md §8.1: `…/<file>.png/{w}x{h}bb.{f}`, the client substitutes a size and one
//! of `png`, `jpg`, `webp`).
//!
//! A stored image is kept once, normalized to PNG, in the data directory's `images/` folder. A
//! token `app-<id>` with no stored file is an app's generated icon (demo builds, forum post 1:
//! their icons must render): a deterministic picture drawn from the app's name.
//!
//! The template URL is stored relative (`/crabapple/images/…`); the engine writes it on the
//! host the client used (`ImageAsset` values are resolved when rendered).

use image::{DynamicImage, ImageFormat, Rgba, RgbaImage, imageops::FilterType};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Where an image's path starts; also what the renderer resolves against the client's host.
pub const PREFIX: &str = "/crabapple/images/";

/// Largest side a client may ask for (Apple's CDN serves up to the source's size; crabapple
/// refuses absurd sizes instead of allocating them).
pub const MAX_SIDE: u32 = 4096;

/// Side of a generated icon: Apple's App Store icon is 1024×1024.
pub const ICON_SIDE: u32 = 1024;

/// Apple's template URL for an image stored under `token`: `/crabapple/images/<token>.png/{w}x{h}bb.{f}`.
pub fn template_url(token: &str) -> String {
    format!("{PREFIX}{token}.png/{{w}}x{{h}}bb.{{f}}")
}

/// The `ImageAsset` of an image stored under `token`.
pub fn image_asset(token: &str, width: u32, height: u32) -> serde_json::Value {
    serde_json::json!({"templateUrl": template_url(token), "width": width, "height": height})
}

/// The token of an app's generated icon.
pub fn app_icon_token(app_id: &str) -> String {
    format!("app-{app_id}")
}

/// Whether a token is safe as a file name (crabapple's tokens: letters, digits, `-`, `_`).
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn path_of(data_dir: &Path, token: &str) -> PathBuf {
    data_dir.join("images").join(format!("{token}.png"))
}

/// Decodes PNG, JPEG or WebP bytes (the formats the `image` build here reads).
pub fn decode(bytes: &[u8]) -> Option<DynamicImage> {
    image::load_from_memory(bytes).ok()
}

/// Stores `img` under `token` (as PNG), replacing what was there.
pub fn save(data_dir: &Path, token: &str, img: &DynamicImage) -> anyhow::Result<()> {
    anyhow::ensure!(valid_token(token), "invalid image token {token:?}");
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png)?;
    let path = path_of(data_dir, token);
    crabapple_store::files::write_replacing(&path, &png)?;
    Ok(())
}

/// Removes the image stored under `token`, if any.
pub fn remove(data_dir: &Path, token: &str) {
    if valid_token(token) {
        let _ = std::fs::remove_file(path_of(data_dir, token));
    }
}

/// One requested rendition: `{w}x{h}bb.{f}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpg,
    Webp,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }
}

/// Parses the last segment of an image URL, `{w}x{h}bb.{f}` (`bb`: Apple's "bounding box"
/// fit; `{f}` one of png, jpg, webp). `None` for anything else.
pub fn parse_size(segment: &str) -> Option<Size> {
    let (dims, ext) = segment.rsplit_once('.')?;
    let format = match ext {
        "png" => Format::Png,
        "jpg" | "jpeg" => Format::Jpg,
        "webp" => Format::Webp,
        _ => return None,
    };
    let dims = dims.strip_suffix("bb")?;
    let (w, h) = dims.split_once('x')?;
    let (width, height) = (w.parse::<u32>().ok()?, h.parse::<u32>().ok()?);
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return None;
    }
    Some(Size {
        width,
        height,
        format,
    })
}

/// The source image of `token`: the stored file, else an app's generated icon (`app_name`
/// looks the app's name up), drawn `side` pixels wide (at most [`ICON_SIDE`]: drawing it at the
/// size asked for costs less than resizing a large one). `None`: no such image.
pub fn source(
    data_dir: &Path,
    token: &str,
    side: u32,
    app_name: impl FnOnce(&str) -> Option<String>,
) -> Option<DynamicImage> {
    if !valid_token(token) {
        return None;
    }
    if let Ok(bytes) = std::fs::read(path_of(data_dir, token)) {
        return decode(&bytes);
    }
    let app = token.strip_prefix("app-")?;
    let name = app_name(app)?;
    Some(DynamicImage::ImageRgba8(generated_icon(
        &name,
        side.clamp(1, ICON_SIDE),
    )))
}

/// `img` resized to fit `size`'s box (aspect kept, as Apple's `bb`) and encoded in its format.
pub fn render(img: &DynamicImage, size: Size) -> anyhow::Result<Vec<u8>> {
    let fitted = if img.width() == size.width && img.height() == size.height {
        img.clone()
    } else {
        img.resize(size.width, size.height, FilterType::Triangle)
    };
    let mut out = Vec::new();
    match size.format {
        Format::Png => fitted.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)?,
        // JPEG has no alpha: flattened (Apple's CDN serves icons on an opaque background).
        Format::Jpg => DynamicImage::ImageRgb8(fitted.to_rgb8())
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)?,
        // The pure-Rust WebP encoder writes lossless WebP.
        Format::Webp => DynamicImage::ImageRgba8(fitted.to_rgba8())
            .write_to(&mut Cursor::new(&mut out), ImageFormat::WebP)?,
    }
    Ok(out)
}

/// FNV-1a: a stable hash of a name (colors of a generated icon, image ETags).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A deterministic icon for an app named `name`: a diagonal gradient between two colors
/// derived from the name, with a disc and a bar placed by it. Drawn in pure Rust; the same
/// name always gives the same pixels.
pub fn generated_icon(name: &str, side: u32) -> RgbaImage {
    let h = fnv1a(name.as_bytes());
    let channel = |shift: u32| ((h >> shift) & 0xff) as f32;
    let (a, b) = (
        [channel(0), channel(8), channel(16)],
        [channel(24), channel(32), channel(40)],
    );
    let s = side as f32;
    let (cx, cy) = (
        s * (0.35 + ((h >> 48) & 0x1f) as f32 / 100.0),
        s * (0.35 + ((h >> 53) & 0x1f) as f32 / 100.0),
    );
    let radius = s * 0.22;
    let bar = (s * 0.70, s * 0.80);
    RgbaImage::from_fn(side, side, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let t = (fx + fy) / (2.0 * s);
        let mut px = [0u8; 4];
        for c in 0..3 {
            px[c] = (a[c] * (1.0 - t) + b[c] * t) as u8;
        }
        px[3] = 255;
        let inside_disc = (fx - cx).powi(2) + (fy - cy).powi(2) <= radius * radius;
        let inside_bar = fy >= bar.0 && fy < bar.1 && fx >= s * 0.15 && fx < s * 0.85;
        if inside_disc || inside_bar {
            for v in px.iter_mut().take(3) {
                *v = 255 - (255 - *v) / 4;
            }
        }
        Rgba(px)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apples_template_url_shape_with_the_size_and_format_substituted() {
        assert_eq!(
            template_url("build-1"),
            "/crabapple/images/build-1.png/{w}x{h}bb.{f}"
        );
        assert_eq!(
            parse_size("512x256bb.webp"),
            Some(Size {
                width: 512,
                height: 256,
                format: Format::Webp
            })
        );
        assert_eq!(parse_size("512x256bb.gif"), None);
        assert_eq!(parse_size("0x256bb.png"), None);
        assert_eq!(parse_size("99999x1bb.png"), None);
        assert_eq!(parse_size("{w}x{h}bb.{f}"), None);
    }

    #[test]
    fn a_generated_icon_is_the_same_for_the_same_name_and_differs_between_names() {
        let a = generated_icon("Crabapple Notes", 64);
        assert_eq!(a, generated_icon("Crabapple Notes", 64));
        assert_ne!(a, generated_icon("Orchard Quest", 64));
    }

    #[test]
    fn a_rendition_fits_the_box_and_decodes_in_each_format() {
        let img = DynamicImage::ImageRgba8(generated_icon("x", 100));
        for (f, format) in [
            (Format::Png, ImageFormat::Png),
            (Format::Jpg, ImageFormat::Jpeg),
            (Format::Webp, ImageFormat::WebP),
        ] {
            let bytes = render(
                &img,
                Size {
                    width: 40,
                    height: 40,
                    format: f,
                },
            )
            .unwrap();
            let back = image::load_from_memory_with_format(&bytes, format).unwrap();
            assert_eq!((back.width(), back.height()), (40, 40));
        }
    }
}
