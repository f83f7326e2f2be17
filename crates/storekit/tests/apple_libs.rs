//! The real test: Apple's own `SignedDataVerifier` (PyPI `app-store-server-library`,
//! npm `@apple/app-store-server-library`) must accept what crabapple signs, with online
//! checks off and strict X.509 checks on, and must reject a wrong bundle id / environment
//! with the right `VerificationStatus`.
//!
//! Needs `tests/apple-libs/setup-apple-libs.sh` to have been run (creates `.venv/` and
//! `node_modules/` there; `scripts/test.sh` runs it before the cargo tests). Without both
//! libraries the test fails with that instruction: it never passes without running them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{APP_APPLE_ID, BUNDLE_ID, TempDir, now_ms};
use crabapple_storekit::Pki;
use crabapple_storekit::models::*;
use crabapple_storekit::verify::SignedDataVerifier;

struct Case {
    name: &'static str,
    kind: &'static str,
    environment: Environment,
    bundle_id: &'static str,
    app_apple_id: Option<i64>,
    /// `OK`, a status name, or `python:X|node:Y`.
    expect: &'static str,
    jws: String,
}

impl Case {
    fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.name,
            self.kind,
            self.environment,
            self.bundle_id,
            self.app_apple_id
                .map_or("-".to_string(), |id| id.to_string()),
            self.expect,
            self.jws
        )
    }

    /// The Rust port must agree with Apple's python library.
    fn check_with_rust(&self, root: &[u8]) {
        let expected = self
            .expect
            .split('|')
            .find_map(|p| p.strip_prefix("rust:"))
            .or_else(|| {
                self.expect
                    .split('|')
                    .find_map(|p| p.strip_prefix("python:"))
            })
            .unwrap_or(self.expect);
        let v = SignedDataVerifier::new(
            root,
            self.environment.clone(),
            self.bundle_id,
            self.app_apple_id,
        );
        let got = match self.kind {
            "transaction" => v.verify_and_decode_signed_transaction(&self.jws).map(drop),
            "renewal" => v.verify_and_decode_renewal_info(&self.jws).map(drop),
            "notification" => v.verify_and_decode_notification(&self.jws).map(drop),
            "app_transaction" => v.verify_and_decode_app_transaction(&self.jws).map(drop),
            "realtime" => v.verify_and_decode_realtime_request(&self.jws).map(drop),
            other => panic!("unknown kind {other}"),
        };
        let got = got.map_or_else(|e| e.status.apple_name(), |()| "OK");
        assert_eq!(got, expected, "rust verifier, case {}", self.name);
    }
}

fn libs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apple-libs")
}

struct Tools {
    python: Option<PathBuf>,
    node: bool,
}

fn tools() -> Tools {
    let dir = libs_dir();
    let python = dir.join(".venv/bin/python");
    let node = dir
        .join("node_modules/@apple/app-store-server-library")
        .is_dir()
        && Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    for (present, what) in [
        (python.is_file(), "python venv (.venv/)"),
        (node, "node_modules/ + node"),
    ] {
        assert!(
            present,
            "Apple's {what} is not installed in {}; run setup-apple-libs.sh there \
             (scripts/test.sh does)",
            dir.display()
        );
    }
    Tools {
        python: Some(python),
        node,
    }
}

fn run_scripts(tools: &Tools, root: &[u8], cases: &[Case], work: &Path, label: &str) {
    for case in cases {
        case.check_with_rust(root);
    }
    let root_path = work.join(format!("{label}-root.der"));
    std::fs::write(&root_path, root).unwrap();
    let cases_path = work.join(format!("{label}-cases.tsv"));
    let text: String = cases.iter().map(Case::line).collect();
    std::fs::write(&cases_path, text).unwrap();

    let dir = libs_dir();
    let mut runs = Vec::new();
    if let Some(python) = &tools.python {
        let mut c = Command::new(python);
        c.arg(dir.join("verify_python.py"));
        runs.push(("python", c));
    }
    if tools.node {
        let mut c = Command::new("node");
        c.arg(dir.join("verify_node.js"));
        runs.push(("node", c));
    }
    for (lib, mut command) in runs {
        let out = command
            .arg(&root_path)
            .arg(&cases_path)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("running the {lib} script: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("--- {lib} ({label}) ---\n{stdout}{stderr}");
        assert!(
            out.status.success(),
            "Apple's {lib} library disagreed ({label}):\n{stdout}\n{stderr}"
        );
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("PASS ")).count(),
            cases.len(),
            "{lib}: not every case ran"
        );
    }
}

#[test]
fn apple_libraries_accept_crabapple_signed_data() {
    let tools = tools();
    let work = TempDir::new("apple-libs");
    let pki = Pki::load_or_create(work.path()).unwrap();
    let now = now_ms();
    use Environment::{Production, Sandbox};

    let tx = pki.sign_payload(&common::sample_transaction(Sandbox, now));
    let renewal = pki.sign_payload(&common::sample_renewal(Sandbox, now));
    let app_tx = pki.sign_payload(&common::sample_app_transaction(Sandbox, now));

    let mut subscribed = common::notification(
        NotificationTypeV2::Subscribed,
        Some(Subtype::InitialBuy),
        now,
    );
    subscribed.data = Some(NotificationData {
        bundle_id: Some(BUNDLE_ID.into()),
        bundle_version: Some("1.2.3".into()),
        environment: Some(Sandbox),
        signed_transaction_info: Some(tx.clone()),
        signed_renewal_info: Some(renewal.clone()),
        status: Some(Status::Active),
        ..Default::default()
    });
    let subscribed = pki.sign_payload(&subscribed);

    let mut test = common::notification(NotificationTypeV2::Test, None, now);
    test.data = Some(NotificationData {
        bundle_id: Some(BUNDLE_ID.into()),
        environment: Some(Sandbox),
        ..Default::default()
    });
    let test = pki.sign_payload(&test);

    let mut production = common::notification(NotificationTypeV2::DidRenew, None, now);
    let prod_tx = pki.sign_payload(&common::sample_transaction(Production, now));
    production.data = Some(NotificationData {
        app_apple_id: Some(APP_APPLE_ID),
        bundle_id: Some(BUNDLE_ID.into()),
        bundle_version: Some("1.2.3".into()),
        environment: Some(Production),
        signed_transaction_info: Some(prod_tx),
        status: Some(Status::Active),
        ..Default::default()
    });
    let production = pki.sign_payload(&production);

    let mut summary = common::notification(
        NotificationTypeV2::RenewalExtension,
        Some(Subtype::Summary),
        now,
    );
    summary.summary = Some(Summary {
        request_identifier: Some(uuid::Uuid::new_v4().to_string()),
        environment: Some(Sandbox),
        bundle_id: Some(BUNDLE_ID.into()),
        product_id: Some("com.example.crabapple.monthly".into()),
        storefront_country_codes: Some(vec!["USA".into(), "CAN".into()]),
        failed_count: Some(0),
        succeeded_count: Some(3),
        ..Default::default()
    });
    let summary = pki.sign_payload(&summary);

    let mut token = common::notification(
        NotificationTypeV2::ExternalPurchaseToken,
        Some(Subtype::Unreported),
        now,
    );
    token.external_purchase_token = Some(ExternalPurchaseToken {
        external_purchase_id: Some(format!("SANDBOX_{}", uuid::Uuid::new_v4())),
        token_creation_date: Some(now - 1_000),
        bundle_id: Some(BUNDLE_ID.into()),
        ..Default::default()
    });
    let token = pki.sign_payload(&token);

    let mut rescind = common::notification(NotificationTypeV2::RescindConsent, None, now);
    rescind.app_data = Some(AppData {
        bundle_id: Some(BUNDLE_ID.into()),
        environment: Some(Sandbox),
        signed_app_transaction_info: Some(app_tx.clone()),
        ..Default::default()
    });
    let rescind = pki.sign_payload(&rescind);

    let tampered = common::tamper_signature(&tx);
    let foreign = Pki::generate()
        .unwrap()
        .sign_payload(&common::sample_transaction(Sandbox, now));
    let too_old = pki.sign_payload(&common::sample_transaction(Sandbox, 1_500_000_000_000));
    // Retention Messaging: the request Apple POSTs to the Get Retention Message endpoint.
    let realtime = pki.sign_payload(&DecodedRealtimeRequestBody {
        original_transaction_id: Some("2000000123456789".into()),
        app_apple_id: Some(APP_APPLE_ID),
        product_id: Some("com.example.crabapple.monthly".into()),
        user_locale: Some("en-US".into()),
        request_identifier: Some("3db5c98d-8acf-4e29-831e-8e1f82f9f6e9".into()),
        signed_date: Some(now),
        environment: Some(Sandbox),
    });

    let case = |name, kind, environment, bundle_id, app_apple_id, expect, jws: &String| Case {
        name,
        kind,
        environment,
        bundle_id,
        app_apple_id,
        expect,
        jws: jws.clone(),
    };
    let wrong = "com.example.other";
    let cases = vec![
        case(
            "transaction",
            "transaction",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &tx,
        ),
        case(
            "transaction-wrong-bundle",
            "transaction",
            Sandbox,
            wrong,
            None,
            "INVALID_APP_IDENTIFIER",
            &tx,
        ),
        case(
            "transaction-wrong-env",
            "transaction",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID),
            "INVALID_ENVIRONMENT",
            &tx,
        ),
        case(
            "renewal", "renewal", Sandbox, BUNDLE_ID, None, "OK", &renewal,
        ),
        case(
            "renewal-wrong-env",
            "renewal",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID),
            "INVALID_ENVIRONMENT",
            &renewal,
        ),
        case(
            "app-transaction",
            "app_transaction",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &app_tx,
        ),
        case(
            "app-transaction-wrong-bundle",
            "app_transaction",
            Sandbox,
            wrong,
            None,
            "INVALID_APP_IDENTIFIER",
            &app_tx,
        ),
        case(
            "realtime-request",
            "realtime",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &realtime,
        ),
        case(
            "realtime-request-wrong-env",
            "realtime",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID),
            "INVALID_ENVIRONMENT",
            &realtime,
        ),
        case(
            "realtime-request-wrong-app",
            "realtime",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID + 1),
            "INVALID_APP_IDENTIFIER",
            &realtime,
        ),
        case(
            "notification-subscribed",
            "notification",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &subscribed,
        ),
        case(
            "notification-wrong-bundle",
            "notification",
            Sandbox,
            wrong,
            None,
            "INVALID_APP_IDENTIFIER",
            &subscribed,
        ),
        // Production verifier on a sandbox notification: sandbox data carries no appAppleId,
        // and Apple compares the app id (Production only) before the environment.
        case(
            "notification-wrong-env",
            "notification",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID),
            "INVALID_APP_IDENTIFIER",
            &subscribed,
        ),
        case(
            "notification-test",
            "notification",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &test,
        ),
        case(
            "notification-production",
            "notification",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID),
            "OK",
            &production,
        ),
        case(
            "notification-production-wrong-app",
            "notification",
            Production,
            BUNDLE_ID,
            Some(APP_APPLE_ID + 1),
            "INVALID_APP_IDENTIFIER",
            &production,
        ),
        case(
            "notification-production-as-sandbox",
            "notification",
            Sandbox,
            BUNDLE_ID,
            None,
            "INVALID_ENVIRONMENT",
            &production,
        ),
        case(
            "notification-summary",
            "notification",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &summary,
        ),
        case(
            "notification-external-purchase-token",
            "notification",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &token,
        ),
        case(
            "notification-rescind-consent",
            "notification",
            Sandbox,
            BUNDLE_ID,
            None,
            "OK",
            &rescind,
        ),
        case(
            "tampered-signature",
            "transaction",
            Sandbox,
            BUNDLE_ID,
            None,
            "VERIFICATION_FAILURE",
            &tampered,
        ),
        case(
            "foreign-root",
            "transaction",
            Sandbox,
            BUNDLE_ID,
            None,
            "VERIFICATION_FAILURE",
            &foreign,
        ),
        // signedDate (2017) precedes the certificates' notBefore (2020): node reports the
        // date check as INVALID_CERTIFICATE, python as VERIFICATION_FAILURE.
        case(
            "signed-before-cert-validity",
            "transaction",
            Sandbox,
            BUNDLE_ID,
            None,
            "python:VERIFICATION_FAILURE|node:INVALID_CERTIFICATE|rust:VERIFICATION_FAILURE",
            &too_old,
        ),
    ];
    run_scripts(&tools, pki.root_der(), &cases, work.path(), "crabapple-pki");

    // Apple's own test PKI (Pki::from_files). Its certificates have no Authority Key
    // Identifier, so python's strict X.509 mode rejects them (Apple's own tests turn strict
    // checks off for this reason); node has no strict mode and accepts.
    let vectors = common::vectors_dir();
    let c = vectors.join("certs");
    let apple_test = Pki::from_files(
        &c.join("testLeaf.key"),
        &c.join("testLeaf.pem"),
        &c.join("testIntermediate.pem"),
        &c.join("testCA.der"),
    )
    .unwrap();
    let signed_date = 1_704_067_200_000; // 2024-01-01, inside the test certs' validity
    let tx = apple_test.sign_payload(&common::sample_transaction(Sandbox, signed_date));
    let cases = vec![case(
        "apple-test-pki-transaction",
        "transaction",
        Sandbox,
        BUNDLE_ID,
        None,
        "python:VERIFICATION_FAILURE|node:OK|rust:OK",
        &tx,
    )];
    run_scripts(
        &tools,
        apple_test.root_der(),
        &cases,
        work.path(),
        "apple-test-pki",
    );
}
