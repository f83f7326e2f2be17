//! HTTPS (issue 13): crabapple's own certificate authority and the server certificate it issues
//! for Apple's API host names, `localhost` and `127.0.0.1`, so clients that only speak `https://`
//! (or hard-code Apple's hosts and reach crabapple through its proxy, [`crate::proxy`]) can be
//! pointed at it.
//!
//! The CA is the root of the data directory's own App Store signing PKI (`pki/root.pem`, made on
//! first use and kept), so a user trusts one root once (`crabapple ca export --pem` prints it);
//! the server certificate is issued afresh at every start, valid for a year of real time (TLS
//! clients check the wall clock, not crabapple's virtual one). ALPN offers HTTP/2 and HTTP/1.1.

use anyhow::{Context, Result};
use crabapple_storekit::pki::{PKI_DIR, ROOT_CERT_FILE, ROOT_KEY_FILE};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The host names Apple serves its APIs on, which crabapple's certificate names and its proxy
/// serves (every other host is refused): App Store Connect, and the App Store Server API in
/// production and sandbox under both of Apple's domains.
pub const APPLE_HOSTS: &[&str] = &[
    "api.appstoreconnect.apple.com",
    "api.storekit.itunes.apple.com",
    "api.storekit-sandbox.itunes.apple.com",
    "api.storekit.apple.com",
    "api.storekit-sandbox.apple.com",
];

/// Local names the certificate also covers.
const LOCAL_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The CA certificate's file: the root of the data directory's own App Store signing PKI
/// (crates/storekit pki.rs), so one root is trusted for both (`crabapple ca export --pem`).
pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PKI_DIR).join(ROOT_CERT_FILE)
}

/// What a TLS listener serves with.
pub struct Tls {
    /// The CA certificate (PEM) clients trust.
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// The data directory's CA, made (and saved) on first use: `(certificate PEM, key)`. It is the
/// root of the directory's own signing PKI even when `serve --apple-test-pki` signs App Store
/// data with Apple's test chain (whose root key nobody has).
pub fn load_or_create_ca(data_dir: &Path) -> Result<(String, KeyPair)> {
    crabapple_storekit::Pki::load_or_create(data_dir)?;
    let dir = data_dir.join(PKI_DIR);
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .with_context(|| format!("reading {}", dir.join(f).display()))
    };
    let key = KeyPair::from_pem(&read(ROOT_KEY_FILE)?).context("the CA key")?;
    Ok((read(ROOT_CERT_FILE)?, key))
}

/// The CA and a fresh server certificate for [`APPLE_HOSTS`] and the local names, as an
/// acceptor for HTTP/2 and HTTP/1.1.
pub fn load(data_dir: &Path) -> Result<Tls> {
    let (ca_pem, ca_key) = load_or_create_ca(data_dir)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("the CA certificate")?;
    let names: Vec<String> = APPLE_HOSTS
        .iter()
        .chain(LOCAL_NAMES)
        .map(|s| s.to_string())
        .collect();
    let mut p = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, APPLE_HOSTS[0]);
    dn.push(DnType::OrganizationName, "crabapple");
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // OpenSSL's strict verification (Python 3.13's default) wants the issuer's key named.
    p.use_authority_key_identifier_extension = true;
    set_validity(&mut p, 365);
    let key = KeyPair::generate()?;
    let leaf = p.signed_by(&key, &issuer)?;
    let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .context("the CA certificate")?;
    let chain = vec![leaf.der().clone(), ca_der];
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| anyhow::anyhow!("the server key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}

/// Valid from yesterday until `days` days from now (real time, whole UTC days).
fn set_validity(p: &mut CertificateParams, days: i64) {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let ymd = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
    };
    p.not_before = ymd(today.yesterday().unwrap_or(today));
    p.not_after = ymd(today
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(today));
}
