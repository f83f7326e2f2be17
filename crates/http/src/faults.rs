//! Faults on demand (issue 13): what a user arms so that a client's retry logic meets what
//! Apple's servers sometimes do — a 500, a 503 with `Retry-After`, a 429 with Apple's rate-limit
//! body, a slow answer, a dropped connection, a truncated body, a notification endpoint that
//! times out. A fault names the requests it hits (a route pattern, and optionally an entity id
//! in the path and the API key), how many times (`count`) or how often (`probability`, drawn
//! from `seed`, so a run is reproducible), and is kept as JSON in the store's settings under
//! [`META_KEY`] so the server, the CLI and seed files share one list.
//!
//! This module is the model (parse, match, draw); the server answers with it
//! (crates/server/src/faults.rs) and the notification sender consults it (storekit delivery).

use serde::{Deserialize, Serialize};

/// The store setting (`meta`) that holds the armed faults, a JSON array of [`Fault`].
pub const META_KEY: &str = "http_faults";

/// What an armed fault does to the request it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// Answers `status` (500, 503, 429, …) in the shape of the API the path belongs to, with
    /// `Retry-After` when `retryAfter` is set (429 always has one).
    Status,
    /// Answers normally after `latencyMs` more milliseconds (real time).
    Latency,
    /// Closes the connection without an answer.
    Drop,
    /// Sends the status, headers and `Content-Length` of the real answer, then half its body, and
    /// closes the connection.
    Truncate,
    /// A notification POST to a URL matching `route` is recorded as `TIMED_OUT` without being
    /// sent (the receiver "never answered").
    NotificationTimeout,
}

/// One armed fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// `f1`, `f2`, … (given when armed).
    #[serde(default)]
    pub id: String,
    /// `METHOD /path` or `/path`, where `*` matches any run of characters (`GET /v1/apps*`,
    /// `/inApps/*`); for a notification fault, the receiver's URL (`https://example.com/*`).
    pub route: String,
    pub kind: Kind,
    /// Only requests whose path has this id as one of its segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Only requests signed by this API key (the token's `kid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `Status`: the HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Status` 503/429: seconds a client should wait (`Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// `Latency`: milliseconds added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// How many more requests it hits (none: every matching request while armed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The chance a matching request is hit (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Seeds the draws of `probability` (default 0): the n-th matching request is hit or not
    /// the same way on every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Matching requests seen while it could still hit (drives the draws).
    #[serde(default)]
    pub matched: u64,
    /// Requests it hit so far.
    #[serde(default)]
    pub fired: u64,
}

/// A request as faults see it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub key_id: Option<&'a str>,
}

impl Fault {
    /// Checks what the kind needs; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.route.trim().is_empty() {
            return Err("route is required (e.g. \"GET /v1/apps*\")".into());
        }
        match self.kind {
            Kind::Status => match self.status {
                Some(s) if (400..=599).contains(&s) => {}
                _ => return Err("kind status needs a status from 400 to 599".into()),
            },
            Kind::Latency if self.latency_ms.is_none() => {
                return Err("kind latency needs latencyMs".into());
            }
            _ => {}
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability {p} is not between 0 and 1"));
        }
        Ok(())
    }

    /// Whether the fault's route (and entity, key) names this request.
    pub fn names(&self, t: &Target) -> bool {
        let route = self.route.trim();
        let (method, pattern) = match route.split_once(' ') {
            Some((m, p)) => (Some(m.trim()), p.trim()),
            None => (None, route),
        };
        if method.is_some_and(|m| m != "*" && !m.eq_ignore_ascii_case(t.method)) {
            return false;
        }
        if !glob(pattern, t.path) {
            return false;
        }
        if let Some(e) = &self.entity
            && !t.path.split('/').any(|s| s == e)
        {
            return false;
        }
        if let Some(k) = &self.key_id
            && t.key_id != Some(k.as_str())
        {
            return false;
        }
        true
    }

    /// Counts a matching request and says whether the fault hits it (its count and its draw);
    /// a hit uses one of `count`.
    pub fn draw(&mut self) -> bool {
        if self.count == Some(0) {
            return false;
        }
        let n = self.matched;
        self.matched += 1;
        if let Some(p) = self.probability
            && unit(self.seed.unwrap_or(0), n) >= p
        {
            return false;
        }
        if let Some(c) = &mut self.count {
            *c -= 1;
        }
        self.fired += 1;
        true
    }

    /// Spent: armed with a count that is used up.
    pub fn spent(&self) -> bool {
        self.count == Some(0)
    }

    /// In words, for `X-Crabapple-Reason`.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            Kind::Status => format!("status {}", self.status.unwrap_or(500)),
            Kind::Latency => format!("{} ms latency", self.latency_ms.unwrap_or(0)),
            Kind::Drop => "dropped connection".into(),
            Kind::Truncate => "truncated body".into(),
            Kind::NotificationTimeout => "notification endpoint timed out".into(),
        };
        let left = match self.count {
            Some(c) => format!(", {c} left"),
            None => String::new(),
        };
        format!(
            "injected fault {} ({what}) on {}{left}",
            self.id, self.route
        )
    }
}

/// Parses a JSON array of faults (the stored list, a seed file's `faults:`), each validated.
pub fn parse_list(v: &serde_json::Value) -> Result<Vec<Fault>, String> {
    let list: Vec<Fault> = serde_json::from_value(v.clone()).map_err(|e| format!("faults: {e}"))?;
    for f in &list {
        f.validate()
            .map_err(|e| format!("fault on {}: {e}", f.route))?;
    }
    Ok(list)
}

/// Gives each fault without an id the next free `fN`.
pub fn number(list: &mut [Fault]) {
    let mut next = list
        .iter()
        .filter_map(|f| f.id.strip_prefix('f')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    for f in list.iter_mut().filter(|f| f.id.is_empty()) {
        next += 1;
        f.id = format!("f{next}");
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// A number in [0, 1) from `seed` and `n` (SplitMix64): the same on every run.
fn unit(seed: u64, n: u64) -> f64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fault(v: serde_json::Value) -> Fault {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn routes_match_method_glob_entity_and_key() {
        let f = fault(
            json!({"route": "GET /v1/apps*", "kind": "drop", "entity": "123", "keyId": "K1"}),
        );
        let t = |method, path, key| Target {
            method,
            path,
            key_id: key,
        };
        assert!(f.names(&t("GET", "/v1/apps/123/builds", Some("K1"))));
        assert!(!f.names(&t("POST", "/v1/apps/123", Some("K1"))), "method");
        assert!(
            !f.names(&t("GET", "/v1/apps/1234", Some("K1"))),
            "entity is a whole segment"
        );
        assert!(!f.names(&t("GET", "/v1/apps/123", Some("K2"))), "key");
        assert!(!f.names(&t("GET", "/v2/apps/123", Some("K1"))), "route");
        let any = fault(json!({"route": "/inApps/*/history/*", "kind": "drop"}));
        assert!(any.names(&t("POST", "/inApps/v2/history/42", None)));
        assert!(!any.names(&t("GET", "/inApps/v1/transactions/42", None)));
        assert!(glob("/v1/apps", "/v1/apps") && !glob("/v1/apps", "/v1/apps/1"));
    }

    #[test]
    fn a_count_runs_out_and_a_seeded_probability_repeats() {
        let mut f = fault(json!({"route": "/x", "kind": "status", "status": 503, "count": 2}));
        assert_eq!([f.draw(), f.draw(), f.draw()], [true, true, false]);
        assert!(f.spent());
        let draws = |seed| {
            let mut f =
                fault(json!({"route": "/x", "kind": "drop", "probability": 0.5, "seed": seed}));
            (0..64).map(|_| f.draw()).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7), "the same seed, the same hits");
        assert_ne!(draws(7), draws(8));
        let hits = draws(7).iter().filter(|h| **h).count();
        assert!((16..=48).contains(&hits), "about half of 64: {hits}");
    }

    #[test]
    fn a_fault_that_cannot_work_is_refused_saying_why() {
        let e = |v| parse_list(&json!([v])).unwrap_err();
        assert_eq!(
            e(json!({"route": "/x", "kind": "status"})),
            "fault on /x: kind status needs a status from 400 to 599"
        );
        assert_eq!(
            e(json!({"route": "/x", "kind": "latency"})),
            "fault on /x: kind latency needs latencyMs"
        );
        assert_eq!(
            e(json!({"route": "/x", "kind": "drop", "probability": 2.0})),
            "fault on /x: probability 2 is not between 0 and 1"
        );
        assert!(
            e(json!({"route": "/x", "kind": "explode"}))
                .starts_with("faults: unknown variant `explode`")
        );
        let mut list = parse_list(
            &json!([{"route": "/a", "kind": "drop", "id": "f4"}, {"route": "/b", "kind": "drop"}]),
        )
        .unwrap();
        number(&mut list);
        assert_eq!(list[1].id, "f5");
        assert_eq!(
            list[1].describe(),
            "injected fault f5 (dropped connection) on /b"
        );
    }
}
