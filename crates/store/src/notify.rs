//! Cache coherence between processes sharing a PostgreSQL store by LISTEN/NOTIFY (issue 12:
//! "replicas invalidate through LISTEN/NOTIFY on PostgreSQL; a write on replica A is visible on
//! replica B at the next request").
//!
//! Every write transaction NOTIFYs the store's channel (`crabapple.SCHEMA`) with its write token.
//! A serving replica LISTENs, counts what others committed, and acknowledges each notification
//! on the ack channel once counted; the writer answers its client only when every serving
//! replica registered in `meta` (`listener.ID` = the wall time its registration lasts until)
//! acknowledged, or that registration ran out. So when a client's next request reaches another
//! replica, that replica already knows its cache is stale: it answers from memory without a
//! statement, not after a read of the write token per request ([`crate::shared::Watch`] still
//! does that read when a replica cannot rely on its notifications: listening connection lost,
//! registration not renewed, or registered less than [`LEASE_MS`] ago — a write that read the
//! registrations before it joined may not wait for it).
//!
//! Every store of one database in a process shares one listening session
//! ([`crate::listen`]): a hundred worlds open on three replicas hold three LISTEN connections,
//! not three hundred.
//!
//! Costs: a write reads the registrations and waits for the acknowledgements (about two round
//! trips); a replica killed with `kill -9` makes writes wait until its registration runs out
//! (at most [`LEASE_MS`]). A write transaction that takes longer than [`LEASE_MS`] between
//! reading the registrations and committing could miss a replica that joined meanwhile.
//! Wall clocks of the replicas' machines are assumed to agree within well under [`LEASE_MS`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::oneshot;

use crate::db::{Db, DbPool};

/// How long a registration lasts without renewal.
pub const LEASE_MS: i64 = 2_000;
/// How often a serving replica renews its registration.
pub(crate) const RENEW: Duration = Duration::from_millis(500);
/// The `meta` key prefix of registrations.
const REGISTRATION: &str = "listener.";

pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One store's side of the protocol.
pub(crate) struct Coherence {
    pub(crate) id: String,
    pub(crate) channel: String,
    pub(crate) acks: String,
    /// The schema of the store's tables (its registrations are written there).
    schema: String,
    /// Notifications of other processes' commits counted so far (and reconnections: anything
    /// may have changed while nobody listened).
    generation: AtomicU64,
    /// Whether one of them wrote resources since [`Coherence::take_resources`].
    resources: AtomicBool,
    /// The last write token another process announced.
    last_token: Mutex<Option<String>>,
    /// Wall time until which this process may rely on its notifications (0: it may not).
    trusted_until: AtomicI64,
    /// Commits of this process waiting for acknowledgements, by token.
    waiting: Mutex<HashMap<String, Waiter>>,
    /// The database whose listening session this store shares ([`crate::listen`]): joined
    /// with the store in a serving process, else with the first commit that has replicas to
    /// wait for ([`Coherence::announce`]).
    url: String,
    joined: AtomicBool,
    /// True while the listening session LISTENs to this store's channels.
    pub(crate) listening: tokio::sync::watch::Sender<bool>,
    /// The store's pool, for [`leave`].
    pool: DbPool,
    /// Moved by every commit of another process heard of, and by a lost session (anything may
    /// have changed): what [`crate::commits::CommitWaiter`] waits for.
    pub(crate) heard: crate::commits::Counter,
}

/// Whether PostgreSQL stores use this protocol: yes unless `CRABAPPLE_COHERENCE=read`, which
/// keeps every replica reading the write token at each request (no LISTEN connection, no waits).
pub fn enabled() -> bool {
    std::env::var("CRABAPPLE_COHERENCE").map_or(true, |v| v != "read")
}

/// Every store's protocol in this process (for [`leave`]).
static LIVE: Mutex<Vec<Weak<Coherence>>> = Mutex::new(Vec::new());

/// Removes this process's registrations (a serving process stopping): writers stop waiting for
/// it at once instead of when its registrations run out.
pub async fn leave() {
    let live: Vec<Arc<Coherence>> = LIVE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for c in live {
        let _ = sqlx::query("DELETE FROM meta WHERE key = $1")
            .bind(format!("{REGISTRATION}{}", c.id))
            .execute(&c.pool)
            .await;
    }
}

/// How many serving processes are registered on the store of `pool` now.
pub(crate) async fn registered(pool: &DbPool) -> Result<usize> {
    let values: Vec<String> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key LIKE 'listener.%'")
            .fetch_all(pool)
            .await?;
    let now = wall_ms();
    Ok(values
        .iter()
        .filter(|v| v.parse::<i64>().is_ok_and(|until| until > now))
        .count())
}

/// Whether this process serves requests ([`serve_replicas`]).
pub(crate) static SERVING: AtomicBool = AtomicBool::new(false);

/// Called once by `crabapple serve`: every PostgreSQL store this process opens registers as a
/// serving replica — writers wait for its acknowledgements, and it answers from its cache
/// without reading the write token. Other processes (CLI commands) only announce their commits.
pub fn serve_replicas() {
    SERVING.store(true, Ordering::Release);
}

struct Waiter {
    missing: HashSet<String>,
    done: Option<oneshot::Sender<()>>,
}

/// A commit's wait for the acknowledgements of the replicas registered when it was made.
pub(crate) struct Pending {
    coherence: Arc<Coherence>,
    token: String,
    done: oneshot::Receiver<()>,
    until_ms: i64,
}

impl Pending {
    /// Waits until every replica acknowledged, or its registration ran out.
    pub async fn wait(self) {
        let left = (self.until_ms - wall_ms()).max(0) as u64;
        let _ = tokio::time::timeout(Duration::from_millis(left), self.done).await;
        self.coherence.forget(&self.token);
    }
}

impl Coherence {
    /// The protocol for the store whose tables live in `schema` of the database at `url` (a
    /// URL naming the schema is taken without it: stores of one database share a session);
    /// it leaves the listening session with the returned value.
    pub fn start(url: String, schema: &str, pool: DbPool) -> Arc<Coherence> {
        let url = crate::db::schema_of_url(&url).map_or(url, |(base, _)| base);
        let channel = format!("crabapple.{schema}");
        let c = Arc::new(Coherence {
            id: uuid::Uuid::new_v4().simple().to_string(),
            acks: format!("{channel}.ack"),
            channel,
            generation: AtomicU64::new(0),
            resources: AtomicBool::new(true),
            last_token: Mutex::new(None),
            trusted_until: AtomicI64::new(0),
            waiting: Mutex::new(HashMap::new()),
            schema: schema.to_string(),
            url,
            joined: AtomicBool::new(false),
            listening: tokio::sync::watch::Sender::new(false),
            pool,
            heard: Default::default(),
        });
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&c));
        drop(live);
        if SERVING.load(Ordering::Acquire) {
            c.listen();
        }
        c
    }

    /// Joins the listening session of its database (once; again after the session's task
    /// ended with its runtime).
    pub(crate) fn listen(self: &Arc<Self>) {
        if !self.joined.swap(true, Ordering::AcqRel) {
            crate::listen::join(self, &self.url);
        }
    }

    /// In a serving process: listening, or joining the session again ([`Coherence::listen`]).
    pub(crate) fn keep_listening(self: &Arc<Self>) {
        if SERVING.load(Ordering::Acquire) && !self.joined.load(Ordering::Acquire) {
            self.listen();
        }
    }

    /// The session's task ended (its runtime shut down): the next need joins a new one.
    pub(crate) fn left_session(&self) {
        self.joined.store(false, Ordering::Release);
    }

    /// Lets this process rely on its notifications until `until_ms` (0: not now).
    pub(crate) fn trust_until(&self, until_ms: i64) {
        self.trusted_until.store(until_ms, Ordering::Release);
    }

    /// Whether this process may rely on its notifications now.
    pub fn trusted(&self) -> bool {
        wall_ms() < self.trusted_until.load(Ordering::Acquire)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether another process wrote resources since the last call (true at first).
    pub fn take_resources(&self) -> bool {
        self.resources.swap(false, Ordering::AcqRel)
    }

    pub fn last_token(&self) -> Option<String> {
        self.last_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Inside a write transaction about to commit with `token`: announces it, and returns the
    /// wait for the serving replicas registered now (none but this one: nothing to wait for).
    pub async fn announce(
        self: &Arc<Self>,
        tx: &mut sqlx::Transaction<'static, Db>,
        token: &str,
        wrote_resources: bool,
    ) -> Result<Option<Pending>> {
        let payload = format!("{} {token} {}", self.id, u8::from(wrote_resources));
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM meta WHERE key LIKE 'listener.%'")
                .fetch_all(&mut **tx)
                .await?;
        let now = wall_ms();
        let mut missing = HashSet::new();
        let mut until_ms = now;
        for (key, value) in rows {
            let id = &key[REGISTRATION.len()..];
            let until = value.parse::<i64>().unwrap_or(0);
            if id != self.id && until > now {
                missing.insert(id.to_string());
                until_ms = until_ms.max(until);
            }
        }
        if missing.is_empty() {
            return Ok(None);
        }
        // Acknowledgements come to the listening session: it listens before the commit.
        self.listen();
        let mut listening = self.listening.subscribe();
        let connect = Duration::from_millis((until_ms - now).max(0) as u64);
        let _ = tokio::time::timeout(connect, listening.wait_for(|l| *l)).await;
        let (done, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.to_string(),
                Waiter {
                    missing,
                    done: Some(done),
                },
            );
        Ok(Some(Pending {
            coherence: self.clone(),
            token: token.to_string(),
            done: rx,
            until_ms,
        }))
    }

    fn forget(&self, token: &str) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }

    /// Another process's commit was announced: counted, then acknowledged by the caller.
    pub(crate) fn committed_elsewhere(&self, token: &str, wrote_resources: bool) {
        *self.last_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.to_string());
        if wrote_resources {
            self.resources.store(true, Ordering::Release);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.heard.bump();
    }

    /// Replica `id` acknowledged the commit of `token`.
    pub(crate) fn acknowledged(&self, id: &str, token: &str) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = waiting.get_mut(token) {
            w.missing.remove(id);
            if w.missing.is_empty()
                && let Some(done) = w.done.take()
            {
                let _ = done.send(());
            }
        }
    }

    /// Nothing heard may be relied on: anything may have changed.
    pub(crate) fn lost(&self) {
        self.listening.send_replace(false);
        self.trusted_until.store(0, Ordering::Release);
        self.resources.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.heard.bump();
    }

    /// The statements renewing this replica's registration, lasting [`LEASE_MS`] from `now`,
    /// run through the listening session itself ([`crate::listen`]: a registration renewed
    /// proves the LISTEN alive). `first`: they also remove the registrations of processes gone
    /// for a minute. Its `meta` is named with its schema (the session serves every schema);
    /// every value is this process's own (a uuid, numbers).
    pub(crate) fn registration_sql(&self, now: i64, first: bool) -> String {
        let meta = format!("\"{}\".meta", self.schema.replace('"', "\"\""));
        let mut sql = String::new();
        if first {
            sql += &format!(
                "DELETE FROM {meta} WHERE key LIKE 'listener.%' AND CAST(value AS BIGINT) < {};",
                now - 60_000
            );
        }
        sql += &format!(
            "INSERT INTO {meta} (key, value) VALUES ('{REGISTRATION}{}', '{}') \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
            self.id,
            now + LEASE_MS
        );
        sql
    }
}
