//! API keys: what the store keeps for a key, how the emulator makes one (a `.p8` file
//! like the one App Store Connect lets you download once), and ES256 signing with it.

use std::collections::HashMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jws::B64URL;

/// The three kinds of key App Store Connect issues (§1.2, §1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyKind {
    /// Team API key: `iss` = team issuer id; roles chosen at creation.
    Team,
    /// Individual API key: `sub: "user"`, no `iss`; the user's roles apply.
    Individual,
    /// In-App Purchase key: App Store Server API only.
    InAppPurchase,
}

impl KeyKind {
    /// The serde spelling: `team`, `individual`, `inAppPurchase`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Team => "team",
            KeyKind::Individual => "individual",
            KeyKind::InAppPurchase => "inAppPurchase",
        }
    }

    /// Words for error reasons.
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::Team => "an App Store Connect team API key",
            KeyKind::Individual => "an App Store Connect individual API key",
            KeyKind::InAppPurchase => "an In-App Purchase key",
        }
    }
}

/// What the store keeps for a key. Only the public half is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// 10 chars `[A-Z0-9]`, e.g. `2X9R4HXF34`.
    pub key_id: String,
    /// The team's issuer id (UUID). Individual keys carry it too but never send it.
    pub issuer_id: String,
    pub kind: KeyKind,
    /// Apple `UserRole` values, e.g. `["ADMIN"]`. For individual keys: the user's roles.
    pub roles: Vec<String>,
    /// Individual keys: the `users` resource id whose roles apply.
    pub user_id: Option<String>,
    /// Uncompressed SEC1 P-256 point (65 bytes, `0x04 || x || y`).
    pub public_key_der: Vec<u8>,
    pub revoked: bool,
    pub name: String,
}

/// Where verification finds keys by `kid`. Return revoked keys too (with
/// `revoked: true`) so the reason can say "revoked" rather than "unknown".
pub trait KeyLookup {
    fn key(&self, key_id: &str) -> Option<ApiKey>;
}

impl KeyLookup for HashMap<String, ApiKey> {
    fn key(&self, key_id: &str) -> Option<ApiKey> {
        self.get(key_id).cloned()
    }
}

impl<F: Fn(&str) -> Option<ApiKey>> KeyLookup for F {
    fn key(&self, key_id: &str) -> Option<ApiKey> {
        self(key_id)
    }
}

/// A fresh key: the private half goes to the user once, the public half to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedKey {
    pub key_id: String,
    pub kind: KeyKind,
    /// The `.p8` file text (`-----BEGIN PRIVATE KEY-----`, PKCS#8 v1).
    pub pkcs8_pem: String,
    /// Uncompressed SEC1 P-256 point (65 bytes).
    pub public_key_der: Vec<u8>,
}

impl GeneratedKey {
    /// The store record for this key (not revoked, no user).
    pub fn to_api_key(&self, issuer_id: &str, roles: &[&str], name: &str) -> ApiKey {
        ApiKey {
            key_id: self.key_id.clone(),
            issuer_id: issuer_id.to_owned(),
            kind: self.kind,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            user_id: None,
            public_key_der: self.public_key_der.clone(),
            revoked: false,
            name: name.to_owned(),
        }
    }
}

/// A `.p8` that could not be used (or a signing failure).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

const KEY_ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new P-256 key with a random 10-char `[A-Z0-9]` id, like Apple's `2X9R4HXF34`.
pub fn generate_key(kind: KeyKind) -> GeneratedKey {
    // Failure here means the OS RNG or aws-lc is broken; nothing sensible to return.
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .expect("aws-lc-rs failed to generate a P-256 key");
    let pkcs8 = pair
        .to_pkcs8v1()
        .expect("aws-lc-rs failed to serialise a P-256 key");
    GeneratedKey {
        key_id: random_key_id(),
        kind,
        pkcs8_pem: pem_encode("PRIVATE KEY", pkcs8.as_ref()),
        public_key_der: pair.public_key().as_ref().to_vec(),
    }
}

fn random_key_id() -> String {
    let mut id = String::with_capacity(10);
    let mut buf = [0u8; 32];
    while id.len() < 10 {
        aws_lc_rs::rand::fill(&mut buf).expect("OS random source failed");
        // 252 = 7 * 36: rejecting larger bytes keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 252) {
            if id.len() == 10 {
                break;
            }
            id.push(KEY_ID_ALPHABET[usize::from(*b % 36)] as char);
        }
    }
    id
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside a `.p8` (`BEGIN PRIVATE KEY`); tolerates CRLF and surrounding text.
fn p8_der(p8_pem: &str) -> Result<Vec<u8>, KeyError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let start = p8_pem.find(BEGIN).ok_or_else(|| {
        KeyError(format!(
            "not a .p8 private key: no \"{BEGIN}\" line (App Store Connect keys are PKCS#8)"
        ))
    })? + BEGIN.len();
    let len = p8_pem[start..]
        .find(END)
        .ok_or_else(|| KeyError(format!("not a .p8 private key: no \"{END}\" line")))?;
    let body: String = p8_pem[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| KeyError(format!(".p8 body is not valid base64: {e}")))
}

fn key_pair(p8_pem: &str) -> Result<EcdsaKeyPair, KeyError> {
    let der = p8_der(p8_pem)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|e| KeyError(format!(".p8 is not a P-256 PKCS#8 private key: {e}")))
}

/// The 65-byte public point of a `.p8` (to import a key the user already has).
pub fn public_key_from_p8(p8_pem: &str) -> Result<Vec<u8>, KeyError> {
    Ok(key_pair(p8_pem)?.public_key().as_ref().to_vec())
}

/// Sign any header and payload as a compact ES256 JWS (raw `r||s` signature, RFC 7518
/// §3.4). The header is used as given, so tests can craft bad ones; `mint_*` build the
/// good ones.
pub fn sign_jwt(p8_pem: &str, header: &Value, claims: &Value) -> Result<String, KeyError> {
    let pair = key_pair(p8_pem)?;
    let mut token = String::new();
    B64URL.encode_string(header.to_string(), &mut token);
    token.push('.');
    B64URL.encode_string(claims.to_string(), &mut token);
    let sig = pair
        .sign(&SystemRandom::new(), token.as_bytes())
        .map_err(|_| KeyError("ES256 signing failed".into()))?;
    token.push('.');
    B64URL.encode_string(sig.as_ref(), &mut token);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_id_is_ten_uppercase_alnum() {
        for _ in 0..50 {
            let id = random_key_id();
            assert_eq!(id.len(), 10);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
        }
    }

    #[test]
    fn p8_round_trips_to_public_point() {
        let k = generate_key(KeyKind::Team);
        assert!(k.pkcs8_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(k.public_key_der.len(), 65);
        assert_eq!(k.public_key_der[0], 4);
        // CRLF line endings, as a .p8 saved on Windows has.
        let crlf = k.pkcs8_pem.replace('\n', "\r\n");
        assert_eq!(public_key_from_p8(&crlf).unwrap(), k.public_key_der);
    }

    #[test]
    fn bad_p8_is_an_error_not_a_panic() {
        assert!(public_key_from_p8("hello").is_err());
        assert!(
            public_key_from_p8("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(
            public_key_from_p8("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }

    #[test]
    fn key_kind_serde_spelling() {
        assert_eq!(
            serde_json::to_string(&KeyKind::InAppPurchase).unwrap(),
            "\"inAppPurchase\""
        );
        assert_eq!(
            serde_json::from_str::<KeyKind>("\"individual\"").unwrap(),
            KeyKind::Individual
        );
        assert_eq!(KeyKind::Team.as_str(), "team");
    }
}
