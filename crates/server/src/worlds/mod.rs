//! Isolated worlds (issue 12, "One crabapple for a whole organisation"): extra, independent
//! crabapple states on one instance — each its own store (team, keys, apps, virtual clock,
//! commerce ledger, notifications, reports), opened with the same setup code as the data
//! directory's own state, which stays the *default* world.
//!
//! This module owns where a world lives ([`world_dir`], [`open_store`], [`store_exists`],
//! [`drop_store`], side by side: the one place a PostgreSQL backend maps a world to a schema
//! instead), the registry of worlds, and
//! creating, opening and deleting a world. [`front`] routes requests to a world; [`export`]
//! writes a world back as a seed file.
//!
//! **Registry.** A JSON list in the default world's store (`meta` key [`REGISTRY_META`]): per
//! world its id, name, creation time (wall clock, ms) and the ids of the API keys that belong to
//! it. Every process of the data directory (the server, the CLI) reads and writes it in one
//! transaction of the default store, so they agree; a server re-reads it when a token names a key
//! it does not know and every second.
//!
//! **Seeds.** A world starts from the demo world or from a seed file (crates/asc/world/README.md)
//! with more top-level keys a world export writes ([`Extras`]): `keys` (the API keys to mint,
//! by kind, roles and name; private keys are never exported), `clock` (`offsetMs`, how far the
//! virtual clock runs ahead of the wall clock) and `exactLinkage`.

pub mod export;
pub mod front;

use crate::keys::{self, KeyInfo, NewKey};
use crate::setup::{self, WorldChoice};
use crate::{App, Config};
use anyhow::Context;
use crabapple_asc::world::{Seed, SeedItem, SeedLink};
use crabapple_auth::KeyKind;
use crabapple_store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default world's `meta` key holding the registry (a JSON array of [`WorldInfo`]).
pub const REGISTRY_META: &str = "worlds.registry";
/// The seed a world was created from, kept in its directory: `POST …/crabapple/admin/reset` of
/// the world reloads it.
pub const SEED_FILE: &str = "seed.yaml";
/// Where requests for world `id` go when they name it in the path: `/crabapple/worlds/{id}`.
pub const PATH_PREFIX: &str = "/crabapple/worlds/";

/// One world of the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorldInfo {
    pub id: String,
    pub name: String,
    /// Wall clock, ms since the epoch.
    pub created_ms: i64,
    /// API keys of this world: a token naming one of them (its `kid`) is served by this world.
    pub key_ids: Vec<String>,
}

/// Where world `id`'s files live: `DATA/worlds/<id>/` (its `crabapple.db`, key files, PKI).
pub fn world_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("worlds").join(id)
}

/// Opens world `id`'s store — with SQLite, `crabapple.db` in [`world_dir`], by the setup code of
/// every data directory; on a shared PostgreSQL database (`--database`), a schema of its own
/// ([`schema_of_world`]) with its files in [`world_dir`]. The one function that decides where a
/// world's data is (with [`store_exists`] and [`drop_store`]).
pub async fn open_store(data_dir: &Path, id: &str) -> anyhow::Result<Store> {
    let dir = world_dir(data_dir, id);
    match setup::database() {
        Some(setup::Database::Shared(url)) => {
            crabapple_store::files::create_private_dir(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
            let (base, schema) = schema_of_world(url, id);
            Store::connect_schema(&base, &schema, &dir).await
        }
        // SQLite, or the suite's schema per data directory (the world's directory is one).
        _ => setup::open(&dir).await,
    }
}

/// The database URL without a schema and the schema of world `id` on a shared PostgreSQL
/// database: `w_<id>` (`-` as `_`), after the shared store's own schema when its URL names one.
pub fn schema_of_world(url: &str, id: &str) -> (String, String) {
    let own = format!("w_{}", id.to_ascii_lowercase().replace('-', "_"));
    match crabapple_store::schema_of_url(url) {
        Some((base, parent)) if parent.len() + 1 + own.len() <= 63 => {
            (base, format!("{parent}_{own}"))
        }
        Some((base, _)) => (base, own),
        None => (url.to_string(), own),
    }
}

/// The URL of world `id`'s store on the shared PostgreSQL database at `url` (its schema named),
/// for a command run on that world (`crabapple --world ID …`).
pub fn database_url_of_world(url: &str, id: &str) -> String {
    let (base, schema) = schema_of_world(url, id);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

/// Whether world `id` has a store ([`open_store`]'s question, asked before opening one).
pub fn store_exists(data_dir: &Path, id: &str) -> bool {
    let dir = world_dir(data_dir, id);
    valid_id(id)
        && match setup::database() {
            // Its schema is made with its directory and dropped with it.
            Some(_) => dir.is_dir(),
            None => setup::db_path(&dir).exists(),
        }
}

/// Removes everything world `id` stored ([`open_store`]'s counterpart).
pub async fn drop_store(data_dir: &Path, id: &str) -> anyhow::Result<()> {
    let dir = world_dir(data_dir, id);
    match setup::database() {
        Some(setup::Database::Shared(url)) => {
            let (base, schema) = schema_of_world(url, id);
            Store::drop_schema(&base, &schema).await?;
        }
        Some(setup::Database::PerDataDir(url)) => {
            Store::drop_schema(url, &setup::schema_of(&dir)).await?;
        }
        None => {}
    }
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// A world id names a directory and a path segment: letters, digits and `-`, 1 to 64 of them.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The registry as the default store holds it.
pub async fn registry(default: &Store) -> anyhow::Result<Vec<WorldInfo>> {
    match default.meta_get(REGISTRY_META).await? {
        Some(v) if !v.is_empty() => serde_json::from_str(&v).context("the worlds registry"),
        _ => Ok(Vec::new()),
    }
}

/// Changes the registry in one transaction of the default store (processes take turns).
async fn update_registry<R>(
    default: &Store,
    change: impl FnOnce(&mut Vec<WorldInfo>) -> R,
) -> anyhow::Result<R> {
    let mut tx = default.begin().await?;
    let mut list: Vec<WorldInfo> = match tx.meta_get(REGISTRY_META).await? {
        Some(v) if !v.is_empty() => serde_json::from_str(&v).context("the worlds registry")?,
        _ => Vec::new(),
    };
    let out = change(&mut list);
    tx.meta_set(REGISTRY_META, &serde_json::to_string(&list)?)
        .await?;
    tx.commit().await?;
    Ok(out)
}

/// Records `key_ids` as world `id`'s keys (the registry entry's whole list).
pub async fn set_keys(default: &Store, id: &str, key_ids: Vec<String>) -> anyhow::Result<()> {
    update_registry(default, |list| {
        if let Some(w) = list.iter_mut().find(|w| w.id == id) {
            w.key_ids = key_ids;
        }
    })
    .await
}

/// Re-reads world `id`'s keys from its store into the registry, when they changed (a key made
/// by `crabapple keys create --world` or the world's admin API).
pub async fn sync_keys(default: &Store, world: &Store, id: &str) -> anyhow::Result<()> {
    let mut ids: Vec<String> = world.keys().await?.into_iter().map(|k| k.key_id).collect();
    ids.sort();
    let known = registry(default).await?;
    let same = known.iter().find(|w| w.id == id).map(|w| {
        let mut k = w.key_ids.clone();
        k.sort();
        k == ids
    });
    if same == Some(false) {
        set_keys(default, id, ids).await?;
    }
    Ok(())
}

/// The configuration a world runs with: the default world's, in its own directory, resetting to
/// its own seed.
pub fn world_config(base: &Config, data_dir: &Path, id: &str) -> Config {
    let dir = world_dir(data_dir, id);
    let seed = dir.join(SEED_FILE);
    Config {
        world: if seed.exists() {
            WorldChoice::SeedFile(seed)
        } else {
            WorldChoice::Demo
        },
        data_dir: dir,
        ..base.clone()
    }
}

/// The configuration of a command-line process (no listener, no admin API).
pub fn cli_config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        public_url: None,
        rate_limit: 3600,
        world: WorldChoice::Demo,
        admin: Default::default(),
        allow_link_local_urls: false,
    }
}

/// Opens world `id` (which must exist) as an app with `base`'s settings.
pub async fn open_app(base: &Config, data_dir: &Path, id: &str) -> anyhow::Result<Arc<App>> {
    anyhow::ensure!(valid_id(id), "'{id}' is not a world id");
    anyhow::ensure!(
        store_exists(data_dir, id),
        "no world {id} in {}: `crabapple worlds list` shows them",
        data_dir.display()
    );
    let store = open_store(data_dir, id).await?;
    App::new(store, world_config(base, data_dir, id)).await
}

/// What a world's seed says beyond a data directory's seed ([`crabapple_asc::world::Seed`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extras {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<SeedKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<SeedClock>,
    /// The seed lists every resource's whole linkage, both sides, as stored (an export): after
    /// loading — which links inverses and replaces to-one linkage, so cannot rebuild every stored
    /// state — each relationship of each listed resource is set to exactly its list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact_linkage: bool,
}

/// An API key a world starts with (a new key pair is minted; its `.p8` is in the world's
/// directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedKey {
    /// `team`, `individual` or `inAppPurchase`.
    pub kind: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedClock {
    /// How far the virtual clock runs ahead of the wall clock.
    pub offset_ms: i64,
}

/// The key `first_start` makes in every world: an export lists it, an import does not make it
/// twice.
fn is_first_key(k: &SeedKey) -> bool {
    k.kind == "team" && k.roles == ["ADMIN"] && k.name.as_deref() == Some(setup::ADMIN_KEY_NAME)
}

fn key_kind(kind: &str) -> anyhow::Result<KeyKind> {
    Ok(match kind {
        "team" => KeyKind::Team,
        "individual" => KeyKind::Individual,
        "inAppPurchase" => KeyKind::InAppPurchase,
        other => anyhow::bail!("seed: key kind '{other}' is not team, individual or inAppPurchase"),
    })
}

/// The demo world's seed with an issuer ID of its own (a world is its own team; the issuer ID is
/// the team's in every token, `first_start` draws it when the seed has none).
fn demo_seed() -> anyhow::Result<String> {
    let mut demo: serde_yaml::Value = serde_yaml::from_str(crabapple_asc::world::DEMO_YAML)?;
    if let Some(team) = demo.get_mut("team").and_then(|t| t.as_mapping_mut()) {
        team.remove("issuerId");
    }
    Ok(format!(
        "# The demo world (crates/asc/world/demo.yaml) with an issuer ID of its own.\n{}",
        serde_yaml::to_string(&demo)?
    ))
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct NewWorld {
    pub name: Option<String>,
    /// Seed text (YAML or JSON); `None` for the demo world (with an issuer ID of its own).
    pub seed: Option<String>,
}

/// A world just created.
pub struct Created {
    pub info: WorldInfo,
    /// Its Admin team key.
    pub key: KeyInfo,
    pub resources: i64,
    /// The world, open.
    pub app: Arc<App>,
}

/// Creates a world beside `default` (the data directory's store): its directory and store, the
/// seed loaded, its keys and clock, and its registry entry. Nothing is left behind on failure.
pub async fn create(
    default: &Store,
    base: &Config,
    data_dir: &Path,
    new: NewWorld,
) -> anyhow::Result<Created> {
    // A seed that does not parse is refused before anything is made.
    let mut new = new;
    if new.seed.is_none() {
        new.seed = Some(demo_seed()?);
    }
    let (seed, extras): (Option<Seed>, Extras) = match &new.seed {
        Some(text) => (
            Some(Seed::parse(text).context("seed")?),
            serde_yaml::from_str(text).context("seed")?,
        ),
        None => (None, Extras::default()),
    };
    for k in &extras.keys {
        key_kind(&k.kind)?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let made = make(base, data_dir, &id, &new, (seed.as_ref(), &extras)).await;
    let (app, key) = match made {
        Ok(m) => m,
        Err(e) => {
            let _ = drop_store(data_dir, &id).await;
            return Err(e);
        }
    };
    let key_ids: Vec<String> = app
        .store()
        .keys()
        .await?
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    let info = WorldInfo {
        name: new.name.clone().unwrap_or_else(|| id.clone()),
        id: id.clone(),
        created_ms: app.store().clock.wall_ms(),
        key_ids,
    };
    let registered = {
        let info = info.clone();
        update_registry(default, move |list| list.push(info)).await
    };
    if let Err(e) = registered {
        let _ = drop_store(data_dir, &id).await;
        return Err(e);
    }
    let resources = app
        .store()
        .type_counts()
        .await?
        .iter()
        .map(|(_, n)| n)
        .sum();
    Ok(Created {
        info,
        key,
        resources,
        app,
    })
}

/// The world's directory, store, seed, keys and clock.
async fn make(
    base: &Config,
    data_dir: &Path,
    id: &str,
    new: &NewWorld,
    (seed, extras): (Option<&Seed>, &Extras),
) -> anyhow::Result<(Arc<App>, KeyInfo)> {
    let dir = world_dir(data_dir, id);
    crabapple_store::files::create_private_dir(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    if let Some(text) = &new.seed {
        std::fs::write(dir.join(SEED_FILE), text)
            .with_context(|| format!("writing {}", dir.join(SEED_FILE).display()))?;
    }
    let store = open_store(data_dir, id).await?;
    // The clock first: what the seed loads is dated on it (`createdDaysAgo`).
    if let Some(c) = &extras.clock
        && c.offset_ms > 0
    {
        store.advance_clock(c.offset_ms).await?;
    }
    let app = App::new(store, world_config(base, data_dir, id)).await?;
    let first = setup::first_start(&app.engine, &dir, &app.config.world)
        .await?
        .context("a new world's store already had a team")?;
    if let Some(seed) = seed.filter(|_| extras.exact_linkage) {
        exact_linkage(&app.engine, seed).await?;
    }
    let mut skipped_first = false;
    for k in &extras.keys {
        if !skipped_first && is_first_key(k) {
            skipped_first = true;
            continue;
        }
        let new = NewKey {
            kind: key_kind(&k.kind)?,
            roles: k.roles.clone(),
            user_id: k.user_id.clone(),
            name: k.name.as_deref(),
        };
        keys::create(app.store(), &dir, new).await?;
    }
    app.reload_keys().await?;
    crate::faults::reload(&app).await?;
    Ok((app, first.key))
}

/// Sets every relationship of every resource `seed` lists to exactly the seed's linkage, in its
/// order ([`Extras::exact_linkage`]).
async fn exact_linkage(engine: &crabapple_jsonapi::Engine, seed: &Seed) -> anyhow::Result<()> {
    let m = engine.manifest;
    let mut tx = engine.store.begin().await?;
    for (rtype, list) in &seed.resources {
        let Some(rt) = m.resources.get(rtype) else {
            continue;
        };
        for r in list {
            for (rel, info) in &rt.relationships {
                let target = |t: Option<&String>, id: &String| {
                    let t = t.or(info.target.as_ref()).cloned().unwrap_or_default();
                    (t, id.clone())
                };
                let want: Vec<(String, String)> = match r.relationships.get(rel) {
                    None => Vec::new(),
                    Some(SeedLink::One(id)) => vec![target(None, id)],
                    Some(SeedLink::Typed { r#type, id }) => vec![target(Some(r#type), id)],
                    Some(SeedLink::Many(items)) => items
                        .iter()
                        .map(|i| match i {
                            SeedItem::Id(id) => target(None, id),
                            SeedItem::Typed { r#type, id } => target(Some(r#type), id),
                        })
                        .collect(),
                };
                if tx.linked(rtype, &r.id, rel).await? == want {
                    continue;
                }
                tx.unlink_all((rtype, &r.id), rel).await?;
                for (t, id) in &want {
                    tx.link((rtype, &r.id), rel, (t, id)).await?;
                }
            }
        }
    }
    tx.commit().await
}

/// Deletes world `id`: its registry entry, then its data. False when there is no such world.
pub async fn delete(default: &Store, data_dir: &Path, id: &str) -> anyhow::Result<bool> {
    if !valid_id(id) {
        return Ok(false);
    }
    let id_owned = id.to_string();
    let known = update_registry(default, move |list| {
        let before = list.len();
        list.retain(|w| w.id != id_owned);
        list.len() != before
    })
    .await?;
    if known {
        drop_store(data_dir, id).await?;
    }
    Ok(known)
}
