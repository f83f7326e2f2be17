//! Compact JWS handling shared by both APIs: `Authorization: Bearer`, header rules
//! (`alg` ES256, `kid`), key lookup, raw `r||s` signature check, and the time claims.
//! Done by hand rather than with a JWT library so that every rejection can say exactly
//! which rule failed, with no hidden leeway.

use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::cache::{Api, CachedToken, TokenCache};
use crate::{ApiKey, AuthError, KeyLookup, Rules};

/// base64url without padding for encoding; decoding also tolerates padding.
pub(crate) const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) type Claims = Map<String, Value>;

/// A token whose signature has been checked (now or earlier, via the cache).
pub(crate) struct Authenticated<'t> {
    pub token: &'t str,
    pub key: ApiKey,
    pub claims: Arc<Claims>,
    pub from_cache: bool,
}

impl Authenticated<'_> {
    /// Remember a token that passed every rule, so the next request skips the signature.
    pub fn remember(&self, api: Api, exp: i64, now: i64, cache: Option<&TokenCache>) {
        if let (false, Some(cache)) = (self.from_cache, cache) {
            cache.insert(
                self.token,
                CachedToken {
                    api,
                    kid: self.key.key_id.clone(),
                    public_key_der: self.key.public_key_der.clone(),
                    claims: Arc::clone(&self.claims),
                    exp,
                },
                now,
            );
        }
    }
}

/// Bearer → header → key (with `check_key` for revocation and key kind) → signature.
/// On a cache hit only the signature and JSON parsing are skipped.
pub(crate) fn authenticate<'t>(
    api: Api,
    authorization_header: Option<&'t str>,
    keys: &impl KeyLookup,
    cache: Option<&TokenCache>,
    check_key: impl Fn(&ApiKey) -> Result<(), AuthError>,
) -> Result<Authenticated<'t>, AuthError> {
    let token = bearer(authorization_header)?;

    if let Some(hit) = cache.and_then(|c| c.get(token)).filter(|h| h.api == api) {
        let key = lookup(keys, &hit.kid)?;
        check_key(&key)?;
        // A key re-created under the same id must not inherit the old key's tokens.
        if key.public_key_der == hit.public_key_der {
            return Ok(Authenticated {
                token,
                key,
                claims: Arc::clone(&hit.claims),
                from_cache: true,
            });
        }
    }

    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, sig_b64] = parts[..] else {
        return Err(AuthError::new(format!(
            "bearer token is not a JWT: expected 3 dot-separated parts (header.payload.signature), got {}",
            parts.len()
        )));
    };
    let header = decode_json_object(header_b64, "header")?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "ES256" => {}
        Some(Value::String(alg)) => {
            return Err(AuthError::new(format!(
                "JWT header alg is \"{alg}\"; App Store Connect accepts only ES256 (§1.1)"
            )));
        }
        Some(other) => {
            return Err(AuthError::new(format!(
                "JWT header alg is {other}; expected the string \"ES256\" (§1.1)"
            )));
        }
        None => {
            return Err(AuthError::new(
                "JWT header has no alg; expected \"ES256\" (§1.1)",
            ));
        }
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.as_str(),
        Some(Value::String(_)) => {
            return Err(AuthError::new(
                "JWT header kid is empty; expected your private key ID, e.g. 2X9R4HXF34 (§1.1)",
            ));
        }
        Some(other) => {
            return Err(AuthError::new(format!(
                "JWT header kid is {other}; expected the key ID as a string (§1.1)"
            )));
        }
        None => {
            return Err(AuthError::new(
                "JWT header has no kid; expected your private key ID, e.g. 2X9R4HXF34 (§1.1)",
            ));
        }
    };
    let key = lookup(keys, kid)?;
    check_key(&key)?;

    let sig = B64URL
        .decode(sig_b64)
        .map_err(|e| AuthError::new(format!("JWT signature is not base64url: {e}")))?;
    if sig.len() != 64 {
        let hint = if sig.first() == Some(&0x30) {
            " (it looks DER-encoded)"
        } else {
            ""
        };
        return Err(AuthError::new(format!(
            "JWT signature is {} bytes{hint}; ES256 needs the raw 64-byte r||s form (IEEE P1363, RFC 7518 §3.4), not DER (§1.1)",
            sig.len()
        )));
    }
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.public_key_der)
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| {
            AuthError::new(format!(
                "JWT signature does not verify with the public key of key {kid}; sign with that key's .p8"
            ))
        })?;

    let claims = decode_json_object(claims_b64, "payload")?;
    Ok(Authenticated {
        token,
        key,
        claims: Arc::new(claims),
        from_cache: false,
    })
}

fn bearer(authorization_header: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization_header
        .ok_or_else(|| {
            AuthError::new("no Authorization header; send \"Authorization: Bearer <JWT>\"")
        })?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::new(format!(
            "Authorization scheme is \"{scheme}\"; expected \"Bearer <JWT>\""
        )));
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::new(
            "Authorization header has \"Bearer\" but no token",
        ));
    }
    Ok(token)
}

fn lookup(keys: &impl KeyLookup, kid: &str) -> Result<ApiKey, AuthError> {
    keys.key(kid)
        .ok_or_else(|| AuthError::new(format!("JWT header kid \"{kid}\" names no known API key")))
}

fn decode_json_object(part: &str, what: &str) -> Result<Claims, AuthError> {
    let bytes = B64URL
        .decode(part)
        .map_err(|e| AuthError::new(format!("JWT {what} is not base64url: {e}")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::new(format!("JWT {what} is not a JSON object"))),
        Err(e) => Err(AuthError::new(format!("JWT {what} is not JSON: {e}"))),
    }
}

/// `aud` must be `appstoreconnect-v1` for both APIs (§1.1, §1.8). A one-element array
/// holding it is accepted too (RFC 7519 §4.1.3).
pub(crate) fn check_aud(claims: &Claims, expected: &str) -> Result<(), AuthError> {
    match claims.get("aud") {
        Some(Value::String(aud)) if aud == expected => Ok(()),
        Some(Value::Array(list)) if list.len() == 1 && list[0] == expected => Ok(()),
        Some(other) => Err(AuthError::new(format!(
            "aud is {other}; expected \"{expected}\""
        ))),
        None => Err(AuthError::new(format!(
            "token has no aud; expected \"{expected}\""
        ))),
    }
}

/// A NumericDate claim (RFC 7519 §2); fractional seconds are truncated.
pub(crate) fn time_claim(claims: &Claims, name: &str) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.trunc() as i64)),
                    _ => Err(AuthError::new(format!(
                        "{name} is {n}; expected UNIX time in seconds"
                    ))),
                }
            }
        }
        Some(other) => Err(AuthError::new(format!(
            "{name} is {other}; expected a number (UNIX time in seconds)"
        ))),
    }
}

/// `exp`, `iat` and the lifetime the rules measure.
pub(crate) struct Times {
    pub exp: i64,
    pub lifetime: i64,
    /// How `lifetime` was measured, for reasons: `exp − iat` or `exp − now`.
    pub basis: &'static str,
}

/// `exp` required and not past (with skew); `iat` optional, not in the future beyond
/// skew, not after `exp`. Lifetime = `exp − iat`, or `exp − now` without `iat` (§1.1).
pub(crate) fn check_times(claims: &Claims, now: i64, rules: &Rules) -> Result<Times, AuthError> {
    let skew = rules.clock_skew_secs;
    let exp = time_claim(claims, "exp")?
        .ok_or_else(|| AuthError::new("token has no exp; expected UNIX seconds (§1.1)"))?;
    if now >= exp.saturating_add(skew) {
        return Err(AuthError::new(format!(
            "token expired: exp {exp} is {} s before now {now} (tolerated skew {skew} s)",
            now.saturating_sub(exp)
        )));
    }
    let iat = time_claim(claims, "iat")?;
    if let Some(iat) = iat {
        if iat > now.saturating_add(skew) {
            return Err(AuthError::new(format!(
                "iat {iat} is {} s in the future (now {now}, tolerated skew {skew} s); check the client's clock",
                iat - now
            )));
        }
        if exp < iat {
            return Err(AuthError::new(format!("exp {exp} is before iat {iat}")));
        }
    }
    Ok(match iat {
        Some(iat) => Times {
            exp,
            lifetime: exp.saturating_sub(iat),
            basis: "exp − iat",
        },
        None => Times {
            exp,
            lifetime: exp.saturating_sub(now),
            basis: "exp − now, as there is no iat",
        },
    })
}

/// A claim that must be a non-empty string, if present.
pub(crate) fn string_claim<'c>(
    claims: &'c Claims,
    name: &str,
) -> Result<Option<&'c str>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(AuthError::new(format!(
            "{name} is {other}; expected a string"
        ))),
    }
}
