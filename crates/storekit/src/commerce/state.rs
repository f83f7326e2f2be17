//! The renewal state of one auto-renewable subscription (kept as JSON in the ledger's
//! `commerce_subscriptions.state`) and the `JWSRenewalInfoDecodedPayload` derived from it.

use serde::{Deserialize, Serialize};

use super::catalog::Duration;

use crate::ledger::{CustomerRow, Doc, SubscriptionRow};
use crate::models::{
    AutoRenewStatus, Environment, ExpirationIntent, JWSRenewalInfoDecodedPayload,
    OfferDiscountType, OfferType, PriceIncreaseStatus,
};

/// What the scheduler does next for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextEvent {
    /// The period ends: renew, fail to renew, or expire.
    Renew,
    /// The billing grace period ends (billing retry continues).
    GraceEnd,
    /// The 60-day billing retry period ends: the subscription expires.
    RetryEnd,
}

/// A subscription offer as it appears on transactions and renewal info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// 1 introductory, 2 promotional, 3 offer code, 4 win-back.
    pub offer_type: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_identifier: Option<String>,
    /// FREE_TRIAL | PAY_AS_YOU_GO | PAY_UP_FRONT | ONE_TIME.
    pub discount_type: String,
    /// ISO 8601 duration of the offer (`offerPeriod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Offer price in milliunits (0 for a free trial).
    pub price: i64,
    /// Renewals still billed at the offer price (PAY_AS_YOU_GO).
    #[serde(default)]
    pub periods_left: i64,
}

impl Offer {
    pub fn offer_type(&self) -> OfferType {
        OfferType::from_wire(self.offer_type)
    }
    pub fn discount(&self) -> OfferDiscountType {
        OfferDiscountType::from_wire(&self.discount_type)
    }
    /// How long a period at this offer lasts when it isn't the product's period: the offer's
    /// own duration for FREE_TRIAL and PAY_UP_FRONT (PAY_AS_YOU_GO bills product periods).
    pub fn fixed_duration(&self) -> Option<Duration> {
        matches!(self.discount_type.as_str(), "FREE_TRIAL" | "PAY_UP_FRONT")
            .then_some(self.period.as_deref())
            .flatten()
            .and_then(Duration::parse_iso)
    }
}

/// A price increase announced to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceIncrease {
    pub price: i64,
    /// Whether the customer must consent (else it applies after notice).
    pub requires_consent: bool,
    /// 0 = customer hasn't responded, 1 = consented (or notified without needing consent).
    pub status: i64,
    /// When the new price takes effect (a `subscriptionPrices` change's start, price_day.rs):
    /// it applies at the first renewal at or after it. None: at the next renewal (the
    /// `price-increase` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_ms: Option<i64>,
}

impl PriceIncrease {
    /// Whether a renewal at `at` is charged the new price (or, without consent, ends).
    pub fn in_effect_at(&self, at: i64) -> bool {
        self.effective_ms.is_none_or(|e| e <= at)
    }
}

/// A renewal failure armed for the next renewal attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingFailure {
    /// Grace period on/off; `None` = the app's setting.
    #[serde(default)]
    pub grace: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubState {
    /// The ASC `subscriptionPeriod` of the current product.
    pub period: String,
    pub auto_renew_product_id: String,
    pub auto_renew_status: bool,
    #[serde(default)]
    pub expiration_intent: Option<i64>,
    #[serde(default)]
    pub in_billing_retry: bool,
    #[serde(default)]
    pub grace_expires_ms: Option<i64>,
    #[serde(default)]
    pub retry_ends_ms: Option<i64>,
    #[serde(default)]
    pub price_increase: Option<PriceIncrease>,
    /// Price of the next renewal (milliunits) and its currency.
    pub renewal_price: i64,
    pub currency: String,
    pub recent_start_ms: i64,
    #[serde(default)]
    pub next_event: Option<NextEvent>,
    #[serde(default)]
    pub pending_failure: Option<PendingFailure>,
    /// An expiration intent to apply at the end of the period (forced expiry).
    #[serde(default)]
    pub pending_expire: Option<i64>,
    /// Successful renewals so far (sandbox stops after 12).
    #[serde(default)]
    pub renewals: i64,
    /// When each renewal-date extension happened (at most two per 365 days).
    #[serde(default)]
    pub extensions: Vec<i64>,
    /// Paid periods so far (renewal-date extensions need at least one).
    #[serde(default)]
    pub paid_periods: i64,
    /// The offer of the current period (and of the next renewal while `periods_left > 0`).
    #[serde(default)]
    pub offer: Option<Offer>,
    /// The original (purchaser's) subscription of a family-shared one.
    #[serde(default)]
    pub family_of: Option<String>,
}

impl SubState {
    pub fn from_doc(d: &Doc) -> SubState {
        d.parse().unwrap_or_default()
    }

    pub fn to_doc(&self) -> Doc {
        Doc::of(self).expect("state serializes")
    }

    /// The offer that applies to the next renewal, if any.
    pub fn renewal_offer(&self) -> Option<&Offer> {
        self.offer.as_ref().filter(|o| o.periods_left > 0)
    }
}

/// `JWSRenewalInfoDecodedPayload` (without `signedDate`) for a subscription.
pub fn renewal_info(
    sub: &SubscriptionRow,
    st: &SubState,
    customer: &CustomerRow,
) -> JWSRenewalInfoDecodedPayload {
    let offer = st.renewal_offer();
    JWSRenewalInfoDecodedPayload {
        original_transaction_id: Some(sub.original_transaction_id.clone()),
        auto_renew_product_id: Some(st.auto_renew_product_id.clone()),
        product_id: Some(sub.product_id.clone()),
        auto_renew_status: Some(if st.auto_renew_status {
            AutoRenewStatus::On
        } else {
            AutoRenewStatus::Off
        }),
        expiration_intent: st.expiration_intent.map(ExpirationIntent::from_wire),
        is_in_billing_retry_period: (st.in_billing_retry || st.expiration_intent.is_some())
            .then_some(st.in_billing_retry),
        price_increase_status: st
            .price_increase
            .as_ref()
            .map(|p| PriceIncreaseStatus::from_wire(p.status)),
        grace_period_expires_date: st.grace_expires_ms,
        offer_type: offer.map(Offer::offer_type),
        offer_identifier: offer.and_then(|o| o.offer_identifier.clone()),
        signed_date: None,
        environment: Some(Environment::from_wire(&sub.environment)),
        recent_subscription_start_date: Some(st.recent_start_ms),
        renewal_date: Some(sub.expires_ms),
        renewal_price: Some(match (offer, &st.price_increase) {
            (Some(o), _) => o.price,
            (None, Some(p))
                if (p.status == 1 || !p.requires_consent) && p.in_effect_at(sub.expires_ms) =>
            {
                p.price
            }
            _ => st.renewal_price,
        }),
        currency: Some(st.currency.clone()),
        offer_discount_type: offer.map(Offer::discount),
        eligible_win_back_offer_ids: None,
        app_account_token: customer.app_account_token.clone(),
        app_transaction_id: Some(customer.app_transaction_id.clone()),
        offer_period: offer.and_then(|o| o.period.clone()),
        advanced_commerce_info: None,
        commitment_info: None,
        renewal_billing_plan_type: None,
    }
}
