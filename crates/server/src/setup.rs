//! A data directory's life: opening its store, and on first start creating the team, loading the
//! world (the demo, a seed file, or nothing with `--empty`) and writing an Admin team key.

use crate::keys::{self, KeyInfo, NewKey};
use anyhow::Context;
use crabapple_asc::world::{self, Seed};
use crabapple_auth::KeyKind;
use crabapple_jsonapi::Engine;
use crabapple_store::Store;
use std::path::{Path, PathBuf};

/// Which world a first start loads.
#[derive(Debug, Clone)]
pub enum WorldChoice {
    Demo,
    Empty,
    SeedFile(PathBuf),
}

impl WorldChoice {
    pub fn seed(&self) -> anyhow::Result<Seed> {
        Ok(match self {
            WorldChoice::Demo => Seed::demo(),
            WorldChoice::Empty => Seed {
                synthesize: Some(false),
                ..Seed::default()
            },
            WorldChoice::SeedFile(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("reading seed {}: {e}", p.display()))?;
                Seed::parse(&text).map_err(|e| anyhow::anyhow!("seed {}: {e}", p.display()))?
            }
        })
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("crabapple.db")
}

/// Opens the store of a data directory `crabapple serve` already made (the CLI's commands):
/// anything else is an error saying so.
pub async fn open_existing(dir: &Path) -> anyhow::Result<Store> {
    anyhow::ensure!(
        db_path(dir).exists(),
        "{} has no crabapple store: run `crabapple serve --data {}` first",
        dir.display(),
        dir.display()
    );
    open(dir).await
}

/// Opens the store of a data directory (creating the directory).
pub async fn open(data_dir: &Path) -> anyhow::Result<Store> {
    crabapple_store::files::create_private_dir(data_dir).with_context(|| {
        format!(
            "creating the data directory {} (choose a writable path with --data)",
            data_dir.display()
        )
    })?;
    Store::open(&db_path(data_dir)).await
}

/// The name of the Admin team key a first start creates.
pub const ADMIN_KEY_NAME: &str = "crabapple admin";

/// What a first start created.
pub struct FirstStart {
    pub key: KeyInfo,
    pub seeded: usize,
    pub synthesized: usize,
}

/// Creates the team, world and Admin key when the store has none; `None` when it already had.
pub async fn first_start(
    engine: &Engine,
    data_dir: &Path,
    choice: &WorldChoice,
) -> anyhow::Result<Option<FirstStart>> {
    let store = &engine.store;
    if store.meta_get("team.issuerId").await?.is_some() {
        return Ok(None);
    }
    let seed = choice.seed()?;
    let issuer = seed
        .team
        .issuer_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // Before the world loads: the bundle IDs it registers take the team's App ID prefix.
    let team_id = seed
        .team
        .id
        .clone()
        .unwrap_or_else(crabapple_asc::ids::ten_char_id);
    store.meta_set("team.id", &team_id).await?;
    let loaded = world::load(engine, &seed).await?;
    let mut tx = store.begin().await?;
    tx.meta_set("team.issuerId", &issuer).await?;
    tx.meta_set(
        "team.name",
        seed.team.name.as_deref().unwrap_or("Crabapple Demo Team"),
    )
    .await?;
    tx.meta_set(
        "team.vendorNumber",
        seed.team.vendor_number.as_deref().unwrap_or("85012345"),
    )
    .await?;
    tx.meta_set("world", &format!("{choice:?}")).await?;
    tx.commit().await?;
    let key = keys::create(
        store,
        data_dir,
        NewKey {
            kind: KeyKind::Team,
            roles: vec!["ADMIN".into()],
            user_id: None,
            name: Some(ADMIN_KEY_NAME),
        },
    )
    .await?;
    Ok(Some(FirstStart {
        key,
        seeded: loaded.seeded,
        synthesized: loaded.synthesized,
    }))
}

/// Replaces every resource with a fresh copy of the world (keys and team stay).
pub async fn reset(engine: &Engine, choice: &WorldChoice) -> anyhow::Result<world::Loaded> {
    let mut tx = engine.store.begin().await?;
    tx.clear_resources().await?;
    tx.commit().await?;
    world::load(engine, &choice.seed()?).await
}
