//! Queries shared by the read pool (`Store`) and write transactions (`Tx`).

use super::*;

pub async fn app_by_bundle<'e, E: Executor<'e, Database = Db>>(
    e: E,
    d: Dialect,
    bundle_id: &str,
) -> Result<Option<AppRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, attributes FROM resources WHERE type = 'apps'
         AND {} = $1 ORDER BY seq LIMIT 1",
        d.json_attr("resources", "bundleId")
    )))
    .bind(bundle_id)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        let attrs: String = r.try_get("attributes")?;
        let attributes = match serde_json::from_str::<Value>(&attrs)? {
            Value::Object(m) => m,
            _ => Default::default(),
        };
        Ok(AppRow {
            id: r.try_get("id")?,
            bundle_id: bundle_id.to_string(),
            attributes: attributes.into(),
        })
    })
    .transpose()
}

pub async fn customer<'e, E: Executor<'e, Database = Db>>(
    e: E,
    id: i64,
) -> Result<Option<CustomerRow>> {
    let row = sqlx::query("SELECT * FROM commerce_customers WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(customer_from).transpose()
}

pub async fn customer_by_label<'e, E: Executor<'e, Database = Db>>(
    e: E,
    app_id: &str,
    environment: &str,
    label: &str,
) -> Result<Option<CustomerRow>> {
    let row = sqlx::query(
        "SELECT * FROM commerce_customers WHERE app_id = $1 AND environment = $2 AND label = $3",
    )
    .bind(app_id)
    .bind(environment)
    .bind(label)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(customer_from).transpose()
}

pub async fn customer_by_app_transaction<'e, E: Executor<'e, Database = Db>>(
    e: E,
    app_transaction_id: &str,
) -> Result<Option<CustomerRow>> {
    let row = sqlx::query("SELECT * FROM commerce_customers WHERE app_transaction_id = $1")
        .bind(app_transaction_id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(customer_from).transpose()
}

pub async fn transaction<'e, E: Executor<'e, Database = Db>>(
    e: E,
    id: &str,
) -> Result<Option<TransactionRow>> {
    let row = sqlx::query("SELECT * FROM commerce_transactions WHERE transaction_id = $1")
        .bind(id)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(transaction_from).transpose()
}

/// Transactions of one original transaction, oldest purchase first.
pub async fn chain<'e, E: Executor<'e, Database = Db>>(
    e: E,
    original_transaction_id: &str,
) -> Result<Vec<TransactionRow>> {
    let rows = sqlx::query(
        "SELECT * FROM commerce_transactions WHERE original_transaction_id = $1
         ORDER BY purchase_ms, mod_seq",
    )
    .bind(original_transaction_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(transaction_from).collect()
}

pub async fn by_order<'e, E: Executor<'e, Database = Db>>(
    e: E,
    order_id: &str,
) -> Result<Vec<TransactionRow>> {
    let rows = sqlx::query(
        "SELECT * FROM commerce_transactions WHERE order_id = $1 ORDER BY purchase_ms, mod_seq",
    )
    .bind(order_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(transaction_from).collect()
}

pub async fn subscription<'e, E: Executor<'e, Database = Db>>(
    e: E,
    original_transaction_id: &str,
) -> Result<Option<SubscriptionRow>> {
    let row =
        sqlx::query("SELECT * FROM commerce_subscriptions WHERE original_transaction_id = $1")
            .bind(original_transaction_id)
            .fetch_optional(e)
            .await?;
    row.as_ref().map(subscription_from).transpose()
}

pub async fn subscriptions_of<'e, E: Executor<'e, Database = Db>>(
    e: E,
    customer_id: i64,
) -> Result<Vec<SubscriptionRow>> {
    let rows = sqlx::query(
        "SELECT * FROM commerce_subscriptions WHERE customer_id = $1
         ORDER BY group_id, original_transaction_id",
    )
    .bind(customer_id)
    .fetch_all(e)
    .await?;
    rows.iter().map(subscription_from).collect()
}

pub async fn notification<'e, E: Executor<'e, Database = Db>>(
    e: E,
    uuid: &str,
) -> Result<Option<NotificationRow>> {
    let row = sqlx::query("SELECT * FROM commerce_notifications WHERE notification_uuid = $1")
        .bind(uuid)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(notification_from).transpose()
}

pub async fn mass_extension<'e, E: Executor<'e, Database = Db>>(
    e: E,
    app_id: &str,
    environment: &str,
    product_id: &str,
    request_identifier: &str,
) -> Result<Option<MassExtensionRow>> {
    let row = sqlx::query(
        "SELECT * FROM commerce_mass_extensions WHERE app_id = $1 AND environment = $2
         AND product_id = $3 AND request_identifier = $4",
    )
    .bind(app_id)
    .bind(environment)
    .bind(product_id)
    .bind(request_identifier)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(mass_from).transpose()
}

pub async fn record<'e, E: Executor<'e, Database = Db>>(
    e: E,
    kind: &str,
    key: &str,
) -> Result<Option<Value>> {
    let v: Option<String> =
        sqlx::query_scalar("SELECT value FROM commerce_records WHERE kind = $1 AND key = $2")
            .bind(kind)
            .bind(key)
            .fetch_optional(e)
            .await?;
    v.map(|s| Ok(serde_json::from_str(&s)?)).transpose()
}
