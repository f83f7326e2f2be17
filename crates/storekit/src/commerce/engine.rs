//! The commerce engine's core: one event's SQL transaction ([`Ev`]) and what every event
//! uses — apps, customers and their app transactions, products, new and updated transactions,
//! subscription state, and the outbox (each notification Apple sends, apple-semantics.md §7, is
//! appended in the same SQL transaction) — plus the scheduler's step. The events themselves
//! (a purchase, a renewal, a refund, …) are in [`super::event`], one file each.
//! Customer-initiated events happen "now"; the clock-driven ones (renewals, billing retry,
//! grace period, expiry) happen at their due time when the scheduler reaches it.

use crate::ledger::LedgerTx;
use anyhow::{Context, Result, anyhow};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::ledger::{AppRow, CustomerRow, Doc, NotificationRow, SubscriptionRow, TransactionRow};
use crabapple_store::Tx;

use super::catalog::{self, Product, ProductKind, Storefront};
use super::state::{NextEvent, Offer, SubState, renewal_info};
use super::{Commerce, Env};
use crate::models::{
    ApiError, AppTransaction, ConsumptionRequestReason, InAppOwnershipType,
    JWSTransactionDecodedPayload, NotificationData, NotificationTypeV2, OfferDiscountType,
    OfferType, PurchasePlatform, ResponseBodyV2DecodedPayload, Status, Subtype, Summary,
    TransactionReason,
};

/// Why an event or API call could not be applied.
#[derive(Debug, Clone)]
pub struct EventError {
    /// HTTP status for the admin API (400, 404, 409, 500).
    pub status: u16,
    pub message: String,
    /// The App Store Server API error, when the same rule backs an API endpoint.
    pub api: Option<ApiError>,
    /// The store refused to write (a full disk, an I/O error; issue 8): nothing was applied and
    /// the same event may succeed later, so the scheduler retries it instead of giving up on it.
    pub storage_fault: bool,
}

impl EventError {
    pub fn bad(msg: impl Into<String>) -> EventError {
        EventError {
            status: 400,
            message: msg.into(),
            api: None,
            storage_fault: false,
        }
    }
    pub fn not_found(msg: impl Into<String>) -> EventError {
        EventError {
            status: 404,
            message: msg.into(),
            api: Some(ApiError::TransactionIdNotFound),
            storage_fault: false,
        }
    }
    pub fn conflict(msg: impl Into<String>) -> EventError {
        EventError {
            status: 409,
            message: msg.into(),
            api: None,
            storage_fault: false,
        }
    }
    pub fn api(e: ApiError, msg: impl Into<String>) -> EventError {
        EventError {
            status: e.http_status(),
            message: msg.into(),
            api: Some(e),
            storage_fault: false,
        }
    }
}

impl From<anyhow::Error> for EventError {
    fn from(e: anyhow::Error) -> EventError {
        EventError {
            status: 500,
            // A storage fault in plain words ("storage full: …") or the chain of causes.
            message: crabapple_store::error_reason(&e),
            api: Some(ApiError::GeneralInternal),
            storage_fault: crabapple_store::StorageFault::of(&e).is_some(),
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
    /// Apps and products already read in this transaction (see [`super::batch::Seen`]).
    pub(crate) seen: super::batch::Seen,
    /// Store notifications decoded only and sign each when it is first sent or read
    /// ([`super::Commerce::signed_payload`]): a batch of many events (the simulator).
    pub lazy_signing: bool,
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

/// An outbox row's decoded content (`NotificationRow::decoded`), in its stored key order:
/// `{"transactionInfo"?, "renewalInfo"?, "payload"}`, the documents with `signedDate = at`.
fn decoded_text(
    txn: Option<&Doc>,
    renewal: Option<&Doc>,
    payload: &ResponseBodyV2DecodedPayload,
    at: i64,
) -> Result<String> {
    let mut out = String::from("{");
    for (key, doc) in [("transactionInfo", txn), ("renewalInfo", renewal)] {
        if let Some(d) = doc {
            out.push_str(&format!("\"{key}\":{},", d.signed_at(at)));
        }
    }
    out.push_str("\"payload\":");
    out.push_str(&serde_json::to_string(payload)?);
    out.push('}');
    Ok(out)
}

/// The JWS of a notification from its decoded content (an outbox row's `decoded`): the
/// transaction and renewal info signed into the payload's `data`, then the payload signed.
pub fn sign_decoded(pki: &crate::pki::Pki, decoded: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Parts {
        payload: ResponseBodyV2DecodedPayload,
        #[serde(rename = "transactionInfo")]
        transaction_info: Option<Value>,
        #[serde(rename = "renewalInfo")]
        renewal_info: Option<Value>,
    }
    let Parts {
        mut payload,
        transaction_info,
        renewal_info,
    } = serde_json::from_str(decoded).context("a notification's decoded payload")?;
    if let Some(d) = payload.data.as_mut() {
        d.signed_transaction_info = transaction_info.as_ref().map(|t| pki.sign(t));
        d.signed_renewal_info = renewal_info.as_ref().map(|r| pki.sign(r));
    }
    Ok(pki.sign_payload(&payload))
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

impl<'c> Ev<'c> {
    pub async fn begin(c: &'c Commerce) -> Result<Ev<'c>> {
        Ok(Ev {
            c,
            tx: c.store.begin().await?,
            emitted: Vec::new(),
            seen: Default::default(),
            lazy_signing: false,
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
        if let Some(a) = self.seen.apps.get(bundle_id) {
            return Ok(a.clone());
        }
        let app = self
            .tx
            .ledger_app_by_bundle(bundle_id)
            .await?
            .ok_or_else(|| EventError {
                status: 404,
                message: format!("no app with bundle id {bundle_id}"),
                api: Some(ApiError::AppNotFound),
                storage_fault: false,
            })?;
        self.seen.apps.insert(bundle_id.to_string(), app.clone());
        Ok(app)
    }

    pub async fn app_by_id(&mut self, app_id: &str) -> EvResult<AppRow> {
        if let Some(a) = self.seen.apps.values().find(|a| a.id == app_id) {
            return Ok(a.clone());
        }
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
        let app = AppRow {
            id: r.id,
            bundle_id,
            attributes: r.attributes.into(),
        };
        self.seen.apps.insert(app.bundle_id.clone(), app.clone());
        Ok(app)
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
            app_transaction: Doc::of(&at_payload).context("app transaction")?,
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

    /// `product_id` among `app`'s products ([`catalog::resolve_product`]), read once per batch.
    pub(crate) async fn find_product(
        &mut self,
        app: &AppRow,
        product_id: &str,
    ) -> Result<Option<Product>> {
        let key = (app.id.clone(), product_id.to_string());
        if let Some(p) = self.seen.products.get(&key) {
            return Ok(Some(p.clone()));
        }
        let p = catalog::resolve_product(&mut self.tx, app, product_id).await?;
        if let Some(p) = &p {
            self.seen.products.insert(key, p.clone());
        }
        Ok(p)
    }

    pub(crate) async fn product(&mut self, app: &AppRow, product_id: &str) -> EvResult<Product> {
        self.find_product(app, product_id).await?.ok_or_else(|| EventError {
            status: 404,
            message: format!(
                "no in-app purchase or subscription with productId '{product_id}' for app {} ({}); create it through the App Store Connect API (POST /v2/inAppPurchases, POST /v1/subscriptions)",
                app.id, app.bundle_id
            ),
            api: Some(ApiError::InvalidProductId),
            storage_fault: false,
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
            payload: Doc::of(&payload)?,
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
        sub.state = st.to_doc();
        sub.renewal = Doc::of(&renewal_info(sub, st, customer))?;
        sub.updated_ms = at;
        self.tx.ledger_put_subscription(sub).await
    }

    /// Appends a notification to the outbox, with `signedDate = at`: signed now, or when first
    /// sent or read if this batch signs lazily ([`Ev::lazy_signing`]).
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
        let mut renewal = None;
        let mut txn_payload = None;
        match content {
            Content::Data {
                customer,
                txn,
                sub,
                reason,
            } => {
                customer_id = Some(customer.id);
                transaction_id = Some(txn.transaction_id.clone());
                txn_payload = Some(&txn.payload);
                let status = match sub {
                    Some((s, st)) => {
                        renewal = Some(Doc::of(&renewal_info(s, st, customer))?);
                        Some(Status::from_wire(s.status))
                    }
                    None => None,
                };
                payload.data = Some(NotificationData {
                    app_apple_id: production_id,
                    bundle_id: Some(app.bundle_id.clone()),
                    bundle_version: Some("1".into()),
                    environment: Some(env.wire()),
                    signed_transaction_info: None,
                    signed_renewal_info: None,
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
        let decoded = decoded_text(txn_payload, renewal.as_ref(), &payload, at)?;
        let signed = if self.lazy_signing {
            String::new()
        } else {
            sign_decoded(self.c.pki(), &decoded)?
        };
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
            decoded: Some(decoded),
            url: if deliverable { url } else { None },
            test_token,
            state: state.into(),
            attempts: json!([]),
            next_attempt_ms: deliverable.then_some(at),
        };
        self.tx.ledger_insert_notification(row).await?;
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

    pub(crate) async fn emit_sub(
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
    // Subscriptions (the scheduler's step; each event's own rules are in `super::event`)
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
        let st = SubState::from_doc(&sub.state);
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

    pub(crate) async fn save_ctx(&mut self, ctx: &mut SubCtx, at: i64) -> Result<()> {
        let SubCtx {
            sub, st, customer, ..
        } = ctx;
        self.save_sub(sub, st, customer, at).await
    }

    pub(crate) async fn latest(&mut self, ctx: &SubCtx) -> EvResult<TransactionRow> {
        self.transaction(&ctx.sub.latest_transaction_id).await
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
    pub(crate) async fn end_period_now(&mut self, ctx: &mut SubCtx, at: i64) -> EvResult<()> {
        if ctx.sub.expires_ms <= at {
            return Ok(());
        }
        let mut latest = self.latest(ctx).await?;
        latest.payload.edit(|m| {
            m.insert("expiresDate".into(), json!(at));
        });
        latest.expires_ms = Some(at);
        self.update_txn(&mut latest, at).await?;
        ctx.sub.expires_ms = at;
        Ok(())
    }

    /// Emits `ty`/`subtype` about one transaction: with the renewal info and status of its
    /// subscription when it belongs to one, plain otherwise.
    pub(crate) async fn notify_txn(
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

    /// What a subscription event left behind (reloaded): the subscription, its latest
    /// transaction and its customer.
    pub(crate) async fn sub_outcome(&mut self, original_transaction_id: &str) -> EvResult<Outcome> {
        let ctx = self.sub_ctx(original_transaction_id).await?;
        Ok(Outcome {
            transaction: Some(self.transaction(&ctx.sub.latest_transaction_id).await?),
            customer: Some(ctx.customer),
            subscription: Some(ctx.sub),
            ..Default::default()
        })
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
