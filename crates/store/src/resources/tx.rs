//! A write transaction's resources and linkage: its writes (kept in memory while it batches,
//! [`crate::batch`]) and its reads, which see them.

use super::{Resource, find_ids_query, linked_any, linking, row_to_resource, storable};
use crate::Tx;
use anyhow::Result;
use serde_json::{Map, Value};
use sqlx::Row;

impl Tx {
    pub async fn get(&mut self, rtype: &str, id: &str) -> Result<Option<Resource>> {
        if !storable(rtype, id) {
            return Ok(None);
        }
        if self.known().is_some_and(|k| !k.exists(rtype, id)) {
            return Ok(None);
        }
        let key = (rtype.to_string(), id.to_string());
        if let Some(r) = self.memo.resources.get(&key) {
            return Ok(r.clone());
        }
        if self.batch.kept.has_put(rtype, id) {
            self.write_batch().await?;
        }
        let row = sqlx::query("SELECT * FROM resources WHERE type = $1 AND id = $2")
            .bind(rtype)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        let r = row.as_ref().map(row_to_resource).transpose()?;
        self.memo.resources.insert(key, r.clone());
        Ok(r)
    }

    /// Whether any resource of `src_type` has linkage through `rel`.
    pub async fn has_linkage(&mut self, src_type: &str, rel: &str) -> Result<bool> {
        if let Some(k) = self.known() {
            return Ok(k.has_linkage(src_type, rel));
        }
        if self.batch.kept.links_rel(src_type, rel) {
            return Ok(true);
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM edges WHERE src_type = $1 AND rel = $2 LIMIT 1) AS one",
        )
        .bind(src_type)
        .bind(rel)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n > 0)
    }

    /// Ids of every resource of a type, oldest first.
    pub async fn ids(&mut self, rtype: &str) -> Result<Vec<String>> {
        if let Some(k) = self.known() {
            return Ok(k.ids(rtype));
        }
        if self.batch.kept.has_type(rtype) {
            self.write_batch().await?;
        }
        Ok(
            sqlx::query_scalar("SELECT id FROM resources WHERE type = $1 ORDER BY seq")
                .bind(rtype)
                .fetch_all(&mut *self.tx)
                .await?,
        )
    }

    /// Ids of the resources of `rtype` whose scalar attribute `name` equals `value`, oldest first
    /// (uniqueness checks and lookups by identifier). Served by an expression index of migration
    /// 0004 where one exists for `name`; a null, array or object `value` matches nothing.
    pub async fn find_ids(
        &mut self,
        rtype: &str,
        name: &str,
        value: &Value,
    ) -> Result<Vec<String>> {
        let Some(q) = find_ids_query(self.store.dialect, "SELECT id", rtype, name, value) else {
            return Ok(Vec::new());
        };
        if self.known().is_some_and(|k| k.ids(rtype).is_empty()) {
            return Ok(Vec::new());
        }
        if self.batch.kept.has_type(rtype) {
            self.write_batch().await?;
        }
        Ok(q.build_query_scalar().fetch_all(&mut *self.tx).await?)
    }

    pub async fn exists(&mut self, rtype: &str, id: &str) -> Result<bool> {
        if !storable(rtype, id) {
            return Ok(false);
        }
        if let Some(k) = self.known() {
            return Ok(k.exists(rtype, id));
        }
        if self.batch.kept.has_put(rtype, id) {
            return Ok(true);
        }
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM resources WHERE type = $1 AND id = $2")
                .bind(rtype)
                .bind(id)
                .fetch_one(&mut *self.tx)
                .await?;
        Ok(n > 0)
    }

    /// Inserts a resource, or replaces its attributes when `(type, id)` exists.
    pub async fn put(
        &mut self,
        rtype: &str,
        id: &str,
        attributes: &Map<String, Value>,
    ) -> Result<()> {
        let now = self.now_ms;
        self.touched.push((rtype.to_string(), id.to_string()));
        if self.batching() {
            if let Some(k) = self.known() {
                k.put(rtype, id);
            }
            return self.batch_put(rtype, id, attributes).await;
        }
        sqlx::query(
            "INSERT INTO resources (type, id, attributes, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (type, id) DO UPDATE SET attributes = excluded.attributes, updated_ms = excluded.updated_ms",
        )
        .bind(rtype)
        .bind(id)
        .bind(serde_json::to_string(attributes)?)
        .bind(now)
        .execute(self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Sets when a resource was created (a seed's history, `createdDaysAgo`).
    pub async fn set_created_ms(&mut self, rtype: &str, id: &str, created_ms: i64) -> Result<()> {
        self.touched.push((rtype.to_string(), id.to_string()));
        if self.batch_created(rtype, id, created_ms) {
            return Ok(());
        }
        sqlx::query("UPDATE resources SET created_ms = $3 WHERE type = $1 AND id = $2")
            .bind(rtype)
            .bind(id)
            .bind(created_ms)
            .execute(self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// Deletes a resource and every linkage to or from it.
    pub async fn delete(&mut self, rtype: &str, id: &str) -> Result<bool> {
        if !storable(rtype, id) {
            return Ok(false);
        }
        self.touched.push((rtype.to_string(), id.to_string()));
        if let Some(k) = self.known() {
            k.delete(rtype, id);
        }
        sqlx::query("DELETE FROM edges WHERE (src_type = $1 AND src_id = $2) OR (dst_type = $1 AND dst_id = $2)")
            .bind(rtype)
            .bind(id)
            .execute(self.write_conn().await?)
            .await?;
        let r = sqlx::query("DELETE FROM resources WHERE type = $1 AND id = $2")
            .bind(rtype)
            .bind(id)
            .execute(self.write_conn().await?)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Linkage currently stored for `(src, rel)`.
    pub async fn linked(
        &mut self,
        src_type: &str,
        src_id: &str,
        rel: &str,
    ) -> Result<Vec<(String, String)>> {
        if let Some(k) = self.known() {
            return Ok(k.linked((src_type, src_id), rel));
        }
        if self.batch.kept.links_from(src_type, src_id, rel) {
            self.write_batch().await?;
        }
        let rows = sqlx::query(
            "SELECT dst_type, dst_id FROM edges WHERE src_type = $1 AND src_id = $2 AND rel = $3 ORDER BY ord",
        )
        .bind(src_type)
        .bind(src_id)
        .bind(rel)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Ids of the resources of `src_type` whose `rel` links to `dst` (the inverse of
    /// [`Tx::linked`], served by the `edges_by_dst` index).
    pub async fn linking(
        &mut self,
        src_type: &str,
        rel: &str,
        dst: (&str, &str),
    ) -> Result<Vec<String>> {
        if self.batch.kept.links_rel(src_type, rel) {
            self.write_batch().await?;
        }
        linking(&mut *self.tx, src_type, rel, dst).await
    }

    /// Ids of resources of `other_type` linked to `(rtype, id)` in either direction, by any
    /// relationship name (one side may store either side of a linkage); remembered until the
    /// transaction writes ([`crate::memo`]).
    pub async fn linked_any(
        &mut self,
        rtype: &str,
        id: &str,
        other_type: &str,
    ) -> Result<Vec<String>> {
        let key = (rtype.to_string(), id.to_string(), other_type.to_string());
        if let Some(ids) = self.memo.linked_any.get(&key) {
            return Ok(ids.clone());
        }
        if self.batch.kept.links_end(rtype, id) {
            self.write_batch().await?;
        }
        let ids = linked_any(&mut *self.tx, rtype, id, other_type).await?;
        self.memo.linked_any.insert(key, ids.clone());
        Ok(ids)
    }

    /// Adds one linkage (no-op when present), appended after the existing ones.
    pub async fn link(&mut self, src: (&str, &str), rel: &str, dst: (&str, &str)) -> Result<()> {
        if self.batching() {
            if let Some(k) = self.known() {
                k.link(src, rel, dst);
            }
            return self.batch_link(src, rel, dst).await;
        }
        sqlx::query(
            "INSERT INTO edges (src_type, src_id, rel, dst_type, dst_id, ord)
             VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(ord), 0) + 1 FROM edges WHERE src_type = $1 AND src_id = $2 AND rel = $3))
             ON CONFLICT DO NOTHING",
        )
        .bind(src.0)
        .bind(src.1)
        .bind(rel)
        .bind(dst.0)
        .bind(dst.1)
        .execute(self.write_conn().await?)
        .await?;
        Ok(())
    }

    pub async fn unlink(&mut self, src: (&str, &str), rel: &str, dst: (&str, &str)) -> Result<()> {
        if let Some(k) = self.known() {
            k.unlink(src, rel, dst);
        }
        sqlx::query(
            "DELETE FROM edges WHERE src_type = $1 AND src_id = $2 AND rel = $3 AND dst_type = $4 AND dst_id = $5",
        )
        .bind(src.0)
        .bind(src.1)
        .bind(rel)
        .bind(dst.0)
        .bind(dst.1)
        .execute(self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Deletes every resource and linkage (the admin API's reset), and the timeline: what was
    /// planned for them and their history.
    pub async fn clear_resources(&mut self) -> Result<()> {
        self.cleared = true;
        if let Some(k) = self.known() {
            k.clear();
        }
        sqlx::query("DELETE FROM timeline")
            .execute(self.write_conn().await?)
            .await?;
        sqlx::query("DELETE FROM edges")
            .execute(self.write_conn().await?)
            .await?;
        sqlx::query("DELETE FROM resources")
            .execute(self.write_conn().await?)
            .await?;
        Ok(())
    }

    /// Removes every linkage of `(src, rel)`.
    pub async fn unlink_all(&mut self, src: (&str, &str), rel: &str) -> Result<()> {
        if let Some(k) = self.known() {
            k.unlink_all(src, rel);
        }
        sqlx::query("DELETE FROM edges WHERE src_type = $1 AND src_id = $2 AND rel = $3")
            .bind(src.0)
            .bind(src.1)
            .bind(rel)
            .execute(self.write_conn().await?)
            .await?;
        Ok(())
    }
}
