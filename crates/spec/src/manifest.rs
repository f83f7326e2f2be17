//! The manifest's data model. Schemas keep Apple's JSON Schema subset (type, properties, required,
//! items, enum, format, $ref, oneOf, nullable, maximum, …) as plain JSON values, so every family can
//! walk them the same way.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The committed manifest (see `xtask`), embedded in the binary.
pub const MANIFEST_JSON: &str = include_str!("../manifest.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Apple's `info.version`, e.g. "4.4.1".
    pub version: String,
    pub operations: Vec<Operation>,
    /// JSON:API resource types: how each is stored and rendered.
    pub resources: BTreeMap<String, ResourceType>,
    /// Every component schema, reduced to its structure.
    pub schemas: BTreeMap<String, Value>,
}

/// What an operation does, read from its path shape and method (the JSON:API operation names Apple
/// uses in its "does not allow 'GET_COLLECTION'" errors are derived from these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OpKind {
    GetCollection,
    GetInstance,
    CreateInstance,
    UpdateInstance,
    DeleteInstance,
    GetToOneRelated,
    GetToManyRelated,
    GetToOneRelationship,
    GetToManyRelationship,
    UpdateToOneRelationship,
    CreateToManyRelationship,
    ReplaceToManyRelationship,
    DeleteToManyRelationship,
    GetMetrics,
    /// Anything not CRUD-shaped (reports, CSV downloads, odd verbs).
    Other,
}

impl OpKind {
    /// Apple's name for the operation in 403 "does not allow" errors.
    pub fn apple_name(self) -> &'static str {
        match self {
            OpKind::GetCollection => "GET_COLLECTION",
            OpKind::GetInstance => "GET_INSTANCE",
            OpKind::CreateInstance => "CREATE",
            OpKind::UpdateInstance => "UPDATE",
            OpKind::DeleteInstance => "DELETE",
            OpKind::GetToOneRelated | OpKind::GetToManyRelated => "GET_RELATED",
            OpKind::GetToOneRelationship | OpKind::GetToManyRelationship => "GET_RELATIONSHIP",
            OpKind::UpdateToOneRelationship | OpKind::ReplaceToManyRelationship => {
                "UPDATE_RELATIONSHIP"
            }
            OpKind::CreateToManyRelationship => "CREATE_RELATIONSHIP",
            OpKind::DeleteToManyRelationship => "DELETE_RELATIONSHIP",
            OpKind::GetMetrics => "GET_METRICS",
            OpKind::Other => "OTHER",
        }
    }

    /// True for the operations the generic store serves (everything JSON:API-shaped).
    pub fn is_crud(self) -> bool {
        !matches!(self, OpKind::GetMetrics | OpKind::Other)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    /// Apple's operationId, e.g. `apps_getCollection`.
    pub id: String,
    pub method: String,
    /// Path template, e.g. `/v1/apps/{id}/builds`.
    pub path: String,
    pub kind: OpKind,
    /// JSON:API type of the resource the path starts at (`apps` for `/v1/apps/{id}/builds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Relationship (or metric) name for related / relationship / metrics paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    /// JSON:API type the operation returns or takes (`builds` for `/v1/apps/{id}/builds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Request body schema name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Success response: status, content type and schema.
    pub success: Success,
    /// Whether a 404 is declared (operations with `{id}`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_found: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Success {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Content>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Content {
    #[serde(rename = "type")]
    pub content_type: String,
    /// Schema: a `$ref` name when the spec refers to a component, else an inline shape.
    pub schema: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    pub schema: Value,
}

impl Param {
    /// Allowed values when the parameter (or its array items) is an enum.
    pub fn enum_values(&self) -> Option<Vec<&str>> {
        let s = if self.schema.get("type").and_then(Value::as_str) == Some("array") {
            self.schema.get("items")?
        } else {
            &self.schema
        };
        let e = s.get("enum")?.as_array()?;
        Some(e.iter().filter_map(Value::as_str).collect())
    }

    pub fn is_array(&self) -> bool {
        self.schema.get("type").and_then(Value::as_str) == Some("array")
    }

    pub fn scalar_type(&self) -> &str {
        let s = if self.is_array() {
            self.schema.get("items").unwrap_or(&Value::Null)
        } else {
            &self.schema
        };
        s.get("type").and_then(Value::as_str).unwrap_or("string")
    }

    pub fn maximum(&self) -> Option<i64> {
        self.schema.get("maximum").and_then(Value::as_i64)
    }
}

/// A JSON:API resource type (`apps`, `builds`, …).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResourceType {
    /// Schemas whose `data` objects are of this type (e.g. `InAppPurchase` and `InAppPurchaseV2`).
    pub schemas: Vec<String>,
    /// Path template of the instance, `/v2/inAppPurchases/{id}`, when the spec has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_path: Option<String>,
    /// Union of the attribute shapes across the type's schemas.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub relationships: BTreeMap<String, Relationship>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Relationship {
    /// Target JSON:API type, when the spec says (from linkage data or the related endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub to_many: bool,
    /// The relationship on the target type that points back here, when unambiguous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverse: Option<String>,
}

static MANIFEST: OnceLock<Manifest> = OnceLock::new();

impl Manifest {
    /// The embedded manifest, parsed once.
    pub fn get() -> &'static Manifest {
        MANIFEST.get_or_init(|| {
            serde_json::from_str(MANIFEST_JSON).expect("embedded manifest.json is valid")
        })
    }

    /// A component schema by name.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.schemas.get(name)
    }

    /// Follows `$ref`s (given as `{"$ref": "Name"}`) until a concrete shape.
    /// Whether schema `name`, or any schema it refers to (transitively), mentions `needle`
    /// (a schema or property name).
    pub fn schema_mentions(&self, name: &str, needle: &str) -> bool {
        fn refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r);
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut seen = vec![name];
        let mut todo = vec![name];
        while let Some(n) = todo.pop() {
            let Some(schema) = self.schemas.get(n) else {
                continue;
            };
            if schema.to_string().contains(needle) {
                return true;
            }
            let mut found = Vec::new();
            refs(schema, &mut found);
            for r in found {
                if !seen.contains(&r) {
                    seen.push(r);
                    todo.push(r);
                }
            }
        }
        false
    }

    pub fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(name) => match self.schemas.get(name) {
                    Some(s) => v = s,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.id == id)
    }
}
