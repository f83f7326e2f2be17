//! Keeps SQLite's write-ahead log bounded while other processes read.
//!
//! SQLite starts its log over from the beginning only when a writer begins while every frame is
//! copied back into the database and no connection is reading the log (sqlite.org "Write-Ahead
//! Logging" §"Avoiding Excessively Large WAL Files"). A server reading at every commit (its
//! notification outbox, its scheduler, a collector's downloads) is almost always reading when
//! `crabapple simulate` begins its next day, so the log only grew: 19.8 GB after 8 minutes of a
//! year at 100,000 downloads a day, and it filled the disk. After a commit that leaves the log
//! over [`DEFAULT_LIMIT_BYTES`] (`CRABAPPLE_WAL_LIMIT_MB` overrides it; 0 turns this off) the
//! committing process runs `PRAGMA wal_checkpoint(TRUNCATE)`: it waits up to
//! [`CHECKPOINT_WAIT`] for the log's readers to finish their reads, copies what is left and
//! empties the file. A checkpoint that could not finish in that time (a reader kept reading) is
//! tried again after the next commit; nothing else depends on it. Measured with a server running
//! beside `simulate` at 100,000 downloads a day: the log peaked at 346 MB over 30 days instead of
//! 920 MB and growing (tests/shared.rs has the same race at a small scale).

use crate::Store;
use std::sync::atomic::Ordering;

/// How long the checkpoint waits for the log's readers (instead of the busy timeout: the
/// committer waits meanwhile, and the next commit tries again).
const CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The log size over which a commit empties it.
pub const DEFAULT_LIMIT_BYTES: u64 = 256 << 20;

/// The limit from `CRABAPPLE_WAL_LIMIT_MB`, else [`DEFAULT_LIMIT_BYTES`]; 0 = unbounded.
pub(crate) fn limit_from_env() -> u64 {
    std::env::var("CRABAPPLE_WAL_LIMIT_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_LIMIT_BYTES, |mb| mb << 20)
}

/// The bytes of the log's frames from the WAL-index header (sqlite.org "Database File Format"
/// §4.5: the page size as a native u16 at offset 14, 1 meaning 65536; mxFrame, the last valid
/// frame, as a native u32 at offset 16; a frame is a 24-byte header and a page).
pub(crate) fn log_bytes(header: &[u8; crate::shared::WAL_INDEX_HEADER]) -> u64 {
    let page = match u16::from_ne_bytes([header[14], header[15]]) {
        1 => 65536,
        p => u64::from(p),
    };
    let frames = u32::from_ne_bytes([header[16], header[17], header[18], header[19]]);
    u64::from(frames) * (page + 24)
}

impl Store {
    /// After a commit: empties the log if it is over the limit (see the module doc).
    pub(crate) async fn bound_wal(&self) {
        let limit = self.wal_limit.load(Ordering::Relaxed);
        let Some(header) = self.watch.wal_header() else {
            return;
        };
        if limit == 0 || log_bytes(&header) <= limit {
            return;
        }
        let done = async {
            let mut conn = self.writer.acquire().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA busy_timeout = {}",
                CHECKPOINT_WAIT.as_millis()
            )))
            .execute(&mut *conn)
            .await?;
            let done: sqlx::Result<(i64, i64, i64)> =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&mut *conn)
                    .await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA busy_timeout = {}",
                crate::shared::BUSY_TIMEOUT.as_millis()
            )))
            .execute(&mut *conn)
            .await?;
            anyhow::Ok(done?)
        };
        match done.await {
            Ok((0, _, _)) => tracing::debug!("write-ahead log emptied"),
            Ok((_, log, copied)) => tracing::debug!(
                "write-ahead log not emptied ({copied} of {log} frames copied; a reader still reads it)"
            ),
            Err(e) => tracing::warn!("write-ahead log checkpoint: {e:#}"),
        }
    }

    /// The log size over which a commit empties it (bytes; 0 = unbounded).
    pub fn set_wal_limit(&self, bytes: u64) {
        self.wal_limit.store(bytes, Ordering::Relaxed);
    }

    /// The write-ahead log's size as its index tells (SQLite; `None` on PostgreSQL).
    pub fn wal_bytes(&self) -> Option<u64> {
        self.watch.wal_header().map(|h| log_bytes(&h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_size_is_its_frames_of_a_page_and_a_header() {
        let mut h = [0u8; crate::shared::WAL_INDEX_HEADER];
        h[14..16].copy_from_slice(&4096u16.to_ne_bytes());
        h[16..20].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(log_bytes(&h), 1000 * (4096 + 24));
        // A page size of 65536 is stored as 1.
        h[14..16].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(log_bytes(&h), 1000 * (65536 + 24));
    }
}
