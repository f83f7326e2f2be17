//! Who may use crabapple's admin API (`/crabapple/admin/…`, issue 8 "The admin API and secrets").
//! Apple's own APIs need a signed JWT, which no web page and no stranger has; the admin API mints
//! keys, resets the world and points notifications anywhere, so every request to it passes, in
//! order:
//!
//! 1. **Host** — the `Host` (or HTTP/2 `:authority`) names this listener: a loopback name, the
//!    listener's address, `--public-url`'s host or an `--allow-host` name. A page that rebinds its
//!    own DNS name to 127.0.0.1 sends its own name and is refused (403).
//! 2. **Origin** — a browser's cross-site request (`Origin` naming another host, or
//!    `Sec-Fetch-Site: cross-site`) is refused (403), so a page cannot post to the admin API even
//!    where no token is required.
//! 3. **Token** — `X-Crabapple-Admin-Token: <token>` (or `Authorization: Bearer <token>`) equal to
//!    the admin token: printed by `crabapple serve`, kept in `DATA/admin-token` (0600) where the
//!    CLI and the test suites read it. Missing or wrong: 401. `--no-admin-token` turns this off,
//!    for a loopback listener only (the binary refuses it on any other address). A browser,
//!    which cannot send a header on navigation, logs in to the inspector once
//!    ([`crate::ui`]): its `HttpOnly; SameSite=Strict` cookie [`SESSION_COOKIE`] holds
//!    [`session_value`] of the token (a digest, never the token) and counts as the token.
//! 4. **Content type** — a request with a body sends `Content-Type: application/json` (415
//!    otherwise): a cross-site `text/plain` form post, which browsers send without asking, is
//!    never read as a command.
//!
//! Refusals are the admin API's `{"error": message}` with the reason header, like its other errors.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use crabapple_storekit::http::Refusal;
use std::path::Path;

/// The header that carries the admin token.
pub const TOKEN_HEADER: &str = "x-crabapple-admin-token";
/// The admin token's file in the data directory.
pub const TOKEN_FILE: &str = "admin-token";
/// The inspector's session cookie ([`session_value`] of the admin token).
pub const SESSION_COOKIE: &str = "crabapple_session";

/// The session cookie's value for `token`: SHA-256 of a fixed label and the token, hex. A
/// cookie that leaks (a browser profile copied) is not the token itself.
pub fn session_value(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("crabapple inspector session\0{token}").as_bytes(),
    );
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of cookie `name` in a request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// How the admin API is guarded.
#[derive(Debug, Clone, Default)]
pub struct AdminAccess {
    /// The token every admin request must carry; `None` when the user opted out.
    pub token: Option<String>,
    /// Host names (lower case, without port or brackets) admin requests may name; `None`
    /// accepts any (an in-process router with no listener, as the Rust tests drive it).
    pub hosts: Option<Vec<String>>,
}

impl AdminAccess {
    /// The names a listener on `listen` answers to: loopback names, the listener's own address
    /// (unless it is a wildcard), `public_url`'s host and `extra` (`--allow-host`).
    pub fn listener_hosts(
        listen: std::net::SocketAddr,
        public_url: Option<&str>,
        extra: &[String],
    ) -> Vec<String> {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|h| h.to_string())
            .collect();
        if !listen.ip().is_unspecified() {
            hosts.push(listen.ip().to_string());
        }
        if let Some(h) = public_url.and_then(url_host) {
            hosts.push(h);
        }
        hosts.extend(extra.iter().map(|h| bare_host(h)));
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// The admin token of `data_dir`: read from its `admin-token` file, or created there (32 random
/// bytes, hex, 0600) on first use.
pub fn load_or_create_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    let empty = match token_written(&path)? {
        Written::Token(t) => return Ok(t),
        Written::Empty => true,
        Written::Missing => false,
    };
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // An empty file left by a crash is replaced; a file another process just created wins.
    if empty {
        let _ = std::fs::remove_file(&path);
    }
    match crabapple_store::files::write_secret(&path, format!("{token}\n").as_bytes()) {
        Ok(()) => Ok(token),
        // Another process created it between the look above and this write: its token, once
        // written (read at once, a replica starting beside it failed on the empty file).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match token_written(&path)? {
            Written::Token(t) => Ok(t),
            _ => Err(anyhow::anyhow!("{} stays empty: remove it", path.display())),
        },
        Err(e) => Err(anyhow::anyhow!("writing {}: {e}", path.display())),
    }
}

/// What an admin token file holds.
enum Written {
    Token(String),
    /// Still empty after two seconds: a crash's leftover.
    Empty,
    Missing,
}

/// The token file at `path`. An empty file may be another process's being written right now
/// (replicas starting at once on one data directory): it gets two seconds to fill.
fn token_written(path: &Path) -> anyhow::Result<Written> {
    for _ in 0..20 {
        match std::fs::read_to_string(path) {
            Ok(t) if !t.trim().is_empty() => return Ok(Written::Token(t.trim().to_string())),
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Written::Missing),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        }
    }
    Ok(Written::Empty)
}

/// The admin token of `data_dir` if it has one (for the CLI and tests).
pub fn read_token(data_dir: &Path) -> Option<String> {
    let t = std::fs::read_to_string(data_dir.join(TOKEN_FILE)).ok()?;
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `host[:port]` or `[v6]:port` → the host, lower case, without brackets.
fn bare_host(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if a.matches(':').count() > 1 {
        a // a bare IPv6 address
    } else {
        a.split(':').next().unwrap_or(a)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The host of an absolute URL (`scheme://host[:port]/…`).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    (!authority.is_empty()).then(|| bare_host(authority))
}

/// Is `path` the admin API's?
pub fn is_admin_path(path: &str) -> bool {
    path == "/crabapple/admin" || path.starts_with("/crabapple/admin/")
}

/// The request's host: HTTP/2's `:authority` (in the URI) or HTTP/1.1's `Host`.
fn request_host(req: &Request) -> Option<String> {
    if let Some(a) = req.uri().authority() {
        return Some(bare_host(a.as_str()));
    }
    let h = req.headers().get(header::HOST)?.to_str().ok()?;
    Some(bare_host(h))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The token a request carries, if any.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(t) = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(t.trim());
    }
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn has_body(req: &Request) -> bool {
    let h = req.headers();
    let length = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => {
            h.contains_key(header::TRANSFER_ENCODING)
                || axum::body::HttpBody::size_hint(req.body())
                    .exact()
                    .is_none_or(|n| n > 0)
        }
    }
}

/// Why `req` may not use the admin API, if it may not.
pub(crate) fn refusal(access: &AdminAccess, req: &Request) -> Option<(StatusCode, String)> {
    site_refusal(access, req)
        .or_else(|| token_refusal(access, req.headers()))
        .or_else(|| content_refusal(req))
}

/// Rules 1 and 2: the request names this listener and does not come from another site's page.
pub(crate) fn site_refusal(access: &AdminAccess, req: &Request) -> Option<(StatusCode, String)> {
    let host = request_host(req);
    if let Some(allowed) = &access.hosts {
        let ok = host
            .as_deref()
            .is_some_and(|h| allowed.iter().any(|a| a == h));
        if !ok {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "the admin API answers only to this listener's names ({}); Host '{}' is \
                     not one of them (a DNS rebinding page, or a name to add with --allow-host)",
                    allowed.join(", "),
                    host.unwrap_or_default()
                ),
            ));
        }
    }
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != "null"
    {
        let origin_host = url_host(origin);
        let same = match (&access.hosts, &origin_host) {
            (Some(allowed), Some(o)) => allowed.iter().any(|a| a == o),
            (None, Some(o)) => host.as_deref() == Some(o.as_str()),
            _ => false,
        };
        if !same {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "cross-origin request refused: the admin API does not serve web pages of \
                     other sites (Origin '{origin}')"
                ),
            ));
        }
    }
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Some((
            StatusCode::FORBIDDEN,
            "cross-site request refused: the admin API does not serve web pages of other sites"
                .to_string(),
        ));
    }
    None
}

/// Rule 3: the token, in its header or as the inspector's session cookie.
pub(crate) fn token_refusal(
    access: &AdminAccess,
    headers: &HeaderMap,
) -> Option<(StatusCode, String)> {
    if let Some(token) = &access.token {
        if presented_token(headers).is_none()
            && let Some(c) = cookie(headers, SESSION_COOKIE)
        {
            if constant_time_eq(c.as_bytes(), session_value(token).as_bytes()) {
                return None;
            }
            // The login page of this world's inspector (a world's is under its prefix).
            return Some((
                StatusCode::UNAUTHORIZED,
                format!(
                    "the inspector's session is not valid for this server's admin token (the \
                     token changed, or another data directory's): log in again at {}",
                    crate::ui::Base::of(headers).ui("/login")
                ),
            ));
        }
        match presented_token(headers) {
            None => {
                return Some((
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "the admin API needs its token: send '{TOKEN_HEADER}: <token>' (printed \
                         by `crabapple serve`, kept in the data directory's {TOKEN_FILE} file)"
                    ),
                ));
            }
            Some(t) if !constant_time_eq(t.as_bytes(), token.as_bytes()) => {
                return Some((
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "wrong admin token: use the one in the data directory's {TOKEN_FILE} \
                         file (printed by `crabapple serve`)"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Rule 4: bodies are JSON.
fn content_refusal(req: &Request) -> Option<(StatusCode, String)> {
    let headers = req.headers();
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if writes && has_body(req) {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the admin API reads JSON bodies only: send 'Content-Type: application/json'"
                    .to_string(),
            ));
        }
    }
    None
}

/// Before every request: an admin path that fails [`refusal`]'s checks is refused here; every
/// other request goes on (`None`).
pub fn refused(app: &crate::App, req: &Request) -> Option<Response> {
    if is_admin_path(req.uri().path())
        && let Some((status, message)) = refusal(&app.config.admin, req)
    {
        return Some(Refusal::admin(status, message).into_response());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_port_brackets_or_case() {
        assert_eq!(bare_host("LocalHost:8686"), "localhost");
        assert_eq!(bare_host("[::1]:8686"), "::1");
        assert_eq!(bare_host("::1"), "::1");
        assert_eq!(bare_host("example.com."), "example.com");
        assert_eq!(
            url_host("https://u@Ex.example:443/x?y").as_deref(),
            Some("ex.example")
        );
        assert_eq!(url_host("null"), None);
    }

    #[test]
    fn a_wildcard_listener_names_only_loopback_and_what_the_user_adds() {
        let any: std::net::SocketAddr = "0.0.0.0:8686".parse().unwrap();
        assert_eq!(
            AdminAccess::listener_hosts(any, Some("http://ci.internal:9000"), &["Box:1".into()]),
            ["127.0.0.1", "::1", "box", "ci.internal", "localhost"]
        );
        let lan: std::net::SocketAddr = "192.168.1.5:8686".parse().unwrap();
        assert!(AdminAccess::listener_hosts(lan, None, &[]).contains(&"192.168.1.5".into()));
    }
}
