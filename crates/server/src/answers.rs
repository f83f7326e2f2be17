//! Answers kept for repeated reads (issue 12, performance): the rendered `200` of an App Store
//! Connect read that only the stored resources and linkage decide
//! ([`crabapple_jsonapi::Engine::reads_only_the_store`]), kept under everything the answer
//! depends on — the operation, the path's id, the raw query, the base URL links are built on
//! (host, scheme, world prefix), the key, `Accept` — and the store's change number
//! ([`crabapple_store::Store::changes`]) it was computed at. Any commit of this process or of
//! another one seen before a request (the look every request takes first) moves that number, so
//! a kept answer is served only while nothing it could have read has changed; what differs per
//! request (`X-Rate-Limit`, `Date`) is added to it as to any answer.
//!
//! `CRABAPPLE_ANSWER_CACHE=0` turns it off (the benchmark measures both).

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// At most this many answers, and this many body bytes, are kept; past either the keeper starts
/// over (a client's working set is small: the apps, builds and versions it polls).
const MAX_ANSWERS: usize = 4096;
const MAX_BYTES: usize = 64 << 20;

/// One kept answer.
pub struct Kept {
    changes: u64,
    content_type: Option<HeaderValue>,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

#[derive(Default)]
struct Map {
    answers: HashMap<String, Arc<Kept>>,
    bytes: usize,
}

/// The kept answers of one world.
pub struct Answers {
    on: bool,
    map: RwLock<Map>,
    /// Answers served from here so far (tests).
    served: AtomicU64,
}

impl Default for Answers {
    fn default() -> Answers {
        Answers {
            on: std::env::var("CRABAPPLE_ANSWER_CACHE").map_or(true, |v| v != "0"),
            map: RwLock::default(),
            served: AtomicU64::new(0),
        }
    }
}

/// What identifies an answer besides the store's state.
pub fn key(
    op: usize,
    id: Option<&str>,
    query: Option<&str>,
    base: &str,
    key_id: &str,
    accept: Option<&str>,
) -> String {
    let parts = [id.unwrap_or(""), query.unwrap_or(""), base, key_id];
    let mut k = String::with_capacity(16 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push_str(&op.to_string());
    for p in parts.into_iter().chain(accept) {
        k.push('\u{0}');
        k.push_str(p);
    }
    k
}

impl Answers {
    pub fn enabled(&self) -> bool {
        self.on
    }

    /// The answer kept under `key` at change number `changes`.
    pub fn get(&self, key: &str, changes: u64) -> Option<Arc<Kept>> {
        let map = self.map.read().ok()?;
        let kept = map
            .answers
            .get(key)
            .filter(|k| k.changes == changes)
            .cloned()?;
        self.served.fetch_add(1, Ordering::Relaxed);
        Some(kept)
    }

    /// How many answers were served kept.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Keeps a `200` computed from reads begun at change number `changes`.
    pub fn put(&self, key: String, changes: u64, reply: &crabapple_jsonapi::Reply) -> Arc<Kept> {
        let kept = Arc::new(Kept {
            changes,
            content_type: reply
                .content_type
                .as_deref()
                .and_then(|c| HeaderValue::from_str(c).ok()),
            headers: reply
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_bytes(k.as_bytes()).ok()?,
                        HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect(),
            body: Bytes::copy_from_slice(&reply.body),
        });
        if let Ok(mut map) = self.map.write() {
            if map.answers.len() >= MAX_ANSWERS || map.bytes + kept.body.len() > MAX_BYTES {
                *map = Map::default();
            }
            map.bytes += kept.body.len();
            if let Some(old) = map.answers.insert(key, kept.clone()) {
                map.bytes -= old.body.len();
            }
        }
        kept
    }
}

impl Kept {
    /// The HTTP answer, with the per-request headers `extra` (`X-Rate-Limit`).
    pub fn response(&self, extra: &[(String, String)]) -> Response<Body> {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = StatusCode::OK;
        let h = resp.headers_mut();
        if let Some(ct) = &self.content_type {
            h.insert(axum::http::header::CONTENT_TYPE, ct.clone());
        }
        for (k, v) in &self.headers {
            h.append(k.clone(), v.clone());
        }
        crate::wire::append_headers(h, extra);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> crabapple_jsonapi::Reply {
        crabapple_jsonapi::Reply::json_bytes(200, body.as_bytes().to_vec())
    }

    /// A kept answer is served only at the change number it was computed at; the keeper starts
    /// over past its size.
    #[test]
    fn an_answer_is_served_only_while_the_store_has_not_changed() {
        let a = Answers::default();
        let k = key(3, Some("1"), None, "http://h", "KID", None);
        assert!(a.get(&k, 7).is_none());
        a.put(k.clone(), 7, &reply("{}"));
        assert_eq!(a.get(&k, 7).unwrap().body, Bytes::from_static(b"{}"));
        assert!(a.get(&k, 8).is_none());
        // Every part of the key tells answers apart.
        for other in [
            key(4, Some("1"), None, "http://h", "KID", None),
            key(3, Some("2"), None, "http://h", "KID", None),
            key(3, Some("1"), Some("limit=1"), "http://h", "KID", None),
            key(3, Some("1"), None, "https://h", "KID", None),
            key(3, Some("1"), None, "http://h", "KID2", None),
            key(
                3,
                Some("1"),
                None,
                "http://h",
                "KID",
                Some("application/json"),
            ),
        ] {
            assert!(a.get(&other, 7).is_none(), "{other:?}");
        }
        for i in 0..MAX_ANSWERS {
            a.put(format!("k{i}"), 7, &reply("{}"));
        }
        assert!(a.get(&k, 7).is_none());
    }
}
