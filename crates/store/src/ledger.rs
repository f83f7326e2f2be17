//! The commerce ledger: customers, transactions, subscription renewal state, the notification
//! outbox and the records behind the App Store Server API. This module only persists: the
//! storekit room decides what a purchase or a renewal means and builds Apple's payloads; the
//! ledger stores them as JSON next to the columns that queries filter, sort and page on.
//!
//! Everything an event changes (transactions, renewal state, outbox rows) is written through one
//! [`Tx`], so a notification exists exactly when the event that caused it was committed.

mod due;
mod overlay;
mod pending;
mod q;
mod reports;
mod tx;

pub(crate) use due::DueWindow;
pub(crate) use overlay::Overlay;
pub(crate) use pending::Pending;

use crate::db::{Db, DbRow, Dialect, QueryBuilder};
use crate::{Store, Tx};
use anyhow::{Context, Result};
use serde_json::Value;
use sqlx::{Executor, Row};

/// An app of the team, found by bundle id.
#[derive(Debug, Clone, PartialEq)]
pub struct AppRow {
    /// The `apps` resource id (Apple's numeric app Apple ID).
    pub id: String,
    pub bundle_id: String,
    pub attributes: serde_json::Map<String, Value>,
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
    pub app_transaction: Value,
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
    pub payload: Value,
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
    pub renewal: Value,
    /// The storekit room's scheduler state.
    pub state: Value,
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
    /// without the signed fields; `None` for rows written before migration 0006).
    pub decoded: Option<Value>,
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
        app_transaction: json_col(r, "app_transaction")?,
        created_ms: r.try_get("created_ms")?,
    })
}

pub(crate) fn transaction_from(r: &DbRow) -> Result<TransactionRow> {
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
        payload: json_col(r, "payload")?,
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
        renewal: json_col(r, "renewal")?,
        state: json_col(r, "state")?,
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
        decoded: r
            .try_get::<Option<String>, _>("decoded")?
            .map(|s| serde_json::from_str(&s))
            .transpose()?,
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

impl Store {
    pub async fn ledger_app_by_bundle(&self, bundle_id: &str) -> Result<Option<AppRow>> {
        q::app_by_bundle(self.reader(), self.dialect, bundle_id).await
    }

    /// Every `apps` resource's bundle id.
    pub async fn ledger_bundle_ids(&self) -> Result<Vec<String>> {
        let bundle_id = self.dialect.json_attr("resources", "bundleId");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {bundle_id} FROM resources WHERE type = 'apps'
             AND {bundle_id} IS NOT NULL ORDER BY seq"
        )))
        .fetch_all(self.reader())
        .await?)
    }

    /// `(type, id, attributes)` of every in-app purchase or subscription with this product id.
    pub async fn ledger_products_named(
        &self,
        product_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Map<String, Value>)>> {
        products_named(self.reader(), self.dialect, product_id).await
    }

    pub async fn ledger_linked_any(
        &self,
        rtype: &str,
        id: &str,
        other_type: &str,
    ) -> Result<Vec<String>> {
        q::linked_any(self.reader(), rtype, id, other_type).await
    }

    pub async fn ledger_customer(&self, id: i64) -> Result<Option<CustomerRow>> {
        q::customer(self.reader(), id).await
    }

    pub async fn ledger_customer_by_label(
        &self,
        app_id: &str,
        environment: &str,
        label: &str,
    ) -> Result<Option<CustomerRow>> {
        q::customer_by_label(self.reader(), app_id, environment, label).await
    }

    pub async fn ledger_customer_by_app_transaction(
        &self,
        app_transaction_id: &str,
    ) -> Result<Option<CustomerRow>> {
        q::customer_by_app_transaction(self.reader(), app_transaction_id).await
    }

    pub async fn ledger_transaction(&self, id: &str) -> Result<Option<TransactionRow>> {
        q::transaction(self.reader(), id).await
    }

    pub async fn ledger_chain(&self, original_transaction_id: &str) -> Result<Vec<TransactionRow>> {
        q::chain(self.reader(), original_transaction_id).await
    }

    pub async fn ledger_by_order(&self, order_id: &str) -> Result<Vec<TransactionRow>> {
        q::by_order(self.reader(), order_id).await
    }

    pub async fn ledger_subscription(
        &self,
        original_transaction_id: &str,
    ) -> Result<Option<SubscriptionRow>> {
        q::subscription(self.reader(), original_transaction_id).await
    }

    pub async fn ledger_subscriptions_of(&self, customer_id: i64) -> Result<Vec<SubscriptionRow>> {
        q::subscriptions_of(self.reader(), customer_id).await
    }

    pub async fn ledger_notification(&self, uuid: &str) -> Result<Option<NotificationRow>> {
        q::notification(self.reader(), uuid).await
    }

    pub async fn ledger_mass_extension(
        &self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        request_identifier: &str,
    ) -> Result<Option<MassExtensionRow>> {
        q::mass_extension(
            self.reader(),
            app_id,
            environment,
            product_id,
            request_identifier,
        )
        .await
    }

    pub async fn ledger_record(&self, kind: &str, key: &str) -> Result<Option<Value>> {
        q::record(self.reader(), kind, key).await
    }

    pub async fn ledger_notification_by_test_token(
        &self,
        token: &str,
    ) -> Result<Option<NotificationRow>> {
        let row = sqlx::query("SELECT * FROM commerce_notifications WHERE test_token = $1")
            .bind(token)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(notification_from).transpose()
    }

    /// One page of a customer's transaction history (`limit` rows; ask for one more than the
    /// page size to learn `hasMore`).
    pub async fn ledger_history(&self, h: &HistoryQuery) -> Result<Vec<TransactionRow>> {
        let mut q = QueryBuilder::new("SELECT * FROM commerce_transactions WHERE customer_id = ");
        q.push_bind(h.customer_id);
        if let Some(c) = h.cursor {
            q.push(if h.descending {
                " AND mod_seq < "
            } else {
                " AND mod_seq > "
            });
            q.push_bind(c);
        }
        if !h.product_ids.is_empty() {
            push_list(&mut q, "product_id", &h.product_ids);
        }
        if !h.product_types.is_empty() {
            push_list(&mut q, "product_type", &h.product_types);
        }
        if !h.group_ids.is_empty() {
            push_list(&mut q, "group_id", &h.group_ids);
        }
        if let Some(o) = &h.ownership {
            q.push(" AND ownership = ");
            q.push_bind(o.clone());
        }
        if let Some(r) = h.revoked {
            q.push(" AND revoked = ");
            q.push_bind(r as i64);
        }
        if let Some(s) = h.start_ms {
            q.push(" AND purchase_ms >= ");
            q.push_bind(s);
        }
        if let Some(e) = h.end_ms {
            q.push(" AND purchase_ms < ");
            q.push_bind(e);
        }
        if h.exclude_finished_consumables {
            q.push(" AND NOT (product_type = 'CONSUMABLE' AND finished = 1)");
        }
        q.push(if h.descending {
            " ORDER BY mod_seq DESC LIMIT "
        } else {
            " ORDER BY mod_seq ASC LIMIT "
        });
        q.push_bind(h.limit);
        let rows = q.build().fetch_all(self.reader()).await?;
        rows.iter().map(transaction_from).collect()
    }

    /// One page of a customer's refunded transactions, in refund order.
    pub async fn ledger_refunds(
        &self,
        customer_id: i64,
        after_refund_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TransactionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_transactions WHERE customer_id = $1 AND refund_seq IS NOT NULL
             AND refund_seq > $2 ORDER BY refund_seq LIMIT $3",
        )
        .bind(customer_id)
        .bind(after_refund_seq.unwrap_or(i64::MIN))
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(transaction_from).collect()
    }

    /// One page of an app's notification history (oldest first).
    pub async fn ledger_notification_history(
        &self,
        nq: &NotificationQuery,
    ) -> Result<Vec<NotificationRow>> {
        let mut q = QueryBuilder::new(
            "SELECT * FROM commerce_notifications WHERE state <> 'unsent' AND app_id = ",
        );
        q.push_bind(nq.app_id.clone());
        q.push(" AND environment = ");
        q.push_bind(nq.environment.clone());
        q.push(" AND signed_date_ms >= ");
        q.push_bind(nq.start_ms);
        q.push(" AND signed_date_ms <= ");
        q.push_bind(nq.end_ms);
        if let Some(t) = &nq.notification_type {
            q.push(" AND notification_type = ");
            q.push_bind(t.clone());
        }
        if let Some(s) = &nq.subtype {
            q.push(" AND subtype = ");
            q.push_bind(s.clone());
        }
        if let Some(c) = nq.customer_id {
            q.push(" AND customer_id = ");
            q.push_bind(c);
        }
        if nq.only_failures {
            q.push(" AND state <> 'delivered' AND attempts <> '[]'");
        }
        if let Some(a) = nq.after_seq {
            q.push(" AND seq > ");
            q.push_bind(a);
        }
        q.push(" ORDER BY seq LIMIT ");
        q.push_bind(nq.limit);
        let rows = q.build().fetch_all(self.reader()).await?;
        rows.iter().map(notification_from).collect()
    }

    /// Every notification of an app (admin listing), newest last; `limit` most recent.
    pub async fn ledger_notifications(
        &self,
        app_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<NotificationRow>> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM commerce_notifications WHERE ($1 IS NULL OR app_id = $1)
             ORDER BY seq DESC LIMIT $2) AS latest ORDER BY seq",
        )
        .bind(app_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(notification_from).collect()
    }

    /// Active subscribers of a product (mass extension candidates).
    pub async fn ledger_subscriptions_of_product(
        &self,
        app_id: &str,
        environment: &str,
        product_id: &str,
    ) -> Result<Vec<SubscriptionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_subscriptions WHERE app_id = $1 AND environment = $2
             AND product_id = $3 ORDER BY original_transaction_id",
        )
        .bind(app_id)
        .bind(environment)
        .bind(product_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(subscription_from).collect()
    }

    /// The earliest due time of scheduled work (subscriptions, mass extensions, notification
    /// attempts not leased at `wall_ms`), each at or before `now`.
    pub async fn ledger_next_due(&self, now: i64, wall_ms: i64) -> Result<DueWork> {
        let sub: Option<(String, i64)> = sqlx::query_as(
            "SELECT original_transaction_id, next_event_ms FROM commerce_subscriptions
             WHERE next_event_ms IS NOT NULL AND next_event_ms <= $1
             ORDER BY next_event_ms, original_transaction_id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        let mass: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT app_id, environment, product_id, request_identifier, due_ms
             FROM commerce_mass_extensions WHERE due_ms IS NOT NULL AND due_ms <= $1
             ORDER BY due_ms, request_identifier LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        let notif: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_ms) FROM commerce_notifications WHERE state = 'pending'
             AND next_attempt_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms < $2)",
        )
        .bind(now)
        .bind(wall_ms)
        .fetch_one(self.reader())
        .await?;
        Ok(DueWork {
            subscription: sub,
            mass_extension: mass.map(|(a, e, p, r, d)| ((a, e, p, r), d)),
            notification_ms: notif,
        })
    }

    /// Claims up to `limit` notifications whose attempt is due at or before `until` and that no
    /// worker holds at `wall_ms` (never leased, or their lease ran out: a killed replica's),
    /// leasing them until `lease_until` (wall ms) in one statement, due order. On PostgreSQL the
    /// rows are picked `FOR UPDATE SKIP LOCKED` ([`Dialect::skip_locked`]): replicas claiming at
    /// once get different rows, so each attempt is made once (issue 12).
    pub async fn ledger_claim_notifications(
        &self,
        until: i64,
        wall_ms: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>> {
        let sql = format!(
            "UPDATE commerce_notifications SET lease_until_ms = $3 WHERE seq IN (
               SELECT seq FROM commerce_notifications WHERE state = 'pending'
               AND next_attempt_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms < $2)
               ORDER BY next_attempt_ms, seq LIMIT $4{}) RETURNING *",
            self.dialect.skip_locked()
        );
        let rows = crate::shared::with_busy_retry(|| async {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(until)
                .bind(wall_ms)
                .bind(lease_until)
                .bind(limit)
                .fetch_all(&self.writer)
                .await?)
        })
        .await?;
        let mut claimed: Vec<NotificationRow> =
            rows.iter().map(notification_from).collect::<Result<_>>()?;
        // RETURNING keeps no order: attempts go out in due order.
        claimed.sort_by_key(|n| (n.next_attempt_ms, n.seq));
        Ok(claimed)
    }

    /// Stores the JWS of a notification written without one (migration 0006); a row already
    /// signed keeps its bytes. Returns the JWS the row holds now.
    pub async fn ledger_set_signed_payload(&self, seq: i64, jws: &str) -> Result<String> {
        let mut tx = self.begin().await?;
        let stored: Option<String> = sqlx::query_scalar(
            "UPDATE commerce_notifications SET signed_payload = CASE signed_payload WHEN ''
             THEN $2 ELSE signed_payload END WHERE seq = $1 RETURNING signed_payload",
        )
        .bind(seq)
        .bind(jws)
        .fetch_optional(&mut *tx.tx)
        .await?;
        tx.commit().await?;
        Ok(stored.unwrap_or_else(|| jws.to_string()))
    }

    /// Records an attempt and what comes next (`next_attempt_ms` when pending), releasing the lease.
    pub async fn ledger_record_attempt(
        &self,
        seq: i64,
        attempts: &Value,
        state: &str,
        next_attempt_ms: Option<i64>,
    ) -> Result<()> {
        crate::shared::with_busy_retry(|| async {
            Ok(sqlx::query(
                "UPDATE commerce_notifications SET attempts = $2, state = $3, next_attempt_ms = $4,
                 lease_until_ms = NULL WHERE seq = $1",
            )
            .bind(seq)
            .bind(serde_json::to_string(attempts)?)
            .bind(state)
            .bind(next_attempt_ms)
            .execute(&self.writer)
            .await?)
        })
        .await?;
        Ok(())
    }

    /// Puts a notification back in the outbox, due at `at_ms` (the inspector's resend): pending,
    /// unleased, its earlier attempts kept. False when there is no such notification.
    pub async fn ledger_requeue_notification(&self, uuid: &str, at_ms: i64) -> Result<bool> {
        let r = crate::shared::with_busy_retry(|| async {
            Ok(sqlx::query(
                "UPDATE commerce_notifications SET state = 'pending', next_attempt_ms = $2,
                 lease_until_ms = NULL WHERE notification_uuid = $1",
            )
            .bind(uuid)
            .bind(at_ms)
            .execute(&self.writer)
            .await?)
        })
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Drops every delivery lease (a starting server owns the outbox; a killed one's leases
    /// must not delay redelivery). On PostgreSQL other replicas may be delivering under their
    /// leases right now: nothing is dropped, and a killed replica's leases simply expire (the
    /// attempt's timeout and a minute), after which a survivor delivers.
    pub async fn ledger_clear_leases(&self) -> Result<u64> {
        if self.dialect == crate::Dialect::Postgres {
            return Ok(0);
        }
        let r = crate::shared::with_busy_retry(|| async {
            Ok(sqlx::query(
                "UPDATE commerce_notifications SET lease_until_ms = NULL WHERE lease_until_ms IS NOT NULL",
            )
            .execute(&self.writer)
            .await?)
        })
        .await?;
        Ok(r.rows_affected())
    }

    /// Rows of every commerce ledger table and counter values, `(table or counter, count or
    /// value)`: a fingerprint that changes whenever an event writes anything (tests use it to
    /// show a refused event left the ledger as it was).
    pub async fn ledger_fingerprint(&self) -> Result<Vec<(String, i64)>> {
        let mut out: Vec<(String, i64)> = sqlx::query_as(
            "SELECT 'customers', COUNT(*) FROM commerce_customers
             UNION ALL SELECT 'transactions', COUNT(*) FROM commerce_transactions
             UNION ALL SELECT 'subscriptions', COUNT(*) FROM commerce_subscriptions
             UNION ALL SELECT 'notifications', COUNT(*) FROM commerce_notifications
             UNION ALL SELECT 'records', COUNT(*) FROM commerce_records
             UNION ALL SELECT 'mass_extensions', COUNT(*) FROM commerce_mass_extensions
             UNION ALL SELECT 'max modified', COALESCE(MAX(modified_ms), 0) FROM commerce_transactions
             UNION ALL SELECT 'max updated', COALESCE(MAX(updated_ms), 0) FROM commerce_subscriptions",
        )
        .fetch_all(self.reader())
        .await?;
        out.extend(
            sqlx::query_as::<_, (String, i64)>(
                "SELECT name, value FROM commerce_counters ORDER BY name",
            )
            .fetch_all(self.reader())
            .await?,
        );
        Ok(out)
    }

    /// Counts of notifications by state (admin status).
    pub async fn ledger_notification_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT state, COUNT(*) FROM commerce_notifications GROUP BY state ORDER BY state",
        )
        .fetch_all(self.reader())
        .await?)
    }
}

/// What [`Store::ledger_next_due`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DueWork {
    /// `(original transaction id, due ms)`.
    pub subscription: Option<(String, i64)>,
    /// `((app id, environment, product id, request identifier), due ms)`.
    pub mass_extension: Option<((String, String, String, String), i64)>,
    pub notification_ms: Option<i64>,
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
