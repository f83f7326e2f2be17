//! Generic JSON:API resources and their linkage. Filters, sorting and paging are SQL; the caller
//! (the jsonapi engine) has already validated names and typed the values from the manifest.

mod tx;

use crate::Store;
use crate::db::{Db, Dialect, QueryBuilder};
use anyhow::Result;
use serde_json::{Map, Value};
use sqlx::{Executor, Row};

/// Ids of resources of `other_type` linked to `(rtype, id)` in either direction, by any
/// relationship name.
async fn linked_any<'e, E: Executor<'e, Database = Db>>(
    e: E,
    rtype: &str,
    id: &str,
    other_type: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT dst_id FROM edges WHERE src_type = $1 AND src_id = $2 AND dst_type = $3
         UNION
         SELECT src_id FROM edges WHERE dst_type = $1 AND dst_id = $2 AND src_type = $3",
    )
    .bind(rtype)
    .bind(id)
    .bind(other_type)
    .fetch_all(e)
    .await?)
}

/// Ids of the resources of `src_type` whose `rel` links to `dst`, by the `edges_by_dst` index.
async fn linking<'e, E: Executor<'e, Database = Db>>(
    e: E,
    src_type: &str,
    rel: &str,
    dst: (&str, &str),
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT src_id FROM edges WHERE dst_type = $1 AND dst_id = $2 AND src_type = $3 AND rel = $4 ORDER BY src_id",
    )
    .bind(dst.0)
    .bind(dst.1)
    .bind(src_type)
    .bind(rel)
    .fetch_all(e)
    .await?)
}

/// A stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub rtype: String,
    pub id: String,
    pub attributes: Map<String, Value>,
    pub seq: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A typed value for comparisons with JSON attributes (SQLite's json_extract yields integers for
/// booleans).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Real(f64),
}

#[derive(Debug, Clone)]
pub enum Filter {
    /// `filter[id]`.
    Id(Vec<String>),
    /// `filter[attr]`: scalar attribute equal to one of the values, or (`array`) an array attribute
    /// containing one of them.
    Attr {
        name: String,
        values: Vec<SqlValue>,
        array: bool,
    },
    /// `filter[rel]`: linked through `rel` to one of these ids.
    Rel { rel: String, ids: Vec<String> },
    /// `filter[rel.attr]`: linked through `rel` to a resource whose attribute matches.
    RelAttr {
        rel: String,
        name: String,
        values: Vec<SqlValue>,
    },
    /// `exists[x]` on an attribute (non-null) or a relationship (has linkage).
    Exists {
        name: String,
        relationship: bool,
        value: bool,
    },
}

#[derive(Debug, Clone)]
pub enum SortKey {
    Id,
    Attr(String),
}

/// A page of resources of one type, optionally restricted to those linked from one resource.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub rtype: String,
    /// `(src_type, src_id, rel)`: only resources linked from that source through `rel`.
    pub linked_from: Option<(String, String, String)>,
    pub filters: Vec<Filter>,
    pub sort: Vec<(SortKey, bool)>,
    pub offset: i64,
    pub limit: i64,
}

fn row_to_resource(r: &crate::db::DbRow) -> Result<Resource> {
    let attrs: String = r.try_get("attributes")?;
    let attributes = match serde_json::from_str::<Value>(&attrs)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Ok(Resource {
        rtype: r.try_get("type")?,
        id: r.try_get("id")?,
        attributes,
        seq: r.try_get("seq")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

/// Whether a filter value can equal stored text: none holds U+0000 (the JSON:API engine refuses
/// it on input, crabapple-jsonapi's lengths.rs, and PostgreSQL's `text` cannot hold it — binding
/// one fails there), so such a value is left out, and a list left empty is `(NULL)`, which
/// nothing equals.
fn matchable(text: &str) -> bool {
    !text.contains('\0')
}

fn push_values(d: Dialect, q: &mut QueryBuilder, values: &[SqlValue]) {
    let values: Vec<&SqlValue> = values
        .iter()
        .filter(|v| !matches!(v, SqlValue::Text(t) if !matchable(t)))
        .collect();
    if values.is_empty() {
        q.push("(NULL)");
        return;
    }
    q.push("(");
    let mut sep = q.separated(", ");
    for v in values {
        d.bind_value(&mut sep, v);
    }
    q.push(")");
}

fn push_ids(q: &mut QueryBuilder, ids: &[String]) {
    let ids: Vec<&String> = ids.iter().filter(|i| matchable(i)).collect();
    if ids.is_empty() {
        q.push("(NULL)");
        return;
    }
    q.push("(");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(id.clone());
    }
    q.push(")");
}

/// Appends `FROM … WHERE …` for a list query (resources aliased `r`, linkage `e`).
fn push_from_where(d: Dialect, q: &mut QueryBuilder, lq: &ListQuery) {
    if let Some((st, si, rel)) = &lq.linked_from {
        q.push(" FROM edges e JOIN resources r ON r.type = e.dst_type AND r.id = e.dst_id WHERE e.src_type = ");
        q.push_bind(st.clone());
        q.push(" AND e.src_id = ");
        q.push_bind(si.clone());
        q.push(" AND e.rel = ");
        q.push_bind(rel.clone());
        q.push(" AND r.type = ");
        q.push_bind(lq.rtype.clone());
    } else {
        q.push(" FROM resources r WHERE r.type = ");
        q.push_bind(lq.rtype.clone());
    }
    for f in &lq.filters {
        q.push(" AND ");
        match f {
            Filter::Id(ids) => {
                q.push("r.id IN ");
                push_ids(q, ids);
            }
            Filter::Attr {
                name,
                values,
                array: false,
            } => {
                q.push(d.json_attr("r", name));
                q.push(" IN ");
                push_values(d, q, values);
            }
            Filter::Attr {
                name,
                values,
                array: true,
            } => {
                q.push(format!(
                    "EXISTS (SELECT 1 FROM {} WHERE value IN ",
                    d.json_elements("r", name)
                ));
                push_values(d, q, values);
                q.push(")");
            }
            Filter::Rel { rel, ids } => {
                q.push("EXISTS (SELECT 1 FROM edges f WHERE f.src_type = r.type AND f.src_id = r.id AND f.rel = ");
                q.push_bind(rel.clone());
                q.push(" AND f.dst_id IN ");
                push_ids(q, ids);
                q.push(")");
            }
            Filter::RelAttr { rel, name, values } => {
                q.push("EXISTS (SELECT 1 FROM edges f JOIN resources t ON t.type = f.dst_type AND t.id = f.dst_id WHERE f.src_type = r.type AND f.src_id = r.id AND f.rel = ");
                q.push_bind(rel.clone());
                q.push(format!(" AND {} IN ", d.json_attr("t", name)));
                push_values(d, q, values);
                q.push(")");
            }
            Filter::Exists {
                name,
                relationship: true,
                value,
            } => {
                q.push(if *value { "EXISTS" } else { "NOT EXISTS" });
                q.push(" (SELECT 1 FROM edges f WHERE f.src_type = r.type AND f.src_id = r.id AND f.rel = ");
                q.push_bind(name.clone());
                q.push(")");
            }
            Filter::Exists {
                name,
                relationship: false,
                value,
            } => {
                q.push(d.json_attr("r", name));
                q.push(if *value { " IS NOT NULL" } else { " IS NULL" });
            }
        }
    }
}

/// `{select} FROM resources WHERE type = ? AND <attribute name> = ? ORDER BY seq`, or `None` when
/// `value` is not a scalar. The attribute expression is [`Dialect::json_attr`]'s, which the
/// indexes of migration 0004 (SQLite) and of the PostgreSQL schema repeat.
fn find_ids_query(
    d: Dialect,
    select: &str,
    rtype: &str,
    name: &str,
    value: &Value,
) -> Option<QueryBuilder> {
    let value = match value {
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Bool(b) => SqlValue::Int(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Real(n.as_f64()?),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    let mut q = QueryBuilder::new(select);
    q.push(" FROM resources WHERE type = ");
    q.push_bind(rtype.to_string());
    q.push(format!(" AND {} = ", d.json_attr("resources", name)));
    push_values(d, &mut q, std::slice::from_ref(&value));
    q.push(" ORDER BY seq");
    Some(q)
}

/// Whether a type and id can name a stored resource: PostgreSQL's text holds no NUL character,
/// so neither does any id crabapple stores; such a lookup finds nothing on both backends
/// (instead of PostgreSQL's encoding error).
fn storable(rtype: &str, id: &str) -> bool {
    !rtype.contains('\0') && !id.contains('\0')
}

impl Store {
    /// One resource, from the in-process cache or the database.
    pub async fn get(&self, rtype: &str, id: &str) -> Result<Option<Resource>> {
        if !storable(rtype, id) {
            return Ok(None);
        }
        if let Some(r) = self.cache.get(rtype, id) {
            return Ok(Some((*r).clone()));
        }
        let generation = self.cache.generation();
        let row = sqlx::query("SELECT * FROM resources WHERE type = $1 AND id = $2")
            .bind(rtype)
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        let r = row.as_ref().map(row_to_resource).transpose()?;
        if let Some(r) = &r {
            self.cache.put(r, generation);
        }
        Ok(r)
    }

    /// Resources by `(type, id)` in the order asked; missing ones are skipped.
    pub async fn get_many(&self, keys: &[(String, String)]) -> Result<Vec<Resource>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(keys.len());
        let missing: Vec<(String, String)> = keys
            .iter()
            .filter(|(t, i)| self.cache.get(t, i).is_none())
            .cloned()
            .collect();
        let generation = self.cache.generation();
        let mut fetched: Vec<Resource> = Vec::new();
        for chunk in missing.chunks(200) {
            let mut q = QueryBuilder::new("SELECT * FROM resources WHERE (type, id) IN (");
            let mut sep = q.separated(", ");
            for (t, i) in chunk {
                sep.push("(");
                sep.push_bind_unseparated(t.clone());
                sep.push_unseparated(", ");
                sep.push_bind_unseparated(i.clone());
                sep.push_unseparated(")");
            }
            q.push(")");
            let rows = q.build().fetch_all(self.reader()).await?;
            for row in &rows {
                let r = row_to_resource(row)?;
                self.cache.put(&r, generation);
                fetched.push(r);
            }
        }
        for (t, i) in keys {
            if let Some(r) = self.cache.get(t, i) {
                out.push((*r).clone());
            } else if let Some(r) = fetched.iter().find(|r| &r.rtype == t && &r.id == i) {
                out.push(r.clone());
            }
        }
        Ok(out)
    }

    /// One page and the total count.
    pub async fn list(&self, lq: &ListQuery) -> Result<(Vec<Resource>, i64)> {
        let mut q = QueryBuilder::new("SELECT r.*");
        push_from_where(self.dialect, &mut q, lq);
        q.push(" ORDER BY ");
        for (key, desc) in &lq.sort {
            match key {
                SortKey::Id => q.push("r.id"),
                SortKey::Attr(a) => q.push(self.dialect.json_sort("r", a)),
            };
            q.push(self.dialect.order(*desc)).push(", ");
        }
        q.push(if lq.linked_from.is_some() {
            "e.ord, r.seq"
        } else {
            "r.seq"
        });
        q.push(" LIMIT ");
        q.push_bind(lq.limit);
        q.push(" OFFSET ");
        q.push_bind(lq.offset);
        let rows = q.build().fetch_all(self.reader()).await?;
        let items = rows
            .iter()
            .map(row_to_resource)
            .collect::<Result<Vec<_>>>()?;
        let total = if lq.offset == 0 && (items.len() as i64) < lq.limit {
            items.len() as i64
        } else {
            let mut c = QueryBuilder::new("SELECT COUNT(*)");
            push_from_where(self.dialect, &mut c, lq);
            c.build().fetch_one(self.reader()).await?.try_get(0)?
        };
        Ok((items, total))
    }

    /// Ids of the resources of `src_type` whose `rel` links to `dst` ([`Tx::linking`] on the
    /// read pool).
    pub async fn linking(
        &self,
        src_type: &str,
        rel: &str,
        dst: (&str, &str),
    ) -> Result<Vec<String>> {
        linking(self.reader(), src_type, rel, dst).await
    }

    /// Ids of resources of `other_type` linked to `(rtype, id)` in either direction, by any
    /// relationship name ([`Tx::linked_any`] on the read pool).
    pub async fn linked_any(&self, rtype: &str, id: &str, other_type: &str) -> Result<Vec<String>> {
        linked_any(self.reader(), rtype, id, other_type).await
    }

    /// Linkage of `(src_type, src_id)` through `rel`: a page of `(type, id)` and the total.
    pub async fn linked(
        &self,
        src_type: &str,
        src_id: &str,
        rel: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<(String, String)>, i64)> {
        let rows = sqlx::query(
            "SELECT dst_type, dst_id FROM edges WHERE src_type = $1 AND src_id = $2 AND rel = $3 ORDER BY ord LIMIT $4 OFFSET $5",
        )
        .bind(src_type)
        .bind(src_id)
        .bind(rel)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.reader())
        .await?;
        let items: Vec<(String, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_>>()?;
        let total = if offset == 0 && (items.len() as i64) < limit {
            items.len() as i64
        } else {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM edges WHERE src_type = $1 AND src_id = $2 AND rel = $3",
            )
            .bind(src_type)
            .bind(src_id)
            .bind(rel)
            .fetch_one(self.reader())
            .await?
        };
        Ok((items, total))
    }

    /// Linkage of many sources through `rel` at once (for `include`): per source id, the first
    /// `per_limit` targets and the total.
    pub async fn linked_batch(
        &self,
        src_type: &str,
        src_ids: &[String],
        rel: &str,
        per_limit: i64,
    ) -> Result<std::collections::HashMap<String, (Vec<(String, String)>, i64)>> {
        let mut out: std::collections::HashMap<String, (Vec<(String, String)>, i64)> =
            std::collections::HashMap::new();
        for chunk in src_ids.chunks(200) {
            let mut q = QueryBuilder::new(
                "SELECT src_id, dst_type, dst_id, rn, cnt FROM (SELECT src_id, dst_type, dst_id, \
                 ROW_NUMBER() OVER (PARTITION BY src_id ORDER BY ord) AS rn, \
                 COUNT(*) OVER (PARTITION BY src_id) AS cnt FROM edges WHERE src_type = ",
            );
            q.push_bind(src_type.to_string());
            q.push(" AND rel = ");
            q.push_bind(rel.to_string());
            q.push(" AND src_id IN ");
            push_ids(&mut q, chunk);
            q.push(") AS page WHERE rn <= ");
            q.push_bind(per_limit);
            q.push(" ORDER BY src_id, rn");
            for r in q.build().fetch_all(self.reader()).await? {
                let e = out.entry(r.try_get(0)?).or_default();
                e.0.push((r.try_get(1)?, r.try_get(2)?));
                e.1 = r.try_get(4)?;
            }
        }
        Ok(out)
    }

    /// Count of resources of a type (for the coverage report and the demo world).
    pub async fn count(&self, rtype: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM resources WHERE type = $1")
                .bind(rtype)
                .fetch_one(self.reader())
                .await?,
        )
    }

    /// Every `(type, count)` pair, for summaries.
    pub async fn type_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT type, COUNT(*) FROM resources GROUP BY type ORDER BY type")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A store in a new temporary directory (the crate's unit tests share it).
    pub(crate) async fn store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("crabapple-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        (Store::open(&dir.join("db.sqlite")).await.unwrap(), dir)
    }

    /// Issue 8: a uniqueness check reads an index, not every resource of its type.
    #[tokio::test]
    async fn find_ids_uses_the_attribute_index() {
        let (store, dir) = store().await;
        let mut tx = store.begin().await.unwrap();
        for (id, ident) in [("A", "com.a"), ("B", "com.b"), ("C", "com.a")] {
            let attrs = json!({ "identifier": ident, "name": id });
            tx.put("bundleIds", id, attrs.as_object().unwrap())
                .await
                .unwrap();
        }
        let attrs = json!({ "identifier": "com.a" });
        tx.put("apps", "X", attrs.as_object().unwrap())
            .await
            .unwrap();
        let found = tx
            .find_ids("bundleIds", "identifier", &json!("com.a"))
            .await
            .unwrap();
        assert_eq!(found, ["A", "C"]);
        assert!(
            tx.find_ids("bundleIds", "identifier", &json!("com.z"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            tx.find_ids("bundleIds", "identifier", &Value::Null)
                .await
                .unwrap()
                .is_empty()
        );
        for (rtype, name, index) in [
            ("bundleIds", "identifier", "resources_by_identifier"),
            ("devices", "udid", "resources_by_udid"),
            ("profiles", "name", "resources_by_name"),
            ("users", "username", "resources_by_username"),
            ("userInvitations", "email", "resources_by_email"),
            ("subscriptions", "productId", "resources_by_product_id"),
            (
                "certificates",
                "certificateType",
                "resources_by_certificate_type",
            ),
        ] {
            let q = find_ids_query(
                Dialect::Sqlite,
                "EXPLAIN QUERY PLAN SELECT id",
                rtype,
                name,
                &json!("v"),
            )
            .unwrap();
            let plan: Vec<String> = q
                .build()
                .fetch_all(&mut *tx.tx)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap())
                .collect();
            assert!(
                plan.iter()
                    .any(|d| d.contains(&format!("USING INDEX {index}"))),
                "{rtype}.{name}: {plan:?}"
            );
        }
        drop(tx);
        let _ = std::fs::remove_dir_all(dir);
    }
}
