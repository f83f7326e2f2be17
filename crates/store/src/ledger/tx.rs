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
        self.drop_pending_ledger();
        self.memo.forget();
        for q in crate::messaging::MESSAGING_CLEAR
            .iter()
            .chain(crate::reports::REPORTS_CLEAR)
            .chain(LEDGER_CLEAR)
        {
            sqlx::query(*q).execute(&mut *self.tx).await?;
        }
        let restart = self.store.dialect.restart_ids_sql(LEDGER_KEYS);
        sqlx::query(sqlx::AssertSqlSafe(restart))
            .execute(&mut *self.tx)
            .await?;
        crate::reports::new_generation(&mut self.tx).await
    }

    pub async fn ledger_app_by_bundle(&mut self, bundle_id: &str) -> Result<Option<AppRow>> {
        q::app_by_bundle(&mut *self.tx, self.store.dialect, bundle_id).await
    }

    pub async fn ledger_products_named(
        &mut self,
        product_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Map<String, Value>)>> {
        products_named(&mut *self.tx, self.store.dialect, product_id).await
    }

    pub async fn ledger_linked_any(
        &mut self,
        rtype: &str,
        id: &str,
        other_type: &str,
    ) -> Result<Vec<String>> {
        let key = (rtype.to_string(), id.to_string(), other_type.to_string());
        if let Some(ids) = self.memo.linked_any.get(&key) {
            return Ok(ids.clone());
        }
        let ids = q::linked_any(&mut *self.tx, rtype, id, other_type).await?;
        self.memo.linked_any.insert(key, ids.clone());
        Ok(ids)
    }

    pub async fn ledger_customer(&mut self, id: i64) -> Result<Option<CustomerRow>> {
        if self.overlay.is_some() {
            return self.ov_customer(id).await;
        }
        q::customer(&mut *self.tx, id).await
    }

    pub async fn ledger_customer_by_label(
        &mut self,
        app_id: &str,
        environment: &str,
        label: &str,
    ) -> Result<Option<CustomerRow>> {
        if self.overlay.is_some() {
            return self.ov_customer_by_label(app_id, environment, label).await;
        }
        q::customer_by_label(&mut *self.tx, app_id, environment, label).await
    }

    pub async fn ledger_insert_customer(&mut self, c: &CustomerRow) -> Result<i64> {
        if self.overlay.is_some() {
            return self.ov_insert_customer(c).await;
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
        .bind(serde_json::to_string(&c.app_transaction)?)
        .bind(c.created_ms)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    pub async fn ledger_set_customer_token(&mut self, id: i64, token: Option<&str>) -> Result<()> {
        if self.overlay.is_some() {
            return self.ov_set_customer_token(id, token).await;
        }
        sqlx::query("UPDATE commerce_customers SET app_account_token = $2 WHERE id = $1")
            .bind(id)
            .bind(token)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn ledger_transaction(&mut self, id: &str) -> Result<Option<TransactionRow>> {
        if self.overlay.is_some() {
            return self.ov_transaction(id).await;
        }
        q::transaction(&mut *self.tx, id).await
    }

    pub async fn ledger_chain(
        &mut self,
        original_transaction_id: &str,
    ) -> Result<Vec<TransactionRow>> {
        if self.overlay.is_some() {
            return self.ov_chain(original_transaction_id).await;
        }
        q::chain(&mut *self.tx, original_transaction_id).await
    }

    /// Inserts or replaces a transaction; assigns it the next modification sequence (and a
    /// refund sequence when it became revoked by a refund). Returns the stored row.
    pub async fn ledger_put_transaction(&mut self, t: &TransactionRow) -> Result<TransactionRow> {
        let mut t = t.clone();
        t.mod_seq = self.ledger_next("mod_seq", 1).await?;
        if self.overlay.is_some() {
            self.ov_put_transaction(t.clone());
        } else {
            upsert_transactions(&mut self.tx, std::slice::from_ref(&t)).await?;
        }
        Ok(t)
    }

    /// Whether a customer holds an unrevoked transaction of a product.
    pub async fn ledger_customer_owns(
        &mut self,
        customer_id: i64,
        product_id: &str,
    ) -> Result<bool> {
        if self.overlay.is_some() {
            return self.ov_customer_owns(customer_id, product_id).await;
        }
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
        if self.overlay.is_some() {
            let Some(mut t) = self.ov_transaction(transaction_id).await? else {
                return Ok(false);
            };
            t.finished = true;
            self.ov_put_transaction(t);
            return Ok(true);
        }
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
        if self.overlay.is_some() {
            return self.ov_subscription(original_transaction_id).await;
        }
        q::subscription(&mut *self.tx, original_transaction_id).await
    }

    pub async fn ledger_subscriptions_of(
        &mut self,
        customer_id: i64,
    ) -> Result<Vec<SubscriptionRow>> {
        if self.overlay.is_some() {
            return self.ov_subscriptions_of(customer_id).await;
        }
        q::subscriptions_of(&mut *self.tx, customer_id).await
    }

    pub async fn ledger_put_subscription(&mut self, s: &SubscriptionRow) -> Result<()> {
        self.due_window_saw(s);
        if self.overlay.is_some() {
            self.ov_put_subscription(s);
            return Ok(());
        }
        upsert_subscriptions(&mut self.tx, std::slice::from_ref(s)).await
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
        .execute(self.write_conn().await?)
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
        .execute(self.write_conn().await?)
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
}

/// Inserts customers with their ids (a batch assigns them, [`super::overlay`]).
pub(super) async fn insert_customers(
    conn: &mut crate::db::DbConn,
    rows: &[CustomerRow],
) -> Result<()> {
    let mut q = QueryBuilder::new(
        "INSERT INTO commerce_customers (id, app_id, bundle_id, environment, label,
         app_account_token, storefront, app_transaction_id, app_transaction, created_ms) ",
    );
    let json: Vec<String> = rows
        .iter()
        .map(|c| serde_json::to_string(&c.app_transaction))
        .collect::<std::result::Result<_, _>>()?;
    q.push_values(rows.iter().zip(&json), |mut b, (c, j)| {
        b.push_bind(c.id)
            .push_bind(c.app_id.clone())
            .push_bind(c.bundle_id.clone())
            .push_bind(c.environment.clone())
            .push_bind(c.label.clone())
            .push_bind(c.app_account_token.clone())
            .push_bind(c.storefront.clone())
            .push_bind(c.app_transaction_id.clone())
            .push_bind(j.clone())
            .push_bind(c.created_ms);
    });
    q.push(" ON CONFLICT (id) DO UPDATE SET app_account_token = excluded.app_account_token");
    q.build()
        .persistent(recurs(rows.len()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces transactions (their modification sequence already assigned).
pub(super) async fn upsert_transactions(
    conn: &mut crate::db::DbConn,
    rows: &[TransactionRow],
) -> Result<()> {
    let mut q = QueryBuilder::new(
        "INSERT INTO commerce_transactions (transaction_id, original_transaction_id, customer_id,
         app_id, bundle_id, environment, product_id, product_type, group_id, order_id,
         web_order_line_item_id, ownership, purchase_ms, expires_ms, revoked, revoked_ms,
         finished, mod_seq, refund_seq, modified_ms, payload) ",
    );
    let json: Vec<String> = rows
        .iter()
        .map(|t| serde_json::to_string(&t.payload))
        .collect::<std::result::Result<_, _>>()?;
    q.push_values(rows.iter().zip(&json), |mut b, (t, j)| {
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
            .push_bind(j.clone());
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
    q.build()
        .persistent(recurs(rows.len()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or replaces subscriptions' renewal state.
pub(super) async fn upsert_subscriptions(
    conn: &mut crate::db::DbConn,
    rows: &[SubscriptionRow],
) -> Result<()> {
    let mut q = QueryBuilder::new(
        "INSERT INTO commerce_subscriptions (original_transaction_id, customer_id, app_id,
         bundle_id, environment, group_id, product_id, status, expires_ms,
         latest_transaction_id, ownership, storefront, next_event_ms, renewal, state, updated_ms) ",
    );
    let json: Vec<(String, String)> = rows
        .iter()
        .map(|s| {
            Ok((
                serde_json::to_string(&s.renewal)?,
                serde_json::to_string(&s.state)?,
            ))
        })
        .collect::<Result<_>>()?;
    q.push_values(rows.iter().zip(&json), |mut b, (s, (renewal, state))| {
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
            .push_bind(renewal.clone())
            .push_bind(state.clone())
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
    q.build()
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
