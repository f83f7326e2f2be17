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
    /// The team id (its App ID prefix, the `seedId` of its bundle IDs); random when absent.
    #[serde(default)]
    pub id: Option<String>,
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
    /// Give the seed's resources a plausible value for every attribute they leave out (default
    /// false: left out means `null`, as Apple sends unset attributes). The demo world sets it so
    /// that every response it produces also validates against Apple's spec, which declares no
    /// attribute nullable.
    #[serde(default, rename = "completeAttributes")]
    pub complete_attributes: Option<bool>,
    /// crabapple's Analytics Reports settings and injected faults (world/README.md, "Analytics").
    #[serde(default)]
    pub analytics: Option<Value>,
    /// Faults on demand armed when the world loads (crabapple_http::faults; world/README.md,
    /// "Faults"): a list of `{route, kind, …}`. A world without the key arms none.
    #[serde(default)]
    pub faults: Option<Value>,
    /// crabapple's build processing and Beta App Review settings (world/README.md, "Builds").
    #[serde(default)]
    pub builds: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedResource {
    pub id: String,
    /// crabapple's own key: the resource was created this many days before the world's first
    /// start (Apple's resources have a history; what depends on creation time — analytics report
    /// instances appear 24–48 h after their request — sees it).
    #[serde(default, rename = "createdDaysAgo")]
    pub created_days_ago: Option<u32>,
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

/// Loads `seed` into the store in one transaction (nothing is written if any part fails). Its
/// resources and linkage are kept in memory and written in multi-row statements
/// (`Tx::batch_writes`): creating a demo world takes 214 statements instead of 4,512 (issue 12,
/// the demo world in under 1 s on PostgreSQL).
pub async fn load(engine: &Engine, seed: &Seed) -> anyhow::Result<Loaded> {
    let m = engine.manifest;
    let mut tx = engine.store.begin().await?;
    tx.batch_writes().await?;
    let mut out = Loaded::default();
    for (rtype, list) in &seed.resources {
        anyhow::ensure!(
            m.resources.contains_key(rtype),
            "seed: '{rtype}' is not a resource type of Apple's spec"
        );
        for (n, r) in list.iter().enumerate() {
            if seed.complete_attributes.unwrap_or(false) {
                let mut attrs = synth_attributes(engine, rtype, n as u64);
                dates_after_the_seeds(engine, rtype, &mut attrs, &r.attributes, n as u64);
                attrs.extend(r.attributes.clone());
                tx.put(rtype, &r.id, &attrs).await?;
            } else {
                tx.put(rtype, &r.id, &r.attributes).await?;
            }
            if let Some(days) = r.created_days_ago {
                let at = tx.now_ms() - i64::from(days) * 86_400_000;
                tx.set_created_ms(rtype, &r.id, at).await?;
            }
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
    // What Apple creates with every app, app info and build (rules/singletons.rs).
    let complete = seed.complete_attributes.unwrap_or(false);
    crate::rules::singletons::ensure_all(engine, &mut tx, complete).await?;
    if seed.synthesize.unwrap_or(true) {
        synthesize(engine, &mut tx, &mut out).await?;
    }
    // Builds still processing finish, valid ones expire, reviews go on (rules/builds.rs).
    crate::rules::builds::load_world(&mut tx, seed.builds.as_ref()).await?;
    crabapple_reports::analytics::lifecycle::load_world(&mut tx, seed.analytics.as_ref()).await?;
    let mut faults = match &seed.faults {
        Some(v) => {
            crabapple_http::faults::parse_list(v).map_err(|e| anyhow::anyhow!("seed: {e}"))?
        }
        None => Vec::new(),
    };
    crabapple_http::faults::number(&mut faults);
    tx.meta_set(
        crabapple_http::faults::META_KEY,
        &serde_json::to_string(&faults)?,
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Attributes for a synthesized resource of `rtype`.
/// Attributes for a synthesized resource of `rtype`: every attribute any of the type's schemas
/// declares (the v1 and v2 schemas of a type render different sets).
pub(crate) fn synth_attributes(engine: &Engine, rtype: &str, n: u64) -> Map<String, Value> {
    let m = engine.manifest;
    let mut attrs = Map::new();
    let Some(rt) = m.resources.get(rtype) else {
        return attrs;
    };
    for (k, shape) in &rt.attributes {
        let v = synth::value(m, shape, k, n);
        if !v.is_null() {
            attrs.insert(k.clone(), v);
        }
    }
    attrs
}

/// The dates a resource's other dates follow.
const DATE_ANCHORS: [&str; 4] = ["createdDate", "uploadedDate", "addedDate", "submittedDate"];

/// A completed seed resource reads coherently (issue 7 §2): every date the seed leaves out comes
/// a few days after the date it does give (`createdDate`, `uploadedDate`, …), never before it,
/// so nothing is released before it was created.
fn dates_after_the_seeds(
    engine: &Engine,
    rtype: &str,
    attrs: &mut Map<String, Value>,
    seeded: &Map<String, Value>,
    n: u64,
) {
    let Some(rt) = engine.manifest.resources.get(rtype) else {
        return;
    };
    let base = DATE_ANCHORS
        .iter()
        .find_map(|k| seeded.get(*k).and_then(Value::as_str))
        .and_then(|d| d.parse::<jiff::Timestamp>().ok());
    let Some(base) = base else {
        return;
    };
    for (k, shape) in &rt.attributes {
        if seeded.contains_key(k) || !attrs.contains_key(k) {
            continue;
        }
        let later =
            base + jiff::SignedDuration::from_hours(24 * (1 + (n as i64 + k.len() as i64) % 13));
        let text = match shape.get("format").and_then(Value::as_str) {
            Some("date-time") => later.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Some("date") => later.strftime("%Y-%m-%d").to_string(),
            _ => continue,
        };
        attrs.insert(k.clone(), Value::String(text));
    }
}

/// Writes a synthesized resource, letting the families complete it as they complete a create
/// (real certificate content, creation dates, initial states).
async fn put_synthesized(
    engine: &Engine,
    tx: &mut Tx,
    rtype: &str,
    id: &str,
    n: u64,
) -> anyhow::Result<()> {
    let mut w = crabapple_jsonapi::Write {
        op_id: "synthesize".into(),
        rtype: rtype.to_string(),
        id: id.to_string(),
        attributes: {
            let mut attrs = synth_attributes(engine, rtype, n);
            let anchors: Map<String, Value> = attrs
                .iter()
                .filter(|(k, _)| DATE_ANCHORS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            dates_after_the_seeds(engine, rtype, &mut attrs, &anchors, n);
            attrs
        },
        relationships: Vec::new(),
        existing: None,
        base: String::new(),
    };
    for f in engine.families() {
        // A rule that refuses a synthesized value (e.g. a limit) leaves the plain values.
        let _ = f.before_write(engine, tx, &mut w).await;
    }
    tx.put(rtype, id, &w.attributes).await?;
    Ok(())
}

/// Fills the world so every endpoint of the spec has something to show, without touching what the
/// seed wrote: a seed's resources keep exactly the linkage it gave them (an unset to-one is
/// Apple's `data: null`). Synthesized resources form their own sub-world: one instance of every type
/// the seed leaves empty, one more of a seeded type when none of its instances has some to-one
/// relationship, and every to-one relationship of a synthesized resource linked to another
/// synthesized resource (a fresh one when a one-to-one partner is taken).
async fn synthesize(engine: &Engine, tx: &mut Tx, out: &mut Loaded) -> anyhow::Result<()> {
    let m = engine.manifest;
    let mut n = 0u64;
    // The synthesized instance of each type that others link to.
    let mut synth: HashMap<String, String> = HashMap::new();
    // (type, id, depth): fresh partners do not spawn fresh partners past MAX_DEPTH (the type
    // graph has cycles).
    let mut queue: VecDeque<(String, String, u8)> = VecDeque::new();
    const MAX_DEPTH: u8 = 2;
    for (rtype, rt) in &m.resources {
        if engine.is_computed(rtype) {
            continue;
        }
        let seeded = !tx_ids(tx, rtype).await?.is_empty();
        let mut needed = !seeded;
        if seeded {
            for (rel, info) in &rt.relationships {
                if !info.to_many && info.target.is_some() && !tx.has_linkage(rtype, rel).await? {
                    needed = true;
                    break;
                }
            }
        }
        if needed {
            n += 1;
            let id = synth_id(engine, rtype, n);
            put_synthesized(engine, tx, rtype, &id, n).await?;
            out.synthesized += 1;
            synth.insert(rtype.clone(), id.clone());
            queue.push_back((rtype.clone(), id, 0));
        }
    }
    let mut taken: HashSet<(String, String, String)> = HashSet::new();
    while let Some((rtype, id, depth)) = queue.pop_front() {
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
            if engine.is_computed(&target) {
                continue;
            }
            if !tx.linked(&rtype, &id, rel).await?.is_empty() {
                continue;
            }
            let inverse_to_one = info.inverse.as_ref().is_some_and(|inv| {
                m.resources
                    .get(&target)
                    .and_then(|t| t.relationships.get(inv))
                    .is_some_and(|r| !r.to_many)
            });
            let dst = match synth.get(&target).cloned() {
                Some(d) => {
                    let busy = match &info.inverse {
                        Some(inv) if inverse_to_one => {
                            taken.contains(&(target.clone(), d.clone(), inv.clone()))
                                || !tx.linked(&target, &d, inv).await?.is_empty()
                        }
                        _ => false,
                    };
                    if !busy {
                        Some(d)
                    } else if depth < MAX_DEPTH {
                        n += 1;
                        let nid = synth_id(engine, &target, n);
                        put_synthesized(engine, tx, &target, &nid, n).await?;
                        out.synthesized += 1;
                        queue.push_back((target.clone(), nid.clone(), depth + 1));
                        Some(nid)
                    } else {
                        None
                    }
                }
                None => {
                    n += 1;
                    let nid = synth_id(engine, &target, n);
                    put_synthesized(engine, tx, &target, &nid, n).await?;
                    out.synthesized += 1;
                    synth.insert(target.clone(), nid.clone());
                    queue.push_back((target.clone(), nid.clone(), depth + 1));
                    Some(nid)
                }
            };
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
        // Territory ids are ISO alpha-3 codes; synthesized ones use codes the demo does not.
        "territories" => ["BRA", "MEX", "KOR", "ITA", "ESP", "NLD"][(n % 6) as usize].to_string(),
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
