//! The world a store starts with: the embedded demo world (`world/demo.yaml`) or a user's seed
//! file in the same format (documented in `world/README.md`), then — so that every family of the
//! spec has something to list — one synthesized instance of every type the seed leaves empty and
//! linkage for every to-one relationship left unset.

use crabapple_jsonapi::Engine;
use crabapple_jsonapi::synth;
use crabapple_store::Tx;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

pub const DEMO_YAML: &str = include_str!("../world/demo.yaml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub issuer_id: Option<String>,
    #[serde(default)]
    pub vendor_number: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Seed {
    #[serde(default)]
    pub team: Team,
    #[serde(default)]
    pub resources: BTreeMap<String, Vec<SeedResource>>,
    /// Fill empty types and unset to-one relationships (default true).
    #[serde(default)]
    pub synthesize: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedResource {
    pub id: String,
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub relationships: BTreeMap<String, SeedLink>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SeedLink {
    One(String),
    Typed { r#type: String, id: String },
    Many(Vec<SeedItem>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SeedItem {
    Id(String),
    Typed { r#type: String, id: String },
}

impl Seed {
    pub fn parse(yaml: &str) -> anyhow::Result<Seed> {
        Ok(serde_yaml::from_str(yaml)?)
    }

    pub fn demo() -> Seed {
        Seed::parse(DEMO_YAML).expect("the embedded demo world parses")
    }
}

/// What loading wrote.
#[derive(Debug, Default)]
pub struct Loaded {
    pub seeded: usize,
    pub synthesized: usize,
    pub linked: usize,
}

/// Loads `seed` into the store in one transaction (nothing is written if any part fails).
pub async fn load(engine: &Engine, seed: &Seed) -> anyhow::Result<Loaded> {
    let m = engine.manifest;
    let mut tx = engine.store.begin().await?;
    let mut out = Loaded::default();
    for (rtype, list) in &seed.resources {
        anyhow::ensure!(
            m.resources.contains_key(rtype),
            "seed: '{rtype}' is not a resource type of Apple's spec"
        );
        for r in list {
            tx.put(rtype, &r.id, &r.attributes).await?;
            out.seeded += 1;
        }
    }
    for (rtype, list) in &seed.resources {
        let rels = &m.resources[rtype].relationships;
        for r in list {
            for (name, link) in &r.relationships {
                let target = rels.get(name).and_then(|x| x.target.clone());
                let resolve = |id: &str, t: Option<&str>| -> anyhow::Result<(String, String)> {
                    let t = t
                        .map(str::to_string)
                        .or_else(|| target.clone())
                        .ok_or_else(|| {
                            anyhow::anyhow!("seed: {rtype}/{}: unknown relationship '{name}'", r.id)
                        })?;
                    Ok((t, id.to_string()))
                };
                let targets: Vec<(String, String)> = match link {
                    SeedLink::One(id) => vec![resolve(id, None)?],
                    SeedLink::Typed { r#type, id } => vec![resolve(id, Some(r#type))?],
                    SeedLink::Many(items) => items
                        .iter()
                        .map(|i| match i {
                            SeedItem::Id(id) => resolve(id, None),
                            SeedItem::Typed { r#type, id } => resolve(id, Some(r#type)),
                        })
                        .collect::<anyhow::Result<_>>()?,
                };
                for (t, id) in &targets {
                    anyhow::ensure!(
                        tx.exists(t, id).await?,
                        "seed: {rtype}/{}: relationship '{name}' points at {t}/{id}, which the seed does not define",
                        r.id
                    );
                    engine
                        .link(&mut tx, (rtype, &r.id), name, (t, id))
                        .await
                        .map_err(|e| anyhow::anyhow!(e.reason))?;
                    out.linked += 1;
                }
            }
        }
    }
    if seed.synthesize.unwrap_or(true) {
        synthesize(engine, &mut tx, &mut out).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Attributes for a synthesized resource of `rtype`.
fn synth_attributes(engine: &Engine, rtype: &str, n: u64) -> Map<String, Value> {
    let m = engine.manifest;
    let mut attrs = Map::new();
    let Some(schema) = engine
        .schemas
        .default_for_type
        .get(rtype)
        .and_then(|s| engine.schemas.resources.get(s))
    else {
        return attrs;
    };
    for (k, shape) in &schema.attributes {
        let v = synth::value(m, shape, k, n);
        if !v.is_null() {
            attrs.insert(k.clone(), v);
        }
    }
    attrs
}

async fn synthesize(engine: &Engine, tx: &mut Tx, out: &mut Loaded) -> anyhow::Result<()> {
    let m = engine.manifest;
    // Existing resources per type (first one is the default link target).
    let mut first: HashMap<String, String> = HashMap::new();
    // (type, id, depth): fresh instances made to satisfy a one-to-one partner are filled too,
    // but do not themselves spawn fresh instances past MAX_DEPTH (type graphs have cycles).
    let mut queue: VecDeque<(String, String, u8)> = VecDeque::new();
    let mut n = 0u64;
    // The read pool does not see this transaction, so track what the seed wrote from the tx.
    for rtype in m.resources.keys() {
        let ids = tx_ids(tx, rtype).await?;
        if let Some(id) = ids.first() {
            first.insert(rtype.clone(), id.clone());
        }
        for id in ids {
            queue.push_back((rtype.clone(), id, 0));
        }
    }
    for rtype in m.resources.keys() {
        if first.contains_key(rtype) {
            continue;
        }
        n += 1;
        let id = synth_id(engine, rtype, n);
        tx.put(rtype, &id, &synth_attributes(engine, rtype, n))
            .await?;
        out.synthesized += 1;
        first.insert(rtype.clone(), id.clone());
        queue.push_back((rtype.clone(), id, 0));
    }
    // Every to-one relationship gets linkage; a target already taken by a one-to-one partner
    // gets a fresh synthesized instance instead of being moved.
    let mut taken: HashSet<(String, String, String)> = HashSet::new();
    let mut budget = 20_000usize;
    const MAX_DEPTH: u8 = 2;
    while let Some((rtype, id, depth)) = queue.pop_front() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            break;
        }
        let Some(rt) = m.resources.get(&rtype) else {
            continue;
        };
        for (rel, info) in &rt.relationships {
            if info.to_many {
                continue;
            }
            let Some(target) = info.target.clone() else {
                continue;
            };
            if !tx.linked(&rtype, &id, rel).await?.is_empty() {
                continue;
            }
            let inverse_to_one = info.inverse.as_ref().is_some_and(|inv| {
                m.resources
                    .get(&target)
                    .and_then(|t| t.relationships.get(inv))
                    .is_some_and(|r| !r.to_many)
            });
            let mut dst = first.get(&target).cloned();
            if let (true, Some(d), Some(inv)) = (inverse_to_one, dst.clone(), info.inverse.clone())
            {
                let busy = taken.contains(&(target.clone(), d.clone(), inv.clone()))
                    || !tx.linked(&target, &d, &inv).await?.is_empty();
                if busy && depth >= MAX_DEPTH {
                    continue;
                }
                if busy {
                    n += 1;
                    let nid = synth_id(engine, &target, n);
                    tx.put(&target, &nid, &synth_attributes(engine, &target, n))
                        .await?;
                    out.synthesized += 1;
                    queue.push_back((target.clone(), nid.clone(), depth + 1));
                    dst = Some(nid);
                }
            }
            let Some(dst) = dst else { continue };
            if let Some(inv) = &info.inverse {
                taken.insert((target.clone(), dst.clone(), inv.clone()));
            }
            engine
                .link(tx, (&rtype, &id), rel, (&target, &dst))
                .await
                .map_err(|e| anyhow::anyhow!(e.reason))?;
            out.linked += 1;
        }
    }
    Ok(())
}

async fn tx_ids(tx: &mut Tx, rtype: &str) -> anyhow::Result<Vec<String>> {
    tx.ids(rtype).await
}

fn synth_id(engine: &Engine, rtype: &str, n: u64) -> String {
    match rtype {
        "territories" => ["USA", "GBR", "DEU", "JPN", "FRA", "CAN"][(n % 6) as usize].to_string(),
        _ => engine
            .families()
            .iter()
            .find_map(|f| f.new_id(rtype))
            .unwrap_or_else(|| {
                uuid::Uuid::new_v5(
                    &uuid::Uuid::NAMESPACE_OID,
                    format!("{rtype}/{n}").as_bytes(),
                )
                .to_string()
            }),
    }
}
