//! Everything a write transaction knows the store holds, when it began batching on a store
//! without resources or linkage ([`crate::Tx::batch_writes`]: loading a new world): then every
//! resource and linkage there is, this transaction wrote, and its reads of which resources
//! exist ([`crate::Tx::exists`], [`crate::Tx::ids`], [`crate::Tx::get`] of one that does not)
//! and of linkage ([`crate::Tx::linked`], [`crate::Tx::has_linkage`]) are answered here, with no
//! statement. Every write of resources and linkage goes through `resources.rs`, which tells this
//! module; a rollback to a savepoint forgets it all (the transaction reads the database again).

use std::collections::{HashMap, HashSet};

type Key = (String, String);

#[derive(Default)]
pub(crate) struct Known {
    /// Ids of each type in `seq` order (first put first).
    ids: HashMap<String, Vec<String>>,
    keys: HashSet<Key>,
    /// `(src_type, src_id, rel)` → targets in `ord` order.
    edges: HashMap<(String, String, String), Vec<Key>>,
}

fn key(rtype: &str, id: &str) -> Key {
    (rtype.to_string(), id.to_string())
}

fn source(src: (&str, &str), rel: &str) -> (String, String, String) {
    (src.0.to_string(), src.1.to_string(), rel.to_string())
}

impl Known {
    pub fn put(&mut self, rtype: &str, id: &str) {
        if self.keys.insert(key(rtype, id)) {
            self.ids
                .entry(rtype.to_string())
                .or_default()
                .push(id.to_string());
        }
    }

    /// A resource and every linkage to or from it deleted.
    pub fn delete(&mut self, rtype: &str, id: &str) {
        let k = key(rtype, id);
        if self.keys.remove(&k)
            && let Some(ids) = self.ids.get_mut(rtype)
        {
            ids.retain(|i| i != id);
        }
        self.edges
            .retain(|(t, i, _), _| !(t.as_str() == rtype && i.as_str() == id));
        for targets in self.edges.values_mut() {
            targets.retain(|t| *t != k);
        }
    }

    /// Linkage added after the source's other linkage through `rel` (once).
    pub fn link(&mut self, src: (&str, &str), rel: &str, dst: (&str, &str)) {
        let targets = self.edges.entry(source(src, rel)).or_default();
        let dst = key(dst.0, dst.1);
        if !targets.contains(&dst) {
            targets.push(dst);
        }
    }

    pub fn unlink(&mut self, src: (&str, &str), rel: &str, dst: (&str, &str)) {
        if let Some(targets) = self.edges.get_mut(&source(src, rel)) {
            targets.retain(|t| *t != key(dst.0, dst.1));
        }
    }

    pub fn unlink_all(&mut self, src: (&str, &str), rel: &str) {
        self.edges.remove(&source(src, rel));
    }

    pub fn clear(&mut self) {
        *self = Known::default();
    }

    pub fn exists(&self, rtype: &str, id: &str) -> bool {
        self.keys.contains(&key(rtype, id))
    }

    pub fn ids(&self, rtype: &str) -> Vec<String> {
        self.ids.get(rtype).cloned().unwrap_or_default()
    }

    pub fn linked(&self, src: (&str, &str), rel: &str) -> Vec<Key> {
        self.edges
            .get(&source(src, rel))
            .cloned()
            .unwrap_or_default()
    }

    pub fn has_linkage(&self, src_type: &str, rel: &str) -> bool {
        self.edges
            .iter()
            .any(|((t, _, r), targets)| t == src_type && r == rel && !targets.is_empty())
    }
}
