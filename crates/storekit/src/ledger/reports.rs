//! Read queries of the subscription reports (crabapple-reports' subscription family): the
//! auto-renewable transactions and notifications of one reporting day, and each subscription's
//! latest transaction as of a moment. Read-only; every range is half-open `[start_ms, end_ms)`.

use super::{
    CustomerRow, NotificationRow, TransactionRow, customer_from, notification_from,
    transaction_from,
};
use anyhow::Result;
use crabapple_store::{DbRow, Store};
use sqlx::Row;

/// The rows `sql` finds on the read pool with `$1` = `environment` and the range
/// `[$2, $3)` = `[start_ms, end_ms)`.
async fn in_range<T>(
    store: &Store,
    sql: &'static str,
    environment: &str,
    start_ms: i64,
    end_ms: i64,
    row: fn(&DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = sqlx::query(sql)
        .bind(environment)
        .bind(start_ms)
        .bind(end_ms)
        .fetch(store.read_pool());
    each_row(rows, row).await
}

/// The rows of a statement, each made a `T` as it arrives: a month of a big app's transactions
/// was held twice at once, as the driver's rows and as `T`s (70 MB and 30 MB of an Analytics
/// Purchases file's peak after a simulated year at 10,000 downloads a day).
async fn each_row<'a, T>(
    mut rows: futures_util::stream::BoxStream<'a, sqlx::Result<DbRow>>,
    row: fn(&DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    use futures_util::TryStreamExt;
    let mut out = Vec::new();
    while let Some(r) = rows.try_next().await? {
        out.push(row(&r)?);
    }
    Ok(out)
}

/// Auto-renewable transactions of environment `$1` with their customer's `originalPlatform`
/// (the app transaction's), read through `index` on SQLite
/// ([`crabapple_store::Dialect::indexed_by`]), the rest of the statement (`$2`, `$3` and the
/// order) being `rest`.
fn with_platform_sql(d: crabapple_store::Dialect, index: &str, rest: &str) -> String {
    format!(
        "SELECT t.*, {} AS platform
         FROM commerce_transactions t{} JOIN commerce_customers c ON c.id = t.customer_id
         WHERE t.product_type = 'AUTO_RENEWABLE' AND t.environment = $1 {rest}",
        d.json_text("c.app_transaction", "originalPlatform"),
        d.indexed_by(index)
    )
}

/// The rows of a [`with_platform_sql`] statement with `$1..$3` bound.
async fn with_platform(
    store: &Store,
    sql: String,
    environment: &str,
    p2: i64,
    p3: i64,
) -> Result<Vec<(TransactionRow, Option<String>)>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(environment)
        .bind(p2)
        .bind(p3)
        .fetch(store.read_pool());
    each_row(rows, |r| Ok((transaction_from(r)?, r.try_get("platform")?))).await
}

/// Each subscription's latest transaction bought before `$2` and expiring from `$3` on
/// ([`LedgerReports::report_latest_subscription_transactions`]). The candidates come through
/// `commerce_tx_sub_expiry` (migration 0010): the transactions still running at the start of
/// the billing-retry window, not every one bought before the day.
pub(crate) fn latest_subscription_sql(d: crabapple_store::Dialect) -> String {
    with_platform_sql(
        d,
        "commerce_tx_sub_expiry",
        "AND t.purchase_ms < $2 AND COALESCE(t.expires_ms, t.purchase_ms) >= $3
         AND NOT EXISTS (
           SELECT 1 FROM commerce_transactions u
           WHERE u.original_transaction_id = t.original_transaction_id AND u.purchase_ms < $2
           AND (u.purchase_ms > t.purchase_ms
                OR (u.purchase_ms = t.purchase_ms AND u.transaction_id > t.transaction_id)))
         ORDER BY t.original_transaction_id",
    )
}

/// The notifications that change a lapsing subscription's state, signed in `[$2, $3)`
/// ([`LedgerReports::report_status_notifications`]), found through `commerce_notif_by_date`
/// (migration 0010).
const STATUS_NOTIFICATIONS_SQL: &str = "SELECT transaction_id, notification_type, subtype,
     seq, signed_date_ms
     FROM commerce_notifications
     WHERE environment = $1 AND signed_date_ms >= $2 AND signed_date_ms < $3
     AND transaction_id IS NOT NULL AND notification_type IN ('DID_FAIL_TO_RENEW',
     'GRACE_PERIOD_EXPIRED', 'EXPIRED', 'REFUND', 'REVOKE')
     ORDER BY seq";

/// A notification that changes a lapsing subscription's state
/// ([`LedgerReports::report_status_notifications`]).
#[derive(Debug, Clone)]
pub struct StatusNotification {
    pub transaction_id: String,
    pub notification_type: String,
    pub subtype: Option<String>,
    pub seq: i64,
    pub signed_date_ms: i64,
}

/// The ledger's queries for the reports families (crabapple-reports), on the store's read pool.
/// Implemented for [`Store`] only.
#[allow(async_fn_in_trait)]
pub trait LedgerReports {
    /// The store the queries run on.
    fn reports_store(&self) -> &Store;

    /// Auto-renewable transactions of `environment` bought or refunded in `[start_ms, end_ms)`,
    /// in purchase order.
    async fn report_subscription_transactions(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TransactionRow>> {
        in_range(
            self.reports_store(),
            "SELECT * FROM commerce_transactions WHERE product_type = 'AUTO_RENEWABLE'
             AND environment = $1 AND ((purchase_ms >= $2 AND purchase_ms < $3)
             OR (revoked_ms >= $2 AND revoked_ms < $3))
             ORDER BY purchase_ms, transaction_id",
            environment,
            start_ms,
            end_ms,
            transaction_from,
        )
        .await
    }

    /// Each auto-renewable subscription's latest transaction bought before `end_ms` (one per
    /// original transaction) and expiring (or bought, without expiry) from `expires_from_ms` on,
    /// in original transaction order, with its customer's `originalPlatform` (the app
    /// transaction's).
    async fn report_latest_subscription_transactions(
        &self,
        environment: &str,
        expires_from_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(TransactionRow, Option<String>)>> {
        let store = self.reports_store();
        with_platform(
            store,
            latest_subscription_sql(store.dialect()),
            environment,
            end_ms,
            expires_from_ms,
        )
        .await
    }

    /// Auto-renewable transactions of `environment` bought in `[start_ms, end_ms)`, in purchase
    /// order (then id), with their customer's `originalPlatform`: a day's additions to
    /// [`LedgerReports::report_latest_subscription_transactions`].
    async fn report_subscription_purchases(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(TransactionRow, Option<String>)>> {
        let store = self.reports_store();
        // Through the purchase date's index: SQLite's planner, without statistics, took
        // `commerce_tx_sub_expiry` (the environment's every subscription transaction, 270 ms a
        // day after a simulated year at 10,000 downloads a day) for its equality on the
        // environment.
        let sql = with_platform_sql(
            store.dialect(),
            "commerce_transactions_purchase",
            "AND t.purchase_ms >= $2 AND t.purchase_ms < $3 ORDER BY t.purchase_ms, t.transaction_id",
        );
        with_platform(store, sql, environment, start_ms, end_ms).await
    }

    /// The notifications of `environment` signed in `[start_ms, end_ms)` that change a lapsing
    /// subscription's state (DID_FAIL_TO_RENEW, GRACE_PERIOD_EXPIRED, EXPIRED, REFUND, REVOKE),
    /// in outbox order.
    async fn report_status_notifications(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<StatusNotification>> {
        let rows: Vec<(String, String, Option<String>, i64, i64)> =
            sqlx::query_as(STATUS_NOTIFICATIONS_SQL)
                .bind(environment)
                .bind(start_ms)
                .bind(end_ms)
                .fetch_all(self.reports_store().read_pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(
                |(transaction_id, notification_type, subtype, seq, signed_date_ms)| {
                    StatusNotification {
                        transaction_id,
                        notification_type,
                        subtype,
                        seq,
                        signed_date_ms,
                    }
                },
            )
            .collect())
    }

    /// Each auto-renewable subscription's tenure before `end_ms`: `(original transaction id,
    /// days of paid service, purchase time of its latest win-back offer)`. Paid service counts
    /// the periods charged (a price above 0, not a free trial) and not refunded.
    async fn report_subscription_tenures(
        &self,
        environment: &str,
        end_ms: i64,
    ) -> Result<Vec<(String, i64, Option<i64>)>> {
        let d = self.reports_store().dialect();
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT original_transaction_id,
               CAST(SUM(CASE WHEN revoked = 0 AND COALESCE({price}, 0) > 0
                   AND COALESCE({discount}, '') <> 'FREE_TRIAL'
                   THEN (COALESCE(expires_ms, purchase_ms) - purchase_ms) / 86400000 ELSE 0 END)
                 AS BIGINT),
               MAX(CASE WHEN {offer} = 4 THEN purchase_ms END)
             FROM commerce_transactions WHERE product_type = 'AUTO_RENEWABLE'
             AND environment = $1 AND purchase_ms < $2 GROUP BY original_transaction_id",
            price = d.json_num("payload", "price"),
            discount = d.json_text("payload", "offerDiscountType"),
            offer = d.json_num("payload", "offerType"),
        )))
        .bind(environment)
        .bind(end_ms)
        .fetch_all(self.reports_store().read_pool())
        .await?)
    }

    /// Notifications of `environment` signed in `[start_ms, end_ms)` that are about a customer's
    /// transaction, in outbox order.
    async fn report_notifications(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<NotificationRow>> {
        in_range(
            self.reports_store(),
            "SELECT * FROM commerce_notifications WHERE environment = $1
             AND signed_date_ms >= $2 AND signed_date_ms < $3 AND transaction_id IS NOT NULL
             ORDER BY seq",
            environment,
            start_ms,
            end_ms,
            notification_from,
        )
        .await
    }

    /// The transactions the notifications of `environment` signed in `[start_ms, end_ms)` are
    /// about (each once).
    async fn report_notified_transactions(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TransactionRow>> {
        in_range(
            self.reports_store(),
            "SELECT * FROM commerce_transactions WHERE transaction_id IN (
               SELECT transaction_id FROM commerce_notifications WHERE environment = $1
               AND signed_date_ms >= $2 AND signed_date_ms < $3 AND transaction_id IS NOT NULL)",
            environment,
            start_ms,
            end_ms,
            transaction_from,
        )
        .await
    }

    /// The customers of the notifications of `environment` signed in `[start_ms, end_ms)` (a
    /// day's subscription events read them all at once, not one statement each).
    async fn report_notified_customers(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<CustomerRow>> {
        in_range(
            self.reports_store(),
            "SELECT * FROM commerce_customers WHERE id IN (
               SELECT customer_id FROM commerce_notifications WHERE environment = $1
               AND signed_date_ms >= $2 AND signed_date_ms < $3 AND customer_id IS NOT NULL)",
            environment,
            start_ms,
            end_ms,
            customer_from,
        )
        .await
    }

    /// A customer's notifications signed before `end_ms`, in outbox order.
    async fn report_customer_notifications(
        &self,
        customer_id: i64,
        end_ms: i64,
    ) -> Result<Vec<NotificationRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_notifications WHERE customer_id = $1 AND signed_date_ms < $2
             ORDER BY seq",
        )
        .bind(customer_id)
        .bind(end_ms)
        .fetch_all(self.reports_store().read_pool())
        .await?;
        rows.iter().map(notification_from).collect()
    }

    /// Transactions bought or refunded in `[start_ms, end_ms)` (through the purchase and refund
    /// time indexes), by purchase time then id.
    async fn report_transactions(&self, start_ms: i64, end_ms: i64) -> Result<Vec<TransactionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_transactions WHERE purchase_ms >= $1 AND purchase_ms < $2 \
             UNION SELECT * FROM commerce_transactions WHERE revoked_ms >= $1 AND revoked_ms < $2 \
             ORDER BY purchase_ms, transaction_id",
        )
        .bind(start_ms)
        .bind(end_ms)
        .fetch(self.reports_store().read_pool());
        each_row(rows, transaction_from).await
    }

    /// Whether the ledger still has work dated before `end_ms` (a renewal, billing retry or
    /// mass extension the scheduler has not run yet, e.g. right after the clock jumped): the
    /// files of a period ending at `end_ms` may still change until it has run.
    async fn report_work_due_before(&self, end_ms: i64) -> Result<bool> {
        // An integer, not a boolean: SQLite has no boolean type and PostgreSQL's is not SQLite's.
        let due: i64 = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM commerce_subscriptions
                            WHERE next_event_ms IS NOT NULL AND next_event_ms < $1)
                 OR EXISTS (SELECT 1 FROM commerce_mass_extensions
                            WHERE due_ms IS NOT NULL AND due_ms < $1) THEN 1 ELSE 0 END",
        )
        .bind(end_ms)
        .fetch_one(self.reports_store().read_pool())
        .await?;
        Ok(due != 0)
    }
}

impl LedgerReports for Store {
    fn reports_store(&self) -> &Store {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` with `binds`: its `detail` lines.
    async fn plan(store: &Store, sql: &str, binds: &[&str]) -> Vec<String> {
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b.to_string());
        }
        q.fetch_all(store.read_pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect()
    }

    /// Migration 0010: a day's latest subscription transactions, the scheduler's look at held
    /// leases and a day's status notifications are read through their indexes, with bound values as the server runs them, instead
    /// of a scan of every transaction bought or every notification pending.
    #[tokio::test]
    async fn ledger_reads_that_grew_with_the_years_use_their_indexes() {
        let dir = std::env::temp_dir().join(format!("crabapple-plans-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("db.sqlite")).await.unwrap();
        let latest = plan(
            &store,
            &latest_subscription_sql(store.dialect()),
            &["Production", "2", "1"],
        )
        .await;
        assert!(
            latest[0].contains("USING INDEX commerce_tx_sub_expiry"),
            "{latest:?}"
        );
        let due = plan(&store, super::super::read::DUE_SUMMARY_SQL, &["2", "1"]).await;
        let leases: Vec<_> = due
            .iter()
            .filter(|d| d.contains("commerce_notifications"))
            .collect();
        assert_eq!(leases.len(), 3, "{due:?}");
        assert!(
            leases[1..]
                .iter()
                .all(|d| d.contains("USING INDEX commerce_notif_leases")),
            "{due:?}"
        );
        let status = plan(&store, STATUS_NOTIFICATIONS_SQL, &["Production", "1", "2"]).await;
        assert!(
            status[0].contains("USING INDEX commerce_notif_by_date"),
            "{status:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
