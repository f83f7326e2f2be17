//! HTTP plumbing every family shares (App Store Connect, App Store Server, admin, token
//! scopes): how a query string and a path segment are decoded, and how crabapple's own words
//! travel in a header. One copy here instead of one per family.
//!
//! `X-Crabapple-Reason` says in plain words why a request was refused. Header values must be
//! visible ASCII, so the reason is percent-encoded UTF-8 (RFC 3986 style): every byte outside
//! printable ASCII, and `%` itself, becomes `%XX`. Plain ASCII reasons read as they are; any
//! reason decodes losslessly with `decodeURIComponent` / `urllib.parse.unquote`.

pub mod faults;

use http::HeaderValue;
use percent_encoding::percent_decode_str;

/// A query-string component: `+` is a space (form encoding, as clients send it), then
/// percent-decoding. A scope entry's query is decoded the same way as the request's, so
/// `filter[name]=My+App` and `filter[name]=My%20App` match either way (issue 8).
pub fn decode_query_component(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A path segment: percent-decoding only (`+` is a literal plus in a path).
pub fn decode_path_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `a=1&b=x+y` → `[("a", "1"), ("b", "x y")]`, in order, empty pairs dropped.
pub fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    let Some(raw) = raw else { return Vec::new() };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_query_component(k), decode_query_component(v))
        })
        .collect()
}

/// The header that carries crabapple's explanation of a refusal. Apple's body never changes.
pub const REASON_HEADER: &str = "X-Crabapple-Reason";

/// At most this many bytes of an encoded reason are sent (a header line must stay short).
pub const MAX_REASON_BYTES: usize = 2000;

/// `text` percent-encoded for a header value (see the module comment), cut at
/// [`MAX_REASON_BYTES`] on a character boundary.
pub fn encode_header_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let start = out.len();
        if (' '..='~').contains(&ch) && ch != '%' {
            out.push(ch);
        } else {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        if out.len() > MAX_REASON_BYTES {
            out.truncate(start);
            break;
        }
    }
    out
}

/// The value of [`REASON_HEADER`] for `reason`.
pub fn reason_value(reason: &str) -> HeaderValue {
    HeaderValue::from_str(&encode_header_text(reason)).expect("visible ASCII is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_plus_as_space_paths_keep_it() {
        assert_eq!(
            parse_query(Some("filter[name]=My+App&x=%2B1&&flag")),
            vec![
                ("filter[name]".to_string(), "My App".to_string()),
                ("x".to_string(), "+1".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert_eq!(decode_path_segment("a+b%20c"), "a+b c");
    }

    #[test]
    fn ascii_reasons_are_unchanged() {
        assert_eq!(
            encode_header_text("scope \"GET /v1/apps\" (§1.4)"),
            "scope \"GET /v1/apps\" (%C2%A71.4)"
        );
        assert_eq!(encode_header_text("plain words"), "plain words");
    }

    #[test]
    fn non_ascii_and_controls_are_percent_encoded_losslessly() {
        let reason = "exp − iat is 1261 s → refused; name «Café» 100%\n\0";
        let enc = encode_header_text(reason);
        assert_eq!(
            enc,
            "exp %E2%88%92 iat is 1261 s %E2%86%92 refused; name %C2%ABCaf%C3%A9%C2%BB 100%25%0A%00"
        );
        assert!(reason_value(reason).to_str().is_ok());
        // Decoding gives the reason back.
        let mut bytes = Vec::new();
        let mut it = enc.bytes();
        while let Some(b) = it.next() {
            if b == b'%' {
                let hex = [it.next().unwrap(), it.next().unwrap()];
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            } else {
                bytes.push(b);
            }
        }
        assert_eq!(String::from_utf8(bytes).unwrap(), reason);
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let enc = encode_header_text(&"é".repeat(2000));
        assert!(enc.len() <= MAX_REASON_BYTES);
        assert_eq!(enc.len() % 6, 0);
    }
}
