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
            let s = if let Some(s) = realistic(name, n) {
                s
            } else if lname.contains("email") {
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
                pick(NAMES, n).to_string()
            } else if lname.contains("date") {
                format!("2026-{:02}-{day:02}", 1 + n % 11)
            } else if lname.contains("price") || lname.contains("proceeds") {
                format!("{}.99", n % 10)
            } else if lname.contains("currency") {
                "USD".to_string()
            } else if lname.contains("territory") || lname.contains("country") {
                "USA".to_string()
            } else if lname.contains("description") || lname.contains("text") || lname.contains("note") {
                pick(SENTENCES, n).to_string()
            } else {
                format!("{}-{n:04}", name.to_ascii_uppercase())
            };
            json!(s)
        }
    }
}

fn pick<'a>(pool: &[&'a str], n: u64) -> &'a str {
    pool[(n as usize) % pool.len()]
}

/// Names a person reads as product or feature names (issue 7 §2: "the demo world reads like a
/// real team", no "name 48").
const NAMES: &[&str] = &[
    "Orchard Pass",
    "Harvest Festival",
    "Blossom Weekly",
    "Cider Club",
    "Grove Explorer",
    "Pip Tracker",
    "Bramble Boost",
    "Sunrise Picks",
    "Russet Run",
    "Windfall Bundle",
];

const SENTENCES: &[&str] = &[
    "Track every harvest and share the best picks with your team.",
    "New this season: faster sync and a calmer home screen.",
    "Please use the demo account below; the orchard map is on the second tab.",
    "Bug fixes and performance improvements.",
    "Plan your week in the orchard with reminders that respect your time.",
];

const FIRST: &[&str] = &["Ava", "Noah", "Mia", "Liam", "Zoe", "Omar", "Ines", "Kenji"];
const LAST: &[&str] = &["Appleton", "Russet", "Pippin", "Bramley", "Fuji", "Gala", "Cox"];

/// Values for attributes whose name says what they hold, where the shape alone gives only
/// "string".
fn realistic(name: &str, n: u64) -> Option<String> {
    let lname = name.to_ascii_lowercase();
    Some(match lname.as_str() {
        "bundleid" | "buildbundleid" | "identifier" | "packagename" => {
            format!("com.crabapple.{}", pick(&["notes", "quest", "budget", "cinema", "fit"], n)) + &format!(".ext{n}")
        }
        "productid" => format!("com.crabapple.{}.{n}", pick(&["pro", "plus", "coins", "pass"], n)),
        "sku" | "vendoridentifier" | "customcode" | "codevalue" => format!("CRAB{:05}", 10_000 + n),
        "firstname" | "userfirstname" | "contactfirstname" => pick(FIRST, n).into(),
        "lastname" | "userlastname" | "contactlastname" => pick(LAST, n).into(),
        "contactphone" => format!("+1 408 555 {:04}", 1000 + n % 9000),
        "demoaccountname" => format!("reviewer{n}@crabapple.example"),
        "demoaccountpassword" => format!("Orchard-{:04}", 1000 + n % 9000),
        "copyright" => "2026 Crabapple Labs".into(),
        "keywords" => "orchard,harvest,notes,planner".into(),
        "filename" | "documentname" => format!("crabapple-{n}.png"),
        "mimetype" => "image/png".into(),
        "timezone" => pick(&["America/Los_Angeles", "Europe/Berlin", "Asia/Tokyo"], n).into(),
        "devicemodel" | "model" => pick(&["iPhone16,2", "iPad14,5", "iPhone15,3"], n).into(),
        "architecture" => "arm64".into(),
        "seedid" | "apikeyid" => format!("{:010X}", 0x2A9B_7C4D_11u64.wrapping_add(n * 7919)),
        "domain" => format!("downloads{n}.crabapple.example"),
        "publiclinkid" => format!("cRaB{n:04}"),
        "publiclink" => format!("https://testflight.apple.com/join/cRaB{n:04}"),
        "title" | "subtitle" | "referencename" | "customappname" | "canonicalname" => {
            pick(NAMES, n).into()
        }
        "whatsnew" | "promotionaltext" | "reviewnote" | "message" | "comment" => {
            pick(SENTENCES, n).into()
        }
        _ => return None,
    })
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
