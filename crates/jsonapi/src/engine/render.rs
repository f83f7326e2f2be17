//! Resource objects written straight to bytes: `data` and `included` of a response document.
//! An app has some seventy relationships, each with two links, so what can be is prepared once
//! per resource schema (on its first use) and then only copied: the escaped `"name":` of every
//! attribute and relationship, and every link template split at its `{id}` ([`Rendering`]).
//! The bytes are those `serde_json` would write for the same document (issue 12, performance:
//! building links with `format!` and escaping each one was most of a request's cost).

use super::{Engine, Linkage, Query, Request, enc};
use crate::error::AscError;
use crate::schema::{DocPlan, RelShape, ResourceSchema};
use crabapple_store::Resource;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// A path template as the content of a JSON string, escaped: `pieces` with the resource's
/// (encoded) id between each two of them.
#[derive(Debug, Clone)]
pub(super) struct Template {
    pieces: Vec<Box<[u8]>>,
}

impl Template {
    /// Every `{id}` of `template` is a hole.
    fn every(template: &str) -> Template {
        Template {
            pieces: template.split("{id}").map(escaped).collect(),
        }
    }

    /// Only the first `{id}` is a hole (a relationship's link).
    fn first(template: &str) -> Template {
        let pieces = match template.split_once("{id}") {
            Some((a, b)) => vec![escaped(a), escaped(b)],
            None => vec![escaped(template)],
        };
        Template { pieces }
    }

    /// `"base…id…"`: `base` and `id` already escaped.
    fn write(&self, out: &mut Vec<u8>, base: &[u8], id: &[u8]) {
        out.push(b'"');
        out.extend_from_slice(base);
        self.fill(out, id);
        out.push(b'"');
    }

    /// The pieces with `hole` between each two of them.
    fn fill(&self, out: &mut Vec<u8>, hole: &[u8]) {
        for (n, p) in self.pieces.iter().enumerate() {
            if n > 0 {
                out.extend_from_slice(hole);
            }
            out.extend_from_slice(p);
        }
    }

    /// The text after the resource's own path (`base` + instance path up to its id, and the
    /// id), when this link is that path and more: `/v1/apps/{id}/builds` of an app.
    fn after_instance(&self, instance: &Template) -> Option<&[u8]> {
        match (&self.pieces[..], &instance.pieces[..]) {
            ([head, tail], [own, end]) if head == own && end.is_empty() => Some(tail),
            _ => None,
        }
    }
}

/// The content of `s` as a JSON string, without its quotes. JSON escapes character by
/// character, so the escaping of a concatenation is the concatenation of the escapings.
fn escaped(s: &str) -> Box<[u8]> {
    let mut v = Vec::with_capacity(s.len() + 2);
    json_str(&mut v, s);
    v[1..v.len() - 1].into()
}

/// One relationship of a schema, prepared.
#[derive(Debug, Clone)]
struct Rel {
    name: String,
    shape: RelShape,
    /// `"name":{`
    key: Box<[u8]>,
    /// The linkage (`self`) and related links, when the relationship has links.
    links: Option<(Option<Template>, Option<Template>)>,
    /// The whole member when it holds only links below the resource's own path — `"name":
    /// {"links":{"self":"…","related":"…"}}` — with that path (base, instance path, id) as its
    /// hole: written with a few copies, as most relationships of a document are.
    links_only: Option<Template>,
}

/// What a resource schema's objects are written from, prepared once ([`Engine::rendering`]).
#[derive(Debug, Clone)]
pub struct Rendering {
    /// Every attribute written (the schema's, then those Apple still sends that the spec no
    /// longer lists) with its `"name":`.
    attributes: Vec<(String, Box<[u8]>)>,
    relationships: Vec<Rel>,
    /// The resource's `links.self`.
    self_link: Template,
}

impl Engine {
    /// The path of a resource of `rtype` (`{id}` unfilled).
    pub(super) fn instance_path(&self, rtype: &str) -> String {
        self.manifest
            .resources
            .get(rtype)
            .and_then(|r| r.instance_path.clone())
            .unwrap_or_else(|| format!("/v1/{rtype}/{{id}}"))
    }

    /// `schema`'s [`Rendering`], prepared on its first use.
    fn rendering<'s>(&self, s: &'s ResourceSchema) -> &'s Rendering {
        s.rendering.get_or_init(|| {
            let legacy = self.legacy_attributes.get(&s.rtype);
            let attributes = s
                .attributes
                .keys()
                .chain(legacy.into_iter().flatten())
                .map(|k| {
                    let mut key = Vec::with_capacity(k.len() + 3);
                    json_str(&mut key, k);
                    key.push(b':');
                    (k.clone(), key.into())
                })
                .collect();
            let type_links = self.links.get(&s.rtype);
            let self_link = Template::every(&self.instance_path(&s.rtype));
            let relationships = s
                .relationships
                .iter()
                .map(|(name, shape)| {
                    let mut key = Vec::with_capacity(name.len() + 4);
                    json_str(&mut key, name);
                    key.extend_from_slice(b":{");
                    let links = type_links
                        .and_then(|m| m.get(name))
                        .filter(|rl| shape.links && (rl.linkage.is_some() || rl.related.is_some()))
                        .map(|rl| {
                            (
                                rl.linkage.as_deref().map(Template::first),
                                rl.related.as_deref().map(Template::first),
                            )
                        });
                    let links_only = links.as_ref().and_then(|l| links_only(&key, l, &self_link));
                    Rel {
                        name: name.clone(),
                        shape: shape.clone(),
                        key: key.into(),
                        links,
                        links_only,
                    }
                })
                .collect();
            Rendering {
                attributes,
                relationships,
                self_link,
            }
        })
    }

    /// Writes the `data` of a document for `items` into `out` — an array, or with `one` the
    /// single resource object — then, when the query includes relationships,
    /// `,"included":[…]`.
    pub(super) async fn render_data(
        &self,
        out: &mut Vec<u8>,
        one: bool,
        plan: &DocPlan,
        items: &[Resource],
        req: &Request,
        q: &Query,
    ) -> Result<(), AscError> {
        let mut linkage: HashMap<String, HashMap<String, (Linkage, i64)>> = HashMap::new();
        let mut included_keys: Vec<(String, String)> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        if !q.include.is_empty() && !items.is_empty() {
            let rtype = &items[0].rtype;
            let ids: Vec<String> = items.iter().map(|r| r.id.clone()).collect();
            for rel in &q.include {
                let to_many = self
                    .manifest
                    .resources
                    .get(rtype)
                    .and_then(|r| r.relationships.get(rel))
                    .is_none_or(|r| r.to_many);
                let per = if to_many {
                    q.limit_rel.get(rel).copied().unwrap_or(self.include_limit)
                } else {
                    1
                };
                let batch = self.store.linked_batch(rtype, &ids, rel, per).await?;
                // In the order of `data` (the batch is a map: its own order changes per run).
                for (keys, _) in ids.iter().filter_map(|id| batch.get(id)) {
                    for k in keys {
                        if seen.insert(k.clone()) {
                            included_keys.push(k.clone());
                        }
                    }
                }
                linkage.insert(rel.clone(), batch);
            }
        }
        let includes: HashSet<&str> = q.include.iter().map(String::as_str).collect();
        if !one {
            out.push(b'[');
        }
        for (n, r) in items.iter().enumerate() {
            let rel_data: HashMap<&str, (&Linkage, i64)> = linkage
                .iter()
                .filter_map(|(rel, m)| m.get(&r.id).map(|(l, t)| (rel.as_str(), (l, *t))))
                .collect();
            if n > 0 {
                out.push(b',');
            }
            self.write_resource(out, plan, r, &req.base, q, &rel_data, &includes);
        }
        if !one {
            out.push(b']');
        }
        if q.include.is_empty() {
            return Ok(());
        }
        let inc_items = self.store.get_many(&included_keys).await?;
        let empty = HashMap::new();
        let none = HashSet::new();
        out.extend_from_slice(b",\"included\":[");
        for (n, r) in inc_items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.write_resource(out, plan, r, &req.base, q, &empty, &none);
        }
        out.push(b']');
        Ok(())
    }

    /// One resource object as a JSON value (for callers outside the hot path).
    pub fn render_resource(
        &self,
        plan: &DocPlan,
        r: &Resource,
        base: &str,
        q: &Query,
        rel_data: &HashMap<&str, (&Linkage, i64)>,
        includes: &HashSet<&str>,
    ) -> Value {
        let mut out = Vec::new();
        self.write_resource(&mut out, plan, r, base, q, rel_data, includes);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }

    /// Writes one resource object: attributes and relationships the schema declares (narrowed by
    /// `fields[type]`), relationship links, included linkage, and `links.self`.
    #[allow(clippy::too_many_arguments)]
    fn write_resource(
        &self,
        out: &mut Vec<u8>,
        plan: &DocPlan,
        r: &Resource,
        base: &str,
        q: &Query,
        rel_data: &HashMap<&str, (&Linkage, i64)>,
        includes: &HashSet<&str>,
    ) {
        let fields = q.fields.get(&r.rtype);
        let wanted = |n: &str| fields.is_none_or(|f| f.iter().any(|x| x == n));
        out.extend_from_slice(b"{\"type\":");
        json_str(out, &r.rtype);
        out.extend_from_slice(b",\"id\":");
        json_str(out, &r.id);
        let Some(schema) = self.schemas.schema_for(plan, &r.rtype) else {
            out.extend_from_slice(b",\"links\":{\"self\":");
            json_str(out, &self.self_link(base, &r.rtype, &r.id));
            out.extend_from_slice(b"}}");
            return;
        };
        let rendering = self.rendering(schema);
        let base_esc = escaped(base);
        // An encoded id is letters, digits, `%`, `-`, `_` and `.`: nothing JSON escapes.
        let id = enc(&r.id);
        let id = id.as_bytes();
        // Apple sends every attribute of the type, `null` when unset (clients such as codemagic
        // construct their models from the full set), plus the few it still sends that the spec
        // no longer lists (families declare those).
        if !schema.attributes.is_empty() {
            out.extend_from_slice(b",\"attributes\":{");
            let mut first = true;
            for (k, key) in &rendering.attributes {
                if !wanted(k) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(key);
                match r.attributes.get(k) {
                    Some(v) => {
                        let _ = match on_host(v, base) {
                            Some(resolved) => serde_json::to_writer(&mut *out, &resolved),
                            None => serde_json::to_writer(&mut *out, v),
                        };
                    }
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b'}');
        }
        // `base` + the instance path + the id: where every link of the resource starts.
        let mut own = Vec::with_capacity(base_esc.len() + 64);
        own.extend_from_slice(&base_esc);
        rendering.self_link.fill(&mut own, id);
        let mut any_rel = false;
        for rel in &rendering.relationships {
            let (name, shape) = (rel.name.as_str(), &rel.shape);
            if !wanted(name) {
                continue;
            }
            let included = shape.data && !includes.is_empty() && includes.contains(name);
            let linked = included.then(|| rel_data.get(name)).flatten();
            let has_data =
                included && (shape.to_many || linked.is_some_and(|(l, _)| !l.is_empty()));
            if rel.links.is_none() && !has_data {
                continue;
            }
            out.extend_from_slice(if any_rel {
                b","
            } else {
                b",\"relationships\":{"
            });
            any_rel = true;
            if let Some(whole) = rel.links_only.as_ref().filter(|_| !has_data) {
                whole.fill(out, &own);
                continue;
            }
            out.extend_from_slice(&rel.key);
            let mut sep = false;
            if let Some((linkage, related)) = &rel.links {
                out.extend_from_slice(b"\"links\":{");
                if let Some(t) = linkage {
                    out.extend_from_slice(b"\"self\":");
                    t.write(out, &base_esc, id);
                }
                if let Some(t) = related {
                    if linkage.is_some() {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"\"related\":");
                    t.write(out, &base_esc, id);
                }
                out.push(b'}');
                sep = true;
            }
            if has_data {
                if sep {
                    out.push(b',');
                }
                let (l, total) = linked.map(|(l, t)| (l.as_slice(), *t)).unwrap_or((&[], 0));
                out.extend_from_slice(b"\"data\":");
                if shape.to_many {
                    out.push(b'[');
                    for (n, (t, i)) in l.iter().enumerate() {
                        if n > 0 {
                            out.push(b',');
                        }
                        write_identifier(out, t, i);
                    }
                    out.push(b']');
                    if shape.meta {
                        let limit = q.limit_rel.get(name).copied().unwrap_or(self.include_limit);
                        out.extend_from_slice(
                            format!(
                                ",\"meta\":{{\"paging\":{{\"total\":{total},\"limit\":{limit}}}}}"
                            )
                            .as_bytes(),
                        );
                    }
                } else if let Some((t, i)) = l.first() {
                    write_identifier(out, t, i);
                }
            }
            out.push(b'}');
        }
        if any_rel {
            out.push(b'}');
        }
        out.extend_from_slice(b",\"links\":{\"self\":");
        rendering.self_link.write(out, &base_esc, id);
        out.extend_from_slice(b"}}");
    }
}

/// `key` then the links object and the closing brace, as [`Rel::links_only`], when every link
/// of `links` starts with the resource's own path.
fn links_only(
    key: &[u8],
    (linkage, related): &(Option<Template>, Option<Template>),
    instance: &Template,
) -> Option<Template> {
    let mut pieces = Vec::new();
    let mut lit = key.to_vec();
    lit.extend_from_slice(b"\"links\":{");
    for (name, t) in [(&b"self"[..], linkage), (b"related", related)] {
        let Some(t) = t else { continue };
        let tail = t.after_instance(instance)?;
        if lit.last() == Some(&b'"') {
            lit.push(b',');
        }
        lit.push(b'"');
        lit.extend_from_slice(name);
        lit.extend_from_slice(b"\":\"");
        pieces.push(std::mem::take(&mut lit).into());
        lit.extend_from_slice(tail);
        lit.push(b'"');
    }
    lit.extend_from_slice(b"}}");
    pieces.push(lit.into());
    Some(Template { pieces })
}

/// Appends `s` as a JSON string.
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends a resource identifier object `{"type":…,"id":…}`.
fn write_identifier(out: &mut Vec<u8>, t: &str, i: &str) {
    out.extend_from_slice(b"{\"type\":");
    json_str(out, t);
    out.extend_from_slice(b",\"id\":");
    json_str(out, i);
    out.push(b'}');
}

/// An `ImageAsset` whose `templateUrl` is stored relative to the server (`/crabapple/…`: images
/// crabapple serves itself, crates/asc rules/images.rs) resolved on the host the client used,
/// as Apple's image URLs are absolute. `None`: the value is written as stored.
fn on_host(v: &Value, base: &str) -> Option<Value> {
    let url = v.get("templateUrl")?.as_str()?;
    if !url.starts_with("/crabapple/") {
        return None;
    }
    let mut out = v.clone();
    out["templateUrl"] = Value::String(format!("{base}{url}"));
    Some(out)
}
