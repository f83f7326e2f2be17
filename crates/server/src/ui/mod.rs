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
//! This module owns the routing, the guard, login and logout, the page frame and the assets;
//! each view is its own file.

mod clock;
mod commerce;
mod notifications;
mod reports;
pub mod requests;
mod world;

use crate::App;
use crate::access::{self, SESSION_COOKIE};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;

/// Where the inspector lives.
pub const BASE: &str = "/crabapple/ui";

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
        .route("/crabapple/ui/", get(|| async { Redirect::to(BASE) }))
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
        Some((status, why)) => refusal_page(status, &why),
        None => next.run(req).await,
    }
}

fn refusal_page(status: StatusCode, why: &str) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED {
        login_form(Some(why))
    } else {
        format!(
            "<h1>Refused</h1><p role=\"alert\" id=\"refusal\">{}</p>",
            esc(why)
        )
    };
    let mut r = html(status, frame("Inspector", None, &body));
    r.headers_mut().insert(
        crabapple_http::REASON_HEADER,
        crabapple_http::reason_value(why),
    );
    r
}

fn login_form(message: Option<&str>) -> String {
    let alert = message
        .map(|m| format!("<p role=\"alert\" id=\"refusal\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "<h1>Log in to the inspector</h1>{alert}\
         <p>Paste the admin token: <code>crabapple admin-token</code> prints it (the data \
         directory's <code>admin-token</code> file). The browser keeps a session cookie for this \
         server; the token itself is not stored.</p>\
         <form method=\"post\" action=\"/crabapple/ui/login\">\
         <label for=\"token\">Admin token</label> \
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required> \
         <button type=\"submit\">Log in</button></form>"
    )
}

async fn login_page(State(app): State<Arc<App>>) -> Response {
    if app.config.admin.token.is_none() {
        return Redirect::to(BASE).into_response();
    }
    html(StatusCode::OK, frame("Log in", None, &login_form(None)))
}

/// `POST /crabapple/ui/login` with the form's `token`: a session cookie and the request log, or
/// the form again with 401.
async fn login(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let Some(token) = &app.config.admin.token else {
        return Redirect::to(BASE).into_response();
    };
    let form = crate::wire::parse_query(std::str::from_utf8(&body).ok());
    let given = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim())
        .unwrap_or_default();
    if !access::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        return refusal_page(
            StatusCode::UNAUTHORIZED,
            "wrong admin token: use the one in the data directory's admin-token file (printed \
             by `crabapple admin-token`)",
        );
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/crabapple; HttpOnly; SameSite=Strict",
        access::session_value(token)
    );
    let mut r = Redirect::to(BASE).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout() -> Response {
    let mut r = Redirect::to("/crabapple/ui/login").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/crabapple; HttpOnly; SameSite=Strict; Max-Age=0"
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

/// A whole page: `<title>`, the navigation with `active` (a [`NAV`] path) marked, `main`.
pub(crate) fn frame(title: &str, active: Option<&str>, main: &str) -> String {
    let nav: String = NAV
        .iter()
        .map(|(p, t)| {
            let current = if Some(*p) == active {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<li><a href=\"{BASE}{p}\"{current}>{t}</a></li>")
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — crabapple inspector</title>\
         <link rel=\"icon\" href=\"{BASE}/assets/icon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"{BASE}/assets/inspector.css\">\
         <script src=\"{BASE}/assets/inspector.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><p class=\"brand\">crabapple inspector</p>\
         <nav aria-label=\"Inspector views\"><ul>{nav}</ul></nav>\
         <form method=\"post\" action=\"{BASE}/logout\"><button type=\"submit\">Log out</button></form>\
         </header><main id=\"main\">{main}</main></body></html>",
        esc(title)
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
pub(crate) fn internal(e: anyhow::Error) -> Response {
    refusal_page(
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
