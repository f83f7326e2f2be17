//! The App Store Server API error body: `{"errorCode": <int>, "errorMessage": "<text>"}`.
//!
//! Codes are Apple's (App Store Server API "Error codes" page; `APIError` in Apple's
//! libraries). Messages come from three sources, most authoritative first:
//!
//! 1. **fixture**: the exact body in Apple's library test fixtures
//!    (`tests/resources/models/*Error.json` / `api*Exception.json`);
//! 2. **observed**: the wording Apple's documentation gives as the `errorMessage` value,
//!    as carried by long-lived third-party clients (e.g. `awa/go-iap`);
//! 3. **crabapple**: our own wording in Apple's style, where no public source gives the
//!    text. Clients key off `errorCode`; Apple's libraries never parse the message.
//!
//! The HTTP status is the code's first three digits (4000006 → 400, 4040010 → 404,
//! 4090000 → 409, 4290000 → 429, 5000000 → 500), which is how Apple numbers them.
//!
//! The Retention Messaging API's codes (4000161…4090001) are the numbers of `APIError` in
//! Apple's Node library `@apple/app-store-server-library` 3.1.0 (`dist/index.d.ts`), each
//! documented at developer.apple.com/documentation/retentionmessaging/<name>error; Apple
//! publishes no message text for them, so their messages are crabapple's.

use std::fmt;

use serde::de::Deserializer;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

macro_rules! api_errors {
    ( $( $(#[$m:meta])* $variant:ident = $code:literal, $msg:literal; )+ ) => {
        /// An App Store Server API error, serialized as Apple's error body.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ApiError {
            $( $(#[$m])* #[doc = concat!("`", $code, "` — \"", $msg, "\"")] $variant, )+
            /// A code this crate doesn't know (e.g. the fixture `9990000 "Testing error."`).
            Unknown {
                /// `errorCode`
                code: i64,
                /// `errorMessage`
                message: String,
            },
        }

        impl ApiError {
            /// Every known error, in code order.
            pub const ALL: &'static [ApiError] = &[$(ApiError::$variant),+];

            /// `errorCode`.
            pub fn code(&self) -> i64 {
                match self {
                    $( ApiError::$variant => $code, )+
                    ApiError::Unknown { code, .. } => *code,
                }
            }

            /// `errorMessage`.
            pub fn message(&self) -> &str {
                match self {
                    $( ApiError::$variant => $msg, )+
                    ApiError::Unknown { message, .. } => message,
                }
            }

            /// The known error for `code`, if any.
            pub fn from_code(code: i64) -> Option<ApiError> {
                match code {
                    $( $code => Some(ApiError::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

api_errors! {
    /// observed
    GeneralBadRequest = 4000000, "Bad request.";
    /// observed
    InvalidAppIdentifier = 4000002, "Invalid request app identifier.";
    /// observed
    InvalidRequestRevision = 4000005, "Invalid request revision.";
    /// fixture
    InvalidTransactionId = 4000006, "Invalid transaction id.";
    /// observed
    InvalidOriginalTransactionId = 4000008, "Invalid original transaction id.";
    /// observed
    InvalidExtendByDays = 4000009, "Invalid extend by days value.";
    /// observed
    InvalidExtendReasonCode = 4000010, "Invalid extend reason code.";
    /// observed
    InvalidRequestIdentifier = 4000011, "Invalid request identifier.";
    /// observed
    StartDateTooFarInPast = 4000012, "Invalid request. The start date is earlier than the allowed start date.";
    /// observed
    StartDateAfterEndDate = 4000013, "Invalid request. The end date precedes the start date or the dates are the same.";
    /// observed
    InvalidPaginationToken = 4000014, "Invalid request. The pagination token is invalid.";
    /// observed
    InvalidStartDate = 4000015, "Invalid request. The start date is not a timestamp value represented in milliseconds.";
    /// observed
    InvalidEndDate = 4000016, "Invalid request. The end date is not a timestamp value represented in milliseconds.";
    /// observed
    PaginationTokenExpired = 4000017, "Invalid request. The pagination token is expired.";
    /// observed
    InvalidNotificationType = 4000018, "Invalid request. The notification type or subtype is invalid.";
    /// observed
    MultipleFiltersSupplied = 4000019, "Invalid request. Supply either a transaction id or a notification type, but not both.";
    /// observed
    InvalidTestNotificationToken = 4000020, "Invalid request. The test notification token is invalid.";
    /// observed
    InvalidSort = 4000021, "Invalid request. The sort parameter is invalid.";
    /// observed
    InvalidProductType = 4000022, "Invalid request. The product type parameter is invalid.";
    /// observed
    InvalidProductId = 4000023, "Invalid request. The product id parameter is invalid.";
    /// observed
    InvalidSubscriptionGroupIdentifier = 4000024, "Invalid request. The subscription group identifier parameter is invalid.";
    /// crabapple (deprecated by Apple)
    InvalidExcludeRevoked = 4000025, "Invalid request. The exclude revoked parameter is invalid.";
    /// observed
    InvalidInAppOwnershipType = 4000026, "Invalid request. The in-app ownership type parameter is invalid.";
    /// observed
    InvalidEmptyStorefrontCountryCodeList = 4000027, "Invalid request. If provided, the list of storefront country codes must not be empty.";
    /// observed
    InvalidStorefrontCountryCode = 4000028, "Invalid request. A storefront country code was invalid.";
    /// observed
    InvalidRevoked = 4000030, "Invalid request. The revoked parameter is invalid.";
    /// observed
    InvalidStatus = 4000031, "Invalid request. The status parameter is invalid.";
    /// crabapple
    InvalidAccountTenure = 4000032, "Invalid request. The account tenure field is invalid.";
    /// crabapple
    InvalidAppAccountToken = 4000033, "Invalid request. The app account token field is invalid.";
    /// crabapple
    InvalidConsumptionStatus = 4000034, "Invalid request. The consumption status field is invalid.";
    /// crabapple
    InvalidCustomerConsented = 4000035, "Invalid request. The customer consented field is invalid or doesn't indicate that the customer consented.";
    /// crabapple
    InvalidDeliveryStatus = 4000036, "Invalid request. The delivery status field is invalid.";
    /// crabapple
    InvalidLifetimeDollarsPurchased = 4000037, "Invalid request. The lifetime dollars purchased field is invalid.";
    /// crabapple
    InvalidLifetimeDollarsRefunded = 4000038, "Invalid request. The lifetime dollars refunded field is invalid.";
    /// crabapple
    InvalidPlatform = 4000039, "Invalid request. The platform field is invalid.";
    /// crabapple
    InvalidPlayTime = 4000040, "Invalid request. The play time field is invalid.";
    /// crabapple
    InvalidSampleContentProvided = 4000041, "Invalid request. The sample content provided field is invalid.";
    /// crabapple
    InvalidUserStatus = 4000042, "Invalid request. The user status field is invalid.";
    /// crabapple (no longer returned by Apple since API 1.11)
    InvalidTransactionNotConsumable = 4000043, "Invalid request. The transaction is not consumable.";
    /// crabapple
    InvalidTransactionTypeNotSupported = 4000047, "Invalid request. The transaction id represents an unsupported in-app purchase type.";
    /// crabapple
    AppTransactionIdNotSupported = 4000048, "Invalid request. App transaction ids aren't supported by this endpoint.";
    /// crabapple (Retention Messaging API; code from `APIError` in Apple's libraries)
    InvalidImage = 4000161, "Invalid request. The image is invalid.";
    /// crabapple (Retention Messaging API)
    HeaderTooLong = 4000162, "Invalid request. The header text is too long.";
    /// crabapple (Retention Messaging API)
    BodyTooLong = 4000163, "Invalid request. The body text is too long.";
    /// crabapple (Retention Messaging API)
    InvalidLocale = 4000164, "Invalid request. The locale is invalid.";
    /// crabapple (Retention Messaging API)
    AltTextTooLong = 4000175, "Invalid request. The alternative text for an image is too long.";
    /// fixture
    InvalidAppAccountTokenUuid = 4000183, "Invalid request. The app account token field must be a valid UUID.";
    /// fixture
    FamilyTransactionNotSupported = 4000185, "Invalid request. Family Sharing transactions aren't supported by this endpoint.";
    /// fixture
    TransactionIdIsNotOriginalTransactionId = 4000187, "Invalid request. The transaction ID provided is not an original transaction ID.";
    /// crabapple: Apple documents `InvalidRefundPreferenceError` (Send Consumption Information,
    /// API 1.19) but its number is not public (apple-semantics.md §9 gap 8); placeholder.
    InvalidRefundPreference = 4000188, "Invalid request. The refund preference field is invalid.";
    /// crabapple: `ConsumptionPercentageOutOfRangeError`, number not public (gap 8); placeholder.
    ConsumptionPercentageOutOfRange = 4000189, "Invalid request. The consumption percentage is outside the valid range.";
    /// crabapple: `UndeliveredConsumptionPercentageNonZeroError`, number not public (gap 8); placeholder.
    UndeliveredConsumptionPercentageNonZero = 4000190, "Invalid request. The consumption percentage must be zero for the provided delivery status.";
    /// crabapple: `ConsumptionPercentageAutoRenewableSubscriptionError`, number not public (gap 8); placeholder.
    ConsumptionPercentageAutoRenewableSubscription = 4000191, "Invalid request. The consumption percentage field is unsupported for auto-renewable subscription transactions.";
    /// crabapple (Retention Messaging API)
    InvalidPerformanceTestRequest = 4000211, "Invalid request. The performance test request is invalid.";
    /// crabapple (Retention Messaging API)
    InvalidRequestId = 4000212, "Invalid request. The request id is invalid.";
    /// crabapple (Retention Messaging API)
    ExistingPerformanceTestRun = 4000213, "Invalid request. A performance test is already running.";
    /// crabapple (Retention Messaging API)
    BadRequestRealtimeUrl = 4000215, "Invalid request. The realtime URL is invalid.";
    /// crabapple (Retention Messaging API)
    BadRequestImageSize = 4000216, "Invalid request. The image size is invalid.";
    /// crabapple (Retention Messaging API)
    BadRequestTooManyBulletPoints = 4000218, "Invalid request. There are too many bullet points.";
    /// crabapple (Retention Messaging API)
    BadRequestBulletPointTextTooLong = 4000219, "Invalid request. The bullet point text is too long.";
    /// crabapple (Retention Messaging API)
    BadRequestAboveImageRequiresAnImage = 4000224, "Invalid request. A header above the image requires an image.";
    /// observed
    SubscriptionExtensionIneligible = 4030004, "Forbidden - subscription state ineligible for extension.";
    /// observed
    SubscriptionMaxExtension = 4030005, "Forbidden - subscription has reached maximum extension count.";
    /// observed
    FamilySharedSubscriptionExtensionIneligible = 4030007, "Subscriptions that users obtain through Family Sharing can't get a renewal date extension directly.";
    /// crabapple (Retention Messaging API)
    MaximumNumberOfImagesReached = 4030014, "Forbidden - the maximum number of images has been reached.";
    /// crabapple (Retention Messaging API)
    MaximumNumberOfMessagesReached = 4030016, "Forbidden - the maximum number of messages has been reached.";
    /// crabapple (Retention Messaging API)
    MessageNotApproved = 4030017, "Forbidden - the message is not approved.";
    /// crabapple (Retention Messaging API)
    ImageNotApproved = 4030018, "Forbidden - the image is not approved.";
    /// crabapple (Retention Messaging API)
    ImageInUse = 4030019, "Forbidden - the image is in use by a message.";
    /// crabapple (Retention Messaging API)
    ForbiddenNoPassingTest = 4030026, "Forbidden - a passing performance test is required before setting a production URL.";
    /// observed
    AccountNotFound = 4040001, "Account not found.";
    /// observed
    AccountNotFoundRetryable = 4040002, "Account not found. Please try again.";
    /// observed
    AppNotFound = 4040003, "App not found.";
    /// observed
    AppNotFoundRetryable = 4040004, "App not found. Please try again.";
    /// observed
    OriginalTransactionIdNotFound = 4040005, "Original transaction id not found.";
    /// observed
    OriginalTransactionIdNotFoundRetryable = 4040006, "Original transaction id not found. Please try again.";
    /// observed
    ServerNotificationUrlNotFound = 4040007, "No App Store Server Notification URL found for provided app. Check that a URL is configured in App Store Connect for this environment.";
    /// observed
    TestNotificationNotFound = 4040008, "Either the test notification token is expired or the notification and status are not yet available.";
    /// observed
    StatusRequestNotFound = 4040009, "The server didn't find a subscription-renewal-date extension request for this requestIdentifier and productId combination.";
    /// fixture
    TransactionIdNotFound = 4040010, "Transaction id not found.";
    /// crabapple (Retention Messaging API)
    ImageNotFound = 4040014, "Image not found.";
    /// crabapple (Retention Messaging API)
    MessageNotFound = 4040015, "Message not found.";
    /// crabapple (Retention Messaging API)
    PerformanceTestRunNotFound = 4040018, "Performance test run not found.";
    /// fixture
    AppTransactionDoesNotExist = 4040019, "No AppTransaction exists for the customer.";
    /// crabapple (Retention Messaging API)
    DefaultMessageNotFound = 4040020, "Default message not found.";
    /// crabapple (Retention Messaging API)
    RealtimeUrlNotFound = 4040021, "Realtime URL not found.";
    /// crabapple (Retention Messaging API)
    ImageAlreadyExists = 4090000, "Conflict - the image identifier already exists.";
    /// crabapple (Retention Messaging API)
    MessageAlreadyExists = 4090001, "Conflict - the message identifier already exists.";
    /// fixture
    RateLimitExceeded = 4290000, "Rate limit exceeded.";
    /// fixture
    GeneralInternal = 5000000, "An unknown error occurred.";
    /// observed
    GeneralInternalRetryable = 5000001, "An unknown error occurred. Please try again.";
}

impl ApiError {
    /// The error for `code`, or `Unknown` carrying `message`.
    pub fn from_body(code: i64, message: impl Into<String>) -> ApiError {
        ApiError::from_code(code).unwrap_or_else(|| ApiError::Unknown {
            code,
            message: message.into(),
        })
    }

    /// The HTTP status Apple returns with this error: the code's first three digits
    /// (400, 403, 404, 409, 429, 500); 500 for codes outside 400..=599.
    pub fn http_status(&self) -> u16 {
        match self.code() / 10_000 {
            s @ 400..=599 => s as u16,
            _ => 500,
        }
    }

    /// Whether Apple documents the error as retryable.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ApiError::AccountNotFoundRetryable
                | ApiError::AppNotFoundRetryable
                | ApiError::OriginalTransactionIdNotFoundRetryable
                | ApiError::GeneralInternalRetryable
        )
    }

    /// The JSON body, `{"errorCode":…,"errorMessage":"…"}`.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("error body serializes")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

impl std::error::Error for ApiError {}

impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ErrorResponse", 2)?;
        s.serialize_field("errorCode", &self.code())?;
        s.serialize_field("errorMessage", self.message())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for ApiError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            error_code: i64,
            #[serde(default)]
            error_message: String,
        }
        let body = Body::deserialize(deserializer)?;
        Ok(ApiError::from_body(body.error_code, body.error_message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_statuses_derive_from_codes() {
        let mut codes: Vec<i64> = ApiError::ALL.iter().map(ApiError::code).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "duplicate error code");
        for e in ApiError::ALL {
            assert_eq!(ApiError::from_code(e.code()).as_ref(), Some(e));
            assert!(
                [400, 403, 404, 409, 429, 500].contains(&e.http_status()),
                "{e}"
            );
            assert!(e.message().ends_with('.'), "{e}");
        }
        assert_eq!(ApiError::TransactionIdNotFound.http_status(), 404);
        assert_eq!(ApiError::RateLimitExceeded.http_status(), 429);
    }

    #[test]
    fn serializes_as_apple_error_body() {
        assert_eq!(
            ApiError::TransactionIdNotFound.to_body(),
            r#"{"errorCode":4040010,"errorMessage":"Transaction id not found."}"#
        );
        let unknown: ApiError =
            serde_json::from_str(r#"{"errorCode":9990000,"errorMessage":"Testing error."}"#)
                .unwrap();
        assert_eq!(
            unknown,
            ApiError::Unknown {
                code: 9990000,
                message: "Testing error.".into()
            }
        );
        assert_eq!(unknown.http_status(), 500);
    }
}
