//! The live request log (issue 13, "The inspector"): a bounded in-memory ring of the last
//! requests to Apple's APIs and the admin API, filled by [`record`] (a middleware), served as
//! JSON at `GET /crabapple/admin/requests` and as the inspector's first page.
//!
//! Each entry: method, path and query, the key id (the JWT header's `kid`, unverified), status,
//! Apple's error `code` (`errors[0].code` of App Store Connect, `errorCode` of the App Store
//! Server API, read from 4xx/5xx bodies only), the `X-Crabapple-Reason` (decoded), wall and
//! virtual time, duration. A 2xx body is never read or copied; texts are cut at
//! [`MAX_TEXT`] bytes, so the ring's memory is bounded by its capacity.

use crate::App;
use crate::wire::parse_query;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use crabapple_storekit::http::{Answer, Refusal};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Requests kept by default (`crabapple serve --request-log N`).
pub const DEFAULT_CAPACITY: usize = 1000;
/// Longest path, reason or code kept, in bytes (cut on a character boundary).
pub const MAX_TEXT: usize = 2048;
/// Error bodies larger than this are not parsed for their code.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// One request as the log keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Increasing from 1 for the life of the process (`?after=` polls for newer ones).
    pub seq: u64,
    pub method: String,
    /// Path and query as the client sent them.
    pub path: String,
    pub key_id: Option<String>,
    pub status: u16,
    /// Apple's error code of a 4xx/5xx answer (`NOT_AUTHORIZED`, `4040010`, …).
    pub code: Option<String>,
    /// `X-Crabapple-Reason`, decoded.
    pub reason: Option<String>,
    pub wall_ms: i64,
    pub virtual_ms: i64,
    pub duration_ms: f64,
}

/// The ring of the last requests.
pub struct RequestLog {
    inner: Mutex<Ring>,
}

struct Ring {
    capacity: usize,
    next_seq: u64,
    entries: VecDeque<Entry>,
}

/// What [`RequestLog::list`] keeps.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// `404`, or a class `4xx`.
    pub status: Option<String>,
    pub path_prefix: Option<String>,
    pub key_id: Option<String>,
    /// Only entries with a larger `seq`.
    pub after: Option<u64>,
    pub limit: Option<usize>,
}

impl Filter {
    /// From a query string: `status`, `path`, `key`, `after`, `limit`.
    pub fn from_query(q: Option<&str>) -> Filter {
        let mut f = Filter::default();
        for (k, v) in parse_query(q) {
            let v = Some(v).filter(|v| !v.is_empty());
            match k.as_str() {
                "status" => f.status = v,
                "path" => f.path_prefix = v,
                "key" => f.key_id = v,
                "after" => f.after = v.and_then(|v| v.parse().ok()),
                "limit" => f.limit = v.and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        f
    }

    fn keeps(&self, e: &Entry) -> bool {
        let status_ok = match self.status.as_deref() {
            None => true,
            Some(s) if s.len() == 3 && s.ends_with("xx") => {
                e.status / 100 == u16::from(s.as_bytes()[0].wrapping_sub(b'0'))
            }
            Some(s) => s.parse::<u16>().is_ok_and(|n| n == e.status),
        };
        status_ok
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| e.path.starts_with(p))
            && self
                .key_id
                .as_deref()
                .is_none_or(|k| e.key_id.as_deref() == Some(k))
            && self.after.is_none_or(|a| e.seq > a)
    }
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::new(DEFAULT_CAPACITY)
    }
}

impl RequestLog {
    pub fn new(capacity: usize) -> RequestLog {
        RequestLog {
            inner: Mutex::new(Ring {
                capacity: capacity.max(1),
                next_seq: 1,
                entries: VecDeque::new(),
            }),
        }
    }

    /// Keeps the last `capacity` requests from now on (the oldest go at once).
    pub fn set_capacity(&self, capacity: usize) {
        let mut r = self.inner.lock().expect("request log lock");
        r.capacity = capacity.max(1);
        while r.entries.len() > r.capacity {
            r.entries.pop_front();
        }
    }

    pub fn capacity(&self) -> usize {
        self.inner.lock().expect("request log lock").capacity
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("request log lock").entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `e` (its `seq` is assigned here), dropping the oldest entry when full.
    pub fn push(&self, mut e: Entry) -> u64 {
        let mut r = self.inner.lock().expect("request log lock");
        e.seq = r.next_seq;
        r.next_seq += 1;
        let oldest = if r.entries.len() >= r.capacity {
            r.entries.pop_front()
        } else {
            None
        };
        let seq = e.seq;
        r.entries.push_back(e);
        drop(r);
        // Freed outside the lock: the other worker thread may be waiting to log.
        drop(oldest);
        seq
    }

    /// Matching entries, newest first.
    pub fn list(&self, f: &Filter) -> Vec<Entry> {
        let r = self.inner.lock().expect("request log lock");
        r.entries
            .iter()
            .rev()
            .filter(|e| f.keeps(e))
            .take(f.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }
}

/// `s` cut to [`MAX_TEXT`] bytes on a character boundary.
fn bounded(s: &str) -> String {
    if s.len() <= MAX_TEXT {
        return s.to_string();
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Is `path` logged? Everything but the inspector's own pages and the log's own reader (a page
/// polling it would fill the ring with itself).
pub fn is_logged(path: &str) -> bool {
    !(path == "/crabapple/ui"
        || path.starts_with("/crabapple/ui/")
        || path == "/crabapple/admin/requests")
}

/// Apple's error code in an error body: App Store Connect's `errors[0].code`, the App Store
/// Server API's numeric `errorCode`.
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(c) = v.pointer("/errors/0/code").and_then(Value::as_str) {
        return Some(bounded(c));
    }
    match v.get("errorCode")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(bounded(s)),
        _ => None,
    }
}

/// The middleware: times the request and records it. Only a 4xx/5xx body of known, small
/// size is read (and put back); a 2xx answer streams through untouched.
pub async fn record<F, Fut>(app: &App, req: Request, next: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let path = req.uri().path();
    if !is_logged(path) {
        return next(req).await;
    }
    let started = std::time::Instant::now();
    let clock = &app.store().clock;
    let (wall_ms, virtual_ms) = (clock.wall_ms(), app.store().now_ms());
    let method = bounded(req.method().as_str());
    let path = bounded(req.uri().path_and_query().map_or(path, |p| p.as_str()));
    let key_id = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::token_kid)
        .map(|k| bounded(&k));
    let resp = next(req).await;
    let status = resp.status();
    let reason = resp
        .headers()
        .get(crabapple_http::REASON_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| bounded(&crabapple_http::decode_path_segment(v)));
    let small = axum::body::HttpBody::size_hint(resp.body())
        .exact()
        .is_some_and(|n| n <= MAX_ERROR_BODY);
    let (resp, code) = if (status.is_client_error() || status.is_server_error()) && small {
        let (parts, body) = resp.into_parts();
        match axum::body::to_bytes(body, MAX_ERROR_BODY as usize).await {
            Ok(bytes) => {
                let code = error_code(&bytes);
                (Response::from_parts(parts, Body::from(bytes)), code)
            }
            Err(_) => (Response::from_parts(parts, Body::empty()), None),
        }
    } else {
        (resp, None)
    };
    app.requests.push(Entry {
        seq: 0,
        method,
        path,
        key_id,
        status: status.as_u16(),
        code,
        reason,
        wall_ms,
        virtual_ms,
        // Microsecond precision: the JSON stays short.
        duration_ms: started.elapsed().as_micros() as f64 / 1000.0,
    });
    resp
}

/// `GET /crabapple/admin/requests?status=&path=&key=&after=&limit=`: `{"capacity", "data"}`,
/// newest first.
async fn list(State(app): State<Arc<App>>, uri: Uri) -> Answer {
    let f = Filter::from_query(uri.query());
    if let Some(s) = &f.status
        && !(s.parse::<u16>().is_ok()
            || (s.len() == 3 && s.ends_with("xx") && (b'1'..=b'5').contains(&s.as_bytes()[0])))
    {
        return Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            format!("status '{s}' is a status like 404 or a class like 4xx"),
        ));
    }
    Ok(Json(json!({
        "capacity": app.requests.capacity(),
        "data": app.requests.list(&f),
    }))
    .into_response())
}

/// The cells of one row of the log's table (the script builds the same from the JSON).
fn row(e: &Entry) -> Vec<String> {
    use super::{esc, time_el};
    let opt = |v: &Option<String>| v.as_deref().map(esc).unwrap_or_default();
    vec![
        time_el(e.wall_ms),
        time_el(e.virtual_ms),
        esc(&e.method),
        format!("<code>{}</code>", esc(&e.path)),
        opt(&e.key_id),
        format!("<span class=\"s{}\">{}</span>", e.status / 100, e.status),
        opt(&e.code),
        opt(&e.reason),
        format!("{:.1}", e.duration_ms),
    ]
}

/// `GET /crabapple/ui?status=&path=&key=`: the log with its filters; the script polls
/// `/crabapple/admin/requests?after=` and adds newer rows on top.
pub async fn page(State(app): State<Arc<App>>, base: super::Base, uri: Uri) -> Response {
    use super::esc;
    let mut f = Filter::from_query(uri.query());
    f.limit = Some(f.limit.unwrap_or(200));
    let list = app.requests.list(&f);
    let newest = app.requests.list(&Filter {
        limit: Some(1),
        ..Filter::default()
    });
    let after = newest.first().map_or(0, |e| e.seq);
    let field = |name: &str, label: &str, value: &Option<String>, hint: &str| {
        format!(
            "<p><label for=\"f-{name}\">{label}</label> <input id=\"f-{name}\" name=\"{name}\" \
             value=\"{}\" placeholder=\"{hint}\"></p>",
            esc(value.as_deref().unwrap_or_default())
        )
    };
    let mut query = Vec::new();
    for (k, v) in [
        ("status", &f.status),
        ("path", &f.path_prefix),
        ("key", &f.key_id),
    ] {
        if let Some(v) = v {
            query.push(format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            ));
        }
    }
    let rows: Vec<Vec<String>> = list.iter().map(row).collect();
    let main = format!(
        "<h1>Requests</h1>\
         <p>The last {cap} requests to Apple's APIs and the admin API, newest first \
         (<code>GET /crabapple/admin/requests</code> as JSON). The reason is crabapple's \
         <code>X-Crabapple-Reason</code>.</p>\
         <form method=\"get\" action=\"{base}\" class=\"filters\" aria-label=\"Filter requests\">\
         {status}{path}{key}<p><button type=\"submit\">Filter</button> <a href=\"{base}\">Clear</a></p></form>\
         <p id=\"log-status\" role=\"status\" aria-live=\"polite\"></p>\
         <div id=\"request-log-wrap\" data-after=\"{after}\" data-query=\"{q}\">{table}</div>",
        cap = app.requests.capacity(),
        base = base.ui(""),
        status = field("status", "Status", &f.status, "404 or 4xx"),
        path = field("path", "Path starts with", &f.path_prefix, "/v1/apps"),
        key = field("key", "Key ID", &f.key_id, "2X9R4HXF34"),
        q = esc(&query.join("&")),
        table = super::table(
            "request-log",
            "Requests, newest first",
            &[
                "Time",
                "Virtual time",
                "Method",
                "Path",
                "Key",
                "Status",
                "Code",
                "Reason",
                "ms"
            ],
            &rows,
        ),
    );
    super::html(
        StatusCode::OK,
        super::frame(&base, "Requests", Some(""), &main),
    )
}

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/crabapple/admin/requests", axum::routing::get(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16, path: &str, key: Option<&str>) -> Entry {
        Entry {
            seq: 0,
            method: "GET".into(),
            path: path.into(),
            key_id: key.map(str::to_string),
            status,
            code: None,
            reason: None,
            wall_ms: 0,
            virtual_ms: 0,
            duration_ms: 0.0,
        }
    }

    #[test]
    fn the_ring_never_holds_more_than_its_capacity_and_keeps_the_newest() {
        let log = RequestLog::new(1000);
        for i in 0..5000 {
            log.push(entry(200, &format!("/v1/apps/{i}"), None));
            assert!(log.len() <= 1000);
        }
        assert_eq!(log.len(), 1000);
        let all = log.list(&Filter::default());
        assert_eq!(all.len(), 1000);
        assert_eq!(all[0].seq, 5000);
        assert_eq!(all[0].path, "/v1/apps/4999");
        assert_eq!(all[999].seq, 4001);
        // A smaller setting drops the oldest at once.
        log.set_capacity(10);
        assert_eq!(log.len(), 10);
        assert_eq!(log.list(&Filter::default())[9].seq, 4991);
    }

    #[test]
    fn texts_are_bounded_so_memory_is_capacity_times_a_constant() {
        let long = "é".repeat(MAX_TEXT);
        let b = bounded(&long);
        assert!(b.len() <= MAX_TEXT && b.len() >= MAX_TEXT - 1);
        assert_eq!(bounded("/v1/apps"), "/v1/apps");
    }

    #[test]
    fn filters_by_status_class_path_prefix_key_and_after() {
        let log = RequestLog::new(10);
        log.push(entry(200, "/v1/apps", Some("K1")));
        log.push(entry(401, "/v1/apps", None));
        log.push(entry(404, "/inApps/v1/history/1", Some("K2")));
        log.push(entry(200, "/crabapple/admin/status", None));
        let q = |s: &str| {
            log.list(&Filter::from_query(Some(s)))
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(q("status=4xx"), [3, 2]);
        assert_eq!(q("status=404"), [3]);
        assert_eq!(q("path=/v1/"), [2, 1]);
        assert_eq!(q("key=K2"), [3]);
        assert_eq!(q("after=2"), [4, 3]);
        assert_eq!(q("limit=1"), [4]);
        assert_eq!(q("status=&path="), [4, 3, 2, 1]);
    }

    #[test]
    fn apple_error_codes_of_both_apis() {
        assert_eq!(
            error_code(br#"{"errors":[{"status":"401","code":"NOT_AUTHORIZED"}]}"#).as_deref(),
            Some("NOT_AUTHORIZED")
        );
        assert_eq!(
            error_code(br#"{"errorCode":4040010,"errorMessage":"x"}"#).as_deref(),
            Some("4040010")
        );
        assert_eq!(error_code(br#"{"error":"admin"}"#), None);
        assert_eq!(error_code(b""), None);
    }

    #[test]
    fn the_inspector_and_the_logs_reader_are_not_logged() {
        assert!(is_logged("/v1/apps"));
        assert!(is_logged("/crabapple/admin/status"));
        assert!(!is_logged("/crabapple/ui"));
        assert!(!is_logged("/crabapple/ui/requests"));
        assert!(!is_logged("/crabapple/admin/requests"));
    }
}
