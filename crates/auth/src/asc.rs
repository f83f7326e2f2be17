//! App Store Connect API token rules (§1.1–§1.4, clients §3.1 "Emulator rules").
//!
//! Order of checks (the first failure is the reason):
//! 1. `Authorization: Bearer <jwt>`; header `alg` = ES256, `kid` present (`typ` ignored:
//!    spaceship 2.146 omits it).
//! 2. Key by `kid`: known, not revoked, not an In-App Purchase key.
//! 3. Signature: raw 64-byte `r||s` only (a DER signature is a 401, §1.1 [DEV]).
//! 4. `aud` = `appstoreconnect-v1`.
//! 5. Identity: team key → `iss` = the key's issuer id; individual key → `sub` = `user`
//!    and no `iss` (§1.2, isaced/appstore-connect-sdk#34).
//! 6. `exp` required and not past; `iat` optional, not in the future (skew: [`Rules`]).
//! 7. Lifetime `exp − iat` (or `exp − now` without `iat`) ≤ 1200 s, or ≤ 180 days when
//!    the scope is only GETs on [`LONG_LIVED_RESOURCES`] (§1.3). A backdated `iat` may make
//!    `exp − iat` up to 1260 s while `exp − now` ≤ 1200 s (fastlane, clients.md §3.1).
//! 8. `scope`, when present: some entry matches the request (§1.4, see `scope`).

use serde_json::{Value, json};

use crate::cache::{Api, TokenCache};
use crate::jws::{self, Claims};
use crate::scope::{self, ScopeEntry};
use crate::{
    ApiKey, AuthError, KeyError, KeyKind, KeyLookup, Principal, RequestTarget, Rules, sign_jwt,
};

/// `aud` of every App Store Connect (and App Store Server) API token (§1.1, §1.8).
pub const ASC_AUDIENCE: &str = "appstoreconnect-v1";

/// §1.3 "Determine the Appropriate Token Lifetime": the resources whose GET scopes may
/// live up to six months. Patterns are version-less paths; `*` is one id segment, a
/// trailing `**` any sub-path (related resources and relationships included).
pub const LONG_LIVED_RESOURCES: &[(&str, &str)] = &[
    ("/ciBuildActions/**", "Build Actions"),
    ("/ciBuildRuns/**", "Build Runs"),
    ("/scmGitReferences/**", "Git References"),
    ("/ciIssues/**", "Issues"),
    ("/ciMacOsVersions/**", "macOS Versions"),
    ("/ciProducts/**", "Products"),
    ("/scmProviders/**", "Providers"),
    ("/apps/*/perfPowerMetrics", "Power and Performance Metrics"),
    (
        "/builds/*/perfPowerMetrics",
        "Power and Performance Metrics",
    ),
    (
        "/builds/*/diagnosticSignatures",
        "Power and Performance Logs",
    ),
    ("/diagnosticSignatures/*/logs", "Power and Performance Logs"),
    ("/scmPullRequests/**", "Pull Requests"),
    ("/scmRepositories/**", "Repositories"),
    ("/ciTestResults/**", "Test Results"),
    ("/ciWorkflows/**", "Workflows"),
    ("/ciXcodeVersions/**", "Xcode Versions"),
];

/// A token as App Store Connect clients build it (§1.1/§1.2): header `alg, kid, typ`;
/// payload `iss` (team key) or `sub: "user"` (`issuer: None`, individual key), `iat`,
/// `exp = now + ttl`, `aud`, and `scope` when not empty.
pub fn mint_asc_token(
    p8_pem: &str,
    key_id: &str,
    issuer: Option<&str>,
    now_secs: i64,
    ttl_secs: i64,
    scope: &[String],
) -> Result<String, KeyError> {
    let header = json!({"alg": "ES256", "kid": key_id, "typ": "JWT"});
    let mut claims = json!({
        "iat": now_secs,
        "exp": now_secs + ttl_secs,
        "aud": ASC_AUDIENCE,
    });
    match issuer {
        Some(iss) => claims["iss"] = json!(iss),
        None => claims["sub"] = json!("user"),
    }
    if !scope.is_empty() {
        claims["scope"] = json!(scope);
    }
    sign_jwt(p8_pem, &header, &claims)
}

/// Check an App Store Connect API request's `Authorization` header with the default
/// [`Rules`] and no cache (see [`crate::Verifier`] for the cached form). `Err` → 401
/// `NOT_AUTHORIZED` with the reason in `X-Crabapple-Reason`.
pub fn verify_asc(
    authorization_header: Option<&str>,
    target: &RequestTarget<'_>,
    now_secs: i64,
    keys: &impl KeyLookup,
) -> Result<Principal, AuthError> {
    verify(
        &Rules::default(),
        None,
        authorization_header,
        target,
        now_secs,
        keys,
    )
}

pub(crate) fn verify(
    rules: &Rules,
    cache: Option<&TokenCache>,
    authorization_header: Option<&str>,
    target: &RequestTarget<'_>,
    now: i64,
    keys: &impl KeyLookup,
) -> Result<Principal, AuthError> {
    let auth = jws::authenticate(Api::Asc, authorization_header, keys, cache, check_key)?;
    let claims = &*auth.claims;
    jws::check_aud(claims, ASC_AUDIENCE)?;
    check_identity(&auth.key, claims)?;
    let times = jws::check_times(claims, now, rules)?;
    let scope = scope::parse_claim(claims.get("scope"))?;
    check_lifetime(rules, &times, now, scope.as_deref())?;
    // Everything above holds for the token as a whole; scope is per request.
    auth.remember(Api::Asc, times.exp, now, cache);
    if let Some(entries) = &scope {
        scope::check(entries, target)?;
    }
    Ok(Principal {
        claims: Value::Object(claims.clone()),
        key: auth.key,
        exp: times.exp,
    })
}

fn check_key(key: &ApiKey) -> Result<(), AuthError> {
    if key.revoked {
        return Err(AuthError::new(format!(
            "API key {} has been revoked",
            key.key_id
        )));
    }
    if key.kind == KeyKind::InAppPurchase {
        return Err(AuthError::new(format!(
            "key {} is an In-App Purchase key; those work only with the App Store Server API, use a team or individual App Store Connect API key (§1.8)",
            key.key_id
        )));
    }
    Ok(())
}

/// §1.1 team keys: `iss` = issuer id. §1.2 individual keys: `sub` = `user`, no `iss`.
fn check_identity(key: &ApiKey, claims: &Claims) -> Result<(), AuthError> {
    let iss = jws::string_claim(claims, "iss")?;
    let sub = jws::string_claim(claims, "sub")?;
    match key.kind {
        KeyKind::Team => match iss {
            Some(iss) if iss == key.issuer_id => Ok(()),
            Some(iss) => Err(AuthError::new(format!(
                "iss is \"{iss}\" but team key {} belongs to issuer \"{}\"",
                key.key_id, key.issuer_id
            ))),
            None if sub.is_some() => Err(AuthError::new(format!(
                "key {} is a team key: the token needs iss = your issuer ID; sub \"user\" is only for individual keys (§1.2)",
                key.key_id
            ))),
            None => Err(AuthError::new(format!(
                "token has no iss; team key {} needs iss = your issuer ID (§1.1)",
                key.key_id
            ))),
        },
        KeyKind::Individual => {
            if iss.is_some() {
                return Err(AuthError::new(format!(
                    "key {} is an individual key: individual keys don't use iss, send sub \"user\" instead (§1.2)",
                    key.key_id
                )));
            }
            match sub {
                Some("user") => Ok(()),
                Some(other) => Err(AuthError::new(format!(
                    "sub is \"{other}\"; individual keys need sub \"user\" (§1.2)"
                ))),
                None => Err(AuthError::new(format!(
                    "token has no sub; individual key {} needs sub \"user\" (§1.2)",
                    key.key_id
                ))),
            }
        }
        // Refused earlier by check_key.
        KeyKind::InAppPurchase => Err(AuthError::new("In-App Purchase key on App Store Connect")),
    }
}

/// §1.1 lifetime ≤ 20 min; §1.3 up to 180 days for long-lived GET scopes only.
fn check_lifetime(
    rules: &Rules,
    times: &jws::Times,
    now: i64,
    scope: Option<&[ScopeEntry]>,
) -> Result<(), AuthError> {
    let max = rules.asc_max_lifetime_secs;
    if times.lifetime <= max {
        return Ok(());
    }
    // A backdated `iat` (fastlane: now − 60) is tolerated as long as the token expires within
    // 20 minutes of now (`Rules::asc_iat_backdate_secs`).
    let remaining = times.exp.saturating_sub(now);
    if times.lifetime <= max + rules.asc_iat_backdate_secs && remaining <= max {
        return Ok(());
    }
    let head = format!("token lifetime is {} s ({})", times.lifetime, times.basis);
    let Some(entries) = scope.filter(|e| !e.is_empty()) else {
        return Err(AuthError::new(format!(
            "{head}; App Store Connect accepts at most {max} s unless the token's scope lists only GET requests on resources that allow long-lived tokens (§1.3)"
        )));
    };
    for entry in entries {
        entry.allows_long_lived().map_err(|why| {
            AuthError::new(format!(
                "{head}; more than {max} s needs every scope entry to allow long-lived tokens, but {why} (§1.3)"
            ))
        })?;
    }
    let long_max = rules.asc_long_lived_max_secs;
    if times.lifetime > long_max {
        return Err(AuthError::new(format!(
            "{head}; even long-lived scoped tokens may live at most {long_max} s (six months) (§1.3)"
        )));
    }
    Ok(())
}
