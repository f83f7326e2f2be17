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

use crate::db::{Db, DbPool, Listener};

/// How long a registration lasts without renewal.
pub const LEASE_MS: i64 = 2_000;
/// How often a serving replica renews its registration.
const RENEW: Duration = Duration::from_millis(500);
/// The `meta` key prefix of registrations.
const REGISTRATION: &str = "listener.";

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One store's side of the protocol.
pub(crate) struct Coherence {
    id: String,
    channel: String,
    acks: String,
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
    /// Where the listening task connects; it starts with the store in a serving process, else
    /// with the first commit that has replicas to wait for ([`Coherence::announce`]).
    url: String,
    started: AtomicBool,
    /// True while the listening session LISTENs.
    listening: tokio::sync::watch::Sender<bool>,
    /// The store's pool, for [`leave`].
    pool: DbPool,
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
static SERVING: AtomicBool = AtomicBool::new(false);

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
    /// The protocol for the store whose tables live in `schema`, connecting to `url`; its
    /// listening task ends with the returned value.
    pub fn start(url: String, schema: &str, pool: DbPool) -> Arc<Coherence> {
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
            url,
            started: AtomicBool::new(false),
            listening: tokio::sync::watch::Sender::new(false),
            pool,
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

    /// Starts the listening task (once).
    fn listen(self: &Arc<Self>) {
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(Arc::downgrade(self), self.url.clone()));
        }
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
    fn committed_elsewhere(&self, token: &str, wrote_resources: bool) {
        *self.last_token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.to_string());
        if wrote_resources {
            self.resources.store(true, Ordering::Release);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Replica `id` acknowledged the commit of `token`.
    fn acknowledged(&self, id: &str, token: &str) {
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
    fn lost(&self) {
        self.listening.send_replace(false);
        self.trusted_until.store(0, Ordering::Release);
        self.resources.store(true, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Writes this replica's registration, lasting [`LEASE_MS`] from `now`, through the
    /// listening session itself: a registration renewed proves the LISTEN alive.
    /// `first`: also removes the registrations of processes gone for a minute.
    async fn register(&self, listener: &mut Listener, now: i64, first: bool) -> Result<()> {
        if first {
            let sql = "DELETE FROM meta WHERE key LIKE 'listener.%' AND CAST(value AS BIGINT) < CAST($1 AS BIGINT)";
            listener
                .execute(sql, &[&(now - 60_000).to_string()])
                .await?;
        }
        let sql = "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        let key = format!("{REGISTRATION}{}", self.id);
        listener
            .execute(sql, &[&key, &(now + LEASE_MS).to_string()])
            .await
    }
}

/// The listening task: (re)connects, registers while serving, counts and acknowledges other
/// processes' commits, collects acknowledgements of this one's; ends with its store.
async fn listen(coherence: Weak<Coherence>, url: String) {
    let (channel, acks) = match coherence.upgrade() {
        Some(c) => (c.channel.clone(), c.acks.clone()),
        None => return,
    };
    loop {
        let schema = channel.trim_start_matches("crabapple.");
        let mut listener = match Listener::connect(&url, schema, &[&channel, &acks]).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("listening for other replicas' commits: {e:#}");
                tokio::time::sleep(RENEW).await;
                if coherence.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        let Some(c) = coherence.upgrade() else { return };
        // Listening from here on; whatever came before is unknown.
        c.lost();
        c.listening.send_replace(true);
        let mut joined_ms: Option<i64> = None;
        drop(c);
        let mut renew = tokio::time::interval(RENEW);
        loop {
            tokio::select! {
                n = listener.recv() => {
                    let Some(c) = coherence.upgrade() else { return };
                    let Ok((ch, payload)) = n else {
                        c.lost();
                        break;
                    };
                    let mut parts = payload.split(' ');
                    let (Some(id), Some(token)) = (parts.next(), parts.next()) else { continue };
                    if ch == channel && id != c.id {
                        c.committed_elsewhere(token, parts.next() == Some("1"));
                        let ack = format!("{} {token}", c.id);
                        let sql = "SELECT pg_notify($1, $2)";
                        if let Err(e) = listener.execute(sql, &[&acks, &ack]).await {
                            tracing::debug!("acknowledging a commit: {e:#}");
                            c.lost();
                            break;
                        }
                    } else if ch == acks {
                        c.acknowledged(id, token);
                    }
                }
                _ = renew.tick() => {
                    let Some(c) = coherence.upgrade() else { return };
                    if !SERVING.load(Ordering::Acquire) {
                        continue;
                    }
                    let now = wall_ms();
                    let first = joined_ms.is_none();
                    match c.register(&mut listener, now, first).await {
                        Ok(()) => {
                            let joined = *joined_ms.get_or_insert(now);
                            if now >= joined + LEASE_MS {
                                c.trusted_until.store(now + LEASE_MS, Ordering::Release);
                            }
                        }
                        Err(e) => {
                            tracing::debug!("renewing this replica's registration: {e:#}");
                            c.lost();
                            break;
                        }
                    }
                }
            }
        }
    }
}
