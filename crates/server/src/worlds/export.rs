//! A world written back as a seed file (crates/asc/world/README.md's format), which `worlds
//! create --seed` (or `POST /crabapple/admin/worlds`) turns into an equal world: the team, every
//! stored resource of Apple's types with its attributes, creation age (`createdDaysAgo`) and
//! linkage (both sides of every link, as stored: `exactLinkage`), the API keys by kind, roles and name (new key pairs are minted on import: private
//! keys never leave a world), and the virtual clock's offset ([`super::Extras`]).
//!
//! Left out, because a seed cannot express them: the commerce ledger (customers, transactions,
//! subscriptions), notifications and their delivery history, report files and analytics
//! instances, uploaded asset files, settings made through the admin API (notification URLs,
//! build and analytics settings), armed faults, and linkage through relationships Apple's spec
//! does not declare.

use super::{Extras, SeedClock, SeedKey};
use crate::App;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

const DAY_MS: i64 = 86_400_000;

/// The seed of `app`'s world, as YAML, opened by a comment naming `title`.
pub async fn seed_yaml(app: &App, title: &str) -> anyhow::Result<String> {
    let doc = seed(app).await?;
    let yaml = serde_yaml::to_string(&doc)?;
    Ok(format!(
        "# crabapple world export: {title}\n# Create an equal world: crabapple worlds create \
         --seed FILE (ledger, notifications, reports and uploaded files are not exported)\n{yaml}"
    ))
}

/// The seed of `app`'s world as a JSON value.
pub async fn seed(app: &App) -> anyhow::Result<Value> {
    let store = app.store();
    let engine = &app.engine;
    let m = engine.manifest;
    let now = store.now_ms();
    let mut team = Map::new();
    for (key, field) in [
        ("team.id", "id"),
        ("team.name", "name"),
        ("team.issuerId", "issuerId"),
        ("team.vendorNumber", "vendorNumber"),
    ] {
        if let Some(v) = store.meta_get(key).await? {
            team.insert(field.into(), json!(v));
        }
    }
    // Every stored resource of the spec's types, in creation order.
    let mut stored: BTreeMap<String, Vec<crabapple_store::Resource>> = BTreeMap::new();
    for (rtype, n) in store.type_counts().await? {
        if !m.resources.contains_key(&rtype) || engine.is_computed(&rtype) {
            continue;
        }
        let q = crabapple_store::ListQuery {
            rtype: rtype.clone(),
            limit: n.max(1),
            ..Default::default()
        };
        stored.insert(rtype, store.list(&q).await?.0);
    }
    let exists: HashSet<(&str, &str)> = stored
        .values()
        .flatten()
        .map(|r| (r.rtype.as_str(), r.id.as_str()))
        .collect();
    // Every linkage through the spec's relationships, in its order.
    let mut linkage: HashMap<(String, String, String), Vec<(String, String)>> = HashMap::new();
    for (rtype, list) in &stored {
        let ids: Vec<String> = list.iter().map(|r| r.id.clone()).collect();
        for rel in m.resources[rtype].relationships.keys() {
            for (src, (targets, _)) in store.linked_batch(rtype, &ids, rel, i64::MAX).await? {
                let targets: Vec<_> = targets
                    .into_iter()
                    .filter(|(t, i)| exists.contains(&(t.as_str(), i.as_str())))
                    .collect();
                if !targets.is_empty() {
                    linkage.insert((rtype.clone(), src, rel.clone()), targets);
                }
            }
        }
    }
    let mut resources = Map::new();
    for (rtype, list) in &stored {
        let rt = &m.resources[rtype];
        let mut out = Vec::with_capacity(list.len());
        for r in list {
            let mut entry = Map::new();
            entry.insert("id".into(), json!(r.id));
            let days = (now - r.created_ms).div_euclid(DAY_MS);
            if days > 0 {
                entry.insert("createdDaysAgo".into(), json!(days));
            }
            entry.insert("attributes".into(), Value::Object(r.attributes.clone()));
            let mut rels = Map::new();
            for (rel, info) in &rt.relationships {
                let Some(targets) = linkage.get(&(rtype.clone(), r.id.clone(), rel.clone())) else {
                    continue;
                };
                let typed = |(t, i): &(String, String)| json!({ "type": t, "id": i });
                match (info.to_many, targets.as_slice()) {
                    (false, [one]) => {
                        rels.insert(rel.clone(), typed(one));
                    }
                    _ => {
                        rels.insert(
                            rel.clone(),
                            Value::Array(targets.iter().map(typed).collect()),
                        );
                    }
                }
            }
            if !rels.is_empty() {
                entry.insert("relationships".into(), Value::Object(rels));
            }
            out.push(Value::Object(entry));
        }
        resources.insert(rtype.clone(), Value::Array(out));
    }
    let keys: Vec<SeedKey> = store
        .keys()
        .await?
        .into_iter()
        .filter(|k| !k.revoked)
        .map(|k| SeedKey {
            kind: k.kind,
            roles: k.roles,
            user_id: k.user_id,
            name: Some(k.name),
        })
        .collect();
    let offset = store.clock.offset_ms();
    let extras = Extras {
        keys,
        clock: (offset > 0).then_some(SeedClock { offset_ms: offset }),
        exact_linkage: true,
    };
    let mut doc = Map::new();
    doc.insert("team".into(), Value::Object(team));
    // Everything is in the file: nothing to synthesize, no attribute to complete.
    doc.insert("synthesize".into(), json!(false));
    doc.insert("resources".into(), Value::Object(resources));
    if let Value::Object(e) = serde_json::to_value(&extras)? {
        doc.extend(e);
    }
    Ok(Value::Object(doc))
}
