//! The ledger's reads on the store's read pool ([`LedgerStore`]): customers, transactions,
//! subscriptions, the notification history, the scheduler's next due work, and the outbox's
//! claims and delivery results.

use super::*;

/// The ledger's queries on the store's read pool, and the outbox's claims and delivery results
/// (single statements on the writer outside a transaction). Implemented for [`Store`] only; its
/// futures are `Send` there (`async_fn_in_trait` is about generic callers).
/// The scheduler's look at due work ([`LedgerStore::ledger_due_summary`]): the earliest due
/// time, and the first and last lease a worker holds on due notifications. The leases are
/// found through `commerce_notif_leases` (migration 0010), not by reading every pending
/// notification due (390,000 after a simulated year took 2 s a look).
pub(crate) const DUE_SUMMARY_SQL: &str = "SELECT (SELECT MIN(t) FROM (
               SELECT MIN(next_event_ms) AS t FROM commerce_subscriptions
                 WHERE next_event_ms IS NOT NULL
               UNION ALL SELECT MIN(due_ms) FROM commerce_mass_extensions WHERE due_ms IS NOT NULL
               UNION ALL SELECT MIN(next_attempt_ms) FROM commerce_notifications
                 WHERE state = 'pending' AND next_attempt_ms IS NOT NULL
                 AND (lease_until_ms IS NULL OR lease_until_ms < $2)) due),
             (SELECT MIN(lease_until_ms) FROM commerce_notifications WHERE state = 'pending'
                 AND next_attempt_ms <= $1 AND lease_until_ms >= $2),
             (SELECT MAX(lease_until_ms) FROM commerce_notifications WHERE state = 'pending'
                 AND next_attempt_ms <= $1 AND lease_until_ms >= $2)";

/// What an attempt leaves of a notification: (seq, attempts, state, next attempt).
pub type AttemptRecord = (i64, Value, &'static str, Option<i64>);

/// A notification's attempts, state and next attempt after an attempt (its lease released).
const RECORD_ATTEMPT_SQL: &str = "UPDATE commerce_notifications SET attempts = $2, state = $3,
     next_attempt_ms = $4, lease_until_ms = NULL WHERE seq = $1";

#[allow(async_fn_in_trait)]
pub trait LedgerStore {
    /// The store the queries run on.
    fn ledger_store(&self) -> &Store;

    async fn ledger_app_by_bundle(&self, bundle_id: &str) -> Result<Option<AppRow>> {
        q::app_by_bundle(
            self.ledger_store().read_pool(),
            self.ledger_store().dialect(),
            bundle_id,
        )
        .await
    }

    /// Every `apps` resource's bundle id.
    async fn ledger_bundle_ids(&self) -> Result<Vec<String>> {
        let bundle_id = self
            .ledger_store()
            .dialect()
            .json_attr("resources", "bundleId");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT {bundle_id} FROM resources WHERE type = 'apps'
             AND {bundle_id} IS NOT NULL ORDER BY seq"
        )))
        .fetch_all(self.ledger_store().read_pool())
        .await?)
    }

    /// `(type, id, attributes)` of every in-app purchase or subscription with this product id.
    async fn ledger_products_named(
        &self,
        product_id: &str,
    ) -> Result<Vec<(String, String, serde_json::Map<String, Value>)>> {
        products_named(
            self.ledger_store().read_pool(),
            self.ledger_store().dialect(),
            product_id,
        )
        .await
    }

    async fn ledger_customer(&self, id: i64) -> Result<Option<CustomerRow>> {
        q::customer(self.ledger_store().read_pool(), id).await
    }

    async fn ledger_customer_by_label(
        &self,
        app_id: &str,
        environment: &str,
        label: &str,
    ) -> Result<Option<CustomerRow>> {
        q::customer_by_label(self.ledger_store().read_pool(), app_id, environment, label).await
    }

    async fn ledger_customer_by_app_transaction(
        &self,
        app_transaction_id: &str,
    ) -> Result<Option<CustomerRow>> {
        q::customer_by_app_transaction(self.ledger_store().read_pool(), app_transaction_id).await
    }

    async fn ledger_transaction(&self, id: &str) -> Result<Option<TransactionRow>> {
        q::transaction(self.ledger_store().read_pool(), id).await
    }

    async fn ledger_chain(&self, original_transaction_id: &str) -> Result<Vec<TransactionRow>> {
        q::chain(self.ledger_store().read_pool(), original_transaction_id).await
    }

    async fn ledger_by_order(&self, order_id: &str) -> Result<Vec<TransactionRow>> {
        q::by_order(self.ledger_store().read_pool(), order_id).await
    }

    async fn ledger_subscription(
        &self,
        original_transaction_id: &str,
    ) -> Result<Option<SubscriptionRow>> {
        q::subscription(self.ledger_store().read_pool(), original_transaction_id).await
    }

    async fn ledger_subscriptions_of(&self, customer_id: i64) -> Result<Vec<SubscriptionRow>> {
        q::subscriptions_of(self.ledger_store().read_pool(), customer_id).await
    }

    async fn ledger_notification(&self, uuid: &str) -> Result<Option<NotificationRow>> {
        q::notification(self.ledger_store().read_pool(), uuid).await
    }

    async fn ledger_mass_extension(
        &self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        request_identifier: &str,
    ) -> Result<Option<MassExtensionRow>> {
        q::mass_extension(
            self.ledger_store().read_pool(),
            app_id,
            environment,
            product_id,
            request_identifier,
        )
        .await
    }

    async fn ledger_record(&self, kind: &str, key: &str) -> Result<Option<Value>> {
        q::record(self.ledger_store().read_pool(), kind, key).await
    }

    async fn ledger_notification_by_test_token(
        &self,
        token: &str,
    ) -> Result<Option<NotificationRow>> {
        let row = sqlx::query("SELECT * FROM commerce_notifications WHERE test_token = $1")
            .bind(token)
            .fetch_optional(self.ledger_store().read_pool())
            .await?;
        row.as_ref().map(notification_from).transpose()
    }

    /// One page of a customer's transaction history (`limit` rows; ask for one more than the
    /// page size to learn `hasMore`).
    async fn ledger_history(&self, h: &HistoryQuery) -> Result<Vec<TransactionRow>> {
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
        let rows = q.build().fetch_all(self.ledger_store().read_pool()).await?;
        rows.iter().map(transaction_from).collect()
    }

    /// One page of a customer's refunded transactions, in refund order.
    async fn ledger_refunds(
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
        .fetch_all(self.ledger_store().read_pool())
        .await?;
        rows.iter().map(transaction_from).collect()
    }

    /// One page of an app's notification history (oldest first).
    async fn ledger_notification_history(
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
        let rows = q.build().fetch_all(self.ledger_store().read_pool()).await?;
        rows.iter().map(notification_from).collect()
    }

    /// Every notification of an app (admin listing), newest last; `limit` most recent.
    async fn ledger_notifications(
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
        .fetch_all(self.ledger_store().read_pool())
        .await?;
        rows.iter().map(notification_from).collect()
    }

    /// Active subscribers of a product (mass extension candidates).
    async fn ledger_subscriptions_of_product(
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
        .fetch_all(self.ledger_store().read_pool())
        .await?;
        rows.iter().map(subscription_from).collect()
    }

    /// A product's subscriptions of an environment with their customer's label, in one statement
    /// (the simulator's resume: one look per subscription took 14 s after a year at 10,000
    /// downloads a day): (original transaction id, customer label, product id, status).
    async fn ledger_subscribers_of_product(
        &self,
        app_id: &str,
        environment: &str,
        product_id: &str,
    ) -> Result<Vec<(String, String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT s.original_transaction_id, c.label, s.product_id, s.status
             FROM commerce_subscriptions s JOIN commerce_customers c ON c.id = s.customer_id
             WHERE s.app_id = $1 AND s.environment = $2 AND s.product_id = $3
             ORDER BY s.original_transaction_id",
        )
        .bind(app_id)
        .bind(environment)
        .bind(product_id)
        .fetch_all(self.ledger_store().read_pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// The earliest due time of scheduled work (subscriptions, mass extensions, notification
    /// attempts not leased at `wall_ms`), each at or before `now`.
    async fn ledger_next_due(&self, now: i64, wall_ms: i64) -> Result<DueWork> {
        // Most looks (the delivery loop's after a commit) find nothing: one statement says so,
        // and also how long another worker's claims on due notifications last.
        let (earliest, _, held_until) = self.ledger_due_summary(now, wall_ms).await?;
        if earliest.is_none_or(|t| t > now) {
            return Ok(DueWork {
                subscription: None,
                mass_extension: None,
                notification_ms: None,
                held_until,
            });
        }
        let sub: Option<(String, i64)> = sqlx::query_as(
            "SELECT original_transaction_id, next_event_ms FROM commerce_subscriptions
             WHERE next_event_ms IS NOT NULL AND next_event_ms <= $1
             ORDER BY next_event_ms, original_transaction_id LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.ledger_store().read_pool())
        .await?;
        let mass: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT app_id, environment, product_id, request_identifier, due_ms
             FROM commerce_mass_extensions WHERE due_ms IS NOT NULL AND due_ms <= $1
             ORDER BY due_ms, request_identifier LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.ledger_store().read_pool())
        .await?;
        let notif: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_ms) FROM commerce_notifications WHERE state = 'pending'
             AND next_attempt_ms <= $1 AND (lease_until_ms IS NULL OR lease_until_ms < $2)",
        )
        .bind(now)
        .bind(wall_ms)
        .fetch_one(self.ledger_store().read_pool())
        .await?;
        Ok(DueWork {
            subscription: sub,
            mass_extension: mass.map(|(a, e, p, r, d)| ((a, e, p, r), d)),
            notification_ms: notif,
            held_until,
        })
    }

    /// When the scheduler next has work, for its loop to sleep until then ([`crate::Commerce::spawn`]):
    /// `(the earliest due time of any scheduled work not leased at wall_ms — virtual ms, maybe
    /// in the past —, the earliest end of a lease held at wall_ms on a notification due at or
    /// before now — wall ms, when another worker's claim lapses)`. One statement.
    async fn ledger_next_wake(&self, now: i64, wall_ms: i64) -> Result<(Option<i64>, Option<i64>)> {
        let (earliest, first_lease_end, _) = self.ledger_due_summary(now, wall_ms).await?;
        Ok((earliest, first_lease_end))
    }

    /// One statement for [`LedgerStore::ledger_next_due`] and [`LedgerStore::ledger_next_wake`]:
    /// the earliest due time of any scheduled work (subscriptions, mass extensions, notification
    /// attempts not leased at `wall_ms`), and the first and last end of the leases held at
    /// `wall_ms` on notifications due at or before `now`.
    async fn ledger_due_summary(
        &self,
        now: i64,
        wall_ms: i64,
    ) -> Result<(Option<i64>, Option<i64>, Option<i64>)> {
        Ok(sqlx::query_as(DUE_SUMMARY_SQL)
            .bind(now)
            .bind(wall_ms)
            .fetch_one(self.ledger_store().read_pool())
            .await?)
    }

    /// The latest lease end (wall ms) of notifications due at or before `now` that a worker
    /// holds at `wall_ms` (another replica posting them right now); `None` when none is held.
    async fn ledger_leased_due(&self, now: i64, wall_ms: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(lease_until_ms) FROM commerce_notifications WHERE state = 'pending'
             AND next_attempt_ms <= $1 AND lease_until_ms >= $2",
        )
        .bind(now)
        .bind(wall_ms)
        .fetch_one(self.ledger_store().read_pool())
        .await?)
    }

    /// Claims up to `limit` notifications whose attempt is due at or before `until` and that no
    /// worker holds at `wall_ms` (never leased, or their lease ran out: a killed replica's),
    /// leasing them until `lease_until` (wall ms) in one statement, due order. On PostgreSQL the
    /// rows are picked `FOR UPDATE SKIP LOCKED` ([`Dialect::skip_locked`]): replicas claiming at
    /// once get different rows, so each attempt is made once (issue 12).
    async fn ledger_claim_notifications(
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
            self.ledger_store().dialect().skip_locked()
        );
        let rows = crabapple_store::with_busy_retry(|| async {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(until)
                .bind(wall_ms)
                .bind(lease_until)
                .bind(limit)
                .fetch_all(self.ledger_store().write_pool())
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
    async fn ledger_set_signed_payload(&self, seq: i64, jws: &str) -> Result<String> {
        let mut tx = self.ledger_store().begin().await?;
        let stored: Option<String> = sqlx::query_scalar(
            "UPDATE commerce_notifications SET signed_payload = CASE signed_payload WHEN ''
             THEN $2 ELSE signed_payload END WHERE seq = $1 RETURNING signed_payload",
        )
        .bind(seq)
        .bind(jws)
        .fetch_optional(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(stored.unwrap_or_else(|| jws.to_string()))
    }

    /// Records an attempt and what comes next (`next_attempt_ms` when pending), releasing the lease.
    async fn ledger_record_attempt(
        &self,
        seq: i64,
        attempts: &Value,
        state: &str,
        next_attempt_ms: Option<i64>,
    ) -> Result<()> {
        crabapple_store::with_busy_retry(|| async {
            Ok(sqlx::query(RECORD_ATTEMPT_SQL)
                .bind(seq)
                .bind(serde_json::to_string(attempts)?)
                .bind(state)
                .bind(next_attempt_ms)
                .execute(self.ledger_store().write_pool())
                .await?)
        })
        .await?;
        Ok(())
    }

    /// [`Self::ledger_record_attempt`] of several notifications in one transaction.
    async fn ledger_record_attempts(&self, recs: &[AttemptRecord]) -> Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        let mut tx = self.ledger_store().begin().await?;
        for (seq, attempts, state, next) in recs {
            sqlx::query(RECORD_ATTEMPT_SQL)
                .bind(seq)
                .bind(serde_json::to_string(attempts)?)
                .bind(*state)
                .bind(*next)
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await
    }

    /// Puts a notification back in the outbox, due at `at_ms` (the inspector's resend): pending,
    /// unleased, its earlier attempts kept. False when there is no such notification.
    async fn ledger_requeue_notification(&self, uuid: &str, at_ms: i64) -> Result<bool> {
        let r = crabapple_store::with_busy_retry(|| async {
            Ok(sqlx::query(
                "UPDATE commerce_notifications SET state = 'pending', next_attempt_ms = $2,
                 lease_until_ms = NULL WHERE notification_uuid = $1",
            )
            .bind(uuid)
            .bind(at_ms)
            .execute(self.ledger_store().write_pool())
            .await?)
        })
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Drops every delivery lease (a starting server owns the outbox; a killed one's leases
    /// must not delay redelivery). On PostgreSQL other replicas may be delivering under their
    /// leases right now: nothing is dropped, and a killed replica's leases simply expire (the
    /// attempt's timeout and a minute), after which a survivor delivers.
    async fn ledger_clear_leases(&self) -> Result<u64> {
        if self.ledger_store().dialect() == Dialect::Postgres {
            return Ok(0);
        }
        let r = crabapple_store::with_busy_retry(|| async {
            Ok(sqlx::query(
                "UPDATE commerce_notifications SET lease_until_ms = NULL WHERE lease_until_ms IS NOT NULL",
            )
            .execute(self.ledger_store().write_pool())
            .await?)
        })
        .await?;
        Ok(r.rows_affected())
    }

    /// Rows of every commerce ledger table and counter values, `(table or counter, count or
    /// value)`: a fingerprint that changes whenever an event writes anything (tests use it to
    /// show a refused event left the ledger as it was).
    async fn ledger_fingerprint(&self) -> Result<Vec<(String, i64)>> {
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
        .fetch_all(self.ledger_store().read_pool())
        .await?;
        out.extend(
            sqlx::query_as::<_, (String, i64)>(
                "SELECT name, value FROM commerce_counters ORDER BY name",
            )
            .fetch_all(self.ledger_store().read_pool())
            .await?,
        );
        Ok(out)
    }

    /// Counts of notifications by state (admin status).
    async fn ledger_notification_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT state, COUNT(*) FROM commerce_notifications GROUP BY state ORDER BY state",
        )
        .fetch_all(self.ledger_store().read_pool())
        .await?)
    }
}

impl LedgerStore for Store {
    fn ledger_store(&self) -> &Store {
        self
    }
}
