//! Resources and linkage a write transaction keeps in memory and writes in multi-row statements
//! ([`Tx::batch_writes`]): loading the demo world wrote and read its resources and linkage one
//! statement, one round trip, at a time — `crabapple worlds create` made 4,512 statements on
//! PostgreSQL, 214 with this (issue 12: "the demo world created in under 1 s").
//!
//! What is kept is written before anything that could see it: a statement that writes
//! ([`Tx::write_conn`]), a savepoint, the commit, and a read of the transaction's own resources
//! or linkage that what is kept could change ([`Tx::get`], [`Tx::ids`], [`Tx::linked`], …; each
//! asks [`Batch`] whether it must). A read that what is kept answers by itself needs no
//! statement ([`Tx::exists`] of a resource put here, [`Tx::has_linkage`] of linkage added here).
//! The rows written are the ones [`Tx::put`], [`Tx::set_created_ms`] and [`Tx::link`] write one
//! at a time: the same `seq` order (first put first), creation times and linkage order (`ord`).

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde_json::{Map, Value};

use crate::Tx;
use crate::db::QueryBuilder;
use crate::known::Known;

/// Rows a multi-row statement carries (5 or 6 values each: far below both engines' limits on
/// bound values).
const CHUNK: usize = 500;

/// One resource to write.
struct Put {
    rtype: String,
    id: String,
    attributes: String,
    /// [`Tx::set_created_ms`] of a resource put here.
    created_ms: Option<i64>,
}

/// A transaction's batching ([`Tx::batch_writes`]).
#[derive(Default)]
pub(crate) struct Batch {
    on: bool,
    /// What it keeps.
    pub kept: Kept,
    /// Every resource and linkage the store holds, when the transaction knows them all.
    pub known: Option<Known>,
}

/// Writes kept in memory.
#[derive(Default)]
pub(crate) struct Kept {
    /// In the order first put.
    puts: Vec<Put>,
    put_index: HashMap<(String, String), usize>,
    put_types: HashSet<String>,
    /// `(src_type, src_id, rel, dst_type, dst_id)`, in the order added, each once.
    links: Vec<[String; 5]>,
    link_keys: HashSet<[String; 5]>,
    /// `(src_type, src_id, rel)` and `(src_type, rel)` of the linkage kept.
    link_sources: HashSet<(String, String, String)>,
    link_rels: HashSet<(String, String)>,
    /// Every resource at either end of the linkage kept.
    link_ends: HashSet<(String, String)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

impl Kept {
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.links.is_empty()
    }

    fn key(rtype: &str, id: &str) -> (String, String) {
        (rtype.to_string(), id.to_string())
    }

    /// Whether resource `(rtype, id)` is put here.
    pub fn has_put(&self, rtype: &str, id: &str) -> bool {
        self.put_index.contains_key(&Self::key(rtype, id))
    }

    /// Whether a resource of `rtype` is put here.
    pub fn has_type(&self, rtype: &str) -> bool {
        self.put_types.contains(rtype)
    }

    /// Whether linkage of `(src_type, src_id)` through `rel` is kept here.
    pub fn links_from(&self, src_type: &str, src_id: &str, rel: &str) -> bool {
        self.link_sources
            .contains(&(src_type.into(), src_id.into(), rel.into()))
    }

    /// Whether linkage of a resource of `src_type` through `rel` is kept here.
    pub fn links_rel(&self, src_type: &str, rel: &str) -> bool {
        self.link_rels.contains(&Self::key(src_type, rel))
    }

    /// Whether linkage to or from `(rtype, id)` is kept here.
    pub fn links_end(&self, rtype: &str, id: &str) -> bool {
        self.link_ends.contains(&Self::key(rtype, id))
    }
}

impl Tx {
    /// Keeps this transaction's resource writes ([`Tx::put`], [`Tx::set_created_ms`]) and new
    /// linkage ([`Tx::link`]) in memory from now on, written in multi-row statements before
    /// anything could see them (see the module comment): for a caller writing many resources
    /// at once, as loading a world does. Reads through [`Tx::conn`] do not see what is kept:
    /// such a caller writes what is kept first ([`Tx::write_batch`]).
    ///
    /// On a store without resources or linkage (a new world) the transaction then knows all
    /// there is ([`crate::known`]) and reads of it need no statement; one statement asks.
    pub async fn batch_writes(&mut self) -> Result<()> {
        if self.batch.on {
            return Ok(());
        }
        self.write_batch().await?;
        let any: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM resources LIMIT 1) AS r) \
             + (SELECT COUNT(*) FROM (SELECT 1 FROM edges LIMIT 1) AS e)",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        self.batch.on = true;
        self.batch.known = (any == 0).then(Known::default);
        Ok(())
    }

    /// What the transaction knows of every resource and linkage ([`crate::known`]), if it does.
    pub(crate) fn known(&mut self) -> Option<&mut Known> {
        self.batch.known.as_mut()
    }

    /// After a rollback to a savepoint: the transaction reads the database again.
    pub(crate) fn forget_known(&mut self) {
        self.batch.known = None;
    }

    /// Whether [`Tx::put`] and friends keep their writes ([`Tx::batch_writes`]).
    pub(crate) fn batching(&self) -> bool {
        self.batch.on
    }

    /// Keeps a put of `(rtype, id)` (a later put of the same resource replaces its attributes,
    /// as its `ON CONFLICT` would).
    pub(crate) async fn batch_put(
        &mut self,
        rtype: &str,
        id: &str,
        attributes: &Map<String, Value>,
    ) -> Result<()> {
        self.will_write().await?;
        let attributes = serde_json::to_string(attributes)?;
        let b = &mut self.batch.kept;
        match b.put_index.get(&Kept::key(rtype, id)) {
            Some(&i) => b.puts[i].attributes = attributes,
            None => {
                b.put_index.insert(Kept::key(rtype, id), b.puts.len());
                b.put_types.insert(rtype.to_string());
                b.puts.push(Put {
                    rtype: rtype.to_string(),
                    id: id.to_string(),
                    attributes,
                    created_ms: None,
                });
            }
        }
        Ok(())
    }

    /// Sets the creation time of a resource put here; false when it is not (or when `at` is
    /// the transaction's own time, which the kept row cannot tell from "not set"): the caller
    /// writes it.
    pub(crate) fn batch_created(&mut self, rtype: &str, id: &str, at: i64) -> bool {
        if at == self.now_ms {
            return false;
        }
        match self.batch.kept.put_index.get(&Kept::key(rtype, id)) {
            Some(&i) => {
                self.batch.kept.puts[i].created_ms = Some(at);
                true
            }
            None => false,
        }
    }

    /// Keeps linkage `src —rel→ dst` (once).
    pub(crate) async fn batch_link(
        &mut self,
        src: (&str, &str),
        rel: &str,
        dst: (&str, &str),
    ) -> Result<()> {
        self.will_write().await?;
        let row = [src.0, src.1, rel, dst.0, dst.1].map(str::to_string);
        let b = &mut self.batch.kept;
        if b.link_keys.insert(row.clone()) {
            b.link_sources
                .insert((row[0].clone(), row[1].clone(), row[2].clone()));
            b.link_rels.insert((row[0].clone(), row[2].clone()));
            b.link_ends.insert((row[0].clone(), row[1].clone()));
            b.link_ends.insert((row[3].clone(), row[4].clone()));
            b.links.push(row);
        }
        Ok(())
    }

    /// Writes what is kept ([`Tx::batch_writes`]): the resources, then the linkage, in
    /// statements of [`CHUNK`] rows. Nothing kept: no statement.
    pub async fn write_batch(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let Kept { puts, links, .. } = std::mem::take(&mut self.batch.kept);
        let d = self.store.dialect;
        let now = self.now_ms;
        for chunk in puts.chunks(CHUNK) {
            // A creation time set here replaces the stored one; otherwise the row's is kept
            // (`created_ms` = `updated_ms` = the transaction's time: nothing set).
            let mut q = QueryBuilder::new(
                "INSERT INTO resources (type, id, attributes, created_ms, updated_ms) ",
            );
            q.push_values(chunk, |mut row, p| {
                row.push_bind(p.rtype.clone())
                    .push_bind(p.id.clone())
                    .push_bind(p.attributes.clone())
                    .push_bind(p.created_ms.unwrap_or(now))
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (type, id) DO UPDATE SET attributes = excluded.attributes, \
                 updated_ms = excluded.updated_ms, created_ms = CASE WHEN excluded.created_ms = \
                 excluded.updated_ms THEN resources.created_ms ELSE excluded.created_ms END",
            );
            q.build_for(d).execute(&mut *self.tx).await?;
        }
        for chunk in links.chunks(CHUNK) {
            // Each source's new linkage after its stored linkage, in the order added; what is
            // stored already is left as it is (no `ord` taken).
            let mut q =
                QueryBuilder::new("WITH v (n, src_type, src_id, rel, dst_type, dst_id) AS (");
            q.push_values(chunk.iter().enumerate(), |mut row, (n, l)| {
                row.push_bind(n as i64);
                for value in l {
                    row.push_bind(value.clone());
                }
            });
            q.push(
                ") INSERT INTO edges (src_type, src_id, rel, dst_type, dst_id, ord) \
                 SELECT v.src_type, v.src_id, v.rel, v.dst_type, v.dst_id, \
                 COALESCE((SELECT MAX(e.ord) FROM edges e WHERE e.src_type = v.src_type \
                 AND e.src_id = v.src_id AND e.rel = v.rel), 0) \
                 + ROW_NUMBER() OVER (PARTITION BY v.src_type, v.src_id, v.rel ORDER BY v.n) \
                 FROM v WHERE NOT EXISTS (SELECT 1 FROM edges e WHERE e.src_type = v.src_type \
                 AND e.src_id = v.src_id AND e.rel = v.rel AND e.dst_type = v.dst_type \
                 AND e.dst_id = v.dst_id) ON CONFLICT DO NOTHING",
            );
            q.build_for(d).execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}
