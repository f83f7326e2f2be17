//! Persistence of the Retention Messaging API (Apple's `/inApps/v1/messaging/...`): uploaded
//! images (the PNG and its review state), messages (Apple's `UploadMessageRequestBody` as JSON),
//! default messages per product and locale, the Get Retention Message endpoint URL and the
//! performance tests run against it. Everything is scoped to an app and an environment. The
//! storekit room decides what is valid; this module only stores and reads.

use crate::{Store, Tx};
use anyhow::Result;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Executor, Row, Sqlite};

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

fn image_row(r: &SqliteRow) -> ImageRow {
    ImageRow {
        image_identifier: r.get(0),
        image_size: r.get(1),
        image_state: r.get(2),
        width: r.get(3),
        height: r.get(4),
        created_ms: r.get(5),
    }
}

fn message_row(r: &SqliteRow) -> MessageRow {
    let body: String = r.get(2);
    MessageRow {
        message_identifier: r.get(0),
        message_state: r.get(1),
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        created_ms: r.get(3),
    }
}

fn test_row(r: &SqliteRow) -> PerformanceTestRow {
    let result: String = r.get(4);
    PerformanceTestRow {
        request_id: r.get(0),
        app_id: r.get(1),
        environment: r.get(2),
        status: r.get(3),
        result: serde_json::from_str(&result).unwrap_or(Value::Null),
        created_ms: r.get(5),
    }
}

async fn count<'e, E: Executor<'e, Database = Sqlite>>(
    e: E,
    table: &str,
    app_id: &str,
    environment: &str,
) -> Result<i64> {
    // `table` is one of this module's constants, never input.
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table} WHERE app_id = $1 AND environment = $2"
    )))
    .bind(app_id)
    .bind(environment)
    .fetch_one(e)
    .await?)
}

async fn image<'e, E: Executor<'e, Database = Sqlite>>(
    e: E,
    app_id: &str,
    environment: &str,
    id: &str,
) -> Result<Option<ImageRow>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {IMAGE_COLS} FROM messaging_images
         WHERE app_id = $1 AND environment = $2 AND image_identifier = $3"
    )))
    .bind(app_id)
    .bind(environment)
    .bind(id)
    .fetch_optional(e)
    .await?;
    Ok(r.as_ref().map(image_row))
}

async fn message<'e, E: Executor<'e, Database = Sqlite>>(
    e: E,
    app_id: &str,
    environment: &str,
    id: &str,
) -> Result<Option<MessageRow>> {
    let r = sqlx::query(
        "SELECT message_identifier, message_state, body, created_ms FROM messaging_messages
         WHERE app_id = $1 AND environment = $2 AND message_identifier = $3",
    )
    .bind(app_id)
    .bind(environment)
    .bind(id)
    .fetch_optional(e)
    .await?;
    Ok(r.as_ref().map(message_row))
}

impl Store {
    /// Every image of the app in this environment, oldest first.
    pub async fn messaging_images(&self, app_id: &str, environment: &str) -> Result<Vec<ImageRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {IMAGE_COLS} FROM messaging_images WHERE app_id = $1 AND environment = $2
             ORDER BY created_ms, rowid"
        )))
        .bind(app_id)
        .bind(environment)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(image_row).collect())
    }

    /// Every message of the app in this environment, oldest first.
    pub async fn messaging_messages(
        &self,
        app_id: &str,
        environment: &str,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT message_identifier, message_state, body, created_ms FROM messaging_messages
             WHERE app_id = $1 AND environment = $2 ORDER BY created_ms, rowid",
        )
        .bind(app_id)
        .bind(environment)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(message_row).collect())
    }

    pub async fn messaging_message(
        &self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<MessageRow>> {
        message(self.reader(), app_id, environment, id).await
    }

    /// The message identifier configured as default for a product in a locale.
    pub async fn messaging_default(
        &self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        locale: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT message_identifier FROM messaging_defaults
             WHERE app_id = $1 AND environment = $2 AND product_id = $3 AND locale = $4",
        )
        .bind(app_id)
        .bind(environment)
        .bind(product_id)
        .bind(locale)
        .fetch_optional(self.reader())
        .await?)
    }

    pub async fn messaging_realtime_url(
        &self,
        app_id: &str,
        environment: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT url FROM messaging_realtime_urls WHERE app_id = $1 AND environment = $2",
        )
        .bind(app_id)
        .bind(environment)
        .fetch_optional(self.reader())
        .await?)
    }

    pub async fn messaging_performance_test(
        &self,
        request_id: &str,
    ) -> Result<Option<PerformanceTestRow>> {
        let r = sqlx::query(
            "SELECT request_id, app_id, environment, status, result, created_ms
             FROM messaging_performance_tests WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(self.reader())
        .await?;
        Ok(r.as_ref().map(test_row))
    }

    /// Whether the app has a performance test with this status in this environment.
    pub async fn messaging_has_test(
        &self,
        app_id: &str,
        environment: &str,
        status: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messaging_performance_tests
             WHERE app_id = $1 AND environment = $2 AND status = $3",
        )
        .bind(app_id)
        .bind(environment)
        .bind(status)
        .fetch_one(self.reader())
        .await?;
        Ok(n > 0)
    }
}

impl Tx {
    pub async fn messaging_image_count(&mut self, app_id: &str, environment: &str) -> Result<i64> {
        count(&mut *self.tx, "messaging_images", app_id, environment).await
    }

    pub async fn messaging_message_count(
        &mut self,
        app_id: &str,
        environment: &str,
    ) -> Result<i64> {
        count(&mut *self.tx, "messaging_messages", app_id, environment).await
    }

    pub async fn messaging_image(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<ImageRow>> {
        image(&mut *self.tx, app_id, environment, id).await
    }

    pub async fn messaging_message(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<Option<MessageRow>> {
        message(&mut *self.tx, app_id, environment, id).await
    }

    /// Inserts an image; `false` when the identifier already exists.
    pub async fn messaging_insert_image(
        &mut self,
        app_id: &str,
        environment: &str,
        row: &ImageRow,
        png: &[u8],
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO messaging_images (app_id, environment, image_identifier, image_size,
                 image_state, width, height, png, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (app_id, environment, image_identifier) DO NOTHING",
        )
        .bind(app_id)
        .bind(environment)
        .bind(&row.image_identifier)
        .bind(&row.image_size)
        .bind(&row.image_state)
        .bind(row.width)
        .bind(row.height)
        .bind(png)
        .bind(row.created_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether a message shows this image.
    pub async fn messaging_image_in_use(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messaging_message_images
             WHERE app_id = $1 AND environment = $2 AND image_identifier = $3",
        )
        .bind(app_id)
        .bind(environment)
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n > 0)
    }

    /// Deletes an image; `false` when there was none.
    pub async fn messaging_delete_image(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM messaging_images
             WHERE app_id = $1 AND environment = $2 AND image_identifier = $3",
        )
        .bind(app_id)
        .bind(environment)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Inserts a message and the images it shows; `false` when the identifier already exists.
    pub async fn messaging_insert_message(
        &mut self,
        app_id: &str,
        environment: &str,
        row: &MessageRow,
        images: &[String],
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO messaging_messages (app_id, environment, message_identifier,
                 message_state, body, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (app_id, environment, message_identifier) DO NOTHING",
        )
        .bind(app_id)
        .bind(environment)
        .bind(&row.message_identifier)
        .bind(&row.message_state)
        .bind(row.body.to_string())
        .bind(row.created_ms)
        .execute(&mut *self.tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        for image in images {
            sqlx::query(
                "INSERT INTO messaging_message_images
                     (app_id, environment, message_identifier, image_identifier)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(app_id)
            .bind(environment)
            .bind(&row.message_identifier)
            .bind(image)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(true)
    }

    /// Deletes a message, the images it showed (their links) and the defaults naming it;
    /// `false` when there was none.
    pub async fn messaging_delete_message(
        &mut self,
        app_id: &str,
        environment: &str,
        id: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM messaging_messages
             WHERE app_id = $1 AND environment = $2 AND message_identifier = $3",
        )
        .bind(app_id)
        .bind(environment)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        for table in ["messaging_message_images", "messaging_defaults"] {
            // `table` is one of the two constants above.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table}
                 WHERE app_id = $1 AND environment = $2 AND message_identifier = $3"
            )))
            .bind(app_id)
            .bind(environment)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(r.rows_affected() == 1)
    }

    /// Sets an image's or a message's review state; `false` when there is none.
    pub async fn messaging_set_state(
        &mut self,
        what: Reviewed,
        app_id: &str,
        environment: &str,
        id: &str,
        state: &str,
    ) -> Result<bool> {
        let sql = match what {
            Reviewed::Image => {
                "UPDATE messaging_images SET image_state = $4
                 WHERE app_id = $1 AND environment = $2 AND image_identifier = $3"
            }
            Reviewed::Message => {
                "UPDATE messaging_messages SET message_state = $4
                 WHERE app_id = $1 AND environment = $2 AND message_identifier = $3"
            }
        };
        let r = sqlx::query(sql)
            .bind(app_id)
            .bind(environment)
            .bind(id)
            .bind(state)
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Configures (or replaces) the default message of a product in a locale.
    pub async fn messaging_put_default(
        &mut self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        locale: &str,
        message_identifier: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO messaging_defaults
                 (app_id, environment, product_id, locale, message_identifier)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app_id, environment, product_id, locale)
             DO UPDATE SET message_identifier = excluded.message_identifier",
        )
        .bind(app_id)
        .bind(environment)
        .bind(product_id)
        .bind(locale)
        .bind(message_identifier)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Deletes a default message configuration; `false` when there was none.
    pub async fn messaging_delete_default(
        &mut self,
        app_id: &str,
        environment: &str,
        product_id: &str,
        locale: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM messaging_defaults
             WHERE app_id = $1 AND environment = $2 AND product_id = $3 AND locale = $4",
        )
        .bind(app_id)
        .bind(environment)
        .bind(product_id)
        .bind(locale)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets (`Some`) or deletes (`None`) the Get Retention Message URL of an environment.
    pub async fn messaging_set_realtime_url(
        &mut self,
        app_id: &str,
        environment: &str,
        url: Option<&str>,
    ) -> Result<()> {
        match url {
            Some(url) => sqlx::query(
                "INSERT INTO messaging_realtime_urls (app_id, environment, url) VALUES ($1, $2, $3)
                 ON CONFLICT (app_id, environment) DO UPDATE SET url = excluded.url",
            )
            .bind(app_id)
            .bind(environment)
            .bind(url),
            None => sqlx::query(
                "DELETE FROM messaging_realtime_urls WHERE app_id = $1 AND environment = $2",
            )
            .bind(app_id)
            .bind(environment),
        }
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Inserts or updates a performance test.
    pub async fn messaging_put_test(&mut self, row: &PerformanceTestRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO messaging_performance_tests
                 (request_id, app_id, environment, status, result, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (request_id) DO UPDATE SET status = excluded.status,
                 result = excluded.result",
        )
        .bind(&row.request_id)
        .bind(&row.app_id)
        .bind(&row.environment)
        .bind(&row.status)
        .bind(row.result.to_string())
        .bind(row.created_ms)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
