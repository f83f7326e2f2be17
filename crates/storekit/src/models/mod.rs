//! Serde types for the App Store Server API and App Store Server Notifications V2,
//! named as Apple names them.
//!
//! Conventions (matching Apple's wire format and Apple's libraries):
//! - JSON keys are camelCase; every field is an `Option` that is **omitted** when `None`
//!   (Apple omits absent fields rather than sending `null`). Unknown keys are ignored
//!   on input, as Apple's libraries do.
//! - Request bodies keep every field optional too, so the server can answer Apple's
//!   specific error (e.g. `InvalidCustomerConsentedError`) instead of a generic parse error.
//! - Dates are UNIX epoch **milliseconds** (`i64`); identifiers are strings; prices are
//!   milliunits (`10990` = 10.99).
//! - Enums are in [`enums`] and keep unknown wire values verbatim.
//! - `advancedCommerceInfo` (Advanced Commerce API) is carried as raw JSON.

pub mod enums;
mod error;

pub use enums::*;
pub use error::ApiError;

use serde::{Deserialize, Serialize};

/// Declares a camelCase model whose fields are all `Option<_>` and skipped when `None`.
macro_rules! model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }
    };
}

// ---------------------------------------------------------------------------
// Signed payloads (the JSON inside the JWS)
// ---------------------------------------------------------------------------

model! {
    /// Decoded `signedTransactionInfo` (JWSTransactionDecodedPayload).
    ///
    /// Field order follows real App Store payloads.
    pub struct JWSTransactionDecodedPayload {
        transaction_id: String,
        original_transaction_id: String,
        web_order_line_item_id: String,
        bundle_id: String,
        product_id: String,
        subscription_group_identifier: String,
        purchase_date: i64,
        original_purchase_date: i64,
        expires_date: i64,
        quantity: i32,
        r#type: Type,
        /// A UUID (lowercase) the app associated with the customer.
        app_account_token: String,
        in_app_ownership_type: InAppOwnershipType,
        signed_date: i64,
        revocation_reason: RevocationReason,
        revocation_date: i64,
        is_upgraded: bool,
        offer_type: OfferType,
        offer_identifier: String,
        environment: Environment,
        transaction_reason: TransactionReason,
        /// ISO 3166-1 alpha-3, e.g. `"USA"`.
        storefront: String,
        /// Apple storefront id, e.g. `"143441"`.
        storefront_id: String,
        /// Milliunits of `currency`.
        price: i64,
        /// ISO 4217, e.g. `"USD"`.
        currency: String,
        offer_discount_type: OfferDiscountType,
        app_transaction_id: String,
        /// ISO 8601 duration, e.g. `"P1Y"`.
        offer_period: String,
        revocation_type: RevocationType,
        /// Milliunits; `100000` = full refund.
        revocation_percentage: i32,
        /// Advanced Commerce API transaction info, kept as raw JSON.
        advanced_commerce_info: serde_json::Value,
        billing_plan_type: BillingPlanType,
        commitment_info: TransactionCommitmentInfo,
    }
}

model! {
    /// Commitment details of a transaction (`commitmentInfo`, API 1.21).
    pub struct TransactionCommitmentInfo {
        billing_period_number: i32,
        commitment_expires_date: i64,
        commitment_price: i64,
        total_billing_periods: i32,
    }
}

model! {
    /// Decoded `signedRenewalInfo` (JWSRenewalInfoDecodedPayload).
    pub struct JWSRenewalInfoDecodedPayload {
        original_transaction_id: String,
        auto_renew_product_id: String,
        product_id: String,
        auto_renew_status: AutoRenewStatus,
        expiration_intent: ExpirationIntent,
        is_in_billing_retry_period: bool,
        price_increase_status: PriceIncreaseStatus,
        grace_period_expires_date: i64,
        offer_type: OfferType,
        offer_identifier: String,
        signed_date: i64,
        environment: Environment,
        recent_subscription_start_date: i64,
        renewal_date: i64,
        /// Milliunits of `currency`.
        renewal_price: i64,
        currency: String,
        offer_discount_type: OfferDiscountType,
        eligible_win_back_offer_ids: Vec<String>,
        app_account_token: String,
        app_transaction_id: String,
        offer_period: String,
        /// Advanced Commerce API renewal info, kept as raw JSON.
        advanced_commerce_info: serde_json::Value,
        commitment_info: RenewalCommitmentInfo,
        renewal_billing_plan_type: RenewalBillingPlanType,
    }
}

model! {
    /// Commitment details of a renewal (`commitmentInfo`, API 1.21).
    pub struct RenewalCommitmentInfo {
        commitment_auto_renew_product_id: String,
        commitment_auto_renew_status: AutoRenewStatus,
        commitment_renewal_billing_plan_type: RenewalBillingPlanType,
        commitment_renewal_date: i64,
        commitment_renewal_price: i64,
    }
}

model! {
    /// Decoded `signedAppTransactionInfo` (StoreKit `AppTransaction`).
    pub struct AppTransaction {
        /// The environment; Apple's verifiers use it as the app transaction's environment.
        receipt_type: Environment,
        app_apple_id: i64,
        bundle_id: String,
        application_version: String,
        version_external_identifier: i64,
        receipt_creation_date: i64,
        original_purchase_date: i64,
        original_application_version: String,
        device_verification: String,
        device_verification_nonce: String,
        preorder_date: i64,
        app_transaction_id: String,
        original_platform: PurchasePlatform,
    }
}

model! {
    /// Decoded `signedPayload` that Apple POSTs to the Get Retention Message endpoint
    /// (Retention Messaging API `DecodedRealtimeRequestBody`).
    pub struct DecodedRealtimeRequestBody {
        original_transaction_id: String,
        app_apple_id: i64,
        product_id: String,
        user_locale: String,
        request_identifier: String,
        signed_date: i64,
        environment: Environment,
    }
}

model! {
    /// Decoded `signedPayload` of an App Store Server Notification V2.
    ///
    /// Exactly one of `data`, `summary`, `externalPurchaseToken`, `appData` is present.
    pub struct ResponseBodyV2DecodedPayload {
        notification_type: NotificationTypeV2,
        subtype: Subtype,
        #[serde(rename = "notificationUUID")]
        notification_uuid: String,
        data: NotificationData,
        summary: Summary,
        external_purchase_token: ExternalPurchaseToken,
        app_data: AppData,
        /// `"2.0"`.
        version: String,
        signed_date: i64,
    }
}

model! {
    /// The `data` of a notification (Apple's `Data`).
    pub struct NotificationData {
        /// Absent in the sandbox.
        app_apple_id: i64,
        bundle_id: String,
        bundle_version: String,
        environment: Environment,
        signed_transaction_info: String,
        /// Auto-renewable subscriptions only.
        signed_renewal_info: String,
        /// Auto-renewable subscriptions only; the status as of `signedDate`.
        status: Status,
        /// `CONSUMPTION_REQUEST` only.
        consumption_request_reason: ConsumptionRequestReason,
    }
}

model! {
    /// The `summary` of a `RENEWAL_EXTENSION`/`SUMMARY` notification.
    pub struct Summary {
        request_identifier: String,
        environment: Environment,
        app_apple_id: i64,
        bundle_id: String,
        product_id: String,
        storefront_country_codes: Vec<String>,
        failed_count: i64,
        succeeded_count: i64,
    }
}

model! {
    /// The `externalPurchaseToken` of an `EXTERNAL_PURCHASE_TOKEN` notification.
    ///
    /// Apple's verifiers infer the environment: `externalPurchaseId` starting with
    /// `SANDBOX` → Sandbox, else Production.
    pub struct ExternalPurchaseToken {
        external_purchase_id: String,
        token_creation_date: i64,
        app_apple_id: i64,
        bundle_id: String,
        /// Apple docs (2025-06); not in Apple's python model.
        token_type: String,
        /// Apple docs (2025-06); not in Apple's python model.
        token_expiration_date: i64,
    }
}

model! {
    /// The `appData` of a `RESCIND_CONSENT` notification.
    pub struct AppData {
        app_apple_id: i64,
        bundle_id: String,
        environment: Environment,
        signed_app_transaction_info: String,
    }
}

model! {
    /// The body the App Store POSTs to the notification URL (`responseBodyV2`).
    pub struct ResponseBodyV2 {
        signed_payload: String,
    }
}

// ---------------------------------------------------------------------------
// API response bodies
// ---------------------------------------------------------------------------

model! {
    /// Get Transaction Info.
    pub struct TransactionInfoResponse {
        signed_transaction_info: String,
    }
}

model! {
    /// Get Transaction History (v1 and v2).
    pub struct HistoryResponse {
        revision: String,
        has_more: bool,
        bundle_id: String,
        app_apple_id: i64,
        environment: Environment,
        signed_transactions: Vec<String>,
    }
}

model! {
    /// Get All Subscription Statuses.
    pub struct StatusResponse {
        environment: Environment,
        bundle_id: String,
        app_apple_id: i64,
        data: Vec<SubscriptionGroupIdentifierItem>,
    }
}

model! {
    /// One subscription group in a [`StatusResponse`].
    pub struct SubscriptionGroupIdentifierItem {
        subscription_group_identifier: String,
        last_transactions: Vec<LastTransactionsItem>,
    }
}

model! {
    /// The latest transaction of one subscription in a group.
    pub struct LastTransactionsItem {
        status: Status,
        original_transaction_id: String,
        signed_transaction_info: String,
        signed_renewal_info: String,
    }
}

model! {
    /// Get Refund History (v2).
    pub struct RefundHistoryResponse {
        signed_transactions: Vec<String>,
        revision: String,
        has_more: bool,
    }
}

model! {
    /// Look Up Order ID.
    pub struct OrderLookupResponse {
        status: OrderLookupStatus,
        signed_transactions: Vec<String>,
    }
}

model! {
    /// Extend a Subscription Renewal Date.
    pub struct ExtendRenewalDateResponse {
        original_transaction_id: String,
        web_order_line_item_id: String,
        success: bool,
        effective_date: i64,
    }
}

model! {
    /// Extend Subscription Renewal Dates for All Active Subscribers.
    pub struct MassExtendRenewalDateResponse {
        request_identifier: String,
    }
}

model! {
    /// Get Status of Subscription Renewal Date Extensions.
    pub struct MassExtendRenewalDateStatusResponse {
        request_identifier: String,
        complete: bool,
        complete_date: i64,
        succeeded_count: i64,
        failed_count: i64,
    }
}

model! {
    /// Request a Test Notification.
    pub struct SendTestNotificationResponse {
        test_notification_token: String,
    }
}

model! {
    /// Get Test Notification Status.
    pub struct CheckTestNotificationResponse {
        signed_payload: String,
        send_attempts: Vec<SendAttemptItem>,
    }
}

model! {
    /// One attempt to deliver a notification.
    pub struct SendAttemptItem {
        attempt_date: i64,
        send_attempt_result: SendAttemptResult,
    }
}

model! {
    /// Get Notification History.
    pub struct NotificationHistoryResponse {
        pagination_token: String,
        has_more: bool,
        notification_history: Vec<NotificationHistoryResponseItem>,
    }
}

model! {
    /// One notification in a [`NotificationHistoryResponse`].
    pub struct NotificationHistoryResponseItem {
        signed_payload: String,
        send_attempts: Vec<SendAttemptItem>,
    }
}

model! {
    /// Get App Transaction Info.
    pub struct AppTransactionInfoResponse {
        signed_app_transaction_info: String,
    }
}

// ---------------------------------------------------------------------------
// API request bodies
// ---------------------------------------------------------------------------

model! {
    /// Send Consumption Information (v2, `PUT /inApps/v2/transactions/consumption/{id}`).
    /// Apple requires `customerConsented` (must be `true`), `sampleContentProvided` and
    /// `deliveryStatus`.
    pub struct ConsumptionRequest {
        customer_consented: bool,
        delivery_status: DeliveryStatus,
        sample_content_provided: bool,
        /// Milliunits, 0..=100000.
        consumption_percentage: i32,
        refund_preference: RefundPreference,
    }
}

model! {
    /// Send Consumption Information V1 (`PUT /inApps/v1/transactions/consumption/{id}`).
    pub struct ConsumptionRequestV1 {
        customer_consented: bool,
        consumption_status: ConsumptionStatus,
        platform: Platform,
        sample_content_provided: bool,
        delivery_status: DeliveryStatusV1,
        /// A UUID, or the empty string.
        app_account_token: String,
        account_tenure: AccountTenure,
        play_time: PlayTime,
        lifetime_dollars_refunded: LifetimeDollarsRefunded,
        lifetime_dollars_purchased: LifetimeDollarsPurchased,
        user_status: UserStatus,
        refund_preference: RefundPreferenceV1,
    }
}

model! {
    /// Extend a Subscription Renewal Date.
    pub struct ExtendRenewalDateRequest {
        /// 1..=90.
        extend_by_days: i32,
        extend_reason_code: ExtendReasonCode,
        request_identifier: String,
    }
}

model! {
    /// Extend Subscription Renewal Dates for All Active Subscribers.
    pub struct MassExtendRenewalDateRequest {
        /// A UUID.
        request_identifier: String,
        /// 1..=90.
        extend_by_days: i32,
        extend_reason_code: ExtendReasonCode,
        product_id: String,
        /// ISO 3166-1 alpha-3 codes; absent = all storefronts; empty = error 4000027.
        storefront_country_codes: Vec<String>,
    }
}

model! {
    /// Get Notification History request body.
    pub struct NotificationHistoryRequest {
        start_date: i64,
        end_date: i64,
        notification_type: NotificationTypeV2,
        notification_subtype: Subtype,
        transaction_id: String,
        only_failures: bool,
    }
}

model! {
    /// Set App Account Token.
    pub struct UpdateAppAccountTokenRequest {
        /// Must be a UUID, else 4000183.
        app_account_token: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_omitted_and_keys_are_apples() {
        let tx = JWSTransactionDecodedPayload {
            transaction_id: Some("1".into()),
            r#type: Some(Type::Consumable),
            environment: Some(Environment::Sandbox),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&tx).unwrap(),
            r#"{"transactionId":"1","type":"Consumable","environment":"Sandbox"}"#
        );
        let n = ResponseBodyV2DecodedPayload {
            notification_uuid: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"notificationUUID":"u"}"#
        );
    }

    #[test]
    fn null_and_unknown_keys_are_tolerated() {
        let tx: JWSTransactionDecodedPayload =
            serde_json::from_str(r#"{"transactionId":null,"somethingNew":1}"#).unwrap();
        assert_eq!(tx, JWSTransactionDecodedPayload::default());
    }
}
