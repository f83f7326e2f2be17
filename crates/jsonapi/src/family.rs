//! How a family of App Store Connect resources adds Apple's rules to the engine without copying
//! it: a small trait of optional hooks. The engine never names a family.

use crate::engine::{Engine, Reply, Request};
use crate::error::AscError;
use crabapple_spec::Operation;
use crabapple_store::{Resource, Tx};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// Relationships a document sets: `(name, [(type, id)])`.
pub type Linkages = Vec<(String, Vec<(String, String)>)>;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A create or update about to be written.
#[derive(Debug, Clone)]
pub struct Write {
    pub op_id: String,
    pub rtype: String,
    pub id: String,
    /// For an update: the merged attributes. For a create: the given ones.
    pub attributes: Map<String, Value>,
    /// Relationships the request sets: `(name, [(type, id)])`.
    pub relationships: Linkages,
    /// The resource before this write (updates).
    pub existing: Option<Resource>,
    /// Scheme, host and port the client used (`Request.base`), for URLs Apple answers with
    /// (upload operations); empty for writes no request made (the demo world, admin writes).
    pub base: String,
}

pub trait Family: Send + Sync {
    /// Short name, for the coverage report.
    fn name(&self) -> &'static str;

    /// Whether this family may take over `op` (see [`Family::handle`]). Asked once per operation
    /// when the engine starts: the answers form the dispatch table, keyed by operation, so a
    /// request only meets the families that claimed its operation.
    fn handles(&self, _op: &Operation) -> bool {
        false
    }

    /// Takes over an operation it [`handles`](Family::handles) entirely; `None` (decided per
    /// request) lets the generic engine serve it.
    fn handle<'a>(
        &'a self,
        _engine: &'a Engine,
        _op: &'a Operation,
        _req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        None
    }

    /// Checks or completes a create/update inside its transaction (defaults, uniqueness, state).
    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        _tx: &'a mut Tx,
        _w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async { Ok(()) })
    }

    /// Checks a delete inside its transaction.
    fn before_delete<'a>(
        &'a self,
        _engine: &'a Engine,
        _tx: &'a mut Tx,
        _existing: &'a Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async { Ok(()) })
    }

    /// Reacts to a timeline entry the virtual clock just reached and applied (never to one
    /// cancelled because its resource is gone), inside the transaction that applied it ([`Engine::run_timeline`]): plans what follows, changes related resources.
    fn on_timeline<'a>(
        &'a self,
        _engine: &'a Engine,
        _tx: &'a mut Tx,
        _entry: &'a crabapple_store::timeline::Entry,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async { Ok(()) })
    }

    /// `(type, attribute)` pairs Apple still sends (as `null` when unset) although the spec no
    /// longer lists them; clients built against older specs require them.
    fn legacy_attributes(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// The id of a new resource of `rtype`, in Apple's format for that type.
    fn new_id(&self, _rtype: &str) -> Option<String> {
        None
    }

    /// Resource types this family computes from other state instead of storing: the world
    /// loader never synthesizes them (a stored row would be a ghost no endpoint serves).
    fn computed_types(&self) -> &'static [&'static str] {
        &[]
    }
}
