//! Waiting for the next commit without asking the database (issue 12: a hundred idle worlds on
//! one PostgreSQL instance, each polling its scheduler's due work every 250 ms, sent it 400
//! statements a second). A [`CommitWaiter`] wakes when this process committed a write
//! transaction to the store, when another process (a replica, a `crabapple` CLI command) did as
//! far as the store can tell without a statement, or when its timeout passed:
//!
//! - PostgreSQL: the listening session's notifications ([`crate::notify`], [`crate::listen`]).
//!   Waiting joins the session of the store's database (one per process and database). While it
//!   does not listen yet, or with `CRABAPPLE_COHERENCE=read`, the store cannot tell: every
//!   [`UNHEARD_LOOK`] counts as a commit that may have happened.
//! - SQLite: the WAL index's header, which every commit of any connection rewrites
//!   ([`crate::shared`]), read with one `pread` every [`SQLITE_LOOK`] — not a statement.
//!
//! A wake may be spurious (this process's own commits change the header too); a commit is never
//! missed while the waiter waits.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::Store;

/// How often a waiter on SQLite reads the WAL index's header.
pub const SQLITE_LOOK: Duration = Duration::from_millis(250);
/// How often a waiter on a PostgreSQL store that does not hear notifications counts a commit
/// that may have happened.
pub const UNHEARD_LOOK: Duration = Duration::from_secs(1);

/// A counter a commit moves: this process's ([`Counter::bump`] after `COMMIT`), or another's
/// heard of.
#[derive(Debug)]
pub(crate) struct Counter(watch::Sender<u64>);

impl Default for Counter {
    fn default() -> Self {
        Counter(watch::Sender::new(0))
    }
}

impl Counter {
    pub(crate) fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Waits for commits to one store ([`Store::commit_waiter`]).
pub struct CommitWaiter {
    local: watch::Receiver<u64>,
    /// PostgreSQL: other processes' commits heard by the listening session.
    heard: Option<watch::Receiver<u64>>,
    /// SQLite: the WAL index's header at the last look.
    header: Option<[u8; crate::shared::WAL_INDEX_HEADER]>,
}

impl Store {
    /// A waiter for the commits made to this store from now on ([`CommitWaiter::wait`]).
    pub fn commit_waiter(&self) -> CommitWaiter {
        CommitWaiter {
            local: self.watch.local_commits.subscribe(),
            heard: self.watch.heard_commits().map(Counter::subscribe),
            header: self.watch.wal_header(),
        }
    }
}

impl CommitWaiter {
    /// Waits until a transaction may have been committed to `store` since the last call (true),
    /// or `timeout` passed (false). Issues no statement.
    pub async fn wait(&mut self, store: &Store, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let look = if store.watch.reads_wal_index() {
                Some(SQLITE_LOOK)
            } else if store.watch.hears_other_processes() {
                None
            } else {
                Some(UNHEARD_LOOK)
            };
            let until = look.map_or(deadline, |l| deadline.min(Instant::now() + l));
            tokio::select! {
                _ = self.local.changed() => {
                    // This process's commit moved the header too: not another wake for it.
                    self.header = store.watch.wal_header();
                    return true;
                }
                _ = heard(&mut self.heard) => return true,
                _ = tokio::time::sleep_until(until) => {}
            }
            if look.is_some() && self.committed_since(store) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Whether a transaction may have been committed to `store` since the last look, without
    /// waiting (a PostgreSQL store that does not hear other processes cannot tell: true).
    /// Issues no statement.
    pub fn committed_since(&mut self, store: &Store) -> bool {
        let local = self.local.has_changed().unwrap_or(false);
        self.local.mark_unchanged();
        let heard = self.heard.as_mut().is_some_and(|rx| {
            let moved = rx.has_changed().unwrap_or(false);
            rx.mark_unchanged();
            moved
        });
        if store.watch.reads_wal_index() {
            let header = store.watch.wal_header();
            // No header to read (no `-shm` file): the look cannot tell.
            let moved = header.is_none() || header != self.header;
            self.header = header;
            local || moved
        } else {
            local || heard || !store.watch.hears_other_processes()
        }
    }
}

/// Resolves when the counter of other processes' commits moves (never without one).
async fn heard(rx: &mut Option<watch::Receiver<u64>>) {
    if let Some(rx) = rx
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}
