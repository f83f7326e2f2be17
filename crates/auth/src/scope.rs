//! The `scope` claim (§1.4): an array of `"METHOD /path?query"` strings. A token with a
//! scope may only make requests that match one entry:
//! - method equal;
//! - path equal; an entry without the version prefix (`/apps/1`) also matches the
//!   versioned request path (`/v1/apps/1`), per the §1.4 / §9.4 conflict note;
//! - query parameters equal as sets, in any order, ignoring `limit`, `cursor` and
//!   `sort` on both sides ("App Store Connect ignores the following query parameters
//!   when it checks the scope"). `limit[relationship]` is ignored too, as a `limit`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{AuthError, RequestTarget};

/// Query parameters scope matching ignores (§1.4).
pub const IGNORED_SCOPE_PARAMS: [&str; 3] = ["limit", "cursor", "sort"];

fn ignored(name: &str) -> bool {
    IGNORED_SCOPE_PARAMS.contains(&name) || name.starts_with("limit[")
}

/// One parsed scope entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeEntry {
    /// The entry as written in the token.
    pub raw: String,
    /// Upper-cased method.
    pub method: String,
    /// Decoded path without trailing slash, as written (with or without `/v1`).
    pub path: String,
    /// Query parameters that take part in matching (ignored ones removed).
    pub query: BTreeSet<(String, String)>,
}

impl ScopeEntry {
    /// Parse `"GET /v1/apps?filter[platform]=IOS"`.
    pub fn parse(raw: &str) -> Result<ScopeEntry, String> {
        let trimmed = raw.trim();
        let (method, target) = trimmed
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("scope entry \"{raw}\" is not \"METHOD /path[?query]\""))?;
        let target = target.trim();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "scope entry \"{raw}\" does not start with an HTTP method such as GET"
            ));
        }
        if !target.starts_with('/') {
            return Err(format!(
                "scope entry \"{raw}\": the path must start with '/', e.g. \"GET /v1/apps\""
            ));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    crabapple_http::decode_query_component(k),
                    crabapple_http::decode_query_component(v),
                )
            })
            .filter(|(k, _)| !ignored(k))
            .collect();
        Ok(ScopeEntry {
            raw: raw.to_owned(),
            method: method.to_ascii_uppercase(),
            path: normalize_path(path),
            query,
        })
    }

    /// Why this entry does not match `target`, or `None` when it matches.
    pub fn mismatch(&self, target: &RequestTarget<'_>) -> Option<String> {
        let mut why = Vec::new();
        if !self.method.eq_ignore_ascii_case(target.method) {
            why.push(format!(
                "method is {} but the entry allows {}",
                target.method, self.method
            ));
        }
        let request_path = self.comparable_request_path(target.path);
        if request_path != self.path {
            why.push(format!(
                "path {request_path} differs from the entry's {}",
                self.path
            ));
        }
        let request_query = request_query(target);
        if request_query != self.query {
            why.push(format!(
                "query differs: request has {{{}}}, entry has {{{}}} (order does not matter; limit, cursor and sort are ignored)",
                show_query(&request_query),
                show_query(&self.query)
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    pub fn matches(&self, target: &RequestTarget<'_>) -> bool {
        self.mismatch(target).is_none()
    }

    /// The request path in the entry's form (version stripped if the entry has none).
    fn comparable_request_path(&self, request_path: &str) -> String {
        let path = normalize_path(request_path.split('?').next().unwrap_or(""));
        if split_version(&self.path).0.is_none() {
            split_version(&path).1.to_owned()
        } else {
            path
        }
    }

    /// Whether this entry may appear in a token living longer than 20 minutes (§1.3):
    /// a GET on one of the [`crate::LONG_LIVED_RESOURCES`]. `Err` says why not.
    pub fn allows_long_lived(&self) -> Result<(), String> {
        if self.method != "GET" {
            return Err(format!(
                "scope entry \"{}\" is not a GET; only GET scopes may live longer than 20 minutes",
                self.raw
            ));
        }
        let (_, rest) = split_version(&self.path);
        if crate::asc::LONG_LIVED_RESOURCES
            .iter()
            .any(|(pattern, _)| pattern_matches(pattern, rest))
        {
            Ok(())
        } else {
            Err(format!(
                "scope entry \"{}\" is not on a resource that allows long-lived tokens (Xcode Cloud and power/performance metrics and logs only)",
                self.raw
            ))
        }
    }
}

/// Parse the `scope` claim: `None` when absent.
pub(crate) fn parse_claim(claim: Option<&Value>) -> Result<Option<Vec<ScopeEntry>>, AuthError> {
    let Some(claim) = claim else { return Ok(None) };
    let Value::Array(items) = claim else {
        return Err(AuthError::new(format!(
            "scope is {claim}; expected an array of strings like \"GET /v1/apps\" (§1.4)"
        )));
    };
    items
        .iter()
        .map(|item| match item {
            // forum post 10: "GET /v1/apps/{appId}/appScreenshotSets" → 400 ENTITY_INVALID.
            Value::String(s) if s.contains(['{', '}']) => Err(AuthError::invalid_scope(
                s,
                format!(
                    "scope entry \"{s}\" has a placeholder in its path; write the real id, e.g. \"GET /v1/apps/123/appScreenshotSets\" (§1.4, forum post 10)"
                ),
            )),
            Value::String(s) => ScopeEntry::parse(s).map_err(AuthError::new),
            other => Err(AuthError::new(format!(
                "scope entry {other} is not a string like \"GET /v1/apps\" (§1.4)"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// §1.4: "App Store Connect rejects a token with a scope claim if none of the scope
/// entries match the attempted request." The reason names the closest entry.
pub(crate) fn check(entries: &[ScopeEntry], target: &RequestTarget<'_>) -> Result<(), AuthError> {
    if entries.iter().any(|e| e.matches(target)) {
        return Ok(());
    }
    let shown = show_request(target);
    let Some(closest) = entries.iter().max_by_key(|e| closeness(e, target)) else {
        return Err(AuthError::new(format!(
            "token scope is an empty list, so no request is allowed (tried {shown}) (§1.4)"
        )));
    };
    let why = closest.mismatch(target).unwrap_or_default();
    Err(AuthError::new(format!(
        "no scope entry matches {shown} (§1.4); closest entry \"{}\": {why}",
        closest.raw
    )))
}

/// Higher is closer: same path first, then same method, then shared path prefix.
fn closeness(entry: &ScopeEntry, target: &RequestTarget<'_>) -> (bool, bool, usize, usize) {
    let path = entry.comparable_request_path(target.path);
    let common = path
        .bytes()
        .zip(entry.path.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let query = request_query(target);
    let shared_params = query.intersection(&entry.query).count();
    (
        path == entry.path,
        entry.method.eq_ignore_ascii_case(target.method),
        common,
        shared_params,
    )
}

fn request_query(target: &RequestTarget<'_>) -> BTreeSet<(String, String)> {
    target
        .query
        .iter()
        .filter(|(k, _)| !ignored(k))
        .cloned()
        .collect()
}

fn show_query(q: &BTreeSet<(String, String)>) -> String {
    q.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_request(target: &RequestTarget<'_>) -> String {
    let mut s = format!("{} {}", target.method, target.path);
    for (i, (k, v)) in target.query.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(&format!("{k}={v}"));
    }
    s
}

fn normalize_path(path: &str) -> String {
    let decoded = crabapple_http::decode_path_segment(path);
    let trimmed = decoded.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `/v1/apps/1` → (`Some("v1")`, `/apps/1`); `/apps/1` → (`None`, `/apps/1`).
pub(crate) fn split_version(path: &str) -> (Option<&str>, &str) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let first = rest.split('/').next().unwrap_or("");
    let is_version = first.len() >= 2
        && first.starts_with('v')
        && first[1..].bytes().all(|b| b.is_ascii_digit());
    if is_version {
        (Some(first), &path[1 + first.len()..])
    } else {
        (None, path)
    }
}

/// Segment patterns: `*` = one segment (an id), trailing `**` = any rest (or none).
pub(crate) fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/').filter(|s| !s.is_empty());
    let mut s = path.split('/').filter(|s| !s.is_empty());
    loop {
        match (p.next(), s.next()) {
            (Some("**"), _) => return true,
            (None, None) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn target<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a [(String, String)],
    ) -> RequestTarget<'a> {
        RequestTarget {
            method,
            path,
            query,
        }
    }

    #[test]
    fn parse_decodes_and_drops_ignored_params() {
        let e =
            ScopeEntry::parse("get /v1/apps/?filter%5Bplatform%5D=IOS&limit=5&sort=name").unwrap();
        assert_eq!(e.method, "GET");
        assert_eq!(e.path, "/v1/apps");
        assert_eq!(
            e.query,
            BTreeSet::from([("filter[platform]".to_owned(), "IOS".to_owned())])
        );
    }

    #[test]
    fn parse_rejects_malformed_entries() {
        assert!(ScopeEntry::parse("/v1/apps").is_err());
        assert!(ScopeEntry::parse("GET v1/apps").is_err());
        assert!(ScopeEntry::parse("G3T /v1/apps").is_err());
    }

    #[test]
    fn s1_4_query_order_insensitive_and_limit_cursor_sort_ignored() {
        let e = ScopeEntry::parse("GET /v1/apps?filter[platform]=IOS&fields[apps]=name").unwrap();
        let query = q(&[
            ("fields[apps]", "name"),
            ("limit", "200"),
            ("filter[platform]", "IOS"),
            ("cursor", "abc"),
            ("sort", "-name"),
            ("limit[builds]", "5"),
        ]);
        assert!(e.matches(&target("GET", "/v1/apps", &query)));
        let other = q(&[("filter[platform]", "MAC_OS")]);
        let why = e.mismatch(&target("GET", "/v1/apps", &other)).unwrap();
        assert!(why.contains("query differs"), "{why}");
        // A request without the entry's filter does not match either.
        assert!(!e.matches(&target("GET", "/v1/apps", &[])));
    }

    #[test]
    fn s1_4_versionless_entry_matches_versioned_request() {
        let e = ScopeEntry::parse("GET /builds/1/app").unwrap();
        assert!(e.matches(&target("GET", "/v1/builds/1/app", &[])));
        let v = ScopeEntry::parse("GET /v1/builds/1/app").unwrap();
        assert!(v.matches(&target("GET", "/v1/builds/1/app", &[])));
        assert!(!v.matches(&target("GET", "/v2/builds/1/app", &[])));
    }

    #[test]
    fn s1_4_method_must_match() {
        let e = ScopeEntry::parse("GET /v1/apps/1").unwrap();
        let why = e.mismatch(&target("PATCH", "/v1/apps/1", &[])).unwrap();
        assert!(why.contains("method is PATCH"), "{why}");
    }

    #[test]
    fn s1_4_closest_entry_named_in_reason() {
        let entries = vec![
            ScopeEntry::parse("GET /v1/users").unwrap(),
            ScopeEntry::parse("GET /v1/apps?filter[platform]=IOS").unwrap(),
        ];
        let query = q(&[("filter[platform]", "TV_OS")]);
        let err = check(&entries, &target("GET", "/v1/apps", &query)).unwrap_err();
        assert!(
            err.reason.contains("GET /v1/apps?filter[platform]=IOS"),
            "{}",
            err.reason
        );
        assert!(err.reason.contains("TV_OS"), "{}", err.reason);
        let err = check(&[], &target("GET", "/v1/apps", &[])).unwrap_err();
        assert!(err.reason.contains("empty"), "{}", err.reason);
    }

    #[test]
    fn s1_3_long_lived_patterns() {
        let ok = |s: &str| ScopeEntry::parse(s).unwrap().allows_long_lived().is_ok();
        assert!(ok("GET /v1/ciProducts"));
        assert!(ok("GET /v1/ciProducts/123/workflows"));
        assert!(ok("GET /ciBuildRuns/9"));
        assert!(ok("GET /v1/apps/1/perfPowerMetrics"));
        assert!(ok("GET /v1/builds/1/perfPowerMetrics"));
        assert!(ok("GET /v1/builds/1/diagnosticSignatures"));
        assert!(ok("GET /v1/diagnosticSignatures/1/logs"));
        assert!(ok("GET /v1/scmRepositories/1/gitReferences"));
        assert!(!ok("GET /v1/apps"));
        assert!(!ok("GET /v1/apps/1"));
        assert!(!ok("GET /v1/salesReports"));
        assert!(!ok("POST /v1/ciBuildRuns"));
    }

    #[test]
    fn version_split() {
        assert_eq!(split_version("/v1/apps/1"), (Some("v1"), "/apps/1"));
        assert_eq!(split_version("/v10/apps"), (Some("v10"), "/apps"));
        assert_eq!(split_version("/apps/1"), (None, "/apps/1"));
        assert_eq!(split_version("/vendors"), (None, "/vendors"));
    }
}
