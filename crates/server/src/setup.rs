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
        database().is_some() || db_path(dir).exists(),
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
    match database() {
        Some(Database::Shared(url)) => Store::connect(url, data_dir).await,
        Some(Database::PerDataDir(url)) => {
            Store::connect_schema(url, &schema_of(data_dir), data_dir).await
        }
        None => Store::open(&db_path(data_dir)).await,
    }
}

/// Where stores live when not in their data directory's SQLite file.
pub enum Database {
    /// `--database URL` / `CRABAPPLE_DATABASE_URL`: every process opening any data directory
    /// opens this database (replicas share it; the data directory keeps only files).
    Shared(String),
    /// `CRABAPPLE_TEST_DATABASE_URL` (the suite on PostgreSQL): each data directory gets a
    /// schema of its own on this database ([`schema_of`]), so tests stay isolated as with SQLite.
    PerDataDir(String),
}

static DATABASE: std::sync::OnceLock<Option<Database>> = std::sync::OnceLock::new();

/// Makes every store this process opens live in the database at `url` (called once at start,
/// before any store is opened; later calls change nothing).
pub fn use_database(url: String) {
    let _ = DATABASE.set(Some(Database::Shared(url)));
}

/// Makes every store this process opens a SQLite file in its data directory, whatever the
/// environment says: for tests of SQLite's own behaviour (its file, its full-disk errors), which
/// the suite on PostgreSQL still runs as they are. Called before any store is opened.
pub fn use_embedded() {
    let _ = DATABASE.set(None);
}

/// The database stores live in, if not SQLite: [`use_database`]'s, else the test suite's.
pub fn database() -> Option<&'static Database> {
    DATABASE
        .get_or_init(|| {
            std::env::var("CRABAPPLE_TEST_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .map(Database::PerDataDir)
        })
        .as_ref()
}

/// What the startup banner says the data directory holds: the SQLite store, or only files next
/// to a shared database (its URL without the password).
pub fn storage_label() -> String {
    match database() {
        None => "SQLite".into(),
        Some(Database::Shared(url)) => {
            format!(
                "files; store: PostgreSQL {}",
                crabapple_store::redact_url(url)
            )
        }
        Some(Database::PerDataDir(url)) => format!(
            "files; store: PostgreSQL {}, a schema per data directory",
            crabapple_store::redact_url(url)
        ),
    }
}

/// The schema of a data directory on the test suite's database: `d_` and a hash of its
/// absolute path.
pub fn schema_of(data_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let abs = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    abs.hash(&mut h);
    format!("d_{:016x}", h.finish())
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
    if !claim_first_start(store).await? {
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

/// The `meta` key a process sets when it starts creating the world of an empty store.
const FIRST_START_CLAIM: &str = "setup.firstStartClaimed";
/// How long a process waits for another one that claimed the first start.
const FIRST_START_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Whether this process creates the world of an empty store: replicas started at once on one
/// new database (or two processes on one new data directory) must not both load it. The claim
/// is taken in a write transaction (one at a time on both backends); the others wait until the
/// claimant's team exists, and then start as on an existing store.
async fn claim_first_start(store: &Store) -> anyhow::Result<bool> {
    let mut tx = store.begin().await?;
    if tx.meta_get(FIRST_START_CLAIM).await?.is_none() {
        tx.meta_set(FIRST_START_CLAIM, &std::process::id().to_string())
            .await?;
        tx.commit().await?;
        return Ok(true);
    }
    drop(tx);
    let start = std::time::Instant::now();
    while store.meta_get("team.issuerId").await?.is_none() {
        anyhow::ensure!(
            start.elapsed() < FIRST_START_WAIT,
            "another process began creating this store's world {}s ago and has not finished; \
             if it died, start on a new database or data directory",
            FIRST_START_WAIT.as_secs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(false)
}

/// Replaces every resource with a fresh copy of the world (keys and team stay).
pub async fn reset(engine: &Engine, choice: &WorldChoice) -> anyhow::Result<world::Loaded> {
    let mut tx = engine.store.begin().await?;
    tx.clear_resources().await?;
    tx.commit().await?;
    world::load(engine, &choice.seed()?).await
}
