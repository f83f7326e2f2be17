//! One listening session per process and database (issue 12: a hundred worlds on one
//! database, each open on every replica): every PostgreSQL store this process opens on one
//! database — the default world, each isolated world, a test's replicas — shares one LISTEN
//! connection. It carries every store's channel (`crabapple.SCHEMA`) and acknowledgements
//! (`crabapple.SCHEMA.ack`) and renews every serving store's registration in one batch of
//! statements. The protocol is [`crate::notify`]'s; this module owns the session: which store
//! hears which notification, the channels it LISTENs to as stores open and close, and what a
//! lost session means (every store on it lost it: none relies on notifications until it listens
//! again and has been registered for a lease).
//!
//! Its `application_name` is `crabapple-listener PID` ([`Listener::NAME`] and the process id),
//! so `pg_stat_activity` shows one such session per process and database.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use anyhow::Result;

use crate::db::Listener;
use crate::notify::{Coherence, LEASE_MS, RENEW, SERVING, wall_ms};

/// The sessions of this process, by database URL (without a schema).
static HUBS: Mutex<Option<HashMap<String, Arc<Hub>>>> = Mutex::new(None);

/// One database's listening session and the stores that share it.
struct Hub {
    url: String,
    members: Mutex<Vec<Member>>,
    /// A store joined: LISTEN to its channels now, not at the next renewal.
    wake: tokio::sync::Notify,
}

struct Member {
    coherence: Weak<Coherence>,
    /// LISTENing to its channels in the current session (it was told it listens).
    attached: bool,
    /// When its registration was first written in the current session.
    joined_ms: Option<i64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes `c` hear its channels through the session of its database, starting that session
/// when it is the first store of its database in this process.
pub(crate) fn join(c: &Arc<Coherence>, url: &str) {
    let mut hubs = lock(&HUBS);
    let hub = hubs
        .get_or_insert_with(HashMap::new)
        .entry(url.to_string())
        .or_insert_with(|| {
            let hub = Arc::new(Hub {
                url: url.to_string(),
                members: Mutex::new(Vec::new()),
                wake: tokio::sync::Notify::new(),
            });
            tokio::spawn(run(hub.clone()));
            hub
        })
        .clone();
    lock(&hub.members).push(Member {
        coherence: Arc::downgrade(c),
        attached: false,
        joined_ms: None,
    });
    drop(hubs);
    hub.wake.notify_one();
}

/// How a session ended.
enum Ended {
    /// No store is left: the task ends.
    Retired,
    /// The connection or a statement on it failed: connect again.
    Lost,
}

/// The session's task: (re)connects, and ends when no store of its database is left.
async fn run(hub: Arc<Hub>) {
    // Also when the runtime drops the task (a test's runtime ending): its stores lost it.
    let _leaving = Leaving(hub.clone());
    loop {
        let mut listener = match Listener::connect(&hub.url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("listening for other replicas' commits: {e:#}");
                tokio::time::sleep(RENEW).await;
                if hub.retire() {
                    return;
                }
                continue;
            }
        };
        match session(&hub, &mut listener).await {
            Ended::Retired => return,
            Ended::Lost => hub.lost(),
        }
    }
}

async fn session(hub: &Arc<Hub>, listener: &mut Listener) -> Ended {
    let mut channels: HashSet<String> = HashSet::new();
    let mut renew = tokio::time::interval(RENEW);
    loop {
        match hub.attach(listener, &mut channels).await {
            Ok(true) => {}
            Ok(false) => return Ended::Retired,
            Err(e) => {
                tracing::debug!("listening to a store's channels: {e:#}");
                return Ended::Lost;
            }
        }
        tokio::select! {
            n = listener.recv() => {
                let Ok((channel, payload)) = n else { return Ended::Lost };
                if let Err(e) = hub.dispatch(listener, &channel, &payload).await {
                    tracing::debug!("acknowledging a commit: {e:#}");
                    return Ended::Lost;
                }
            }
            _ = renew.tick() => {
                if SERVING.load(Ordering::Acquire)
                    && let Err(e) = hub.register(listener).await
                {
                    tracing::debug!("renewing this replica's registrations: {e:#}");
                    return Ended::Lost;
                }
            }
            _ = hub.wake.notified() => {}
        }
    }
}

impl Hub {
    fn live(&self) -> Vec<(Arc<Coherence>, bool)> {
        let mut members = lock(&self.members);
        members.retain(|m| m.coherence.strong_count() > 0);
        members
            .iter()
            .filter_map(|m| m.coherence.upgrade().map(|c| (c, m.attached)))
            .collect()
    }

    /// LISTENs to the channels of the stores that joined, UNLISTENs those of the stores gone;
    /// false when none is left (the hub is retired).
    async fn attach(
        self: &Arc<Self>,
        listener: &mut Listener,
        channels: &mut HashSet<String>,
    ) -> Result<bool> {
        let live = self.live();
        if live.is_empty() && self.retire() {
            return Ok(false);
        }
        let wanted: HashSet<String> = live
            .iter()
            .flat_map(|(c, _)| [c.channel.clone(), c.acks.clone()])
            .collect();
        let new: Vec<&str> = wanted.difference(channels).map(String::as_str).collect();
        if !new.is_empty() {
            listener.listen(&new).await?;
        }
        for gone in channels.difference(&wanted) {
            listener.unlisten(gone).await?;
        }
        *channels = wanted;
        // Listening from here on; whatever came before is unknown to them.
        let mut members = lock(&self.members);
        for m in members.iter_mut().filter(|m| !m.attached) {
            if let Some(c) = m.coherence.upgrade()
                && channels.contains(&c.channel)
                && channels.contains(&c.acks)
            {
                m.attached = true;
                c.lost();
                c.listening.send_replace(true);
            }
        }
        Ok(true)
    }

    /// A notification on `channel`: a commit another store announced (counted and
    /// acknowledged by each store of that schema here but the writer), or an acknowledgement.
    async fn dispatch(&self, listener: &mut Listener, channel: &str, payload: &str) -> Result<()> {
        let mut parts = payload.split(' ');
        let (Some(id), Some(token)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        let resources = parts.next() == Some("1");
        for (c, attached) in self.live() {
            if !attached {
                continue;
            }
            if c.channel == channel && c.id != id {
                c.committed_elsewhere(token, resources);
                let ack = format!("{} {token}", c.id);
                listener
                    .execute("SELECT pg_notify($1, $2)", &[&c.acks, &ack])
                    .await?;
            } else if c.acks == channel {
                c.acknowledged(id, token);
            }
        }
        Ok(())
    }

    /// Writes every serving store's registration through the session (one batch): a renewed
    /// registration proves the session, and so its LISTEN, alive. A store whose statement
    /// fails alone (its schema dropped: a world deleted while open) stops relying on
    /// notifications; a failure of the session is the caller's.
    async fn register(&self, listener: &mut Listener) -> Result<()> {
        let now = wall_ms();
        let due: Vec<(Arc<Coherence>, String)> = {
            let members = lock(&self.members);
            members
                .iter()
                .filter(|m| m.attached)
                .filter_map(|m| {
                    let c = m.coherence.upgrade()?;
                    let sql = c.registration_sql(now, m.joined_ms.is_none());
                    Some((c, sql))
                })
                .collect()
        };
        if due.is_empty() {
            return Ok(());
        }
        let all: String = due.iter().map(|(_, sql)| sql.as_str()).collect();
        let written: Vec<bool> = match listener.execute_batch(all).await {
            Ok(()) => vec![true; due.len()],
            Err(e) if is_statement_error(&e) => {
                let mut written = Vec::with_capacity(due.len());
                for (_, sql) in &due {
                    match listener.execute_batch(sql.clone()).await {
                        Ok(()) => written.push(true),
                        Err(e) if is_statement_error(&e) => {
                            tracing::debug!("renewing a registration: {e:#}");
                            written.push(false);
                        }
                        Err(e) => return Err(e),
                    }
                }
                written
            }
            Err(e) => return Err(e),
        };
        let mut members = lock(&self.members);
        for ((c, _), ok) in due.iter().zip(written) {
            let Some(m) = members
                .iter_mut()
                .find(|m| Weak::as_ptr(&m.coherence) == Arc::as_ptr(c))
            else {
                continue;
            };
            if ok {
                let joined = *m.joined_ms.get_or_insert(now);
                if now >= joined + LEASE_MS {
                    c.trust_until(now + LEASE_MS);
                }
            } else {
                m.joined_ms = None;
                c.trust_until(0);
            }
        }
        Ok(())
    }

    /// The session was lost: every store of it lost what it would have heard.
    fn lost(&self) {
        let mut members = lock(&self.members);
        for m in members.iter_mut() {
            m.attached = false;
            m.joined_ms = None;
            if let Some(c) = m.coherence.upgrade() {
                c.lost();
            }
        }
    }

    /// Removes this hub from the process's sessions when no store is left on it (under the
    /// lock [`join`] takes, so a store joining meanwhile gets a new session); true then.
    fn retire(self: &Arc<Self>) -> bool {
        let mut hubs = lock(&HUBS);
        let members = lock(&self.members);
        if members.iter().any(|m| m.coherence.strong_count() > 0) {
            return false;
        }
        if let Some(map) = hubs.as_mut()
            && map.get(&self.url).is_some_and(|h| Arc::ptr_eq(h, self))
        {
            map.remove(&self.url);
        }
        true
    }
}

/// A statement the server refused (the session lives on), not a lost connection.
fn is_statement_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sqlx::Error>()
        .is_some_and(|e| matches!(e, sqlx::Error::Database(_)))
}

/// Ends a hub however its task ends: its stores lost the session and join a new one when they
/// next need it ([`Coherence::listen`]).
struct Leaving(Arc<Hub>);

impl Drop for Leaving {
    fn drop(&mut self) {
        let mut hubs = lock(&HUBS);
        if let Some(map) = hubs.as_mut()
            && map
                .get(&self.0.url)
                .is_some_and(|h| Arc::ptr_eq(h, &self.0))
        {
            map.remove(&self.0.url);
        }
        drop(hubs);
        let members = std::mem::take(&mut *lock(&self.0.members));
        for m in members {
            if let Some(c) = m.coherence.upgrade() {
                c.lost();
                c.left_session();
            }
        }
    }
}
