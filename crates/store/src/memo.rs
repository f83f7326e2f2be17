//! What one write transaction has already read of the resources, their linkage and the meta
//! settings: a batch of many events (a simulated day) asks for the same price resources, the
//! same linkage and the same settings thousands of times. Every statement that writes inside the
//! transaction (`Tx::write_conn`), and every rollback to a savepoint, forgets it all: a memo never
//! answers what the transaction itself could no longer read.

use std::collections::HashMap;

use crate::resources::Resource;

#[derive(Default)]
pub(crate) struct Memo {
    pub resources: HashMap<(String, String), Option<Resource>>,
    /// `(type, id, other type)` → ids linked either way ([`crate::Tx::linked_any`]).
    pub linked_any: HashMap<(String, String, String), Vec<String>>,
    pub meta: HashMap<String, Option<String>>,
}

impl Memo {
    pub fn forget(&mut self) {
        self.resources.clear();
        self.linked_any.clear();
        self.meta.clear();
    }
}
