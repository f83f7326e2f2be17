//! What a family keeps inside one write transaction ([`Tx`]), and the transaction's savepoints.
//!
//! A family (the commerce ledger) may keep state of its own in a transaction — rows it writes
//! at COMMIT in a few multi-row statements, memory of what it read — without the store knowing
//! what it is: a typed slot per [`TxState`] type ([`Tx::state`]) with hooks the transaction
//! calls before COMMIT ([`TxState::flush`]) and when a savepoint is made, released or rolled
//! back, so the family's memory follows the database's.
//!
//! Savepoints are real SQL savepoints, or with [`Tx::defer_savepoints`] marks in memory made real
//! only when a statement writes under one ([`Tx::write_conn`]): a batch of many events, each
//! under a savepoint, whose writes are mostly kept in memory costs no statement per event.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use anyhow::Result;

use crate::Tx;
use crate::db::DbConn;

/// State a family keeps in a [`Tx`] (one value per type, made by `Default` when first asked
/// for). Hooks are functions of the transaction: they reach their state with [`Tx::state`].
pub trait TxState: Default + Send + 'static {
    /// Writes what the state keeps in memory; called before COMMIT.
    fn flush(tx: &mut Tx) -> impl Future<Output = Result<()>> + Send;
    /// A savepoint `name` was made (also called, once for each savepoint open, when the state
    /// is made inside them).
    fn savepoint(tx: &mut Tx, name: &'static str);
    /// Savepoint `name` was released: what was done since stays.
    fn released(tx: &mut Tx, name: &str);
    /// What was done since savepoint `name` was undone (and the savepoint released).
    fn rolled_back(tx: &mut Tx, name: &str);
}

type Flush = for<'a> fn(&'a mut Tx) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

#[derive(Clone, Copy)]
struct Hooks {
    flush: Flush,
    savepoint: fn(&mut Tx, &'static str),
    released: fn(&mut Tx, &str),
    rolled_back: fn(&mut Tx, &str),
}

fn flush_of<T: TxState>(tx: &mut Tx) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
    Box::pin(T::flush(tx))
}

impl Hooks {
    fn of<T: TxState>() -> Hooks {
        Hooks {
            flush: flush_of::<T>,
            savepoint: T::savepoint,
            released: T::released,
            rolled_back: T::rolled_back,
        }
    }
}

/// The states of one transaction and its open savepoints.
#[derive(Default)]
pub(crate) struct States {
    slots: Vec<(Box<dyn Any + Send>, Hooks)>,
    /// Open savepoints, innermost last: name, and whether it was issued in SQL.
    savepoints: Vec<(&'static str, bool)>,
    /// [`Tx::defer_savepoints`].
    deferred: bool,
}

impl States {
    fn hooks(&self) -> Vec<Hooks> {
        self.slots.iter().map(|(_, h)| *h).collect()
    }

    /// Savepoint `name`: where it stands (if open) and whether it is in SQL; `None` when there
    /// is nothing to undo or keep (a deferred savepoint that is not open).
    fn locate(&self, name: &str) -> Option<(Option<usize>, bool)> {
        match self.savepoints.iter().rposition(|s| s.0 == name) {
            Some(i) => Some((Some(i), self.savepoints[i].1)),
            None if self.deferred => None,
            None => Some((None, true)),
        }
    }
}

impl Tx {
    /// This transaction's state of type `T`, made (and its hooks registered) when first asked.
    pub fn state<T: TxState>(&mut self) -> &mut T {
        let i = match self.states.slots.iter().position(|(s, _)| s.is::<T>()) {
            Some(i) => i,
            None => {
                self.states
                    .slots
                    .push((Box::new(T::default()), Hooks::of::<T>()));
                // Made inside savepoints: its marks start where it stood at each (empty).
                let open: Vec<&'static str> = self.states.savepoints.iter().map(|s| s.0).collect();
                for name in open {
                    T::savepoint(self, name);
                }
                self.states.slots.len() - 1
            }
        };
        self.states.slots[i]
            .0
            .downcast_mut()
            .expect("slot of its own type")
    }

    /// Whether this transaction has a state of type `T` yet.
    pub fn has_state<T: TxState>(&self) -> bool {
        self.states.slots.iter().any(|(s, _)| s.is::<T>())
    }

    /// Makes savepoints marks in memory from now on, issued in SQL only when a statement writes
    /// under one (see the module comment): for a caller that keeps its writes in memory.
    pub fn defer_savepoints(&mut self) {
        self.states.deferred = true;
    }

    /// Runs every state's [`TxState::flush`] (before COMMIT).
    pub(crate) async fn flush_states(&mut self) -> Result<()> {
        for h in self.states.hooks() {
            (h.flush)(self).await?;
        }
        Ok(())
    }

    /// Marks a point inside this transaction that [`Tx::rollback_to_savepoint`] returns to: one
    /// refused event of a batch is undone without the others. Names are this crate's callers'
    /// constants.
    pub async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        let in_sql = !self.states.deferred;
        if in_sql {
            self.savepoint_sql("SAVEPOINT", name).await?;
        }
        self.states.savepoints.push((name, in_sql));
        for h in self.states.hooks() {
            (h.savepoint)(self, name);
        }
        Ok(())
    }

    /// Keeps what was written since [`Tx::savepoint`] `name`.
    pub async fn release_savepoint(&mut self, name: &'static str) -> Result<()> {
        let Some((found, in_sql)) = self.states.locate(name) else {
            return Ok(());
        };
        if in_sql {
            self.savepoint_sql("RELEASE", name).await?;
        }
        self.close_savepoint(found, name, |h| h.released);
        Ok(())
    }

    /// Undoes what was written since [`Tx::savepoint`] `name` (and releases it).
    pub async fn rollback_to_savepoint(&mut self, name: &'static str) -> Result<()> {
        let Some((found, in_sql)) = self.states.locate(name) else {
            return Ok(());
        };
        if in_sql {
            self.savepoint_sql("ROLLBACK TO", name).await?;
        }
        self.close_savepoint(found, name, |h| h.rolled_back);
        if in_sql {
            self.memo.forget();
            self.savepoint_sql("RELEASE", name).await?;
        }
        Ok(())
    }

    /// Drops savepoint `name` (at `found`) and the ones inside it, and tells every state
    /// through the hook `which` picks.
    fn close_savepoint(
        &mut self,
        found: Option<usize>,
        name: &str,
        which: fn(&Hooks) -> fn(&mut Tx, &str),
    ) {
        if let Some(i) = found {
            self.states.savepoints.truncate(i);
        }
        for h in self.states.hooks() {
            which(&h)(self, name);
        }
    }

    /// The connection for a statement that writes: what the transaction read is forgotten
    /// ([`crate::memo`]), and deferred savepoints are issued first, so a rollback undoes the
    /// statement too.
    pub async fn write_conn(&mut self) -> Result<&mut DbConn> {
        self.memo.forget();
        let names: Vec<&'static str> = self
            .states
            .savepoints
            .iter_mut()
            .filter(|s| !s.1)
            .map(|s| {
                s.1 = true;
                s.0
            })
            .collect();
        for n in names {
            self.savepoint_sql("SAVEPOINT", n).await?;
        }
        Ok(&mut *self.tx)
    }

    /// `SAVEPOINT`, `RELEASE` or `ROLLBACK TO` a savepoint (names are callers' constants, never
    /// input).
    async fn savepoint_sql(&mut self, verb: &str, name: &'static str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!("{verb} {name}")))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::tests::store;

    /// A family's state that logs its hooks and writes a meta setting at flush.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl TxState for Log {
        async fn flush(tx: &mut Tx) -> Result<()> {
            let n = tx.state::<Log>().0.len().to_string();
            tx.state::<Log>().0.push("flush".into());
            tx.meta_set("log.at.flush", &n).await
        }
        fn savepoint(tx: &mut Tx, name: &'static str) {
            tx.state::<Log>().0.push(format!("savepoint {name}"));
        }
        fn released(tx: &mut Tx, name: &str) {
            tx.state::<Log>().0.push(format!("released {name}"));
        }
        fn rolled_back(tx: &mut Tx, name: &str) {
            tx.state::<Log>().0.push(format!("rolled back {name}"));
        }
    }

    #[tokio::test]
    async fn a_state_made_inside_savepoints_hears_of_them_and_of_the_commit() {
        let (s, _dir) = store().await;
        let mut tx = s.begin().await.unwrap();
        tx.savepoint("outer").await.unwrap();
        assert!(!tx.has_state::<Log>());
        // Made inside `outer`: it hears of it at once.
        assert_eq!(tx.state::<Log>().0, ["savepoint outer"]);
        tx.savepoint("inner").await.unwrap();
        tx.meta_set("under.inner", "x").await.unwrap();
        tx.rollback_to_savepoint("inner").await.unwrap();
        assert_eq!(tx.meta_get("under.inner").await.unwrap(), None);
        tx.release_savepoint("outer").await.unwrap();
        tx.commit().await.unwrap();
        // The flush ran before COMMIT, in the transaction: its write is durable.
        assert_eq!(
            s.meta_get("log.at.flush").await.unwrap().as_deref(),
            Some("4")
        );
    }

    #[tokio::test]
    async fn deferred_savepoints_are_issued_only_when_a_statement_writes_under_them() {
        let (s, _dir) = store().await;
        let mut tx = s.begin().await.unwrap();
        tx.defer_savepoints();
        // Nothing written under `a`: rolling it back issues no SQL (a real ROLLBACK TO of a
        // savepoint never made would fail).
        tx.savepoint("a").await.unwrap();
        tx.rollback_to_savepoint("a").await.unwrap();
        tx.savepoint("b").await.unwrap();
        tx.meta_set("under.b", "y").await.unwrap();
        tx.rollback_to_savepoint("b").await.unwrap();
        assert_eq!(tx.meta_get("under.b").await.unwrap(), None);
        tx.savepoint("c").await.unwrap();
        tx.meta_set("under.c", "z").await.unwrap();
        tx.release_savepoint("c").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(s.meta_get("under.c").await.unwrap().as_deref(), Some("z"));
    }
}
