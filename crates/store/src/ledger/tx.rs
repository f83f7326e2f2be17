//! The ledger's writes inside one SQL transaction (`Tx`): customers, transactions, subscription
//! renewal state, the notification outbox, records and counters.

use super::*;

impl Tx {
    /// Empties the commerce ledger: customers and their app transactions, transactions,
    /// subscription renewal state, the notification outbox and history, mass extensions,
    /// records and counters (ids start over, as in a new data directory), and the Retention
    /// Messaging API's images, messages, defaults, URLs and performance tests, and the reports'
    /// app units.
    pub async fn ledger_clear(&mut self) -> Result<()> {
        for q in crate::messaging::MESSAGING_CLEAR
            .iter()
            .chain(crate::reports::REPORTS_CLEAR)
            .chain(LEDGER_CLEAR)
        {
            sqlx::query(*q).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Next value of a named counter, starting at `start`.
    pub async fn ledger_next(&mut self, name: &str, start: i64) -> Result<i64> {
        let v: i64 = sqlx::query_scalar(
            "INSERT INTO commerce_counters (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = commerce_counters.value + 1
             RETURNING value",
        )
        .bind(name)
        .bind(start)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(v)
    }

    pub async fn ledger_app_by_bundle(&mut self, bundle_id: &str) -> Result<Option<AppRow>> {
        q::app_by_bundle(&mut *self.tx, bundle_id).await
    }

    pub async fn ledger_products_named(
        &mut self,
        product_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Map<String, Value>)>> {
        products_named(&mut *self.tx, product_id).await
    }

    pub async fn ledger_linked_any(
        &mut self,
        rtype: &str,
        id: &str,
        other_type: &str,
    ) -> Result<Vec<String>> {
        q::linked_any(&mut *self.tx, rtype, id, other_type).await
    }

    pub async fn ledger_customer(&mut self, id: i64) -> Result<Option<CustomerRow>> {
        q::customer(&mut *self.tx, id).await
    }

    pub async fn ledger_customer_by_label(
        &mut self,
        app_id: &str,
        environment: &str,
        label: &str,
    ) -> Result<Option<CustomerRow>> {
        q::customer_by_label(&mut *self.tx, app_id, environment, label).await
    }

    pub async fn ledger_insert_customer(&mut self, c: &CustomerRow) -> Result<i64> {
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
        .bind(serde_json::to_string(&c.app_transaction)?)
        .bind(c.created_ms)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn ledger_set_customer_token(&mut self, id: i64, token: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE commerce_customers SET app_account_token = $2 WHERE id = $1")
            .bind(id)
            .bind(token)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn ledger_transaction(&mut self, id: &str) -> Result<Option<TransactionRow>> {
        q::transaction(&mut *self.tx, id).await
    }

    pub async fn ledger_chain(
        &mut self,
        original_transaction_id: &str,
    ) -> Result<Vec<TransactionRow>> {
        q::chain(&mut *self.tx, original_transaction_id).await
    }

    /// Inserts or replaces a transaction; assigns it the next modification sequence (and a
    /// refund sequence when it became revoked by a refund). Returns the stored row.
    pub async fn ledger_put_transaction(&mut self, t: &TransactionRow) -> Result<TransactionRow> {
        let mut t = t.clone();
        t.mod_seq = self.ledger_next("mod_seq", 1).await?;
        sqlx::query(
            "INSERT INTO commerce_transactions (transaction_id, original_transaction_id, customer_id,
             app_id, bundle_id, environment, product_id, product_type, group_id, order_id,
             web_order_line_item_id, ownership, purchase_ms, expires_ms, revoked, revoked_ms,
             finished, mod_seq, refund_seq, modified_ms, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19, $20, $21)
             ON CONFLICT (transaction_id) DO UPDATE SET product_id = excluded.product_id,
             product_type = excluded.product_type, group_id = excluded.group_id,
             ownership = excluded.ownership, purchase_ms = excluded.purchase_ms,
             expires_ms = excluded.expires_ms, revoked = excluded.revoked,
             revoked_ms = excluded.revoked_ms, finished = excluded.finished,
             mod_seq = excluded.mod_seq, refund_seq = excluded.refund_seq,
             modified_ms = excluded.modified_ms, payload = excluded.payload",
        )
        .bind(&t.transaction_id)
        .bind(&t.original_transaction_id)
        .bind(t.customer_id)
        .bind(&t.app_id)
        .bind(&t.bundle_id)
        .bind(&t.environment)
        .bind(&t.product_id)
        .bind(&t.product_type)
        .bind(&t.group_id)
        .bind(&t.order_id)
        .bind(&t.web_order_line_item_id)
        .bind(&t.ownership)
        .bind(t.purchase_ms)
        .bind(t.expires_ms)
        .bind(t.revoked as i64)
        .bind(t.revoked_ms)
        .bind(t.finished as i64)
        .bind(t.mod_seq)
        .bind(t.refund_seq)
        .bind(t.modified_ms)
        .bind(serde_json::to_string(&t.payload)?)
        .execute(&mut *self.tx)
        .await?;
        Ok(t)
    }

    /// Whether a customer holds an unrevoked transaction of a product.
    pub async fn ledger_customer_owns(
        &mut self,
        customer_id: i64,
        product_id: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM commerce_transactions WHERE customer_id = $1 AND product_id = $2
             AND revoked = 0",
        )
        .bind(customer_id)
        .bind(product_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n > 0)
    }

    /// Marks a transaction finished (no new modification: Apple's history order is unchanged).
    pub async fn ledger_finish(&mut self, transaction_id: &str) -> Result<bool> {
        let r =
            sqlx::query("UPDATE commerce_transactions SET finished = 1 WHERE transaction_id = $1")
                .bind(transaction_id)
                .execute(&mut *self.tx)
                .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn ledger_subscription(
        &mut self,
        original_transaction_id: &str,
    ) -> Result<Option<SubscriptionRow>> {
        q::subscription(&mut *self.tx, original_transaction_id).await
    }

    pub async fn ledger_subscriptions_of(
        &mut self,
        customer_id: i64,
    ) -> Result<Vec<SubscriptionRow>> {
        q::subscriptions_of(&mut *self.tx, customer_id).await
    }

    pub async fn ledger_put_subscription(&mut self, s: &SubscriptionRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO commerce_subscriptions (original_transaction_id, customer_id, app_id,
             bundle_id, environment, group_id, product_id, status, expires_ms,
             latest_transaction_id, ownership, storefront, next_event_ms, renewal, state, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (original_transaction_id) DO UPDATE SET group_id = excluded.group_id,
             product_id = excluded.product_id, status = excluded.status,
             expires_ms = excluded.expires_ms, latest_transaction_id = excluded.latest_transaction_id,
             ownership = excluded.ownership, storefront = excluded.storefront,
             next_event_ms = excluded.next_event_ms, renewal = excluded.renewal,
             state = excluded.state, updated_ms = excluded.updated_ms",
        )
        .bind(&s.original_transaction_id)
        .bind(s.customer_id)
        .bind(&s.app_id)
        .bind(&s.bundle_id)
        .bind(&s.environment)
        .bind(&s.group_id)
        .bind(&s.product_id)
        .bind(s.status)
        .bind(s.expires_ms)
        .bind(&s.latest_transaction_id)
        .bind(&s.ownership)
        .bind(&s.storefront)
        .bind(s.next_event_ms)
        .bind(serde_json::to_string(&s.renewal)?)
        .bind(serde_json::to_string(&s.state)?)
        .bind(s.updated_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Appends a notification to the outbox; returns its sequence number.
    pub async fn ledger_insert_notification(&mut self, n: &NotificationRow) -> Result<i64> {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO commerce_notifications (notification_uuid, app_id, bundle_id, environment,
             notification_type, subtype, customer_id, transaction_id, signed_date_ms, signed_payload,
             url, test_token, state, attempts, next_attempt_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq",
        )
        .bind(&n.notification_uuid)
        .bind(&n.app_id)
        .bind(&n.bundle_id)
        .bind(&n.environment)
        .bind(&n.notification_type)
        .bind(&n.subtype)
        .bind(n.customer_id)
        .bind(&n.transaction_id)
        .bind(n.signed_date_ms)
        .bind(&n.signed_payload)
        .bind(&n.url)
        .bind(&n.test_token)
        .bind(&n.state)
        .bind(serde_json::to_string(&n.attempts)?)
        .bind(n.next_attempt_ms)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(seq)
    }

    pub async fn ledger_mass_extension(
        &mut self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        request_identifier: &str,
    ) -> Result<Option<MassExtensionRow>> {
        q::mass_extension(
            &mut *self.tx,
            app_id,
            environment,
            product_id,
            request_identifier,
        )
        .await
    }

    pub async fn ledger_put_mass_extension(&mut self, m: &MassExtensionRow) -> Result<()> {
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
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn ledger_record(&mut self, kind: &str, key: &str) -> Result<Option<Value>> {
        q::record(&mut *self.tx, kind, key).await
    }

    pub async fn ledger_put_record(
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
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replaces one attribute set of a resource (e.g. an app's notification URLs).
    pub async fn ledger_set_attributes(
        &mut self,
        rtype: &str,
        id: &str,
        changes: &serde_json::Map<String, Value>,
    ) -> Result<bool> {
        let Some(r) = self.get(rtype, id).await? else {
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
        self.put(rtype, id, &attrs).await?;
        Ok(true)
    }
    /// The earliest subscription step due at or before `now`, `(original transaction id, due
    /// ms)`, as this transaction sees it (the scheduler's order: due time, then id). A caller
    /// that batches many events in one transaction (the simulator) runs the steps it made due.
    pub async fn ledger_next_due_subscription(
        &mut self,
        now: i64,
    ) -> Result<Option<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT original_transaction_id, next_event_ms FROM commerce_subscriptions
             WHERE next_event_ms IS NOT NULL AND next_event_ms <= $1
             ORDER BY next_event_ms, original_transaction_id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// Marks a point inside this transaction that [`Tx::rollback_to_savepoint`] returns to: one
    /// refused event of a batch is undone without the others. Names are this crate's callers'
    /// constants.
    pub async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!("SAVEPOINT {name}")))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Keeps what was written since [`Tx::savepoint`] `name`.
    pub async fn release_savepoint(&mut self, name: &'static str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!("RELEASE {name}")))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Undoes what was written since [`Tx::savepoint`] `name` (and releases it).
    pub async fn rollback_to_savepoint(&mut self, name: &'static str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!("ROLLBACK TO {name}")))
            .execute(&mut *self.tx)
            .await?;
        self.release_savepoint(name).await
    }
}
