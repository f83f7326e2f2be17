//! The inspector (issue 13, "The inspector"): web pages at `/crabapple/ui` on the server's own
//! listener showing what crabapple knows — the live request log, the virtual clock, notifications
//! and their delivery, commerce events, report files and analytics instances, armed faults, the
//! world's apps and keys. Server-rendered HTML with one hand-written stylesheet and script
//! embedded in the binary (no CDN, no third-party code); actions call the admin API.
//!
//! Access is the admin API's ([`crate::access`]): the page must be reached by one of the
//! listener's names and not from another site, and carry the admin token. A browser cannot send
//! the token header on navigation, so `POST /crabapple/ui/login` (a form; the token never goes
//! in a URL) answers a `HttpOnly; SameSite=Strict` session cookie holding a digest of the token,
//! which the inspector and the admin API accept like the token. With `--no-admin-token` (loopback
//! only) no login is needed.
//!
//! A world's inspector (issue 12, isolated worlds) is the same pages under the world's prefix,
//! `/crabapple/worlds/{id}/crabapple/ui`: the front takes the prefix off and names it in
//! [`PREFIX_HEADER`]; [`Base`] reads it, and every URL a page renders (links, form actions,
//! assets, the admin API paths the script calls), every redirect and the session cookie's
//! `Path` are built on it, so a world's pages never lead back to the default world's.
//!
//! This module owns the routing, the guard, login and logout, the page frame, [`Base`] and the
//! assets; each view is its own file.

mod clock;
mod commerce;
mod notifications;
mod reports;
pub mod requests;
mod world;

use crate::App;
use crate::access::{self, SESSION_COOKIE};
use crate::worlds::front::PREFIX_HEADER;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;

/// Where the inspector lives (in the default world; a world's is under its prefix, [`Base`]).
pub const BASE: &str = "/crabapple/ui";

/// Where this request's inspector and admin API are: `/crabapple/ui` and `/crabapple/admin` in
/// the default world, the same under `/crabapple/worlds/{id}` in a world. The prefix is the one
/// the front put in [`PREFIX_HEADER`] (it removes that header from every incoming request); a
/// value that is not a world's prefix is ignored, so nothing a client sends reaches the HTML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Base {
    /// `""` or `/crabapple/worlds/{id}`.
    prefix: String,
}

impl Base {
    /// The base of a request with `headers` (the default world's without a valid prefix).
    pub fn of(headers: &HeaderMap) -> Base {
        let prefix = headers
            .get(PREFIX_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|p| {
                p.strip_prefix(crate::worlds::PATH_PREFIX)
                    .is_some_and(crate::worlds::valid_id)
            })
            .unwrap_or_default();
        Base {
            prefix: prefix.to_string(),
        }
    }

    /// The inspector's page `path` (`""`, `/clock`, …).
    pub fn ui(&self, path: &str) -> String {
        format!("{}{BASE}{path}", self.prefix)
    }

    /// The admin API's `path` (`/clock/advance`, …).
    pub fn admin(&self, path: &str) -> String {
        format!("{}/crabapple/admin{path}", self.prefix)
    }

    /// The session cookie's `Path`: the inspector and the admin API of this world.
    fn cookie_path(&self) -> String {
        format!("{}/crabapple", self.prefix)
    }

    /// The world's id; `None` for the default world.
    fn world(&self) -> Option<&str> {
        self.prefix.strip_prefix(crate::worlds::PATH_PREFIX)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Base, Self::Rejection> {
        Ok(Base::of(&parts.headers))
    }
}

const CSS: &str = include_str!("assets/inspector.css");
const JS: &str = include_str!("assets/inspector.js");
const ICON: &str = include_str!("assets/icon.svg");

/// The views, in the order of the navigation: path under [`BASE`], title.
const NAV: &[(&str, &str)] = &[
    ("", "Requests"),
    ("/clock", "Clock"),
    ("/notifications", "Notifications"),
    ("/commerce", "Commerce events"),
    ("/reports", "Report files"),
    ("/analytics", "Analytics"),
    ("/faults", "Faults"),
    ("/world", "Apps, keys and roles"),
];

pub fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route(BASE, get(requests::page))
        .route(
            "/crabapple/ui/",
            get(|base: Base| async move { Redirect::to(&base.ui("")) }),
        )
        .route("/crabapple/ui/login", get(login_page).post(login))
        .route("/crabapple/ui/logout", axum::routing::post(logout))
        .route("/crabapple/ui/assets/inspector.css", get(css))
        .route("/crabapple/ui/assets/inspector.js", get(js))
        .route("/crabapple/ui/assets/icon.svg", get(icon))
        .route("/crabapple/ui/clock", get(clock::page))
        .route("/crabapple/ui/notifications", get(notifications::list))
        .route(
            "/crabapple/ui/notifications/{uuid}",
            get(notifications::one),
        )
        .route("/crabapple/ui/commerce", get(commerce::page))
        .route("/crabapple/ui/reports", get(reports::files))
        .route("/crabapple/ui/analytics", get(reports::analytics))
        .route("/crabapple/ui/faults", get(world::faults))
        .route("/crabapple/ui/world", get(world::page))
        .layer(axum::middleware::from_fn_with_state(app, guard))
        .merge(requests::routes())
}

/// Every inspector path: the admin API's Host and Origin rules; then, except for login, logout
/// and the assets, its token (header or session cookie). A refusal is a page saying why, with
/// the same words in `X-Crabapple-Reason`; a 401 page carries the login form.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let access = &app.config.admin;
    let path = req.uri().path();
    // Logging out only clears the cookie: no token needed.
    let open = path == "/crabapple/ui/login"
        || path == "/crabapple/ui/logout"
        || path.starts_with("/crabapple/ui/assets/");
    let refused = access::site_refusal(access, &req).or_else(|| {
        (!open)
            .then(|| access::token_refusal(access, req.headers()))
            .flatten()
    });
    match refused {
        Some((status, why)) => refusal_page(&Base::of(req.headers()), status, &why),
        None => next.run(req).await,
    }
}

fn refusal_page(base: &Base, status: StatusCode, why: &str) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED {
        login_form(base, Some(why))
    } else {
        format!(
            "<h1>Refused</h1><p role=\"alert\" id=\"refusal\">{}</p>",
            esc(why)
        )
    };
    let mut r = html(status, frame(base, "Inspector", None, &body));
    r.headers_mut().insert(
        crabapple_http::REASON_HEADER,
        crabapple_http::reason_value(why),
    );
    r
}

fn login_form(base: &Base, message: Option<&str>) -> String {
    let alert = message
        .map(|m| format!("<p role=\"alert\" id=\"refusal\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<h1>Log in to the inspector</h1>{alert}\
         <p>Paste the admin token: <code>crabapple admin-token</code> prints it (the data \
         directory's <code>admin-token</code> file). The browser keeps a session cookie for this \
         server; the token itself is not stored.</p>\
         <form method=\"post\" action=\"{login}\">\
         <label for=\"token\">Admin token</label> \
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required> \
         <button type=\"submit\">Log in</button></form>",
        login = base.ui("/login")
    )
}

async fn login_page(State(app): State<Arc<App>>, base: Base) -> Response {
    if app.config.admin.token.is_none() {
        return Redirect::to(&base.ui("")).into_response();
    }
    html(
        StatusCode::OK,
        frame(&base, "Log in", None, &login_form(&base, None)),
    )
}

/// `POST /crabapple/ui/login` with the form's `token`: a session cookie and the request log, or
/// the form again with 401. In a world, the cookie's `Path` and the redirect are the world's
/// (its admin token is the server's, so the same session value).
async fn login(State(app): State<Arc<App>>, base: Base, body: axum::body::Bytes) -> Response {
    let Some(token) = &app.config.admin.token else {
        return Redirect::to(&base.ui("")).into_response();
    };
    let form = crate::wire::parse_query(std::str::from_utf8(&body).ok());
    let given = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    if !access::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return refusal_page(
            &base,
            StatusCode::UNAUTHORIZED,
            "wrong admin token: use the one in the data directory's admin-token file (printed \
             by `crabapple admin-token`)",
        );
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path={}; HttpOnly; SameSite=Strict",
        access::session_value(token),
        base.cookie_path()
    );
    let mut r = Redirect::to(&base.ui("")).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(base: Base) -> Response {
    let mut r = Redirect::to(&base.ui("/login")).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path={}; HttpOnly; SameSite=Strict; Max-Age=0",
            base.cookie_path()
        ))
        .expect("ASCII"),
    );
    r
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// An HTML answer with the inspector's security headers: only its own script and style, no
/// framing (clickjacking), no referrer, not cached.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// A whole page: `<title>`, the navigation with `active` (a [`NAV`] path) marked, `main`; every
/// URL on `base`, which `<body data-admin-api>` gives the script for its admin API calls.
pub(crate) fn frame(base: &Base, title: &str, active: Option<&str>, main: &str) -> String {
    let nav: String = NAV
        .iter()
        .map(|(p, t)| {
            let current = if Some(*p) == active {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{}\"{current}>{t}</a></li>", base.ui(p))
        })
        .collect();
    let world = base
        .world()
        .map(|id| format!(" · world <code>{}</code>", esc(id)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — crabapple inspector</title>\
         <link rel=\"icon\" href=\"{ui}/assets/icon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{ui}/assets/inspector.css\">\
         <script src=\"{ui}/assets/inspector.js\" defer></script></head>\
         <body data-admin-api=\"{admin}\">\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><p class=\"brand\">crabapple inspector{world}</p>\
         <nav aria-label=\"Inspector views\"><ul>{nav}</ul></nav>\
         <form method=\"post\" action=\"{ui}/logout\"><button type=\"submit\">Log out</button></form>\
         </header><main id=\"main\">{main}</main></body></html>",
        esc(title),
        ui = base.ui(""),
        admin = base.admin(""),
    )
}

/// `s` for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Epoch milliseconds as an ISO 8601 UTC time (`2026-12-07T01:37:53.123Z`).
pub(crate) fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A `<time>` element for epoch milliseconds.
pub(crate) fn time_el(ms: i64) -> String {
    let t = time(ms);
    format!("<time datetime=\"{t}\">{t}</time>")
}

/// JSON, pretty, escaped, in a labelled `<pre>`.
pub(crate) fn json_block(id: &str, label: &str, v: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    format!(
        "<figure><figcaption id=\"{id}-label\">{}</figcaption>\
         <pre id=\"{id}\" aria-labelledby=\"{id}-label\" tabindex=\"0\">{}</pre></figure>",
        esc(label),
        esc(&text)
    )
}

/// A table with a caption, column headers and rows of already-escaped cells.
pub(crate) fn table(id: &str, caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let head: String = headers
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", esc(h)))
        .collect();
    let body: String = if rows.is_empty() {
        format!(
            "<tr><td colspan=\"{}\" class=\"empty\">none</td></tr>",
            headers.len()
        )
    } else {
        rows.iter()
            .map(|r| {
                format!(
                    "<tr>{}</tr>",
                    r.iter()
                        .map(|c| format!("<td>{c}</td>"))
                        .collect::<String>()
                )
            })
            .collect()
    };
    format!(
        "<table id=\"{id}\"><caption>{}</caption><thead><tr>{head}</tr></thead>\
         <tbody>{body}</tbody></table>",
        esc(caption)
    )
}

/// A page's answer when the store failed: 500 with the reason.
pub(crate) fn internal(base: &Base, e: anyhow::Error) -> Response {
    refusal_page(
        base,
        StatusCode::INTERNAL_SERVER_ERROR,
        &crabapple_store::error_reason(&e),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn times_are_iso_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_500), "1970-01-01T00:00:01.5Z");
    }
}
