//! Makes plausible values that conform to a manifest shape: attributes for resources the demo
//! world does not spell out, and bodies of operations whose capability has not landed yet
//! (metrics, diagnostic logs). Deterministic: the same `(shape, name, n)` gives the same value.

use crabapple_spec::Manifest;
use serde_json::{Map, Value, json};

/// A value for `shape`; `name` is the member name (drives the kind of string), `n` varies it.
pub fn value(m: &Manifest, shape: &Value, name: &str, n: u64) -> Value {
    value_at(m, shape, name, n, 0)
}

fn value_at(m: &Manifest, shape: &Value, name: &str, n: u64, depth: usize) -> Value {
    let shape = m.resolve(shape);
    if depth > 12 {
        return Value::Null;
    }
    if let Some(alts) = shape
        .get("oneOf")
        .or_else(|| shape.get("anyOf"))
        .and_then(Value::as_array)
        && let Some(first) = alts.first()
    {
        return value_at(m, first, name, n, depth + 1);
    }
    if let Some(e) = shape.get("enum").and_then(Value::as_array)
        && !e.is_empty()
    {
        return e[(n as usize) % e.len()].clone();
    }
    let ty =
        shape
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(if shape.get("properties").is_some() {
                "object"
            } else {
                "string"
            });
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = shape.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    let v = value_at(m, s, k, n, depth + 1);
                    if !v.is_null() {
                        out.insert(k.clone(), v);
                    }
                }
            }
            Value::Object(out)
        }
        "array" => {
            let item = shape
                .get("items")
                .cloned()
                .unwrap_or(json!({"type":"string"}));
            let v = value_at(m, &item, name, n, depth + 1);
            if v.is_null() { json!([]) } else { json!([v]) }
        }
        "integer" => {
            let max = shape.get("maximum").and_then(Value::as_i64).unwrap_or(1000);
            let min = shape.get("minimum").and_then(Value::as_i64).unwrap_or(0);
            json!((min + 1 + n as i64 % 7).min(max))
        }
        "number" => json!(1.5 + (n % 5) as f64),
        "boolean" => json!(n % 2 == 1),
        _ => string(shape.get("format").and_then(Value::as_str), name, n),
    }
}

fn string(format: Option<&str>, name: &str, n: u64) -> Value {
    let lname = name.to_ascii_lowercase();
    let day = 1 + (n % 28);
    match format {
        // ISO 8601 durations (e.g. leaderboard recurrence).
        Some("duration") => json!(["P1D", "P7D", "P1M"][(n % 3) as usize]),
        Some("date-time") => json!(format!("2026-{:02}-{day:02}T10:00:00Z", 1 + n % 11)),
        Some("date") => json!(format!("2026-{:02}-{day:02}", 1 + n % 11)),
        Some("uri") | Some("uri-reference") => {
            if lname.contains("template") || lname.contains("asset") {
                json!(format!(
                    "https://is1-ssl.mzstatic.com/image/thumb/Purple/v4/{n:02x}/crabapple/{{w}}x{{h}}bb.{{f}}"
                ))
            } else {
                json!(format!("https://example.com/crabapple/{name}/{n}"))
            }
        }
        Some("email") => json!(format!("user{n}@example.com")),
        _ => {
            let s = if lname.contains("email") {
                format!("user{n}@example.com")
            } else if lname.contains("url") {
                format!("https://example.com/{name}/{n}")
            } else if lname.contains("locale") {
                ["en-US", "de-DE", "ja", "fr-FR"][(n % 4) as usize].to_string()
            } else if lname.contains("version") {
                format!("1.{}.{}", n % 10, n % 3)
            } else if lname.contains("rule") {
                "FREQ=WEEKLY;INTERVAL=1".to_string()
            } else if lname.contains("checksum") {
                format!("{:032x}", 0x9e3779b97f4a7c15u64.wrapping_mul(n + 1) as u128)
            } else if lname == "name" || lname.ends_with("name") {
                format!("Crabapple {name} {n}")
            } else if lname.contains("date") {
                format!("2026-{:02}-{day:02}", 1 + n % 11)
            } else if lname.contains("price") || lname.contains("proceeds") {
                format!("{}.99", n % 10)
            } else if lname.contains("currency") {
                "USD".to_string()
            } else if lname.contains("territory") || lname.contains("country") {
                "USA".to_string()
            } else {
                format!("{name} {n}")
            };
            json!(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesized_values_follow_the_shape() {
        let m = Manifest::get();
        let v = value(
            m,
            &json!({ "$ref": "AppMediaAssetState" }),
            "assetDeliveryState",
            130,
        );
        assert!(v.is_object(), "{v}");
        assert!(v["state"].is_string());
        let d = value(
            m,
            &json!({ "type": "string", "format": "duration" }),
            "recurrenceDuration",
            1,
        );
        assert_eq!(d, "P7D");
        let e = value(m, &json!({ "type": "string", "enum": ["A", "B"] }), "x", 1);
        assert_eq!(e, "B");
    }
}
