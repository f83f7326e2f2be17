//! API key management, shared by the CLI (`crabapple keys …`) and the admin API: keys are
//! generated here, their `.p8` private key is written into the data directory as Apple names it
//! (`AuthKey_<KEYID>.p8`), and only the public point is kept in the store.

use crabapple_auth::{KeyKind, generate_key};
use crabapple_store::{KeyRow, Store};
use serde::Serialize;
use serde_json::{Map, json};
use std::path::{Path, PathBuf};

/// What `keys list/create --json` print.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub key_id: String,
    pub issuer_id: String,
    pub kind: String,
    pub roles: Vec<String>,
    pub key_path: String,
    pub revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub name: String,
}

pub fn key_path(data_dir: &Path, key_id: &str) -> PathBuf {
    data_dir.join(format!("AuthKey_{key_id}.p8"))
}

pub fn info(data_dir: &Path, k: &KeyRow) -> KeyInfo {
    KeyInfo {
        key_id: k.key_id.clone(),
        issuer_id: k.issuer_id.clone(),
        kind: k.kind.clone(),
        roles: k.roles.clone(),
        key_path: key_path(data_dir, &k.key_id).display().to_string(),
        revoked: k.revoked,
        user_id: k.user_id.clone(),
        name: k.name.clone(),
    }
}

/// The team's issuer id (set on first start).
pub async fn issuer_id(store: &Store) -> anyhow::Result<String> {
    store.meta_get("team.issuerId").await?.ok_or_else(|| {
        anyhow::anyhow!("this data directory has no team yet: run `crabapple serve` once")
    })
}

/// Apple's roles (the spec's UserRole enum, apple-semantics.md §1.7).
pub const ROLES: &[&str] = &[
    "ADMIN",
    "FINANCE",
    "ACCOUNT_HOLDER",
    "SALES",
    "MARKETING",
    "APP_MANAGER",
    "DEVELOPER",
    "ACCESS_TO_REPORTS",
    "CUSTOMER_SUPPORT",
    "CREATE_APPS",
    "CLOUD_MANAGED_DEVELOPER_ID",
    "CLOUD_MANAGED_APP_DISTRIBUTION",
    "GENERATE_INDIVIDUAL_KEYS",
];

pub struct NewKey<'a> {
    pub kind: KeyKind,
    pub roles: Vec<String>,
    /// For individual keys: the user the key belongs to (created when absent).
    pub user_id: Option<String>,
    pub name: Option<&'a str>,
}

/// Creates a key: writes `AuthKey_<KEYID>.p8` and stores the public key.
pub async fn create(store: &Store, data_dir: &Path, new: NewKey<'_>) -> anyhow::Result<KeyInfo> {
    for r in &new.roles {
        anyhow::ensure!(
            ROLES.contains(&r.as_str()),
            "'{r}' is not one of Apple's roles: {}",
            ROLES.join(", ")
        );
    }
    let issuer = issuer_id(store).await?;
    let g = generate_key(new.kind);
    let kind = g.kind.as_str().to_string();
    let mut tx = store.begin().await?;
    let mut user_id = new.user_id.clone();
    let mut roles = new.roles.clone();
    if new.kind == KeyKind::Individual {
        match &user_id {
            Some(uid) => {
                let user = tx
                    .get("users", uid)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no user with id {uid}"))?;
                if roles.is_empty() {
                    roles = user
                        .attributes
                        .get("roles")
                        .and_then(|r| serde_json::from_value(r.clone()).ok())
                        .unwrap_or_default();
                }
            }
            None => {
                // Individual keys act with their user's roles (§1.2): make that user.
                let uid = uuid::Uuid::new_v4().to_string();
                let mut attrs = Map::new();
                attrs.insert(
                    "username".into(),
                    json!(format!("key-{}@crabapple.dev", g.key_id.to_lowercase())),
                );
                attrs.insert("firstName".into(), json!("API"));
                attrs.insert("lastName".into(), json!(format!("Key {}", g.key_id)));
                attrs.insert("roles".into(), json!(roles));
                attrs.insert("allAppsVisible".into(), json!(true));
                attrs.insert("provisioningAllowed".into(), json!(false));
                tx.put("users", &uid, &attrs).await?;
                user_id = Some(uid);
            }
        }
    }
    let row = KeyRow {
        key_id: g.key_id.clone(),
        kind,
        issuer_id: issuer,
        name: new
            .name
            .map(str::to_string)
            .unwrap_or_else(|| format!("crabapple {}", g.key_id)),
        roles,
        user_id,
        public_key: g.public_key_der.clone(),
        revoked: false,
        created_ms: tx.now_ms(),
    };
    crabapple_store::files::create_private_dir(data_dir)?;
    let path = key_path(data_dir, &g.key_id);
    crabapple_store::files::write_secret(&path, g.pkcs8_pem.as_bytes())?;
    let stored = async {
        tx.insert_key(&row).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = stored {
        // Not stored (a full disk, issue 8): no key file of a key that does not exist.
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(info(data_dir, &row))
}

pub async fn list(store: &Store, data_dir: &Path) -> anyhow::Result<Vec<KeyInfo>> {
    Ok(store
        .keys()
        .await?
        .iter()
        .map(|k| info(data_dir, k))
        .collect())
}

pub async fn revoke(store: &Store, key_id: &str) -> anyhow::Result<bool> {
    let mut tx = store.begin().await?;
    let done = tx.revoke_key(key_id).await?;
    tx.commit().await?;
    Ok(done)
}
