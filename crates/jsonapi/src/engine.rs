//! The generic engine: serves every CRUD-shaped App Store Connect operation from the store —
//! collections with filters, sort, cursor paging and include; instances; related and linkage
//! endpoints; creates (with inline `included` creates), updates and deletes — and keeps both sides
//! of a relationship in step. Families hook in through [`Family`]; the engine names none of them.

mod render;
mod timeline;
mod write;

pub use render::Rendering;
use render::json_str;

use crate::error::AscError;
use crate::family::{Family, Write};
use crate::query::{self, Query, encode_cursor};
use crate::schema::{DocPlan, Schemas, validate};
use crate::synth;
use crabapple_spec::{Manifest, OpKind, Operation, Router};
use crabapple_store::{Filter, ListQuery, Resource, SortKey, SqlValue, Store, Tx};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One request, as the server hands it to the engine (auth already passed).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Index of the operation in `Manifest::operations`.
    pub op: usize,
    pub id: Option<String>,
    /// Percent-decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub raw_query: Option<String>,
    pub body: Vec<u8>,
    /// Scheme and host the client used, e.g. `http://127.0.0.1:8686` (links are absolute on it).
    pub base: String,
    pub path: String,
    pub accept: Option<String>,
    pub content_type: Option<String>,
}

/// What goes back on the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }

    /// A JSON body already serialized.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body,
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

pub struct Engine {
    pub manifest: &'static Manifest,
    /// Built once per process from the embedded spec and shared by every engine (a server with
    /// many worlds has one engine per world).
    pub router: &'static Router,
    pub schemas: &'static Schemas,
    pub store: Store,
    families: Vec<Arc<dyn Family>>,
    /// Per operation (by index), the families that may take it over, built once at start.
    dispatch: Vec<Vec<Arc<dyn Family>>>,
    /// type → relationship → (linkage path template, related path template).
    links: HashMap<String, HashMap<String, RelLinks>>,
    /// Attributes Apple still sends for a type although the spec no longer lists them.
    legacy_attributes: HashMap<String, Vec<String>>,
    /// Types a family computes instead of storing ([`Family::computed_types`]).
    computed: HashSet<&'static str>,
    /// Page size when `limit` is absent (Apple does not document it; 50 is crabapple's choice).
    pub default_limit: i64,
    /// Linkage entries per included to-many relationship when `limit[rel]` is absent.
    pub include_limit: i64,
}

static ROUTER: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
static SCHEMAS: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();

type Linkage = Vec<(String, String)>;

/// Path templates of a relationship's linkage and related endpoints.
#[derive(Debug, Default, Clone)]
struct RelLinks {
    linkage: Option<String>,
    related: Option<String>,
}

impl Engine {
    pub fn new(store: Store, families: Vec<Arc<dyn Family>>) -> Engine {
        let manifest = Manifest::get();
        let mut links: HashMap<String, HashMap<String, RelLinks>> = HashMap::new();
        for op in &manifest.operations {
            let (Some(res), Some(rel)) = (&op.resource, &op.relationship) else {
                continue;
            };
            let e = links
                .entry(res.clone())
                .or_default()
                .entry(rel.clone())
                .or_default();
            match op.kind {
                OpKind::GetToManyRelationship | OpKind::GetToOneRelationship => {
                    e.linkage = Some(op.path.clone())
                }
                OpKind::GetToManyRelated | OpKind::GetToOneRelated => {
                    e.related = Some(op.path.clone())
                }
                _ => {}
            }
        }
        let mut legacy_attributes: HashMap<String, Vec<String>> = HashMap::new();
        for f in &families {
            for (t, a) in f.legacy_attributes() {
                legacy_attributes
                    .entry(t.to_string())
                    .or_default()
                    .push(a.to_string());
            }
        }
        let computed = families
            .iter()
            .flat_map(|f| f.computed_types().iter().copied())
            .collect();
        let dispatch = manifest
            .operations
            .iter()
            .map(|op| families.iter().filter(|f| f.handles(op)).cloned().collect())
            .collect();
        Engine {
            manifest,
            dispatch,
            legacy_attributes,
            computed,
            router: ROUTER.get_or_init(|| Router::new(manifest)),
            schemas: SCHEMAS.get_or_init(|| Schemas::build(manifest)),
            store,
            families,
            links,
            default_limit: 50,
            include_limit: 10,
        }
    }

    /// Whether a family computes `rtype` instead of storing it.
    pub fn is_computed(&self, rtype: &str) -> bool {
        self.computed.contains(rtype)
    }

    pub fn families(&self) -> &[Arc<dyn Family>] {
        &self.families
    }

    pub fn op(&self, i: usize) -> &'static Operation {
        &self.manifest.operations[i]
    }

    /// Whether operation `i` is a read the generic engine serves with no family claiming it:
    /// its answer is a function of the request and the stored resources and linkage alone (no
    /// clock, no ledger, no family state), so it may be kept until the store changes.
    pub fn reads_only_the_store(&self, i: usize) -> bool {
        self.dispatch[i].is_empty()
            && matches!(
                self.op(i).kind,
                OpKind::GetCollection
                    | OpKind::GetToManyRelated
                    | OpKind::GetInstance
                    | OpKind::GetToOneRelated
                    | OpKind::GetToManyRelationship
                    | OpKind::GetToOneRelationship
            )
    }

    /// Serves one request: a family's handler when one claims it, else the generic engine.
    pub async fn handle(&self, req: &Request) -> Result<Reply, AscError> {
        let op = self.op(req.op);
        for f in &self.dispatch[req.op] {
            if let Some(fut) = f.handle(self, op, req) {
                return fut.await;
            }
        }
        self.generic(op, req).await
    }

    /// The generic behaviour for `op` (families call this to wrap it).
    pub async fn generic(&self, op: &'static Operation, req: &Request) -> Result<Reply, AscError> {
        let q = query::parse(op, &req.query)?;
        match op.kind {
            OpKind::GetCollection | OpKind::GetToManyRelated => {
                self.get_collection(op, req, &q).await
            }
            OpKind::GetInstance => self.get_instance(op, req, &q).await,
            OpKind::GetToOneRelated => self.get_to_one_related(op, req, &q).await,
            OpKind::GetToManyRelationship | OpKind::GetToOneRelationship => {
                self.get_linkage(op, req, &q).await
            }
            // Writes are boxed: their futures are large, and every read would carry their size.
            OpKind::CreateInstance => Box::pin(self.create(op, req)).await,
            OpKind::UpdateInstance => Box::pin(self.update(op, req)).await,
            OpKind::DeleteInstance => Box::pin(self.delete(op, req)).await,
            OpKind::UpdateToOneRelationship
            | OpKind::CreateToManyRelationship
            | OpKind::ReplaceToManyRelationship
            | OpKind::DeleteToManyRelationship => Box::pin(self.mutate_linkage(op, req)).await,
            OpKind::GetMetrics | OpKind::Other => self.synthesized(op, req),
        }
    }

    fn plan(&self, op: &Operation) -> &DocPlan {
        static EMPTY: std::sync::OnceLock<DocPlan> = std::sync::OnceLock::new();
        self.schemas
            .plans
            .get(&op.id)
            .unwrap_or_else(|| EMPTY.get_or_init(DocPlan::default))
    }

    /// `links.self` of a resource.
    pub fn self_link(&self, base: &str, rtype: &str, id: &str) -> String {
        let path = self.instance_path(rtype);
        format!("{base}{}", path.replace("{id}", &enc(id)))
    }

    /// The document's `links.self`: the request's URL.
    pub fn doc_self(req: &Request) -> String {
        match &req.raw_query {
            Some(q) if !q.is_empty() => format!("{}{}?{}", req.base, req.path, q),
            _ => format!("{}{}", req.base, req.path),
        }
    }

    async fn require(&self, rtype: &str, id: &str) -> Result<Resource, AscError> {
        self.store
            .get(rtype, id)
            .await?
            .ok_or_else(|| AscError::not_found(rtype, id))
    }

    // ---------------------------------------------------------------- reads

    fn list_query(&self, rtype: &str, q: &Query) -> ListQuery {
        let rt = self.manifest.resources.get(rtype);
        let mut filters = Vec::new();
        for (name, values) in &q.filters {
            if name == "id" {
                filters.push(Filter::Id(values.clone()));
            } else if let Some((rel, attr)) = name.split_once('.') {
                let target = rt
                    .and_then(|r| r.relationships.get(rel))
                    .and_then(|r| r.target.clone());
                let shape = target
                    .as_ref()
                    .and_then(|t| self.manifest.resources.get(t))
                    .and_then(|t| t.attributes.get(attr));
                if attr == "id" {
                    filters.push(Filter::Rel {
                        rel: rel.to_string(),
                        ids: values.clone(),
                    });
                } else {
                    filters.push(Filter::RelAttr {
                        rel: rel.to_string(),
                        name: attr.to_string(),
                        values: typed(self.manifest, shape, values),
                    });
                }
            } else if let Some(shape) = rt.and_then(|r| r.attributes.get(name)) {
                let array = self
                    .manifest
                    .resolve(shape)
                    .get("type")
                    .and_then(Value::as_str)
                    == Some("array");
                let item_shape = if array {
                    self.manifest.resolve(shape).get("items")
                } else {
                    Some(shape)
                };
                filters.push(Filter::Attr {
                    name: name.clone(),
                    values: typed(self.manifest, item_shape, values),
                    array,
                });
            } else if rt.is_some_and(|r| r.relationships.contains_key(name)) {
                filters.push(Filter::Rel {
                    rel: name.clone(),
                    ids: values.clone(),
                });
            } else {
                filters.push(Filter::Attr {
                    name: name.clone(),
                    values: values.iter().map(|v| SqlValue::Text(v.clone())).collect(),
                    array: false,
                });
            }
        }
        for (name, value) in &q.exists {
            filters.push(Filter::Exists {
                name: name.clone(),
                relationship: rt.is_some_and(|r| r.relationships.contains_key(name)),
                value: *value,
            });
        }
        let sort = q
            .sort
            .iter()
            .map(|(f, desc)| {
                (
                    if f == "id" {
                        SortKey::Id
                    } else {
                        SortKey::Attr(f.clone())
                    },
                    *desc,
                )
            })
            .collect();
        ListQuery {
            rtype: rtype.to_string(),
            linked_from: None,
            filters,
            sort,
            offset: q.offset,
            limit: q.limit.unwrap_or(self.default_limit.min(q.max_limit)),
        }
    }

    async fn get_collection(
        &self,
        op: &Operation,
        req: &Request,
        q: &Query,
    ) -> Result<Reply, AscError> {
        let rtype = op.target.clone().unwrap_or_default();
        let mut lq = self.list_query(&rtype, q);
        if op.kind == OpKind::GetToManyRelated {
            let parent = op.resource.clone().unwrap_or_default();
            let id = req.id.clone().unwrap_or_default();
            self.require(&parent, &id).await?;
            lq.linked_from = Some((parent, id, op.relationship.clone().unwrap_or_default()));
        }
        let (items, total) = self.store.list(&lq).await?;
        if wants_csv(op, req) {
            return Ok(csv_reply(&items));
        }
        let plan = self.plan(op);
        let mut body = Vec::with_capacity(items.len() * 4096 + 512);
        body.extend_from_slice(b"{\"data\":");
        self.render_data(&mut body, false, plan, &items, req, q)
            .await?;
        let mut links = json!({ "self": Engine::doc_self(req) });
        let mut paging = json!({ "total": total, "limit": lq.limit });
        let next_offset = lq.offset + items.len() as i64;
        if next_offset < total && !items.is_empty() {
            let cursor = encode_cursor(next_offset);
            links["next"] = json!(next_link(req, &cursor, lq.limit));
            paging["nextCursor"] = json!(cursor);
        }
        body.extend_from_slice(b",\"links\":");
        let _ = serde_json::to_writer(&mut body, &links);
        body.extend_from_slice(b",\"meta\":");
        let _ = serde_json::to_writer(&mut body, &json!({ "paging": paging }));
        body.push(b'}');
        Ok(Reply::json_bytes(200, body))
    }

    async fn get_instance(
        &self,
        op: &Operation,
        req: &Request,
        q: &Query,
    ) -> Result<Reply, AscError> {
        let rtype = op
            .target
            .clone()
            .or(op.resource.clone())
            .unwrap_or_default();
        let id = req.id.clone().unwrap_or_default();
        let r = self.require(&rtype, &id).await?;
        self.single_doc(op, req, q, r, 200).await
    }

    /// A single-resource document for `r`, rendered with `op`'s plan.
    pub async fn single_doc(
        &self,
        op: &Operation,
        req: &Request,
        q: &Query,
        r: Resource,
        status: u16,
    ) -> Result<Reply, AscError> {
        let plan = self.plan(op);
        // Rendered in place: an app's document is some 8 to 12 KB.
        let mut body = Vec::with_capacity(16 * 1024);
        body.extend_from_slice(b"{\"data\":");
        self.render_data(&mut body, true, plan, std::slice::from_ref(&r), req, q)
            .await?;
        body.extend_from_slice(b",\"links\":{\"self\":");
        json_str(&mut body, &Engine::doc_self(req));
        body.extend_from_slice(b"}}");
        Ok(Reply::json_bytes(status, body))
    }

    /// `(type, id, relationship)` of a related or linkage path, once the resource is known to exist.
    async fn existing_parent(
        &self,
        op: &Operation,
        req: &Request,
    ) -> Result<(String, String, String), AscError> {
        let parent = op.resource.clone().unwrap_or_default();
        let id = req.id.clone().unwrap_or_default();
        self.require(&parent, &id).await?;
        Ok((parent, id, op.relationship.clone().unwrap_or_default()))
    }

    async fn get_to_one_related(
        &self,
        op: &Operation,
        req: &Request,
        q: &Query,
    ) -> Result<Reply, AscError> {
        let (parent, id, rel) = self.existing_parent(op, req).await?;
        let (linked, _) = self.store.linked(&parent, &id, &rel, 0, 1).await?;
        match linked.first() {
            Some((t, i)) => {
                let r = self.require(t, i).await?;
                self.single_doc(op, req, q, r, 200).await
            }
            None => Ok(Reply::json(
                200,
                &json!({ "data": null, "links": { "self": Engine::doc_self(req) } }),
            )),
        }
    }

    async fn get_linkage(
        &self,
        op: &Operation,
        req: &Request,
        q: &Query,
    ) -> Result<Reply, AscError> {
        let (parent, id, rel) = self.existing_parent(op, req).await?;
        let related = self
            .links
            .get(&parent)
            .and_then(|m| m.get(&rel))
            .and_then(|l| l.related.clone())
            .map(|p| format!("{}{}", req.base, p.replace("{id}", &enc(&id))));
        let mut links = json!({ "self": Engine::doc_self(req) });
        if let Some(r) = related {
            links["related"] = json!(r);
        }
        if op.kind == OpKind::GetToOneRelationship {
            let (linked, _) = self.store.linked(&parent, &id, &rel, 0, 1).await?;
            let data = linked
                .first()
                .map(|(t, i)| json!({ "type": t, "id": i }))
                .unwrap_or(Value::Null);
            return Ok(Reply::json(200, &json!({ "data": data, "links": links })));
        }
        let limit = q.limit.unwrap_or(self.default_limit.min(q.max_limit));
        let (linked, total) = self
            .store
            .linked(&parent, &id, &rel, q.offset, limit)
            .await?;
        let data: Vec<Value> = linked
            .iter()
            .map(|(t, i)| json!({ "type": t, "id": i }))
            .collect();
        let mut paging = json!({ "total": total, "limit": limit });
        let next_offset = q.offset + linked.len() as i64;
        if next_offset < total && !linked.is_empty() {
            let cursor = encode_cursor(next_offset);
            links["next"] = json!(next_link(req, &cursor, limit));
            paging["nextCursor"] = json!(cursor);
        }
        Ok(Reply::json(
            200,
            &json!({ "data": data, "links": links, "meta": { "paging": paging } }),
        ))
    }

    // ---------------------------------------------------------------- everything else

    /// Operations whose capability has not landed: a body valid for the declared content type.
    fn synthesized(&self, op: &Operation, req: &Request) -> Result<Reply, AscError> {
        let accept = req.accept.clone().unwrap_or_default();
        let content = op
            .success
            .content
            .iter()
            .find(|c| accept.contains(&c.content_type))
            .or_else(|| op.success.content.first());
        let Some(c) = content else {
            return Ok(Reply {
                status: op.success.status,
                ..Reply::no_content()
            });
        };
        let body = if c.content_type.contains("json") {
            let seed = req.id.as_deref().map(|s| s.len() as u64).unwrap_or(0);
            let mut doc = synth::value(self.manifest, &c.schema, "", seed);
            // A synthesized document is one complete page of this very request.
            if let Some(obj) = doc.as_object_mut() {
                if obj.contains_key("links") {
                    obj.insert("links".into(), json!({ "self": Engine::doc_self(req) }));
                }
                let n = obj.get("data").and_then(Value::as_array).map(Vec::len);
                if let (Some(n), Some(meta)) =
                    (n, obj.get_mut("meta").and_then(Value::as_object_mut))
                    && meta.contains_key("paging")
                {
                    meta.insert("paging".into(), json!({ "total": n, "limit": n.max(1) }));
                }
            }
            serde_json::to_vec(&doc).unwrap_or_default()
        } else if c.content_type == "text/csv" {
            b"\n".to_vec()
        } else {
            Vec::new()
        };
        Ok(Reply {
            status: op.success.status,
            content_type: Some(c.content_type.clone()),
            headers: Vec::new(),
            body,
        })
    }
}

fn key_of(v: &Value) -> Option<(String, String)> {
    Some((
        v.get("type")?.as_str()?.to_string(),
        v.get("id")?.as_str()?.to_string(),
    ))
}

fn resolve_local(
    l: Vec<(String, String)>,
    locals: &HashMap<String, String>,
) -> Vec<(String, String)> {
    l.into_iter()
        .map(|(t, i)| {
            let id = locals.get(&i).cloned().unwrap_or(i);
            (t, id)
        })
        .collect()
}

fn strip_nulls(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter().filter(|(_, v)| !v.is_null()).collect()
}

/// Typed SQL values for filter strings, by the attribute's shape.
fn typed(m: &Manifest, shape: Option<&Value>, values: &[String]) -> Vec<SqlValue> {
    let ty = shape
        .map(|s| m.resolve(s))
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("string");
    values
        .iter()
        .map(|v| match ty {
            "boolean" => SqlValue::Int(v.eq_ignore_ascii_case("true") as i64),
            "integer" => v
                .parse()
                .map(SqlValue::Int)
                .unwrap_or(SqlValue::Text(v.clone())),
            "number" => v
                .parse()
                .map(SqlValue::Real)
                .unwrap_or(SqlValue::Text(v.clone())),
            _ => SqlValue::Text(v.clone()),
        })
        .collect()
}

/// Percent-encodes an id for use in a path segment.
pub fn enc(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%5F", "_")
        .replace("%2E", ".")
}

/// One page of a computed list (families that compute resources instead of storing them): the
/// items of the request's `cursor` and `limit` (the engine's default page size when absent), the
/// `meta.paging` object and the `links.next` URL when more follow — as the generic engine pages.
pub fn page_of<T>(
    engine: &Engine,
    req: &Request,
    q: &crate::query::Query,
    items: Vec<T>,
) -> (Vec<T>, Value, Option<String>) {
    let total = items.len() as i64;
    let limit = q.limit.unwrap_or(engine.default_limit.min(q.max_limit));
    let page: Vec<T> = items
        .into_iter()
        .skip(q.offset.max(0) as usize)
        .take(limit.max(0) as usize)
        .collect();
    let mut paging = json!({ "total": total, "limit": limit });
    let mut next = None;
    let next_offset = q.offset + page.len() as i64;
    if next_offset < total && !page.is_empty() {
        let cursor = crate::query::encode_cursor(next_offset);
        next = Some(next_link(req, &cursor, limit));
        paging["nextCursor"] = json!(cursor);
    }
    (page, paging, next)
}

/// The next page: the same request with `cursor` replaced (and `limit` kept).
pub fn next_link(req: &Request, cursor: &str, limit: i64) -> String {
    let mut parts: Vec<String> = req
        .raw_query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor=") && !p.starts_with("limit="))
        .map(str::to_string)
        .collect();
    parts.push(format!("cursor={cursor}"));
    parts.push(format!("limit={limit}"));
    format!("{}{}?{}", req.base, req.path, parts.join("&"))
}

fn wants_csv(op: &Operation, req: &Request) -> bool {
    req.accept
        .as_deref()
        .is_some_and(|a| a.contains("text/csv"))
        && op
            .success
            .content
            .iter()
            .any(|c| c.content_type == "text/csv")
}

/// `text/csv` rendering of a page (price points and equalizations offer it).
fn csv_reply(items: &[Resource]) -> Reply {
    let mut cols: Vec<String> = Vec::new();
    for r in items {
        for k in r.attributes.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let mut out = String::from("id");
    for c in &cols {
        out.push(',');
        out.push_str(c);
    }
    out.push('\n');
    for r in items {
        out.push_str(&r.id);
        for c in &cols {
            out.push(',');
            match r.attributes.get(c) {
                Some(Value::String(s)) => out.push_str(&s.replace(',', " ")),
                Some(Value::Null) | None => {}
                Some(v) => out.push_str(&v.to_string().replace(',', " ")),
            }
        }
        out.push('\n');
    }
    Reply {
        status: 200,
        content_type: Some("text/csv".into()),
        headers: Vec::new(),
        body: out.into_bytes(),
    }
}
