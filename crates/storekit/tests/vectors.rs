//! Checks against Apple's published test vectors (`shared/vectors/app-store-server`, read at
//! run time; every test skips with a message when the directory is absent).

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crabapple_storekit::Pki;
use crabapple_storekit::models::*;
use crabapple_storekit::verify::{SignedDataVerifier, VerificationStatus, verify_chain};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn read_json(dir: &Path, file: &str) -> Value {
    let path = dir.join("models").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// fixture → T → JSON must equal the fixture (as JSON values; key order is irrelevant).
fn round_trip<T: DeserializeOwned + Serialize>(dir: &Path, file: &str) -> T {
    let fixture = read_json(dir, file);
    let typed: T = serde_json::from_value(fixture.clone())
        .unwrap_or_else(|e| panic!("{file} does not deserialize: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, fixture, "{file} does not round-trip");
    typed
}

#[test]
fn model_fixtures_round_trip() {
    let dir = common::vectors_dir();
    let d = dir.as_path();

    let tx: JWSTransactionDecodedPayload = round_trip(d, "signedTransaction.json");
    assert_eq!(tx.r#type, Some(Type::AutoRenewableSubscription));
    assert_eq!(tx.environment, Some(Environment::LocalTesting));
    assert_eq!(tx.offer_type, Some(OfferType::IntroductoryOffer));
    assert_eq!(
        tx.revocation_reason,
        Some(RevocationReason::RefundedDueToIssue)
    );
    assert_eq!(tx.offer_discount_type, Some(OfferDiscountType::PayAsYouGo));
    assert_eq!(tx.billing_plan_type, Some(BillingPlanType::Monthly));
    assert_eq!(
        tx.commitment_info.as_ref().unwrap().total_billing_periods,
        Some(12)
    );
    let tx: JWSTransactionDecodedPayload = round_trip(d, "signedTransactionWithRevocation.json");
    assert_eq!(tx.revocation_type, Some(RevocationType::RefundProrated));
    assert_eq!(tx.revocation_percentage, Some(50000));

    let r: JWSRenewalInfoDecodedPayload = round_trip(d, "signedRenewalInfo.json");
    assert_eq!(
        r.expiration_intent,
        Some(ExpirationIntent::CustomerCancelled)
    );
    assert_eq!(r.auto_renew_status, Some(AutoRenewStatus::On));
    assert_eq!(
        r.price_increase_status,
        Some(PriceIncreaseStatus::CustomerHasNotResponded)
    );
    assert_eq!(r.offer_type, Some(OfferType::PromotionalOffer));
    assert_eq!(r.eligible_win_back_offer_ids.as_ref().unwrap().len(), 2);
    let commitment = r.commitment_info.as_ref().unwrap();
    assert_eq!(
        commitment.commitment_auto_renew_status,
        Some(AutoRenewStatus::On)
    );

    let at: AppTransaction = round_trip(d, "appTransaction.json");
    assert_eq!(at.original_platform, Some(PurchasePlatform::Ios));
    assert_eq!(at.receipt_type, Some(Environment::LocalTesting));

    let n: ResponseBodyV2DecodedPayload = round_trip(d, "signedNotification.json");
    assert_eq!(n.notification_type, Some(NotificationTypeV2::Subscribed));
    assert_eq!(n.subtype, Some(Subtype::InitialBuy));
    assert_eq!(n.data.as_ref().unwrap().status, Some(Status::Active));
    let n: ResponseBodyV2DecodedPayload = round_trip(d, "signedSummaryNotification.json");
    assert_eq!(
        n.summary
            .as_ref()
            .unwrap()
            .storefront_country_codes
            .as_ref()
            .unwrap()
            .len(),
        3
    );
    let n: ResponseBodyV2DecodedPayload =
        round_trip(d, "signedExternalPurchaseTokenNotification.json");
    assert_eq!(n.subtype, Some(Subtype::Unreported));
    round_trip::<ResponseBodyV2DecodedPayload>(
        d,
        "signedExternalPurchaseTokenSandboxNotification.json",
    );
    let n: ResponseBodyV2DecodedPayload = round_trip(d, "signedRescindConsentNotification.json");
    assert_eq!(
        n.notification_type,
        Some(NotificationTypeV2::RescindConsent)
    );
    assert!(n.app_data.is_some());
    let n: ResponseBodyV2DecodedPayload =
        round_trip(d, "signedConsumptionRequestNotification.json");
    assert_eq!(
        n.data.unwrap().consumption_request_reason,
        Some(ConsumptionRequestReason::UnintendedPurchase)
    );
    let a: AppData = round_trip(d, "appData.json");
    assert_eq!(a.environment, Some(Environment::Sandbox));

    round_trip::<TransactionInfoResponse>(d, "transactionInfoResponse.json");
    let h: HistoryResponse = round_trip(d, "transactionHistoryResponse.json");
    assert_eq!(h.has_more, Some(true));
    let h: HistoryResponse =
        round_trip(d, "transactionHistoryResponseWithMalformedEnvironment.json");
    assert_eq!(
        h.environment,
        Some(Environment::Unknown("LocalTestingxxx".into()))
    );
    let malformed = read_json(d, "transactionHistoryResponseWithMalformedAppAppleId.json");
    assert!(serde_json::from_value::<HistoryResponse>(malformed).is_err());
    let s: StatusResponse = round_trip(d, "getAllSubscriptionStatusesResponse.json");
    let last = &s.data.as_ref().unwrap()[0]
        .last_transactions
        .as_ref()
        .unwrap()[1];
    assert_eq!(last.status, Some(Status::Revoked));
    round_trip::<RefundHistoryResponse>(d, "getRefundHistoryResponse.json");
    let o: OrderLookupResponse = round_trip(d, "lookupOrderIdResponse.json");
    assert_eq!(o.status, Some(OrderLookupStatus::Invalid));
    round_trip::<ExtendRenewalDateResponse>(d, "extendSubscriptionRenewalDateResponse.json");
    round_trip::<MassExtendRenewalDateResponse>(
        d,
        "extendRenewalDateForAllActiveSubscribersResponse.json",
    );
    round_trip::<MassExtendRenewalDateStatusResponse>(
        d,
        "getStatusOfSubscriptionRenewalDateExtensionsResponse.json",
    );
    round_trip::<SendTestNotificationResponse>(d, "requestTestNotificationResponse.json");
    let c: CheckTestNotificationResponse = round_trip(d, "getTestNotificationStatusResponse.json");
    assert_eq!(
        c.send_attempts.as_ref().unwrap()[0].send_attempt_result,
        Some(SendAttemptResult::NoResponse)
    );
    let nh: NotificationHistoryResponse = round_trip(d, "getNotificationHistoryResponse.json");
    assert_eq!(
        nh.notification_history.as_ref().unwrap()[1]
            .send_attempts
            .as_ref()
            .unwrap()[0]
            .send_attempt_result,
        Some(SendAttemptResult::CircularRedirect)
    );
    round_trip::<AppTransactionInfoResponse>(d, "appTransactionInfoResponse.json");
}

#[test]
fn error_fixtures_match_our_codes_and_messages() {
    let dir = common::vectors_dir();
    for (file, expected) in [
        ("apiException.json", ApiError::GeneralInternal),
        (
            "apiTooManyRequestsException.json",
            ApiError::RateLimitExceeded,
        ),
        (
            "invalidTransactionIdError.json",
            ApiError::InvalidTransactionId,
        ),
        (
            "transactionIdNotFoundError.json",
            ApiError::TransactionIdNotFound,
        ),
        (
            "appTransactionDoesNotExistError.json",
            ApiError::AppTransactionDoesNotExist,
        ),
        (
            "familyTransactionNotSupportedError.json",
            ApiError::FamilyTransactionNotSupported,
        ),
        (
            "transactionIdNotOriginalTransactionId.json",
            ApiError::TransactionIdIsNotOriginalTransactionId,
        ),
        (
            "invalidAppAccountTokenUUIDError.json",
            ApiError::InvalidAppAccountTokenUuid,
        ),
        (
            "apiUnknownError.json",
            ApiError::Unknown {
                code: 9990000,
                message: "Testing error.".into(),
            },
        ),
    ] {
        // Round trip proves our message is Apple's exact text.
        let e: ApiError = round_trip(&dir, file);
        assert_eq!(e, expected, "{file}");
    }
}

#[test]
fn request_bodies_serialize_as_apples_clients_send_them() {
    let v2 = ConsumptionRequest {
        customer_consented: Some(true),
        sample_content_provided: Some(false),
        delivery_status: Some(DeliveryStatus::Delivered),
        consumption_percentage: Some(50000),
        refund_preference: Some(RefundPreference::GrantFull),
    };
    assert_eq!(
        serde_json::to_value(&v2).unwrap(),
        serde_json::json!({"customerConsented": true, "sampleContentProvided": false,
            "deliveryStatus": "DELIVERED", "consumptionPercentage": 50000,
            "refundPreference": "GRANT_FULL"})
    );
    let v1: ConsumptionRequestV1 = serde_json::from_value(serde_json::json!({
        "customerConsented": true, "consumptionStatus": 1, "platform": 2,
        "sampleContentProvided": false, "deliveryStatus": 3,
        "appAccountToken": "7389a31a-fb6d-4569-a2a6-db7d85d84813", "accountTenure": 4,
        "playTime": 5, "lifetimeDollarsRefunded": 6, "lifetimeDollarsPurchased": 7,
        "userStatus": 4, "refundPreference": 3}))
    .unwrap();
    assert_eq!(v1.platform, Some(Platform::NonApple));
    assert_eq!(
        v1.delivery_status,
        Some(DeliveryStatusV1::DidNotDeliverDueToServerOutage)
    );
    assert_eq!(
        v1.lifetime_dollars_purchased,
        Some(LifetimeDollarsPurchased::TwoThousandDollarsOrGreater)
    );
    assert_eq!(v1.refund_preference, Some(RefundPreferenceV1::NoPreference));
    let mass = MassExtendRenewalDateRequest {
        extend_by_days: Some(45),
        extend_reason_code: Some(ExtendReasonCode::CustomerSatisfaction),
        request_identifier: Some("fdf964a4-233b-486c-aac1-97d8d52688ac".into()),
        storefront_country_codes: Some(vec!["USA".into(), "MEX".into()]),
        product_id: Some("com.example.productId".into()),
    };
    assert_eq!(
        serde_json::to_value(&mass).unwrap(),
        serde_json::json!({"extendByDays": 45, "extendReasonCode": 1,
            "requestIdentifier": "fdf964a4-233b-486c-aac1-97d8d52688ac",
            "storefrontCountryCodes": ["USA", "MEX"], "productId": "com.example.productId"})
    );
    let history: NotificationHistoryRequest = serde_json::from_value(serde_json::json!({
        "startDate": 1698148900000i64, "endDate": 1698148950000i64,
        "notificationType": "SUBSCRIBED", "notificationSubtype": "INITIAL_BUY",
        "transactionId": "999733843", "onlyFailures": true}))
    .unwrap();
    assert_eq!(history.notification_subtype, Some(Subtype::InitialBuy));
}

fn mock(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("mock_signed_data").join(name))
        .unwrap()
        .trim()
        .to_string()
}

fn test_ca(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("certs/testCA.der")).unwrap()
}

#[test]
fn apples_mock_signed_data_verifies_like_apples_libraries_say() {
    let dir = common::vectors_dir();
    let root = test_ca(&dir);
    let sandbox = SignedDataVerifier::new(root.clone(), Environment::Sandbox, "com.example", None);

    let tx = sandbox
        .verify_and_decode_signed_transaction(&mock(&dir, "transactionInfo"))
        .unwrap();
    assert_eq!(tx.environment, Some(Environment::Sandbox));
    let info = sandbox
        .verify_and_decode_renewal_info(&mock(&dir, "renewalInfo"))
        .unwrap();
    assert_eq!(info.environment, Some(Environment::Sandbox));
    let n = sandbox
        .verify_and_decode_notification(&mock(&dir, "testNotification"))
        .unwrap();
    assert_eq!(n.notification_type, Some(NotificationTypeV2::Test));

    let status = |v: &SignedDataVerifier, file: &str| {
        v.verify_and_decode_notification(&mock(&dir, file))
            .unwrap_err()
            .status
    };
    let production = SignedDataVerifier::new(
        root.clone(),
        Environment::Production,
        "com.example",
        Some(1234),
    );
    assert_eq!(
        status(&production, "testNotification"),
        VerificationStatus::InvalidEnvironment
    );
    let production_other_app = SignedDataVerifier::new(
        root.clone(),
        Environment::Production,
        "com.example",
        Some(1235),
    );
    assert_eq!(
        status(&production_other_app, "testNotification"),
        VerificationStatus::InvalidAppIdentifier
    );
    let other_bundle =
        SignedDataVerifier::new(root.clone(), Environment::Sandbox, "com.examplex", None);
    assert_eq!(
        status(&other_bundle, "wrongBundleId"),
        VerificationStatus::InvalidAppIdentifier
    );
    assert_eq!(
        status(&sandbox, "missingX5CHeaderClaim"),
        VerificationStatus::VerificationFailure
    );
    for malformed in ["a.b.c.d", "a.b.c"] {
        assert_eq!(
            sandbox
                .verify_and_decode_notification(malformed)
                .unwrap_err()
                .status,
            VerificationStatus::VerificationFailure
        );
    }

    // The same samples are rejected under any other root (here the real Apple root).
    let apple_root = std::fs::read(dir.join("apple-root/AppleRootCA-G3.cer")).unwrap();
    let real = SignedDataVerifier::new(apple_root, Environment::Sandbox, "com.example", None);
    assert_eq!(
        status(&real, "testNotification"),
        VerificationStatus::VerificationFailure
    );
}

#[test]
fn x509_chain_vectors() {
    let dir = common::vectors_dir();
    let text = std::fs::read_to_string(dir.join("x509-chain-vectors.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let certs = &v["certificates"];
    let b64 = |name: &str| -> String {
        match name {
            "abc" => "abc".into(),
            "<base64 of the bytes 'abc'>" => STANDARD.encode(b"abc"),
            other => certs[other]["der_base64"]
                .as_str()
                .unwrap_or_else(|| panic!("unknown certificate {other}"))
                .into(),
        }
    };
    let default_date = v["effective_date_unix_seconds"].as_u64().unwrap();
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Some(chain) = case["chain"].as_array() else {
            continue;
        };
        let chain: Vec<String> = chain.iter().map(|c| b64(c.as_str().unwrap())).collect();
        let root = match case["trusted_root"].as_str().unwrap() {
            "<the bytes 'abc'>" => b"abc".to_vec(),
            other => STANDARD.decode(b64(other)).unwrap(),
        };
        let at = case["effective_date_unix_seconds"]
            .as_u64()
            .unwrap_or(default_date);
        let expect = case["expect"].as_str().unwrap();
        let got = verify_chain(&chain, &root, at);
        // The real Apple chain expects OK with OCSP online; offline we check the chain only.
        match got {
            Ok(point) => {
                assert!(
                    expect.starts_with("OK"),
                    "{name}: expected {expect}, got OK"
                );
                if name == "valid_chain_without_ocsp" {
                    let pem = v["expected_leaf_public_key_pem"].as_str().unwrap();
                    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
                    let spki = STANDARD.decode(body).unwrap();
                    assert!(spki.ends_with(&point), "{name}: leaf key mismatch");
                }
            }
            Err(e) => assert!(
                expect.starts_with(e.status.apple_name()),
                "{name}: expected {expect}, got {e}"
            ),
        }
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn signing_with_apples_test_pki_verifies_under_test_ca() {
    let dir = common::vectors_dir();
    let c = dir.join("certs");
    let pki = Pki::from_files(
        &c.join("testLeaf.key"),
        &c.join("testLeaf.pem"),
        &c.join("testIntermediate.pem"),
        &c.join("testCA.der"),
    )
    .unwrap();
    assert_eq!(pki.root_der(), test_ca(&dir));
    // Within the test certificates' validity (2023-01-05 .. 2033-01-01).
    let signed_date = 1_704_067_200_000; // 2024-01-01
    let jws = pki.sign_payload(&common::sample_transaction(
        Environment::Sandbox,
        signed_date,
    ));
    let v = SignedDataVerifier::new(test_ca(&dir), Environment::Sandbox, common::BUNDLE_ID, None);
    let tx = v.verify_and_decode_signed_transaction(&jws).unwrap();
    assert_eq!(tx.signed_date, Some(signed_date));
    // PEM root works too, and gives the same chain.
    let pem_root = Pki::from_files(
        &c.join("testLeaf.key"),
        &c.join("testLeaf.pem"),
        &c.join("testIntermediate.pem"),
        &c.join("testCA.pem"),
    )
    .unwrap();
    assert_eq!(
        pem_root.root_fingerprint_sha256(),
        pki.root_fingerprint_sha256()
    );

    // The invalid-OID certificates are refused up front.
    let err = Pki::from_files(
        &c.join("testLeaf.key"),
        &c.join("testInvalidOIDLeaf.pem"),
        &c.join("testIntermediate.pem"),
        &c.join("testCA.der"),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("does not match")
            || format!("{err:#}").contains("1.2.840.113635.100.6.11.1"),
        "{err:#}"
    );
}
