//! `crabapple-auth` owns who may call the emulator: Apple's ES256 JWT rules for the
//! App Store Connect API (team and individual keys, lifetimes, `scope`) and for the
//! App Store Server API (In-App Purchase keys, `bid`), the role matrix, the rate-limit
//! windows and the verified-token cache. It is a pure library: no HTTP, no database,
//! no clock (every function takes `now`). References like "§1.3" point at
//! `apple-semantics.md`; "clients §3.1" at `clients.md`.
//!
//! # How the server uses it
//! ```text
//! let verifier = Verifier::default();                 // one per process; owns the TokenCache
//! let p = verifier.verify_asc(authz, &target, now_secs, &keys)?;   // 401 + reason on Err
//! check_role(&p, method, path_template)?;             // 403 FORBIDDEN_ERROR + reason on Err
//! let rl = rate_limiter.hit(&p.key.key_id, now_ms);   // X-Rate-Limit: rl.header_value()
//!
//! let sp = verifier.verify_storekit(authz, now_secs, &keys)?;     // Server API, 401 on Err
//! let q = server_limiter.hit(&sp.bundle_id, endpoint, sandbox, now_ms); // 429 + Retry-After
//! ```
//! The free functions [`verify_asc`] / [`verify_storekit`] do the same checks with the
//! default [`Rules`] and no cache. Everything is synchronous and cheap enough to call
//! straight from an async handler (one ES256 verify ≈ 50 µs, skipped on a cache hit).
//!
//! Deviations from the first sketch of this API, on purpose:
//! - `mint_*` and `public_key_from_p8` return `Result<_, KeyError>` (a bad `.p8` is an
//!   input error for the CLI, not a panic).
//! - The cache lives in [`Verifier`]; a hit only skips the signature check, every claim
//!   rule, revocation and scope check runs again against the current `now` and request.
//! - The crate does not depend on the store: the server adapts its key table with
//!   [`KeyLookup`] (implemented for `HashMap<String, ApiKey>` and for closures).

mod asc;
mod cache;
mod jws;
mod keys;
mod ratelimit;
mod roles;
mod scope;
mod storekit;

pub use asc::{ASC_AUDIENCE, LONG_LIVED_RESOURCES, mint_asc_token, verify_asc};
pub use cache::{DEFAULT_CACHE_CAPACITY, TokenCache};
pub use keys::{
    ApiKey, GeneratedKey, KeyError, KeyKind, KeyLookup, generate_key, public_key_from_p8, sign_jwt,
};
pub use ratelimit::{
    DEFAULT_HOURLY_LIMIT, HOUR_MS, RateLimiter, RateStatus, ServerApiRateLimiter, ServerEndpoint,
    SlidingWindow,
};
pub use roles::{
    Allow, BODY_RULE_OPERATIONS, Match, ROLE_MATRIX, RoleRule, check_role, check_role_with_body,
};
pub use scope::{IGNORED_SCOPE_PARAMS, ScopeEntry};
pub use storekit::{StorekitPrincipal, mint_storekit_token, verify_storekit};

/// The request a token is checked against (needed for `scope`, §1.4).
#[derive(Clone, Copy, Debug)]
pub struct RequestTarget<'a> {
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Request path without the query, e.g. `/v1/apps/123`.
    pub path: &'a str,
    /// Query pairs, already percent-decoded, in request order.
    pub query: &'a [(String, String)],
}

/// A verified App Store Connect caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The key as the [`KeyLookup`] returned it for this request (fresh roles, not cached ones).
    pub key: ApiKey,
    /// The token's payload.
    pub claims: serde_json::Value,
    /// The token's `exp` (UNIX seconds).
    pub exp: i64,
}

/// Why a token or request was refused. `reason` is plain words for the
/// `X-Crabapple-Reason` header; Apple's response body never changes with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct AuthError {
    pub reason: String,
    /// A scope entry Apple cannot even parse as a request (a `{placeholder}` in its path):
    /// Apple answers 400 `ENTITY_INVALID` "Invalid scope …" instead of 401 (forum post 10).
    pub invalid_scope: Option<String>,
}

impl AuthError {
    pub fn new(reason: impl Into<String>) -> Self {
        AuthError {
            reason: reason.into(),
            invalid_scope: None,
        }
    }

    pub fn invalid_scope(entry: &str, reason: impl Into<String>) -> Self {
        AuthError {
            reason: reason.into(),
            invalid_scope: Some(entry.to_owned()),
        }
    }
}

/// Clock skew tolerated on `exp` (expiry) and `iat` (not in the future). Kept small:
/// Apple itself is strict (§1.1, Ponytech appstoreconnectapi#41).
pub const DEFAULT_CLOCK_SKEW_SECS: i64 = 5;
/// §1.1: "Tokens that expire more than 20 minutes into the future are not valid".
pub const ASC_MAX_LIFETIME_SECS: i64 = 20 * 60;
/// How far a client may backdate `iat` beyond the 20-minute lifetime. Modern fastlane mints
/// `iat = now − 60` ("in case our time is slightly ahead of Apple's") with `exp = now + 1200`
/// (clients.md §3.1, fastlane token.rb row), so `exp − iat` is 1,260 s, and Apple takes it since
/// fastlane works against it. The strict rule stays on `exp − now ≤ 1200 s` (§1.1, the
/// clock-skew observation); only `exp − iat` gets this tolerance.
pub const ASC_IAT_BACKDATE_TOLERANCE_SECS: i64 = 60;
/// §1.3: long-lived GET scopes may live up to six months (taken as 180 days).
pub const ASC_LONG_LIVED_MAX_SECS: i64 = 180 * 24 * 60 * 60;
/// §1.8: "Tokens that expire more than 60 minutes after the time in iat are not valid".
pub const STOREKIT_MAX_LIFETIME_SECS: i64 = 60 * 60;

/// Numbers the token rules use; `Rules::default()` is Apple's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub clock_skew_secs: i64,
    pub asc_max_lifetime_secs: i64,
    /// See [`ASC_IAT_BACKDATE_TOLERANCE_SECS`].
    pub asc_iat_backdate_secs: i64,
    pub asc_long_lived_max_secs: i64,
    pub storekit_max_lifetime_secs: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            asc_max_lifetime_secs: ASC_MAX_LIFETIME_SECS,
            asc_iat_backdate_secs: ASC_IAT_BACKDATE_TOLERANCE_SECS,
            asc_long_lived_max_secs: ASC_LONG_LIVED_MAX_SECS,
            storekit_max_lifetime_secs: STOREKIT_MAX_LIFETIME_SECS,
        }
    }
}

/// Token verification with [`Rules`] and a [`TokenCache`]; share one per process.
#[derive(Debug, Default)]
pub struct Verifier {
    rules: Rules,
    cache: TokenCache,
}

impl Verifier {
    pub fn new(rules: Rules, cache: TokenCache) -> Self {
        Verifier { rules, cache }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// [`verify_asc`] with this verifier's rules and cache.
    pub fn verify_asc(
        &self,
        authorization_header: Option<&str>,
        target: &RequestTarget<'_>,
        now_secs: i64,
        keys: &impl KeyLookup,
    ) -> Result<Principal, AuthError> {
        asc::verify(
            &self.rules,
            Some(&self.cache),
            authorization_header,
            target,
            now_secs,
            keys,
        )
    }

    /// [`verify_storekit`] with this verifier's rules and cache.
    pub fn verify_storekit(
        &self,
        authorization_header: Option<&str>,
        now_secs: i64,
        keys: &impl KeyLookup,
    ) -> Result<StorekitPrincipal, AuthError> {
        storekit::verify(
            &self.rules,
            Some(&self.cache),
            authorization_header,
            now_secs,
            keys,
        )
    }
}
