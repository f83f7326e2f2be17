//! What a [`Tx`] keeps of the ledger in memory until it commits ([`LedgerState`], the ledger's
//! [`TxState`]): the ledger's counters (one read each, one write each at the end, instead of a
//! statement per id) and the notification outbox rows appended since the last flush (one
//! multi-row INSERT instead of one per notification). Both are written before COMMIT
//! ([`flush_ledger`]); a savepoint rolled back drops the outbox rows appended after it. A counter
//! keeps what a rolled-back event drew: ids are unique, not dense (Apple's ids are not dense
//! either). The transaction's savepoints reach here through the state's hooks: in a batch they
//! are marks of the ledger's memory too ([`super::overlay`]).

use std::collections::HashMap;

use crabapple_store::TxState;

use super::due::{DueWindow, due_window_rolled_back};
use super::overlay::{Overlay, ov_flush, ov_mark, ov_release, ov_rollback};
use super::*;

/// The ledger's memory in one write transaction.
#[derive(Default)]
pub(crate) struct LedgerState {
    pub(super) pending: Pending,
    /// Subscription steps due up to a time, kept in memory by a batch ([`DueWindow`]).
    pub(super) due_window: Option<DueWindow>,
    /// The ledger kept in memory by a batch ([`LedgerTx::ledger_batch`]).
    pub(super) overlay: Option<Overlay>,
}

/// The ledger's state of `tx` (made when first asked for).
pub(super) fn ledger(tx: &mut Tx) -> &mut LedgerState {
    tx.state::<LedgerState>()
}

/// Whether `tx` keeps the ledger in memory ([`LedgerTx::ledger_batch`]).
pub(super) fn batch(tx: &mut Tx) -> bool {
    ledger(tx).overlay.is_some()
}

impl Drop for LedgerState {
    /// A simulated day's ledger in memory is large (a day at 100,000 downloads a day holds tens
    /// of thousands of rows): another thread frees it, so the next day starts at once.
    fn drop(&mut self) {
        if let Some(o) = self.overlay.take()
            && o.rows() > 1_000
        {
            std::thread::spawn(move || drop(o));
        }
    }
}

impl TxState for LedgerState {
    fn flush(tx: &mut Tx) -> impl std::future::Future<Output = Result<()>> + Send {
        flush_ledger(tx)
    }

    fn savepoint(tx: &mut Tx, name: &'static str) {
        let n = ledger(tx).pending.notifications.len();
        if !ov_mark(tx, name, n) {
            ledger(tx).pending.marks.push((name, n));
        }
    }

    fn released(tx: &mut Tx, name: &str) {
        if batch(tx) {
            ov_release(tx, name);
        } else {
            pop_mark(tx, name);
        }
    }

    fn rolled_back(tx: &mut Tx, name: &str) {
        if batch(tx) {
            if let Some(m) = ov_rollback(tx, name) {
                ledger(tx).pending.notifications.truncate(m.notifications);
                due_window_rolled_back(tx);
            }
            return;
        }
        let st = ledger(tx);
        if let Some(&(_, n)) = st.pending.marks.iter().rev().find(|m| m.0 == name) {
            st.pending.notifications.truncate(n);
        }
        // A flush inside the savepoint was undone with it: write every counter again.
        for (_, dirty) in st.pending.counters.values_mut() {
            *dirty = true;
        }
        due_window_rolled_back(tx);
        pop_mark(tx, name);
    }
}

/// 15 parameters a row: 1,000 rows stay under SQLite's 32,766 bound parameters.
const NOTIFICATIONS_PER_INSERT: usize = 1000;

#[derive(Default)]
pub(crate) struct Pending {
    /// Counter name → (last value handed out, whether it changed since read).
    counters: HashMap<String, (i64, bool)>,
    notifications: Vec<NotificationRow>,
    /// Savepoint name → outbox rows pending when it was made (innermost last).
    marks: Vec<(&'static str, usize)>,
}

/// Next value of a named counter, starting at `start`.
pub(super) async fn ledger_next(tx: &mut Tx, name: &str, start: i64) -> Result<i64> {
    if let Some((v, dirty)) = ledger(tx).pending.counters.get_mut(name) {
        *v += 1;
        *dirty = true;
        return Ok(*v);
    }
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT value FROM commerce_counters WHERE name = $1")
            .bind(name)
            .fetch_optional(tx.conn())
            .await?;
    let v = stored.map_or(start, |v| v + 1);
    ledger(tx)
        .pending
        .counters
        .insert(name.to_string(), (v, true));
    Ok(v)
}

/// Appends a notification to the outbox (written at the next flush, in order).
pub(super) async fn ledger_insert_notification(tx: &mut Tx, n: NotificationRow) -> Result<()> {
    ledger(tx).pending.notifications.push(n);
    Ok(())
}

/// Writes what is pending: counters and outbox rows. Called before COMMIT and before any
/// statement that reads the outbox inside the transaction.
async fn flush_ledger(tx: &mut Tx) -> Result<()> {
    ov_flush(tx).await?;
    let counters: Vec<(String, i64)> = ledger(tx)
        .pending
        .counters
        .iter_mut()
        .filter(|(_, (_, dirty))| *dirty)
        .map(|(k, (v, dirty))| {
            *dirty = false;
            (k.clone(), *v)
        })
        .collect();
    if !counters.is_empty() {
        let mut q = QueryBuilder::new("INSERT INTO commerce_counters (name, value) ");
        q.push_values(&counters, |mut b, (k, v)| {
            b.push_bind(k).push_bind(*v);
        });
        q.push(" ON CONFLICT (name) DO UPDATE SET value = excluded.value");
        let n = counters.len();
        q.build_for(tx.dialect())
            .persistent(n == 1)
            .execute(tx.conn())
            .await?;
    }
    let rows = std::mem::take(&mut ledger(tx).pending.notifications);
    for m in &mut ledger(tx).pending.marks {
        m.1 = 0;
    }
    for chunk in rows.chunks(NOTIFICATIONS_PER_INSERT) {
        let mut q = QueryBuilder::new(
            "INSERT INTO commerce_notifications (notification_uuid, app_id, bundle_id,
             environment, notification_type, subtype, customer_id, transaction_id,
             signed_date_ms, signed_payload, decoded, url, test_token, state, attempts,
             next_attempt_ms) ",
        );
        let mut err = None;
        q.push_values(chunk, |mut b, n| {
            let attempts = serde_json::to_string(&n.attempts).unwrap_or_else(|e| {
                err = Some(e);
                String::new()
            });
            b.push_bind(n.notification_uuid.clone())
                .push_bind(n.app_id.clone())
                .push_bind(n.bundle_id.clone())
                .push_bind(n.environment.clone())
                .push_bind(n.notification_type.clone())
                .push_bind(n.subtype.clone())
                .push_bind(n.customer_id)
                .push_bind(n.transaction_id.clone())
                .push_bind(n.signed_date_ms)
                .push_bind(n.signed_payload.clone())
                .push_bind(n.decoded.clone())
                .push_bind(n.url.clone())
                .push_bind(n.test_token.clone())
                .push_bind(n.state.clone())
                .push_bind(attempts)
                .push_bind(n.next_attempt_ms);
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        let recurs = chunk.len() == 1 || chunk.len() == NOTIFICATIONS_PER_INSERT;
        q.build_for(tx.dialect())
            .persistent(recurs)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Forgets what is pending (the ledger was emptied).
pub(super) fn drop_pending_ledger(tx: &mut Tx) {
    ledger(tx).pending = Pending::default();
    ledger(tx).due_window = None;
    if ledger(tx).overlay.is_some() {
        ledger(tx).overlay = Some(Default::default());
    }
}

fn pop_mark(tx: &mut Tx, name: &str) {
    if let Some(i) = ledger(tx).pending.marks.iter().rposition(|m| m.0 == name) {
        ledger(tx).pending.marks.truncate(i);
    }
}
