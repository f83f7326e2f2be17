//! An in-process cache of resources by `(type, id)` in front of SQLite reads. Writes go through a
//! [`crate::Tx`], which drops what it touched from the cache when it commits, so a reader never sees
//! a stale resource from this process. One server per data directory (other processes, like the
//! CLI, only add keys and new users, which are never cached before they exist).

use crate::Resource;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Beyond this many entries the cache starts over (the demo world is a few hundred).
const CAPACITY: usize = 200_000;

/// type → id → resource.
type ByType = HashMap<String, HashMap<String, Arc<Resource>>>;

#[derive(Clone, Default)]
pub(crate) struct ResourceCache {
    map: Arc<RwLock<ByType>>,
    /// Bumped by every invalidation: a row read before a commit must not be cached after it.
    generation: Arc<AtomicU64>,
    /// Bumped after every commit of this process (resources or not: linkage, the ledger) and
    /// every other process's commit seen: what an answer computed from the store is valid for
    /// ([`ResourceCache::changes`]).
    changes: Arc<AtomicU64>,
}

impl ResourceCache {
    pub fn get(&self, rtype: &str, id: &str) -> Option<Arc<Resource>> {
        self.map.read().ok()?.get(rtype)?.get(id).cloned()
    }

    /// The generation to pass to [`ResourceCache::put`] for a read that starts now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `r` read from the database, unless a write committed since the read began.
    pub fn put(&self, r: &Resource, read_generation: u64) {
        if let Ok(mut m) = self.map.write() {
            if self.generation.load(Ordering::Acquire) != read_generation {
                return;
            }
            if m.values().map(HashMap::len).sum::<usize>() >= CAPACITY {
                m.clear();
            }
            m.entry(r.rtype.clone())
                .or_default()
                .insert(r.id.clone(), Arc::new(r.clone()));
        }
    }

    pub fn forget(&self, keys: &[(String, String)]) {
        if keys.is_empty() {
            return;
        }
        if let Ok(mut m) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            for (t, i) in keys {
                if let Some(inner) = m.get_mut(t) {
                    inner.remove(i);
                }
            }
        }
    }

    pub fn clear(&self) {
        if let Ok(mut m) = self.map.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            m.clear();
        }
        self.note_change();
    }

    /// Something may have changed in the database (called once the change is visible to
    /// reads).
    pub fn note_change(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Moves on every change this process knows of: an answer computed from reads begun at one
    /// value is still right while the value stays.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }
}
