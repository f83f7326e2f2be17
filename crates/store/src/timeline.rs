//! The timeline: changes of a resource's attributes planned on the virtual clock and, once
//! applied, its history (migration 0008).
//!
//! A family plans what Apple would do later (a build leaves PROCESSING after its processing time,
//! a reviewer approves a version, a phased release moves to its next day) as entries of
//! `attribute → value` at a virtual time, on a named `track`; a later request that changes the
//! course (a rejection, a paused release) cancels the track's planned entries and plans new ones.
//! Changes a request makes at once are recorded as applied entries, so the history of a resource
//! is every entry applied to it, in order, each at its virtual time.
//!
//! Nothing runs in the background: whoever is about to read (the server before each request, a
//! clock advance) calls [`Tx::timeline_apply_due`], which applies every entry whose time has come,
//! oldest first, in its own transaction. [`Store::timeline_may_be_due`] answers without SQL
//! whether that is needed, so a request pays nothing when nothing is planned before now.

use crate::{Store, Tx};
use anyhow::Result;
use serde_json::{Map, Value};
use sqlx::Row;
use std::sync::atomic::Ordering;

/// What [`Store::timeline_may_be_due`] knows: no entry is planned before this time
/// ([`UNKNOWN`]: ask the database).
pub(crate) const UNKNOWN: i64 = i64::MIN;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    Planned,
    Applied,
    Cancelled,
}

impl EntryState {
    fn as_str(self) -> &'static str {
        match self {
            EntryState::Planned => "planned",
            EntryState::Applied => "applied",
            EntryState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> EntryState {
        match s {
            "applied" => EntryState::Applied,
            "cancelled" => EntryState::Cancelled,
            _ => EntryState::Planned,
        }
    }
}

/// One change of a resource's attributes at a virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub seq: i64,
    pub rtype: String,
    pub id: String,
    pub track: String,
    pub at_ms: i64,
    pub changes: Map<String, Value>,
    pub note: String,
    pub state: EntryState,
}

/// A resource's entries, oldest first.
const OF_RESOURCE: &str = "SELECT seq, type, id, track, at_ms, changes, note, state FROM timeline
     WHERE type = $1 AND id = $2 ORDER BY at_ms, seq";
/// The oldest planned entry due at `$1`.
const NEXT_DUE: &str = "SELECT seq, type, id, track, at_ms, changes, note, state FROM timeline
     WHERE state = 'planned' AND at_ms <= $1 ORDER BY at_ms, seq LIMIT 1";

fn entry(row: &crate::db::DbRow) -> Result<Entry> {
    let changes: String = row.try_get("changes")?;
    let state: String = row.try_get("state")?;
    Ok(Entry {
        seq: row.try_get("seq")?,
        rtype: row.try_get("type")?,
        id: row.try_get("id")?,
        track: row.try_get("track")?,
        at_ms: row.try_get("at_ms")?,
        changes: serde_json::from_str(&changes)?,
        note: row.try_get("note")?,
        state: EntryState::parse(&state),
    })
}

impl Tx {
    async fn timeline_insert(
        &mut self,
        (rtype, id): (&str, &str),
        track: &str,
        at_ms: i64,
        changes: &Map<String, Value>,
        note: &str,
        state: EntryState,
    ) -> Result<i64> {
        let seq = sqlx::query_scalar(
            "INSERT INTO timeline (type, id, track, at_ms, changes, note, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
        )
        .bind(rtype)
        .bind(id)
        .bind(track)
        .bind(at_ms)
        .bind(serde_json::to_string(changes)?)
        .bind(note)
        .bind(state.as_str())
        .fetch_one(self.write_conn().await?)
        .await?;
        Ok(seq)
    }

    /// Plans `changes` to the resource `(rtype, id)` at virtual time `at_ms` on `track`; applied
    /// by the first [`Tx::timeline_apply_due`] at or after that time. Its sequence number.
    pub async fn timeline_plan(
        &mut self,
        resource: (&str, &str),
        track: &str,
        at_ms: i64,
        changes: &Map<String, Value>,
        note: &str,
    ) -> Result<i64> {
        let seq = self
            .timeline_insert(resource, track, at_ms, changes, note, EntryState::Planned)
            .await?;
        self.planned_min = Some(self.planned_min.map_or(at_ms, |m| m.min(at_ms)));
        Ok(seq)
    }

    /// Records in the history changes this transaction makes to the resource now (the caller
    /// writes the attributes itself).
    pub async fn timeline_record(
        &mut self,
        resource: (&str, &str),
        track: &str,
        changes: &Map<String, Value>,
        note: &str,
    ) -> Result<i64> {
        let now = self.now_ms;
        self.timeline_insert(resource, track, now, changes, note, EntryState::Applied)
            .await
    }

    /// Cancels the resource's planned entries on `track` (every track: `None`); how many.
    pub async fn timeline_cancel(
        &mut self,
        (rtype, id): (&str, &str),
        track: Option<&str>,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE timeline SET state = 'cancelled'
             WHERE type = $1 AND id = $2 AND state = 'planned' AND ($3 IS NULL OR track = $3)",
        )
        .bind(rtype)
        .bind(id)
        .bind(track)
        .execute(self.write_conn().await?)
        .await?;
        Ok(r.rows_affected())
    }

    /// The resource's entries (applied, planned and cancelled), oldest first.
    pub async fn timeline_of(&mut self, (rtype, id): (&str, &str)) -> Result<Vec<Entry>> {
        let rows = sqlx::query(OF_RESOURCE)
            .bind(rtype)
            .bind(id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(entry).collect()
    }

    /// Applies the next planned entry due at `now_ms` (the oldest): its changes are merged into
    /// the resource's attributes (an entry of a resource deleted since is cancelled) and it is
    /// marked applied. `None` when nothing is due. A caller applies one at a time so that a
    /// family can react to each (and plan more) before the next.
    pub async fn timeline_apply_next(&mut self, now_ms: i64) -> Result<Option<Entry>> {
        let row = sqlx::query(NEXT_DUE)
            .bind(now_ms)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut e = entry(&row)?;
        let state = match self.get(&e.rtype, &e.id).await? {
            Some(r) => {
                let mut attributes = r.attributes;
                for (k, v) in &e.changes {
                    attributes.insert(k.clone(), v.clone());
                }
                self.put(&e.rtype, &e.id, &attributes).await?;
                EntryState::Applied
            }
            None => EntryState::Cancelled,
        };
        sqlx::query("UPDATE timeline SET state = $1 WHERE seq = $2")
            .bind(state.as_str())
            .bind(e.seq)
            .execute(self.write_conn().await?)
            .await?;
        e.state = state;
        Ok(Some(e))
    }

    /// When the earliest planned entry is due (`i64::MAX`: none planned).
    pub async fn timeline_next_due(&mut self) -> Result<i64> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT MIN(at_ms) FROM timeline WHERE state = 'planned'")
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(at.unwrap_or(i64::MAX))
    }
}

impl Store {
    /// Whether an entry may be due at `now_ms` (false only when none is known to be).
    pub fn timeline_may_be_due(&self, now_ms: i64) -> bool {
        let next = self.next_due.load(Ordering::Acquire);
        next == UNKNOWN || next <= now_ms
    }

    /// Remembers when the earliest planned entry is due (after [`Tx::timeline_next_due`]).
    pub fn timeline_learn_next_due(&self, at_ms: i64) {
        self.next_due.store(at_ms, Ordering::Release);
    }

    /// A transaction planned an entry at `at_ms`: due no later than that.
    pub(crate) fn timeline_planned(&self, at_ms: i64) {
        let _ = self
            .next_due
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != UNKNOWN && at_ms < n).then_some(at_ms)
            });
    }

    /// Another process may have planned entries: ask the database next time.
    pub fn timeline_forget_next_due(&self) {
        self.next_due.store(UNKNOWN, Ordering::Release);
    }

    /// The resource's entries (applied, planned and cancelled), oldest first.
    pub async fn timeline_of(&self, (rtype, id): (&str, &str)) -> Result<Vec<Entry>> {
        let rows = sqlx::query(OF_RESOURCE)
            .bind(rtype)
            .bind(id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::store;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn planned_changes_apply_in_time_order_and_become_the_history() {
        let (store, dir) = store().await;
        let now = store.now_ms();
        let mut tx = store.begin().await.unwrap();
        tx.put(
            "builds",
            "b1",
            &obj(json!({"processingState": "PROCESSING", "version": "7"})),
        )
        .await
        .unwrap();
        tx.timeline_record(
            ("builds", "b1"),
            "processing",
            &obj(json!({"processingState": "PROCESSING"})),
            "uploaded",
        )
        .await
        .unwrap();
        tx.timeline_plan(
            ("builds", "b1"),
            "processing",
            now + 2_000,
            &obj(json!({"expired": true})),
            "expired",
        )
        .await
        .unwrap();
        tx.timeline_plan(
            ("builds", "b1"),
            "processing",
            now + 1_000,
            &obj(json!({"processingState": "VALID"})),
            "processed",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.timeline_apply_next(now + 999).await.unwrap(), None);
        let first = tx.timeline_apply_next(now + 1_500).await.unwrap().unwrap();
        assert_eq!(first.note, "processed");
        assert_eq!(first.state, EntryState::Applied);
        assert_eq!(tx.timeline_apply_next(now + 1_500).await.unwrap(), None);
        assert_eq!(tx.timeline_next_due().await.unwrap(), now + 2_000);
        let b = tx.get("builds", "b1").await.unwrap().unwrap();
        assert_eq!(b.attributes["processingState"], "VALID");
        assert_eq!(b.attributes["version"], "7", "other attributes are kept");
        tx.commit().await.unwrap();

        let history = store.timeline_of(("builds", "b1")).await.unwrap();
        let notes: Vec<_> = history.iter().map(|e| (e.note.as_str(), e.state)).collect();
        assert_eq!(
            notes,
            [
                ("uploaded", EntryState::Applied),
                ("processed", EntryState::Applied),
                ("expired", EntryState::Planned)
            ]
        );
        assert_eq!(
            history[1].at_ms,
            now + 1_000,
            "applied at its planned virtual time"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_cancelled_track_and_a_deleted_resource_apply_nothing() {
        let (store, dir) = store().await;
        let now = store.now_ms();
        let mut tx = store.begin().await.unwrap();
        tx.put(
            "appStoreVersions",
            "v1",
            &obj(json!({"appVersionState": "WAITING_FOR_REVIEW"})),
        )
        .await
        .unwrap();
        tx.put("builds", "gone", &obj(json!({}))).await.unwrap();
        let approve = obj(json!({"appVersionState": "PENDING_DEVELOPER_RELEASE"}));
        tx.timeline_plan(
            ("appStoreVersions", "v1"),
            "review",
            now,
            &approve,
            "approved",
        )
        .await
        .unwrap();
        tx.timeline_plan(
            ("appStoreVersions", "v1"),
            "release",
            now,
            &obj(json!({"x": 1})),
            "other track",
        )
        .await
        .unwrap();
        tx.timeline_plan(
            ("builds", "gone"),
            "processing",
            now,
            &obj(json!({"processingState": "VALID"})),
            "",
        )
        .await
        .unwrap();
        assert_eq!(
            tx.timeline_cancel(("appStoreVersions", "v1"), Some("review"))
                .await
                .unwrap(),
            1
        );
        tx.delete("builds", "gone").await.unwrap();
        let other = tx.timeline_apply_next(now).await.unwrap().unwrap();
        assert_eq!(other.note, "other track");
        let gone = tx.timeline_apply_next(now).await.unwrap().unwrap();
        assert_eq!(
            gone.state,
            EntryState::Cancelled,
            "its resource was deleted"
        );
        assert_eq!(tx.timeline_apply_next(now).await.unwrap(), None);
        let v = tx.get("appStoreVersions", "v1").await.unwrap().unwrap();
        assert_eq!(v.attributes["appVersionState"], "WAITING_FOR_REVIEW");
        assert_eq!(tx.timeline_next_due().await.unwrap(), i64::MAX);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_reset_forgets_what_was_planned_and_the_history() {
        let (store, dir) = store().await;
        let now = store.now_ms();
        let mut tx = store.begin().await.unwrap();
        tx.put("builds", "b", &obj(json!({}))).await.unwrap();
        let change = obj(json!({"expired": true}));
        tx.timeline_record(("builds", "b"), "expiry", &change, "")
            .await
            .unwrap();
        tx.timeline_plan(("builds", "b"), "expiry", now + 1, &change, "")
            .await
            .unwrap();
        tx.clear_resources().await.unwrap();
        assert_eq!(tx.timeline_next_due().await.unwrap(), i64::MAX);
        assert_eq!(tx.timeline_of(("builds", "b")).await.unwrap(), []);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn the_store_knows_without_sql_when_nothing_is_due() {
        let (store, dir) = store().await;
        let now = store.now_ms();
        assert!(store.timeline_may_be_due(now), "unknown until asked");
        store.timeline_learn_next_due(i64::MAX);
        assert!(!store.timeline_may_be_due(now));
        let mut tx = store.begin().await.unwrap();
        tx.put("builds", "b", &obj(json!({}))).await.unwrap();
        tx.timeline_plan(
            ("builds", "b"),
            "processing",
            now + 60_000,
            &obj(json!({})),
            "",
        )
        .await
        .unwrap();
        assert!(
            !store.timeline_may_be_due(now + 60_000),
            "not before the commit"
        );
        tx.commit().await.unwrap();
        assert!(!store.timeline_may_be_due(now + 59_999));
        assert!(store.timeline_may_be_due(now + 60_000));
        store.timeline_forget_next_due();
        assert!(store.timeline_may_be_due(now));
        std::fs::remove_dir_all(dir).ok();
    }
}
