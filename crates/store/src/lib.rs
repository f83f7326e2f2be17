//! The store room: crabapple's SQL state. It owns the schema and its migrations, the generic table
//! of JSON:API resources and their relationship linkage (`edges`), API keys, small settings (`meta`)
//! and the virtual clock. It knows nothing above it: callers pass plain types and SQL-ready filters.
//!
//! Two backends, one code: SQLite is the embedded default (WAL, one writer connection, a pool of
//! readers); PostgreSQL serves a shared instance with several replicas (issue 12). Every
//! difference between them lives in [`db`] (the dialect module).

mod batch;
mod cache;
pub mod clock;
pub mod commits;
mod db;
pub mod fault;
pub mod files;
mod keys;
mod known;
mod listen;
mod memo;
pub mod notify;
mod positional;
pub mod quota;
mod resources;
mod shared;
pub mod timeline;
mod tx_state;
pub mod wal;

pub use clock::Clock;
pub use commits::CommitWaiter;
/// What a family's persistence (the commerce ledger in crabapple-storekit) writes its SQL with:
/// the `Any` driver's types and a statement builder numbering `$N` placeholders for both engines.
pub use db::{Db, DbConn, DbPool, DbRow, QueryBuilder, Separated};
pub use fault::{FaultKind, StorageFault, error_reason};
pub use keys::KeyRow;
pub use resources::{Filter, ListQuery, Resource, SortKey, SqlValue};
pub use tx_state::TxState;

use anyhow::{Context, Result};
pub use db::{Dialect, redact as redact_url, schema_of_url};
use sqlx::Executor;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// SQLite: one connection, since SQLite has a single writer and queuing here avoids
    /// SQLITE_BUSY. PostgreSQL: a few connections, serialized per world by an advisory lock
    /// ([`Dialect::write_lock`]).
    writer: DbPool,
    reader: DbPool,
    dialect: Dialect,
    pub clock: Clock,
    cache: cache::ResourceCache,
    /// Notices other processes' commits ([`Store::see_other_writers`]).
    watch: Arc<shared::Watch>,
    /// Test hook: `PRAGMA max_page_count` of the writer connection, 0 for SQLite's default
    /// ([`Store::limit_pages_for_tests`]).
    page_limit: Arc<AtomicU32>,
    /// No timeline entry is planned before this virtual time ([`timeline`]).
    next_due: Arc<AtomicI64>,
    /// The data directory: where files too large for SQL rows live (uploaded assets,
    /// [`files`]); with SQLite also the database file's directory.
    dir: Arc<std::path::PathBuf>,
    /// Rate-limit hits counted in memory between exact counts ([`quota`]).
    quota: Arc<quota::Local>,
    /// [`Store::pool_uses`].
    uses: Arc<AtomicU64>,
    /// The write-ahead log size over which a commit empties it ([`wal`]).
    wal_limit: Arc<AtomicU64>,
}

/// A write transaction; dropped without `commit` it rolls back, so a failed request writes nothing.
pub struct Tx {
    tx: sqlx::Transaction<'static, db::Db>,
    now_ms: i64,
    cache: cache::ResourceCache,
    /// Its watch and clock: another process may have committed before this transaction.
    store: Store,
    /// Resources this transaction wrote: dropped from the cache when it commits.
    touched: Vec<(String, String)>,
    cleared: bool,
    /// Resources, linkage and settings this transaction read ([`memo`]).
    memo: memo::Memo,
    /// Families' state in this transaction and its savepoints ([`tx_state`]).
    states: tx_state::States,
    /// The earliest timeline entry this transaction planned ([`Tx::timeline_plan`]).
    planned_min: Option<i64>,
    /// Writes kept in memory, written in multi-row statements ([`Tx::batch_writes`]).
    batch: batch::Batch,
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
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into());
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::connect_sqlite(&url, path, dir)
            .await
            .map_err(|e| explain_open_error(e, path))
    }

    /// Connects to the database at `url`: a `sqlite:` file or a `postgres://` database (its
    /// schema is the one the URL's `options=-c search_path=…` names, else `public`). `dir` holds
    /// the files that are not rows (uploaded assets); replicas of one PostgreSQL database share it.
    pub async fn connect(url: &str, dir: &Path) -> Result<Store> {
        match Dialect::of_url(url) {
            Some(Dialect::Sqlite) => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                Store::open(Path::new(path)).await
            }
            Some(Dialect::Postgres) => match db::schema_of_url(url) {
                Some((base, schema)) => Self::connect_schema(&base, &schema, dir).await,
                None => Self::connect_postgres(url, dir.to_path_buf()).await,
            },
            None => anyhow::bail!(
                "unsupported database URL (expected sqlite:PATH or postgres://USER@HOST:PORT/DB)"
            ),
        }
    }

    /// Connects to schema `schema` of the PostgreSQL database at `url`, creating the schema
    /// (and migrating it) when it does not exist: one isolated store per schema on one database
    /// (a world, a test).
    pub async fn connect_schema(url: &str, schema: &str, dir: &Path) -> Result<Store> {
        anyhow::ensure!(
            Dialect::of_url(url) == Some(Dialect::Postgres),
            "schemas are PostgreSQL's: {} is not a postgres:// URL",
            db::redact(url)
        );
        db::check_schema(schema)?;
        // Replicas creating the same schema at once: IF NOT EXISTS still races on the catalog,
        // so a unique violation there means another one made it.
        if let Err(e) = db::run_once(url, format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await {
            let raced = format!("{e:#}").contains("duplicate key");
            if !raced {
                return Err(e);
            }
        }
        Self::connect_postgres(&db::schema_url(url, schema), dir.to_path_buf()).await
    }

    /// Removes schema `schema` and everything in it (a deleted world, a finished test).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        db::check_schema(schema)?;
        db::run_once(url, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await
    }

    async fn connect_sqlite(url: &str, path: &Path, dir: std::path::PathBuf) -> Result<Store> {
        let opts = Dialect::connect_options(url)?;
        let d = Dialect::Sqlite;
        // Connecting sets WAL mode, which a new database file only takes under an exclusive lock:
        // another process opening it at the same moment makes that wait too.
        // A damaged, foreign or read-only file fails here at once: a pool would retry a
        // connection whose setup fails until its acquire timeout.
        shared::with_busy_retry(|| async {
            use sqlx::Connection;
            let mut c = DbConn::connect_with(&opts).await?;
            sqlite_pragmas(&mut c, false).await?;
            c.execute("SELECT count(*) FROM sqlite_master").await?;
            c.close().await?;
            Ok(())
        })
        .await?;
        let page_limit = Arc::new(AtomicU32::new(0));
        let uses = Arc::new(AtomicU64::new(0));
        let writer = shared::with_busy_retry(|| async {
            let limit = page_limit.clone();
            let writer_uses = uses.clone();
            Ok(d.pool_options()
                .max_connections(1)
                // Requests queue here for the one writer; each may then wait up to ~33 s for
                // another process's lock (see `shared`), so the queue must not give up sooner.
                .acquire_timeout(Duration::from_secs(120))
                .after_connect(move |conn, _| {
                    let limit = limit.load(Ordering::Acquire);
                    Box::pin(async move {
                        sqlite_pragmas(conn, false).await?;
                        apply_page_limit(conn, limit).await
                    })
                })
                // A connection a failed COMMIT or ROLLBACK left inside a transaction is closed,
                // not reused (see `fault`).
                .after_release(move |conn, _| {
                    writer_uses.fetch_add(1, Ordering::Relaxed);
                    Box::pin(async { Ok(fault::writer_is_clean(conn).await) })
                })
                .connect_with(opts.clone())
                .await?)
        })
        .await?;
        migrate(&writer, d).await?;
        let reader = counted(d.pool_options(), &uses)
            .max_connections(4)
            .min_connections(1)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, true).await }))
            .connect_with(opts.clone())
            .await?;
        let watch = d
            .pool_options()
            .max_connections(1)
            .min_connections(1)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, true).await }))
            .connect_with(opts)
            .await?;
        let watch = shared::Watch::sqlite(watch, path);
        Self::assemble(writer, reader, d, watch, page_limit, dir, uses).await
    }

    async fn connect_postgres(url: &str, dir: std::path::PathBuf) -> Result<Store> {
        let opts = Dialect::connect_options(url)?;
        let d = Dialect::Postgres;
        // An unreachable server or a refused login fails here at once (a pool would retry).
        {
            use sqlx::Connection;
            DbConn::connect_with(&opts)
                .await
                .with_context(|| format!("connecting to {}", db::redact(url)))?
                .close()
                .await?;
        }
        let uses = Arc::new(AtomicU64::new(0));
        let writer = counted(d.pool_options(), &uses)
            .max_connections(4)
            .connect_with(opts.clone())
            .await
            .with_context(|| format!("connecting to {}", db::redact(url)))?;
        migrate(&writer, d).await?;
        // The readers' only writes are the rate-limit counters ([`quota`]): losing the last of
        // them in a crash of PostgreSQL costs nothing, so they do not wait for the WAL.
        let reader = counted(d.pool_options(), &uses)
            .max_connections(8)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET synchronous_commit = off").await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let schema: String = sqlx::query_scalar("SELECT CAST(current_schema() AS TEXT)")
            .fetch_one(&writer)
            .await?;
        let coherence = notify::enabled()
            .then(|| notify::Coherence::start(url.to_string(), &schema, reader.clone()));
        let watch = shared::Watch::postgres(reader.clone(), coherence);
        Self::assemble(writer, reader, d, watch, Arc::default(), dir, uses).await
    }

    async fn assemble(
        writer: DbPool,
        reader: DbPool,
        dialect: Dialect,
        watch: shared::Watch,
        page_limit: Arc<AtomicU32>,
        dir: std::path::PathBuf,
        uses: Arc<AtomicU64>,
    ) -> Result<Store> {
        let clock = Clock::load(&writer).await?;
        Ok(Store {
            writer,
            reader,
            dialect,
            clock,
            cache: cache::ResourceCache::default(),
            watch: Arc::new(watch),
            page_limit,
            next_due: Arc::new(AtomicI64::new(timeline::UNKNOWN)),
            dir: Arc::new(dir),
            quota: Arc::default(),
            uses,
            wal_limit: Arc::new(AtomicU64::new(wal::limit_from_env())),
        })
    }

    /// How many times a connection of the reader or writer pool was handed back so far: at
    /// least once per statement outside a transaction and once per transaction. Unchanged over
    /// a while, nothing of this process sent the store a statement (issue 12: an idle world's
    /// scheduler sends none).
    pub fn pool_uses(&self) -> u64 {
        self.uses.load(Ordering::Relaxed)
    }

    /// The engine this store runs on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
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
        let n: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u32)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The data directory (the database file's directory).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Begins a write transaction holding the store's write lock from the start (SQLite's `BEGIN
    /// IMMEDIATE`, PostgreSQL's advisory lock: [`Dialect::write_lock`]), so no statement inside it
    /// can fail because another process writes; a lock held elsewhere is waited for and retried
    /// (see `shared`).
    pub async fn begin(&self) -> Result<Tx> {
        let mut tx = shared::with_busy_retry(|| async {
            Ok(match self.dialect.begin_sql() {
                Some(sql) => self.writer.begin_with(sql).await?,
                None => self.writer.begin().await?,
            })
        })
        .await?;
        if let Some(lock) = self.dialect.write_lock() {
            tx.execute(lock).await?;
        }
        Ok(Tx {
            tx,
            now_ms: self.clock.now_ms(),
            cache: self.cache.clone(),
            store: self.clone(),
            touched: Vec::new(),
            cleared: false,
            memo: Default::default(),
            states: Default::default(),
            planned_min: None,
            batch: Default::default(),
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
        if self.watch.unchanged() {
            return Ok(false);
        }
        let r = self
            .watch
            .check(|resources| self.other_writers_seen(resources))
            .await;
        if r.is_err() {
            // Unsure what changed: serve nothing from the cache.
            self.cache.clear();
        }
        r
    }

    /// What another process committed invalidates here: the cached resources when it wrote
    /// resources, what the timeline knows of its next entry, the clock offset.
    async fn other_writers_seen(&self, resources: bool) -> Result<()> {
        if resources {
            self.cache.clear();
        }
        // Linkage and the ledger are not in the resource cache, but answers read them.
        self.cache.note_change();
        self.timeline_forget_next_due();
        self.reload_clock().await
    }

    /// True when it is certain, without waiting, that [`Store::see_other_writers`] would find
    /// nothing now (no process committed since the last look).
    pub fn nothing_committed_since_last_look(&self) -> bool {
        self.watch.unchanged()
    }

    /// Whether this store answers from its cache on the strength of other processes'
    /// notifications now, not reading the write token ([`notify`]; PostgreSQL, serving processes).
    pub fn relies_on_notifications(&self) -> bool {
        self.watch.relies_on_notifications()
    }

    /// How many serving replicas are registered for this store's notifications now (0 on
    /// SQLite, and with `CRABAPPLE_COHERENCE=read`).
    pub async fn serving_replicas(&self) -> Result<usize> {
        match self.dialect {
            Dialect::Postgres => notify::registered(&self.reader).await,
            Dialect::Sqlite => Ok(0),
        }
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

    pub(crate) fn reader(&self) -> &DbPool {
        &self.reader
    }

    /// A number that moves after every commit of this process and every other process's commit
    /// seen ([`Store::see_other_writers`]): an answer computed entirely from reads begun while it
    /// had one value may be served again while it keeps that value.
    pub fn changes(&self) -> u64 {
        self.cache.changes()
    }

    /// The pool of read connections, for a family's queries outside a transaction.
    pub fn read_pool(&self) -> &DbPool {
        &self.reader
    }

    /// The writer pool, for a single statement outside a [`Tx`] that other processes' caches
    /// need not hear of (a delivery's lease and result): wrap it in [`with_busy_retry`].
    pub fn write_pool(&self) -> &DbPool {
        &self.writer
    }
}

impl Tx {
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The engine of the store this transaction writes to.
    pub fn dialect(&self) -> Dialect {
        self.store.dialect
    }

    /// The transaction's connection for a statement that reads. A statement that writes takes
    /// [`Tx::write_conn`] (which also issues deferred savepoints). It does not see writes kept
    /// in memory ([`Tx::batch_writes`]): a batching caller writes them first.
    pub fn conn(&mut self) -> &mut DbConn {
        debug_assert!(
            self.batch.is_empty(),
            "a read through Tx::conn while writes are kept in memory (Tx::write_batch first)"
        );
        &mut self.tx
    }

    /// Forgets what the transaction read ([`memo`]): after a family emptied tables.
    pub fn forget_reads(&mut self) {
        self.memo.forget();
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
        let wrote_resources = self.wrote_resources();
        let written = match self.write_batch().await {
            Ok(()) => self.flush_states().await,
            Err(e) => Err(e),
        };
        let left = match written {
            Ok(()) => self.leave_token(&token).await,
            Err(e) => Err(e),
        };
        let announced = match left {
            Ok(previous) => self
                .store
                .watch
                .announce(&mut self.tx, &token, wrote_resources)
                .await
                .map(|pending| (previous, pending)),
            Err(e) => Err(e),
        };
        let result = match announced {
            Ok(announced) => self
                .tx
                .commit()
                .await
                .map(|()| announced)
                .map_err(Into::into),
            Err(e) => Err(e),
        };
        if self.cleared {
            self.cache.clear();
        } else {
            self.cache.forget(&self.touched);
        }
        // Whatever it wrote is visible now (or nothing was written): answers computed before
        // are stale.
        self.cache.note_change();
        // On an error the transaction is dropped here: its ROLLBACK is queued, and the writer
        // connection is checked before it is used again (`fault::writer_is_clean`).
        let (previous, pending) = result.context("committing a write transaction")?;
        self.store.watch.local_commits.bump();
        self.store.bound_wal().await;
        if let Some(pending) = pending {
            // The serving replicas know of this commit before its client hears of it.
            pending.wait().await;
        }
        if let Some(at) = self.planned_min {
            self.store.timeline_planned(at);
        }
        let store = self.store;
        let seen = store
            .watch
            .committed(previous, token, wrote_resources, |resources| {
                store.other_writers_seen(resources)
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

    /// Replaces the write token with `token` (see `shared`), and the resources token too when
    /// this transaction wrote resources; the write token it replaced.
    async fn leave_token(&mut self, token: &str) -> Result<Option<String>> {
        // The token tells other processes (and this one) whose commit this was.
        let previous = self.meta_get(shared::WRITE_TOKEN).await?;
        self.meta_set(shared::WRITE_TOKEN, token).await?;
        if self.wrote_resources() {
            self.meta_set(shared::RESOURCES_TOKEN, token).await?;
        }
        Ok(previous)
    }

    /// Whether this transaction wrote resources (what other processes' caches hold).
    fn wrote_resources(&self) -> bool {
        self.cleared || !self.touched.is_empty()
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

/// Runs `op` again (after a backoff) while it fails because the database is locked (SQLite's
/// other writers; see `shared`): for a family's statement outside a [`Tx`] on
/// [`Store::write_pool`]. `op` must be safe to repeat: a failed attempt wrote nothing.
pub async fn with_busy_retry<T, F, Fut>(op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    shared::with_busy_retry(op).await
}

/// `o` counting in `uses` every connection handed back ([`Store::pool_uses`]).
fn counted(o: sqlx::any::AnyPoolOptions, uses: &Arc<AtomicU64>) -> sqlx::any::AnyPoolOptions {
    let uses = uses.clone();
    o.after_release(move |_, _| {
        uses.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(true) })
    })
}

/// `PRAGMA max_page_count` for [`Store::limit_pages_for_tests`]; 0 leaves SQLite's default.
async fn apply_page_limit(conn: &mut DbConn, pages: u32) -> sqlx::Result<()> {
    // SQLite's default maximum (4294967294 pages) when the cap is lifted.
    let pages = if pages == 0 { u32::MAX - 1 } else { pages };
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {pages}"
    )))
    .await?;
    Ok(())
}

/// SQLite's settings of every connection: WAL + NORMAL (a committed transaction survives the
/// process being killed, kill -9; only an OS crash could lose the last commits), the busy
/// handler's wait, foreign keys; readers are read-only.
async fn sqlite_pragmas(conn: &mut DbConn, read_only: bool) -> sqlx::Result<()> {
    let ms = shared::BUSY_TIMEOUT.as_millis();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {ms}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA query_only = {}",
        if read_only { "ON" } else { "OFF" }
    )))
    .await?;
    Ok(())
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

/// Applies the migrations of the store's dialect not applied yet. On SQLite each runs in a write
/// transaction taken at its start and checks again inside it; on PostgreSQL all run under an
/// advisory lock held by the migrating connection. Either way processes (replicas) opening a new
/// database at once apply each migration exactly once.
async fn migrate(pool: &DbPool, d: Dialect) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let lock = db::migration_lock(d);
    if let Some((lock, _)) = lock {
        conn.execute(lock).await?;
    }
    // Under the lock: PostgreSQL's `IF NOT EXISTS` is no guard against a concurrent creator.
    let r = match create_migrations_table(&mut conn).await {
        Ok(()) => apply_migrations(&mut conn, d).await,
        Err(e) => Err(e),
    };
    if let Some((_, unlock)) = lock {
        conn.execute(unlock).await?;
    }
    r
}

/// `schema_migrations`, waiting out another SQLite process's write lock as `shared` does.
async fn create_migrations_table(conn: &mut DbConn) -> Result<()> {
    loop {
        let r = sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
        )
        .execute(&mut *conn)
        .await
        .map_err(anyhow::Error::from);
        match r {
            Err(e) if shared::is_busy(&e) => tokio::time::sleep(Duration::from_millis(100)).await,
            r => return r.map(|_| ()),
        }
    }
}

/// Runs on the one connection `migrate` holds (SQLite's writer pool has only that one).
async fn apply_migrations(conn: &mut DbConn, d: Dialect) -> Result<()> {
    use sqlx::Connection;
    for (version, sql) in d.migrations() {
        if applied(&mut *conn, *version).await? {
            continue;
        }
        let mut tx = loop {
            let begun = match d.begin_sql() {
                Some(b) => conn.begin_with(b).await,
                None => conn.begin().await,
            };
            match begun.map_err(anyhow::Error::from) {
                Err(e) if shared::is_busy(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                r => break r?,
            }
        };
        if applied(&mut tx, *version).await? {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("migration {version} ({d:?})"))?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn applied(conn: &mut DbConn, version: i64) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}
