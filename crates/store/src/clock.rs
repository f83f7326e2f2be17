//! The virtual clock: "now" for everything in crabapple is the OS time plus an offset that
//! `crabapple clock advance` (or the admin API) moves forward. The offset is persisted in `meta`,
//! so a restart keeps the virtual date. Nothing else in crabapple reads the OS time.

use crate::db::{DbConn, DbPool};
use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// US Pacific time, Apple's day for reports (reports-formats.md §2.3) and price dates (forum
/// post 13). jiff reads IANA zones from the system's tzdb, which a container may lack, so this is
/// the POSIX rule compiled in: UTC−8, daylight time UTC−7 from the second Sunday of March 02:00
/// to the first Sunday of November 02:00 (the US rule since 2007; the virtual clock never goes
/// back before it).
pub fn pacific() -> &'static jiff::tz::TimeZone {
    static PACIFIC: std::sync::LazyLock<jiff::tz::TimeZone> = std::sync::LazyLock::new(|| {
        jiff::tz::TimeZone::posix("PST8PDT,M3.2.0,M11.1.0").expect("a valid POSIX time zone")
    });
    &PACIFIC
}

#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

fn os_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    pub(crate) async fn load(pool: &DbPool) -> Result<Clock> {
        let mut conn = pool.acquire().await?;
        Ok(Clock {
            offset_ms: Arc::new(AtomicI64::new(persisted(&mut conn).await?)),
        })
    }

    /// A clock that starts at the OS time and is not persisted (tools and tests).
    pub fn detached() -> Clock {
        Clock::default()
    }

    pub fn now_ms(&self) -> i64 {
        os_now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// The real wall-clock time, for the few rules Apple applies against the client's real clock
    /// (token `exp`/`iat`, rate-limit windows): advancing the virtual clock must not expire the
    /// tokens a client just minted.
    pub fn wall_ms(&self) -> i64 {
        os_now_ms()
    }

    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Re-reads the persisted offset (another process, e.g. `crabapple clock advance`, may have
    /// moved it). The offset only ever grows.
    pub async fn reload(&self, pool: &DbPool) -> Result<()> {
        let mut conn = pool.acquire().await?;
        self.offset_ms
            .fetch_max(persisted(&mut conn).await?, Ordering::Relaxed);
        Ok(())
    }

    /// Moves the offset forward by `by_ms` from the larger of this clock's and the persisted
    /// offset, inside the caller's write transaction (so two processes advancing at once both
    /// count); returns the new offset, which [`Clock::adopt`] applies once committed.
    pub(crate) async fn advance(&self, conn: &mut DbConn, by_ms: i64) -> Result<i64> {
        let from = persisted(conn)
            .await?
            .max(self.offset_ms.load(Ordering::Relaxed));
        let new = from + by_ms.max(0);
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('clock.offset_ms', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(new.to_string())
        .execute(conn)
        .await?;
        Ok(new)
    }

    /// Takes a committed offset.
    pub(crate) fn adopt(&self, offset_ms: i64) {
        self.offset_ms.fetch_max(offset_ms, Ordering::Relaxed);
    }
}

/// The offset in `meta` (0 before the first advance).
async fn persisted(conn: &mut DbConn) -> Result<i64> {
    let v: Option<String> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'clock.offset_ms'")
            .fetch_optional(conn)
            .await?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}
