//! The commerce engine: every event (a purchase, a renewal, a refund, …) changes the ledger and
//! appends the notifications Apple sends for it (apple-semantics.md §7) to the outbox, all in one
//! SQL transaction ([`Ev`]). Customer-initiated events happen "now"; the clock-driven ones
//! (renewals, billing retry, grace period, expiry) happen at their due time when the scheduler
//! reaches it.

use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use crabapple_store::Tx;
use crabapple_store::ledger::{
    AppRow, CustomerRow, MassExtensionRow, NotificationRow, SubscriptionRow, TransactionRow,
};

use super::catalog::{self, DAY_MS, Period, Product, ProductKind, Storefront};
use super::state::{NextEvent, Offer, PendingFailure, PriceIncrease, SubState, renewal_info};
use super::{Commerce, Env};
use crate::models::{
    ApiError, AppTransaction, ConsumptionRequestReason, InAppOwnershipType,
    JWSTransactionDecodedPayload, NotificationData, NotificationTypeV2, OfferDiscountType,
    OfferType, PurchasePlatform, ResponseBodyV2DecodedPayload, RevocationReason, RevocationType,
    Status, Subtype, Summary, TransactionReason,
};

/// Why an event or API call could not be applied.
#[derive(Debug, Clone)]
pub struct EventError {
    /// HTTP status for the admin API (400, 404, 409, 500).
    pub status: u16,
    pub message: String,
    /// The App Store Server API error, when the same rule backs an API endpoint.
    pub api: Option<ApiError>,
}

impl EventError {
    pub fn bad(msg: impl Into<String>) -> EventError {
        EventError {
            status: 400,
            message: msg.into(),
            api: None,
        }
    }
    pub fn not_found(msg: impl Into<String>) -> EventError {
        EventError {
            status: 404,
            message: msg.into(),
            api: Some(ApiError::TransactionIdNotFound),
        }
    }
    pub fn conflict(msg: impl Into<String>) -> EventError {
        EventError {
            status: 409,
            message: msg.into(),
            api: None,
        }
    }
    pub fn api(e: ApiError, msg: impl Into<String>) -> EventError {
        EventError {
            status: e.http_status(),
            message: msg.into(),
            api: Some(e),
        }
    }
}

impl From<anyhow::Error> for EventError {
    fn from(e: anyhow::Error) -> EventError {
        EventError {
            status: 500,
            message: format!("{e:#}"),
            api: Some(ApiError::GeneralInternal),
        }
    }
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EventError {}

pub type EvResult<T> = std::result::Result<T, EventError>;

/// A notification an event appended to the outbox.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Emitted {
    #[serde(rename = "notificationUUID")]
    pub notification_uuid: String,
    pub notification_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// `pending` (will be POSTed) or `unsent` (no V2 URL for the environment).
    pub state: String,
    pub signed_date: i64,
}

/// What a notification carries.
pub enum Content<'a> {
    Data {
        customer: &'a CustomerRow,
        txn: &'a TransactionRow,
        sub: Option<(&'a SubscriptionRow, &'a SubState)>,
        reason: Option<ConsumptionRequestReason>,
    },
    Summary(Summary),
    Test,
}

/// Parameters of a new transaction.
pub struct NewTxn<'a> {
    pub customer: &'a CustomerRow,
    pub product: &'a Product,
    /// `(original transaction id, original purchase date)` of an existing chain.
    pub original: Option<(String, i64)>,
    pub purchase_ms: i64,
    pub expires_ms: Option<i64>,
    /// `None` for family-shared transactions (no price).
    pub price: Option<(i64, String)>,
    pub quantity: i32,
    pub reason: TransactionReason,
    pub offer: Option<&'a Offer>,
    pub ownership: InAppOwnershipType,
    pub storefront: Storefront,
}

/// One event's SQL transaction and the notifications it emitted.
pub struct Ev<'c> {
    pub c: &'c Commerce,
    pub tx: Tx,
    pub emitted: Vec<Emitted>,
}

const TXN_ID_START_SANDBOX: i64 = 2_000_000_000_000_001;
const TXN_ID_START_PRODUCTION: i64 = 1_000_000_000_000_001;
const APP_TXN_ID_START: i64 = 704_289_572_311_000_001;

fn order_id(n: i64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut s = Vec::new();
    let mut v = n as u64;
    while v > 0 {
        s.push(ALPHABET[(v % ALPHABET.len() as u64) as usize]);
        v /= ALPHABET.len() as u64;
    }
    while s.len() < 9 {
        s.push(b'0');
    }
    s.reverse();
    format!("M{}", String::from_utf8(s).expect("ascii"))
}

/// Adds `signedDate` to a decoded payload.
pub fn with_signed_date(payload: &Value, at: i64) -> Value {
    let mut v = payload.clone();
    if let Value::Object(m) = &mut v {
        m.insert("signedDate".into(), Value::from(at));
    }
    v
}

pub fn app_apple_id(app: &AppRow) -> Option<i64> {
    app.id.parse().ok()
}

/// The notification URL and version configured for an environment.
pub fn notification_url(app: &AppRow, env: Env) -> (Option<String>, Option<String>) {
    let (u, v) = match env {
        Env::Production => ("subscriptionStatusUrl", "subscriptionStatusUrlVersion"),
        Env::Sandbox => (
            "subscriptionStatusUrlForSandbox",
            "subscriptionStatusUrlVersionForSandbox",
        ),
    };
    let s = |k: &str| {
        app.attributes
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    (s(u), s(v))
}

fn expiration_subtype(intent: i64) -> Option<Subtype> {
    match intent {
        1 => Some(Subtype::Voluntary),
        2 => Some(Subtype::BillingRetry),
        3 => Some(Subtype::PriceIncrease),
        4 => Some(Subtype::ProductNotForSale),
        _ => None,
    }
}

impl<'c> Ev<'c> {
    pub async fn begin(c: &'c Commerce) -> Result<Ev<'c>> {
        Ok(Ev {
            c,
            tx: c.store.begin().await?,
            emitted: Vec::new(),
        })
    }

    /// Commits the event; wakes the deliverer when it emitted something.
    pub async fn commit(self) -> Result<Vec<Emitted>> {
        self.tx.commit().await?;
        if self.emitted.iter().any(|e| e.state == "pending") {
            self.c.wake();
        }
        Ok(self.emitted)
    }

    pub async fn app(&mut self, bundle_id: &str) -> EvResult<AppRow> {
        self.tx
            .ledger_app_by_bundle(bundle_id)
            .await?
            .ok_or_else(|| EventError {
                status: 404,
                message: format!("no app with bundle id {bundle_id}"),
                api: Some(ApiError::AppNotFound),
            })
    }

    pub async fn app_by_id(&mut self, app_id: &str) -> EvResult<AppRow> {
        let r = self
            .tx
            .get("apps", app_id)
            .await?
            .ok_or_else(|| EventError::not_found(format!("app {app_id} no longer exists")))?;
        let bundle_id = r
            .attributes
            .get("bundleId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(AppRow {
            id: r.id,
            bundle_id,
            attributes: r.attributes,
        })
    }

    /// Finds or creates a customer (and its app transaction).
    pub async fn customer_for(
        &mut self,
        app: &AppRow,
        env: Env,
        label: Option<&str>,
        app_account_token: Option<&str>,
        storefront: Option<&str>,
        at: i64,
    ) -> EvResult<CustomerRow> {
        if let Some(t) = app_account_token
            && uuid::Uuid::parse_str(t).is_err()
        {
            return Err(EventError::api(
                ApiError::InvalidAppAccountTokenUuid,
                format!("appAccountToken '{t}' is not a UUID"),
            ));
        }
        let sf = match storefront {
            Some(s) => catalog::storefront(&s.to_ascii_uppercase()).ok_or_else(|| {
                EventError::bad(format!(
                    "unknown storefront '{s}' (use ISO 3166-1 alpha-3, e.g. USA)"
                ))
            })?,
            None => catalog::storefront("USA").expect("USA"),
        };
        if let Some(l) = label
            && let Some(mut c) = self
                .tx
                .ledger_customer_by_label(&app.id, env.as_str(), l)
                .await?
        {
            if let Some(t) = app_account_token {
                let t = t.to_ascii_lowercase();
                self.tx.ledger_set_customer_token(c.id, Some(&t)).await?;
                c.app_account_token = Some(t);
            }
            return Ok(c);
        }
        let n = self.tx.ledger_next("customer", 1).await?;
        let label = label
            .map(str::to_string)
            .unwrap_or_else(|| format!("customer-{n}"));
        let app_transaction_id = self
            .tx
            .ledger_next("app_transaction_id", APP_TXN_ID_START)
            .await?
            .to_string();
        let mut nonce = [0u8; 48];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| anyhow!("no randomness"))?;
        let at_payload = AppTransaction {
            receipt_type: Some(env.wire()),
            app_apple_id: app_apple_id(app),
            bundle_id: Some(app.bundle_id.clone()),
            application_version: Some("1".into()),
            version_external_identifier: Some(if env == Env::Production { 1 } else { 0 }),
            receipt_creation_date: Some(at),
            original_purchase_date: Some(at),
            original_application_version: Some("1".into()),
            device_verification: Some(base64::engine::general_purpose::STANDARD.encode(nonce)),
            device_verification_nonce: Some(uuid::Uuid::new_v4().to_string()),
            preorder_date: None,
            app_transaction_id: Some(app_transaction_id.clone()),
            original_platform: Some(PurchasePlatform::Ios),
        };
        let mut row = CustomerRow {
            id: 0,
            app_id: app.id.clone(),
            bundle_id: app.bundle_id.clone(),
            environment: env.as_str().into(),
            label,
            app_account_token: app_account_token.map(str::to_ascii_lowercase),
            storefront: sf.alpha3.into(),
            app_transaction_id,
            app_transaction: serde_json::to_value(&at_payload).context("app transaction")?,
            created_ms: at,
        };
        row.id = self.tx.ledger_insert_customer(&row).await?;
        Ok(row)
    }

    pub async fn customer(&mut self, id: i64) -> EvResult<CustomerRow> {
        Ok(self
            .tx
            .ledger_customer(id)
            .await?
            .ok_or_else(|| anyhow!("customer {id} vanished"))?)
    }

    pub async fn transaction(&mut self, id: &str) -> EvResult<TransactionRow> {
        self.tx
            .ledger_transaction(id)
            .await?
            .ok_or_else(|| EventError::not_found(format!("no transaction {id}")))
    }

    async fn product(&mut self, app: &AppRow, product_id: &str) -> EvResult<Product> {
        catalog::resolve_product(&mut self.tx, app, product_id)
            .await?
            .ok_or_else(|| EventError {
                status: 404,
                message: format!(
                    "no in-app purchase or subscription with productId '{product_id}' for app {} ({}); create it through the App Store Connect API (POST /v2/inAppPurchases, POST /v1/subscriptions)",
                    app.id, app.bundle_id
                ),
                api: Some(ApiError::InvalidProductId),
            })
    }

    /// Inserts a new transaction built from `n`.
    pub async fn insert_txn(
        &mut self,
        app: &AppRow,
        env: Env,
        n: NewTxn<'_>,
    ) -> Result<TransactionRow> {
        let start = match env {
            Env::Sandbox => TXN_ID_START_SANDBOX,
            Env::Production => TXN_ID_START_PRODUCTION,
        };
        let id = self
            .tx
            .ledger_next(&format!("transaction_id.{}", env.as_str()), start)
            .await?
            .to_string();
        let auto = n.product.kind == ProductKind::AutoRenewable;
        let wol = if auto {
            Some(
                self.tx
                    .ledger_next(&format!("web_order_line_item_id.{}", env.as_str()), start)
                    .await?
                    .to_string(),
            )
        } else {
            None
        };
        let order = order_id(self.tx.ledger_next("order_id", 1_000_000).await?);
        let (orig, orig_ms) = n.original.clone().unwrap_or((id.clone(), n.purchase_ms));
        let offer = n.offer;
        let (price, currency) = match &n.price {
            Some((p, c)) => (Some(*p * i64::from(n.quantity.max(1))), Some(c.clone())),
            None => (None, None),
        };
        let payload = JWSTransactionDecodedPayload {
            transaction_id: Some(id.clone()),
            original_transaction_id: Some(orig.clone()),
            web_order_line_item_id: wol.clone(),
            bundle_id: Some(app.bundle_id.clone()),
            product_id: Some(n.product.product_id.clone()),
            subscription_group_identifier: n.product.group_id.clone(),
            purchase_date: Some(n.purchase_ms),
            original_purchase_date: Some(orig_ms),
            expires_date: n.expires_ms,
            quantity: Some(n.quantity.max(1)),
            r#type: Some(n.product.kind.wire_type()),
            app_account_token: n.customer.app_account_token.clone(),
            in_app_ownership_type: Some(n.ownership.clone()),
            signed_date: None,
            revocation_reason: None,
            revocation_date: None,
            is_upgraded: None,
            offer_type: offer.map(Offer::offer_type),
            offer_identifier: offer.and_then(|o| o.offer_identifier.clone()),
            environment: Some(env.wire()),
            transaction_reason: Some(n.reason.clone()),
            storefront: Some(n.storefront.alpha3.into()),
            storefront_id: Some(n.storefront.id.into()),
            price,
            currency,
            offer_discount_type: offer.map(Offer::discount),
            app_transaction_id: Some(n.customer.app_transaction_id.clone()),
            offer_period: offer.and_then(|o| o.period.clone()),
            revocation_type: None,
            revocation_percentage: None,
            advanced_commerce_info: None,
            billing_plan_type: None,
            commitment_info: None,
        };
        let row = TransactionRow {
            transaction_id: id,
            original_transaction_id: orig,
            customer_id: n.customer.id,
            app_id: app.id.clone(),
            bundle_id: app.bundle_id.clone(),
            environment: env.as_str().into(),
            product_id: n.product.product_id.clone(),
            product_type: n.product.kind.product_type().into(),
            group_id: n.product.group_id.clone(),
            order_id: order,
            web_order_line_item_id: wol,
            ownership: n.ownership.as_str().into(),
            purchase_ms: n.purchase_ms,
            expires_ms: n.expires_ms,
            revoked: false,
            revoked_ms: None,
            finished: false,
            mod_seq: 0,
            refund_seq: None,
            modified_ms: n.purchase_ms,
            payload: serde_json::to_value(&payload)?,
        };
        self.tx.ledger_put_transaction(&row).await
    }

    /// Rewrites a transaction's payload (new modification sequence).
    pub async fn update_txn(&mut self, t: &mut TransactionRow, at: i64) -> Result<()> {
        t.modified_ms = at;
        let stored = self.tx.ledger_put_transaction(t).await?;
        *t = stored;
        Ok(())
    }

    /// Stores a subscription with its derived renewal info and next due time.
    pub async fn save_sub(
        &mut self,
        sub: &mut SubscriptionRow,
        st: &SubState,
        customer: &CustomerRow,
        at: i64,
    ) -> Result<()> {
        sub.next_event_ms = match st.next_event {
            Some(NextEvent::Renew) => Some(sub.expires_ms),
            Some(NextEvent::GraceEnd) => st.grace_expires_ms,
            Some(NextEvent::RetryEnd) => st.retry_ends_ms,
            None => None,
        };
        sub.state = st.to_value();
        sub.renewal = serde_json::to_value(renewal_info(sub, st, customer))?;
        sub.updated_ms = at;
        self.tx.ledger_put_subscription(sub).await
    }

    /// Appends a notification to the outbox (signed now, with `signedDate = at`).
    #[allow(clippy::too_many_arguments)]
    pub async fn emit(
        &mut self,
        app: &AppRow,
        env: Env,
        ty: NotificationTypeV2,
        subtype: Option<Subtype>,
        at: i64,
        content: Content<'_>,
        test_token: Option<String>,
    ) -> Result<Emitted> {
        let pki = self.c.pki();
        let uuid = uuid::Uuid::new_v4().to_string();
        let mut customer_id = None;
        let mut transaction_id = None;
        let mut payload = ResponseBodyV2DecodedPayload {
            notification_type: Some(ty.clone()),
            subtype: subtype.clone(),
            notification_uuid: Some(uuid.clone()),
            version: Some("2.0".into()),
            signed_date: Some(at),
            ..Default::default()
        };
        let production_id = if env == Env::Production {
            app_apple_id(app)
        } else {
            None
        };
        match content {
            Content::Data {
                customer,
                txn,
                sub,
                reason,
            } => {
                customer_id = Some(customer.id);
                transaction_id = Some(txn.transaction_id.clone());
                let signed_txn = pki.sign(&with_signed_date(&txn.payload, at));
                let (renewal, status) = match sub {
                    Some((s, st)) => {
                        let mut r = serde_json::to_value(renewal_info(s, st, customer))?;
                        r = with_signed_date(&r, at);
                        (Some(pki.sign(&r)), Some(Status::from_wire(s.status)))
                    }
                    None => (None, None),
                };
                payload.data = Some(NotificationData {
                    app_apple_id: production_id,
                    bundle_id: Some(app.bundle_id.clone()),
                    bundle_version: Some("1".into()),
                    environment: Some(env.wire()),
                    signed_transaction_info: Some(signed_txn),
                    signed_renewal_info: renewal,
                    status,
                    consumption_request_reason: reason,
                });
            }
            Content::Summary(s) => payload.summary = Some(s),
            Content::Test => {
                payload.data = Some(NotificationData {
                    app_apple_id: production_id,
                    bundle_id: Some(app.bundle_id.clone()),
                    environment: Some(env.wire()),
                    ..Default::default()
                });
            }
        }
        let signed = pki.sign_payload(&payload);
        let (url, version) = notification_url(app, env);
        let is_test = test_token.is_some();
        // A V1 URL gets Apple's V1 notifications, which crabapple doesn't produce; the test
        // notification is sent whatever the version (request-a-test-notification page).
        let deliverable =
            url.is_some() && (is_test || version.as_deref().is_none_or(|v| v != "V1"));
        let state = if deliverable { "pending" } else { "unsent" };
        let row = NotificationRow {
            seq: 0,
            notification_uuid: uuid.clone(),
            app_id: app.id.clone(),
            bundle_id: app.bundle_id.clone(),
            environment: env.as_str().into(),
            notification_type: ty.as_str().into(),
            subtype: subtype.as_ref().map(|s| s.as_str().to_string()),
            customer_id,
            transaction_id,
            signed_date_ms: at,
            signed_payload: signed,
            url: if deliverable { url } else { None },
            test_token,
            state: state.into(),
            attempts: json!([]),
            next_attempt_ms: deliverable.then_some(at),
        };
        self.tx.ledger_insert_notification(&row).await?;
        let e = Emitted {
            notification_uuid: uuid,
            notification_type: ty.as_str().into(),
            subtype: subtype.map(|s| s.as_str().to_string()),
            state: state.into(),
            signed_date: at,
        };
        self.emitted.push(e.clone());
        Ok(e)
    }

    async fn emit_sub(
        &mut self,
        ctx: &SubCtx,
        ty: NotificationTypeV2,
        subtype: Option<Subtype>,
        at: i64,
        txn: &TransactionRow,
        reason: Option<ConsumptionRequestReason>,
    ) -> Result<Emitted> {
        self.emit(
            &ctx.app,
            ctx.env,
            ty,
            subtype,
            at,
            Content::Data {
                customer: &ctx.customer,
                txn,
                sub: Some((&ctx.sub, &ctx.st)),
                reason,
            },
            None,
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Purchases
    // -----------------------------------------------------------------------------------------

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
                o.price = list_price.0 / 2;
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
                let st = SubState::from_value(&s.state);
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
            renewal: json!({}),
            state: json!({}),
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
    async fn offer_eligible(
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
                match chain
                    .iter()
                    .find(|t| t.payload.get("offerType").and_then(Value::as_i64) == Some(intro))
                {
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

    /// A subscription offer redeemed while the customer is subscribed in the product's group
    /// (§7 "Offer on active sub"): OFFER_REDEEMED
    /// - without a subtype for the current product: the offer applies from the next renewal
    ///   (Apple DTS on the Developer Forums: "offers to the same product will always be applied
    ///   upon renewal", https://developer.apple.com/forums/thread/756304; the same for offer
    ///   codes, https://developer.apple.com/forums/thread/722812);
    /// - UPGRADE for a higher level of service: now, a new period at the offer price (the plan
    ///   change rules apply, same thread; a crossgrade to the same duration is immediate too);
    /// - DOWNGRADE for a lower level (or a crossgrade to another duration): the product and the
    ///   offer take effect at the next renewal.
    ///
    /// Introductory offers are for new subscribers of the group and win-back offers for churned
    /// ones (an expired subscription that won't renew, supporting-win-back-offers-in-your-app),
    /// so neither can be redeemed on an active subscription.
    async fn redeem_offer(
        &mut self,
        original_transaction_id: &str,
        target: &Product,
        offer: &Offer,
        list: (i64, String),
        at: i64,
    ) -> EvResult<Outcome> {
        let mut ctx = self.sub_ctx(original_transaction_id).await?;
        let who = &ctx.customer.label;
        match offer.offer_type() {
            OfferType::IntroductoryOffer => {
                return Err(EventError::conflict(format!(
                    "{who} is already subscribed in group {} (originalTransactionId {original_transaction_id}); introductory offers are for new subscribers of the group",
                    ctx.sub.group_id
                )));
            }
            OfferType::WinBackOffer => {
                return Err(EventError::conflict(format!(
                    "{who} is subscribed in group {} (originalTransactionId {original_transaction_id}); win-back offers are for churned subscribers (expired, not renewing)",
                    ctx.sub.group_id
                )));
            }
            _ => {}
        }
        if ctx.sub.status != 1 {
            return Err(EventError::conflict(format!(
                "{who}'s subscription {original_transaction_id} is {} (status {}); offers are redeemed on an active subscription (or after it expires, as a resubscription)",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        if ctx.sub.ownership == "FAMILY_SHARED" {
            return Err(EventError::conflict(format!(
                "{who}'s subscription {original_transaction_id} is shared through Family Sharing; the purchaser redeems offers"
            )));
        }
        let current = self.product(&ctx.app, &ctx.sub.product_id.clone()).await?;
        // Level 1 is the highest level of service.
        let subtype = if target.product_id == current.product_id {
            None
        } else {
            match (target.group_level, current.group_level) {
                (Some(a), Some(b)) if a < b => Some(Subtype::Upgrade),
                (Some(a), Some(b)) if a > b => Some(Subtype::Downgrade),
                // A crossgrade: the same duration is immediate, another one at the next renewal.
                _ if target.period == current.period => Some(Subtype::Upgrade),
                _ => Some(Subtype::Downgrade),
            }
        };
        // Redeeming an offer is a purchase: the subscription renews again.
        ctx.st.auto_renew_status = true;
        if ctx.st.pending_expire == Some(1) {
            ctx.st.pending_expire = None;
        }
        if ctx.st.expiration_intent == Some(1) {
            ctx.st.expiration_intent = None;
        }
        let mut outcome = Outcome::default();
        let txn = if subtype == Some(Subtype::Upgrade) {
            outcome
                .extra
                .insert("offerEffectiveDate".into(), Value::from(at));
            self.switch_now(&mut ctx, target, Some(offer), list, at)
                .await?
        } else {
            outcome
                .extra
                .insert("offerEffectiveDate".into(), Value::from(ctx.sub.expires_ms));
            ctx.st.auto_renew_product_id = target.product_id.clone();
            // The offer bills the next renewal(s); `renew` uses its duration for FREE_TRIAL and
            // PAY_UP_FRONT.
            let mut o = offer.clone();
            o.periods_left = if o.discount_type == "PAY_AS_YOU_GO" {
                o.periods_left.max(1)
            } else {
                1
            };
            ctx.st.offer = Some(o);
            self.save_ctx(&mut ctx, at).await?;
            self.latest(&ctx).await?
        };
        self.emit_sub(
            &ctx,
            NotificationTypeV2::OfferRedeemed,
            subtype,
            at,
            &txn,
            None,
        )
        .await?;
        outcome.customer = Some(ctx.customer);
        outcome.transaction = Some(txn);
        outcome.subscription = Some(ctx.sub);
        Ok(outcome)
    }

    // -----------------------------------------------------------------------------------------
    // Subscriptions
    // -----------------------------------------------------------------------------------------

    /// Loads a subscription by any transaction id of its chain.
    pub async fn sub_ctx(&mut self, any_id: &str) -> EvResult<SubCtx> {
        let txn = self.transaction(any_id).await?;
        let sub = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
            .ok_or_else(|| {
                EventError::bad(format!(
                    "transaction {any_id} is not an auto-renewable subscription"
                ))
            })?;
        let st = SubState::from_value(&sub.state);
        let customer = self.customer(sub.customer_id).await?;
        let app = self.app_by_id(&sub.app_id).await?;
        let env = Env::from_db(&sub.environment);
        Ok(SubCtx {
            app,
            env,
            customer,
            sub,
            st,
        })
    }

    async fn save_ctx(&mut self, ctx: &mut SubCtx, at: i64) -> Result<()> {
        let SubCtx {
            sub, st, customer, ..
        } = ctx;
        self.save_sub(sub, st, customer, at).await
    }

    async fn latest(&mut self, ctx: &SubCtx) -> EvResult<TransactionRow> {
        self.transaction(&ctx.sub.latest_transaction_id).await
    }

    /// The renewal at the end of a period: renews, fails, or expires (clock-driven).
    pub async fn step_renew(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        let sandbox = ctx.env.is_sandbox();
        if let Some(intent) = ctx.st.pending_expire {
            return self.expire(ctx, intent, at).await;
        }
        if !ctx.st.auto_renew_status {
            return self.expire(ctx, 1, at).await;
        }
        if let Some(pi) = &ctx.st.price_increase
            && pi.requires_consent
            && pi.status == 0
        {
            return self.expire(ctx, 3, at).await;
        }
        let next =
            catalog::resolve_product(&mut self.tx, &ctx.app, &ctx.st.auto_renew_product_id).await?;
        let removed = next.as_ref().is_none_or(|p| {
            matches!(
                p.state.as_deref(),
                Some("REMOVED_FROM_SALE" | "DEVELOPER_REMOVED_FROM_SALE")
            )
        });
        if removed {
            return self.expire(ctx, 4, at).await;
        }
        if sandbox && ctx.st.renewals >= catalog::SANDBOX_MAX_RENEWALS {
            return self.expire(ctx, 1, at).await;
        }
        if let Some(f) = ctx.st.pending_failure.take() {
            return self.fail(ctx, f, at).await;
        }
        self.renew(ctx, at, false).await
    }

    /// A successful renewal starting at `at` (DID_RENEW, or DID_RENEW/BILLING_RECOVERY).
    pub async fn renew(&mut self, ctx: &mut SubCtx, at: i64, recovery: bool) -> EvResult<()> {
        let product = self
            .product(&ctx.app, &ctx.st.auto_renew_product_id.clone())
            .await?;
        let period = product.period.unwrap_or(Period::OneMonth);
        let sf = catalog::storefront(&ctx.sub.storefront).expect("known storefront");
        let latest = self.latest(ctx).await?;
        let orig_ms = latest
            .payload
            .get("originalPurchaseDate")
            .and_then(Value::as_i64)
            .unwrap_or(latest.purchase_ms);
        if product.product_id != ctx.sub.product_id {
            // A pending downgrade / crossgrade takes effect: the list price is the new product's.
            ctx.st.renewal_price = catalog::price(&mut self.tx, &product, sf, at).await?.0;
        }
        let mut offer = ctx.st.renewal_offer().cloned();
        let price = match (&mut offer, ctx.st.price_increase.take()) {
            (Some(o), pi) => {
                ctx.st.price_increase = pi;
                o.periods_left -= 1;
                o.price
            }
            (None, Some(pi)) if pi.status == 1 || !pi.requires_consent => {
                ctx.st.renewal_price = pi.price;
                pi.price
            }
            (None, pi) => {
                ctx.st.price_increase = pi;
                ctx.st.renewal_price
            }
        };
        let family = ctx.sub.ownership == "FAMILY_SHARED";
        // An offer redeemed for a later renewal (OFFER_REDEEMED) may be a FREE_TRIAL or
        // PAY_UP_FRONT period of its own duration.
        let expires = match offer.as_ref().and_then(Offer::fixed_duration) {
            Some(d) => {
                if let Some(o) = &mut offer {
                    o.periods_left = 0;
                }
                d.add(at, ctx.env.is_sandbox())
            }
            None => period.add(at, ctx.env.is_sandbox()),
        };
        let txn = self
            .insert_txn(
                &ctx.app,
                ctx.env,
                NewTxn {
                    customer: &ctx.customer,
                    product: &product,
                    original: Some((ctx.sub.original_transaction_id.clone(), orig_ms)),
                    purchase_ms: at,
                    expires_ms: Some(expires),
                    price: (!family).then(|| (price, ctx.st.currency.clone())),
                    quantity: 1,
                    reason: TransactionReason::Renewal,
                    offer: offer.as_ref(),
                    ownership: InAppOwnershipType::from_wire(&ctx.sub.ownership),
                    storefront: sf,
                },
            )
            .await?;
        ctx.st.offer = offer.filter(|o| o.periods_left > 0);
        ctx.sub.product_id = product.product_id.clone();
        ctx.sub.latest_transaction_id = txn.transaction_id.clone();
        ctx.sub.expires_ms = expires;
        ctx.sub.status = 1;
        ctx.st.period = period.asc().into();
        ctx.st.in_billing_retry = false;
        ctx.st.grace_expires_ms = None;
        ctx.st.retry_ends_ms = None;
        ctx.st.expiration_intent = None;
        ctx.st.next_event = Some(NextEvent::Renew);
        ctx.st.renewals += 1;
        if price > 0 {
            ctx.st.paid_periods += 1;
        }
        self.save_ctx(ctx, at).await?;
        let subtype = recovery.then_some(Subtype::BillingRecovery);
        self.emit_sub(ctx, NotificationTypeV2::DidRenew, subtype, at, &txn, None)
            .await?;
        Ok(())
    }

    /// The renewal attempt at the end of the period fails: billing retry, with or without a
    /// grace period, both counted from the expiry instant (`expiresDate`, which the clock has
    /// reached: the scheduler runs this at it, `fail-renewal --now` ends the period first).
    async fn fail(&mut self, ctx: &mut SubCtx, f: PendingFailure, at: i64) -> EvResult<()> {
        let sandbox = ctx.env.is_sandbox();
        let period = Period::from_asc(&ctx.st.period).unwrap_or(Period::OneMonth);
        let (enabled, days) =
            catalog::grace_period(&mut self.tx, &ctx.app, sandbox, period).await?;
        let grace = f.grace.unwrap_or(enabled);
        let expiry = ctx.sub.expires_ms.min(at);
        ctx.st.in_billing_retry = true;
        ctx.st.expiration_intent = Some(2);
        ctx.st.retry_ends_ms =
            Some(expiry + catalog::days_ms(catalog::BILLING_RETRY_DAYS, sandbox));
        let subtype = if grace {
            ctx.st.grace_expires_ms = Some(expiry + catalog::days_ms(days, sandbox));
            ctx.st.next_event = Some(NextEvent::GraceEnd);
            ctx.sub.status = 4;
            Some(Subtype::GracePeriod)
        } else {
            ctx.st.grace_expires_ms = None;
            ctx.st.next_event = Some(NextEvent::RetryEnd);
            ctx.sub.status = 3;
            None
        };
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::DidFailToRenew,
            subtype,
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// The grace period ends; billing retry continues (GRACE_PERIOD_EXPIRED).
    pub async fn step_grace_end(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        ctx.sub.status = 3;
        ctx.st.next_event = Some(NextEvent::RetryEnd);
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::GracePeriodExpired,
            None,
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// The subscription expires with an expiration intent (EXPIRED/<subtype>).
    pub async fn expire(&mut self, ctx: &mut SubCtx, intent: i64, at: i64) -> EvResult<()> {
        ctx.sub.status = 2;
        ctx.st.expiration_intent = Some(intent);
        ctx.st.in_billing_retry = false;
        ctx.st.next_event = None;
        ctx.st.pending_expire = None;
        ctx.st.pending_failure = None;
        if matches!(intent, 1 | 3 | 4) {
            ctx.st.auto_renew_status = false;
        }
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::Expired,
            expiration_subtype(intent),
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// Runs a subscription's due step (scheduler).
    pub async fn step(&mut self, original_transaction_id: &str, due: i64) -> EvResult<bool> {
        let mut ctx = self.sub_ctx(original_transaction_id).await?;
        if ctx.sub.next_event_ms != Some(due) {
            return Ok(false); // someone else handled it
        }
        match ctx.st.next_event {
            Some(NextEvent::Renew) => self.step_renew(&mut ctx, due).await?,
            Some(NextEvent::GraceEnd) => self.step_grace_end(&mut ctx, due).await?,
            Some(NextEvent::RetryEnd) => self.expire(&mut ctx, 2, due).await?,
            None => {
                ctx.sub.next_event_ms = None;
                self.save_ctx(&mut ctx, due).await?;
            }
        }
        Ok(true)
    }

    /// Ends the current period now (the `--now` shortcuts and `renew`): the latest transaction's
    /// `expiresDate` becomes `at` when it is later, so the next period starts where this one
    /// ends (a renewal's `purchaseDate` is the previous `expiresDate`) and nothing that ended
    /// is still dated in the future.
    async fn end_period_now(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        if ctx.sub.expires_ms <= at {
            return Ok(());
        }
        let mut latest = self.latest(ctx).await?;
        if let Value::Object(m) = &mut latest.payload {
            m.insert("expiresDate".into(), json!(at));
        }
        latest.expires_ms = Some(at);
        self.update_txn(&mut latest, at).await?;
        ctx.sub.expires_ms = at;
        Ok(())
    }

    /// `renew`: the period ends now and renews (the emulator's shortcut for the clock reaching
    /// the renewal date): the new period starts at the previous one's `expiresDate`.
    pub async fn renew_now(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        match ctx.sub.status {
            1 => {
                if !ctx.st.auto_renew_status {
                    return Err(EventError::conflict(
                        "auto-renew is off; turn it on (auto-renew --enabled) before renewing",
                    ));
                }
                self.end_period_now(ctx, at).await?;
                self.renew(ctx, at, false).await
            }
            3 | 4 => self.renew(ctx, at, true).await,
            s => Err(EventError::conflict(format!(
                "the subscription is {} (status {s}); a new purchase resubscribes",
                status_name(s)
            ))),
        }
    }

    /// `fail-renewal`: the next renewal attempt fails (now, with `now`).
    pub async fn fail_renewal(
        &mut self,
        ctx: &mut SubCtx,
        grace: Option<bool>,
        now: bool,
        at: i64,
    ) -> EvResult<()> {
        if ctx.sub.status != 1 {
            return Err(EventError::conflict(format!(
                "the subscription is {} (status {}); only an active subscription can fail to renew",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        let f = PendingFailure { grace };
        if now {
            self.end_period_now(ctx, at).await?;
            return self.fail(ctx, f, at).await;
        }
        ctx.st.pending_failure = Some(f);
        self.save_ctx(ctx, at).await?;
        Ok(())
    }

    /// `recover`: the customer fixes billing during retry (DID_RENEW/BILLING_RECOVERY).
    pub async fn recover(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        if !matches!(ctx.sub.status, 3 | 4) {
            return Err(EventError::conflict(format!(
                "the subscription is {} (status {}); recovery needs billing retry (3) or grace period (4)",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        self.renew(ctx, at, true).await
    }

    /// `expire`: at the end of the period (or now) the subscription expires for `intent`.
    pub async fn expire_event(
        &mut self,
        ctx: &mut SubCtx,
        intent: i64,
        now: bool,
        at: i64,
    ) -> EvResult<()> {
        if !matches!(ctx.sub.status, 1 | 3 | 4) {
            return Err(EventError::conflict(format!(
                "the subscription is already {} (status {})",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        if now {
            self.end_period_now(ctx, at).await?;
            return self.expire(ctx, intent, at).await;
        }
        ctx.st.pending_expire = Some(intent);
        // A voluntary expiry is the customer turning auto-renew off: DID_CHANGE_RENEWAL_STATUS/
        // AUTO_RENEW_DISABLED now, EXPIRED/VOLUNTARY at the end of the period (§7).
        if intent == 1 && ctx.st.auto_renew_status {
            return self.set_auto_renew(ctx, false, at).await;
        }
        self.save_ctx(ctx, at).await?;
        Ok(())
    }

    /// `upgrade` / `downgrade` / `crossgrade` (DID_CHANGE_RENEWAL_PREF/UPGRADE|DOWNGRADE|none).
    pub async fn change_product(
        &mut self,
        ctx: &mut SubCtx,
        to: &str,
        kind: &str,
        at: i64,
    ) -> EvResult<()> {
        if ctx.sub.status != 1 {
            return Err(EventError::conflict(format!(
                "the subscription is {} (status {}); plan changes need an active subscription",
                status_name(ctx.sub.status),
                ctx.sub.status
            )));
        }
        let target = self.product(&ctx.app, to).await?;
        if target.group_id.as_deref() != Some(ctx.sub.group_id.as_str()) {
            return Err(EventError::bad(format!(
                "{to} is not in subscription group {}",
                ctx.sub.group_id
            )));
        }
        let current = self.product(&ctx.app, &ctx.sub.product_id.clone()).await?;
        if target.product_id == current.product_id {
            // Back to the current product: cancels a pending downgrade (subtype none).
            if ctx.st.auto_renew_product_id == current.product_id {
                return Err(EventError::conflict(format!(
                    "already subscribed to {to} with no pending change"
                )));
            }
            ctx.st.auto_renew_product_id = current.product_id.clone();
            self.save_ctx(ctx, at).await?;
            let latest = self.latest(ctx).await?;
            self.emit_sub(
                ctx,
                NotificationTypeV2::DidChangeRenewalPref,
                None,
                at,
                &latest,
                None,
            )
            .await?;
            return Ok(());
        }
        let immediate = match kind {
            "upgrade" => {
                if let (Some(a), Some(b)) = (target.group_level, current.group_level)
                    && a >= b
                {
                    return Err(EventError::bad(format!(
                        "{to} (level {a}) is not a higher level of service than {} (level {b}); level 1 is the highest",
                        current.product_id
                    )));
                }
                true
            }
            "downgrade" => {
                if let (Some(a), Some(b)) = (target.group_level, current.group_level)
                    && a <= b
                {
                    return Err(EventError::bad(format!(
                        "{to} (level {a}) is not a lower level of service than {} (level {b})",
                        current.product_id
                    )));
                }
                false
            }
            // Crossgrade: same duration → immediate like an upgrade, else at the next renewal.
            _ => target.period == current.period,
        };
        if !immediate {
            ctx.st.auto_renew_product_id = target.product_id.clone();
            self.save_ctx(ctx, at).await?;
            let latest = self.latest(ctx).await?;
            self.emit_sub(
                ctx,
                NotificationTypeV2::DidChangeRenewalPref,
                Some(Subtype::Downgrade),
                at,
                &latest,
                None,
            )
            .await?;
            return Ok(());
        }
        let sf = catalog::storefront(&ctx.sub.storefront).expect("known storefront");
        let list = catalog::price(&mut self.tx, &target, sf, at).await?;
        let txn = self.switch_now(ctx, &target, None, list, at).await?;
        self.emit_sub(
            ctx,
            NotificationTypeV2::DidChangeRenewalPref,
            Some(Subtype::Upgrade),
            at,
            &txn,
            None,
        )
        .await?;
        Ok(())
    }

    /// An immediate plan change (an upgrade, or a crossgrade to the same duration): the current
    /// transaction is marked `isUpgraded`, a new transaction for `target` starts a new period now
    /// (at the offer's price and, for FREE_TRIAL / PAY_UP_FRONT, for the offer's duration).
    /// `list` is the target's list price and currency. Saves the subscription; emits nothing.
    async fn switch_now(
        &mut self,
        ctx: &mut SubCtx,
        target: &Product,
        offer: Option<&Offer>,
        list: (i64, String),
        at: i64,
    ) -> EvResult<TransactionRow> {
        let mut old = self.latest(ctx).await?;
        if let Value::Object(m) = &mut old.payload {
            m.insert("isUpgraded".into(), Value::Bool(true));
        }
        self.update_txn(&mut old, at).await?;
        let sf = catalog::storefront(&ctx.sub.storefront).expect("known storefront");
        let (list_price, currency) = list;
        let price = offer.map_or(list_price, |o| o.price);
        let period = target.period.unwrap_or(Period::OneMonth);
        let sandbox = ctx.env.is_sandbox();
        let expires = match offer.and_then(Offer::fixed_duration) {
            Some(d) => d.add(at, sandbox),
            None => period.add(at, sandbox),
        };
        let orig_ms = old
            .payload
            .get("originalPurchaseDate")
            .and_then(Value::as_i64)
            .unwrap_or(old.purchase_ms);
        let family = ctx.sub.ownership == "FAMILY_SHARED";
        let txn = self
            .insert_txn(
                &ctx.app,
                ctx.env,
                NewTxn {
                    customer: &ctx.customer,
                    product: target,
                    original: Some((ctx.sub.original_transaction_id.clone(), orig_ms)),
                    purchase_ms: at,
                    expires_ms: Some(expires),
                    price: (!family).then(|| (price, currency.clone())),
                    quantity: 1,
                    reason: TransactionReason::Purchase,
                    offer,
                    ownership: InAppOwnershipType::from_wire(&ctx.sub.ownership),
                    storefront: sf,
                },
            )
            .await?;
        ctx.sub.product_id = target.product_id.clone();
        ctx.sub.latest_transaction_id = txn.transaction_id.clone();
        ctx.sub.expires_ms = expires;
        ctx.st.auto_renew_product_id = target.product_id.clone();
        ctx.st.period = period.asc().into();
        ctx.st.renewal_price = list_price;
        ctx.st.currency = currency;
        // The offer's first period is this one; PAY_AS_YOU_GO bills the rest at renewals.
        ctx.st.offer = offer.cloned().map(|mut o| {
            o.periods_left = if o.discount_type == "PAY_AS_YOU_GO" {
                (o.periods_left - 1).max(0)
            } else {
                0
            };
            o
        });
        ctx.st.next_event = Some(NextEvent::Renew);
        if price > 0 {
            ctx.st.paid_periods += 1;
        }
        self.save_ctx(ctx, at).await?;
        Ok(txn)
    }

    /// `auto-renew` on/off (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_ENABLED|AUTO_RENEW_DISABLED).
    pub async fn set_auto_renew(
        &mut self,
        ctx: &mut SubCtx,
        enabled: bool,
        at: i64,
    ) -> EvResult<()> {
        if ctx.st.auto_renew_status == enabled {
            return Err(EventError::conflict(format!(
                "auto-renew is already {}",
                if enabled { "on" } else { "off" }
            )));
        }
        if enabled && !matches!(ctx.sub.status, 1 | 3 | 4) {
            return Err(EventError::conflict(
                "the subscription has expired; a new purchase resubscribes",
            ));
        }
        ctx.st.auto_renew_status = enabled;
        if enabled && ctx.st.pending_expire == Some(1) {
            ctx.st.pending_expire = None;
        }
        if enabled && ctx.st.expiration_intent == Some(1) {
            ctx.st.expiration_intent = None;
        }
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        let subtype = if enabled {
            Subtype::AutoRenewEnabled
        } else {
            Subtype::AutoRenewDisabled
        };
        self.emit_sub(
            ctx,
            NotificationTypeV2::DidChangeRenewalStatus,
            Some(subtype),
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    /// `price-increase` (PRICE_INCREASE/PENDING|ACCEPTED).
    pub async fn price_increase(
        &mut self,
        ctx: &mut SubCtx,
        price: Option<i64>,
        consent: bool,
        requires_consent: bool,
        at: i64,
    ) -> EvResult<()> {
        if !matches!(ctx.sub.status, 1 | 3 | 4) {
            return Err(EventError::conflict("the subscription has expired"));
        }
        let price = match (price, &ctx.st.price_increase) {
            (Some(p), _) => p,
            (None, Some(pi)) => pi.price,
            (None, None) => ctx.st.renewal_price + ctx.st.renewal_price / 5,
        };
        // Consent given, or an increase that needs no consent: the customer is notified and
        // the new price applies at the next renewal (ACCEPTED); else PENDING.
        let status = i64::from(consent || !requires_consent);
        ctx.st.price_increase = Some(PriceIncrease {
            price,
            requires_consent,
            status,
        });
        self.save_ctx(ctx, at).await?;
        let latest = self.latest(ctx).await?;
        let subtype = if status == 1 {
            Subtype::Accepted
        } else {
            Subtype::Pending
        };
        self.emit_sub(
            ctx,
            NotificationTypeV2::PriceIncrease,
            Some(subtype),
            at,
            &latest,
            None,
        )
        .await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Refunds, revocation, consumption requests
    // -----------------------------------------------------------------------------------------

    async fn notify_txn(
        &mut self,
        txn: &TransactionRow,
        ty: NotificationTypeV2,
        subtype: Option<Subtype>,
        reason: Option<ConsumptionRequestReason>,
        at: i64,
    ) -> EvResult<()> {
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
        {
            let ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            self.emit_sub(&ctx, ty, subtype, at, txn, reason).await?;
        } else {
            let app = self.app_by_id(&txn.app_id).await?;
            let customer = self.customer(txn.customer_id).await?;
            self.emit(
                &app,
                Env::from_db(&txn.environment),
                ty,
                subtype,
                at,
                Content::Data {
                    customer: &customer,
                    txn,
                    sub: None,
                    reason,
                },
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// `refund` (REFUND): revocationDate/Reason/Type/Percentage; a refunded subscription period
    /// revokes the subscription (status 5).
    pub async fn refund(
        &mut self,
        id: &str,
        reason: i64,
        percentage: Option<i64>,
        at: i64,
    ) -> EvResult<TransactionRow> {
        let mut txn = self.transaction(id).await?;
        if txn.revoked {
            return Err(EventError::conflict(format!(
                "transaction {id} is already revoked"
            )));
        }
        if txn.ownership == "FAMILY_SHARED" {
            return Err(EventError::bad(
                "family-shared transactions aren't refunded (the purchaser's is); use revoke",
            ));
        }
        let pct = percentage.unwrap_or(100_000);
        if !(1..=100_000).contains(&pct) {
            return Err(EventError::bad("percentage is in milliunits, 1..=100000"));
        }
        let rtype = if pct == 100_000 {
            RevocationType::RefundFull
        } else {
            RevocationType::RefundProrated
        };
        if let Value::Object(m) = &mut txn.payload {
            m.insert(
                "revocationReason".into(),
                json!(RevocationReason::from_wire(reason)),
            );
            m.insert("revocationDate".into(), json!(at));
            m.insert("revocationType".into(), json!(rtype));
            m.insert("revocationPercentage".into(), json!(pct));
        }
        txn.revoked = true;
        txn.revoked_ms = Some(at);
        txn.refund_seq = Some(self.tx.ledger_next("refund_seq", 1).await?);
        self.update_txn(&mut txn, at).await?;
        self.revoke_subscription_of(&txn, at).await?;
        self.notify_txn(&txn, NotificationTypeV2::Refund, None, None, at)
            .await?;
        Ok(txn)
    }

    async fn revoke_subscription_of(&mut self, txn: &TransactionRow, at: i64) -> EvResult<()> {
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
            && sub.latest_transaction_id == txn.transaction_id
            && matches!(sub.status, 1 | 3 | 4)
        {
            let mut ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            ctx.sub.status = 5;
            ctx.st.next_event = None;
            ctx.st.in_billing_retry = false;
            self.save_ctx(&mut ctx, at).await?;
        }
        Ok(())
    }

    /// `refund-declined` (REFUND_DECLINED): nothing changes.
    pub async fn refund_declined(&mut self, id: &str, at: i64) -> EvResult<TransactionRow> {
        let txn = self.transaction(id).await?;
        self.notify_txn(&txn, NotificationTypeV2::RefundDeclined, None, None, at)
            .await?;
        Ok(txn)
    }

    /// `refund-reversed` (REFUND_REVERSED): the revocation is undone.
    pub async fn refund_reversed(&mut self, id: &str, at: i64) -> EvResult<TransactionRow> {
        let mut txn = self.transaction(id).await?;
        if !txn.revoked || txn.refund_seq.is_none() {
            return Err(EventError::conflict(format!(
                "transaction {id} is not refunded"
            )));
        }
        if let Value::Object(m) = &mut txn.payload {
            for k in [
                "revocationReason",
                "revocationDate",
                "revocationType",
                "revocationPercentage",
            ] {
                m.remove(k);
            }
        }
        txn.revoked = false;
        txn.revoked_ms = None;
        txn.refund_seq = None;
        self.update_txn(&mut txn, at).await?;
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
            && sub.latest_transaction_id == txn.transaction_id
            && sub.status == 5
        {
            let mut ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            // The renewal date is unchanged (§7): active again if the period hasn't ended.
            if ctx.sub.expires_ms > at {
                ctx.sub.status = 1;
                ctx.st.next_event = Some(NextEvent::Renew);
            } else {
                ctx.sub.status = 2;
                ctx.st.expiration_intent.get_or_insert(5);
            }
            self.save_ctx(&mut ctx, at).await?;
        }
        self.notify_txn(&txn, NotificationTypeV2::RefundReversed, None, None, at)
            .await?;
        Ok(txn)
    }

    /// `revoke` (REVOKE): a family member loses access to a family-shared purchase.
    pub async fn revoke(&mut self, id: &str, at: i64) -> EvResult<TransactionRow> {
        let mut txn = self.transaction(id).await?;
        if txn.ownership != "FAMILY_SHARED" {
            return Err(EventError::bad(format!(
                "transaction {id} is not family-shared (purchase with familyShared: true for a family member)"
            )));
        }
        if txn.revoked {
            return Err(EventError::conflict(format!(
                "transaction {id} is already revoked"
            )));
        }
        if let Value::Object(m) = &mut txn.payload {
            m.insert("revocationReason".into(), json!(0));
            m.insert("revocationDate".into(), json!(at));
            m.insert("revocationType".into(), json!(RevocationType::FamilyRevoke));
        }
        txn.revoked = true;
        txn.revoked_ms = Some(at);
        self.update_txn(&mut txn, at).await?;
        self.revoke_subscription_of(&txn, at).await?;
        self.notify_txn(&txn, NotificationTypeV2::Revoke, None, None, at)
            .await?;
        Ok(txn)
    }

    /// `consumption-request` (CONSUMPTION_REQUEST with consumptionRequestReason): the customer
    /// asked for a refund in the app. For a subscription the system also turns auto-renew off
    /// (DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED, §7).
    pub async fn consumption_request(
        &mut self,
        id: &str,
        reason: ConsumptionRequestReason,
        at: i64,
    ) -> EvResult<TransactionRow> {
        let txn = self.transaction(id).await?;
        if txn.revoked {
            return Err(EventError::conflict(format!("transaction {id} is revoked")));
        }
        self.tx
            .ledger_put_record(
                "consumption_request",
                &txn.transaction_id,
                &json!({ "at": at, "reason": reason }),
                at,
            )
            .await?;
        self.notify_txn(
            &txn,
            NotificationTypeV2::ConsumptionRequest,
            None,
            Some(reason),
            at,
        )
        .await?;
        if let Some(sub) = self
            .tx
            .ledger_subscription(&txn.original_transaction_id)
            .await?
        {
            let mut ctx = self.sub_ctx(&sub.original_transaction_id).await?;
            if ctx.st.auto_renew_status && matches!(ctx.sub.status, 1 | 3 | 4) {
                self.set_auto_renew(&mut ctx, false, at).await?;
            }
        }
        Ok(txn)
    }

    // -----------------------------------------------------------------------------------------
    // Renewal-date extensions
    // -----------------------------------------------------------------------------------------

    /// Extends one subscription's renewal date (RENEWAL_EXTENDED). Apple's rules
    /// (extending-the-renewal-date-for-auto-renewable-subscriptions): up to 90 days, at most
    /// twice per 365 days, active subscriptions with at least one paid period, not in a free
    /// offer period, not family-shared.
    pub async fn extend(
        &mut self,
        ctx: &mut SubCtx,
        days: i64,
        at: i64,
        notify: bool,
    ) -> EvResult<(TransactionRow, i64)> {
        if ctx.sub.ownership == "FAMILY_SHARED" {
            return Err(EventError::api(
                ApiError::FamilySharedSubscriptionExtensionIneligible,
                "family-shared subscriptions are extended with the purchaser's",
            ));
        }
        if ctx.sub.status != 1 || ctx.sub.expires_ms <= at {
            return Err(EventError::api(
                ApiError::SubscriptionExtensionIneligible,
                format!(
                    "the subscription is {} (status {})",
                    status_name(ctx.sub.status),
                    ctx.sub.status
                ),
            ));
        }
        let mut latest = self.latest(ctx).await?;
        let free = latest
            .payload
            .get("offerDiscountType")
            .and_then(Value::as_str)
            == Some("FREE_TRIAL");
        if free || ctx.st.paid_periods == 0 {
            return Err(EventError::api(
                ApiError::SubscriptionExtensionIneligible,
                "the subscription is in a free offer period or has no paid period yet",
            ));
        }
        let year_ago = at - 365 * DAY_MS;
        if ctx.st.extensions.iter().filter(|t| **t > year_ago).count() >= 2 {
            return Err(EventError::api(
                ApiError::SubscriptionMaxExtension,
                "the subscription was already extended twice in the last 365 days",
            ));
        }
        let delta = catalog::days_ms(days, ctx.env.is_sandbox());
        let new_expires = ctx.sub.expires_ms + delta;
        if let Value::Object(m) = &mut latest.payload {
            m.insert("expiresDate".into(), json!(new_expires));
        }
        latest.expires_ms = Some(new_expires);
        self.update_txn(&mut latest, at).await?;
        ctx.sub.expires_ms = new_expires;
        ctx.st.extensions.push(at);
        ctx.st.next_event = Some(NextEvent::Renew);
        self.save_ctx(ctx, at).await?;
        if notify {
            self.emit_sub(
                ctx,
                NotificationTypeV2::RenewalExtended,
                None,
                at,
                &latest,
                None,
            )
            .await?;
        }
        Ok((latest, new_expires))
    }

    /// Runs a mass extension: RENEWAL_EXTENDED per success, RENEWAL_EXTENSION/FAILURE per
    /// failure, RENEWAL_EXTENSION/SUMMARY at the end.
    pub async fn run_mass_extension(
        &mut self,
        m: &mut MassExtensionRow,
        subs: &[SubscriptionRow],
        at: i64,
    ) -> EvResult<()> {
        let days = m
            .request
            .get("extendByDays")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let storefronts: Option<Vec<String>> = m
            .request
            .get("storefrontCountryCodes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
        let (mut ok, mut failed) = (0, 0);
        for s in subs {
            if s.status != 1 && s.status != 4 && s.status != 3 {
                continue;
            }
            if let Some(sf) = &storefronts
                && !sf.contains(&s.storefront)
            {
                continue;
            }
            let mut ctx = self.sub_ctx(&s.original_transaction_id).await?;
            match self.extend(&mut ctx, days, at, true).await {
                Ok(_) => ok += 1,
                Err(e) if e.api.is_some() && e.status < 500 => {
                    failed += 1;
                    let latest = self.latest(&ctx).await?;
                    self.emit_sub(
                        &ctx,
                        NotificationTypeV2::RenewalExtension,
                        Some(Subtype::Failure),
                        at,
                        &latest,
                        None,
                    )
                    .await?;
                }
                Err(e) => return Err(e),
            }
        }
        let app = self.app_by_id(&m.app_id).await?;
        let env = Env::from_db(&m.environment);
        let summary = Summary {
            request_identifier: Some(m.request_identifier.clone()),
            environment: Some(env.wire()),
            app_apple_id: app_apple_id(&app),
            bundle_id: Some(app.bundle_id.clone()),
            product_id: Some(m.product_id.clone()),
            storefront_country_codes: storefronts,
            failed_count: Some(failed),
            succeeded_count: Some(ok),
        };
        self.emit(
            &app,
            env,
            NotificationTypeV2::RenewalExtension,
            Some(Subtype::Summary),
            at,
            Content::Summary(summary),
            None,
        )
        .await?;
        m.succeeded = ok;
        m.failed = failed;
        m.complete_ms = Some(at);
        m.due_ms = None;
        self.tx.ledger_put_mass_extension(m).await?;
        Ok(())
    }
}

/// A loaded subscription with everything an event needs.
pub struct SubCtx {
    pub app: AppRow,
    pub env: Env,
    pub customer: CustomerRow,
    pub sub: SubscriptionRow,
    pub st: SubState,
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

pub fn status_name(s: i64) -> &'static str {
    match s {
        1 => "active",
        2 => "expired",
        3 => "in billing retry",
        4 => "in the billing grace period",
        5 => "revoked",
        _ => "unknown",
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

/// What an event did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub customer: Option<CustomerRow>,
    pub transaction: Option<TransactionRow>,
    pub subscription: Option<SubscriptionRow>,
    pub extra: serde_json::Map<String, Value>,
}

impl OfferType {
    /// `introductory | promotional | offer-code | win-back` or `1..4`.
    pub fn parse_name(s: &str) -> Option<OfferType> {
        Some(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "1" | "introductory" | "intro" => OfferType::IntroductoryOffer,
            "2" | "promotional" | "promo" => OfferType::PromotionalOffer,
            "3" | "offer-code" | "code" => OfferType::OfferCode,
            "4" | "win-back" | "winback" => OfferType::WinBackOffer,
            _ => return None,
        })
    }
}

impl OfferDiscountType {
    pub fn parse_name(s: &str) -> Option<OfferDiscountType> {
        let d = OfferDiscountType::from_wire(&s.to_ascii_uppercase().replace('-', "_"));
        d.is_known().then_some(d)
    }
}
