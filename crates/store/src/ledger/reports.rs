//! Read queries of the subscription reports (crabapple-reports' subscription family): the
//! auto-renewable transactions and notifications of one reporting day, and each subscription's
//! latest transaction as of a moment. Read-only; every range is half-open `[start_ms, end_ms)`.

use super::{NotificationRow, TransactionRow, notification_from, transaction_from};
use crate::Store;
use anyhow::Result;

impl Store {
    /// Auto-renewable transactions of `environment` bought or refunded in `[start_ms, end_ms)`,
    /// in purchase order.
    pub async fn report_subscription_transactions(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TransactionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_transactions WHERE product_type = 'AUTO_RENEWABLE'
             AND environment = $1 AND ((purchase_ms >= $2 AND purchase_ms < $3)
             OR (revoked_ms >= $2 AND revoked_ms < $3))
             ORDER BY purchase_ms, transaction_id",
        )
        .bind(environment)
        .bind(start_ms)
        .bind(end_ms)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(transaction_from).collect()
    }

    /// Each auto-renewable subscription's latest transaction bought before `end_ms` (one per
    /// original transaction), in original transaction order.
    pub async fn report_latest_subscription_transactions(
        &self,
        environment: &str,
        end_ms: i64,
    ) -> Result<Vec<TransactionRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_transactions t WHERE product_type = 'AUTO_RENEWABLE'
             AND environment = $1 AND purchase_ms < $2 AND NOT EXISTS (
               SELECT 1 FROM commerce_transactions u
               WHERE u.original_transaction_id = t.original_transaction_id AND u.purchase_ms < $2
               AND (u.purchase_ms > t.purchase_ms
                    OR (u.purchase_ms = t.purchase_ms AND u.transaction_id > t.transaction_id)))
             ORDER BY original_transaction_id",
        )
        .bind(environment)
        .bind(end_ms)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(transaction_from).collect()
    }

    /// Notifications of `environment` signed in `[start_ms, end_ms)` that are about a customer's
    /// transaction, in outbox order.
    pub async fn report_notifications(
        &self,
        environment: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<NotificationRow>> {
        let rows = sqlx::query(
            "SELECT * FROM commerce_notifications WHERE environment = $1
             AND signed_date_ms >= $2 AND signed_date_ms < $3 AND transaction_id IS NOT NULL
             ORDER BY seq",
        )
        .bind(environment)
        .bind(start_ms)
        .bind(end_ms)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(notification_from).collect()
    }

    /// A customer's notifications signed before `end_ms`, in outbox order.
    pub async fn report_customer_notifications(
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
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(notification_from).collect()
    }
}
