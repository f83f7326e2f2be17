//! How long a string attribute of a request document may be (issue 8: a 10 MB bundle ID name
//! was accepted). In order: the spec's `maxLength` where a shape has one ([`crate::schema`]
//! enforces it; Apple's spec has none today), then Apple's documented limits for App Store
//! metadata ([`APPLE_LIMITS`]), then crabapple's conservative caps for names ([`MAX_NAME`])
//! and any other text ([`MAX_TEXT`]). Too long is Apple's 409 `ENTITY_ERROR.ATTRIBUTE.INVALID`
//! with the attribute's pointer. Lengths count characters, as Apple's limits do.
//!
//! Also here, as the one pass over a request's strings: no attribute value and no related id
//! may hold U+0000 (NUL), the same 409 (`RELATIONSHIP.INVALID` for an id). No App Store Connect
//! text holds one, and PostgreSQL cannot store one (its `text` refuses the byte, `jsonb` the
//! `\u0000` escape): refused on every backend, so both answer alike (found by the fuzz test on
//! PostgreSQL, issue 12).

use crate::schema::Violation;
use serde_json::Value;

/// Apple's documented limits (App Store Connect Help, "App information", "Platform version
/// information", "In-app purchase information", "Auto-renewable subscription information"):
/// (resource type, attribute, characters).
pub const APPLE_LIMITS: &[(&str, &str, usize)] = &[
    ("appInfoLocalizations", "name", 30),
    ("appInfoLocalizations", "subtitle", 30),
    ("appStoreVersionLocalizations", "keywords", 100),
    ("appStoreVersionLocalizations", "promotionalText", 170),
    ("appStoreVersionLocalizations", "description", 4000),
    ("appStoreVersionLocalizations", "whatsNew", 4000),
    ("appStoreReviewDetails", "notes", 4000),
    ("betaAppLocalizations", "description", 4000),
    ("betaBuildLocalizations", "whatsNew", 4000),
    ("inAppPurchaseLocalizations", "name", 30),
    ("inAppPurchaseLocalizations", "description", 45),
    ("subscriptionLocalizations", "name", 30),
    ("subscriptionLocalizations", "description", 45),
    ("subscriptionGroupLocalizations", "name", 75),
];

/// crabapple's cap for any other name (`name` or an attribute ending in `Name`): Apple
/// documents none for most (bundle IDs, devices, groups); 255 is more than any it shows.
pub const MAX_NAME: usize = 255;
/// crabapple's cap for any other string attribute: far above Apple's longest documented text
/// (4000 characters) so that certificates' CSRs and agreement texts still fit.
pub const MAX_TEXT: usize = 64 * 1024;

/// The limit of `attribute` of `rtype`.
pub fn limit(rtype: &str, attribute: &str) -> usize {
    APPLE_LIMITS
        .iter()
        .find(|(t, a, _)| *t == rtype && *a == attribute)
        .map(|(_, _, n)| *n)
        .unwrap_or(if attribute == "name" || attribute.ends_with("Name") {
            MAX_NAME
        } else {
            MAX_TEXT
        })
}

/// Why U+0000 is refused (see the module's documentation).
const NUL: &str = "it contains the character U+0000 (NUL)";

/// `s` at `ptr` against `max` characters (and U+0000).
pub fn check(s: &str, max: usize, ptr: &str) -> Result<(), Violation> {
    if s.contains('\0') {
        return Err(Violation::Invalid(ptr.to_string(), NUL.to_string()));
    }
    // Bytes bound characters from above: most strings need no count.
    if s.len() <= max {
        return Ok(());
    }
    let n = s.chars().count();
    if n <= max {
        return Ok(());
    }
    Err(Violation::Invalid(
        ptr.to_string(),
        format!("it is {n} characters long; the limit is {max}"),
    ))
}

/// Every string attribute of the document's `data` (strings in arrays too) against its limit.
pub fn check_document(doc: &Value) -> Result<(), Violation> {
    let data = &doc["data"];
    if let Value::Array(linkages) = data {
        // A relationship endpoint's document: its ids.
        if linkages
            .iter()
            .filter_map(|l| l["id"].as_str())
            .any(|i| i.contains('\0'))
        {
            return Err(Violation::Invalid("/data".to_string(), NUL.to_string()));
        }
        return Ok(());
    }
    let rtype = data["type"].as_str().unwrap_or_default();
    if let Some(rels) = data["relationships"].as_object() {
        for (name, rel) in rels {
            let ids: Vec<&Value> = match &rel["data"] {
                Value::Array(items) => items.iter().map(|i| &i["id"]).collect(),
                one => vec![&one["id"]],
            };
            if ids
                .iter()
                .filter_map(|i| i.as_str())
                .any(|i| i.contains('\0'))
            {
                let ptr = format!("/data/relationships/{name}");
                return Err(Violation::Invalid(ptr, NUL.to_string()));
            }
        }
    }
    let Some(attrs) = data["attributes"].as_object() else {
        return Ok(());
    };
    for (name, v) in attrs {
        let max = limit(rtype, name);
        let ptr = format!("/data/attributes/{name}");
        match v {
            Value::String(s) => check(s, max, &ptr)?,
            Value::Array(items) => {
                for s in items.iter().filter_map(Value::as_str) {
                    check(s, max, &ptr)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apples_documented_limits_then_names_then_text() {
        assert_eq!(limit("appInfoLocalizations", "name"), 30);
        assert_eq!(limit("bundleIds", "name"), MAX_NAME);
        assert_eq!(limit("users", "firstName"), MAX_NAME);
        assert_eq!(limit("certificates", "csrContent"), MAX_TEXT);
    }

    /// Issue 12 (the fuzz test on PostgreSQL): U+0000 in an attribute or a related id is
    /// Apple's 409 on every backend.
    #[test]
    fn a_nul_character_is_an_invalid_attribute_or_relationship() {
        let doc = serde_json::json!({"data": {"type": "bundleIds",
            "attributes": {"name": "a\u{0}b", "identifier": "com.x"}}});
        let e = check_document(&doc).unwrap_err().into_error();
        assert_eq!(
            (e.status, e.code.as_str()),
            (409, "ENTITY_ERROR.ATTRIBUTE.INVALID")
        );
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "The attribute 'name' has an invalid value: it contains the character U+0000 (NUL)"
            )
        );
        let doc = serde_json::json!({"data": {"type": "betaGroups", "attributes": {"name": "g"},
            "relationships": {"app": {"data": {"type": "apps", "id": "1\u{0}"}}}}});
        let e = check_document(&doc).unwrap_err().into_error();
        assert_eq!(
            (e.status, e.code.as_str()),
            (409, "ENTITY_ERROR.RELATIONSHIP.INVALID")
        );
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "The relationship 'app' has an invalid value: it contains the character U+0000 (NUL)"
            )
        );
    }

    #[test]
    fn characters_not_bytes_are_counted() {
        assert!(check(&"é".repeat(30), 30, "/p").is_ok());
        let e = check(&"é".repeat(31), 30, "/data/attributes/name").unwrap_err();
        let e = e.into_error();
        assert_eq!(e.status, 409);
        assert_eq!(e.code, "ENTITY_ERROR.ATTRIBUTE.INVALID");
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "The attribute 'name' has an invalid value: it is 31 characters long; the limit is 30"
            )
        );
    }
}

#[cfg(test)]
mod spec_max_length {
    use serde_json::json;

    /// The spec's `maxLength` (kept by xtask's manifest) is enforced where a shape has one.
    #[test]
    fn a_shapes_max_length_is_enforced() {
        let m: crabapple_spec::Manifest = serde_json::from_value(json!({
            "version": "t", "operations": [], "resources": {}, "schemas": {}
        }))
        .unwrap();
        let shape = json!({"type": "string", "maxLength": 3});
        let ok = crate::schema::validate(&m, &json!("abc"), &shape, "/data/attributes/code");
        assert!(ok.is_ok());
        let e = crate::schema::validate(&m, &json!("abcd"), &shape, "/data/attributes/code")
            .unwrap_err()
            .into_error();
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "The attribute 'code' has an invalid value: it is 4 characters long; the limit is 3"
            )
        );
    }
}
