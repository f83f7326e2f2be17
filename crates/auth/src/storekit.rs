//! App Store Server API token rules (§1.8, clients §3.1).
//!
//! Same JWS handling as App Store Connect (ES256, `kid`, raw `r||s`), then:
//! - the key must be an In-App Purchase key ("The App Store Server API uses the key
//!   under In-App Purchase", apple/app-store-server-library-python#57); team and
//!   individual App Store Connect keys are refused;
//! - `iss` required and equal to the key's issuer id; `bid` required (returned, the
//!   server checks it belongs to the team's app);
//! - `aud` = `appstoreconnect-v1`; `exp` required; `iat` optional (Apple's Python
//!   library omits it); lifetime `exp − iat` (or `exp − now`) ≤ 3600 s.

use serde_json::{Value, json};

use crate::asc::ASC_AUDIENCE;
use crate::cache::{Api, TokenCache};
use crate::jws;
use crate::{ApiKey, AuthError, KeyError, KeyKind, KeyLookup, Rules, sign_jwt};

/// A verified App Store Server API caller.
#[derive(Clone, Debug, PartialEq)]
pub struct StorekitPrincipal {
    pub key: ApiKey,
    /// The `bid` claim; the server must check it names an app of the key's team.
    pub bundle_id: String,
    /// The `iss` claim (equal to `key.issuer_id`).
    pub issuer: String,
    pub exp: i64,
    pub claims: Value,
}

/// A token as Apple's server libraries build it (§1.8): header `alg, kid, typ`;
/// payload `iss, iat, exp = now + ttl, aud, bid`.
pub fn mint_storekit_token(
    p8_pem: &str,
    key_id: &str,
    issuer: &str,
    bundle_id: &str,
    now_secs: i64,
    ttl_secs: i64,
) -> Result<String, KeyError> {
    let header = json!({"alg": "ES256", "kid": key_id, "typ": "JWT"});
    let claims = json!({
        "iss": issuer,
        "iat": now_secs,
        "exp": now_secs + ttl_secs,
        "aud": ASC_AUDIENCE,
        "bid": bundle_id,
    });
    sign_jwt(p8_pem, &header, &claims)
}

/// Check an App Store Server API request's `Authorization` header with the default
/// [`Rules`] and no cache. `Err` → 401 (empty body, §1.8 / §9.9).
pub fn verify_storekit(
    authorization_header: Option<&str>,
    now_secs: i64,
    keys: &impl KeyLookup,
) -> Result<StorekitPrincipal, AuthError> {
    verify(
        &Rules::default(),
        None,
        authorization_header,
        now_secs,
        keys,
    )
}

pub(crate) fn verify(
    rules: &Rules,
    cache: Option<&TokenCache>,
    authorization_header: Option<&str>,
    now: i64,
    keys: &impl KeyLookup,
) -> Result<StorekitPrincipal, AuthError> {
    let auth = jws::authenticate(Api::Storekit, authorization_header, keys, cache, check_key)?;
    let claims = &*auth.claims;
    jws::check_aud(claims, ASC_AUDIENCE)?;
    let issuer = match jws::string_claim(claims, "iss")? {
        Some(iss) if iss == auth.key.issuer_id => iss.to_owned(),
        Some(iss) => {
            return Err(AuthError::new(format!(
                "iss is \"{iss}\" but key {} belongs to issuer \"{}\"",
                auth.key.key_id, auth.key.issuer_id
            )));
        }
        None => {
            return Err(AuthError::new(
                "token has no iss; the App Store Server API requires iss = your issuer ID (§1.8)",
            ));
        }
    };
    let bundle_id = match jws::string_claim(claims, "bid")? {
        Some(bid) if !bid.is_empty() => bid.to_owned(),
        _ => {
            return Err(AuthError::new(
                "token has no bid; the App Store Server API requires bid = your app's bundle ID (§1.8)",
            ));
        }
    };
    let times = jws::check_times(claims, now, rules)?;
    let max = rules.storekit_max_lifetime_secs;
    if times.lifetime > max {
        return Err(AuthError::new(format!(
            "token lifetime is {} s ({}); the App Store Server API accepts at most {max} s (§1.8)",
            times.lifetime, times.basis
        )));
    }
    auth.remember(Api::Storekit, times.exp, now, cache);
    Ok(StorekitPrincipal {
        claims: Value::Object(claims.clone()),
        key: auth.key,
        bundle_id,
        issuer,
        exp: times.exp,
    })
}

fn check_key(key: &ApiKey) -> Result<(), AuthError> {
    if key.revoked {
        return Err(AuthError::new(format!(
            "In-App Purchase key {} has been revoked",
            key.key_id
        )));
    }
    match key.kind {
        KeyKind::InAppPurchase => Ok(()),
        KeyKind::Team | KeyKind::Individual => Err(AuthError::new(format!(
            "key {} is {}; the App Store Server API needs an In-App Purchase key (Users and Access → Integrations → In-App Purchase) (§1.8)",
            key.key_id,
            key.kind.describe()
        ))),
    }
}
