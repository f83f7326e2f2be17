//! How a report file travels (reports-formats.md §1.1): a gzip member, `Content-Type:
//! application/a-gzip` with no parameters (Ponytech's client compares the string exactly),
//! `Content-Encoding: agzip` (a token HTTP stacks leave alone, so clients gunzip the body
//! themselves), `Content-Disposition: attachment;filename=<name>`, `x-reports-filename` and, for
//! Sales and Trends, `x-reports-download-version`. Error bodies stay JSON (the engine's).
//!
//! The gzip is deterministic — modification time 0, no file name in the header, compression
//! level 6, OS byte "unknown" — so the same ledger gives byte-identical files.

use crabapple_jsonapi::Reply;
use flate2::{Compression, GzBuilder};
use std::io::Write;

/// `text` as one deterministic gzip member.
pub fn gzip(text: &str) -> Vec<u8> {
    let mut enc = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::new(6));
    enc.write_all(text.as_bytes()).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// The 200 reply carrying report `text` as file `name` (served in `version` for Sales and
/// Trends; Finance files have no version header).
pub fn file_reply(name: &str, version: Option<&str>, text: &str) -> Reply {
    let mut headers = vec![
        ("Content-Encoding".to_string(), "agzip".to_string()),
        (
            "Content-Disposition".to_string(),
            format!("attachment;filename={name}"),
        ),
        ("x-reports-filename".to_string(), name.to_string()),
    ];
    if let Some(v) = version {
        headers.push(("x-reports-download-version".to_string(), v.to_string()));
    }
    Reply {
        status: 200,
        content_type: Some("application/a-gzip".into()),
        headers,
        body: gzip(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn s1_1_gzip_is_deterministic_and_carries_no_name_or_time() {
        let a = gzip("Provider\tUnits\nAPPLE\t1\n");
        assert_eq!(a, gzip("Provider\tUnits\nAPPLE\t1\n"));
        assert_eq!(
            &a[..4],
            &[0x1f, 0x8b, 8, 0],
            "magic, deflate, no FNAME flag"
        );
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime 0");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "Provider\tUnits\nAPPLE\t1\n");
    }

    #[test]
    fn s1_1_file_reply_headers() {
        let r = file_reply("S_D_1_20261205_V1_0.txt.gz", Some("1_0"), "x\n");
        assert_eq!(r.content_type.as_deref(), Some("application/a-gzip"));
        assert_eq!(
            r.headers,
            vec![
                ("Content-Encoding".into(), "agzip".into()),
                (
                    "Content-Disposition".into(),
                    "attachment;filename=S_D_1_20261205_V1_0.txt.gz".into()
                ),
                (
                    "x-reports-filename".into(),
                    "S_D_1_20261205_V1_0.txt.gz".into()
                ),
                ("x-reports-download-version".into(), "1_0".into()),
            ]
        );
    }
}
