//! What a [`Tx`] keeps in memory until it commits: the ledger's counters (one read each, one
//! write each at the end, instead of a statement per id) and the notification outbox rows
//! appended since the last flush (one multi-row INSERT instead of one per notification). Both
//! are written before COMMIT ([`Tx::flush_ledger`]); a savepoint rolled back drops the outbox
//! rows appended after it. A counter keeps what a rolled-back event drew: ids are unique, not
//! dense (Apple's ids are not dense either). Savepoints live here too: in a batch they are
//! marks of the ledger's memory ([`super::overlay`]).

use std::collections::HashMap;

use super::*;

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

impl Tx {
    /// Next value of a named counter, starting at `start`.
    pub async fn ledger_next(&mut self, name: &str, start: i64) -> Result<i64> {
        if let Some((v, dirty)) = self.pending.counters.get_mut(name) {
            *v += 1;
            *dirty = true;
            return Ok(*v);
        }
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT value FROM commerce_counters WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *self.tx)
                .await?;
        let v = stored.map_or(start, |v| v + 1);
        self.pending.counters.insert(name.to_string(), (v, true));
        Ok(v)
    }

    /// Appends a notification to the outbox (written at the next flush, in order).
    pub async fn ledger_insert_notification(&mut self, n: NotificationRow) -> Result<()> {
        self.pending.notifications.push(n);
        Ok(())
    }

    /// Writes what is pending: counters and outbox rows. Called before COMMIT and before any
    /// statement that reads the outbox inside the transaction.
    pub(crate) async fn flush_ledger(&mut self) -> Result<()> {
        self.ov_flush().await?;
        let counters: Vec<(String, i64)> = self
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
            q.build().persistent(n == 1).execute(&mut *self.tx).await?;
        }
        let rows = std::mem::take(&mut self.pending.notifications);
        for m in &mut self.pending.marks {
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
                let attempts = serde_json::to_string(&n.attempts);
                let decoded = n.decoded.as_ref().map(serde_json::to_string).transpose();
                let (attempts, decoded) = match (attempts, decoded) {
                    (Ok(a), Ok(d)) => (a, d),
                    (Err(e), _) | (_, Err(e)) => {
                        err = Some(e);
                        (String::new(), None)
                    }
                };
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
                    .push_bind(decoded)
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
            q.build().persistent(recurs).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Forgets what is pending (the ledger was emptied).
    pub(crate) fn drop_pending_ledger(&mut self) {
        self.pending = Pending::default();
        self.due_window = None;
        if self.overlay.is_some() {
            self.overlay = Some(Default::default());
        }
    }

    /// Marks a point inside this transaction that [`Tx::rollback_to_savepoint`] returns to: one
    /// refused event of a batch is undone without the others. Names are this crate's callers'
    /// constants. In a batch ([`Tx::ledger_batch`]) a mark in memory, made a real SAVEPOINT
    /// only if a statement writes under it.
    pub async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        let n = self.pending.notifications.len();
        if self.ov_mark(name, n) {
            return Ok(());
        }
        savepoint_sql(self, "SAVEPOINT", name).await?;
        self.pending.marks.push((name, n));
        Ok(())
    }

    /// Keeps what was written since [`Tx::savepoint`] `name`.
    pub async fn release_savepoint(&mut self, name: &'static str) -> Result<()> {
        if self.overlay.is_some() {
            if self.ov_release(name).is_some_and(|m| m.in_sql) {
                savepoint_sql(self, "RELEASE", name).await?;
            }
            return Ok(());
        }
        savepoint_sql(self, "RELEASE", name).await?;
        self.pop_mark(name);
        Ok(())
    }

    /// Undoes what was written since [`Tx::savepoint`] `name` (and releases it).
    pub async fn rollback_to_savepoint(&mut self, name: &'static str) -> Result<()> {
        if self.overlay.is_some() {
            let Some(m) = self.ov_rollback(name) else {
                return Ok(());
            };
            self.pending.notifications.truncate(m.notifications);
            self.due_window_rolled_back();
            if m.in_sql {
                savepoint_sql(self, "ROLLBACK TO", name).await?;
                savepoint_sql(self, "RELEASE", name).await?;
                self.memo.forget();
            }
            return Ok(());
        }
        savepoint_sql(self, "ROLLBACK TO", name).await?;
        if let Some(&(_, n)) = self.pending.marks.iter().rev().find(|m| m.0 == name) {
            self.pending.notifications.truncate(n);
        }
        self.memo.forget();
        self.due_window_rolled_back();
        // A flush inside the savepoint was undone with it: write every counter again.
        for (_, dirty) in self.pending.counters.values_mut() {
            *dirty = true;
        }
        savepoint_sql(self, "RELEASE", name).await?;
        self.pop_mark(name);
        Ok(())
    }

    fn pop_mark(&mut self, name: &str) {
        if let Some(i) = self.pending.marks.iter().rposition(|m| m.0 == name) {
            self.pending.marks.truncate(i);
        }
    }
}

/// `SAVEPOINT`, `RELEASE` or `ROLLBACK TO` a savepoint (names are this crate's callers'
/// constants, never input).
async fn savepoint_sql(tx: &mut Tx, verb: &str, name: &'static str) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{verb} {name}")))
        .execute(&mut *tx.tx)
        .await?;
    Ok(())
}
