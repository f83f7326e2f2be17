//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crabapple_storekit::models::*;

/// Apple's test vectors (read at run time from `shared/` next to the repository, never
/// committed). A test that needs them fails when they are absent: no silent skip.
pub fn vectors_dir() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/app-store-server");
    assert!(
        dir.is_dir(),
        "Apple's App Store Server vectors not found at {} (expected a \
         `shared/vectors/app-store-server` directory next to the repository)",
        dir.display()
    );
    dir
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "crabapple-storekit-{label}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The suite's PostgreSQL (`CRABAPPLE_TEST_POSTGRES_URL`): a test that needs it fails without it.
pub fn postgres_url() -> String {
    std::env::var("CRABAPPLE_TEST_POSTGRES_URL").expect(
        "CRABAPPLE_TEST_POSTGRES_URL: start PostgreSQL with `scripts/pg.sh start` and export the \
         URL it prints (scripts/test.sh does both)",
    )
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub const BUNDLE_ID: &str = "com.example.crabapple";
pub const APP_APPLE_ID: i64 = 1_234_567_890;

/// An auto-renewable subscription purchase, shaped like a real App Store payload.
pub fn sample_transaction(
    environment: Environment,
    signed_date: i64,
) -> JWSTransactionDecodedPayload {
    JWSTransactionDecodedPayload {
        transaction_id: Some("2000000123456789".into()),
        original_transaction_id: Some("2000000123456789".into()),
        web_order_line_item_id: Some("2000000012345678".into()),
        bundle_id: Some(BUNDLE_ID.into()),
        product_id: Some("com.example.crabapple.monthly".into()),
        subscription_group_identifier: Some("21345678".into()),
        purchase_date: Some(signed_date - 1_000),
        original_purchase_date: Some(signed_date - 1_000),
        expires_date: Some(signed_date - 1_000 + 30 * 86_400_000),
        quantity: Some(1),
        r#type: Some(Type::AutoRenewableSubscription),
        app_account_token: Some("7e3fb20b-4cdb-47cc-936d-99d65f608138".into()),
        in_app_ownership_type: Some(InAppOwnershipType::Purchased),
        signed_date: Some(signed_date),
        environment: Some(environment),
        transaction_reason: Some(TransactionReason::Purchase),
        storefront: Some("USA".into()),
        storefront_id: Some("143441".into()),
        price: Some(9_990),
        currency: Some("USD".into()),
        app_transaction_id: Some("704289572311573833".into()),
        ..Default::default()
    }
}

pub fn sample_renewal(environment: Environment, signed_date: i64) -> JWSRenewalInfoDecodedPayload {
    JWSRenewalInfoDecodedPayload {
        original_transaction_id: Some("2000000123456789".into()),
        auto_renew_product_id: Some("com.example.crabapple.monthly".into()),
        product_id: Some("com.example.crabapple.monthly".into()),
        auto_renew_status: Some(AutoRenewStatus::On),
        signed_date: Some(signed_date),
        environment: Some(environment),
        recent_subscription_start_date: Some(signed_date - 1_000),
        renewal_date: Some(signed_date - 1_000 + 30 * 86_400_000),
        renewal_price: Some(9_990),
        currency: Some("USD".into()),
        app_transaction_id: Some("704289572311573833".into()),
        ..Default::default()
    }
}

pub fn sample_app_transaction(environment: Environment, signed_date: i64) -> AppTransaction {
    AppTransaction {
        receipt_type: Some(environment.clone()),
        app_apple_id: (environment == Environment::Production).then_some(APP_APPLE_ID),
        bundle_id: Some(BUNDLE_ID.into()),
        application_version: Some("1.2.3".into()),
        version_external_identifier: Some(0),
        receipt_creation_date: Some(signed_date),
        original_purchase_date: Some(signed_date - 86_400_000),
        original_application_version: Some("1.0".into()),
        device_verification: Some(
            "cYUsXc53EbYc0pOeXG5d6/31LGHeVGf84sqSN0OrJi5u/j2H89WWKgS8N0hMsMlf".into(),
        ),
        device_verification_nonce: Some("48c8b92d-ce0d-4229-bedf-e61b4f9cfc92".into()),
        app_transaction_id: Some("704289572311573833".into()),
        original_platform: Some(PurchasePlatform::Ios),
        ..Default::default()
    }
}

pub fn notification(
    notification_type: NotificationTypeV2,
    subtype: Option<Subtype>,
    signed_date: i64,
) -> ResponseBodyV2DecodedPayload {
    ResponseBodyV2DecodedPayload {
        notification_type: Some(notification_type),
        subtype,
        notification_uuid: Some(uuid::Uuid::new_v4().to_string()),
        version: Some("2.0".into()),
        signed_date: Some(signed_date),
        ..Default::default()
    }
}

/// The same JWS with one bit of the ECDSA signature flipped (canonical base64url, so even
/// lenient decoders see a different signature).
pub fn tamper_signature(jws: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, signature) = jws.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig[10] ^= 0x01;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}
