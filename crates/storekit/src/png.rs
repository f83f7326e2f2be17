//! A small PNG reader for the Retention Messaging API's image rules: it walks the chunks
//! (checking every CRC), reads `IHDR`, inflates the `IDAT` stream and checks that it holds
//! exactly the scanlines `IHDR` promises, so a truncated or corrupt file is refused the way an
//! image decoder would refuse it. It reports the size and whether the image can be
//! transparent (an alpha channel, or a `tRNS` chunk), which is what Upload Image checks.
//! (PNG: ISO/IEC 15948 / W3C PNG specification.)

use std::io::Read;

use flate2::Crc;
use flate2::read::ZlibDecoder;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// What Upload Image needs to know about a PNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngInfo {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    /// 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGB + alpha.
    pub color_type: u8,
    pub interlaced: bool,
    /// An alpha channel (colour type 4 or 6) or a `tRNS` chunk.
    pub has_transparency: bool,
}

/// Why bytes are not a usable PNG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PngError(pub String);

fn bad(s: impl Into<String>) -> PngError {
    PngError(s.into())
}

/// Channels per colour type, or `None` for an invalid colour type / bit depth pair.
fn channels(color_type: u8, bit_depth: u8) -> Option<u32> {
    let (n, depths): (u32, &[u8]) = match color_type {
        0 => (1, &[1, 2, 4, 8, 16]),
        2 => (3, &[8, 16]),
        3 => (1, &[1, 2, 4, 8]),
        4 => (2, &[8, 16]),
        6 => (4, &[8, 16]),
        _ => return None,
    };
    depths.contains(&bit_depth).then_some(n)
}

/// Bytes of one filtered scanline of `width` pixels (the filter byte included).
fn row_bytes(width: u64, bits_per_pixel: u64) -> u64 {
    1 + (width * bits_per_pixel).div_ceil(8)
}

/// Size of the decompressed image data: every scanline of every Adam7 pass when interlaced.
fn expected_len(width: u32, height: u32, bits_per_pixel: u64, interlaced: bool) -> u64 {
    let (w, h) = (u64::from(width), u64::from(height));
    if !interlaced {
        return h * row_bytes(w, bits_per_pixel);
    }
    // Adam7: (x start, y start, x step, y step) per pass.
    const PASSES: [(u64, u64, u64, u64); 7] = [
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ];
    PASSES
        .iter()
        .map(|&(x0, y0, dx, dy)| {
            let pw = w.saturating_sub(x0).div_ceil(dx);
            let ph = h.saturating_sub(y0).div_ceil(dy);
            if pw == 0 || ph == 0 {
                0
            } else {
                ph * row_bytes(pw, bits_per_pixel)
            }
        })
        .sum()
}

/// Reads and checks a PNG.
pub fn inspect(bytes: &[u8]) -> Result<PngInfo, PngError> {
    let rest = bytes
        .strip_prefix(&SIGNATURE)
        .ok_or_else(|| bad("not a PNG file (no PNG signature)"))?;
    let mut pos = 0usize;
    let mut header: Option<PngInfo> = None;
    let mut idat: Vec<u8> = Vec::new();
    let mut idat_done = false;
    let mut ended = false;
    while pos < rest.len() {
        if ended {
            return Err(bad("data after IEND"));
        }
        let head = rest
            .get(pos..pos + 8)
            .ok_or_else(|| bad("truncated chunk header"))?;
        let len = u32::from_be_bytes(head[0..4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
        let data = rest
            .get(pos + 8..pos + 8 + len)
            .ok_or_else(|| bad("truncated chunk"))?;
        let crc_bytes = rest
            .get(pos + 8 + len..pos + 12 + len)
            .ok_or_else(|| bad("truncated chunk CRC"))?;
        let mut crc = Crc::new();
        crc.update(&kind);
        crc.update(data);
        if crc.sum() != u32::from_be_bytes(crc_bytes.try_into().expect("4 bytes")) {
            return Err(bad(format!(
                "CRC mismatch in {} chunk",
                String::from_utf8_lossy(&kind)
            )));
        }
        pos += 12 + len;
        match &kind {
            b"IHDR" => {
                if header.is_some() || pos != 25 || len != 13 {
                    return Err(bad("IHDR must be the first chunk, 13 bytes long"));
                }
                let width = u32::from_be_bytes(data[0..4].try_into().expect("4 bytes"));
                let height = u32::from_be_bytes(data[4..8].try_into().expect("4 bytes"));
                let (bit_depth, color_type) = (data[8], data[9]);
                if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32
                {
                    return Err(bad("IHDR width and height must be 1 to 2^31-1"));
                }
                if channels(color_type, bit_depth).is_none() {
                    return Err(bad(format!(
                        "invalid colour type {color_type} with bit depth {bit_depth}"
                    )));
                }
                if data[10] != 0 || data[11] != 0 || data[12] > 1 {
                    return Err(bad("invalid compression, filter or interlace method"));
                }
                header = Some(PngInfo {
                    width,
                    height,
                    bit_depth,
                    color_type,
                    interlaced: data[12] == 1,
                    has_transparency: matches!(color_type, 4 | 6),
                });
            }
            _ if header.is_none() => return Err(bad("the first chunk is not IHDR")),
            b"IDAT" => {
                if idat_done {
                    return Err(bad("IDAT chunks are not consecutive"));
                }
                idat.extend_from_slice(data);
            }
            b"IEND" => ended = true,
            other => {
                if !idat.is_empty() {
                    idat_done = true;
                }
                if other == b"tRNS"
                    && let Some(h) = header.as_mut()
                {
                    h.has_transparency = true;
                }
                // An unknown critical chunk (upper-case first letter): a decoder must refuse it.
                if other[0].is_ascii_uppercase() && other != b"PLTE" {
                    return Err(bad(format!(
                        "unknown critical chunk {}",
                        String::from_utf8_lossy(other)
                    )));
                }
            }
        }
    }
    let info = header.ok_or_else(|| bad("no IHDR chunk"))?;
    if !ended {
        return Err(bad("no IEND chunk (truncated file)"));
    }
    if idat.is_empty() {
        return Err(bad("no image data (IDAT)"));
    }
    let bpp = u64::from(channels(info.color_type, info.bit_depth).expect("checked"))
        * u64::from(info.bit_depth);
    let want = expected_len(info.width, info.height, bpp, info.interlaced);
    check_scanlines(
        &idat,
        want,
        (!info.interlaced).then(|| row_bytes(u64::from(info.width), bpp)),
    )?;
    Ok(info)
}

/// Inflates the zlib stream and checks it holds exactly `want` bytes; with `row` (not
/// interlaced), every scanline's filter type must be 0–4.
fn check_scanlines(idat: &[u8], want: u64, row: Option<u64>) -> Result<(), PngError> {
    let mut z = ZlibDecoder::new(idat).take(want + 1);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got: u64 = 0;
    loop {
        let n = z
            .read(&mut buf)
            .map_err(|e| bad(format!("image data does not inflate: {e}")))?;
        if n == 0 {
            break;
        }
        if let Some(row) = row {
            // Offsets of filter bytes within this block.
            let mut next = got.div_ceil(row) * row;
            while next < got + n as u64 {
                if buf[(next - got) as usize] > 4 {
                    return Err(bad(format!(
                        "invalid filter type in scanline {}",
                        next / row
                    )));
                }
                next += row;
            }
        }
        got += n as u64;
    }
    if got != want {
        return Err(bad(format!(
            "image data holds {got} bytes; IHDR needs {want}"
        )));
    }
    Ok(())
}

/// Writes a PNG (no interlace, filter 0 on every row) — for tests and fixtures.
/// `color_type` 2 (RGB) or 6 (RGBA), 8 bits; pixels are one colour.
pub fn encode_solid(width: u32, height: u32, color_type: u8, rgba: [u8; 4]) -> Vec<u8> {
    use std::io::Write;
    let px: &[u8] = if color_type == 6 { &rgba } else { &rgba[..3] };
    // One scanline: filter type 0, then the pixels; every row is the same.
    let row: Vec<u8> = std::iter::once(0)
        .chain(px.iter().copied().cycle().take(width as usize * px.len()))
        .collect();
    let raw = row.repeat(height as usize);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&raw).expect("in-memory write");
    let idat = z.finish().expect("in-memory write");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, color_type, 0, 0, 0]);
    let mut out = SIGNATURE.to_vec();
    for (kind, data) in [
        (b"IHDR", &ihdr[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        push_chunk(&mut out, kind, data);
    }
    out
}

/// Appends one chunk (length, type, data, CRC).
pub fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_size_and_alpha() {
        let rgb = inspect(&encode_solid(40, 16, 2, [1, 2, 3, 255])).unwrap();
        assert_eq!(
            (rgb.width, rgb.height, rgb.has_transparency),
            (40, 16, false)
        );
        let rgba = inspect(&encode_solid(8, 8, 6, [1, 2, 3, 255])).unwrap();
        assert!(rgba.has_transparency);
    }

    #[test]
    fn trns_chunk_means_transparency() {
        let png = encode_solid(4, 4, 2, [0; 4]);
        // Insert tRNS after IHDR (8 signature + 25 IHDR chunk bytes).
        let mut out = png[..33].to_vec();
        push_chunk(&mut out, b"tRNS", &[0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&png[33..]);
        assert!(inspect(&out).unwrap().has_transparency);
    }

    #[test]
    fn refuses_corrupt_files() {
        let png = encode_solid(16, 16, 2, [9, 9, 9, 0]);
        assert!(inspect(b"GIF89a").is_err());
        assert!(inspect(&png[..png.len() - 12]).is_err(), "no IEND");
        let mut flipped = png.clone();
        flipped[40] ^= 0xff;
        assert!(inspect(&flipped).is_err(), "CRC");
        // IHDR claims a taller image than the data holds.
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&16u32.to_be_bytes());
        ihdr.extend_from_slice(&17u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut lying = SIGNATURE.to_vec();
        push_chunk(&mut lying, b"IHDR", &ihdr);
        lying.extend_from_slice(&png[33..]);
        let e = inspect(&lying).unwrap_err();
        assert!(e.0.contains("IHDR needs"), "{e}");
    }

    #[test]
    fn interlaced_size_counts_every_pass() {
        // 1×1: only pass 1 has a pixel.
        assert_eq!(expected_len(1, 1, 24, true), 4);
        // 8×8 grey: passes of 1×1, 1×1, 2×1, 2×2, 4×2, 4×4, 8×4 pixels, each row + filter byte.
        assert_eq!(expected_len(8, 8, 8, true), 2 + 2 + 3 + 6 + 10 + 20 + 36);
    }
}
