//! The ledger's writes inside one SQL transaction (`Tx`): customers, transactions, subscription
//! renewal state, the notification outbox, records and counters ([`LedgerTx`]).

use super::due::{self, due_window_saw};
use super::overlay::{
    self, ov_chain, ov_customer, ov_customer_by_label, ov_customer_owns, ov_insert_customer,
    ov_put_subscription, ov_put_transaction, ov_set_customer_token, ov_subscription,
    ov_subscriptions_of, ov_transaction,
};
use super::pending::{self, batch, drop_pending_ledger};
use super::*;
use crabapple_reports_store::ReportsTx;

/// The ledger's reads and writes inside a write transaction: customers, transactions,
/// subscription renewal state, the notification outbox, records and counters, and a batch's
/// memory of them ([`LedgerTx::ledger_batch`]). Implemented for [`Tx`] only; its futures are
/// `Send` there (`async_fn_in_trait` is about generic callers).
#[allow(async_fn_in_trait)]
pub trait LedgerTx {
    /// The transaction the statements run in.
    fn ledger_tx(&mut self) -> &mut Tx;

    /// Empties the commerce ledger: customers and their app transactions, transactions,
    /// subscription renewal state, the notification outbox and history, mass extensions,
    /// records and counters (ids start over, as in a new data directory), and the Retention
    /// Messaging API's images, messages, defaults, URLs and performance tests, and the reports'
    /// app units.
    async fn ledger_clear(&mut self) -> Result<()> {
        let tx = self.ledger_tx();
        drop_pending_ledger(tx);
        tx.forget_reads();
        for q in crate::messaging_store::MESSAGING_CLEAR {
            sqlx::query(*q).execute(tx.conn()).await?;
        }
        tx.reports_clear().await?;
        for q in LEDGER_CLEAR {
            sqlx::query(*q).execute(tx.conn()).await?;
        }
        let restart = tx.dialect().restart_ids_sql(LEDGER_KEYS);
        sqlx::query(sqlx::AssertSqlSafe(restart))
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    async fn ledger_app_by_bundle(&mut self, bundle_id: &str) -> Result<Option<AppRow>> {
        let tx = self.ledger_tx();
        let d = tx.dialect();
        q::app_by_bundle(tx.conn(), d, bundle_id).await
    }

    async fn ledger_products_named(
        &mut self,
        product_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Map<String, Value>)>> {
        let tx = self.ledger_tx();
        let d = tx.dialect();
        products_named(tx.conn(), d, product_id).await
    }

    async fn ledger_customer(&mut self, id: i64) -> Result<Option<CustomerRow>> {
        if batch(self.ledger_tx()) {
            return ov_customer(self.ledger_tx(), id).await;
        }
        q::customer(self.ledger_tx().conn(), id).await
    }

    async fn ledger_customer_by_label(
        &mut self,
        app_id: &str,
        environment: &str,
        label: &str,
    ) -> Result<Option<CustomerRow>> {
        if batch(self.ledger_tx()) {
            return ov_customer_by_label(self.ledger_tx(), app_id, environment, label).await;
        }
        q::customer_by_label(self.ledger_tx().conn(), app_id, environment, label).await
    }

    async fn ledger_insert_customer(&mut self, c: &CustomerRow) -> Result<i64> {
        if batch(self.ledger_tx()) {
            return ov_insert_customer(self.ledger_tx(), c).await;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO commerce_customers (app_id, bundle_id, environment, label, app_account_token,
             storefront, app_transaction_id, app_transaction, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&c.app_id)
        .bind(&c.bundle_id)
        .bind(&c.environment)
        .bind(&c.label)
        .bind(&c.app_account_token)
        .bind(&c.storefront)
        .bind(&c.app_transaction_id)
        .bind(c.app_transaction.text())
        .bind(c.created_ms)
        .fetch_one(self.ledger_tx().conn())
        .await?;
        Ok(id)
    }

    async fn ledger_set_customer_token(&mut self, id: i64, token: Option<&str>) -> Result<()> {
        if batch(self.ledger_tx()) {
            return ov_set_customer_token(self.ledger_tx(), id, token).await;
        }
        sqlx::query("UPDATE commerce_customers SET app_account_token = $2 WHERE id = $1")
            .bind(id)
            .bind(token)
            .execute(self.ledger_tx().conn())
            .await?;
        Ok(())
    }

    async fn ledger_transaction(&mut self, id: &str) -> Result<Option<TransactionRow>> {
        if batch(self.ledger_tx()) {
            return ov_transaction(self.ledger_tx(), id).await;
        }
        q::transaction(self.ledger_tx().conn(), id).await
    }

    async fn ledger_chain(&mut self, original_transaction_id: &str) -> Result<Vec<TransactionRow>> {
        if batch(self.ledger_tx()) {
            return ov_chain(self.ledger_tx(), original_transaction_id).await;
        }
        q::chain(self.ledger_tx().conn(), original_transaction_id).await
    }

    /// Inserts or replaces a transaction; assigns it the next modification sequence (and a
    /// refund sequence when it became revoked by a refund). Returns the stored row.
    async fn ledger_put_transaction(&mut self, t: &TransactionRow) -> Result<TransactionRow> {
        let mut t = t.clone();
        t.mod_seq = self.ledger_next("mod_seq", 1).await?;
        if batch(self.ledger_tx()) {
            ov_put_transaction(self.ledger_tx(), t.clone());
        } else {
            let d = self.ledger_tx().dialect();
            upsert_transactions(self.ledger_tx().conn(), d, &[&t]).await?;
        }
        Ok(t)
    }

    /// Whether a customer holds an unrevoked transaction of a product.
    async fn ledger_customer_owns(&mut self, customer_id: i64, product_id: &str) -> Result<bool> {
        if batch(self.ledger_tx()) {
            return ov_customer_owns(self.ledger_tx(), customer_id, product_id).await;
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM commerce_transactions WHERE customer_id = $1 AND product_id = $2
             AND revoked = 0",
        )
        .bind(customer_id)
        .bind(product_id)
        .fetch_one(self.ledger_tx().conn())
        .await?;
        Ok(n > 0)
    }

    /// Marks a transaction finished (no new modification: Apple's history order is unchanged).
    async fn ledger_finish(&mut self, transaction_id: &str) -> Result<bool> {
        if batch(self.ledger_tx()) {
            let Some(mut t) = ov_transaction(self.ledger_tx(), transaction_id).await? else {
                return Ok(false);
            };
            t.finished = true;
            ov_put_transaction(self.ledger_tx(), t);
            return Ok(true);
        }
        let r =
            sqlx::query("UPDATE commerce_transactions SET finished = 1 WHERE transaction_id = $1")
                .bind(transaction_id)
                .execute(self.ledger_tx().conn())
                .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn ledger_subscription(
        &mut self,
        original_transaction_id: &str,
    ) -> Result<Option<SubscriptionRow>> {
        if batch(self.ledger_tx()) {
            return ov_subscription(self.ledger_tx(), original_transaction_id).await;
        }
        q::subscription(self.ledger_tx().conn(), original_transaction_id).await
    }

    async fn ledger_subscriptions_of(&mut self, customer_id: i64) -> Result<Vec<SubscriptionRow>> {
        if batch(self.ledger_tx()) {
            return ov_subscriptions_of(self.ledger_tx(), customer_id).await;
        }
        q::subscriptions_of(self.ledger_tx().conn(), customer_id).await
    }

    async fn ledger_put_subscription(&mut self, s: &SubscriptionRow) -> Result<()> {
        due_window_saw(self.ledger_tx(), s);
        if batch(self.ledger_tx()) {
            ov_put_subscription(self.ledger_tx(), s);
            return Ok(());
        }
        let d = self.ledger_tx().dialect();
        upsert_subscriptions(self.ledger_tx().conn(), d, &[s]).await
    }

    async fn ledger_mass_extension(
        &mut self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        request_identifier: &str,
    ) -> Result<Option<MassExtensionRow>> {
        q::mass_extension(
            self.ledger_tx().conn(),
            app_id,
            environment,
            product_id,
            request_identifier,
        )
        .await
    }

    async fn ledger_put_mass_extension(&mut self, m: &MassExtensionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO commerce_mass_extensions (app_id, environment, product_id,
             request_identifier, request, created_ms, due_ms, complete_ms, succeeded, failed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (app_id, environment, product_id, request_identifier) DO UPDATE SET
             due_ms = excluded.due_ms, complete_ms = excluded.complete_ms,
             succeeded = excluded.succeeded, failed = excluded.failed",
        )
        .bind(&m.app_id)
        .bind(&m.environment)
        .bind(&m.product_id)
        .bind(&m.request_identifier)
        .bind(serde_json::to_string(&m.request)?)
        .bind(m.created_ms)
        .bind(m.due_ms)
        .bind(m.complete_ms)
        .bind(m.succeeded)
        .bind(m.failed)
        .execute(self.ledger_tx().write_conn().await?)
        .await?;
        Ok(())
    }

    async fn ledger_record(&mut self, kind: &str, key: &str) -> Result<Option<Value>> {
        q::record(self.ledger_tx().conn(), kind, key).await
    }

    async fn ledger_put_record(
        &mut self,
        kind: &str,
        key: &str,
        value: &Value,
        at_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO commerce_records (kind, key, value, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
        )
        .bind(kind)
        .bind(key)
        .bind(serde_json::to_string(value)?)
        .bind(at_ms)
        .execute(self.ledger_tx().write_conn().await?)
        .await?;
        Ok(())
    }

    /// Replaces one attribute set of a resource (e.g. an app's notification URLs).
    async fn ledger_set_attributes(
        &mut self,
        rtype: &str,
        id: &str,
        changes: &serde_json::Map<String, Value>,
    ) -> Result<bool> {
        let Some(r) = self.ledger_tx().get(rtype, id).await? else {
            return Ok(false);
        };
        let mut attrs = r.attributes;
        for (k, v) in changes {
            if v.is_null() {
                attrs.remove(k);
            } else {
                attrs.insert(k.clone(), v.clone());
            }
        }
        self.ledger_tx().put(rtype, id, &attrs).await?;
        Ok(true)
    }

    /// Next value of a named counter, starting at `start` ([`super::pending`]).
    async fn ledger_next(&mut self, name: &str, start: i64) -> Result<i64> {
        pending::ledger_next(self.ledger_tx(), name, start).await
    }

    /// Appends a notification to the outbox (written at COMMIT, in order).
    async fn ledger_insert_notification(&mut self, n: NotificationRow) -> Result<()> {
        pending::ledger_insert_notification(self.ledger_tx(), n).await
    }

    /// Keeps the ledger in memory until commit ([`super::overlay`]). For a caller that runs
    /// many events in this transaction; nothing else changes for it.
    fn ledger_batch(&mut self) {
        overlay::ledger_batch(self.ledger_tx())
    }

    /// Whether no customer of the app in the environment has a label starting with `prefix`
    /// (one query); if so a batch answers lookups of such labels from memory alone (a
    /// simulated day names its new customers `sim-YYYYMMDD-n`).
    async fn ledger_fresh_labels(
        &mut self,
        app_id: &str,
        environment: &str,
        prefix: &str,
    ) -> Result<bool> {
        overlay::ledger_fresh_labels(self.ledger_tx(), app_id, environment, prefix).await
    }

    /// Answers [`LedgerTx::ledger_next_due_subscription`] for times up to `until` from memory
    /// ([`super::due`]).
    async fn ledger_open_due_window(&mut self, until: i64) -> Result<()> {
        due::ledger_open_due_window(self.ledger_tx(), until).await
    }

    /// The earliest subscription step due at or before `now`, `(original transaction id, due
    /// ms)`, as this transaction sees it (the scheduler's order: due time, then id).
    async fn ledger_next_due_subscription(&mut self, now: i64) -> Result<Option<(String, i64)>> {
        due::ledger_next_due_subscription(self.ledger_tx(), now).await
    }
}

impl LedgerTx for Tx {
    fn ledger_tx(&mut self) -> &mut Tx {
        self
    }
}

/// Inserts customers with their ids (a batch assigns them, [`super::overlay`]).
pub(super) async fn insert_customers(
    conn: &mut crabapple_store::DbConn,
    dialect: Dialect,
    rows: &[&CustomerRow],
) -> Result<()> {
    let mut q = QueryBuilder::new(
        "INSERT INTO commerce_customers (id, app_id, bundle_id, environment, label,
         app_account_token, storefront, app_transaction_id, app_transaction, created_ms) ",
    );
    q.push_values(rows, |mut b, c| {
        b.push_bind(c.id)
            .push_bind(c.app_id.clone())
            .push_bind(c.bundle_id.clone())
            .push_bind(c.environment.clone())
            .push_bind(c.label.clone())
            .push_bind(c.app_account_token.clone())
            .push_bind(c.storefront.clone())
            .push_bind(c.app_transaction_id.clone())
            .push_bind(c.app_transaction.text().to_string())
            .push_bind(c.created_ms);
    });
    q.push(" ON CONFLICT (id) DO UPDATE SET app_account_token = excluded.app_account_token");
    q.build_for(dialect)
        .persistent(recurs(rows.len()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces transactions (their modification sequence already assigned).
pub(super) async fn upsert_transactions(
    conn: &mut crabapple_store::DbConn,
    dialect: Dialect,
    rows: &[&TransactionRow],
) -> Result<()> {
    let mut q = QueryBuilder::new(
        "INSERT INTO commerce_transactions (transaction_id, original_transaction_id, customer_id,
         app_id, bundle_id, environment, product_id, product_type, group_id, order_id,
         web_order_line_item_id, ownership, purchase_ms, expires_ms, revoked, revoked_ms,
         finished, mod_seq, refund_seq, modified_ms, payload) ",
    );
    q.push_values(rows, |mut b, t| {
        b.push_bind(t.transaction_id.clone())
            .push_bind(t.original_transaction_id.clone())
            .push_bind(t.customer_id)
            .push_bind(t.app_id.clone())
            .push_bind(t.bundle_id.clone())
            .push_bind(t.environment.clone())
            .push_bind(t.product_id.clone())
            .push_bind(t.product_type.clone())
            .push_bind(t.group_id.clone())
            .push_bind(t.order_id.clone())
            .push_bind(t.web_order_line_item_id.clone())
            .push_bind(t.ownership.clone())
            .push_bind(t.purchase_ms)
            .push_bind(t.expires_ms)
            .push_bind(t.revoked as i64)
            .push_bind(t.revoked_ms)
            .push_bind(t.finished as i64)
            .push_bind(t.mod_seq)
            .push_bind(t.refund_seq)
            .push_bind(t.modified_ms)
            .push_bind(t.payload.text().to_string());
    });
    q.push(
        " ON CONFLICT (transaction_id) DO UPDATE SET product_id = excluded.product_id,
         product_type = excluded.product_type, group_id = excluded.group_id,
         ownership = excluded.ownership, purchase_ms = excluded.purchase_ms,
         expires_ms = excluded.expires_ms, revoked = excluded.revoked,
         revoked_ms = excluded.revoked_ms, finished = excluded.finished,
         mod_seq = excluded.mod_seq, refund_seq = excluded.refund_seq,
         modified_ms = excluded.modified_ms, payload = excluded.payload",
    );
    q.build_for(dialect)
        .persistent(recurs(rows.len()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces subscriptions' renewal state.
pub(super) async fn upsert_subscriptions(
    conn: &mut crabapple_store::DbConn,
    dialect: Dialect,
    rows: &[&SubscriptionRow],
) -> Result<()> {
    let mut q = QueryBuilder::new(
        "INSERT INTO commerce_subscriptions (original_transaction_id, customer_id, app_id,
         bundle_id, environment, group_id, product_id, status, expires_ms,
         latest_transaction_id, ownership, storefront, next_event_ms, renewal, state, updated_ms) ",
    );
    q.push_values(rows, |mut b, s| {
        b.push_bind(s.original_transaction_id.clone())
            .push_bind(s.customer_id)
            .push_bind(s.app_id.clone())
            .push_bind(s.bundle_id.clone())
            .push_bind(s.environment.clone())
            .push_bind(s.group_id.clone())
            .push_bind(s.product_id.clone())
            .push_bind(s.status)
            .push_bind(s.expires_ms)
            .push_bind(s.latest_transaction_id.clone())
            .push_bind(s.ownership.clone())
            .push_bind(s.storefront.clone())
            .push_bind(s.next_event_ms)
            .push_bind(s.renewal.text().to_string())
            .push_bind(s.state.text().to_string())
            .push_bind(s.updated_ms);
    });
    q.push(
        " ON CONFLICT (original_transaction_id) DO UPDATE SET group_id = excluded.group_id,
         product_id = excluded.product_id, status = excluded.status,
         expires_ms = excluded.expires_ms, latest_transaction_id = excluded.latest_transaction_id,
         ownership = excluded.ownership, storefront = excluded.storefront,
         next_event_ms = excluded.next_event_ms, renewal = excluded.renewal,
         state = excluded.state, updated_ms = excluded.updated_ms",
    );
    q.build_for(dialect)
        .persistent(recurs(rows.len()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a multi-row statement of `rows` rows is worth keeping prepared: one row (every single
/// event) or a full chunk recur; the other sizes would fill SQLite's statement cache with
/// programs used once (a simulated year grew by tens of MB that way).
pub(super) fn recurs(rows: usize) -> bool {
    rows == 1 || rows == super::overlay::ROWS_PER_INSERT
}
