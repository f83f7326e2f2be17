//! Sharing the database file with other processes (a running server and `crabapple` CLI
//! commands write the same data directory):
//!
//! - writers serialize: a write transaction takes SQLite's write lock when it begins
//!   (`BEGIN IMMEDIATE`), waits for another process's lock in SQLite's busy handler
//!   ([`BUSY_TIMEOUT`]) and is retried with backoff when that wait runs out ([`with_busy_retry`]);
//!   a deferred `BEGIN` that upgrades to a write later could fail at once with
//!   `SQLITE_BUSY_SNAPSHOT` (517), which no busy handler waits for;
//! - readers see other processes' commits: [`Watch`] asks SQLite whether another connection
//!   committed (`PRAGMA data_version`), and if one did, reads the write token; on PostgreSQL a
//!   serving replica counts other processes' commits from their NOTIFYs, which writers wait to
//!   see acknowledged ([`crate::notify`]), and reads the token at every check only while it
//!   cannot rely on them. If another process committed, it empties the resource cache and
//!   re-reads the virtual clock. Every write of resources or of the clock goes through a [`crate::Tx`], which
//!   leaves the token. So a write on one replica is seen by another at its next request.

use std::time::Duration;

use std::sync::Arc;

use crate::db::{Db, DbPool};
use crate::notify::{Coherence, Pending};

/// How long one attempt waits for another connection's write lock (SQLite's busy handler).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts of a write that finds the database locked. With [`BUSY_TIMEOUT`] per attempt and
/// the backoff between them, a writer gives up after about 6 × 5 s + 3.1 s ≈ 33 s of another
/// process holding the lock; only then does its caller see the error.
const ATTEMPTS: u32 = 6;
/// Backoff before the second attempt; it doubles for each next one (0.1, 0.2, 0.4, 0.8, 1.6 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), with any extended code (e.g. 517 BUSY_SNAPSHOT).
pub(crate) fn is_busy(e: &anyhow::Error) -> bool {
    let Some(db) = e
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
    else {
        return false;
    };
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Runs `op` again (after a backoff) while it fails because the database is locked, up to
/// [`ATTEMPTS`] times. `op` must be safe to repeat: a failed attempt wrote nothing.
pub(crate) async fn with_busy_retry<T, F, Fut>(mut op: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < ATTEMPTS && is_busy(&e) => {
                tracing::debug!("database locked (attempt {attempt}), retrying: {e:#}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Notices commits of other connections: one connection of its own, whose `data_version`
/// changes whenever any other connection (this process's writer included) commits. To tell
/// another process's commit from this one's, every write transaction leaves a fresh random token
/// in `meta` ([`WRITE_TOKEN`]): a token this process did not write means another one committed.
pub(crate) struct Watch {
    conn: DbPool,
    /// SQLite: the WAL-index header, read before asking SQLite ([`WalIndex`]).
    wal_index: Option<WalIndex>,
    /// SQLite: whether `PRAGMA data_version` tells of commits (PostgreSQL has no such counter).
    data_version: bool,
    /// What was seen last; the lock also orders checks and commits, so a request never proceeds
    /// on a cache another check is about to empty.
    seen: tokio::sync::Mutex<Seen>,
    /// PostgreSQL: other processes' commits counted from their notifications.
    coherence: Option<Arc<Coherence>>,
    /// This process's commits ([`crate::commits`]).
    pub(crate) local_commits: crate::commits::Counter,
    /// What the last completed look acted on, readable without waiting for [`Watch::seen`]'s
    /// lock ([`Watch::unchanged`]).
    quick: Quick,
}

/// The WAL-index header (SQLite) and the notifications' generation (PostgreSQL, `u64::MAX`
/// for none) as the last completed look left them.
struct Quick {
    header: std::sync::Mutex<Option<[u8; WAL_INDEX_HEADER]>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Default for Quick {
    fn default() -> Quick {
        Quick {
            header: std::sync::Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(u64::MAX),
        }
    }
}

/// The `meta` key of the token the last write transaction (of any process) left.
pub(crate) const WRITE_TOKEN: &str = "write.token";
/// The `meta` key of the token the last write transaction that wrote resources left (the same
/// value as its [`WRITE_TOKEN`]).
pub(crate) const RESOURCES_TOKEN: &str = "write.resources";

#[derive(Default)]
struct Seen {
    data_version: Option<i64>,
    /// The WAL-index header read just before the last `PRAGMA data_version`.
    wal_index: Option<[u8; WAL_INDEX_HEADER]>,
    /// The last token this process knows about (it wrote it, or emptied its cache after it).
    token: Option<String>,
    /// The last resources token this process knows about.
    resources: Option<String>,
    /// The notifications' generation last acted on ([`Coherence::generation`]).
    generation: Option<u64>,
}

impl Watch {
    /// `database`: the SQLite file (its WAL index is `database` + `-shm`).
    pub fn sqlite(conn: DbPool, database: &std::path::Path) -> Watch {
        let mut shm = database.as_os_str().to_owned();
        shm.push("-shm");
        Watch {
            conn,
            wal_index: Some(WalIndex {
                path: shm.into(),
                file: std::sync::Mutex::new(None),
            }),
            data_version: true,
            seen: tokio::sync::Mutex::new(Seen::default()),
            coherence: None,
            quick: Quick::default(),
            local_commits: Default::default(),
        }
    }

    /// Counts other processes' commits by `coherence` while it can be relied on, else reads the
    /// write token through `reader` at every check.
    pub fn postgres(reader: DbPool, coherence: Option<Arc<Coherence>>) -> Watch {
        Watch {
            conn: reader,
            wal_index: None,
            data_version: false,
            seen: tokio::sync::Mutex::new(Seen::default()),
            coherence,
            quick: Quick::default(),
            local_commits: Default::default(),
        }
    }

    /// SQLite: the WAL index's header now ([`WalIndex`]); `None` on PostgreSQL or when it
    /// cannot be read.
    pub(crate) fn wal_header(&self) -> Option<[u8; WAL_INDEX_HEADER]> {
        self.wal_index.as_ref().and_then(WalIndex::header)
    }

    /// Whether commits are looked for in the WAL index (SQLite).
    pub(crate) fn reads_wal_index(&self) -> bool {
        self.wal_index.is_some()
    }

    /// PostgreSQL: the counter of other processes' commits this process hears of.
    pub(crate) fn heard_commits(&self) -> Option<&crate::commits::Counter> {
        self.coherence.as_ref().map(|c| &c.heard)
    }

    /// PostgreSQL: whether the listening session LISTENs to this store's channels now (joining
    /// it first if this store has not).
    pub(crate) fn hears_other_processes(&self) -> bool {
        self.coherence.as_ref().is_some_and(|c| {
            c.listen();
            *c.listening.borrow()
        })
    }

    pub fn relies_on_notifications(&self) -> bool {
        self.coherence.as_ref().is_some_and(|c| c.trusted())
    }

    /// Inside a write transaction about to commit with `token`: tells the other processes
    /// (PostgreSQL); what the commit must wait for before its client hears of it.
    pub async fn announce(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
        token: &str,
        wrote_resources: bool,
    ) -> anyhow::Result<Option<Pending>> {
        match &self.coherence {
            Some(c) => c.announce(tx, token, wrote_resources).await,
            None => Ok(None),
        }
    }

    /// True when, without waiting on anything, it is certain that no process committed since the
    /// last completed look ([`Watch::check`] would then find nothing): the WAL-index header reads
    /// as that look left it (SQLite), or no notification arrived since it while they are relied
    /// on (PostgreSQL). Every request asks this first; two requests at once no longer queue on
    /// the look's lock (on 2 cores each such wait was a thread switch).
    pub fn unchanged(&self) -> bool {
        use std::sync::atomic::Ordering;
        if let Some(c) = &self.coherence {
            c.keep_listening();
            return c.trusted() && self.quick.generation.load(Ordering::Acquire) == c.generation();
        }
        match self.wal_index.as_ref().and_then(WalIndex::header) {
            Some(h) => self.quick.header.lock().is_ok_and(|q| *q == Some(h)),
            None => false,
        }
    }

    /// Records what a completed look acted on ([`Watch::unchanged`]).
    fn looked(&self, seen: &Seen) {
        use std::sync::atomic::Ordering;
        self.quick
            .generation
            .store(seen.generation.unwrap_or(u64::MAX), Ordering::Release);
        if let Ok(mut h) = self.quick.header.lock() {
            *h = seen.wal_index;
        }
    }

    /// Runs `on_change(resources)` if another process committed a write transaction since this
    /// process last looked (always on the first call); true then. `resources` says whether any
    /// of those transactions wrote resources ([`RESOURCES_TOKEN`] moved): a replica's cache of
    /// them survives other processes' ledger and delivery writes.
    pub async fn check<F, Fut>(&self, on_change: F) -> anyhow::Result<bool>
    where
        F: FnOnce(bool) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        if let Some(c) = &self.coherence {
            // Its session ended with the runtime that ran it (tests): a new one.
            c.keep_listening();
        }
        if let Some(c) = self.coherence.as_ref().filter(|c| c.trusted()) {
            // Every commit another process made before this request's client heard of its own
            // write was acknowledged here first: counting them is enough.
            let generation = c.generation();
            let mut seen = self.seen.lock().await;
            if seen.generation == Some(generation) {
                self.looked(&seen);
                return Ok(false);
            }
            let first = seen.generation.is_none();
            on_change(c.take_resources() || first).await?;
            seen.generation = Some(generation);
            seen.token = c.last_token();
            self.looked(&seen);
            return Ok(true);
        }
        // PostgreSQL: the tokens are read before taking the lock, so concurrent requests do not
        // queue behind each other's round trip (tokens read a moment early only empty the
        // cache once more).
        let early = if self.data_version {
            None
        } else {
            Some(self.tokens().await?)
        };
        // SQLite: the WAL-index header as it is before this look (see [`WalIndex`]).
        let header = self.wal_index.as_ref().and_then(WalIndex::header);
        let mut seen = self.seen.lock().await;
        // Not relying on notifications now: when it does again, it acts on them once.
        seen.generation = None;
        if header.is_some() && seen.wal_index == header {
            self.looked(&seen);
            return Ok(false);
        }
        let version: Option<i64> = if self.data_version {
            Some(
                sqlx::query_scalar("PRAGMA data_version")
                    .fetch_one(&self.conn)
                    .await?,
            )
        } else {
            None
        };
        if version.is_some() && seen.data_version == version {
            seen.wal_index = header;
            self.looked(&seen);
            return Ok(false);
        }
        let (token, resources) = match early {
            Some(t) => t,
            None => self.tokens().await?,
        };
        let first = seen.data_version.is_none();
        let foreign = first || token != seen.token;
        if foreign {
            on_change(first || resources != seen.resources).await?;
            seen.token = token;
            seen.resources = resources;
        }
        seen.data_version = Some(version.unwrap_or(0));
        seen.wal_index = header;
        self.looked(&seen);
        Ok(foreign)
    }

    /// The tokens the last write transaction and the last one that wrote resources left.
    async fn tokens(&self) -> anyhow::Result<(Option<String>, Option<String>)> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM meta WHERE key IN ($1, $2)")
                .bind(WRITE_TOKEN)
                .bind(RESOURCES_TOKEN)
                .fetch_all(&self.conn)
                .await?;
        let of = |k: &str| {
            rows.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Ok((of(WRITE_TOKEN), of(RESOURCES_TOKEN)))
    }

    /// After this process committed a transaction that replaced token `previous` with `new`:
    /// runs `on_change` when `previous` is not the last token known here (another process
    /// committed in between).
    /// `wrote_resources`: the transaction also left `new` as the resources token. What another
    /// process wrote in between is unknown here: `on_change(true)`.
    pub async fn committed<F, Fut>(
        &self,
        previous: Option<String>,
        new: String,
        wrote_resources: bool,
        on_change: F,
    ) -> anyhow::Result<()>
    where
        F: FnOnce(bool) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let mut seen = self.seen.lock().await;
        let r = if seen.token != previous {
            on_change(true).await
        } else {
            Ok(())
        };
        if wrote_resources {
            seen.resources = Some(new.clone());
        }
        seen.token = Some(new);
        r
    }
}

/// The first copy of SQLite's WAL-index header (the `-shm` file's first 48 bytes: iVersion,
/// iChange — incremented by every commit —, mxFrame, nPage, frame checksums, salts; sqlite.org
/// "Database File Format" §4.5 "WAL-Index Format"). Every commit of any connection rewrites it,
/// and nothing else does (readers' marks and checkpoints live after it), so while it reads the
/// same as before the last `PRAGMA data_version`, no connection committed since: the look costs
/// one `pread` instead of a round trip through SQLite's worker thread. Any doubt (no file yet,
/// a short read, another file at the path) falls back to asking SQLite.
///
/// Whether the path still names the file read is checked at most every [`WAL_INDEX_RESTAT`]
/// (a `stat` per look cost as much as the `pread`: ~5 % of a cached GET's CPU). SQLite removes
/// or truncates a `-shm` file only when the last connection to the database closes or the first
/// one opens, and this process keeps its connections open (the pools have no idle timeout on
/// SQLite), so the file cannot change under an open store; the periodic check bounds the harm if
/// that ever failed.
pub(crate) const WAL_INDEX_HEADER: usize = 48;
const WAL_INDEX_RESTAT: std::time::Duration = std::time::Duration::from_millis(250);

pub(crate) struct WalIndex {
    path: std::path::PathBuf,
    /// The `-shm` file, opened at the first look, its inode, and when the path was last seen to
    /// name it; reopened when the path names another file.
    file: std::sync::Mutex<Option<(Arc<std::fs::File>, u64, std::time::Instant)>>,
}

impl WalIndex {
    fn header(&self) -> Option<[u8; WAL_INDEX_HEADER]> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let mut file = self.file.lock().ok()?;
        let now = std::time::Instant::now();
        if file
            .as_ref()
            .is_none_or(|(_, _, seen)| now.duration_since(*seen) >= WAL_INDEX_RESTAT)
        {
            // The inode at the path now: a `-shm` file removed and created again (all
            // connections closed meanwhile) is read anew, never through a stale descriptor.
            let inode = std::fs::metadata(&self.path).ok()?.ino();
            match file.as_mut() {
                Some((_, i, seen)) if *i == inode => *seen = now,
                _ => *file = Some((Arc::new(std::fs::File::open(&self.path).ok()?), inode, now)),
            }
        }
        // Read outside the lock: two requests at once each read for themselves.
        let f = file.as_ref()?.0.clone();
        drop(file);
        let mut header = [0u8; WAL_INDEX_HEADER];
        f.read_exact_at(&mut header, 0).ok()?;
        Some(header)
    }
}
