//! The engine's write path: request documents parsed and checked, creates (with inline
//! `included` resources), updates, deletes, and linkage kept in step on both sides.

use super::*;

impl Engine {
    // ---------------------------------------------------------------- writes

    pub(super) fn parse_body(&self, op: &Operation, req: &Request) -> Result<Value, AscError> {
        if let Some(ct) = &req.content_type {
            let ct = ct.to_ascii_lowercase();
            if !ct.starts_with("application/json") && !ct.starts_with("application/vnd.api+json") {
                return Err(AscError::new(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "The request entity has an unsupported media type",
                    format!("The media type '{ct}' is not supported. Use 'application/json'."),
                ));
            }
        }
        let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
            AscError::entity_invalid(format!("The request entity is not valid JSON: {e}"))
        })?;
        if let Some(schema) = &op.body {
            let shape = json!({ "$ref": schema });
            validate(self.manifest, &body, &shape, "").map_err(|v| v.into_error())?;
            // Issue 8: Apple's size limits on attributes (crate::lengths).
            crate::lengths::check_document(&body).map_err(|v| v.into_error())?;
        }
        Ok(body)
    }

    /// Generates an id in Apple's format for `rtype`.
    pub fn new_id(&self, rtype: &str) -> String {
        self.families
            .iter()
            .find_map(|f| f.new_id(rtype))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }

    /// Relationship linkage in a request document: `{"rel": {"data": … }}` → `(rel, [(type, id)])`.
    pub(super) fn linkage_of(rels: Option<&Value>) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = Vec::new();
        for (name, v) in rels.and_then(Value::as_object).into_iter().flatten() {
            let data = v.get("data").unwrap_or(&Value::Null);
            let list = match data {
                Value::Array(a) => a.iter().filter_map(key_of).collect(),
                Value::Object(_) => key_of(data).into_iter().collect(),
                _ => Vec::new(),
            };
            out.push((name.clone(), list));
        }
        out
    }

    /// Creates the inline resources of `included` (local ids like `${price1}`), returning the map
    /// from local id to the new id.
    pub(super) async fn create_included(
        &self,
        tx: &mut Tx,
        body: &Value,
        base: &str,
    ) -> Result<HashMap<String, String>, AscError> {
        let mut ids = HashMap::new();
        let Some(inc) = body.get("included").and_then(Value::as_array) else {
            return Ok(ids);
        };
        for item in inc {
            let (Some(t), Some(local)) = (
                item.get("type").and_then(Value::as_str),
                item.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            ids.insert(local.to_string(), self.new_id(t));
        }
        for (i, item) in inc.iter().enumerate() {
            let t = item.get("type").and_then(Value::as_str).unwrap_or_default();
            let local = item.get("id").and_then(Value::as_str).unwrap_or_default();
            let new_id = ids.get(local).cloned().unwrap_or_else(|| self.new_id(t));
            let attrs = item
                .get("attributes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut w = Write {
                op_id: String::new(),
                rtype: t.to_string(),
                id: new_id.clone(),
                attributes: strip_nulls(attrs),
                relationships: Engine::linkage_of(item.get("relationships"))
                    .into_iter()
                    .map(|(n, l)| (n, resolve_local(l, &ids)))
                    .collect(),
                existing: None,
                base: base.to_string(),
            };
            self.check_targets(
                tx,
                &w.relationships,
                &format!("/included/{i}/relationships"),
            )
            .await?;
            for f in &self.families {
                f.before_write(self, tx, &mut w).await?;
            }
            tx.put(t, &new_id, &w.attributes).await?;
            for (rel, targets) in &w.relationships {
                self.set_linkage(tx, (t, &new_id), rel, targets, true)
                    .await?;
            }
        }
        Ok(ids)
    }

    pub(super) async fn check_targets(
        &self,
        tx: &mut Tx,
        rels: &[(String, Vec<(String, String)>)],
        ptr: &str,
    ) -> Result<(), AscError> {
        for (rel, targets) in rels {
            for (i, (t, id)) in targets.iter().enumerate() {
                if !tx.exists(t, id).await? {
                    return Err(AscError::entity_error(
                        "RELATIONSHIP.INVALID",
                        "The provided entity includes a relationship with an invalid value",
                        format!(
                            "There is no resource of type '{t}' with id '{id}' for the relationship '{rel}'"
                        ),
                        &format!(
                            "{ptr}/{rel}/data{}",
                            if targets.len() > 1 {
                                format!("/{i}")
                            } else {
                                String::new()
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn create(
        &self,
        op: &'static Operation,
        req: &Request,
    ) -> Result<Reply, AscError> {
        let body = self.parse_body(op, req)?;
        let rtype = op.target.clone().unwrap_or_default();
        let data = &body["data"];
        let mut tx = self.store.begin().await?;
        let locals = self.create_included(&mut tx, &body, &req.base).await?;
        let mut w = Write {
            op_id: op.id.clone(),
            rtype: rtype.clone(),
            id: self.new_id(&rtype),
            attributes: strip_nulls(
                data.get("attributes")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            ),
            relationships: Engine::linkage_of(data.get("relationships"))
                .into_iter()
                .map(|(n, l)| (n, resolve_local(l, &locals)))
                .collect(),
            existing: None,
            base: req.base.clone(),
        };
        self.check_targets(&mut tx, &w.relationships, "/data/relationships")
            .await?;
        for f in &self.families {
            f.before_write(self, &mut tx, &mut w).await?;
        }
        self.write(&mut tx, &w).await?;
        tx.commit().await?;
        let r = self.require(&w.rtype, &w.id).await?;
        let location = self.self_link(&req.base, &w.rtype, &w.id);
        let mut reply = self.single_doc(op, req, &Query::default(), r, 201).await?;
        // §1.5: 201 responses carry a Location header with the new resource's URI.
        reply.headers.push(("Location".into(), location));
        Ok(reply)
    }

    /// Writes a create or update: attributes and the relationships it sets (both sides).
    pub async fn write(&self, tx: &mut Tx, w: &Write) -> Result<(), AscError> {
        tx.put(&w.rtype, &w.id, &w.attributes).await?;
        for (rel, targets) in &w.relationships {
            self.set_linkage(tx, (&w.rtype, &w.id), rel, targets, true)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn update(
        &self,
        op: &'static Operation,
        req: &Request,
    ) -> Result<Reply, AscError> {
        let body = self.parse_body(op, req)?;
        let rtype = op
            .target
            .clone()
            .or(op.resource.clone())
            .unwrap_or_default();
        let id = req.id.clone().unwrap_or_default();
        let data = &body["data"];
        if data.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(AscError::entity_error(
                "ID.INVALID",
                "The provided entity id is invalid",
                format!(
                    "The id '{}' in the request does not match the id '{id}' in the URL",
                    data.get("id").and_then(Value::as_str).unwrap_or_default()
                ),
                "/data/id",
            ));
        }
        let mut tx = self.store.begin().await?;
        let existing = tx
            .get(&rtype, &id)
            .await?
            .ok_or_else(|| AscError::not_found(&rtype, &id))?;
        let locals = self.create_included(&mut tx, &body, &req.base).await?;
        let mut attributes = existing.attributes.clone();
        for (k, v) in data
            .get("attributes")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if v.is_null() {
                attributes.remove(k);
            } else {
                attributes.insert(k.clone(), v.clone());
            }
        }
        let mut w = Write {
            op_id: op.id.clone(),
            rtype: rtype.clone(),
            id: id.clone(),
            attributes,
            relationships: Engine::linkage_of(data.get("relationships"))
                .into_iter()
                .map(|(n, l)| (n, resolve_local(l, &locals)))
                .collect(),
            existing: Some(existing),
            base: req.base.clone(),
        };
        self.check_targets(&mut tx, &w.relationships, "/data/relationships")
            .await?;
        for f in &self.families {
            f.before_write(self, &mut tx, &mut w).await?;
        }
        self.write(&mut tx, &w).await?;
        tx.commit().await?;
        let r = self.require(&rtype, &id).await?;
        self.single_doc(op, req, &Query::default(), r, 200).await
    }

    pub(super) async fn delete(&self, op: &Operation, req: &Request) -> Result<Reply, AscError> {
        let rtype = op
            .target
            .clone()
            .or(op.resource.clone())
            .unwrap_or_default();
        let id = req.id.clone().unwrap_or_default();
        let mut tx = self.store.begin().await?;
        let existing = tx
            .get(&rtype, &id)
            .await?
            .ok_or_else(|| AscError::not_found(&rtype, &id))?;
        for f in &self.families {
            f.before_delete(self, &mut tx, &existing).await?;
        }
        tx.delete(&rtype, &id).await?;
        tx.commit().await?;
        Ok(Reply::no_content())
    }

    pub(super) async fn mutate_linkage(
        &self,
        op: &Operation,
        req: &Request,
    ) -> Result<Reply, AscError> {
        let body = self.parse_body(op, req)?;
        let parent = op.resource.clone().unwrap_or_default();
        let id = req.id.clone().unwrap_or_default();
        let rel = op.relationship.clone().unwrap_or_default();
        let targets: Vec<(String, String)> = match &body["data"] {
            Value::Array(a) => a.iter().filter_map(key_of).collect(),
            v @ Value::Object(_) => key_of(v).into_iter().collect(),
            _ => Vec::new(),
        };
        let mut tx = self.store.begin().await?;
        if !tx.exists(&parent, &id).await? {
            return Err(AscError::not_found(&parent, &id));
        }
        if op.kind != OpKind::DeleteToManyRelationship {
            self.check_targets(&mut tx, &[(rel.clone(), targets.clone())], "")
                .await?;
        }
        match op.kind {
            OpKind::CreateToManyRelationship => {
                for t in &targets {
                    self.link(&mut tx, (&parent, &id), &rel, (&t.0, &t.1))
                        .await?;
                }
            }
            OpKind::DeleteToManyRelationship => {
                for t in &targets {
                    self.unlink(&mut tx, (&parent, &id), &rel, (&t.0, &t.1))
                        .await?;
                }
            }
            _ => {
                self.set_linkage(&mut tx, (&parent, &id), &rel, &targets, true)
                    .await?
            }
        }
        tx.commit().await?;
        // Apple answers 202 on the few asynchronous removals its spec marks so (betaTesters).
        Ok(match op.success.status {
            202 => Reply {
                status: 202,
                ..Reply::no_content()
            },
            _ => Reply::no_content(),
        })
    }

    /// The relationship on `dst_type` that mirrors `src_type.rel`: the manifest's inverse, or —
    /// for relationships only a request document names (e.g. `analyticsReportRequests.app`) —
    /// the one relationship of `dst_type` that points back at `src_type`.
    pub(super) fn inverse_of(
        &self,
        src_type: &str,
        rel: &str,
        dst_type: &str,
    ) -> Option<(String, bool)> {
        let rs = &self.manifest.resources;
        let dst = rs.get(dst_type)?;
        if let Some(inv) = rs
            .get(src_type)
            .and_then(|r| r.relationships.get(rel))
            .and_then(|r| r.inverse.clone())
        {
            return dst
                .relationships
                .get(&inv)
                .map(|r| (inv.clone(), r.to_many));
        }
        let back: Vec<(&String, bool)> = dst
            .relationships
            .iter()
            .filter(|(_, r)| r.target.as_deref() == Some(src_type))
            .map(|(n, r)| (n, r.to_many))
            .collect();
        match back.as_slice() {
            [(n, many)] => Some(((*n).clone(), *many)),
            _ => None,
        }
    }

    pub(super) fn is_to_many(&self, rtype: &str, rel: &str) -> bool {
        self.manifest
            .resources
            .get(rtype)
            .and_then(|r| r.relationships.get(rel))
            .is_none_or(|r| r.to_many)
    }

    /// Adds `src —rel→ dst` and the inverse edge, replacing to-one linkage on either side.
    pub async fn link(
        &self,
        tx: &mut Tx,
        src: (&str, &str),
        rel: &str,
        dst: (&str, &str),
    ) -> Result<(), AscError> {
        if !self.is_to_many(src.0, rel) {
            for old in tx.linked(src.0, src.1, rel).await? {
                self.unlink(tx, src, rel, (&old.0, &old.1)).await?;
            }
        }
        tx.link(src, rel, dst).await?;
        if let Some((inv, inv_many)) = self.inverse_of(src.0, rel, dst.0) {
            if !inv_many {
                for old in tx.linked(dst.0, dst.1, &inv).await? {
                    if (old.0.as_str(), old.1.as_str()) != src {
                        tx.unlink(dst, &inv, (&old.0, &old.1)).await?;
                        tx.unlink((&old.0, &old.1), rel, dst).await?;
                    }
                }
            }
            tx.link(dst, &inv, src).await?;
        }
        Ok(())
    }

    pub async fn unlink(
        &self,
        tx: &mut Tx,
        src: (&str, &str),
        rel: &str,
        dst: (&str, &str),
    ) -> Result<(), AscError> {
        tx.unlink(src, rel, dst).await?;
        if let Some((inv, _)) = self.inverse_of(src.0, rel, dst.0) {
            tx.unlink(dst, &inv, src).await?;
        }
        Ok(())
    }

    /// Makes the linkage of `(src, rel)` exactly `targets` (or adds them when `replace` is false).
    pub async fn set_linkage(
        &self,
        tx: &mut Tx,
        src: (&str, &str),
        rel: &str,
        targets: &[(String, String)],
        replace: bool,
    ) -> Result<(), AscError> {
        if replace {
            for old in tx.linked(src.0, src.1, rel).await? {
                if !targets.contains(&old) {
                    self.unlink(tx, src, rel, (&old.0, &old.1)).await?;
                }
            }
        }
        for t in targets {
            self.link(tx, src, rel, (&t.0, &t.1)).await?;
        }
        Ok(())
    }
}
