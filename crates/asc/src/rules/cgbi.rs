//! Apple's "crushed" PNGs (CgBI), as Xcode writes the icons of an app bundle (`pngcrush -iphone`
//! when it copies `AppIcon60x60@2x.png` and the like into the `.app`): a `CgBI` chunk before
//! `IHDR`, the image data deflated without zlib's header and checksum, and the pixels in BGRA
//! order with the colours premultiplied by alpha. Standard decoders refuse such a file; this
//! module makes a standard PNG of it (the same rows, zlib-wrapped) and decodes that, then puts the
//! channels back in RGBA order and undoes the premultiplication.
//!
//! The layout is not documented by Apple; it is the one every reader of iOS bundles implements
//! (the `CgBI` chunk, headerless deflate, BGRA premultiplied). Only 8-bit RGB and RGBA images
//! (colour types 2 and 6, which icons are) are read; anything else is `None`.

use image::{DynamicImage, RgbaImage};
use std::io::{Read, Write};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// The most image data inflated (a deflate bomb stops here): a 4096 × 4096 RGBA icon and its
/// filter bytes.
const MAX_RAW: u64 = 4096 * (4096 * 4 + 1);

/// The chunks of a PNG file: `(type, data)`.
fn chunks(png: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut rest = png.strip_prefix(SIGNATURE.as_slice())?;
    let mut out = Vec::new();
    while rest.len() >= 12 {
        let len = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let kind: [u8; 4] = rest[4..8].try_into().ok()?;
        let data = rest.get(8..8 + len)?;
        out.push((kind, data));
        rest = rest.get(12 + len..)?;
        if &kind == b"IEND" {
            break;
        }
    }
    Some(out)
}

/// The `IDAT` chunks' data, joined.
fn image_data(chunks: &[([u8; 4], &[u8])]) -> Vec<u8> {
    chunks
        .iter()
        .filter(|(k, _)| k == b"IDAT")
        .flat_map(|(_, d)| d.iter().copied())
        .collect()
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// The image of a CgBI PNG; `None` for a standard PNG (no `CgBI` chunk) or one that does not
/// decode.
pub fn decode(png: &[u8]) -> Option<DynamicImage> {
    let chunks = chunks(png)?;
    if !chunks.iter().any(|(k, _)| k == b"CgBI") {
        return None;
    }
    let ihdr = chunks.iter().find(|(k, _)| k == b"IHDR")?.1;
    let (depth, colour) = (*ihdr.get(8)?, *ihdr.get(9)?);
    if depth != 8 || !(colour == 2 || colour == 6) {
        return None;
    }
    let deflated = image_data(&chunks);
    let mut raw = Vec::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .take(MAX_RAW)
        .read_to_end(&mut raw)
        .ok()?;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    zlib.write_all(&raw).ok()?;
    let mut standard = SIGNATURE.to_vec();
    chunk(&mut standard, b"IHDR", ihdr);
    chunk(&mut standard, b"IDAT", &zlib.finish().ok()?);
    chunk(&mut standard, b"IEND", &[]);
    let decoded = image::load_from_memory_with_format(&standard, image::ImageFormat::Png).ok()?;
    let alpha = colour == 6;
    let mut rgba: RgbaImage = decoded.to_rgba8();
    for p in rgba.pixels_mut() {
        let [b, g, r, a] = p.0;
        let unpremultiply = |c: u8| {
            if !alpha || a == 255 {
                c
            } else if a == 0 {
                0
            } else {
                ((c as u32 * 255 + a as u32 / 2) / a as u32).min(255) as u8
            }
        };
        p.0 = [unpremultiply(r), unpremultiply(g), unpremultiply(b), a];
    }
    Some(DynamicImage::ImageRgba8(rgba))
}

/// Test and demo helper: `img` as Xcode's crushed PNG (the inverse of [`decode`]).
pub fn crush(img: &RgbaImage) -> Vec<u8> {
    let mut bgra = img.clone();
    for p in bgra.pixels_mut() {
        let [r, g, b, a] = p.0;
        let pre = |c: u8| ((c as u32 * a as u32 + 127) / 255) as u8;
        p.0 = [pre(b), pre(g), pre(r), a];
    }
    let mut png = Vec::new();
    DynamicImage::ImageRgba8(bgra)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("a PNG");
    let chunks = chunks(&png).expect("chunks");
    let zlib = image_data(&chunks);
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(zlib.as_slice())
        .read_to_end(&mut raw)
        .expect("zlib");
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&raw).expect("deflate");
    let mut out = SIGNATURE.to_vec();
    // The CgBI chunk's data as Xcode writes it (flags; readers ignore them).
    chunk(&mut out, b"CgBI", &[0x50, 0x00, 0x20, 0x06]);
    for (k, d) in &chunks {
        if k == b"IHDR" {
            chunk(&mut out, k, d);
        }
    }
    chunk(&mut out, b"IDAT", &deflate.finish().expect("deflate"));
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crushed icon decodes to its picture: channels back in order, premultiplication undone
    /// (exactly where opaque, within rounding where translucent); a standard PNG, a truncated
    /// file and text are not CgBI.
    #[test]
    fn a_crushed_png_decodes_to_its_picture() {
        let mut img = super::super::images::generated_icon("cgbi", 64);
        img.put_pixel(0, 0, image::Rgba([200, 100, 50, 128]));
        img.put_pixel(1, 0, image::Rgba([10, 20, 30, 0]));
        let crushed = crush(&img);
        assert!(
            image::load_from_memory(&crushed).is_err(),
            "a standard decoder refuses it"
        );
        let back = decode(&crushed).expect("decoded").to_rgba8();
        assert_eq!(back.dimensions(), (64, 64));
        for (x, y, p) in img.enumerate_pixels() {
            let q = back.get_pixel(x, y);
            if p.0[3] == 255 {
                assert_eq!(p, q, "({x}, {y})");
            } else if p.0[3] > 0 {
                for c in 0..4 {
                    assert!(p.0[c].abs_diff(q.0[c]) <= 2, "({x}, {y}): {p:?} vs {q:?}");
                }
            }
        }
        assert_eq!(back.get_pixel(1, 0).0, [0, 0, 0, 0]);
        let mut standard = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(
                &mut std::io::Cursor::new(&mut standard),
                image::ImageFormat::Png,
            )
            .unwrap();
        assert!(decode(&standard).is_none());
        assert!(decode(&crushed[..crushed.len() / 2]).is_none());
        assert!(decode(b"CgBI crushed").is_none());
    }
}
