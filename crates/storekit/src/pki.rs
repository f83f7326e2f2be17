//! crabapple's certificate authority and JWS signer for App Store signed data.
//!
//! Apple signs `signedTransactionInfo`, `signedRenewalInfo`, `signedAppTransactionInfo`
//! and notification `signedPayload`s as ES256 compact JWS whose header carries the chain
//! `x5c = [leaf, intermediate, root]`. Apple's `SignedDataVerifier` (python, node, java,
//! swift) checks that chain against a configured root, requires the marker extension
//! [`LEAF_MARKER_OID`] on the leaf and [`INTERMEDIATE_MARKER_OID`] on the intermediate,
//! and verifies at the payload's `signedDate` when online checks are off.
//!
//! [`Pki::load_or_create`] mints an equivalent three-level PKI once per data directory:
//!
//! | cert | key | extensions |
//! |---|---|---|
//! | root (self-signed) | P-384 | BasicConstraints CA (critical), KeyUsage keyCertSign+cRLSign (critical), SKI, AKI |
//! | intermediate | P-384 | BasicConstraints CA pathlen 0 (critical), KeyUsage keyCertSign+cRLSign (critical), SKI, AKI, `1.2.840.113635.100.6.2.1` = NULL |
//! | leaf | P-256 | BasicConstraints CA:FALSE (critical), KeyUsage digitalSignature (critical), SKI, AKI, `1.2.840.113635.100.6.11.1` = NULL |
//!
//! (Apple's real chain also uses P-384 CAs and a P-256 leaf.) AKI/SKI/KeyUsage are required
//! by python's `X509_STRICT` store flags, which Apple's python verifier enables. Validity is
//! 2020-01-01 .. 2045-01-01 so back-dated `signedDate`s verify too.
//!
//! The JWS header is `{"alg":"ES256","x5c":[…]}`, byte-for-byte the shape of real App Store
//! JWS (no `kid`, no `typ`; Apple's library *test* mocks add `"typ":"JWT"`, real payloads
//! don't). `x5c` entries are standard base64 DER with padding; the signature is the raw
//! 64-byte `r‖s` (JWS ES256).

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber, date_time_ymd,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;

/// Marker extension Apple puts on the App Store receipt-signing leaf.
pub const LEAF_MARKER_OID: &str = "1.2.840.113635.100.6.11.1";
/// Marker extension Apple puts on the Worldwide Developer Relations intermediate.
pub const INTERMEDIATE_MARKER_OID: &str = "1.2.840.113635.100.6.2.1";

const LEAF_MARKER_ARCS: &[u64] = &[1, 2, 840, 113635, 100, 6, 11, 1];
const INTERMEDIATE_MARKER_ARCS: &[u64] = &[1, 2, 840, 113635, 100, 6, 2, 1];
/// DER encoding of ASN.1 NULL, the value Apple's marker extensions carry.
const DER_NULL: [u8; 2] = [0x05, 0x00];

/// Name of the sub-directory of the data directory that holds the PKI.
pub const PKI_DIR: &str = "pki";
/// File names inside [`PKI_DIR`].
pub const ROOT_CERT_FILE: &str = "root.pem";
pub const ROOT_KEY_FILE: &str = "root.key";
pub const INTERMEDIATE_CERT_FILE: &str = "intermediate.pem";
pub const INTERMEDIATE_KEY_FILE: &str = "intermediate.key";
pub const LEAF_CERT_FILE: &str = "leaf.pem";
pub const LEAF_KEY_FILE: &str = "leaf.key";

const ALL_FILES: [&str; 6] = [
    ROOT_CERT_FILE,
    ROOT_KEY_FILE,
    INTERMEDIATE_CERT_FILE,
    INTERMEDIATE_KEY_FILE,
    LEAF_CERT_FILE,
    LEAF_KEY_FILE,
];

/// A signing chain: leaf key + `[leaf, intermediate, root]` certificates.
///
/// Cheap to share (`Send + Sync`); signing takes `&self`.
pub struct Pki {
    leaf_key: EcdsaKeyPair,
    rng: SystemRandom,
    leaf_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    root_der: Vec<u8>,
    /// `base64url({"alg":"ES256","x5c":[…]})`, computed once.
    header_b64: String,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("root_fingerprint_sha256", &self.root_fingerprint_sha256())
            .finish_non_exhaustive()
    }
}

/// PEM texts of a freshly minted PKI (certificates and PKCS#8 private keys).
#[derive(Clone)]
pub struct GeneratedPki {
    pub root_cert_pem: String,
    pub root_key_pem: String,
    pub intermediate_cert_pem: String,
    pub intermediate_key_pem: String,
    pub leaf_cert_pem: String,
    pub leaf_key_pem: String,
}

impl fmt::Debug for GeneratedPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedPki").finish_non_exhaustive()
    }
}

impl GeneratedPki {
    /// Mints a new root → intermediate → leaf chain (see the module docs for the profile).
    pub fn mint() -> Result<GeneratedPki> {
        let not_before = date_time_ymd(2020, 1, 1);
        let not_after = date_time_ymd(2045, 1, 1);

        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
        let mut root = CertificateParams::default();
        root.distinguished_name = name(&[
            (DnType::CommonName, "Crabapple Root CA - G3"),
            (
                DnType::OrganizationalUnitName,
                "Crabapple Certification Authority",
            ),
            (DnType::OrganizationName, "crabapple"),
            (DnType::CountryName, "US"),
        ]);
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        root.use_authority_key_identifier_extension = true;
        root.not_before = not_before;
        root.not_after = not_after;
        root.serial_number = Some(random_serial()?);
        let root_cert = root.self_signed(&root_key)?;
        let root_issuer = Issuer::new(root, &root_key);

        let intermediate_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
        let mut intermediate = CertificateParams::default();
        intermediate.distinguished_name = name(&[
            (
                DnType::CommonName,
                "Crabapple Worldwide Developer Relations Certification Authority",
            ),
            (DnType::OrganizationalUnitName, "G6"),
            (DnType::OrganizationName, "crabapple"),
            (DnType::CountryName, "US"),
        ]);
        intermediate.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        intermediate.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        intermediate.use_authority_key_identifier_extension = true;
        intermediate.custom_extensions = vec![CustomExtension::from_oid_content(
            INTERMEDIATE_MARKER_ARCS,
            DER_NULL.to_vec(),
        )];
        intermediate.not_before = not_before;
        intermediate.not_after = not_after;
        intermediate.serial_number = Some(random_serial()?);
        let intermediate_cert = intermediate.signed_by(&intermediate_key, &root_issuer)?;
        let intermediate_issuer = Issuer::new(intermediate, &intermediate_key);

        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = name(&[
            (
                DnType::CommonName,
                "Crabapple Mac App Store and iTunes Store Receipt Signing",
            ),
            (
                DnType::OrganizationalUnitName,
                "Crabapple Worldwide Developer Relations",
            ),
            (DnType::OrganizationName, "crabapple"),
            (DnType::CountryName, "US"),
        ]);
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.use_authority_key_identifier_extension = true;
        leaf.custom_extensions = vec![CustomExtension::from_oid_content(
            LEAF_MARKER_ARCS,
            DER_NULL.to_vec(),
        )];
        leaf.not_before = not_before;
        leaf.not_after = not_after;
        leaf.serial_number = Some(random_serial()?);
        let leaf_cert = leaf.signed_by(&leaf_key, &intermediate_issuer)?;

        Ok(GeneratedPki {
            root_cert_pem: root_cert.pem(),
            root_key_pem: root_key.serialize_pem(),
            intermediate_cert_pem: intermediate_cert.pem(),
            intermediate_key_pem: intermediate_key.serialize_pem(),
            leaf_cert_pem: leaf_cert.pem(),
            leaf_key_pem: leaf_key.serialize_pem(),
        })
    }

    /// Writes the six PEM files into `dir` (created if missing; keys mode 0600 on unix).
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (file, text, secret) in [
            (ROOT_CERT_FILE, &self.root_cert_pem, false),
            (ROOT_KEY_FILE, &self.root_key_pem, true),
            (INTERMEDIATE_CERT_FILE, &self.intermediate_cert_pem, false),
            (INTERMEDIATE_KEY_FILE, &self.intermediate_key_pem, true),
            (LEAF_CERT_FILE, &self.leaf_cert_pem, false),
            (LEAF_KEY_FILE, &self.leaf_key_pem, true),
        ] {
            let path = dir.join(file);
            write_file(&path, text.as_bytes(), secret)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// Loads the minted chain as a signer.
    pub fn to_pki(&self) -> Result<Pki> {
        Pki::from_pem(
            self.leaf_key_pem.as_bytes(),
            self.leaf_cert_pem.as_bytes(),
            self.intermediate_cert_pem.as_bytes(),
            self.root_cert_pem.as_bytes(),
        )
    }
}

impl Pki {
    /// Loads `dir/pki/*` or, when `dir/pki` doesn't exist yet, mints a new PKI and
    /// persists it there (so the root survives restarts and clients keep trusting it).
    ///
    /// A `dir/pki` with some files missing is an error rather than silently re-minted,
    /// because a new root would break every client that trusts the old one.
    /// Concurrent first starts are safe: the files are written to a temporary directory
    /// that is renamed into place; the loser of the race loads the winner's PKI.
    pub fn load_or_create(dir: &Path) -> Result<Pki> {
        let pki_dir = dir.join(PKI_DIR);
        if !pki_dir.exists() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let generated = GeneratedPki::mint()?;
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{PKI_DIR}.tmp-{}-{nanos}", std::process::id()));
            generated.write_to(&tmp)?;
            if let Err(err) = fs::rename(&tmp, &pki_dir) {
                let _ = fs::remove_dir_all(&tmp);
                if !pki_dir.exists() {
                    return Err(err).with_context(|| format!("creating {}", pki_dir.display()));
                }
                // Lost a race with another process; fall through and load its PKI.
            } else {
                tracing::info!(dir = %pki_dir.display(), "minted a new App Store signing PKI");
            }
        }
        let missing: Vec<&str> = ALL_FILES
            .iter()
            .copied()
            .filter(|f| !pki_dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} is incomplete (missing {}); restore the files or remove the directory \
                 to mint a new PKI (clients must then trust the new root)",
                pki_dir.display(),
                missing.join(", ")
            );
        }
        let p = |f: &str| pki_dir.join(f);
        Pki::from_files(
            &p(LEAF_KEY_FILE),
            &p(LEAF_CERT_FILE),
            &p(INTERMEDIATE_CERT_FILE),
            &p(ROOT_CERT_FILE),
        )
        .with_context(|| format!("loading {}", pki_dir.display()))
    }

    /// Mints a fresh in-memory PKI (nothing is written).
    pub fn generate() -> Result<Pki> {
        GeneratedPki::mint()?.to_pki()
    }

    /// Loads an external PKI, e.g. Apple's published test PKI (`testLeaf.key`,
    /// `testLeaf.pem`, `testIntermediate.pem`, `testCA.pem` / `testCA.der`), whose JWS
    /// Apple's libraries accept when configured with `testCA.der` as root.
    ///
    /// Certificates may be PEM or DER; the key may be PKCS#8 or SEC1 (`EC PRIVATE KEY`),
    /// PEM or DER, and must be a P-256 key matching the leaf certificate. The chain is
    /// checked (signatures, CA flags, marker OIDs) before it is accepted.
    pub fn from_files(
        leaf_key: &Path,
        leaf_cert: &Path,
        intermediate_cert: &Path,
        root_cert: &Path,
    ) -> Result<Pki> {
        let read = |p: &Path| fs::read(p).with_context(|| format!("reading {}", p.display()));
        Pki::from_pem(
            &read(leaf_key)?,
            &read(leaf_cert)?,
            &read(intermediate_cert)?,
            &read(root_cert)?,
        )
    }

    /// Like [`Pki::from_files`], from bytes (each PEM or DER).
    pub fn from_pem(
        leaf_key: &[u8],
        leaf_cert: &[u8],
        intermediate_cert: &[u8],
        root_cert: &[u8],
    ) -> Result<Pki> {
        let leaf_der = cert_der(leaf_cert).context("leaf certificate")?;
        let intermediate_der = cert_der(intermediate_cert).context("intermediate certificate")?;
        let root_der = cert_der(root_cert).context("root certificate")?;
        let key_der = key_der(leaf_key).context("leaf private key")?;
        let leaf_key =
            EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_der)
                .map_err(|e| anyhow!("leaf private key is not a usable P-256 key: {e}"))?;

        // The key must belong to the leaf certificate.
        let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der)
            .map_err(|e| anyhow!("leaf certificate: {e}"))?;
        ensure!(
            leaf.public_key().subject_public_key.data.as_ref() == leaf_key.public_key().as_ref(),
            "the leaf private key does not match the leaf certificate's public key"
        );

        // The chain must be one Apple's verifiers accept, at a time all three are valid.
        let at = latest_not_before(&[&leaf_der, &intermediate_der, &root_der])? + 1;
        let x5c = [&leaf_der, &intermediate_der, &root_der].map(|d| STANDARD.encode(d));
        crate::verify::verify_chain(&x5c, &root_der, at)
            .map_err(|e| anyhow!("certificate chain rejected: {e}"))?;

        let header = serde_json::json!({ "alg": "ES256", "x5c": x5c });
        let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        Ok(Pki {
            leaf_key,
            rng: SystemRandom::new(),
            leaf_der,
            intermediate_der,
            root_der,
            header_b64,
        })
    }

    /// The root certificate (DER), for clients' `SignedDataVerifier(root_certificates=…)`.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The root certificate as PEM.
    pub fn root_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.root_der)
    }

    /// SHA-256 fingerprint of the root in Node's `X509Certificate.fingerprint256` form
    /// (`AB:CD:…`, uppercase), as pinned by e.g. the `app-store-server-api` npm package.
    pub fn root_fingerprint_sha256(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.root_der);
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// `[leaf, intermediate, root]` certificates (DER), the order of `x5c`.
    pub fn chain_der(&self) -> [&[u8]; 3] {
        [&self.leaf_der, &self.intermediate_der, &self.root_der]
    }

    /// ECDSA P-256 / SHA-256 signature of `message` with the leaf key, as the raw 64-byte `r‖s`
    /// (for other signed containers, e.g. the CMS of a provisioning profile).
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.leaf_key
            .sign(&self.rng, message)
            .expect("ECDSA P-256 signing does not fail")
            .as_ref()
            .to_vec()
    }

    /// Signs a JSON payload: ES256 compact JWS with header `{"alg":"ES256","x5c":[…]}`.
    pub fn sign(&self, payload: &serde_json::Value) -> String {
        self.sign_payload(payload)
    }

    /// Signs any serializable payload (e.g. a [`crate::models::JWSTransactionDecodedPayload`]).
    pub fn sign_payload<T: Serialize + ?Sized>(&self, payload: &T) -> String {
        self.sign_json(&serde_json::to_vec(payload).expect("payload serializes to JSON"))
    }

    /// Signs a payload already serialized as JSON (a ledger document, `Doc::signed_at`).
    pub fn sign_json(&self, json: &[u8]) -> String {
        let mut jws = String::with_capacity(self.header_b64.len() + json.len() * 4 / 3 + 92);
        jws.push_str(&self.header_b64);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(json, &mut jws);
        let signature = self
            .leaf_key
            .sign(&self.rng, jws.as_bytes())
            .expect("ECDSA P-256 signing does not fail");
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
        jws
    }
}

fn name(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (ty, value) in parts {
        dn.push(ty.clone(), *value);
    }
    dn
}

fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow!("no randomness"))?;
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // and no leading zero byte
    Ok(SerialNumber::from_slice(&bytes))
}

/// PEM, possibly preceded by an `openssl x509 -text` dump (as Apple's test certs are).
fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(10).any(|w| w == b"-----BEGIN")
}

fn cert_der(bytes: &[u8]) -> Result<Vec<u8>> {
    let der = if is_pem(bytes) {
        CertificateDer::from_pem_slice(bytes)
            .map_err(|e| anyhow!("no PEM certificate found: {e}"))?
            .to_vec()
    } else {
        bytes.to_vec()
    };
    x509_parser::parse_x509_certificate(&der)
        .map_err(|e| anyhow!("not an X.509 certificate: {e}"))?;
    Ok(der)
}

fn key_der(bytes: &[u8]) -> Result<Vec<u8>> {
    if is_pem(bytes) {
        let key = PrivateKeyDer::from_pem_slice(bytes)
            .map_err(|e| anyhow!("no PEM private key found: {e}"))?;
        Ok(key.secret_der().to_vec())
    } else {
        Ok(bytes.to_vec())
    }
}

fn latest_not_before(ders: &[&Vec<u8>]) -> Result<u64> {
    let mut latest = 0i64;
    for der in ders {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| anyhow!("certificate: {e}"))?;
        latest = latest.max(cert.validity().not_before.timestamp());
    }
    Ok(latest.max(0) as u64)
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    if secret {
        return crabapple_store::files::write_secret(path, bytes);
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_certificates_have_apples_profile() {
        let g = GeneratedPki::mint().unwrap();
        let pki = g.to_pki().unwrap();
        let [leaf, intermediate, root] = pki.chain_der();
        let ext_oids = |der: &[u8]| {
            let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
            let mut v: Vec<(String, bool)> = c
                .extensions()
                .iter()
                .map(|e| (e.oid.to_id_string(), e.critical))
                .collect();
            v.sort();
            v
        };
        let expect = |marker: Option<&str>| {
            let mut v = vec![
                ("2.5.29.14".to_string(), false), // SKI
                ("2.5.29.15".to_string(), true),  // KeyUsage
                ("2.5.29.19".to_string(), true),  // BasicConstraints
                ("2.5.29.35".to_string(), false), // AKI
            ];
            if let Some(m) = marker {
                v.push((m.to_string(), false));
            }
            v.sort();
            v
        };
        assert_eq!(ext_oids(root), expect(None));
        assert_eq!(
            ext_oids(intermediate),
            expect(Some(INTERMEDIATE_MARKER_OID))
        );
        assert_eq!(ext_oids(leaf), expect(Some(LEAF_MARKER_OID)));

        let (_, l) = x509_parser::parse_x509_certificate(leaf).unwrap();
        assert!(!l.is_ca());
        let ku = l.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign());
        let marker = l
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == LEAF_MARKER_OID)
            .unwrap();
        assert_eq!(marker.value, &DER_NULL[..]);
        let (_, i) = x509_parser::parse_x509_certificate(intermediate).unwrap();
        assert!(i.is_ca());
        let ku = i.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign());
        assert_eq!(i.validity().not_before.timestamp(), 1577836800);
        assert_eq!(i.validity().not_after.timestamp(), 2366841600);
    }

    #[test]
    fn header_is_alg_then_x5c_in_standard_base64() {
        let pki = Pki::generate().unwrap();
        let jws = pki.sign(&serde_json::json!({"a": 1}));
        let header = jws.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        let keys: Vec<&String> = header.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["alg", "x5c"]);
        assert_eq!(header["alg"], "ES256");
        let x5c = header["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 3);
        for (b64, der) in x5c.iter().zip(pki.chain_der()) {
            assert_eq!(STANDARD.decode(b64.as_str().unwrap()).unwrap(), der);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(jws.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn fingerprint_and_pem_forms() {
        let pki = Pki::generate().unwrap();
        let fp = pki.root_fingerprint_sha256();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(
            fp.chars()
                .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        let pem = pki.root_pem();
        assert_eq!(cert_der(pem.as_bytes()).unwrap(), pki.root_der());
    }

    #[test]
    fn rejects_a_key_that_does_not_match_the_leaf() {
        let a = GeneratedPki::mint().unwrap();
        let b = GeneratedPki::mint().unwrap();
        let err = Pki::from_pem(
            b.leaf_key_pem.as_bytes(),
            a.leaf_cert_pem.as_bytes(),
            a.intermediate_cert_pem.as_bytes(),
            a.root_cert_pem.as_bytes(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        let err = Pki::from_pem(
            a.leaf_key_pem.as_bytes(),
            a.leaf_cert_pem.as_bytes(),
            a.intermediate_cert_pem.as_bytes(),
            b.root_cert_pem.as_bytes(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("chain rejected"), "{err:#}");
    }
}
