//! Persistence of the Retention Messaging API (Apple's `/inApps/v1/messaging/...`): uploaded
//! images (the PNG and its review state), messages (Apple's `UploadMessageRequestBody` as JSON),
//! default messages per product and locale, the Get Retention Message endpoint URL and the
//! performance tests run against it. Everything is scoped to an app and an environment. The
//! storekit room decides what is valid; this module only stores and reads, through the store's
//! generic pools and transactions ([`MessagingStore`] on a [`Store`], [`MessagingTx`] in a
//! [`Tx`]).

use anyhow::Result;
use crabapple_store::{Db, DbRow, Store, Tx};
use serde_json::Value;
use sqlx::query::Query;
use sqlx::{Executor, Row, SqlSafeStr};

/// An uploaded image (without its PNG bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub image_identifier: String,
    /// `FULL_SIZE | BULLET_POINT`
    pub image_size: String,
    /// `PENDING | APPROVED | REJECTED`
    pub image_state: String,
    pub width: i64,
    pub height: i64,
    pub created_ms: i64,
}

/// An uploaded message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub message_identifier: String,
    /// `PENDING | APPROVED | REJECTED`
    pub message_state: String,
    /// Apple's `UploadMessageRequestBody`.
    pub body: Value,
    pub created_ms: i64,
}

/// A performance test of the sandbox Get Retention Message endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceTestRow {
    pub request_id: String,
    pub app_id: String,
    pub environment: String,
    /// `PENDING | PASS | FAIL`
    pub status: String,
    /// Apple's `PerformanceTestResultResponse`.
    pub result: Value,
    pub created_ms: i64,
}

/// Which review state to set: an image's or a message's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviewed {
    Image,
    Message,
}

/// Tables emptied by a commerce reset, children first.
pub(crate) const MESSAGING_CLEAR: &[&str] = &[
    "DELETE FROM messaging_performance_tests",
    "DELETE FROM messaging_realtime_urls",
    "DELETE FROM messaging_defaults",
    "DELETE FROM messaging_message_images",
    "DELETE FROM messaging_messages",
    "DELETE FROM messaging_images",
];

const IMAGE_COLS: &str = "image_identifier, image_size, image_state, width, height, created_ms";
const MESSAGE_COLS: &str = "message_identifier, message_state, body, created_ms";

fn image_row(r: &DbRow) -> ImageRow {
    ImageRow {
        image_identifier: r.get(0),
        image_size: r.get(1),
        image_state: r.get(2),
        width: r.get(3),
        height: r.get(4),
        created_ms: r.get(5),
    }
}

/// A JSON text column (`null` if it doesn't parse).
fn json_at(r: &DbRow, i: usize) -> Value {
    serde_json::from_str(r.get(i)).unwrap_or(Value::Null)
}

fn message_row(r: &DbRow) -> MessageRow {
    MessageRow {
        message_identifier: r.get(0),
        message_state: r.get(1),
        body: json_at(r, 2),
        created_ms: r.get(3),
    }
}

fn test_row(r: &DbRow) -> PerformanceTestRow {
    PerformanceTestRow {
        request_id: r.get(0),
        app_id: r.get(1),
        environment: r.get(2),
        status: r.get(3),
        result: json_at(r, 4),
        created_ms: r.get(5),
    }
}

/// `sql` with `keys` bound to `$1, $2, …` in order: the app, the environment, then the row's
/// own keys (every statement of this module is scoped that way).
fn keyed<'q>(sql: impl SqlSafeStr, keys: &[&str]) -> Query<'q, Db, sqlx::any::AnyArguments> {
    keys.iter().fold(sqlx::query(sql), |q, k| q.bind(*k))
}

/// Runs `sql` with `keys`: whether it changed a row.
async fn changed<'e, E: Executor<'e, Database = Db>>(
    e: E,
    sql: impl SqlSafeStr,
    keys: &[&str],
) -> Result<bool> {
    Ok(keyed(sql, keys).execute(e).await?.rows_affected() == 1)
}

/// Runs `sql` with `keys` on the transaction's write connection: whether it changed a row.
async fn write(tx: &mut Tx, sql: impl SqlSafeStr, keys: &[&str]) -> Result<bool> {
    changed(tx.write_conn().await?, sql, keys).await
}

/// The first column of the first row `sql` finds with `keys`.
async fn scalar<'e, T, E>(e: E, sql: impl SqlSafeStr, keys: &[&str]) -> Result<Option<T>>
where
    T: for<'r> sqlx::Decode<'r, Db> + sqlx::Type<Db> + Send + Unpin,
    E: Executor<'e, Database = Db>,
{
    let q = keys.iter().fold(sqlx::query_scalar(sql), |q, k| q.bind(*k));
    Ok(q.fetch_optional(e).await?)
}

/// How many rows of `table` `filter` (a `WHERE` clause on `$1, $2, …`) matches with `keys`.
async fn count<'e, E: Executor<'e, Database = Db>>(
    e: E,
    table: &str,
    filter: &str,
    keys: &[&str],
) -> Result<i64> {
    // `table` and `filter` are this module's constants, never input.
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {filter}");
    Ok(scalar(e, sqlx::AssertSqlSafe(sql), keys)
        .await?
        .unwrap_or(0))
}

const SCOPE: &str = "app_id = $1 AND environment = $2";
const IMAGE_KEY: &str = "app_id = $1 AND environment = $2 AND image_identifier = $3";
const MESSAGE_KEY: &str = "app_id = $1 AND environment = $2 AND message_identifier = $3";
const DEFAULT_KEY: &str = "app_id = $1 AND environment = $2 AND product_id = $3 AND locale = $4";

/// A table read whole rows at a time: its columns, its name and the row they make.
type Table<T> = (&'static str, &'static str, fn(&DbRow) -> T);
const IMAGES: Table<ImageRow> = (IMAGE_COLS, "messaging_images", image_row);
const MESSAGES: Table<MessageRow> = (MESSAGE_COLS, "messaging_messages", message_row);

/// The rows of `table` that `filter` matches with `keys`, oldest first.
async fn select<'e, E: Executor<'e, Database = Db>, T>(
    e: E,
    (cols, table, row): Table<T>,
    filter: &str,
    keys: &[&str],
) -> Result<Vec<T>> {
    // `cols`, `table` and `filter` are this module's constants, never input.
    let sql = format!("SELECT {cols} FROM {table} WHERE {filter} ORDER BY created_ms, rowid");
    let rows = keyed(sqlx::AssertSqlSafe(sql), keys).fetch_all(e).await?;
    Ok(rows.iter().map(row).collect())
}

/// The row of `table` that `filter` (its key) matches with `keys`, if any.
async fn one<'e, E: Executor<'e, Database = Db>, T>(
    e: E,
    table: Table<T>,
    filter: &str,
    keys: &[&str],
) -> Result<Option<T>> {
    Ok(select(e, table, filter, keys).await?.into_iter().next())
}

/// The Retention Messaging API's reads on the store's read pool. Implemented for [`Store`] only;
/// its futures are `Send` there (`async_fn_in_trait` is about generic callers).
#[allow(async_fn_in_trait)]
pub trait MessagingStore {
    /// The store the queries run on.
    fn messaging_store(&self) -> &Store;

    /// Every image of the app in this environment, oldest first.
    async fn messaging_images(&self, app_id: &str, environment: &str) -> Result<Vec<ImageRow>> {
        select(
            self.messaging_store().read_pool(),
            IMAGES,
            SCOPE,
            &[app_id, environment],
        )
        .await
    }

    /// Every message of the app in this environment, oldest first.
    async fn messaging_messages(&self, app_id: &str, environment: &str) -> Result<Vec<MessageRow>> {
        select(
            self.messaging_store().read_pool(),
            MESSAGES,
            SCOPE,
            &[app_id, environment],
        )
        .await
    }

    async fn messaging_message(
        &self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<MessageRow>> {
        let keys = [app_id, environment, id];
        one(
            self.messaging_store().read_pool(),
            MESSAGES,
            MESSAGE_KEY,
            &keys,
        )
        .await
    }

    /// The message identifier configured as default for a product in a locale.
    async fn messaging_default(
        &self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        locale: &str,
    ) -> Result<Option<String>> {
        let sql = format!("SELECT message_identifier FROM messaging_defaults WHERE {DEFAULT_KEY}");
        let keys = [app_id, environment, product_id, locale];
        scalar(
            self.messaging_store().read_pool(),
            sqlx::AssertSqlSafe(sql),
            &keys,
        )
        .await
    }

    async fn messaging_realtime_url(
        &self,
        app_id: &str,
        environment: &str,
    ) -> Result<Option<String>> {
        let sql = "SELECT url FROM messaging_realtime_urls WHERE app_id = $1 AND environment = $2";
        scalar(
            self.messaging_store().read_pool(),
            sql,
            &[app_id, environment],
        )
        .await
    }

    async fn messaging_performance_test(
        &self,
        request_id: &str,
    ) -> Result<Option<PerformanceTestRow>> {
        let r = keyed(
            "SELECT request_id, app_id, environment, status, result, created_ms
             FROM messaging_performance_tests WHERE request_id = $1",
            &[request_id],
        )
        .fetch_optional(self.messaging_store().read_pool())
        .await?;
        Ok(r.as_ref().map(test_row))
    }

    /// Whether the app has a performance test with this status in this environment.
    async fn messaging_has_test(
        &self,
        app_id: &str,
        environment: &str,
        status: &str,
    ) -> Result<bool> {
        let filter = "app_id = $1 AND environment = $2 AND status = $3";
        let keys = [app_id, environment, status];
        Ok(count(
            self.messaging_store().read_pool(),
            "messaging_performance_tests",
            filter,
            &keys,
        )
        .await?
            > 0)
    }
}

impl MessagingStore for Store {
    fn messaging_store(&self) -> &Store {
        self
    }
}

/// The Retention Messaging API's reads and writes inside a write transaction. Implemented for
/// [`Tx`] only.
#[allow(async_fn_in_trait)]
pub trait MessagingTx {
    /// The transaction the statements run in.
    fn messaging_tx(&mut self) -> &mut Tx;

    async fn messaging_image_count(&mut self, app_id: &str, environment: &str) -> Result<i64> {
        let keys = [app_id, environment];
        count(self.messaging_tx().conn(), "messaging_images", SCOPE, &keys).await
    }

    async fn messaging_message_count(&mut self, app_id: &str, environment: &str) -> Result<i64> {
        let keys = [app_id, environment];
        count(
            self.messaging_tx().conn(),
            "messaging_messages",
            SCOPE,
            &keys,
        )
        .await
    }

    async fn messaging_image(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<ImageRow>> {
        one(
            self.messaging_tx().conn(),
            IMAGES,
            IMAGE_KEY,
            &[app_id, environment, id],
        )
        .await
    }

    async fn messaging_message(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<MessageRow>> {
        let keys = [app_id, environment, id];
        one(self.messaging_tx().conn(), MESSAGES, MESSAGE_KEY, &keys).await
    }

    /// Inserts an image; `false` when the identifier already exists.
    async fn messaging_insert_image(
        &mut self,
        app_id: &str,
        environment: &str,
        row: &ImageRow,
        png: &[u8],
    ) -> Result<bool> {
        let keys = [
            app_id,
            environment,
            &row.image_identifier,
            &row.image_size,
            &row.image_state,
        ];
        let r = keyed(
            "INSERT INTO messaging_images (app_id, environment, image_identifier, image_size,
                 image_state, width, height, png, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (app_id, environment, image_identifier) DO NOTHING",
            &keys,
        )
        .bind(row.width)
        .bind(row.height)
        .bind(png)
        .bind(row.created_ms)
        .execute(self.messaging_tx().write_conn().await?)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether a message shows this image.
    async fn messaging_image_in_use(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<bool> {
        let keys = [app_id, environment, id];
        Ok(count(
            self.messaging_tx().conn(),
            "messaging_message_images",
            IMAGE_KEY,
            &keys,
        )
        .await?
            > 0)
    }

    /// Deletes an image; `false` when there was none.
    async fn messaging_delete_image(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<bool> {
        let sql = format!("DELETE FROM messaging_images WHERE {IMAGE_KEY}");
        let keys = [app_id, environment, id];
        write(self.messaging_tx(), sqlx::AssertSqlSafe(sql), &keys).await
    }

    /// Inserts a message and the images it shows; `false` when the identifier already exists.
    async fn messaging_insert_message(
        &mut self,
        app_id: &str,
        environment: &str,
        row: &MessageRow,
        images: &[String],
    ) -> Result<bool> {
        let body = row.body.to_string();
        let keys = [
            app_id,
            environment,
            &row.message_identifier,
            &row.message_state,
            &body,
        ];
        let r = keyed(
            "INSERT INTO messaging_messages (app_id, environment, message_identifier,
                 message_state, body, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (app_id, environment, message_identifier) DO NOTHING",
            &keys,
        )
        .bind(row.created_ms)
        .execute(self.messaging_tx().write_conn().await?)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        for image in images {
            let sql = "INSERT INTO messaging_message_images
                     (app_id, environment, message_identifier, image_identifier)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
            let keys = [app_id, environment, &row.message_identifier, image];
            write(self.messaging_tx(), sql, &keys).await?;
        }
        Ok(true)
    }

    /// Deletes a message, the images it showed (their links) and the defaults naming it;
    /// `false` when there was none.
    async fn messaging_delete_message(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<bool> {
        let keys = [app_id, environment, id];
        let mut gone = false;
        // `table` is one of the three constants; what the caller learns is whether the
        // message itself was there.
        for table in [
            "messaging_messages",
            "messaging_message_images",
            "messaging_defaults",
        ] {
            let sql = format!("DELETE FROM {table} WHERE {MESSAGE_KEY}");
            let deleted = write(self.messaging_tx(), sqlx::AssertSqlSafe(sql), &keys).await?;
            gone = gone || (table == "messaging_messages" && deleted);
        }
        Ok(gone)
    }

    /// Sets an image's or a message's review state; `false` when there is none.
    async fn messaging_set_state(
        &mut self,
        what: Reviewed,
        app_id: &str,
        environment: &str,
        id: &str,
        state: &str,
    ) -> Result<bool> {
        let sql = match what {
            Reviewed::Image => {
                format!("UPDATE messaging_images SET image_state = $4 WHERE {IMAGE_KEY}")
            }
            Reviewed::Message => {
                format!("UPDATE messaging_messages SET message_state = $4 WHERE {MESSAGE_KEY}")
            }
        };
        let keys = [app_id, environment, id, state];
        write(self.messaging_tx(), sqlx::AssertSqlSafe(sql), &keys).await
    }

    /// Configures (or replaces) the default message of a product in a locale.
    async fn messaging_put_default(
        &mut self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        locale: &str,
        message_identifier: &str,
    ) -> Result<()> {
        let sql = "INSERT INTO messaging_defaults
                 (app_id, environment, product_id, locale, message_identifier)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app_id, environment, product_id, locale)
             DO UPDATE SET message_identifier = excluded.message_identifier";
        let keys = [app_id, environment, product_id, locale, message_identifier];
        write(self.messaging_tx(), sql, &keys).await?;
        Ok(())
    }

    /// Deletes a default message configuration; `false` when there was none.
    async fn messaging_delete_default(
        &mut self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        locale: &str,
    ) -> Result<bool> {
        let sql = format!("DELETE FROM messaging_defaults WHERE {DEFAULT_KEY}");
        let keys = [app_id, environment, product_id, locale];
        write(self.messaging_tx(), sqlx::AssertSqlSafe(sql), &keys).await
    }

    /// Sets (`Some`) or deletes (`None`) the Get Retention Message URL of an environment.
    async fn messaging_set_realtime_url(
        &mut self,
        app_id: &str,
        environment: &str,
        url: Option<&str>,
    ) -> Result<()> {
        match url {
            Some(url) => {
                let sql = "INSERT INTO messaging_realtime_urls (app_id, environment, url)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (app_id, environment) DO UPDATE SET url = excluded.url";
                write(self.messaging_tx(), sql, &[app_id, environment, url]).await?
            }
            None => {
                let sql = format!("DELETE FROM messaging_realtime_urls WHERE {SCOPE}");
                let keys = [app_id, environment];
                write(self.messaging_tx(), sqlx::AssertSqlSafe(sql), &keys).await?
            }
        };
        Ok(())
    }

    /// Inserts or updates a performance test.
    async fn messaging_put_test(&mut self, row: &PerformanceTestRow) -> Result<()> {
        let result = row.result.to_string();
        let keys = [
            &*row.request_id,
            &row.app_id,
            &row.environment,
            &row.status,
            &result,
        ];
        keyed(
            "INSERT INTO messaging_performance_tests
                 (request_id, app_id, environment, status, result, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (request_id) DO UPDATE SET status = excluded.status,
                 result = excluded.result",
            &keys,
        )
        .bind(row.created_ms)
        .execute(self.messaging_tx().write_conn().await?)
        .await?;
        Ok(())
    }
}

impl MessagingTx for Tx {
    fn messaging_tx(&mut self) -> &mut Tx {
        self
    }
}
