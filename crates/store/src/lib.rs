//! The store room: crabapple's SQL state. It owns the schema and its migrations, the generic table
//! of JSON:API resources and their relationship linkage (`edges`), API keys, small settings (`meta`)
//! and the virtual clock. It knows nothing above it: callers pass plain types and SQL-ready filters.
//!
//! SQLite is the embedded backend (WAL, one writer connection, a pool of readers). The SQL is kept
//! to what PostgreSQL also speaks except for JSON access, which goes through [`sql::json_attr`], so a
//! second backend only has to swap that dialect and the pool type.

mod cache;
pub mod clock;
pub mod fault;
pub mod files;
mod keys;
pub mod ledger;
mod memo;
pub mod messaging;
pub mod reports;
mod resources;
mod shared;
mod sql;
pub mod timeline;

pub use clock::Clock;
pub use fault::{FaultKind, StorageFault, error_reason};
pub use keys::KeyRow;
pub use resources::{Filter, ListQuery, Resource, SortKey, SqlValue};

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_core.sql")),
    (2, include_str!("../migrations/sqlite/0002_commerce.sql")),
    (3, include_str!("../migrations/sqlite/0003_messaging.sql")),
    (
        4,
        include_str!("../migrations/sqlite/0004_attribute_indexes.sql"),
    ),
    (5, include_str!("../migrations/sqlite/0005_reports.sql")),
    (
        6,
        include_str!("../migrations/sqlite/0006_lazy_notifications.sql"),
    ),
    (
        7,
        include_str!("../migrations/sqlite/0007_report_files.sql"),
    ),
    (8, include_str!("../migrations/sqlite/0008_timeline.sql")),
];

/// Handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// One connection: SQLite has a single writer, and queuing here avoids SQLITE_BUSY.
    writer: Pool<Sqlite>,
    reader: Pool<Sqlite>,
    pub clock: Clock,
    cache: cache::ResourceCache,
    /// Notices other processes' commits ([`Store::see_other_writers`]).
    watch: Arc<shared::Watch>,
    /// Test hook: `PRAGMA max_page_count` of the writer connection, 0 for SQLite's default
    /// ([`Store::limit_pages_for_tests`]).
    page_limit: Arc<AtomicU32>,
    /// No timeline entry is planned before this virtual time ([`timeline`]).
    next_due: Arc<AtomicI64>,
    /// The directory the database file is in: the data directory, where files too large for
    /// SQL rows live (uploaded assets, [`files`]).
    dir: Arc<std::path::PathBuf>,
}

/// A write transaction; dropped without `commit` it rolls back, so a failed request writes nothing.
pub struct Tx {
    tx: sqlx::Transaction<'static, Sqlite>,
    now_ms: i64,
    cache: cache::ResourceCache,
    /// Its watch and clock: another process may have committed before this transaction.
    store: Store,
    /// Resources this transaction wrote: dropped from the cache when it commits.
    touched: Vec<(String, String)>,
    cleared: bool,
    /// Ledger counters and outbox rows written at commit.
    pending: ledger::Pending,
    /// Resources, linkage and settings this transaction read ([`memo`]).
    memo: memo::Memo,
    /// Subscription steps due up to a time, kept in memory by a batch ([`ledger::DueWindow`]).
    due_window: Option<ledger::DueWindow>,
    /// The ledger kept in memory by a batch ([`Tx::ledger_batch`]).
    overlay: Option<ledger::Overlay>,
    /// The earliest timeline entry this transaction planned ([`Tx::timeline_plan`]).
    planned_min: Option<i64>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Store> {
        // The database holds the keys' public halves, the ledger and the world: owner only.
        // Created 0600 before SQLite opens it, so its -wal and -shm files get the same mode.
        if !path.exists() {
            match files::write_secret(path, b"") {
                // Another process opening the same new data directory created it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                r => r.with_context(|| format!("creating {}", path.display()))?,
            }
        }
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a committed transaction survives the process being killed (kill -9);
            // only an OS crash could lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(shared::BUSY_TIMEOUT)
            .foreign_keys(true);
        // Connecting sets WAL mode, which a new database file only takes under an exclusive lock:
        // another process opening it at the same moment makes that wait too.
        let page_limit = Arc::new(AtomicU32::new(0));
        let writer = shared::with_busy_retry(|| async {
            let limit = page_limit.clone();
            Ok(no_reaping(SqlitePoolOptions::new())
                .max_connections(1)
                // Requests queue here for the one writer; each may then wait up to ~33 s for
                // another process's lock (see `shared`), so the queue must not give up sooner.
                .acquire_timeout(Duration::from_secs(120))
                .after_connect(move |conn, _| {
                    let limit = limit.load(Ordering::Acquire);
                    Box::pin(async move { apply_page_limit(conn, limit).await })
                })
                // A connection a failed COMMIT or ROLLBACK left inside a transaction is closed,
                // not reused (see `fault`).
                .after_release(|conn, _| Box::pin(async { Ok(fault::writer_is_clean(conn).await) }))
                .connect_with(opts.clone())
                .await?)
        })
        .await
        .map_err(|e| explain_open_error(e, path))?;
        migrate(&writer)
            .await
            .map_err(|e| explain_open_error(e, path))?;
        let reader = no_reaping(SqlitePoolOptions::new())
            .max_connections(4)
            .min_connections(1)
            .connect_with(opts.clone().read_only(true))
            .await?;
        let watch = no_reaping(SqlitePoolOptions::new())
            .max_connections(1)
            .min_connections(1)
            .connect_with(opts.read_only(true))
            .await?;
        let clock = Clock::load(&writer)
            .await
            .map_err(|e| explain_open_error(e, path))?;
        Ok(Store {
            writer,
            reader,
            clock,
            cache: cache::ResourceCache::default(),
            watch: Arc::new(shared::Watch::new(watch)),
            page_limit,
            next_due: Arc::new(AtomicI64::new(timeline::UNKNOWN)),
            dir: Arc::new(
                path.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| ".".into()),
            ),
        })
    }

    /// Test hook, for tests only: caps the database at `pages` pages (`PRAGMA max_page_count` on
    /// the writer connection, also on a fresh one), so a write that needs more fails with a real
    /// `SQLITE_FULL` from SQLite, as on a full disk; `None` lifts the cap. Never called by
    /// crabapple itself.
    #[doc(hidden)]
    pub async fn limit_pages_for_tests(&self, pages: Option<u32>) -> Result<()> {
        let pages = pages.unwrap_or(0);
        self.page_limit.store(pages, Ordering::Release);
        apply_page_limit(&mut *self.writer.acquire().await?, pages).await?;
        Ok(())
    }

    /// Pages the database file has now (`PRAGMA page_count`).
    #[doc(hidden)]
    pub async fn page_count(&self) -> Result<u32> {
        Ok(sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.reader)
            .await?)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The data directory (the database file's directory).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Begins a write transaction holding SQLite's write lock from the start (`BEGIN
    /// IMMEDIATE`), so no statement inside it can fail because another process writes; a lock
    /// held elsewhere is waited for and retried (see `shared`).
    pub async fn begin(&self) -> Result<Tx> {
        let tx = shared::with_busy_retry(|| async {
            Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
        })
        .await?;
        Ok(Tx {
            tx,
            now_ms: self.clock.now_ms(),
            cache: self.cache.clone(),
            store: self.clone(),
            touched: Vec::new(),
            cleared: false,
            pending: Default::default(),
            memo: Default::default(),
            due_window: None,
            overlay: None,
            planned_min: None,
        })
    }

    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.meta_set(key, value).await?;
        tx.commit().await
    }

    /// Makes what other processes committed visible here: when another process committed since
    /// the last call, empties the resource cache and re-reads the clock offset (true then). The
    /// server calls it before every request: one `PRAGMA data_version` when nothing was
    /// committed, and one more read of the write token when this process committed.
    pub async fn see_other_writers(&self) -> Result<bool> {
        let r = self
            .watch
            .check(|| async {
                self.cache.clear();
                self.timeline_forget_next_due();
                self.reload_clock().await
            })
            .await;
        if r.is_err() {
            // Unsure what changed: serve nothing from the cache.
            self.cache.clear();
        }
        r
    }

    /// Picks up a clock offset another process persisted.
    pub async fn reload_clock(&self) -> Result<()> {
        self.clock.reload(&self.reader).await
    }

    /// Advances the virtual clock (persisted).
    pub async fn advance_clock(&self, by_ms: i64) -> Result<i64> {
        let mut tx = self.begin().await?;
        tx.memo.forget();
        let offset = self.clock.advance(&mut tx.tx, by_ms).await?;
        tx.commit().await?;
        self.clock.adopt(offset);
        Ok(self.now_ms())
    }

    pub(crate) fn reader(&self) -> &Pool<Sqlite> {
        &self.reader
    }
}

impl Tx {
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The data directory of the store this transaction writes to.
    pub fn data_dir(&self) -> &Path {
        self.store.data_dir()
    }

    /// Commits; only an `Ok` means the writes are durable (a caller answers 2xx only then).
    /// Committed or not, what the transaction touched leaves the resource cache: after a failed
    /// COMMIT nobody can be sure what the database holds (issue 8, full disk).
    pub async fn commit(mut self) -> Result<()> {
        let token = uuid::Uuid::new_v4().to_string();
        let left = match self.flush_ledger().await {
            Ok(()) => self.leave_token(&token).await,
            Err(e) => Err(e),
        };
        let result = match left {
            Ok(previous) => self
                .tx
                .commit()
                .await
                .map(|()| previous)
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        if self.cleared {
            self.cache.clear();
        } else {
            self.cache.forget(&self.touched);
        }
        // On an error the transaction is dropped here: its ROLLBACK is queued, and the writer
        // connection is checked before it is used again (`fault::writer_is_clean`).
        let previous = result.context("committing a write transaction")?;
        if let Some(at) = self.planned_min {
            self.store.timeline_planned(at);
        }
        let store = self.store;
        let seen = store
            .watch
            .committed(previous, token, || async {
                store.cache.clear();
                store.timeline_forget_next_due();
                store.reload_clock().await
            })
            .await;
        if let Err(e) = seen {
            // Committed all the same; the cache was emptied.
            tracing::warn!("re-reading the clock after a commit: {e:#}");
        }
        Ok(())
    }

    /// A meta setting as this transaction sees it.
    pub async fn meta_get(&mut self, key: &str) -> Result<Option<String>> {
        if let Some(v) = self.memo.meta.get(key) {
            return Ok(v.clone());
        }
        let v = sqlx::query_scalar::<_, String>("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        self.memo.meta.insert(key.to_string(), v.clone());
        Ok(v)
    }

    /// Replaces the write token with `token` (see `shared`); the one it replaced.
    async fn leave_token(&mut self, token: &str) -> Result<Option<String>> {
        // The token tells other processes (and this one) whose commit this was.
        let previous = self.meta_get(shared::WRITE_TOKEN).await?;
        self.meta_set(shared::WRITE_TOKEN, token).await?;
        Ok(previous)
    }

    pub async fn meta_set(&mut self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.write_conn().await?)
        .await?;
        Ok(())
    }
}

/// `PRAGMA max_page_count` for [`Store::limit_pages_for_tests`]; 0 leaves SQLite's default.
async fn apply_page_limit(conn: &mut sqlx::SqliteConnection, pages: u32) -> sqlx::Result<()> {
    // SQLite's default maximum (4294967294 pages) when the cap is lifted.
    let pages = if pages == 0 { u32::MAX - 1 } else { pages };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {pages}"
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// A local file needs no connection recycling. Without an idle timeout and a lifetime, sqlx
/// runs no periodic reaper task, which could spin while the runtime shuts down with a
/// connection still on its way back to the pool (a CLI command then never exits).
fn no_reaping(o: SqlitePoolOptions) -> SqlitePoolOptions {
    o.idle_timeout(None).max_lifetime(None)
}

/// Names the database file in an error opening it, and when SQLite says the file is not a
/// database (code 26), is malformed (code 11) or cannot be written (code 8), what to do about it.
pub fn explain_open_error(e: anyhow::Error, path: &Path) -> anyhow::Error {
    let code = e
        .chain()
        .find_map(|c| c.downcast_ref::<sqlx::Error>())
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        // Extended codes keep the primary code in their low byte (1544 is READONLY_DIRECTORY).
        .and_then(|c| c.parse::<i32>().ok())
        .map(|c| c & 0xff);
    match code {
        Some(26 | 11) => e.context(format!(
            "{} is damaged (not a readable SQLite database): restore it from a backup, or move \
             the data directory aside to start afresh with a new team and keys",
            path.display()
        )),
        // SQLITE_READONLY: the file or its directory (where the -wal and -shm files go).
        Some(8) => e.context(format!(
            "{} cannot be written: make it, its -wal and -shm files and its directory writable \
             by this user",
            path.display()
        )),
        _ => e.context(format!("opening {}", path.display())),
    }
}

/// Applies the migrations not applied yet. Each runs in a write transaction taken at its start
/// and checks again inside it, so processes opening a new data directory at once apply each
/// migration exactly once.
async fn migrate(pool: &Pool<Sqlite>) -> Result<()> {
    shared::with_busy_retry(|| async {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            .execute(pool)
            .await?;
        Ok(())
    })
    .await?;
    for (version, sql) in MIGRATIONS {
        if applied(&mut *pool.acquire().await?, *version).await? {
            continue;
        }
        let mut tx =
            shared::with_busy_retry(|| async { Ok(pool.begin_with("BEGIN IMMEDIATE").await?) })
                .await?;
        if applied(&mut tx, *version).await? {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn applied(conn: &mut sqlx::SqliteConnection, version: i64) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}
