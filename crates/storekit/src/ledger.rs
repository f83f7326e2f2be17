//! The commerce ledger: customers, transactions, subscription renewal state, the notification
//! outbox and the records behind the App Store Server API. This module only persists: the
//! storekit room decides what a purchase or a renewal means and builds Apple's payloads; the
//! ledger stores them as JSON next to the columns that queries filter, sort and page on.
//!
//! Everything an event changes (transactions, renewal state, outbox rows) is written through one
//! [`Tx`], so a notification exists exactly when the event that caused it was committed.
//!
//! The ledger is the commerce family's persistence on the store's generic pools and
//! transactions: [`LedgerStore`] reads on a [`Store`], [`LedgerTx`] writes in a [`Tx`], whose
//! in-transaction memory (counters, the outbox, a batch's rows) is a [`crabapple_store::TxState`]
//! of the transaction ([`pending`]). SQL that differs between the engines goes through the store's
//! [`Dialect`].

mod doc;
mod due;
mod overlay;
mod pending;
mod q;
mod read;
mod reports;
mod tx;

pub use doc::Doc;
pub use read::{AttemptRecord, LedgerStore};
pub use reports::{LedgerReports, StatusNotification};
pub use tx::LedgerTx;

use anyhow::{Context, Result};
use crabapple_store::{Db, DbRow, Dialect, QueryBuilder, Store, Tx};
use serde_json::Value;
use sqlx::{Executor, Row};

/// An app of the team, found by bundle id.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    /// The `apps` resource id (Apple's numeric app Apple ID).
    pub id: String,
    pub bundle_id: String,
    /// Shared, not copied: every event of a batch reads the app (a simulated day clones it
    /// tens of thousands of times).
    pub attributes: std::sync::Arc<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub id: i64,
    pub app_id: String,
    pub bundle_id: String,
    pub environment: String,
    pub label: String,
    pub app_account_token: Option<String>,
    pub storefront: String,
    pub app_transaction_id: String,
    /// Decoded app transaction (without `signedDate`).
    pub app_transaction: Doc,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRow {
    pub transaction_id: String,
    pub original_transaction_id: String,
    pub customer_id: i64,
    pub app_id: String,
    pub bundle_id: String,
    pub environment: String,
    pub product_id: String,
    /// `AUTO_RENEWABLE | NON_RENEWABLE | CONSUMABLE | NON_CONSUMABLE` (Apple's `productType`).
    pub product_type: String,
    pub group_id: Option<String>,
    pub order_id: String,
    pub web_order_line_item_id: Option<String>,
    pub ownership: String,
    pub purchase_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
    pub revoked_ms: Option<i64>,
    pub finished: bool,
    /// Modification sequence (set by the ledger on every write): history sorts and pages on it.
    pub mod_seq: i64,
    /// Set when the transaction is refunded: refund history pages on it.
    pub refund_seq: Option<i64>,
    pub modified_ms: i64,
    /// Decoded transaction (without `signedDate`).
    pub payload: Doc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub original_transaction_id: String,
    pub customer_id: i64,
    pub app_id: String,
    pub bundle_id: String,
    pub environment: String,
    pub group_id: String,
    pub product_id: String,
    /// Apple's subscription `status` 1–5.
    pub status: i64,
    pub expires_ms: i64,
    pub latest_transaction_id: String,
    pub ownership: String,
    pub storefront: String,
    /// When the scheduler has something to do for this subscription.
    pub next_event_ms: Option<i64>,
    /// Decoded renewal info (without `signedDate`).
    pub renewal: Doc,
    /// The storekit room's scheduler state.
    pub state: Doc,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    pub seq: i64,
    pub notification_uuid: String,
    pub app_id: String,
    pub bundle_id: String,
    pub environment: String,
    pub notification_type: String,
    pub subtype: Option<String>,
    pub customer_id: Option<i64>,
    pub transaction_id: Option<String>,
    pub signed_date_ms: i64,
    /// The JWS; empty until first sent or read when the event was batched (migration 0006).
    pub signed_payload: String,
    /// The decoded notification: `{"payload", "transactionInfo"?, "renewalInfo"?}` (payload
    /// without the signed fields; `None` for rows written before migration 0006), as the JSON
    /// text stored: built once when the event happens and parsed only by who reads it (signing,
    /// the reports' renewal info), never in between.
    pub decoded: Option<String>,
    pub url: Option<String>,
    pub test_token: Option<String>,
    /// `pending | delivered | failed | unsent`.
    pub state: String,
    /// `[{"attemptDate": ms, "sendAttemptResult": "…"}]`.
    pub attempts: Value,
    pub next_attempt_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MassExtensionRow {
    pub app_id: String,
    pub environment: String,
    pub product_id: String,
    pub request_identifier: String,
    pub request: Value,
    pub created_ms: i64,
    pub due_ms: Option<i64>,
    pub complete_ms: Option<i64>,
    pub succeeded: i64,
    pub failed: i64,
}

/// Get Transaction History filters (already validated), one page.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub customer_id: i64,
    /// Page after this modification sequence (ascending) or before it (descending).
    pub cursor: Option<i64>,
    pub descending: bool,
    pub product_ids: Vec<String>,
    pub product_types: Vec<String>,
    pub group_ids: Vec<String>,
    pub ownership: Option<String>,
    pub revoked: Option<bool>,
    /// `purchaseDate >= start_ms`.
    pub start_ms: Option<i64>,
    /// `purchaseDate < end_ms`.
    pub end_ms: Option<i64>,
    /// History v1 leaves out consumables the app has finished.
    pub exclude_finished_consumables: bool,
    pub limit: i64,
}

/// Get Notification History filters (already validated), one page.
#[derive(Debug, Clone, Default)]
pub struct NotificationQuery {
    pub app_id: String,
    pub environment: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub notification_type: Option<String>,
    pub subtype: Option<String>,
    pub customer_id: Option<i64>,
    pub only_failures: bool,
    /// Page after this notification sequence.
    pub after_seq: Option<i64>,
    pub limit: i64,
}

/// A ledger document column as stored ([`Doc`]: parsed by whoever reads a field).
fn doc_col(r: &DbRow, col: &str) -> Result<Doc> {
    Ok(Doc::from_text(r.try_get(col)?))
}

fn json_col(r: &DbRow, col: &str) -> Result<Value> {
    let s: String = r.try_get(col)?;
    serde_json::from_str(&s).with_context(|| format!("column {col} is not JSON"))
}

fn customer_from(r: &DbRow) -> Result<CustomerRow> {
    Ok(CustomerRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        bundle_id: r.try_get("bundle_id")?,
        environment: r.try_get("environment")?,
        label: r.try_get("label")?,
        app_account_token: r.try_get("app_account_token")?,
        storefront: r.try_get("storefront")?,
        app_transaction_id: r.try_get("app_transaction_id")?,
        app_transaction: doc_col(r, "app_transaction")?,
        created_ms: r.try_get("created_ms")?,
    })
}

fn transaction_from(r: &DbRow) -> Result<TransactionRow> {
    Ok(TransactionRow {
        transaction_id: r.try_get("transaction_id")?,
        original_transaction_id: r.try_get("original_transaction_id")?,
        customer_id: r.try_get("customer_id")?,
        app_id: r.try_get("app_id")?,
        bundle_id: r.try_get("bundle_id")?,
        environment: r.try_get("environment")?,
        product_id: r.try_get("product_id")?,
        product_type: r.try_get("product_type")?,
        group_id: r.try_get("group_id")?,
        order_id: r.try_get("order_id")?,
        web_order_line_item_id: r.try_get("web_order_line_item_id")?,
        ownership: r.try_get("ownership")?,
        purchase_ms: r.try_get("purchase_ms")?,
        expires_ms: r.try_get("expires_ms")?,
        revoked: r.try_get::<i64, _>("revoked")? != 0,
        revoked_ms: r.try_get("revoked_ms")?,
        finished: r.try_get::<i64, _>("finished")? != 0,
        mod_seq: r.try_get("mod_seq")?,
        refund_seq: r.try_get("refund_seq")?,
        modified_ms: r.try_get("modified_ms")?,
        payload: doc_col(r, "payload")?,
    })
}

fn subscription_from(r: &DbRow) -> Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        original_transaction_id: r.try_get("original_transaction_id")?,
        customer_id: r.try_get("customer_id")?,
        app_id: r.try_get("app_id")?,
        bundle_id: r.try_get("bundle_id")?,
        environment: r.try_get("environment")?,
        group_id: r.try_get("group_id")?,
        product_id: r.try_get("product_id")?,
        status: r.try_get("status")?,
        expires_ms: r.try_get("expires_ms")?,
        latest_transaction_id: r.try_get("latest_transaction_id")?,
        ownership: r.try_get("ownership")?,
        storefront: r.try_get("storefront")?,
        next_event_ms: r.try_get("next_event_ms")?,
        renewal: doc_col(r, "renewal")?,
        state: doc_col(r, "state")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

fn notification_from(r: &DbRow) -> Result<NotificationRow> {
    Ok(NotificationRow {
        seq: r.try_get("seq")?,
        notification_uuid: r.try_get("notification_uuid")?,
        app_id: r.try_get("app_id")?,
        bundle_id: r.try_get("bundle_id")?,
        environment: r.try_get("environment")?,
        notification_type: r.try_get("notification_type")?,
        subtype: r.try_get("subtype")?,
        customer_id: r.try_get("customer_id")?,
        transaction_id: r.try_get("transaction_id")?,
        signed_date_ms: r.try_get("signed_date_ms")?,
        signed_payload: r.try_get("signed_payload")?,
        decoded: r.try_get("decoded")?,
        url: r.try_get("url")?,
        test_token: r.try_get("test_token")?,
        state: r.try_get("state")?,
        attempts: json_col(r, "attempts")?,
        next_attempt_ms: r.try_get("next_attempt_ms")?,
    })
}

fn mass_from(r: &DbRow) -> Result<MassExtensionRow> {
    Ok(MassExtensionRow {
        app_id: r.try_get("app_id")?,
        environment: r.try_get("environment")?,
        product_id: r.try_get("product_id")?,
        request_identifier: r.try_get("request_identifier")?,
        request: json_col(r, "request")?,
        created_ms: r.try_get("created_ms")?,
        due_ms: r.try_get("due_ms")?,
        complete_ms: r.try_get("complete_ms")?,
        succeeded: r.try_get("succeeded")?,
        failed: r.try_get("failed")?,
    })
}

fn push_list(q: &mut QueryBuilder, col: &str, values: &[String]) {
    q.push(format!(" AND {col} IN ("));
    let mut sep = q.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    q.push(")");
}

/// Resources of `rtype` whose attribute `productId` is `product_id` (id, attributes).
async fn products_named<'e, E: Executor<'e, Database = Db>>(
    e: E,
    d: Dialect,
    product_id: &str,
) -> Result<Vec<(String, String, serde_json::Map<String, Value>)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT type, id, attributes FROM resources WHERE type IN ('inAppPurchases', 'subscriptions')
         AND {} = $1 ORDER BY seq",
        d.json_attr("resources", "productId")
    )))
    .bind(product_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            let attrs: String = r.try_get("attributes")?;
            let map = match serde_json::from_str::<Value>(&attrs)? {
                Value::Object(m) => m,
                _ => Default::default(),
            };
            Ok((r.try_get("type")?, r.try_get("id")?, map))
        })
        .collect()
}

/// What [`LedgerStore::ledger_next_due`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DueWork {
    /// `(original transaction id, due ms)`.
    pub subscription: Option<(String, i64)>,
    /// `((app id, environment, product id, request identifier), due ms)`.
    pub mass_extension: Option<((String, String, String, String), i64)>,
    pub notification_ms: Option<i64>,
    /// The latest lease end (wall ms) of due notifications another worker holds.
    pub held_until: Option<i64>,
}

/// Empties every table of the commerce ledger, children before parents.
const LEDGER_CLEAR: &[&str] = &[
    "DELETE FROM commerce_notifications",
    "DELETE FROM commerce_mass_extensions",
    "DELETE FROM commerce_records",
    "DELETE FROM commerce_subscriptions",
    "DELETE FROM commerce_transactions",
    "DELETE FROM commerce_customers",
    "DELETE FROM commerce_counters",
];

/// The ledger's generated keys (customer ids, the notification sequence): they start over
/// after [`LEDGER_CLEAR`].
const LEDGER_KEYS: &[(&str, &str)] = &[
    ("commerce_customers", "id"),
    ("commerce_notifications", "seq"),
];

/// Currencies without a minor unit (ISO 4217 exponent 0 among the storefronts' currencies): a
/// transaction's `price` is a multiple of 1000 milliunits, report files print whole units.
pub fn whole_currency(currency: &str) -> bool {
    matches!(currency, "JPY" | "KRW")
}

/// `milli` rounded down to a whole minor unit of `currency` (a cent, or a yen for
/// [`whole_currency`]): a customer price the App Store can charge.
pub fn floor_to_minor(milli: i64, currency: &str) -> i64 {
    let unit = if whole_currency(currency) { 1000 } else { 10 };
    milli / unit * unit
}
