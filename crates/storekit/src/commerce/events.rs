//! Driving events, as the admin API (`POST /crabapple/admin/commerce/{event}`) and the CLI
//! (`crabapple purchase …`) take them: a JSON object of camelCase arguments → the event (one
//! file each in [`super::event`]) → a JSON result with the ids and the notifications emitted.
//!
//! | event | arguments | notification (§7) |
//! |---|---|---|
//! | `purchase` | bundleId, productId, environment?, customer?, appAccountToken?, storefront?, quantity?, price?, currency?, offer?, familyShared? | ONE_TIME_CHARGE · SUBSCRIBED/INITIAL_BUY · SUBSCRIBED/RESUBSCRIBE; with a promotional or offer-code `offer` while subscribed in the group: OFFER_REDEEMED (same product, from the next renewal) · OFFER_REDEEMED/UPGRADE (higher level, now) · OFFER_REDEEMED/DOWNGRADE (lower level, at the next renewal) |
//! | `renew` | transactionId (any of the subscription) | DID_RENEW (the period ends now; the next starts at its expiresDate); from billing retry DID_RENEW/BILLING_RECOVERY |
//! | `fail-renewal` | transactionId, gracePeriod?, now? | at the renewal date (or now, ending the period): DID_FAIL_TO_RENEW · DID_FAIL_TO_RENEW/GRACE_PERIOD; then GRACE_PERIOD_EXPIRED, EXPIRED/BILLING_RETRY as the clock passes |
//! | `recover` | transactionId | DID_RENEW/BILLING_RECOVERY |
//! | `expire` | transactionId, reason (voluntary, billing-retry, price-increase, product-not-for-sale, other), now? | voluntary: DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED first (unless now); at the renewal date (or now, ending the period): EXPIRED/VOLUNTARY · BILLING_RETRY · PRICE_INCREASE · PRODUCT_NOT_FOR_SALE · (none) |
//! | `upgrade` / `downgrade` / `crossgrade` | transactionId, toProductId | DID_CHANGE_RENEWAL_PREF/UPGRADE · DOWNGRADE · (none: back to the current product) |
//! | `auto-renew` | transactionId, enabled | DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_ENABLED · AUTO_RENEW_DISABLED |
//! | `price-increase` | transactionId, price?, consent?, requiresConsent? | PRICE_INCREASE/PENDING · PRICE_INCREASE/ACCEPTED |
//! | `refund` | transactionId, revocationReason? (0, 1), percentage? (milliunits) | REFUND |
//! | `refund-declined` | transactionId | REFUND_DECLINED |
//! | `refund-reversed` | transactionId | REFUND_REVERSED |
//! | `revoke` | transactionId (family-shared) | REVOKE |
//! | `consumption-request` | transactionId, reason? | CONSUMPTION_REQUEST (+ AUTO_RENEW_DISABLED for subscriptions) |
//! | `extend` | transactionId, days, reasonCode? | RENEWAL_EXTENDED |

use crate::ledger::LedgerTx;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Commerce;
use super::engine::{Ev, EvResult, Outcome, SubCtx};
use super::event::Event;
use super::state::{SubState, renewal_info};

/// Arguments of any event (each event reads the ones it needs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventArgs {
    pub bundle_id: Option<String>,
    pub product_id: Option<String>,
    /// `sandbox` (default) or `production`.
    pub environment: Option<String>,
    /// A customer label: the same label is the same customer (Apple Account) of the app.
    pub customer: Option<String>,
    pub app_account_token: Option<String>,
    /// ISO 3166-1 alpha-3 (default `USA`).
    pub storefront: Option<String>,
    pub quantity: Option<i32>,
    /// Milliunits (e.g. 4990 = 4.99); default: the App Store Connect price or a default.
    pub price: Option<i64>,
    pub currency: Option<String>,
    pub offer: Option<OfferArgs>,
    pub family_shared: Option<bool>,
    /// Any transaction id of the subscription / the transaction the event is about.
    pub transaction_id: Option<String>,
    pub original_transaction_id: Option<String>,
    pub grace_period: Option<bool>,
    /// Apply now rather than at the end of the period.
    pub now: Option<bool>,
    /// `expire`: voluntary | billing-retry | price-increase | product-not-for-sale | other (or 1–5);
    /// `consumption-request`: UNINTENDED_PURCHASE | FULFILLMENT_ISSUE | UNSATISFIED_WITH_PURCHASE | LEGAL | OTHER.
    pub reason: Option<String>,
    pub to_product_id: Option<String>,
    pub enabled: Option<bool>,
    pub consent: Option<bool>,
    pub requires_consent: Option<bool>,
    /// Refund percentage in milliunits (100000 = full).
    pub percentage: Option<i64>,
    /// 0 = other reason, 1 = an issue with the app.
    pub revocation_reason: Option<i64>,
    pub days: Option<i64>,
    pub reason_code: Option<i64>,
}

/// `offer` of a purchase.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfferArgs {
    /// introductory | promotional | offer-code | win-back (or 1–4).
    #[serde(rename = "type")]
    pub offer_type: Value,
    /// offerIdentifier (promotional offers, offer codes, win-back offers).
    pub id: Option<String>,
    /// FREE_TRIAL | PAY_AS_YOU_GO | PAY_UP_FRONT | ONE_TIME.
    pub discount_type: Option<String>,
    /// ISO 8601 duration, e.g. P1W.
    pub period: Option<String>,
    /// Offer price in milliunits.
    pub price: Option<i64>,
    /// PAY_AS_YOU_GO: number of discounted periods.
    pub periods: Option<i64>,
}

/// Applies a named event (see [`super::event`]); returns the JSON result.
pub async fn apply(c: &Commerce, event: &str, a: EventArgs) -> EvResult<Value> {
    let e = Event::parse(event, &a)?;
    let at = c.store.now_ms();
    let mut ev = Ev::begin(c).await?;
    let mut outcome = e.apply(&mut ev, at).await?;
    if outcome.customer.is_none()
        && let Some(t) = &outcome.transaction
    {
        outcome.customer = Some(ev.customer(t.customer_id).await?);
    }
    if outcome.subscription.is_none()
        && let Some(t) = &outcome.transaction
    {
        outcome.subscription = ev
            .tx
            .ledger_subscription(&t.original_transaction_id)
            .await?;
    }
    let emitted = ev.commit().await?;
    Ok(render(event, &outcome, &emitted))
}

fn render(event: &str, o: &Outcome, emitted: &[super::engine::Emitted]) -> Value {
    let mut m = Map::new();
    m.insert("event".into(), json!(event));
    if let Some(t) = &o.transaction {
        m.insert("environment".into(), json!(t.environment));
        m.insert("bundleId".into(), json!(t.bundle_id));
        m.insert("productId".into(), json!(t.product_id));
        m.insert("transactionId".into(), json!(t.transaction_id));
        m.insert(
            "originalTransactionId".into(),
            json!(t.original_transaction_id),
        );
        if let Some(w) = &t.web_order_line_item_id {
            m.insert("webOrderLineItemId".into(), json!(w));
        }
        m.insert("orderId".into(), json!(t.order_id));
        m.insert("transaction".into(), t.payload.value());
    }
    if let Some(c) = &o.customer {
        m.insert("customer".into(), json!(c.label));
        m.insert("appTransactionId".into(), json!(c.app_transaction_id));
        if let Some(t) = &c.app_account_token {
            m.insert("appAccountToken".into(), json!(t));
        }
    }
    if let (Some(s), Some(c)) = (&o.subscription, &o.customer) {
        let st = SubState::from_doc(&s.state);
        m.insert(
            "subscription".into(),
            json!({
                "status": s.status,
                "statusName": super::engine::status_name(s.status),
                "expiresDate": s.expires_ms,
                "nextEventDate": s.next_event_ms,
                "renewalInfo": renewal_info(s, &st, c),
            }),
        );
    }
    for (k, v) in &o.extra {
        m.insert(k.clone(), v.clone());
    }
    m.insert("notifications".into(), json!(emitted));
    Value::Object(m)
}

/// The subscription context of any transaction id (for callers outside an event).
pub async fn subscription_of(c: &Commerce, any_id: &str) -> EvResult<SubCtx> {
    let mut ev = Ev::begin(c).await?;
    ev.sub_ctx(any_id).await
}
