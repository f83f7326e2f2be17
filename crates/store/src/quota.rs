//! Rate-limit counters in the database (issue 12): the App Store Connect API's hourly quota per
//! API key (apple-semantics.md §1.6) counted where every replica of a PostgreSQL store sees it.
//! Counts are kept per minute, so a request stops counting up to a minute before the hour after
//! it is over (the in-process window of a single SQLite server counts per second).
//!
//! A key far below its limit mostly costs no statement: a replica counts hits in memory while
//! the key's last exact count (an upsert and a sum) is younger than [`SYNC_MS`] and this
//! replica's view of the key stays [`MARGIN`] requests below the limit; the hits it held are
//! written with its next exact count. It holds at most a [`SHARE`]th of the room the last exact
//! count left below `limit − MARGIN` (and never more than [`HELD_MAX`]), so a key used far below
//! its limit costs about one exact count a second per replica however busy it is (at 32 held
//! hits, a fixed number, a busy key cost two statements per 32 requests: most of PostgreSQL's
//! work under load, issue 12's benchmark). Near the limit every request is counted exactly, and
//! the replicas' held hits together stay within that room, so a key's count cannot pass its
//! limit unless more than `SHARE − 1` (3) other replicas hold hits of it at once;
//! `X-Rate-Limit`'s remaining count may lag other replicas by their held hits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Store;
use anyhow::Result;

/// This process's name in the counters: random, once per process.
fn replica_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Width of one counter row.
pub const BUCKET_MS: i64 = 60_000;
/// How long a key's exact count serves hits counted in memory.
pub const SYNC_MS: i64 = 1_000;
/// How far below its limit a key must stay, as this replica sees it, for a hit to be counted in
/// memory.
pub const MARGIN: i64 = 100;
/// The replicas among which the room below a key's limit is shared: one replica holds at most
/// `1 / SHARE` of it in memory.
pub const SHARE: i64 = 4;
/// The most hits of a key one replica counts in memory before it writes them.
pub const HELD_MAX: i64 = 4096;

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

/// The keys' counts as this process knows them (one per store).
#[derive(Default)]
pub(crate) struct Local(Mutex<HashMap<String, Known>>, AtomicU64);

/// A key's count as this process knows it.
struct Known {
    /// The database's count over the window at the last exact count (this process's hits
    /// written then included).
    total: i64,
    /// Hits counted here since, not yet written (they belong to minute `bucket`).
    unflushed: i64,
    bucket: i64,
    /// Wall time (ms) of the last exact count.
    synced_ms: i64,
}

impl Local {
    /// Counts a hit in memory when the key's last exact count allows it; its remaining count then.
    fn hit(&self, key: &str, limit: i64, bucket: i64, now_ms: i64) -> Option<i64> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let k = map.get_mut(key)?;
        let count = k.total + k.unflushed + 1;
        let held_max = ((limit - MARGIN - k.total) / SHARE).clamp(0, HELD_MAX);
        let fresh = k.bucket == bucket && now_ms - k.synced_ms < SYNC_MS && k.unflushed < held_max;
        (fresh && count <= limit - MARGIN).then(|| {
            k.unflushed += 1;
            limit - count
        })
    }

    /// The hits held for `key` (minute, count), which the caller writes now.
    fn take(&self, key: &str) -> (i64, i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(key)
            .map(|k| (k.bucket, std::mem::take(&mut k.unflushed)))
            .unwrap_or((0, 0))
    }

    /// Records an exact count; hits counted in memory meanwhile stay held.
    fn synced(&self, key: &str, total: i64, bucket: i64, now_ms: i64) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let k = map.entry(key.to_string()).or_insert(Known {
            total,
            unflushed: 0,
            bucket,
            synced_ms: now_ms,
        });
        if k.bucket != bucket && k.unflushed > 0 {
            // Held hits of another minute (a request that raced this one): counted next time.
            return;
        }
        (k.total, k.bucket, k.synced_ms) = (total, bucket, now_ms);
    }
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
        if let Some(remaining) = self.quota.hit(key, limit, bucket, now_ms) {
            return Ok(Quota {
                allowed: true,
                remaining,
                retry_at_ms: None,
            });
        }
        let since = now_ms - window_ms;
        let pool = self.reader();
        let replica = replica_id();
        let (held_bucket, held) = self.quota.take(key);
        self.quota.1.fetch_add(1, Ordering::Relaxed);
        let upsert = "INSERT INTO rate_counts (key, bucket_ms, replica, n) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key, bucket_ms, replica) DO UPDATE SET n = rate_counts.n + $4 RETURNING n";
        let add = |bucket: i64, n: i64| {
            sqlx::query_scalar::<_, i64>(upsert)
                .bind(key)
                .bind(bucket)
                .bind(replica)
                .bind(n)
                .fetch_one(pool)
        };
        let mut inc = 1;
        if held_bucket == bucket {
            inc += held;
        } else if held > 0 {
            add(held_bucket, held).await?;
        }
        let n = add(bucket, inc).await?;
        if n == inc {
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
            self.quota.synced(key, total, bucket, now_ms);
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

    /// Forgets every count of the keys starting with `prefix` (their limits changed).
    pub async fn quota_reset(&self, prefix: &str) -> Result<()> {
        self.quota_forget(prefix);
        sqlx::query("DELETE FROM rate_counts WHERE key LIKE $1")
            .bind(format!("{prefix}%"))
            .execute(self.reader())
            .await?;
        Ok(())
    }

    /// Forgets what this process knows of the keys starting with `prefix`, the hits it held
    /// in memory included: another process reset them ([`Store::quota_reset`]), and hits held
    /// from before must not count against the new budgets.
    pub fn quota_forget(&self, prefix: &str) {
        self.quota
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| !k.starts_with(prefix));
    }

    /// Hits counted exactly (in the database) by this store so far: for tests.
    #[doc(hidden)]
    pub fn quota_exact_counts(&self) -> u64 {
        self.quota.1.load(Ordering::Relaxed)
    }
}
