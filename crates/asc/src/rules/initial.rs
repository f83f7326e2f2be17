//! Every value Apple fills when a resource is created (issue 7 §2) and the client did not send:
//! a small table of Apple's documented initial values (defaults.rs) plus generic rules over the
//! spec's attribute shapes, so a create answers what Apple answers instead of `null`. Runs after every
//! other family (their values win) and never overwrites what the client sent.
//!
//! Generic rules, in order, for each attribute of the type the spec declares and nothing set:
//! 1. the value of `defaults.rs`'s [`INITIAL`] table (its plain values are applied there, before
//!    the other families; `@now`: the virtual clock; `@next`: one more than the parent's existing
//!    children of this type, Apple's numbering of versions, build runs, group levels; `@unset`:
//!    nothing, Apple answers `null`);
//! 2. upload values of a reservation (`uploads.rs`) on types with `uploadOperations`;
//! 3. `lastModifiedDate` = now; a `version` = `@next` (1 for the first version of its parent);
//! 4. a boolean → `false` (Apple's default for every flag it does not document as on);
//! 5. an array → `[]`; a map (object without properties) → `{}`;
//! 6. a state object (only lists and a `state` enum, e.g. `AppMediaAssetState`,
//!    `BuildUpload.state`) → empty lists and its first state;
//! 7. a state-like enum (`state`, `status`, `…State`, `…Status`) → its first value: the spec
//!    lists each lifecycle from its first state (PREPARE_FOR_SUBMISSION, DRAFT, CREATED,
//!    READY_FOR_REVIEW, WAITING_FOR_REVIEW, AWAITING_UPLOAD, INACTIVE, PENDING, RECEIVED …);
//!    the table names the exceptions.
//!
//! What stays unset is what Apple answers `null` for until it happens (texts of a new
//! localization, checksums and processed images before an upload is committed, dates of
//! events that have not happened): tests/prism/unset-on-create.tsv lists those, with why.

use super::defaults::INITIAL;
use super::uploads;
use crabapple_jsonapi::{BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use serde_json::{Map, Value, json};

pub struct Initial;

/// Is this attribute a lifecycle state (rule 7)?
fn state_like(name: &str) -> bool {
    name == "state" || name == "status" || name.ends_with("State") || name.ends_with("Status")
}

impl Family for Initial {
    fn name(&self) -> &'static str {
        "initial"
    }
    fn before_write<'a>(
        &'a self,
        engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), crabapple_jsonapi::AscError>> {
        Box::pin(async move {
            if w.existing.is_none() {
                fill(engine, tx, w).await?;
            }
            Ok(())
        })
    }
}

async fn fill(
    engine: &Engine,
    tx: &mut Tx,
    w: &mut Write,
) -> Result<(), crabapple_jsonapi::AscError> {
    let m = engine.manifest;
    let Some(rt) = m.resources.get(&w.rtype) else {
        return Ok(());
    };
    let now = tx.now_ms();
    if let Some(ops) = rt.attributes.get("uploadOperations") {
        let item = m.resolve(ops).get("items").cloned().unwrap_or_default();
        let delivery =
            item.get("$ref").and_then(Value::as_str) == Some("DeliveryFileUploadOperation");
        uploads::reserve(w, now, |a| rt.attributes.contains_key(a), delivery);
    }
    if w.rtype == "appCustomProductPages" && !w.attributes.contains_key("url") {
        // The page's App Store link: the app's product page with the page's id.
        if let Some((_, app)) = linked(w, "app") {
            let url = format!("https://apps.apple.com/app/id{app}?ppid={}", w.id);
            w.attributes.insert("url".into(), json!(url));
        }
    }
    for (name, shape) in &rt.attributes {
        if w.attributes.contains_key(name) {
            continue;
        }
        let table = INITIAL
            .iter()
            .find(|(t, a, _)| *t == w.rtype && a == name)
            .map(|(_, _, v)| *v);
        let s = m.resolve(shape);
        let kind = s.get("type").and_then(Value::as_str).unwrap_or_default();
        let value = match table {
            Some("@unset") => None,
            Some("@now") => Some(json!(super::rfc3339(now))),
            Some("@next") => Some(json!(next(engine, tx, w).await?)),
            Some(v) => serde_json::from_str(v).ok(),
            None if name == "lastModifiedDate" => Some(json!(super::rfc3339(now))),
            None if name == "version" && kind == "integer" => {
                Some(json!(next(engine, tx, w).await?))
            }
            None if name == "version" && kind == "string" => {
                Some(json!(next(engine, tx, w).await?.to_string()))
            }
            None => generic(m, name, s, kind),
        };
        if let Some(v) = value {
            w.attributes.insert(name.clone(), v);
        }
    }
    Ok(())
}

/// Rules 4–7 for one attribute of resolved shape `s`.
fn generic(m: &crabapple_spec::Manifest, name: &str, s: &Value, kind: &str) -> Option<Value> {
    match kind {
        "boolean" => Some(Value::Bool(false)),
        "array" => Some(json!([])),
        "object" => {
            let props = s.get("properties").and_then(Value::as_object);
            let Some(props) = props.filter(|p| !p.is_empty()) else {
                return Some(json!({}));
            };
            let mut out = Map::new();
            for (k, p) in props {
                let p = m.resolve(p);
                match (p.get("type").and_then(Value::as_str), first_enum(p)) {
                    (Some("array"), _) => out.insert(k.clone(), json!([])),
                    (_, Some(first)) if k == "state" => out.insert(k.clone(), first),
                    _ => return None,
                };
            }
            Some(Value::Object(out))
        }
        "string" if state_like(name) => first_enum(s),
        _ => None,
    }
}

fn first_enum(s: &Value) -> Option<Value> {
    s.get("enum").and_then(Value::as_array)?.first().cloned()
}

/// The first target of a to-one relationship the write sets.
fn linked<'w>(w: &'w Write, rel: &str) -> Option<&'w (String, String)> {
    w.relationships
        .iter()
        .find(|(r, _)| r == rel)
        .and_then(|(_, to)| to.first())
}

/// One more than the resources of this type the new one's parent already has (through the
/// first relationship the write sets whose inverse the spec knows): version 1, 2, …
async fn next(engine: &Engine, tx: &mut Tx, w: &Write) -> Result<i64, crabapple_jsonapi::AscError> {
    let rels = engine
        .manifest
        .resources
        .get(&w.rtype)
        .map(|r| &r.relationships);
    for (rel, to) in &w.relationships {
        let Some(inverse) = rels
            .and_then(|r| r.get(rel))
            .and_then(|r| r.inverse.as_deref())
        else {
            continue;
        };
        if let Some((pt, pid)) = to.first() {
            let siblings = tx.linked(pt, pid, inverse).await?;
            return Ok(siblings.iter().filter(|(t, _)| *t == w.rtype).count() as i64 + 1);
        }
    }
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rtype: &str, attr: &str) -> (&'static crabapple_spec::Manifest, Value) {
        let m = crabapple_spec::Manifest::get();
        let s = m.resolve(&m.resources[rtype].attributes[attr]).clone();
        (m, s)
    }

    fn filled(rtype: &str, attr: &str) -> Option<Value> {
        let (m, s) = shape(rtype, attr);
        let kind = s.get("type").and_then(Value::as_str).unwrap_or_default();
        generic(m, attr, &s, kind)
    }

    #[test]
    fn state_like_enums_start_at_the_specs_first_state_and_other_enums_stay_unset() {
        assert_eq!(
            filled("reviewSubmissions", "state"),
            Some(json!("READY_FOR_REVIEW"))
        );
        assert_eq!(filled("appEvents", "eventState"), Some(json!("DRAFT")));
        assert_eq!(
            filled("appClipAdvancedExperiences", "placeStatus"),
            Some(json!("PENDING"))
        );
        // Not a lifecycle: chosen by the developer (tests/prism/unset-on-create.tsv).
        assert_eq!(filled("appEvents", "purpose"), None);
    }

    #[test]
    fn flags_are_false_lists_empty_maps_empty_and_state_objects_awaiting_upload() {
        assert_eq!(filled("betaGroups", "feedbackEnabled"), Some(json!(false)));
        assert_eq!(filled("bundleIdCapabilities", "settings"), Some(json!([])));
        assert_eq!(
            filled("gameCenterActivities", "properties"),
            Some(json!({}))
        );
        assert_eq!(
            filled("buildUploads", "state"),
            Some(json!({"errors": [], "warnings": [], "infos": [], "state": "AWAITING_UPLOAD"}))
        );
        // An object with other members (an image) is not guessed.
        assert_eq!(filled("appPreviews", "previewFrameImage"), None);
    }

    #[test]
    fn a_run_has_no_completion_status_until_it_completes() {
        let v = INITIAL
            .iter()
            .find(|(t, a, _)| *t == "ciBuildRuns" && *a == "completionStatus");
        assert_eq!(v.map(|(_, _, v)| *v), Some("@unset"));
    }
}
