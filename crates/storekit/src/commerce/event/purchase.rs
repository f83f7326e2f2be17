//! `purchase`: a customer buys a product of any type (§7: ONE_TIME_CHARGE ·
//! SUBSCRIBED/INITIAL_BUY · SUBSCRIBED/RESUBSCRIBE). A promotional or offer-code offer while
//! subscribed in the product's group is redeemed on the subscription instead
//! ([`super::offer_redeemed`]). What StoreKit never does is refused: Family Sharing of a product
//! that isn't shared, subscription offers on one-time products, ineligible offers.

use crate::ledger::LedgerTx;
use serde_json::Value;

use crate::ledger::{CustomerRow, Doc, SubscriptionRow};

use super::need;
use crate::commerce::Env;
use crate::commerce::catalog::{self, DAY_MS, Period, Product, ProductKind};
use crate::commerce::engine::{Content, Ev, EvResult, EventError, NewTxn, Outcome, SubCtx};
use crate::commerce::events::{EventArgs, OfferArgs};
use crate::commerce::state::{NextEvent, Offer, SubState};
use crate::models::{
    InAppOwnershipType, NotificationTypeV2, OfferDiscountType, OfferType, Subtype,
    TransactionReason,
};

pub struct Purchase {
    args: PurchaseArgs,
    offer: Option<OfferArgs>,
}

impl Purchase {
    pub fn parse(a: &EventArgs) -> EvResult<Purchase> {
        let event = "purchase";
        let env = match &a.environment {
            Some(e) => Env::parse(e).ok_or_else(|| {
                EventError::bad(format!("environment '{e}' is sandbox or production"))
            })?,
            None => Env::Sandbox,
        };
        Ok(Purchase {
            args: PurchaseArgs {
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
            },
            offer: a.offer.clone(),
        })
    }

    pub async fn apply(self, ev: &mut Ev<'_>, at: i64) -> EvResult<Outcome> {
        let mut p = self.args;
        if let Some(o) = &self.offer {
            // Whether the product is one-time decides the offer's default discount type.
            let app = ev.app(&p.bundle_id).await?;
            let product = ev.find_product(&app, &p.product_id).await?;
            let one_time = product
                .as_ref()
                .is_some_and(|p| p.kind != ProductKind::AutoRenewable);
            p.offer = Some(offer_from(o, one_time)?);
        }
        ev.purchase(&p, at).await
    }
}

impl Ev<'_> {
    /// A purchase of any product type (§7: ONE_TIME_CHARGE, SUBSCRIBED/INITIAL_BUY|RESUBSCRIBE).
    pub async fn purchase(&mut self, p: &PurchaseArgs, at: i64) -> EvResult<Outcome> {
        let app = self.app(&p.bundle_id).await?;
        let env = p.env;
        let product = self.product(&app, &p.product_id).await?;
        purchasable(&product, p)?;
        let customer = self
            .customer_for(
                &app,
                env,
                p.customer.as_deref(),
                p.app_account_token.as_deref(),
                p.storefront.as_deref(),
                at,
            )
            .await?;
        let sf = catalog::storefront(&customer.storefront).expect("known storefront");
        let ownership = if p.family_shared {
            InAppOwnershipType::FamilyShared
        } else {
            InAppOwnershipType::Purchased
        };
        let list_price = match (p.price, &p.currency) {
            (Some(pr), Some(c)) => (pr, c.clone()),
            (Some(pr), None) => (pr, catalog::price(&mut self.tx, &product, sf, at).await?.1),
            (None, _) => catalog::price(&mut self.tx, &product, sf, at).await?,
        };
        let offer = p.offer.clone().map(|mut o| {
            if o.price < 0 {
                // Half the list price, in whole cents (yen): $1.99 → $0.99, not $0.995.
                o.price = crate::ledger::floor_to_minor(list_price.0 / 2, &list_price.1);
            }
            o
        });
        let price = (!p.family_shared).then(|| match &offer {
            Some(o) => (o.price, list_price.1.clone()),
            None => list_price.clone(),
        });
        if product.kind != ProductKind::AutoRenewable {
            if product.kind == ProductKind::NonConsumable {
                let owned = self
                    .tx
                    .ledger_customer_owns(customer.id, &product.product_id)
                    .await?;
                if owned {
                    return Err(EventError::conflict(format!(
                        "{} already owns the non-consumable {} (a repeated purchase is a restore, not a new transaction)",
                        customer.label, product.product_id
                    )));
                }
            }
            let txn = self
                .insert_txn(
                    &app,
                    env,
                    NewTxn {
                        customer: &customer,
                        product: &product,
                        original: None,
                        purchase_ms: at,
                        expires_ms: None,
                        price,
                        quantity: p.quantity.unwrap_or(1),
                        reason: TransactionReason::Purchase,
                        offer: offer.as_ref(),
                        ownership,
                        storefront: sf,
                    },
                )
                .await?;
            self.emit(
                &app,
                env,
                NotificationTypeV2::OneTimeCharge,
                None,
                at,
                Content::Data {
                    customer: &customer,
                    txn: &txn,
                    sub: None,
                    reason: None,
                },
                None,
            )
            .await?;
            return Ok(Outcome {
                customer: Some(customer),
                transaction: Some(txn),
                ..Default::default()
            });
        }

        // Auto-renewable subscription.
        let group = product
            .group_id
            .clone()
            .expect("subscriptions have a group");
        let period = product.period.unwrap_or(Period::OneMonth);
        let existing = self
            .tx
            .ledger_subscriptions_of(customer.id)
            .await?
            .into_iter()
            .find(|s| s.group_id == group);
        if let Some(s) = &existing
            && matches!(s.status, 1 | 3 | 4)
        {
            if let Some(o) = &offer
                && !p.family_shared
            {
                let orig = s.original_transaction_id.clone();
                return self.redeem_offer(&orig, &product, o, list_price, at).await;
            }
            return Err(EventError::conflict(format!(
                "{} is already subscribed in group {group} (originalTransactionId {}, status {}); use upgrade, downgrade or crossgrade",
                customer.label, s.original_transaction_id, s.status
            )));
        }
        if let Some(o) = &offer {
            self.offer_eligible(&customer, &group, existing.as_ref(), o)
                .await?;
        }
        let offer_len = offer.as_ref().and_then(Offer::fixed_duration);
        let expires = match offer_len {
            Some(d) => d.add(at, env.is_sandbox()),
            None => period.add(at, env.is_sandbox()),
        };
        let original = match &existing {
            Some(s) => {
                let first = self.tx.ledger_chain(&s.original_transaction_id).await?;
                let orig_ms = first.first().map(|t| t.purchase_ms).unwrap_or(at);
                Some((s.original_transaction_id.clone(), orig_ms))
            }
            None => None,
        };
        let paid = price.as_ref().is_some_and(|(p, _)| *p > 0);
        let txn = self
            .insert_txn(
                &app,
                env,
                NewTxn {
                    customer: &customer,
                    product: &product,
                    original,
                    purchase_ms: at,
                    expires_ms: Some(expires),
                    price,
                    quantity: 1,
                    reason: TransactionReason::Purchase,
                    offer: offer.as_ref(),
                    ownership: ownership.clone(),
                    storefront: sf,
                },
            )
            .await?;
        let mut offer = offer.clone();
        if let Some(o) = &mut offer {
            // The purchase used one offer period; PAY_AS_YOU_GO bills `periods` periods.
            o.periods_left = if o.discount_type == "PAY_AS_YOU_GO" {
                (o.periods_left - 1).max(0)
            } else {
                0
            };
        }
        let recent_start = match &existing {
            Some(s) => {
                let st = SubState::from_doc(&s.state);
                // recentSubscriptionStartDate ignores lapses of 60 days or less.
                if at - s.expires_ms <= 60 * DAY_MS {
                    st.recent_start_ms
                } else {
                    at
                }
            }
            None => at,
        };
        let st = SubState {
            period: period.asc().into(),
            auto_renew_product_id: product.product_id.clone(),
            auto_renew_status: true,
            renewal_price: list_price.0,
            currency: list_price.1.clone(),
            recent_start_ms: recent_start,
            next_event: Some(NextEvent::Renew),
            paid_periods: i64::from(paid),
            offer,
            family_of: p.family_of.clone(),
            ..Default::default()
        };
        let mut sub = SubscriptionRow {
            original_transaction_id: txn.original_transaction_id.clone(),
            customer_id: customer.id,
            app_id: app.id.clone(),
            bundle_id: app.bundle_id.clone(),
            environment: env.as_str().into(),
            group_id: group,
            product_id: product.product_id.clone(),
            status: 1,
            expires_ms: expires,
            latest_transaction_id: txn.transaction_id.clone(),
            ownership: ownership.as_str().into(),
            storefront: sf.alpha3.into(),
            next_event_ms: None,
            renewal: Doc::default(),
            state: Doc::default(),
            updated_ms: at,
        };
        self.save_sub(&mut sub, &st, &customer, at).await?;
        let ctx = SubCtx {
            app,
            env,
            customer,
            sub,
            st,
        };
        let subtype = if existing.is_some() {
            Subtype::Resubscribe
        } else {
            Subtype::InitialBuy
        };
        self.emit_sub(
            &ctx,
            NotificationTypeV2::Subscribed,
            Some(subtype),
            at,
            &txn,
            None,
        )
        .await?;
        Ok(Outcome {
            customer: Some(ctx.customer),
            transaction: Some(txn),
            subscription: Some(ctx.sub),
            ..Default::default()
        })
    }

    /// Whether a customer not (or no longer) subscribed in `group` may redeem `offer` on a new
    /// subscription (StoreKit refuses the others with `Product.PurchaseError.ineligibleForOffer`):
    /// an introductory offer once per subscription group, a win-back offer only for a churned
    /// subscriber, one whose subscription in the group expired (§7 lists win-back redemptions
    /// only as SUBSCRIBED/RESUBSCRIBE; supporting-win-back-offers-in-your-app).
    pub(crate) async fn offer_eligible(
        &mut self,
        customer: &CustomerRow,
        group: &str,
        existing: Option<&SubscriptionRow>,
        offer: &Offer,
    ) -> EvResult<()> {
        let who = &customer.label;
        match (offer.offer_type(), existing) {
            (OfferType::WinBackOffer, None) => Err(EventError::conflict(format!(
                "StoreKit refuses this purchase (ineligibleForOffer): {who} never subscribed in subscription group {group}; win-back offers are for churned subscribers"
            ))),
            (OfferType::IntroductoryOffer, Some(s)) => {
                let chain = self.tx.ledger_chain(&s.original_transaction_id).await?;
                let intro = OfferType::IntroductoryOffer.value();
                match chain.iter().find(|t| {
                    t.payload.get("offerType").as_ref().and_then(Value::as_i64) == Some(intro)
                }) {
                    Some(t) => Err(EventError::conflict(format!(
                        "StoreKit refuses this purchase (ineligibleForOffer): {who} already redeemed an introductory offer in subscription group {group} (transaction {}); introductory offers are once per subscription group",
                        t.transaction_id
                    ))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// A purchase request.
#[derive(Debug, Clone)]
pub struct PurchaseArgs {
    pub bundle_id: String,
    pub product_id: String,
    pub env: Env,
    pub customer: Option<String>,
    pub app_account_token: Option<String>,
    pub storefront: Option<String>,
    pub quantity: Option<i32>,
    pub price: Option<i64>,
    pub currency: Option<String>,
    pub offer: Option<Offer>,
    pub family_shared: bool,
    pub family_of: Option<String>,
}

/// `a consumable`, `a non-consumable`, … (for messages).
fn kind_name(k: ProductKind) -> &'static str {
    match k {
        ProductKind::Consumable => "a consumable",
        ProductKind::NonConsumable => "a non-consumable",
        ProductKind::NonRenewing => "a non-renewing subscription",
        ProductKind::AutoRenewable => "an auto-renewable subscription",
    }
}

/// The purchases StoreKit never makes, whoever the customer: Family Sharing of a product that
/// isn't shared (only non-consumables and auto-renewable subscriptions whose `familySharable`
/// is on are; §7 names family access only for those two), and subscription offers
/// (introductory, promotional, win-back) on a one-time product (§7: one-time products redeem
/// offer codes only, as ONE_TIME_CHARGE).
fn purchasable(product: &Product, p: &PurchaseArgs) -> EvResult<()> {
    let (pid, kind) = (&product.product_id, kind_name(product.kind));
    if p.family_shared {
        if !matches!(
            product.kind,
            ProductKind::NonConsumable | ProductKind::AutoRenewable
        ) {
            return Err(EventError::bad(format!(
                "StoreKit never shares {pid} through Family Sharing: it is {kind}; only non-consumables and auto-renewable subscriptions are shared"
            )));
        }
        if !product.family_sharable {
            return Err(EventError::bad(format!(
                "StoreKit never shares {pid} through Family Sharing: Family Sharing is off for it (familySharable false in App Store Connect)"
            )));
        }
    }
    if let Some(o) = &p.offer
        && product.kind != ProductKind::AutoRenewable
        && o.offer_type() != OfferType::OfferCode
    {
        let name = match o.offer_type() {
            OfferType::IntroductoryOffer => "introductory",
            OfferType::PromotionalOffer => "promotional",
            _ => "win-back",
        };
        return Err(EventError::bad(format!(
            "StoreKit has no {name} offer for {pid}: it is {kind}; introductory, promotional and win-back offers are for auto-renewable subscriptions (one-time products take offer codes)"
        )));
    }
    Ok(())
}

/// The offer of a purchase from its arguments (defaults: a week's free trial for an
/// introductory offer, else a month pay-as-you-go at half the list price).
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
        && catalog::Duration::parse_iso(p).is_none()
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
