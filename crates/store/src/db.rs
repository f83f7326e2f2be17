//! The SQL dialects: everything that differs between SQLite (the embedded default, one data
//! directory) and PostgreSQL (a shared instance for several replicas, issue 12) lives here and
//! nowhere else.
//!
//! Every other module of the store is written once against sqlx's `Any` driver ([`Db`]): its
//! columns are integers, reals, text and blobs only (times are epoch ms, JSON is text), which the
//! driver carries unchanged on both backends, and its SQL text is the subset both engines speak
//! (`$N` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING`). What they do not share goes
//! through this module: JSON access ([`Dialect::json_attr`] and friends), how a write transaction
//! begins ([`Dialect::begin_sql`]), the migrations of each dialect ([`Dialect::migrations`]), how
//! a connection is set up, and how other processes' commits are noticed (`shared`).
//!
//! Why `Any` and not a trait with two implementations: the store has about a hundred statements
//! and one copy of each keeps both backends honest; the driver's per-value conversion costs a
//! copy of each bound or read value, measured in the note of issue 12.

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::{Arguments, Encode, Type};
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

pub type Db = sqlx::Any;
pub type DbRow = sqlx::any::AnyRow;
pub type DbPool = sqlx::AnyPool;
pub type DbConn = sqlx::AnyConnection;

/// Which engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
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
    (9, include_str!("../migrations/sqlite/0009_rate_counts.sql")),
    (
        10,
        include_str!("../migrations/sqlite/0010_ledger_read_indexes.sql"),
    ),
];

/// PostgreSQL's schema, one file for the state SQLite reaches after its eight migrations; later
/// migrations get a number in both lists.
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (8, include_str!("../migrations/postgres/0008_schema.sql")),
    (
        9,
        include_str!("../migrations/postgres/0009_rate_counts.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_ledger_read_indexes.sql"),
    ),
];

/// Installs sqlx's SQLite and PostgreSQL drivers for `Any` (once per process).
pub(crate) fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        sqlx::any::install_drivers(&[sqlx::sqlite::any::DRIVER, sqlx::postgres::any::DRIVER])
            .expect("installing sqlx drivers once");
    });
}

impl Dialect {
    /// The dialect of a database URL (`sqlite:` or `postgres:`/`postgresql:`).
    pub fn of_url(url: &str) -> Option<Dialect> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    pub(crate) fn migrations(self) -> &'static [(i64, &'static str)] {
        match self {
            Dialect::Sqlite => SQLITE_MIGRATIONS,
            Dialect::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// The statement a write transaction begins with. SQLite takes its write lock at once
    /// (`BEGIN IMMEDIATE`: no statement inside can then fail with `SQLITE_BUSY_SNAPSHOT`).
    /// PostgreSQL begins normally and then takes the store's write lock ([`Dialect::write_lock`]).
    pub(crate) fn begin_sql(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => Some("BEGIN IMMEDIATE"),
            Dialect::Postgres => None,
        }
    }

    /// The statement run first in every write transaction: on PostgreSQL a transaction-scoped
    /// advisory lock of the schema, so writers of one world serialize across replicas as they do
    /// on SQLite (every check-then-write rule — one future price change per territory, unique
    /// bundle identifiers, counters — then holds with any number of replicas); readers never wait.
    pub(crate) fn write_lock(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(
                "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.crabapple.writer', 0))",
            ),
        }
    }

    /// SQL expression reading attribute `name` of the resource aliased `alias`, typed as
    /// SQLite's `json_extract` types it (strings, numbers, booleans as 1/0, NULL when absent).
    /// On PostgreSQL the function `crabapple_attr` (its migration) returns the same as text;
    /// [`Dialect::bind_value`] binds the compared values as text there.
    /// `name` comes from the manifest (alphanumeric); it is still checked before use.
    pub fn json_attr(self, alias: &str, name: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({alias}.attributes, '$.\"{}\"')", safe(name)),
            Dialect::Postgres => format!("crabapple_attr({alias}.attributes, '{}')", safe(name)),
        }
    }

    /// An ordering expression for attribute `name`: numbers numerically, strings by code point.
    pub(crate) fn json_sort(self, alias: &str, name: &str) -> String {
        match self {
            Dialect::Sqlite => self.json_attr(alias, name),
            Dialect::Postgres => format!("({alias}.attributes::jsonb -> '{}')", safe(name)),
        }
    }

    /// `ASC`/`DESC` with SQLite's placement of NULL (first ascending, last descending).
    pub(crate) fn order(self, descending: bool) -> &'static str {
        match (self, descending) {
            (Dialect::Sqlite, false) => " ASC",
            (Dialect::Sqlite, true) => " DESC",
            (Dialect::Postgres, false) => " ASC NULLS FIRST",
            (Dialect::Postgres, true) => " DESC NULLS LAST",
        }
    }

    /// SQL table expression of the elements of array attribute `name` (column `value`).
    pub(crate) fn json_elements(self, alias: &str, name: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_each({alias}.attributes, '$.\"{}\"')", safe(name)),
            Dialect::Postgres => format!(
                "crabapple_elements({alias}.attributes, '{}') AS value",
                safe(name)
            ),
        }
    }

    /// SQL expression reading key `key` of the JSON object in text column `column` as text
    /// (strings; numbers and booleans as SQLite's `json_extract` gives them on SQLite).
    pub fn json_text(self, column: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.\"{}\"')", safe(key)),
            Dialect::Postgres => format!("({column}::jsonb ->> '{}')", safe(key)),
        }
    }

    /// SQL expression reading key `key` of the JSON object in `column` as a number, for
    /// comparisons (not for reading back: PostgreSQL's `numeric` is not an `Any` type).
    pub fn json_num(self, column: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => self.json_text(column, key),
            Dialect::Postgres => format!("(({column}::jsonb ->> '{}')::numeric)", safe(key)),
        }
    }

    /// Binds a value compared with [`Dialect::json_attr`].
    pub(crate) fn bind_value(self, q: &mut Separated<'_>, v: &crate::SqlValue) {
        use crate::SqlValue::*;
        match (self, v) {
            (Dialect::Sqlite, Text(s)) => q.push_bind(s.clone()),
            (Dialect::Sqlite, Int(i)) => q.push_bind(*i),
            (Dialect::Sqlite, Real(f)) => q.push_bind(*f),
            (Dialect::Postgres, Text(s)) => q.push_bind(s.clone()),
            (Dialect::Postgres, Int(i)) => q.push_bind(i.to_string()),
            (Dialect::Postgres, Real(f)) => q.push_bind(pg_number(*f)),
        };
    }

    /// Pool options for this dialect: SQLite's connections are set up with its pragmas.
    pub(crate) fn pool_options(self) -> AnyPoolOptions {
        let o = AnyPoolOptions::new();
        match self {
            // A local file needs no connection recycling. Without an idle timeout and a lifetime,
            // sqlx runs no periodic reaper task, which could spin while the runtime shuts down
            // with a connection still on its way back to the pool (a CLI command never exits).
            Dialect::Sqlite => o.idle_timeout(None).max_lifetime(None),
            // Idle connections go after 5 s: each open world has its own pools, and a world
            // at rest keeps none between its delivery loop's looks (at most 30 s apart, or when
            // a commit wakes it), so 100 worlds on three replicas fit PostgreSQL's
            // `max_connections` (scripts/pg.sh: 400).
            Dialect::Postgres => o
                .idle_timeout(Some(Duration::from_secs(5)))
                .acquire_timeout(Duration::from_secs(60)),
        }
    }

    /// Connect options of a URL for this dialect.
    pub(crate) fn connect_options(url: &str) -> anyhow::Result<AnyConnectOptions> {
        install_drivers();
        Ok(AnyConnectOptions::from_str(url)?)
    }
}

impl Dialect {
    /// The largest id `table.column` (an identity / AUTOINCREMENT key) has handed out, for a
    /// batch that assigns the next ones itself (the ledger's overlay).
    pub fn last_id_sql(self, table: &str, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), \
                 COALESCE(MAX({column}), 0)) FROM {table}"
            ),
            Dialect::Postgres => format!("SELECT COALESCE(MAX({column}), 0) FROM {table}"),
        }
    }

    /// After rows were inserted with ids of their own: the statement that moves the key's
    /// sequence past them (SQLite's AUTOINCREMENT follows by itself).
    pub fn ids_taken_sql(self, table: &str, column: &str) -> Option<String> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 GREATEST((SELECT MAX({column}) FROM {table}), 1))"
            )),
        }
    }

    /// The suffix of a `SELECT` that picks rows to claim (a work queue's outbox): PostgreSQL's
    /// `FOR UPDATE SKIP LOCKED`, so replicas claiming at once each lock different rows and
    /// none waits for another's; empty on SQLite, whose single writer makes the claiming
    /// `UPDATE … WHERE key IN (SELECT …)` atomic by itself.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The clause that makes SQLite read a table through `index` (`INDEXED BY`), for a statement
    /// whose best index SQLite's planner cannot tell without statistics (crabapple runs no
    /// `ANALYZE`); empty on PostgreSQL, whose planner has them.
    pub fn indexed_by(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// Starts the keys of `tables` (`(table, column)`) over, after they were emptied.
    pub fn restart_ids_sql(self, tables: &[(&str, &str)]) -> String {
        match self {
            Dialect::Sqlite => {
                let names: Vec<String> = tables.iter().map(|(t, _)| format!("'{t}'")).collect();
                format!(
                    "DELETE FROM sqlite_sequence WHERE name IN ({})",
                    names.join(", ")
                )
            }
            Dialect::Postgres => {
                let calls: Vec<String> = tables
                    .iter()
                    .map(|(t, c)| format!("setval(pg_get_serial_sequence('{t}', '{c}'), 1, false)"))
                    .collect();
                format!("SELECT {}", calls.join(", "))
            }
        }
    }
}

/// How PostgreSQL's `jsonb ->> ` prints a number (`1.5`, `2`): integral reals without `.0`.
fn pg_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

fn safe(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// A statement built piece by piece with bound values: sqlx's `QueryBuilder` writes `?` for the
/// `Any` driver, which PostgreSQL does not take, so this one numbers its placeholders `$1, $2, …`,
/// which both engines take.
pub struct QueryBuilder {
    sql: String,
    args: AnyArguments,
}

impl QueryBuilder {
    pub fn new(init: impl Into<String>) -> QueryBuilder {
        QueryBuilder {
            sql: init.into(),
            args: AnyArguments::default(),
        }
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        use std::fmt::Write;
        let _ = write!(self.sql, "{sql}");
        self
    }

    pub fn push_bind<'t, T: Encode<'t, Db> + Type<Db>>(&mut self, value: T) -> &mut Self {
        // Encoding into `Any`'s owned buffer cannot fail for the types the store binds.
        self.args.add(value).expect("binding a value");
        let n = self.args.len();
        self.push(format_args!("${n}"))
    }

    /// A [`Separated`] writing `sep` between the pieces pushed through it.
    pub fn separated(&mut self, sep: &'static str) -> Separated<'_> {
        Separated {
            q: self,
            sep,
            first: true,
        }
    }

    /// `VALUES (…), (…)`: `row` pushes one item's values through the [`Separated`] it is given.
    pub fn push_values<I, F>(&mut self, items: I, mut row: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            row(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    pub fn build(self) -> sqlx::query::Query<'static, Db, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }

    pub fn build_query_scalar<O>(self) -> sqlx::query::QueryScalar<'static, Db, O, AnyArguments>
    where
        O: Send + Unpin + for<'r> sqlx::Decode<'r, Db> + Type<Db>,
        (O,): Send + Unpin + for<'r> sqlx::FromRow<'r, DbRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }
}

/// Pieces of a statement with a separator between them, as sqlx's `Separated`.
pub struct Separated<'a> {
    q: &'a mut QueryBuilder,
    sep: &'static str,
    first: bool,
}

impl Separated<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.q.push(self.sep);
        }
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.q.push(sql);
        self
    }

    pub fn push_bind<'t, T: Encode<'t, Db> + Type<Db>>(&mut self, value: T) -> &mut Self {
        self.separate();
        self.q.push_bind(value);
        self
    }

    pub fn push_unseparated(&mut self, sql: impl Display) -> &mut Self {
        self.q.push(sql);
        self
    }

    pub fn push_bind_unseparated<'t, T: Encode<'t, Db> + Type<Db>>(
        &mut self,
        value: T,
    ) -> &mut Self {
        self.q.push_bind(value);
        self
    }
}

/// The statements taking and releasing the lock migrations run under (PostgreSQL: a session
/// advisory lock, so replicas starting at once migrate one after the other).
pub(crate) fn migration_lock(d: Dialect) -> Option<(&'static str, &'static str)> {
    match d {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some((
            "SELECT pg_advisory_lock(hashtextextended(current_schema() || '.crabapple.migrate', 0))",
            "SELECT pg_advisory_unlock(hashtextextended(current_schema() || '.crabapple.migrate', 0))",
        )),
    }
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A PostgreSQL schema name crabapple accepts: lowercase letters, digits and `_`, 1–63 bytes,
/// not starting with a digit (no quoting needed anywhere).
pub(crate) fn check_schema(schema: &str) -> anyhow::Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(
        ok,
        "schema name {schema:?}: use lowercase letters, digits and _ (at most 63)"
    );
    Ok(())
}

/// `url` with its connections' `search_path` set to `schema`.
pub(crate) fn schema_url(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

/// The URL without its `options[search_path]=SCHEMA` parameter, and that schema (a URL naming
/// the schema its store lives in; [`schema_url`] makes them).
pub fn schema_of_url(url: &str) -> Option<(String, String)> {
    const KEY: &str = "options[search_path]=";
    let (base, query) = url.split_once('?')?;
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| match p.strip_prefix(KEY) {
            Some(s) => {
                schema = Some(s.to_string());
                false
            }
            None => true,
        })
        .collect();
    let base = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Some((base, schema?))
}

/// Runs one statement on a connection of its own (schema creation and removal).
pub(crate) async fn run_once(url: &str, sql: String) -> anyhow::Result<()> {
    use sqlx::{Connection, Executor};
    let opts = Dialect::connect_options(url)?;
    let mut conn = DbConn::connect_with(&opts)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {}: {e}", redact(url)))?;
    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
    conn.close().await?;
    Ok(())
}

/// A PostgreSQL session that LISTENs to channels (replicas' cache coherence, [`crate::notify`];
/// one per process and database, [`crate::listen`]): the only PostgreSQL-typed connection of
/// the store.
pub(crate) struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// The `application_name` of listening sessions (`pg_stat_activity` shows them), before the
    /// process id.
    pub(crate) const NAME: &'static str = "crabapple-listener";

    /// Connects to `url`, listening to no channel yet. Its session's `application_name` is
    /// [`Listener::NAME`] and this process's id.
    pub(crate) async fn connect(url: &str) -> anyhow::Result<Listener> {
        let sep = if url.contains('?') { '&' } else { '?' };
        let named = format!(
            "{url}{sep}application_name={}%20{}",
            Listener::NAME,
            std::process::id()
        );
        let mut l = sqlx::postgres::PgListener::connect(&named)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to {}: {e}", redact(url)))?;
        // A lost connection is the caller's to notice (notifications sent meanwhile are gone):
        // it reconnects with a new `Listener` and assumes anything changed.
        l.eager_reconnect(false);
        Ok(Listener(l))
    }

    /// LISTENs to `channels` too (one statement).
    pub(crate) async fn listen(&mut self, channels: &[&str]) -> anyhow::Result<()> {
        self.0.listen_all(channels.iter().copied()).await?;
        Ok(())
    }

    /// Stops listening to `channel`.
    pub(crate) async fn unlisten(&mut self, channel: &str) -> anyhow::Result<()> {
        self.0.unlisten(channel).await?;
        Ok(())
    }

    /// The next notification: (channel, payload).
    pub(crate) async fn recv(&mut self) -> anyhow::Result<(String, String)> {
        let n =
            self.0.try_recv().await?.ok_or_else(|| {
                anyhow::anyhow!("the listening connection to PostgreSQL was lost")
            })?;
        Ok((n.channel().to_string(), n.payload().to_string()))
    }

    /// Runs `sql` with text parameters `binds` in this session (a statement that succeeds here
    /// proves the session, and so its LISTEN, alive).
    pub(crate) async fn execute(
        &mut self,
        sql: &'static str,
        binds: &[&str],
    ) -> anyhow::Result<()> {
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(&mut self.0).await?;
        Ok(())
    }

    /// Runs `sql`, statements without parameters (the caller's own values in its text), in
    /// this session as one implicit transaction: all of them or none.
    pub(crate) async fn execute_batch(&mut self, sql: String) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut self.0)
            .await?;
        Ok(())
    }
}
