//! Which subscription steps (renewals, billing retry and grace period ends, expirations) are due,
//! as one write transaction sees it. A batch that runs a day of events (the simulator) asks
//! before every event; with a window open up to the day's end ([`LedgerTx::ledger_open_due_window`])
//! the answer comes from memory: the steps due in the window are read once, and every
//! subscription the transaction stores moves in or out of it. Without a window, or after a
//! rollback to a savepoint (the window is read again), it is one query.

use std::collections::{BTreeSet, HashMap};

use super::overlay::ov_prefetch;
use super::pending::ledger;
use super::*;

pub(crate) struct DueWindow {
    until: i64,
    /// `(due ms, original transaction id)`: the scheduler's order.
    due: BTreeSet<(i64, String)>,
    by_id: HashMap<String, i64>,
    stale: bool,
}

/// Answers [`LedgerTx::ledger_next_due_subscription`] for times up to `until` from memory.
/// In a batch ([`LedgerTx::ledger_batch`]) the due subscriptions, their transactions and customers
/// are read ahead into memory, and what the batch changed is laid over the database's rows.
pub(super) async fn ledger_open_due_window(tx: &mut Tx, until: i64) -> Result<()> {
    let rows: Vec<(String, i64)> = if ledger(tx).overlay.is_some() {
        let subs: Vec<SubscriptionRow> = sqlx::query(
            "SELECT * FROM commerce_subscriptions
             WHERE next_event_ms IS NOT NULL AND next_event_ms <= $1",
        )
        .bind(until)
        .fetch_all(tx.conn())
        .await?
        .iter()
        .map(subscription_from)
        .collect::<Result<_>>()?;
        let ids = subs
            .iter()
            .filter_map(|s| Some((s.original_transaction_id.clone(), s.next_event_ms?)))
            .collect();
        ov_prefetch(tx, subs).await?;
        ids
    } else {
        sqlx::query_as(
            "SELECT original_transaction_id, next_event_ms FROM commerce_subscriptions
             WHERE next_event_ms IS NOT NULL AND next_event_ms <= $1",
        )
        .bind(until)
        .fetch_all(tx.conn())
        .await?
    };
    let mut w = DueWindow {
        until,
        due: BTreeSet::new(),
        by_id: HashMap::with_capacity(rows.len()),
        stale: false,
    };
    for (id, at) in rows {
        w.due.insert((at, id.clone()));
        w.by_id.insert(id, at);
    }
    ledger(tx).due_window = Some(w);
    let changed: Vec<SubscriptionRow> = ledger(tx)
        .overlay
        .as_ref()
        .map(|o| o.dirty_subs().cloned().collect())
        .unwrap_or_default();
    for s in &changed {
        due_window_saw(tx, s);
    }
    Ok(())
}

/// The earliest subscription step due at or before `now`, `(original transaction id, due
/// ms)`, as this transaction sees it (the scheduler's order: due time, then id). A caller
/// that batches many events in one transaction (the simulator) runs the steps it made due.
pub(super) async fn ledger_next_due_subscription(
    tx: &mut Tx,
    now: i64,
) -> Result<Option<(String, i64)>> {
    if let Some(w) = &ledger(tx).due_window
        && now <= w.until
    {
        if w.stale {
            let until = w.until;
            ledger_open_due_window(tx, until).await?;
        }
        let w = ledger(tx).due_window.as_ref().expect("just opened");
        return Ok(w
            .due
            .first()
            .filter(|(at, _)| *at <= now)
            .map(|(at, id)| (id.clone(), *at)));
    }
    Ok(sqlx::query_as(
        "SELECT original_transaction_id, next_event_ms FROM commerce_subscriptions
         WHERE next_event_ms IS NOT NULL AND next_event_ms <= $1
         ORDER BY next_event_ms, original_transaction_id LIMIT 1",
    )
    .bind(now)
    .fetch_optional(tx.conn())
    .await?)
}

/// Keeps the window in step with a subscription being stored.
pub(super) fn due_window_saw(tx: &mut Tx, s: &SubscriptionRow) {
    let Some(w) = ledger(tx).due_window.as_mut() else {
        return;
    };
    if let Some(old) = w.by_id.remove(&s.original_transaction_id) {
        w.due.remove(&(old, s.original_transaction_id.clone()));
    }
    if let Some(at) = s.next_event_ms.filter(|at| *at <= w.until) {
        w.due.insert((at, s.original_transaction_id.clone()));
        w.by_id.insert(s.original_transaction_id.clone(), at);
    }
}

/// What was stored since a savepoint is undone: read the window again when next asked.
pub(super) fn due_window_rolled_back(tx: &mut Tx) {
    if let Some(w) = ledger(tx).due_window.as_mut() {
        w.stale = true;
    }
}
