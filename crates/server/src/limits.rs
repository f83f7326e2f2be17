//! Hostile or careless requests (issue 8): how big a request may be — 431 for a header line,
//! 413 for a body, each route its own body limit — answered in the shape of the API the path
//! belongs to; and the listener's defences against slow clients: a header-read timeout, a cap
//! on concurrent connections per peer IP, and the process's file-descriptor limit raised to
//! its hard limit.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use crabapple_jsonapi::AscError;
use crabapple_storekit::http::Refusal;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest header line (name, `: ` and value) accepted. crabapple's choice: Apple documents
/// none; a JWT with a long `scope` is a few KB, so 64 KiB is generous.
pub const MAX_HEADER_LINE: usize = 64 * 1024;
/// Largest JSON document accepted by Apple's APIs (App Store Connect and Server API request
/// documents are a few KB; crabapple's choice, generous).
pub const MAX_JSON_BODY: usize = 1024 * 1024;
/// Largest body of crabapple's admin API (whole resources and worlds are posted there).
pub const MAX_ADMIN_BODY: usize = 16 * 1024 * 1024;
/// hyper's buffer for a request head. Larger than [`MAX_HEADER_LINE`] so that a long line
/// reaches [`guard`] and gets Apple's error body; a head beyond it gets hyper's bare 431.
pub(crate) const MAX_HEAD_BUFFER: usize = 1024 * 1024;

/// The body limit of the route `path` belongs to: the Retention Messaging image upload takes a
/// PNG (its own limit, [`crabapple_storekit::http::MAX_PNG_BYTES`]); the rest are JSON.
pub fn body_limit(path: &str) -> usize {
    if path.starts_with("/inApps/v1/messaging/image/") {
        crabapple_storekit::http::MAX_PNG_BYTES
    } else if path.starts_with("/crabapple/") {
        MAX_ADMIN_BODY
    } else {
        MAX_JSON_BODY
    }
}

/// A refusal in the shape of the API `path` belongs to: the Server API's
/// `{"errorCode","errorMessage"}`, the admin API's `{"error"}`, else App Store Connect's
/// `{"errors":[…]}`.
fn refuse(
    path: &str,
    status: StatusCode,
    code: &str,
    title: &str,
    detail: String,
) -> Response<Body> {
    if path.starts_with("/inApps/") {
        Refusal::Oversized(status, detail).into_response()
    } else if path.starts_with("/crabapple/") {
        Refusal::admin(status, detail).into_response()
    } else {
        crate::wire::error(AscError::new(status.as_u16(), code, title, detail), &[])
    }
}

/// Refuses a header line over [`MAX_HEADER_LINE`] (431) and a body over the route's limit
/// (413, from `Content-Length` before reading, or while reading a chunked body); hands the
/// route (`next`) a body read in full.
pub async fn guard<F, Fut>(req: Request, next: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response<Body>>,
{
    let path = req.uri().path().to_string();
    if let Some((name, value)) = req
        .headers()
        .iter()
        .find(|(n, v)| n.as_str().len() + 2 + v.len() > MAX_HEADER_LINE)
    {
        let detail = format!(
            "The header '{name}' is {} bytes long; the limit for a header line is {MAX_HEADER_LINE} bytes",
            value.len()
        );
        return refuse(
            &path,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADER_TOO_LARGE",
            "A request header is too large",
            detail,
        );
    }
    // No body at all (a GET): nothing to read or limit.
    if axum::body::HttpBody::is_end_stream(req.body()) {
        return next(req).await;
    }
    let limit = body_limit(&path);
    let too_large = |len: String| {
        refuse(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            "ENTITY_TOO_LARGE",
            "The request entity is too large",
            format!("The request body is {len} bytes; the limit for this request is {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&n| n > limit as u64) {
        return too_large(len.to_string());
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(b) => next(Request::from_parts(parts, Body::from(b.to_bytes()))).await,
        Err(e) if e.is::<LengthLimitError>() => too_large(format!("more than {limit}")),
        Err(e) => refuse(
            &path,
            StatusCode::BAD_REQUEST,
            "ENTITY_INVALID",
            "The request entity is invalid",
            format!("The request body could not be read: {e}"),
        ),
    }
}

/// How the listener treats slow and greedy clients.
#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    /// A connection that has not sent a whole request head by then is closed (slowloris).
    pub header_read_timeout: Duration,
    /// Connections one peer IP may hold at once; more are closed on accept.
    pub per_peer: usize,
}

/// Connections one peer IP may hold at once unless `serve --max-connections-per-ip` says
/// otherwise ([`set_per_peer`]). Behind a load balancer every connection comes from its address.
pub const DEFAULT_PER_PEER: usize = 64;

static PER_PEER: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DEFAULT_PER_PEER);

/// Sets the per-peer connection cap of the listeners this process starts afterwards.
pub fn set_per_peer(n: usize) {
    PER_PEER.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
}

impl Default for ListenLimits {
    fn default() -> Self {
        ListenLimits {
            header_read_timeout: Duration::from_secs(10),
            per_peer: PER_PEER.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// Open connections per peer IP.
#[derive(Clone, Default)]
pub(crate) struct Peers(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One counted connection; uncounted when dropped.
pub(crate) struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Peers {
    /// A slot for `ip`, unless it already holds `max` connections.
    pub(crate) fn admit(&self, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.peers.0.lock()
            && let Some(n) = m.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit (a default soft limit of 256 or 1024
/// is what a few hundred idle connections exhaust). Returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        // `rlim_t` is not `u64` on every platform.
        #[allow(clippy::unnecessary_cast)]
        Some(lim.rlim_cur as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 8: the soft limit on open files is raised to the hard limit at start.
    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        let now = raise_fd_limit().expect("getrlimit");
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct passed by pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, lim.rlim_max);
        #[allow(clippy::unnecessary_cast)]
        let cur = lim.rlim_cur as u64;
        assert_eq!(now, cur);
    }

    #[test]
    fn a_peer_holds_at_most_its_share_and_gets_it_back() {
        let peers = Peers::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = peers.admit(ip, 2).unwrap();
        let _b = peers.admit(ip, 2).unwrap();
        assert!(peers.admit(ip, 2).is_none());
        assert!(peers.admit("127.0.0.2".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(peers.admit(ip, 2).is_some());
    }

    #[test]
    fn the_image_upload_keeps_its_png_limit() {
        assert_eq!(body_limit("/v1/bundleIds"), MAX_JSON_BODY);
        assert_eq!(
            body_limit("/inApps/v1/transactions/consumption/1"),
            MAX_JSON_BODY
        );
        assert_eq!(
            body_limit("/inApps/v1/messaging/image/x"),
            crabapple_storekit::http::MAX_PNG_BYTES
        );
        assert_eq!(body_limit("/crabapple/admin/reset"), MAX_ADMIN_BODY);
    }
}
