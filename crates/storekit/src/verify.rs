//! A Rust port of the checks Apple's `SignedDataVerifier` performs on App Store signed data
//! (python `signed_data_verifier.py`, node `jws_verification.ts`, library v3.1.x), used by
//! crabapple's own tests to prove that what [`crate::pki::Pki`] signs is what Apple's
//! libraries accept.
//!
//! Checks, in Apple's order (offline mode, i.e. `enable_online_checks=False`):
//! 1. the JWS is `header.payload.signature` with JSON header and payload;
//! 2. environment `Xcode` / `LocalTesting` **skips** all signature checks (as Apple does);
//! 3. header `x5c` present and non-empty, `alg == "ES256"`;
//! 4. the effective date is the payload's `signedDate` (or `receiptCreationDate`) in
//!    seconds, or now when absent;
//! 5. `x5c` has exactly 3 entries; leaf and intermediate are strict base64 DER; only the
//!    *configured* root is trusted (`x5c[2]` is ignored); the chain leaf → intermediate →
//!    root must verify at the effective date (rustls-webpki: signatures, validity,
//!    CA flags, key usage);
//! 6. the leaf carries OID `1.2.840.113635.100.6.11.1`, the intermediate
//!    `1.2.840.113635.100.6.2.1`;
//! 7. the ES256 signature verifies with the leaf's P-256 key;
//! 8. then bundle id / app Apple id / environment per payload kind (see
//!    [`SignedDataVerifier`]).
//!
//! Not ported: OCSP (online checks) and the verified-key cache.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use serde::de::DeserializeOwned;
use serde_json::Value;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use crate::models::{
    AppTransaction, DecodedRealtimeRequestBody, Environment, JWSRenewalInfoDecodedPayload,
    JWSTransactionDecodedPayload, ResponseBodyV2DecodedPayload,
};
use crate::pki::{INTERMEDIATE_MARKER_OID, LEAF_MARKER_OID};

/// Apple's `VerificationStatus` (the failure values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationStatus {
    VerificationFailure,
    InvalidAppIdentifier,
    InvalidCertificate,
    InvalidChainLength,
    InvalidEnvironment,
}

impl VerificationStatus {
    /// Apple's constant name, e.g. `"INVALID_ENVIRONMENT"` (same in python and node;
    /// the numeric values differ between the two).
    pub fn apple_name(self) -> &'static str {
        match self {
            VerificationStatus::VerificationFailure => "VERIFICATION_FAILURE",
            VerificationStatus::InvalidAppIdentifier => "INVALID_APP_IDENTIFIER",
            VerificationStatus::InvalidCertificate => "INVALID_CERTIFICATE",
            VerificationStatus::InvalidChainLength => "INVALID_CHAIN_LENGTH",
            VerificationStatus::InvalidEnvironment => "INVALID_ENVIRONMENT",
        }
    }
}

/// A verification failure: Apple's status plus a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationError {
    pub status: VerificationStatus,
    pub detail: String,
}

impl fmt::Display for VerificationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.apple_name(), self.detail)
    }
}

impl std::error::Error for VerificationError {}

fn fail(status: VerificationStatus, detail: impl Into<String>) -> VerificationError {
    VerificationError {
        status,
        detail: detail.into(),
    }
}

fn failure(detail: impl Into<String>) -> VerificationError {
    fail(VerificationStatus::VerificationFailure, detail)
}

/// A compact JWS split and decoded, **without** any verification.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedJws {
    pub header: Value,
    pub payload: Value,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS (no verification).
pub fn decode_unverified(jws: &str) -> Result<DecodedJws, VerificationError> {
    let parts: Vec<&str> = jws.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(failure(format!(
            "a compact JWS has 3 parts, got {}",
            parts.len()
        )));
    };
    let json = |part: &str, what: &str| -> Result<Value, VerificationError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| failure(format!("{what} is not base64url: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| failure(format!("{what} is not JSON: {e}")))
    };
    Ok(DecodedJws {
        header: json(header, "header")?,
        payload: json(payload, "payload")?,
        signing_input: format!("{header}.{payload}"),
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| failure(format!("signature is not base64url: {e}")))?,
    })
}

/// Verifies an `x5c` chain (`[leaf, intermediate, root]`, standard base64 DER) against
/// `root_der` at `effective_unix_secs`, including Apple's marker OIDs.
///
/// Returns the leaf's public key (uncompressed SEC1 point).
pub fn verify_chain<S: AsRef<str>>(
    x5c: &[S],
    root_der: &[u8],
    effective_unix_secs: u64,
) -> Result<Vec<u8>, VerificationError> {
    use VerificationStatus::*;
    if root_der.is_empty() {
        return Err(fail(InvalidCertificate, "no trusted root configured"));
    }
    if x5c.len() != 3 {
        return Err(fail(
            InvalidChainLength,
            format!("x5c must hold 3 certificates, got {}", x5c.len()),
        ));
    }
    let decode = |b64: &str, what: &str| -> Result<Vec<u8>, VerificationError> {
        let der = STANDARD
            .decode(b64)
            .map_err(|e| fail(InvalidCertificate, format!("{what}: bad base64: {e}")))?;
        x509_parser::parse_x509_certificate(&der).map_err(|e| {
            fail(
                InvalidCertificate,
                format!("{what}: not a certificate: {e}"),
            )
        })?;
        Ok(der)
    };
    let leaf_der = decode(x5c[0].as_ref(), "leaf")?;
    let intermediate_der = decode(x5c[1].as_ref(), "intermediate")?;
    x509_parser::parse_x509_certificate(root_der)
        .map_err(|e| fail(InvalidCertificate, format!("trusted root: {e}")))?;

    let root = CertificateDer::from(root_der);
    let anchor = webpki::anchor_from_trusted_cert(&root)
        .map_err(|e| fail(InvalidCertificate, format!("trusted root: {e}")))?;
    let leaf = CertificateDer::from(leaf_der.as_slice());
    let end_entity = EndEntityCert::try_from(&leaf)
        .map_err(|e| fail(InvalidCertificate, format!("leaf: {e}")))?;
    let intermediates = [CertificateDer::from(intermediate_der.as_slice())];
    let anchors = [anchor];
    let time = UnixTime::since_unix_epoch(Duration::from_secs(effective_unix_secs));
    let path = end_entity
        .verify_for_usage(
            ECDSA_ALGS,
            &anchors,
            &intermediates,
            time,
            AnyExtendedKeyUsage,
            None,
            None,
        )
        .map_err(|e| {
            failure(format!(
                "chain does not verify at {effective_unix_secs}: {e}"
            ))
        })?;
    let path_intermediates: Vec<_> = path.intermediate_certificates().collect();
    let [issuer] = path_intermediates[..] else {
        return Err(failure(
            "the leaf is not issued through exactly one intermediate",
        ));
    };
    require_extension(&leaf_der, LEAF_MARKER_OID, "leaf")?;
    require_extension(
        issuer.der().as_ref(),
        INTERMEDIATE_MARKER_OID,
        "intermediate",
    )?;

    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der)
        .map_err(|e| fail(InvalidCertificate, format!("leaf: {e}")))?;
    Ok(leaf.public_key().subject_public_key.data.to_vec())
}

/// Verifies a JWS signed with an `x5c` chain to `root_der` and returns its payload.
///
/// The effective date is the payload's `signedDate` / `receiptCreationDate`, else now.
/// No environment / bundle checks: see [`SignedDataVerifier`] for those.
pub fn verify_jws(jws: &str, root_der: &[u8]) -> Result<Value, VerificationError> {
    let decoded = decode_unverified(jws)?;
    verify_decoded(&decoded, root_der)?;
    Ok(decoded.payload)
}

fn verify_decoded(decoded: &DecodedJws, root_der: &[u8]) -> Result<(), VerificationError> {
    let x5c: Vec<&str> = match decoded.header.get("x5c") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| failure("x5c entries must be strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(failure("x5c claim was empty")),
    };
    if decoded.header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(failure("Algorithm was not ES256"));
    }
    let effective = effective_date(&decoded.payload);
    let point = verify_chain(&x5c, root_der, effective)?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(decoded.signing_input.as_bytes(), &decoded.signature)
        .map_err(|_| failure("ES256 signature does not verify with the leaf key"))
}

/// `signedDate` (or `receiptCreationDate`) in seconds, else now. Xcode payloads carry
/// fractional milliseconds; they are truncated like Apple's libraries do.
fn effective_date(payload: &Value) -> u64 {
    let ms = payload
        .get("signedDate")
        .filter(|v| !v.is_null())
        .or_else(|| payload.get("receiptCreationDate"))
        .and_then(Value::as_f64);
    match ms {
        Some(ms) if ms >= 0.0 => (ms as u64) / 1000,
        _ => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    }
}

fn require_extension(der: &[u8], oid: &str, what: &str) -> Result<(), VerificationError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        fail(
            VerificationStatus::InvalidCertificate,
            format!("{what}: {e}"),
        )
    })?;
    if cert
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == oid)
    {
        Ok(())
    } else {
        Err(failure(format!("{what} lacks extension {oid}")))
    }
}

static ECDSA_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P256_SHA512,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA512,
];

/// Apple's certificates carry no EKU requirements that the verifiers check.
struct AnyExtendedKeyUsage;

impl ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, _iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Port of Apple's `SignedDataVerifier` with online checks off.
#[derive(Debug, Clone)]
pub struct SignedDataVerifier {
    root_der: Vec<u8>,
    environment: Environment,
    bundle_id: String,
    app_apple_id: Option<i64>,
}

impl SignedDataVerifier {
    /// Like Apple's constructor; `app_apple_id` is only compared in Production.
    pub fn new(
        root_der: impl Into<Vec<u8>>,
        environment: Environment,
        bundle_id: impl Into<String>,
        app_apple_id: Option<i64>,
    ) -> Self {
        SignedDataVerifier {
            root_der: root_der.into(),
            environment,
            bundle_id: bundle_id.into(),
            app_apple_id,
        }
    }

    fn decode<T: DeserializeOwned>(&self, jws: &str) -> Result<T, VerificationError> {
        let decoded = decode_unverified(jws)?;
        if !matches!(
            self.environment,
            Environment::Xcode | Environment::LocalTesting
        ) {
            verify_decoded(&decoded, &self.root_der)?;
        }
        serde_json::from_value(decoded.payload)
            .map_err(|e| failure(format!("payload does not match Apple's model: {e}")))
    }

    fn check_app(&self, bundle_id: Option<&str>, app_apple_id: Option<i64>) -> bool {
        bundle_id == Some(self.bundle_id.as_str())
            && (self.environment != Environment::Production || app_apple_id == self.app_apple_id)
    }

    fn check_environment(
        &self,
        environment: Option<&Environment>,
    ) -> Result<(), VerificationError> {
        if environment == Some(&self.environment) {
            Ok(())
        } else {
            Err(fail(
                VerificationStatus::InvalidEnvironment,
                format!("environment {environment:?}, expected {}", self.environment),
            ))
        }
    }

    fn app_identifier_error(&self) -> VerificationError {
        fail(
            VerificationStatus::InvalidAppIdentifier,
            format!("not signed for bundle {}", self.bundle_id),
        )
    }

    /// `verify_and_decode_signed_transaction`: checks bundle id, then environment.
    pub fn verify_and_decode_signed_transaction(
        &self,
        jws: &str,
    ) -> Result<JWSTransactionDecodedPayload, VerificationError> {
        let tx: JWSTransactionDecodedPayload = self.decode(jws)?;
        if tx.bundle_id.as_deref() != Some(self.bundle_id.as_str()) {
            return Err(self.app_identifier_error());
        }
        self.check_environment(tx.environment.as_ref())?;
        Ok(tx)
    }

    /// `verify_and_decode_renewal_info`: checks environment only.
    pub fn verify_and_decode_renewal_info(
        &self,
        jws: &str,
    ) -> Result<JWSRenewalInfoDecodedPayload, VerificationError> {
        let info: JWSRenewalInfoDecodedPayload = self.decode(jws)?;
        self.check_environment(info.environment.as_ref())?;
        Ok(info)
    }

    /// `verify_and_decode_notification`: the app identity comes from `data`, `summary`,
    /// `externalPurchaseToken` (environment inferred from a `SANDBOX` id prefix) or
    /// `appData`.
    pub fn verify_and_decode_notification(
        &self,
        jws: &str,
    ) -> Result<ResponseBodyV2DecodedPayload, VerificationError> {
        let n: ResponseBodyV2DecodedPayload = self.decode(jws)?;
        let (bundle_id, app_apple_id, environment) = if let Some(d) = &n.data {
            (d.bundle_id.clone(), d.app_apple_id, d.environment.clone())
        } else if let Some(s) = &n.summary {
            (s.bundle_id.clone(), s.app_apple_id, s.environment.clone())
        } else if let Some(t) = &n.external_purchase_token {
            let sandbox = t
                .external_purchase_id
                .as_deref()
                .is_some_and(|id| id.starts_with("SANDBOX"));
            let env = if sandbox {
                Environment::Sandbox
            } else {
                Environment::Production
            };
            (t.bundle_id.clone(), t.app_apple_id, Some(env))
        } else if let Some(a) = &n.app_data {
            (a.bundle_id.clone(), a.app_apple_id, a.environment.clone())
        } else {
            (None, None, None)
        };
        if !self.check_app(bundle_id.as_deref(), app_apple_id) {
            return Err(self.app_identifier_error());
        }
        self.check_environment(environment.as_ref())?;
        Ok(n)
    }

    /// `verify_and_decode_realtime_request` (Retention Messaging): in Production the
    /// `appAppleId` must match, then the environment (no bundle id in the payload).
    pub fn verify_and_decode_realtime_request(
        &self,
        jws: &str,
    ) -> Result<DecodedRealtimeRequestBody, VerificationError> {
        let r: DecodedRealtimeRequestBody = self.decode(jws)?;
        if self.environment == Environment::Production && r.app_apple_id != self.app_apple_id {
            return Err(self.app_identifier_error());
        }
        self.check_environment(r.environment.as_ref())?;
        Ok(r)
    }

    /// `verify_and_decode_app_transaction`: `receiptType` is the environment.
    pub fn verify_and_decode_app_transaction(
        &self,
        jws: &str,
    ) -> Result<AppTransaction, VerificationError> {
        let at: AppTransaction = self.decode(jws)?;
        if !self.check_app(at.bundle_id.as_deref(), at.app_apple_id) {
            return Err(self.app_identifier_error());
        }
        self.check_environment(at.receipt_type.as_ref())?;
        Ok(at)
    }
}
