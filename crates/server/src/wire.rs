//! Small pieces of HTTP: query strings, the base URL links are built on, replies.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use crabapple_jsonapi::{AscError, Reply};

/// Splits and percent-decodes a query string (`+` is a space, as HTML forms and `requests` send).
pub use crabapple_http::parse_query;

/// `scheme://host` the client used (or the configured public URL), followed by the world's path
/// prefix when the request was handed to a world (`crate::worlds::front::PREFIX_HEADER`).
pub fn base_url(headers: &HeaderMap, public_url: Option<&str>) -> String {
    let prefix = headers
        .get(crate::worlds::front::PREFIX_HEADER)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    format!("{}{prefix}", host_url(headers, public_url))
}

/// `scheme://host` the client used (or the configured public URL).
pub(crate) fn host_url(headers: &HeaderMap, public_url: Option<&str>) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get("host"))
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8686");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Turns an engine reply into an HTTP response with `extra` headers.
pub fn reply(r: Reply, extra: &[(String, String)]) -> Response<Body> {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    if let Some(ct) = r.content_type
        && let Ok(v) = HeaderValue::from_str(&ct)
    {
        h.insert("content-type", v);
    }
    append_headers(h, &r.headers);
    append_headers(h, extra);
    resp
}

/// Appends `headers` (names and values that are not valid HTTP are left out).
pub fn append_headers(h: &mut axum::http::HeaderMap, headers: &[(String, String)]) {
    for (k, v) in headers {
        if let (Ok(name), Ok(val)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(name, val);
        }
    }
}

/// Apple's error document, with `X-Crabapple-Reason` (406 is plain text, as Apple sends it).
pub fn error(e: AscError, extra: &[(String, String)]) -> Response<Body> {
    let mut headers = e.headers.clone();
    headers.push((
        crabapple_http::REASON_HEADER.into(),
        crabapple_http::encode_header_text(&e.reason),
    ));
    let (ct, body) = if e.status == 406 {
        (
            "text/plain".to_string(),
            e.detail.clone().unwrap_or_default().into_bytes(),
        )
    } else {
        (
            "application/json".to_string(),
            serde_json::to_vec(&e.body()).unwrap_or_default(),
        )
    };
    reply(
        Reply {
            status: e.status,
            content_type: Some(ct),
            headers,
            body,
        },
        extra,
    )
}
