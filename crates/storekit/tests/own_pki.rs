//! crabapple's own PKI: persistence, and sign → verify with the Rust port of Apple's verifier.

mod common;

use std::time::Instant;

use common::{APP_APPLE_ID, BUNDLE_ID, TempDir, now_ms};
use crabapple_storekit::Pki;
use crabapple_storekit::models::*;
use crabapple_storekit::pki;
use crabapple_storekit::verify::{
    SignedDataVerifier, VerificationStatus, decode_unverified, verify_jws,
};

#[test]
fn load_or_create_persists_and_reloads_the_same_root() {
    let tmp = TempDir::new("persist");
    let first = Pki::load_or_create(tmp.path()).unwrap();
    let dir = tmp.path().join(pki::PKI_DIR);
    for f in [
        pki::ROOT_CERT_FILE,
        pki::ROOT_KEY_FILE,
        pki::INTERMEDIATE_CERT_FILE,
        pki::INTERMEDIATE_KEY_FILE,
        pki::LEAF_CERT_FILE,
        pki::LEAF_KEY_FILE,
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(pki::LEAF_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let root_pem = std::fs::read_to_string(dir.join(pki::ROOT_CERT_FILE)).unwrap();
    assert_eq!(root_pem, first.root_pem());

    let second = Pki::load_or_create(tmp.path()).unwrap();
    assert_eq!(second.root_der(), first.root_der());
    assert_eq!(second.chain_der(), first.chain_der());
    assert_eq!(
        second.root_fingerprint_sha256(),
        first.root_fingerprint_sha256()
    );

    // Data signed before a restart verifies after it, and vice versa.
    let before = first.sign_payload(&common::sample_transaction(Environment::Sandbox, now_ms()));
    let v = SignedDataVerifier::new(second.root_der(), Environment::Sandbox, BUNDLE_ID, None);
    v.verify_and_decode_signed_transaction(&before).unwrap();

    // Another data directory gets another root.
    let other = TempDir::new("persist-other");
    let third = Pki::load_or_create(other.path()).unwrap();
    assert_ne!(third.root_der(), first.root_der());
}

#[test]
fn an_incomplete_pki_directory_is_an_error_not_a_new_root() {
    let tmp = TempDir::new("incomplete");
    Pki::load_or_create(tmp.path()).unwrap();
    std::fs::remove_file(tmp.path().join(pki::PKI_DIR).join(pki::LEAF_KEY_FILE)).unwrap();
    let err = Pki::load_or_create(tmp.path()).unwrap_err();
    assert!(format!("{err:#}").contains(pki::LEAF_KEY_FILE), "{err:#}");
}

#[test]
fn signed_data_verifies_with_apples_rules() {
    let pki = Pki::generate().unwrap();
    let now = now_ms();
    let root = pki.root_der().to_vec();
    let sandbox = SignedDataVerifier::new(root.clone(), Environment::Sandbox, BUNDLE_ID, None);

    let tx_jws = pki.sign_payload(&common::sample_transaction(Environment::Sandbox, now));
    let tx = sandbox
        .verify_and_decode_signed_transaction(&tx_jws)
        .unwrap();
    assert_eq!(tx, common::sample_transaction(Environment::Sandbox, now));
    let renewal_jws = pki.sign_payload(&common::sample_renewal(Environment::Sandbox, now));
    sandbox
        .verify_and_decode_renewal_info(&renewal_jws)
        .unwrap();
    let at_jws = pki.sign_payload(&common::sample_app_transaction(Environment::Sandbox, now));
    sandbox.verify_and_decode_app_transaction(&at_jws).unwrap();

    let mut n = common::notification(
        NotificationTypeV2::Subscribed,
        Some(Subtype::InitialBuy),
        now,
    );
    n.data = Some(NotificationData {
        bundle_id: Some(BUNDLE_ID.into()),
        bundle_version: Some("1.2.3".into()),
        environment: Some(Environment::Sandbox),
        signed_transaction_info: Some(tx_jws.clone()),
        signed_renewal_info: Some(renewal_jws.clone()),
        status: Some(Status::Active),
        ..Default::default()
    });
    let n_jws = pki.sign_payload(&n);
    let decoded = sandbox.verify_and_decode_notification(&n_jws).unwrap();
    assert_eq!(decoded, n);

    // Apple's rejections.
    let wrong_bundle =
        SignedDataVerifier::new(root.clone(), Environment::Sandbox, "com.other", None);
    assert_eq!(
        wrong_bundle
            .verify_and_decode_signed_transaction(&tx_jws)
            .unwrap_err()
            .status,
        VerificationStatus::InvalidAppIdentifier
    );
    assert_eq!(
        wrong_bundle
            .verify_and_decode_notification(&n_jws)
            .unwrap_err()
            .status,
        VerificationStatus::InvalidAppIdentifier
    );
    let production = SignedDataVerifier::new(
        root.clone(),
        Environment::Production,
        BUNDLE_ID,
        Some(APP_APPLE_ID),
    );
    for err in [
        production
            .verify_and_decode_signed_transaction(&tx_jws)
            .unwrap_err(),
        production
            .verify_and_decode_renewal_info(&renewal_jws)
            .unwrap_err(),
    ] {
        assert_eq!(err.status, VerificationStatus::InvalidEnvironment);
    }
    // In Production the notification's missing appAppleId is an app-identifier mismatch.
    assert_eq!(
        production
            .verify_and_decode_notification(&n_jws)
            .unwrap_err()
            .status,
        VerificationStatus::InvalidAppIdentifier
    );

    // Tampering and foreign roots.
    let tampered = common::tamper_signature(&tx_jws);
    assert_eq!(
        sandbox
            .verify_and_decode_signed_transaction(&tampered)
            .unwrap_err()
            .status,
        VerificationStatus::VerificationFailure
    );
    let other = Pki::generate().unwrap();
    assert_eq!(
        verify_jws(&tx_jws, other.root_der()).unwrap_err().status,
        VerificationStatus::VerificationFailure
    );
    // signedDate drives chain validation: before the certificates' 2020 notBefore → rejected.
    let ancient = pki.sign_payload(&common::sample_transaction(
        Environment::Sandbox,
        1_500_000_000_000,
    ));
    assert_eq!(
        sandbox
            .verify_and_decode_signed_transaction(&ancient)
            .unwrap_err()
            .status,
        VerificationStatus::VerificationFailure
    );
    // No x5c / wrong alg.
    let d = decode_unverified(&tx_jws).unwrap();
    assert_eq!(d.header["alg"], "ES256");
    assert!(d.header.get("kid").is_none() && d.header.get("typ").is_none());
}

#[test]
fn production_notification_checks_app_apple_id() {
    let pki = Pki::generate().unwrap();
    let mut n = common::notification(NotificationTypeV2::Test, None, now_ms());
    n.data = Some(NotificationData {
        app_apple_id: Some(APP_APPLE_ID),
        bundle_id: Some(BUNDLE_ID.into()),
        environment: Some(Environment::Production),
        ..Default::default()
    });
    let jws = pki.sign_payload(&n);
    let ok = SignedDataVerifier::new(
        pki.root_der(),
        Environment::Production,
        BUNDLE_ID,
        Some(APP_APPLE_ID),
    );
    ok.verify_and_decode_notification(&jws).unwrap();
    let other_app = SignedDataVerifier::new(
        pki.root_der(),
        Environment::Production,
        BUNDLE_ID,
        Some(APP_APPLE_ID + 1),
    );
    assert_eq!(
        other_app
            .verify_and_decode_notification(&jws)
            .unwrap_err()
            .status,
        VerificationStatus::InvalidAppIdentifier
    );
}

/// `cargo test -p crabapple-storekit --test own_pki -- --ignored --nocapture timing`
#[test]
#[ignore = "timing report, run on demand"]
fn timing() {
    let pki = Pki::generate().unwrap();
    let payload = common::sample_transaction(Environment::Sandbox, now_ms());
    let n = 2_000;
    let start = Instant::now();
    let mut jws = String::new();
    for _ in 0..n {
        jws = pki.sign_payload(&payload);
    }
    let sign = start.elapsed() / n;
    let v = SignedDataVerifier::new(pki.root_der(), Environment::Sandbox, BUNDLE_ID, None);
    let start = Instant::now();
    for _ in 0..n / 4 {
        v.verify_and_decode_signed_transaction(&jws).unwrap();
    }
    let verify = start.elapsed() / (n / 4);
    let start = Instant::now();
    for _ in 0..10 {
        Pki::generate().unwrap();
    }
    let mint = start.elapsed() / 10;
    println!(
        "sign_payload: {sign:?}/JWS ({} bytes); full verify (chain + OIDs + ES256 + decode): {verify:?}; mint PKI: {mint:?}",
        jws.len()
    );
}
