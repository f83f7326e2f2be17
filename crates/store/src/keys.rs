//! API keys as stored: the server turns these into `crabapple_auth::ApiKey`.

use crate::{Store, Tx};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRow {
    pub key_id: String,
    /// "team", "individual" or "inAppPurchase".
    pub kind: String,
    pub issuer_id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub user_id: Option<String>,
    pub public_key: Vec<u8>,
    pub revoked: bool,
    pub created_ms: i64,
}

fn row_to_key(r: &crate::db::DbRow) -> Result<KeyRow> {
    Ok(KeyRow {
        key_id: r.try_get("key_id")?,
        kind: r.try_get("kind")?,
        issuer_id: r.try_get("issuer_id")?,
        name: r.try_get("name")?,
        roles: serde_json::from_str(&r.try_get::<String, _>("roles")?)?,
        user_id: r.try_get("user_id")?,
        public_key: r.try_get("public_key")?,
        revoked: r.try_get::<i64, _>("revoked")? != 0,
        created_ms: r.try_get("created_ms")?,
    })
}

impl Store {
    pub async fn keys(&self) -> Result<Vec<KeyRow>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_ms, key_id")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(row_to_key).collect()
    }

    pub async fn key(&self, key_id: &str) -> Result<Option<KeyRow>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_id = $1")
            .bind(key_id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(row_to_key).transpose()
    }
}

impl Tx {
    pub async fn insert_key(&mut self, k: &KeyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, kind, issuer_id, name, roles, user_id, public_key, revoked, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&k.key_id)
        .bind(&k.kind)
        .bind(&k.issuer_id)
        .bind(&k.name)
        .bind(serde_json::to_string(&k.roles)?)
        .bind(&k.user_id)
        .bind(&k.public_key)
        .bind(k.revoked as i64)
        .bind(k.created_ms)
        .execute(self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Marks a key revoked; returns false when no such key exists.
    pub async fn revoke_key(&mut self, key_id: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked = 1 WHERE key_id = $1")
            .bind(key_id)
            .execute(self.write_conn().await?)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
