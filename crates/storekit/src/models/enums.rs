//! Apple's wire enumerations.
//!
//! Every enum serializes to Apple's exact wire value (a JSON string or integer) and has an
//! `Unknown` variant that keeps a value this crate does not know verbatim, the way Apple's
//! libraries keep a `raw*` field next to the typed one (e.g. an environment of
//! `"LocalTestingxxx"` still decodes). Value lists follow Apple's App Store Server Library
//! (python v3.1.x) and the App Store Server API / Notifications documentation.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Declares an enum whose wire form is a JSON string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`\"", $wire, "\"`")] $variant, )+
            /// A value not known to this crate, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// Every known value, in Apple's documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(raw) => raw,
                }
            }

            /// Parses a wire value; unknown values become `Unknown`.
            pub fn from_wire(raw: &str) -> Self {
                match raw {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }

            /// Whether this is one of Apple's documented values.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::from_wire(s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a string (", stringify!($name), ")"))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from_wire(v))
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

/// Declares an enum whose wire form is a JSON integer.
macro_rules! int_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $wire, "`")] $variant, )+
            /// A value not known to this crate, kept verbatim.
            Unknown(i64),
        }

        impl $name {
            /// Every known value, in Apple's documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire value.
            pub fn value(self) -> i64 {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(raw) => raw,
                }
            }

            /// Parses a wire value; unknown values become `Unknown`.
            pub fn from_wire(raw: i64) -> Self {
                match raw {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }

            /// Whether this is one of Apple's documented values.
            pub fn is_known(self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.value())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_i64(self.value())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok($name::from_wire(i64::deserialize(deserializer)?))
            }
        }
    };
}

string_enum! {
    /// The server environment (`environment`, and `receiptType` of an app transaction).
    Environment {
        Sandbox = "Sandbox",
        Production = "Production",
        /// StoreKit Testing in Xcode.
        Xcode = "Xcode",
        /// Used by Apple's libraries for unit tests; signature checks are skipped.
        LocalTesting = "LocalTesting",
    }
}

int_enum! {
    /// The status of an auto-renewable subscription (`status`).
    Status {
        Active = 1,
        Expired = 2,
        BillingRetry = 3,
        BillingGracePeriod = 4,
        Revoked = 5,
    }
}

string_enum! {
    /// The type of the in-app purchase (`type`).
    Type {
        AutoRenewableSubscription = "Auto-Renewable Subscription",
        NonConsumable = "Non-Consumable",
        Consumable = "Consumable",
        NonRenewingSubscription = "Non-Renewing Subscription",
    }
}

string_enum! {
    /// `productType` query parameter of Get Transaction History.
    ProductType {
        AutoRenewable = "AUTO_RENEWABLE",
        NonRenewable = "NON_RENEWABLE",
        Consumable = "CONSUMABLE",
        NonConsumable = "NON_CONSUMABLE",
    }
}

string_enum! {
    /// `sort` query parameter of Get Transaction History.
    Order {
        Ascending = "ASCENDING",
        Descending = "DESCENDING",
    }
}

string_enum! {
    /// Whether the customer bought the product or has access through Family Sharing.
    InAppOwnershipType {
        FamilyShared = "FAMILY_SHARED",
        Purchased = "PURCHASED",
    }
}

int_enum! {
    /// The type of subscription offer (`offerType`).
    OfferType {
        IntroductoryOffer = 1,
        PromotionalOffer = 2,
        OfferCode = 3,
        WinBackOffer = 4,
    }
}

string_enum! {
    /// The payment mode of a subscription offer (`offerDiscountType`).
    OfferDiscountType {
        FreeTrial = "FREE_TRIAL",
        PayAsYouGo = "PAY_AS_YOU_GO",
        PayUpFront = "PAY_UP_FRONT",
        OneTime = "ONE_TIME",
    }
}

int_enum! {
    /// Why the App Store refunded the transaction or revoked it from Family Sharing.
    RevocationReason {
        RefundedForOtherReason = 0,
        RefundedDueToIssue = 1,
    }
}

string_enum! {
    /// The type of refund or revocation (`revocationType`).
    RevocationType {
        RefundFull = "REFUND_FULL",
        RefundProrated = "REFUND_PRORATED",
        FamilyRevoke = "FAMILY_REVOKE",
    }
}

string_enum! {
    /// The cause of a purchase transaction (`transactionReason`).
    TransactionReason {
        Purchase = "PURCHASE",
        Renewal = "RENEWAL",
    }
}

string_enum! {
    /// Billing plan of a transaction (`billingPlanType`, API 1.21).
    BillingPlanType {
        BilledUpfront = "BILLED_UPFRONT",
        Monthly = "MONTHLY",
    }
}

string_enum! {
    /// Billing plan at the next renewal (`renewalBillingPlanType`, API 1.21).
    RenewalBillingPlanType {
        BilledUpfront = "BILLED_UPFRONT",
        Monthly = "MONTHLY",
    }
}

int_enum! {
    /// The reason a subscription expired (`expirationIntent`).
    ExpirationIntent {
        CustomerCancelled = 1,
        BillingError = 2,
        CustomerDidNotConsentToPriceIncrease = 3,
        ProductNotAvailable = 4,
        Other = 5,
    }
}

int_enum! {
    /// The renewal status of an auto-renewable subscription (`autoRenewStatus`).
    AutoRenewStatus {
        Off = 0,
        On = 1,
    }
}

int_enum! {
    /// Whether the customer consented to a subscription price increase.
    PriceIncreaseStatus {
        CustomerHasNotResponded = 0,
        CustomerConsentedOrWasNotifiedWithoutNeedingConsent = 1,
    }
}

int_enum! {
    /// Whether an order id is valid (`status` of Look Up Order ID).
    OrderLookupStatus {
        Valid = 0,
        Invalid = 1,
    }
}

string_enum! {
    /// The result of one notification send attempt (`sendAttemptResult`).
    SendAttemptResult {
        Success = "SUCCESS",
        TimedOut = "TIMED_OUT",
        TlsIssue = "TLS_ISSUE",
        CircularRedirect = "CIRCULAR_REDIRECT",
        NoResponse = "NO_RESPONSE",
        SocketIssue = "SOCKET_ISSUE",
        UnsupportedCharset = "UNSUPPORTED_CHARSET",
        InvalidResponse = "INVALID_RESPONSE",
        PrematureClose = "PREMATURE_CLOSE",
        UnsuccessfulHttpResponseCode = "UNSUCCESSFUL_HTTP_RESPONSE_CODE",
        Other = "OTHER",
    }
}

int_enum! {
    /// The reason for a subscription renewal-date extension (`extendReasonCode`).
    ExtendReasonCode {
        Undeclared = 0,
        CustomerSatisfaction = 1,
        Other = 2,
        ServiceIssueOrOutage = 3,
    }
}

string_enum! {
    /// The customer-provided reason for a refund request (`consumptionRequestReason`).
    ConsumptionRequestReason {
        UnintendedPurchase = "UNINTENDED_PURCHASE",
        FulfillmentIssue = "FULFILLMENT_ISSUE",
        UnsatisfiedWithPurchase = "UNSATISFIED_WITH_PURCHASE",
        Legal = "LEGAL",
        Other = "OTHER",
    }
}

string_enum! {
    /// Whether the app delivered a consumable or functioning product (consumption v2).
    DeliveryStatus {
        Delivered = "DELIVERED",
        UndeliveredQualityIssue = "UNDELIVERED_QUALITY_ISSUE",
        UndeliveredWrongItem = "UNDELIVERED_WRONG_ITEM",
        UndeliveredServerOutage = "UNDELIVERED_SERVER_OUTAGE",
        UndeliveredOther = "UNDELIVERED_OTHER",
    }
}

string_enum! {
    /// The refund the developer prefers (consumption v2).
    RefundPreference {
        Decline = "DECLINE",
        GrantFull = "GRANT_FULL",
        GrantProrated = "GRANT_PRORATED",
    }
}

string_enum! {
    /// The platform of the original app purchase (`originalPlatform`).
    PurchasePlatform {
        Ios = "iOS",
        MacOs = "macOS",
        TvOs = "tvOS",
        VisionOs = "visionOS",
    }
}

string_enum! {
    /// The type of an App Store Server Notification V2 (`notificationType`).
    NotificationTypeV2 {
        Subscribed = "SUBSCRIBED",
        DidChangeRenewalPref = "DID_CHANGE_RENEWAL_PREF",
        DidChangeRenewalStatus = "DID_CHANGE_RENEWAL_STATUS",
        OfferRedeemed = "OFFER_REDEEMED",
        DidRenew = "DID_RENEW",
        Expired = "EXPIRED",
        DidFailToRenew = "DID_FAIL_TO_RENEW",
        GracePeriodExpired = "GRACE_PERIOD_EXPIRED",
        PriceIncrease = "PRICE_INCREASE",
        Refund = "REFUND",
        RefundDeclined = "REFUND_DECLINED",
        ConsumptionRequest = "CONSUMPTION_REQUEST",
        RenewalExtended = "RENEWAL_EXTENDED",
        Revoke = "REVOKE",
        Test = "TEST",
        RenewalExtension = "RENEWAL_EXTENSION",
        RefundReversed = "REFUND_REVERSED",
        ExternalPurchaseToken = "EXTERNAL_PURCHASE_TOKEN",
        OneTimeCharge = "ONE_TIME_CHARGE",
        RescindConsent = "RESCIND_CONSENT",
        /// Advanced Commerce API only.
        MetadataUpdate = "METADATA_UPDATE",
        /// Advanced Commerce API only (Apple's changelog once spelled it `MIGRATE`).
        Migration = "MIGRATION",
        /// Advanced Commerce API only.
        PriceChange = "PRICE_CHANGE",
    }
}

string_enum! {
    /// The subtype of an App Store Server Notification V2 (`subtype`).
    Subtype {
        InitialBuy = "INITIAL_BUY",
        Resubscribe = "RESUBSCRIBE",
        Downgrade = "DOWNGRADE",
        Upgrade = "UPGRADE",
        AutoRenewEnabled = "AUTO_RENEW_ENABLED",
        AutoRenewDisabled = "AUTO_RENEW_DISABLED",
        Voluntary = "VOLUNTARY",
        BillingRetry = "BILLING_RETRY",
        PriceIncrease = "PRICE_INCREASE",
        GracePeriod = "GRACE_PERIOD",
        Pending = "PENDING",
        Accepted = "ACCEPTED",
        BillingRecovery = "BILLING_RECOVERY",
        ProductNotForSale = "PRODUCT_NOT_FOR_SALE",
        Summary = "SUMMARY",
        Failure = "FAILURE",
        /// `EXTERNAL_PURCHASE_TOKEN` only.
        Unreported = "UNREPORTED",
        /// `EXTERNAL_PURCHASE_TOKEN` only (Apple docs; not in Apple's python enum).
        ActiveTokenReminder = "ACTIVE_TOKEN_REMINDER",
        /// `EXTERNAL_PURCHASE_TOKEN` only (Apple docs; not in Apple's python enum).
        Created = "CREATED",
    }
}

int_enum! {
    /// Consumption V1: how much of the consumable the customer used (`consumptionStatus`).
    ConsumptionStatus {
        Undeclared = 0,
        NotConsumed = 1,
        PartiallyConsumed = 2,
        FullyConsumed = 3,
    }
}

int_enum! {
    /// Consumption V1: the platform the customer bought on (`platform`).
    Platform {
        Undeclared = 0,
        Apple = 1,
        NonApple = 2,
    }
}

int_enum! {
    /// Consumption V1: whether the app delivered the product (`deliveryStatus`).
    DeliveryStatusV1 {
        DeliveredAndWorkingProperly = 0,
        DidNotDeliverDueToQualityIssue = 1,
        DeliveredWrongItem = 2,
        DidNotDeliverDueToServerOutage = 3,
        DidNotDeliverDueToInGameCurrencyChange = 4,
        DidNotDeliverForOtherReason = 5,
    }
}

int_enum! {
    /// Consumption V1: age of the customer's account (`accountTenure`).
    AccountTenure {
        Undeclared = 0,
        ZeroToThreeDays = 1,
        ThreeDaysToTenDays = 2,
        TenDaysToThirtyDays = 3,
        ThirtyDaysToNinetyDays = 4,
        NinetyDaysToOneHundredEightyDays = 5,
        OneHundredEightyDaysToThreeHundredSixtyFiveDays = 6,
        GreaterThanThreeHundredSixtyFiveDays = 7,
    }
}

int_enum! {
    /// Consumption V1: time the customer spent in the app (`playTime`).
    PlayTime {
        Undeclared = 0,
        ZeroToFiveMinutes = 1,
        FiveToSixtyMinutes = 2,
        OneToSixHours = 3,
        SixHoursToTwentyFourHours = 4,
        OneDayToFourDays = 5,
        FourDaysToSixteenDays = 6,
        OverSixteenDays = 7,
    }
}

int_enum! {
    /// Consumption V1: dollar bucket of refunds across platforms (`lifetimeDollarsRefunded`).
    LifetimeDollarsRefunded {
        Undeclared = 0,
        ZeroDollars = 1,
        OneCentToFortyNineDollarsAndNinetyNineCents = 2,
        FiftyDollarsToNinetyNineDollarsAndNinetyNineCents = 3,
        OneHundredDollarsToFourHundredNinetyNineDollarsAndNinetyNineCents = 4,
        FiveHundredDollarsToNineHundredNinetyNineDollarsAndNinetyNineCents = 5,
        OneThousandDollarsToOneThousandNineHundredNinetyNineDollarsAndNinetyNineCents = 6,
        TwoThousandDollarsOrGreater = 7,
    }
}

int_enum! {
    /// Consumption V1: dollar bucket of purchases across platforms (`lifetimeDollarsPurchased`).
    LifetimeDollarsPurchased {
        Undeclared = 0,
        ZeroDollars = 1,
        OneCentToFortyNineDollarsAndNinetyNineCents = 2,
        FiftyDollarsToNinetyNineDollarsAndNinetyNineCents = 3,
        OneHundredDollarsToFourHundredNinetyNineDollarsAndNinetyNineCents = 4,
        FiveHundredDollarsToNineHundredNinetyNineDollarsAndNinetyNineCents = 5,
        OneThousandDollarsToOneThousandNineHundredNinetyNineDollarsAndNinetyNineCents = 6,
        TwoThousandDollarsOrGreater = 7,
    }
}

int_enum! {
    /// Consumption V1: status of the customer's account (`userStatus`).
    UserStatus {
        Undeclared = 0,
        Active = 1,
        Suspended = 2,
        Terminated = 3,
        LimitedAccess = 4,
    }
}

int_enum! {
    /// Consumption V1: the refund the developer prefers (`refundPreference`).
    RefundPreferenceV1 {
        Undeclared = 0,
        PreferGrant = 1,
        PreferDecline = 2,
        NoPreference = 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_enum_round_trips_known_and_unknown_values() {
        for env in Environment::ALL {
            let json = serde_json::to_string(env).unwrap();
            assert_eq!(&serde_json::from_str::<Environment>(&json).unwrap(), env);
        }
        assert_eq!(
            serde_json::to_string(&Type::AutoRenewableSubscription).unwrap(),
            r#""Auto-Renewable Subscription""#
        );
        let odd: Environment = serde_json::from_str(r#""LocalTestingxxx""#).unwrap();
        assert_eq!(odd, Environment::Unknown("LocalTestingxxx".into()));
        assert!(!odd.is_known());
        assert_eq!(serde_json::to_string(&odd).unwrap(), r#""LocalTestingxxx""#);
        assert!(serde_json::from_str::<Environment>("1").is_err());
    }

    #[test]
    fn int_enum_round_trips_known_and_unknown_values() {
        assert_eq!(serde_json::to_string(&Status::Revoked).unwrap(), "5");
        assert_eq!(serde_json::from_str::<Status>("1").unwrap(), Status::Active);
        assert_eq!(
            serde_json::from_str::<Status>("9").unwrap(),
            Status::Unknown(9)
        );
        assert_eq!(
            serde_json::from_str::<RevocationReason>("0").unwrap(),
            RevocationReason::RefundedForOtherReason
        );
        assert!(serde_json::from_str::<Status>(r#""1""#).is_err());
    }

    #[test]
    fn notification_types_cover_apple_semantics_section_7() {
        assert_eq!(NotificationTypeV2::ALL.len(), 23);
        assert_eq!(Subtype::ALL.len(), 19);
        let names: Vec<&str> = NotificationTypeV2::ALL.iter().map(|t| t.as_str()).collect();
        for expected in [
            "SUBSCRIBED",
            "ONE_TIME_CHARGE",
            "RESCIND_CONSENT",
            "MIGRATION",
            "PRICE_CHANGE",
            "METADATA_UPDATE",
        ] {
            assert!(names.contains(&expected), "{expected}");
        }
    }
}
