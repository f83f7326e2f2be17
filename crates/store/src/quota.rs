//! Rate-limit counters in the database (issue 12): the App Store Connect API's hourly quota per
//! API key (apple-semantics.md §1.6) counted where every replica of a PostgreSQL store sees it.
//! Counts are kept per minute, so a request stops counting up to a minute before the hour after
//! it is over (the in-process window of a single SQLite server counts per second).

use crate::Store;
use anyhow::Result;

/// This process's name in the counters: random, once per process.
fn replica_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Width of one counter row.
pub const BUCKET_MS: i64 = 60_000;

/// What one request against a key's rolling window found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Counted (under the limit); a refused request is not counted.
    pub allowed: bool,
    /// Requests left in the window after this one.
    pub remaining: i64,
    /// When refused: the wall time (ms) the oldest counted minute leaves the window.
    pub retry_at_ms: Option<i64>,
}

impl Store {
    /// Counts one request of `key` at wall time `now_ms` against `limit` requests per
    /// `window_ms`, in autocommit statements outside any write transaction (they take no write
    /// lock: the counter is one atomic upsert).
    pub async fn quota_hit(
        &self,
        key: &str,
        limit: i64,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<Quota> {
        let bucket = now_ms - now_ms.rem_euclid(BUCKET_MS);
        let since = now_ms - window_ms;
        let pool = self.reader();
        let replica = replica_id();
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO rate_counts (key, bucket_ms, replica, n) VALUES ($1, $2, $3, 1)
             ON CONFLICT (key, bucket_ms, replica) DO UPDATE SET n = rate_counts.n + 1 RETURNING n",
        )
        .bind(key)
        .bind(bucket)
        .bind(replica)
        .fetch_one(pool)
        .await?;
        if n == 1 {
            // A new minute: the key's minutes that left the window go.
            sqlx::query("DELETE FROM rate_counts WHERE key = $1 AND bucket_ms <= $2")
                .bind(key)
                .bind(since - BUCKET_MS)
                .execute(pool)
                .await?;
        }
        let (total, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), MIN(bucket_ms) FROM rate_counts
             WHERE key = $1 AND bucket_ms > $2",
        )
        .bind(key)
        .bind(since - BUCKET_MS)
        .fetch_one(pool)
        .await?;
        if total <= limit {
            return Ok(Quota {
                allowed: true,
                remaining: limit - total,
                retry_at_ms: None,
            });
        }
        sqlx::query(
            "UPDATE rate_counts SET n = n - 1 WHERE key = $1 AND bucket_ms = $2 AND replica = $3",
        )
        .bind(key)
        .bind(bucket)
        .bind(replica)
        .execute(pool)
        .await?;
        Ok(Quota {
            allowed: false,
            remaining: 0,
            retry_at_ms: oldest.map(|b| b + BUCKET_MS + window_ms),
        })
    }
}
