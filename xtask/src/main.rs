//! Developer tasks. `cargo run -p xtask -- manifest [SPEC] [OUT]` turns Apple's App Store Connect
//! OpenAPI spec into crabapple's committed manifest (structure only: no descriptions, examples or
//! other prose), `… manifest --check` fails when the committed file is stale.

use anyhow::{Context, Result, bail};
use crabapple_spec::{
    Content, Manifest, OpKind, Operation, Param, Relationship, ResourceType, Success,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("manifest") => {
            let check = args.iter().any(|a| a == "--check");
            let rest: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with("--")).collect();
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let spec = rest
                .first()
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("../shared/spec/app-store-connect-openapi.json"));
            let out = rest
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("crates/spec/manifest.json"));
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("reading the spec at {}", spec.display()))?;
            let generated = generate(&text)?;
            if check {
                let committed = std::fs::read_to_string(&out).unwrap_or_default();
                if committed != generated {
                    bail!(
                        "{} is stale: run `cargo run -p xtask -- manifest`",
                        out.display()
                    );
                }
                println!("manifest is up to date");
            } else {
                std::fs::write(&out, generated)?;
                println!("wrote {}", out.display());
            }
            Ok(())
        }
        _ => bail!("usage: xtask manifest [SPEC] [OUT] [--check]"),
    }
}

const KEEP: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "format",
    "$ref",
    "oneOf",
    "anyOf",
    "allOf",
    "nullable",
    "maximum",
    "minimum",
    "additionalProperties",
    "discriminator",
    "maxItems",
    "maxLength",
    "minLength",
    "minItems",
    "deprecated",
    "default",
];

fn ref_name(r: &str) -> String {
    r.trim_start_matches("#/components/schemas/").to_string()
}

/// Reduces a JSON Schema to its structure; `$ref`s become bare component names.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                if !KEEP.contains(&k.as_str()) {
                    continue;
                }
                let nv = match k.as_str() {
                    "$ref" => Value::String(ref_name(val.as_str().unwrap_or_default())),
                    "properties" => Value::Object(
                        val.as_object()
                            .map(|p| p.iter().map(|(n, s)| (n.clone(), strip(s))).collect())
                            .unwrap_or_default(),
                    ),
                    "discriminator" => {
                        let mut d = Map::new();
                        if let Some(p) = val.get("propertyName") {
                            d.insert("propertyName".into(), p.clone());
                        }
                        if let Some(mp) = val.get("mapping").and_then(Value::as_object) {
                            let mapped: Map<String, Value> = mp
                                .iter()
                                .map(|(k, r)| {
                                    (
                                        k.clone(),
                                        Value::String(ref_name(r.as_str().unwrap_or_default())),
                                    )
                                })
                                .collect();
                            d.insert("mapping".into(), Value::Object(mapped));
                        }
                        Value::Object(d)
                    }
                    "additionalProperties" if val.is_object() => strip(val),
                    "items" | "additionalProperties" => strip(val),
                    "oneOf" | "anyOf" | "allOf" => Value::Array(
                        val.as_array()
                            .map(|a| a.iter().map(strip).collect())
                            .unwrap_or_default(),
                    ),
                    _ => val.clone(),
                };
                out.insert(k.clone(), nv);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

struct Ctx<'a> {
    schemas: &'a Map<String, Value>,
}

impl Ctx<'_> {
    fn resolve<'b>(&'b self, v: &'b Value) -> &'b Value {
        let mut v = v;
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.schemas.get(&ref_name(r)) {
                    Some(s) => v = s,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    /// For a document schema, the JSON:API type of its `data` and whether `data` is an array.
    fn data_type(&self, doc: &Value) -> Option<(String, bool)> {
        let doc = self.resolve(doc);
        let data = self.resolve(doc.get("properties")?.get("data")?);
        let (item, many) = if data.get("type").and_then(Value::as_str) == Some("array") {
            (self.resolve(data.get("items")?), true)
        } else {
            (data, false)
        };
        let t = self.resolve(item.get("properties")?.get("type")?);
        let name = t.get("enum")?.as_array()?.first()?.as_str()?.to_string();
        Some((name, many))
    }
}

fn json_schema<'a>(op: &'a Value, status: &str) -> Option<&'a Value> {
    op.get("responses")?
        .get(status)?
        .get("content")?
        .get("application/json")?
        .get("schema")
}

fn generate(text: &str) -> Result<String> {
    let spec: Value = serde_json::from_str(text)?;
    let raw_schemas = spec["components"]["schemas"]
        .as_object()
        .context("components.schemas")?;
    let ctx = Ctx {
        schemas: raw_schemas,
    };
    let schemas: BTreeMap<String, Value> = raw_schemas
        .iter()
        .map(|(k, v)| (k.clone(), strip(v)))
        .collect();
    let paths = spec["paths"].as_object().context("paths")?;

    // Which JSON:API type each top-level path segment serves (from any op with a typed document).
    let mut seg_type: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in paths {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if segs.len() > 3 {
            continue;
        }
        for (m, op) in item.as_object().into_iter().flatten() {
            if m == "parameters" {
                continue;
            }
            let doc = json_schema(op, "200")
                .or_else(|| json_schema(op, "201"))
                .or_else(|| op.pointer("/requestBody/content/application~1json/schema"));
            if let Some((t, _)) = doc.and_then(|d| ctx.data_type(d)) {
                seg_type.entry(segs[1].to_string()).or_insert(t);
            }
        }
    }

    let mut operations = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().context("path item")?;
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for method in ["get", "post", "patch", "put", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let m = method.to_uppercase();
            let mut params = Vec::new();
            for p in op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if p.get("in").and_then(Value::as_str) != Some("query") {
                    continue;
                }
                params.push(Param {
                    name: p["name"].as_str().unwrap_or_default().to_string(),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    schema: strip(&p["schema"]),
                });
            }
            let body_schema = op.pointer("/requestBody/content/application~1json/schema");
            let body = body_schema
                .and_then(|s| s.get("$ref"))
                .and_then(Value::as_str)
                .map(ref_name);
            let responses = op["responses"].as_object().context("responses")?;
            let (status, resp) = responses
                .iter()
                .find(|(s, _)| s.starts_with('2'))
                .context("success response")?;
            let content: Vec<Content> = resp
                .get("content")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(ct, c)| Content {
                    content_type: ct.clone(),
                    schema: match c["schema"].get("$ref").and_then(Value::as_str) {
                        Some(r) => json!({ "$ref": ref_name(r) }),
                        None => strip(&c["schema"]),
                    },
                })
                .collect();
            let json_doc = content
                .iter()
                .find(|c| c.content_type == "application/json")
                .map(|c| &c.schema);
            let resp_type = json_doc.and_then(|d| ctx.data_type(d));
            let body_type = body_schema.and_then(|b| ctx.data_type(b));
            let is_id = segs.get(2) == Some(&"{id}");
            let (kind, rel) = match (segs.len(), m.as_str()) {
                (2, "GET") if json_doc.is_some() && resp_type.as_ref().is_some_and(|t| t.1) => {
                    (OpKind::GetCollection, None)
                }
                (2, "POST") if resp_type.is_some() && status == "201" => {
                    (OpKind::CreateInstance, None)
                }
                (3, "GET") if is_id && resp_type.is_some() => (OpKind::GetInstance, None),
                (3, "PATCH") if is_id && resp_type.is_some() => (OpKind::UpdateInstance, None),
                (3, "DELETE") if is_id => (OpKind::DeleteInstance, None),
                (5, _) if is_id && segs[3] == "relationships" => {
                    let many = resp_type
                        .as_ref()
                        .map(|t| t.1)
                        .or(body_type.as_ref().map(|t| t.1))
                        .unwrap_or(true);
                    let k = match (m.as_str(), many) {
                        ("GET", true) => OpKind::GetToManyRelationship,
                        ("GET", false) => OpKind::GetToOneRelationship,
                        ("PATCH", true) => OpKind::ReplaceToManyRelationship,
                        ("PATCH", false) => OpKind::UpdateToOneRelationship,
                        ("POST", _) => OpKind::CreateToManyRelationship,
                        ("DELETE", _) => OpKind::DeleteToManyRelationship,
                        _ => OpKind::Other,
                    };
                    (k, Some(segs[4].to_string()))
                }
                (5, "GET") if is_id && segs[3] == "metrics" => {
                    (OpKind::GetMetrics, Some(segs[4].to_string()))
                }
                (4, "GET") if is_id && resp_type.is_some() => {
                    let many = resp_type.as_ref().is_some_and(|t| t.1);
                    let k = if many {
                        OpKind::GetToManyRelated
                    } else {
                        OpKind::GetToOneRelated
                    };
                    (k, Some(segs[3].to_string()))
                }
                _ => (OpKind::Other, None),
            };
            let resource = segs
                .get(1)
                .map(|s| seg_type.get(*s).cloned().unwrap_or_else(|| s.to_string()));
            let target = resp_type.map(|t| t.0).or(body_type.map(|t| t.0));
            operations.push(Operation {
                id: op["operationId"].as_str().unwrap_or_default().to_string(),
                method: m,
                path: path.clone(),
                kind,
                resource,
                relationship: rel,
                target,
                params,
                body,
                success: Success {
                    status: status.parse()?,
                    content,
                },
                not_found: responses.contains_key("404"),
            });
        }
    }

    // Resource types: component schemas shaped like a resource object ({type enum, id, links}).
    let mut resources: BTreeMap<String, ResourceType> = BTreeMap::new();
    for (name, s) in raw_schemas {
        let Some(props) = s.get("properties") else {
            continue;
        };
        let (Some(t), Some(_), Some(_)) = (props.get("type"), props.get("id"), props.get("links"))
        else {
            continue;
        };
        let Some(tname) = t.get("enum").and_then(|e| e.get(0)).and_then(Value::as_str) else {
            continue;
        };
        let r = resources.entry(tname.to_string()).or_default();
        r.schemas.push(name.clone());
        if let Some(attrs) = props
            .get("attributes")
            .map(|a| ctx.resolve(a))
            .and_then(|a| a.get("properties"))
            .and_then(Value::as_object)
        {
            for (an, av) in attrs {
                r.attributes.entry(an.clone()).or_insert_with(|| strip(av));
            }
        }
        if let Some(rels) = props
            .get("relationships")
            .and_then(|a| a.get("properties"))
            .and_then(Value::as_object)
        {
            for (rn, rv) in rels {
                let rv = ctx.resolve(rv);
                let data = rv
                    .get("properties")
                    .and_then(|p| p.get("data"))
                    .map(|d| ctx.resolve(d));
                let many = data
                    .map(|d| d.get("type").and_then(Value::as_str) == Some("array"))
                    .unwrap_or_else(|| rv.pointer("/properties/meta").is_some());
                let target = data
                    .map(|d| {
                        if many {
                            d.get("items").map(|i| ctx.resolve(i)).unwrap_or(d)
                        } else {
                            d
                        }
                    })
                    .and_then(|d| d.pointer("/properties/type/enum/0"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let e = r.relationships.entry(rn.clone()).or_insert(Relationship {
                    target: None,
                    to_many: many,
                    inverse: None,
                });
                e.to_many |= many;
                if e.target.is_none() {
                    e.target = target;
                }
            }
        }
    }
    // Fill relationship targets and to-many-ness from the related endpoints; pick instance paths.
    for op in &operations {
        let (Some(res), Some(rel)) = (&op.resource, &op.relationship) else {
            if op.kind == OpKind::GetInstance
                && let Some(r) = op.resource.as_ref().and_then(|t| resources.get_mut(t))
                && r.instance_path.as_ref().is_none_or(|p| p < &op.path)
            {
                r.instance_path = Some(op.path.clone());
            }
            continue;
        };
        if !matches!(
            op.kind,
            OpKind::GetToManyRelated
                | OpKind::GetToOneRelated
                | OpKind::GetToManyRelationship
                | OpKind::GetToOneRelationship
        ) {
            continue;
        }
        if let Some(r) = resources.get_mut(res) {
            let e = r.relationships.entry(rel.clone()).or_insert(Relationship {
                target: None,
                to_many: false,
                inverse: None,
            });
            if e.target.is_none() {
                e.target = op.target.clone();
            }
            e.to_many |= matches!(
                op.kind,
                OpKind::GetToManyRelated | OpKind::GetToManyRelationship
            );
        }
    }
    // Inverses: the one relationship on the target type that points back (by name when several).
    let snapshot = resources.clone();
    for (tname, r) in resources.iter_mut() {
        for (rn, rel) in r.relationships.iter_mut() {
            let Some(target) = rel.target.as_ref().and_then(|t| snapshot.get(t)) else {
                continue;
            };
            let back: Vec<&String> = target
                .relationships
                .iter()
                .filter(|(_, b)| b.target.as_deref() == Some(tname))
                .map(|(n, _)| n)
                .collect();
            let singular = tname.trim_end_matches('s');
            rel.inverse = match back.as_slice() {
                [one] => Some((*one).clone()),
                many => many
                    .iter()
                    .find(|n| n.as_str() == tname || n.as_str() == singular)
                    .map(|n| (*n).clone()),
            };
            let _ = rn;
        }
    }

    let version = spec["info"]["version"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let manifest = Manifest {
        version,
        operations,
        resources,
        schemas,
    };
    render(&manifest)
}

/// One entry per line so diffs of the committed manifest stay readable.
fn render(m: &Manifest) -> Result<String> {
    let mut out = String::new();
    out.push_str(&format!(
        "{{\"version\":{},\n\"operations\":[\n",
        serde_json::to_string(&m.version)?
    ));
    for (i, op) in m.operations.iter().enumerate() {
        out.push_str(&serde_json::to_string(op)?);
        out.push_str(if i + 1 < m.operations.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    out.push_str("],\n\"resources\":{\n");
    for (i, (k, r)) in m.resources.iter().enumerate() {
        out.push_str(&format!(
            "{}:{}",
            serde_json::to_string(k)?,
            serde_json::to_string(r)?
        ));
        out.push_str(if i + 1 < m.resources.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    out.push_str("},\n\"schemas\":{\n");
    for (i, (k, s)) in m.schemas.iter().enumerate() {
        out.push_str(&format!(
            "{}:{}",
            serde_json::to_string(k)?,
            serde_json::to_string(s)?
        ));
        out.push_str(if i + 1 < m.schemas.len() { ",\n" } else { "\n" });
    }
    out.push_str("}}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed manifest must be what the generator makes from Apple's spec today.
    #[test]
    fn committed_manifest_is_fresh() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let spec = root.join("../shared/spec/app-store-connect-openapi.json");
        let Ok(text) = std::fs::read_to_string(&spec) else {
            println!(
                "SKIPPED: Apple's spec is not at ../shared/spec (outside the repository); cannot check the manifest"
            );
            return;
        };
        let generated = generate(&text).expect("generates");
        let committed = std::fs::read_to_string(root.join("crates/spec/manifest.json")).unwrap();
        assert!(
            committed == generated,
            "crates/spec/manifest.json is stale: run `cargo run -p xtask -- manifest`"
        );
    }
}
