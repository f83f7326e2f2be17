//! What the engine reads from the manifest's schemas, computed once: the attribute and
//! relationship shapes of each resource schema, which schema renders each type in each operation's
//! document, and the validation of request documents against their schema.

use crate::error::AscError;
use crabapple_spec::{Manifest, Operation};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default)]
pub struct RelShape {
    pub links: bool,
    pub data: bool,
    pub meta: bool,
    pub to_many: bool,
}

/// A resource schema (`App`, `InAppPurchaseV2`, …).
#[derive(Debug, Clone, Default)]
pub struct ResourceSchema {
    pub name: String,
    pub rtype: String,
    pub attributes: BTreeMap<String, Value>,
    pub relationships: BTreeMap<String, RelShape>,
    /// How its objects are written, prepared on first use by the engine that owns the schemas.
    pub rendering: std::sync::OnceLock<crate::engine::Rendering>,
}

/// How an operation's response document renders resources.
#[derive(Debug, Clone, Default)]
pub struct DocPlan {
    /// Resource schema of `data` (or its items).
    pub data: Option<String>,
    /// Resource schema per type allowed in `included`.
    pub included: HashMap<String, String>,
}

pub struct Schemas {
    pub resources: HashMap<String, ResourceSchema>,
    pub plans: HashMap<String, DocPlan>,
    /// Default resource schema per type: the one whose attributes are the widest.
    pub default_for_type: HashMap<String, String>,
}

fn ref_of(v: &Value) -> Option<&str> {
    v.get("$ref").and_then(Value::as_str)
}

impl Schemas {
    pub fn build(m: &Manifest) -> Schemas {
        let mut resources = HashMap::new();
        let mut default_for_type: HashMap<String, String> = HashMap::new();
        for (rtype, rt) in &m.resources {
            for name in &rt.schemas {
                let Some(s) = m.schema(name) else { continue };
                let props = s.get("properties");
                let attributes: BTreeMap<String, Value> = props
                    .and_then(|p| p.get("attributes"))
                    .map(|a| m.resolve(a))
                    .and_then(|a| a.get("properties"))
                    .and_then(Value::as_object)
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let mut relationships = BTreeMap::new();
                for (rn, rv) in props
                    .and_then(|p| p.get("relationships"))
                    .and_then(|r| r.get("properties"))
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    let rv = m.resolve(rv);
                    let p = rv.get("properties");
                    let data = p.and_then(|p| p.get("data")).map(|d| m.resolve(d));
                    relationships.insert(
                        rn.clone(),
                        RelShape {
                            links: p.and_then(|p| p.get("links")).is_some(),
                            data: data.is_some(),
                            meta: p.and_then(|p| p.get("meta")).is_some(),
                            to_many: data
                                .map(|d| d.get("type").and_then(Value::as_str) == Some("array"))
                                .unwrap_or_else(|| {
                                    rt.relationships.get(rn).is_some_and(|r| r.to_many)
                                }),
                        },
                    );
                }
                let wider = default_for_type
                    .get(rtype)
                    .and_then(|n: &String| resources.get(n))
                    .is_none_or(|cur: &ResourceSchema| cur.attributes.len() < attributes.len());
                if wider {
                    default_for_type.insert(rtype.clone(), name.clone());
                }
                resources.insert(
                    name.clone(),
                    ResourceSchema {
                        name: name.clone(),
                        rtype: rtype.clone(),
                        attributes,
                        relationships,
                        rendering: Default::default(),
                    },
                );
            }
        }
        let mut plans = HashMap::new();
        for op in &m.operations {
            plans.insert(op.id.clone(), plan_for(m, op, &resources));
        }
        Schemas {
            resources,
            plans,
            default_for_type,
        }
    }

    /// The schema that renders `rtype` in `plan` (falling back to the type's widest schema).
    pub fn schema_for<'a>(&'a self, plan: &DocPlan, rtype: &str) -> Option<&'a ResourceSchema> {
        let name = match &plan.data {
            Some(d) if self.resources.get(d).is_some_and(|r| r.rtype == rtype) => Some(d),
            _ => plan.included.get(rtype),
        }
        .or_else(|| self.default_for_type.get(rtype))?;
        self.resources.get(name)
    }
}

fn plan_for(m: &Manifest, op: &Operation, res: &HashMap<String, ResourceSchema>) -> DocPlan {
    let mut plan = DocPlan::default();
    let Some(doc) = op
        .success
        .content
        .iter()
        .find(|c| c.content_type == "application/json")
        .map(|c| m.resolve(&c.schema))
    else {
        return plan;
    };
    let props = doc.get("properties");
    if let Some(data) = props.and_then(|p| p.get("data")) {
        let item = if data.get("type").and_then(Value::as_str) == Some("array") {
            data.get("items").unwrap_or(data)
        } else {
            data
        };
        plan.data = ref_of(item)
            .filter(|n| res.contains_key(*n))
            .map(str::to_string);
    }
    if let Some(items) = props
        .and_then(|p| p.get("included"))
        .and_then(|i| i.get("items"))
    {
        let alts: Vec<&Value> = match items.get("oneOf").and_then(Value::as_array) {
            Some(a) => a.iter().collect(),
            None => vec![items],
        };
        for alt in alts {
            if let Some(name) = ref_of(alt)
                && let Some(r) = res.get(name)
            {
                plan.included.insert(r.rtype.clone(), name.to_string());
            }
        }
    }
    plan
}

/// What a request document failed on.
#[derive(Debug)]
pub enum Violation {
    /// Not the expected JSON shape (422).
    Shape(String),
    /// A missing required attribute or relationship (409).
    Required(String),
    /// A value outside an enum or format (409).
    Invalid(String, String),
    /// The `type` member names the wrong resource type (409).
    WrongType(String, String, String),
    /// An attribute or relationship the resource does not have (409 `…UNKNOWN`).
    Unknown(String),
}

impl Violation {
    pub fn into_error(self) -> AscError {
        match self {
            Violation::Shape(p) => AscError::entity_unprocessable(&p),
            Violation::Required(p) => {
                let (kind, name) = member(&p);
                let code = if kind == "relationships" {
                    "RELATIONSHIP.REQUIRED"
                } else {
                    "ATTRIBUTE.REQUIRED"
                };
                let what = if kind == "relationships" {
                    "relationship"
                } else {
                    "attribute"
                };
                AscError::entity_error(
                    code,
                    &format!("The provided entity is missing a required {what}"),
                    format!("You must provide a value for the {what} '{name}' with this request"),
                    &p,
                )
            }
            Violation::Invalid(p, why) => {
                let (kind, name) = member(&p);
                let (code, what) = if kind == "relationships" {
                    ("RELATIONSHIP.INVALID", "relationship")
                } else {
                    ("ATTRIBUTE.INVALID", "attribute")
                };
                AscError::entity_error(
                    code,
                    "An attribute value is invalid.",
                    format!("The {what} '{name}' has an invalid value: {why}"),
                    &p,
                )
            }
            // Issue 7 §2 (clients found it): Apple answers 409 ENTITY_ERROR.ATTRIBUTE.UNKNOWN
            // "The provided entity includes an unknown attribute", not 422. The detail wording
            // is crabapple's.
            Violation::Unknown(p) => {
                let (kind, name) = member(&p);
                let (code, what) = if kind == "relationships" {
                    ("RELATIONSHIP.UNKNOWN", "relationship")
                } else {
                    ("ATTRIBUTE.UNKNOWN", "attribute")
                };
                AscError::entity_error(
                    code,
                    &format!("The provided entity includes an unknown {what}"),
                    format!("'{name}' is not a valid {what} for this request"),
                    &p,
                )
            }
            Violation::WrongType(p, got, want) => AscError::entity_error(
                "",
                "The provided entity type is invalid",
                format!("'{got}' is not a valid type for this request. Expected: {want}"),
                &p,
            ),
        }
    }
}

/// For `/data/attributes/name` → ("attributes", "name").
fn member(pointer: &str) -> (&str, &str) {
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [.., kind, name] if *kind == "attributes" || *kind == "relationships" => (kind, name),
        [.., kind, name, _] if *kind == "relationships" => (kind, name),
        [.., last] => ("", last),
        [] => ("", ""),
    }
}

/// Validates `v` against a manifest shape. Unknown object members are shape errors (misspelled
/// `data`/`attributes` are Apple's 422 case).
pub fn validate(m: &Manifest, v: &Value, shape: &Value, ptr: &str) -> Result<(), Violation> {
    let shape = m.resolve(shape);
    if v.is_null() {
        return if shape.get("nullable").and_then(Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(Violation::Shape(ptr.to_string()))
        };
    }
    if let Some(alts) = shape
        .get("oneOf")
        .or_else(|| shape.get("anyOf"))
        .and_then(Value::as_array)
    {
        // Pick the alternative whose `type` enum matches, else the first that validates.
        let vt = v.get("type").and_then(Value::as_str);
        for alt in alts {
            let a = m.resolve(alt);
            let want = a.pointer("/properties/type/enum/0").and_then(Value::as_str);
            if vt.is_some() && want == vt {
                return validate(m, v, a, ptr);
            }
        }
        for alt in alts {
            if validate(m, v, alt, ptr).is_ok() {
                return Ok(());
            }
        }
        return Err(Violation::Shape(ptr.to_string()));
    }
    let ty = shape
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            if shape.get("properties").is_some() {
                "object"
            } else {
                ""
            }
        });
    match ty {
        "object" => {
            let Some(obj) = v.as_object() else {
                return Err(Violation::Shape(ptr.to_string()));
            };
            let props = shape.get("properties").and_then(Value::as_object);
            for (k, val) in obj {
                let p = format!("{ptr}/{k}");
                match props.and_then(|ps| ps.get(k)) {
                    Some(s) => validate(m, val, s, &p)?,
                    None => match shape.get("additionalProperties") {
                        Some(Value::Bool(true)) => {}
                        Some(s) if s.is_object() => validate(m, val, s, &p)?,
                        _ if props.is_none() => {}
                        _ if ptr.ends_with("/attributes") || ptr.ends_with("/relationships") => {
                            return Err(Violation::Unknown(p));
                        }
                        // An empty `attributes` / `relationships` object where the request
                        // takes none says nothing: accepted (Ponytech `register_new_device`
                        // sends `relationships: {}`).
                        _ if (k == "attributes" || k == "relationships")
                            && val.as_object().is_some_and(|o| o.is_empty()) => {}
                        _ => return Err(Violation::Shape(p)),
                    },
                }
            }
            for req in shape
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !obj.contains_key(req) {
                    let p = format!("{ptr}/{req}");
                    // A missing attribute or relationship is Apple's 409; a missing structural
                    // member (`data`, `type`, `id`) is a malformed document (422).
                    return Err(
                        if ptr.ends_with("/attributes") || ptr.ends_with("/relationships") {
                            Violation::Required(p)
                        } else {
                            Violation::Shape(p)
                        },
                    );
                }
            }
            Ok(())
        }
        "array" => {
            let Some(arr) = v.as_array() else {
                return Err(Violation::Shape(ptr.to_string()));
            };
            if let Some(items) = shape.get("items") {
                for (i, item) in arr.iter().enumerate() {
                    validate(m, item, items, &format!("{ptr}/{i}"))?;
                }
            }
            Ok(())
        }
        "string" => {
            let Some(s) = v.as_str() else {
                return Err(Violation::Shape(ptr.to_string()));
            };
            if let Some(e) = shape.get("enum").and_then(Value::as_array)
                && !e.iter().any(|x| x.as_str() == Some(s))
            {
                let list: Vec<&str> = e.iter().filter_map(Value::as_str).collect();
                if ptr.ends_with("/type") {
                    return Err(Violation::WrongType(
                        ptr.to_string(),
                        s.to_string(),
                        list.join(", "),
                    ));
                }
                return Err(Violation::Invalid(
                    ptr.to_string(),
                    format!("'{s}' is not one of: {}", list.join(", ")),
                ));
            }
            // The spec's `maxLength`, where a shape has one (issue 8, crate::lengths).
            if let Some(max) = shape.get("maxLength").and_then(Value::as_u64) {
                crate::lengths::check(s, max as usize, ptr)?;
            }
            match shape.get("format").and_then(Value::as_str) {
                Some("date") if !is_date(s) => Err(Violation::Invalid(
                    ptr.to_string(),
                    format!("'{s}' is not a date (YYYY-MM-DD)"),
                )),
                Some("date-time") if !is_date(s.get(..10).unwrap_or("")) => Err(
                    Violation::Invalid(ptr.to_string(), format!("'{s}' is not a date-time")),
                ),
                // The spec's `email` and `uri` formats (issue 7 §2: "" was accepted where the
                // spec wants an email or a URI).
                Some("email") if !is_email(s) => Err(Violation::Invalid(
                    ptr.to_string(),
                    format!("'{s}' is not an email address"),
                )),
                Some("uri") if !is_uri(s) => Err(Violation::Invalid(
                    ptr.to_string(),
                    format!("'{s}' is not an absolute URI"),
                )),
                _ => Ok(()),
            }
        }
        "integer" => match v.as_i64() {
            Some(_) => Ok(()),
            None => Err(Violation::Shape(ptr.to_string())),
        },
        "number" => match v.as_f64() {
            Some(_) => Ok(()),
            None => Err(Violation::Shape(ptr.to_string())),
        },
        "boolean" => match v.as_bool() {
            Some(_) => Ok(()),
            None => Err(Violation::Shape(ptr.to_string())),
        },
        _ => Ok(()),
    }
}

pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `local@domain`, both parts non-empty, no white space.
pub fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// An absolute URI: `scheme:rest` with an RFC 3986 scheme and no white space.
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}
