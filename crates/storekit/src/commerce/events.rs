//! Driving events, as the admin API (`POST /crabapple/admin/commerce/{event}`) and the CLI
//! (`crabapple purchase …`) take them: a JSON object of camelCase arguments → the engine → a
//! JSON result with the ids and the notifications emitted.
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

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::engine::{Ev, EvResult, EventError, Outcome, PurchaseArgs, SubCtx};
use super::state::{Offer, SubState, renewal_info};
use super::{Commerce, Env};
use crate::models::{ConsumptionRequestReason, OfferDiscountType, OfferType};

/// Every event name.
pub const EVENTS: &[&str] = &[
    "purchase",
    "renew",
    "fail-renewal",
    "recover",
    "expire",
    "upgrade",
    "downgrade",
    "crossgrade",
    "auto-renew",
    "price-increase",
    "refund",
    "refund-declined",
    "refund-reversed",
    "revoke",
    "consumption-request",
    "extend",
];

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

fn need<'a>(v: &'a Option<String>, name: &str, event: &str) -> EvResult<&'a str> {
    v.as_deref()
        .ok_or_else(|| EventError::bad(format!("{event} needs {name}")))
}

fn offer_from(o: &OfferArgs, one_time: bool) -> EvResult<Offer> {
    let t = match &o.offer_type {
        Value::Number(n) => n.as_i64().map(|v| v.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
    .and_then(|s| OfferType::parse_name(&s))
    .ok_or_else(|| {
        EventError::bad("offer.type is introductory, promotional, offer-code or win-back (1–4)")
    })?;
    let discount = match &o.discount_type {
        Some(d) => OfferDiscountType::parse_name(d).ok_or_else(|| {
            EventError::bad(
                "offer.discountType is FREE_TRIAL, PAY_AS_YOU_GO, PAY_UP_FRONT or ONE_TIME",
            )
        })?,
        None if one_time => OfferDiscountType::OneTime,
        None if t == OfferType::IntroductoryOffer => OfferDiscountType::FreeTrial,
        None => OfferDiscountType::PayAsYouGo,
    };
    if let Some(p) = &o.period
        && super::catalog::Duration::parse_iso(p).is_none()
    {
        return Err(EventError::bad(format!(
            "offer.period '{p}' is not an ISO 8601 duration like P1W"
        )));
    }
    let period = o.period.clone().or_else(|| {
        (!one_time).then(|| match discount {
            OfferDiscountType::FreeTrial => "P1W".to_string(),
            _ => "P1M".to_string(),
        })
    });
    Ok(Offer {
        offer_type: t.value(),
        offer_identifier: o.id.clone().or_else(|| {
            (t != OfferType::IntroductoryOffer).then(|| format!("offer.{}", t.value()))
        }),
        discount_type: discount.as_str().to_string(),
        period,
        price: match (o.price, &discount) {
            (Some(p), _) => p,
            (None, OfferDiscountType::FreeTrial) => 0,
            (None, _) => -1, // half the list price, resolved at purchase
        },
        periods_left: o.periods.unwrap_or(1).max(1),
    })
}

fn expire_intent(r: Option<&str>) -> EvResult<i64> {
    Ok(match r.map(|s| s.to_ascii_lowercase().replace('_', "-")) {
        None => 1,
        Some(s) => match s.as_str() {
            "1" | "voluntary" | "cancelled" | "canceled" => 1,
            "2" | "billing-retry" | "billing-error" | "billing" => 2,
            "3" | "price-increase" => 3,
            "4" | "product-not-for-sale" | "product-not-available" => 4,
            "5" | "other" => 5,
            other => {
                return Err(EventError::bad(format!(
                    "unknown expiration reason '{other}' (voluntary, billing-retry, price-increase, product-not-for-sale, other)"
                )));
            }
        },
    })
}

/// Applies a named event; returns the JSON result.
pub async fn apply(c: &Commerce, event: &str, a: EventArgs) -> EvResult<Value> {
    if !EVENTS.contains(&event) {
        return Err(EventError {
            status: 404,
            message: format!("unknown event '{event}' (one of: {})", EVENTS.join(", ")),
            api: None,
        });
    }
    let at = c.store.now_ms();
    let mut ev = Ev::begin(c).await?;
    let any_id = a
        .transaction_id
        .clone()
        .or(a.original_transaction_id.clone());
    let mut outcome = Outcome::default();
    match event {
        "purchase" => {
            let env = match &a.environment {
                Some(e) => Env::parse(e).ok_or_else(|| {
                    EventError::bad(format!("environment '{e}' is sandbox or production"))
                })?,
                None => Env::Sandbox,
            };
            let p = PurchaseArgs {
                bundle_id: need(&a.bundle_id, "bundleId", event)?.to_string(),
                product_id: need(&a.product_id, "productId", event)?.to_string(),
                env,
                customer: a.customer.clone(),
                app_account_token: a.app_account_token.clone(),
                storefront: a.storefront.clone(),
                quantity: a.quantity,
                price: a.price,
                currency: a.currency.clone(),
                offer: None,
                family_shared: a.family_shared.unwrap_or(false),
                family_of: None,
            };
            let p = match &a.offer {
                Some(o) => {
                    // Whether the product is one-time decides the offer's default discount type.
                    let app = ev.app(&p.bundle_id).await?;
                    let product =
                        super::catalog::resolve_product(&mut ev.tx, &app, &p.product_id).await?;
                    let one_time = product
                        .as_ref()
                        .is_some_and(|p| p.kind != super::catalog::ProductKind::AutoRenewable);
                    PurchaseArgs {
                        offer: Some(offer_from(o, one_time)?),
                        ..p
                    }
                }
                None => p,
            };
            outcome = ev.purchase(&p, at).await?;
        }
        "refund" => {
            let id = need(&any_id, "transactionId", event)?;
            outcome.transaction = Some(
                ev.refund(id, a.revocation_reason.unwrap_or(0), a.percentage, at)
                    .await?,
            );
        }
        "refund-declined" => {
            let id = need(&any_id, "transactionId", event)?;
            outcome.transaction = Some(ev.refund_declined(id, at).await?);
        }
        "refund-reversed" => {
            let id = need(&any_id, "transactionId", event)?;
            outcome.transaction = Some(ev.refund_reversed(id, at).await?);
        }
        "revoke" => {
            let id = need(&any_id, "transactionId", event)?;
            outcome.transaction = Some(ev.revoke(id, at).await?);
        }
        "consumption-request" => {
            let id = need(&any_id, "transactionId", event)?;
            let reason = match &a.reason {
                Some(r) => {
                    let r = ConsumptionRequestReason::from_wire(
                        &r.to_ascii_uppercase().replace('-', "_"),
                    );
                    if !r.is_known() {
                        return Err(EventError::bad(
                            "reason is UNINTENDED_PURCHASE, FULFILLMENT_ISSUE, UNSATISFIED_WITH_PURCHASE, LEGAL or OTHER",
                        ));
                    }
                    r
                }
                None => ConsumptionRequestReason::UnintendedPurchase,
            };
            outcome.transaction = Some(ev.consumption_request(id, reason, at).await?);
        }
        _ => {
            let id = need(&any_id, "transactionId", event)?;
            let mut ctx = ev.sub_ctx(id).await?;
            match event {
                "renew" => ev.renew_now(&mut ctx, at).await?,
                "fail-renewal" => {
                    ev.fail_renewal(&mut ctx, a.grace_period, a.now.unwrap_or(false), at)
                        .await?
                }
                "recover" => ev.recover(&mut ctx, at).await?,
                "expire" => {
                    let intent = expire_intent(a.reason.as_deref())?;
                    ev.expire_event(&mut ctx, intent, a.now.unwrap_or(false), at)
                        .await?
                }
                "upgrade" | "downgrade" | "crossgrade" => {
                    let to = need(&a.to_product_id, "toProductId", event)?;
                    ev.change_product(&mut ctx, to, event, at).await?
                }
                "auto-renew" => {
                    let enabled = a
                        .enabled
                        .ok_or_else(|| EventError::bad("auto-renew needs enabled: true|false"))?;
                    ev.set_auto_renew(&mut ctx, enabled, at).await?
                }
                "price-increase" => {
                    ev.price_increase(
                        &mut ctx,
                        a.price,
                        a.consent.unwrap_or(false),
                        a.requires_consent.unwrap_or(true),
                        at,
                    )
                    .await?
                }
                "extend" => {
                    let days = a
                        .days
                        .ok_or_else(|| EventError::bad("extend needs days (1–90)"))?;
                    if !(1..=90).contains(&days) {
                        return Err(EventError::bad("days is 1–90"));
                    }
                    let (_, eff) = ev.extend(&mut ctx, days, at, true).await?;
                    outcome.extra.insert("effectiveDate".into(), json!(eff));
                }
                _ => unreachable!("checked against EVENTS"),
            }
            // Reload what the event left behind.
            let ctx = ev.sub_ctx(&ctx.sub.original_transaction_id).await?;
            outcome.transaction = Some(ev.transaction(&ctx.sub.latest_transaction_id).await?);
            outcome.customer = Some(ctx.customer.clone());
            outcome.subscription = Some(ctx.sub);
        }
    }
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
        m.insert("transaction".into(), t.payload.clone());
    }
    if let Some(c) = &o.customer {
        m.insert("customer".into(), json!(c.label));
        m.insert("appTransactionId".into(), json!(c.app_transaction_id));
        if let Some(t) = &c.app_account_token {
            m.insert("appAccountToken".into(), json!(t));
        }
    }
    if let (Some(s), Some(c)) = (&o.subscription, &o.customer) {
        let st = SubState::from_value(&s.state);
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
