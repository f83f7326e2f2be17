//! The engine's side of the store's timeline: applies the entries the virtual clock has reached,
//! one at a time, and lets each family react to each (plan what follows, change related
//! resources) in the same transaction.

use super::*;
use crabapple_store::timeline::Entry;

/// At most this many entries are applied by one run (a later run continues); a family that
/// keeps planning entries already due cannot hold the writer forever.
const MAX_PER_RUN: usize = 10_000;

impl Engine {
    /// Applies every timeline entry due at the virtual now; the entries applied. Cheap when none
    /// is due (no SQL): the server calls it before every request.
    pub async fn run_timeline(&self) -> anyhow::Result<Vec<Entry>> {
        let now = self.store.now_ms();
        if !self.store.timeline_may_be_due(now) {
            return Ok(Vec::new());
        }
        // Boxed: this check runs before every request, whose future then stays small.
        Box::pin(self.apply_due(now)).await
    }

    /// Applies the entries due at `now` (a batch at most), in one transaction.
    async fn apply_due(&self, now: i64) -> anyhow::Result<Vec<Entry>> {
        let mut tx = self.store.begin().await?;
        let mut applied = Vec::new();
        while applied.len() < MAX_PER_RUN {
            let Some(entry) = tx.timeline_apply_next(now).await? else {
                break;
            };
            // Families react to changes made; an entry of a resource deleted since (cancelled
            // by `timeline_apply_next`) changed nothing.
            if entry.state == crabapple_store::timeline::EntryState::Applied {
                for f in &self.families {
                    f.on_timeline(self, &mut tx, &entry).await.map_err(|e| {
                        anyhow::anyhow!("{} reacting to a timeline entry: {e:?}", f.name())
                    })?;
                }
            }
            applied.push(entry);
        }
        // Learnt before the commit, inside the write lock: a transaction that plans an earlier
        // entry commits after this one and lowers it again.
        let next = tx.timeline_next_due().await?;
        self.store.timeline_learn_next_due(next);
        if applied.is_empty() {
            // Nothing changed: rolled back, not committed. A commit would leave a new write
            // token, and every other process (replica) would take it for a write, forget its
            // next due time and look again — two replicas then kept each other committing
            // empty transactions on every request (issue 12).
            drop(tx);
            return Ok(applied);
        }
        if let Err(e) = tx.commit().await {
            self.store.timeline_forget_next_due();
            return Err(e);
        }
        Ok(applied)
    }
}
