//! Many events in one SQL transaction, for callers that drive a day of customers at once (the
//! simulator, `crabapple simulate`): an event applied at its own time inside the batch, undone
//! alone when refused, and the scheduler's subscription steps (renewals, billing retry and grace
//! period ends, expirations) run inside the batch in the scheduler's order up to a time. The
//! events and steps are the very ones [`super::events::apply`] and [`super::Commerce::run_due`]
//! run; only the SQL transaction around them is shared. Notifications stay in the outbox for
//! the delivery loop. Also what an [`Ev`] remembers of the catalog ([`Seen`]).

use super::engine::{Ev, EvResult, Outcome};
use super::event::Event;
use super::events::EventArgs;
use crate::ledger::LedgerTx;

/// Apps and products an [`Ev`] has read, by bundle id and by (app id, product id): no event
/// writes them, so a batch of events reads each once (lookups only, never iterated for order).
#[derive(Default)]
pub(crate) struct Seen {
    pub apps: std::collections::HashMap<String, crate::ledger::AppRow>,
    pub products: std::collections::HashMap<(String, String), super::catalog::Product>,
}

/// The savepoint around one event or step of a batch.
const ONE: &str = "crabapple_batch_one";

impl Ev<'_> {
    /// Applies the named event (the CLI's and admin API's names and arguments) at `at` inside
    /// this batch; when refused, nothing of it stays and the error is returned.
    pub async fn apply_at(&mut self, name: &str, args: &EventArgs, at: i64) -> EvResult<Outcome> {
        let e = Event::parse(name, args)?;
        let emitted = self.emitted.len();
        self.tx.savepoint(ONE).await?;
        match e.apply(self, at).await {
            Ok(o) => {
                self.tx.release_savepoint(ONE).await?;
                Ok(o)
            }
            Err(err) => {
                self.tx.rollback_to_savepoint(ONE).await?;
                self.emitted.truncate(emitted);
                Err(err)
            }
        }
    }

    /// Runs every subscription step due at or before `now` in the scheduler's order (due time,
    /// then original transaction id), each at its own due time, as [`super::Commerce::run_due`]
    /// does; a step that fails is undone and its subscription parked (no longer scheduled), as
    /// there. Returns the number of steps run.
    pub async fn run_due_steps(&mut self, now: i64) -> EvResult<u64> {
        let mut n = 0;
        while let Some((orig, at)) = self.tx.ledger_next_due_subscription(now).await? {
            let emitted = self.emitted.len();
            self.tx.savepoint(ONE).await?;
            match self.step(&orig, at).await {
                Ok(_) => {
                    self.tx.release_savepoint(ONE).await?;
                    n += 1;
                }
                Err(e) => {
                    self.tx.rollback_to_savepoint(ONE).await?;
                    self.emitted.truncate(emitted);
                    tracing::warn!(original_transaction_id = %orig, "subscription step failed: {e}");
                    if let Some(mut s) = self.tx.ledger_subscription(&orig).await? {
                        s.next_event_ms = None;
                        self.tx.ledger_put_subscription(&s).await?;
                    }
                }
            }
        }
        Ok(n)
    }
}
