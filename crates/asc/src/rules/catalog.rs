//! One-of and referential rules of an app's catalog and metadata (issue 7 §2, found by stateful
//! chains): one localization per locale of a parent, one product ID per app across its
//! subscriptions and in-app purchases, and what deleting a parent does to its children
//! (a subscription group with subscriptions is refused; a bundle ID takes its capabilities with
//! it and leaves its profiles `INVALID`).
//!
//! Apple's exact detail texts for these refusals are not captured (apple-semantics.md has none);
//! the codes follow §1.5 (409 `ENTITY_ERROR.ATTRIBUTE.INVALID` for a value that clashes, 409
//! `STATE_ERROR` for a delete the state of other resources forbids) and the words are crabapple's.

use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_spec::Manifest;
use crabapple_store::{Resource, Tx};
use serde_json::json;
use std::collections::BTreeSet;

pub struct Catalog;

impl Family for Catalog {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if w.existing.is_some() {
                return Ok(());
            }
            if w.rtype.ends_with("Localizations") && w.attributes.contains_key("locale") {
                one_localization_per_locale(tx, w).await?;
            }
            if w.rtype == "subscriptions" || w.rtype == "inAppPurchases" {
                one_product_id_per_app(tx, w).await?;
            }
            Ok(())
        })
    }

    fn before_delete<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        existing: &'a Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            match existing.rtype.as_str() {
                "subscriptionGroups" => {
                    let subs =
                        related(tx, ("subscriptionGroups", &existing.id), "subscriptions").await?;
                    if !subs.is_empty() {
                        return Err(AscError::state_error(format!(
                            "Cannot delete the subscription group '{}' because it has {} subscription(s). Delete its subscriptions first.",
                            existing.id,
                            subs.len()
                        ))
                        .reason("a subscription group that still has subscriptions is not deleted (issue 7 §2: 409, nothing written)"));
                    }
                }
                "bundleIds" => {
                    let bid = ("bundleIds", existing.id.as_str());
                    for cap in related(tx, bid, "bundleIdCapabilities").await? {
                        tx.delete("bundleIdCapabilities", &cap).await?;
                    }
                    // Apple's Developer portal: deleting an App ID invalidates its profiles.
                    for id in related(tx, bid, "profiles").await? {
                        if let Some(mut p) = tx.get("profiles", &id).await? {
                            p.attributes.insert("profileState".into(), json!("INVALID"));
                            tx.put("profiles", &id, &p.attributes).await?;
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }
}

/// Ids linked to `parent` through `rel`, read from both sides of the linkage (the parent's
/// to-many and the children's inverse to-one), so data from any loader is seen.
async fn related(tx: &mut Tx, parent: (&str, &str), rel: &str) -> Result<Vec<String>, AscError> {
    let m = Manifest::get();
    let spec = m
        .resources
        .get(parent.0)
        .and_then(|r| r.relationships.get(rel));
    let mut ids: BTreeSet<String> = tx
        .linked(parent.0, parent.1, rel)
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    if let Some(spec) = spec
        && let (Some(target), Some(inverse)) = (&spec.target, &spec.inverse)
    {
        ids.extend(tx.linking(target, inverse, parent).await?);
    }
    Ok(ids.into_iter().collect())
}

/// The single `(type, id)` a create links through `rel`, if any.
fn to_one<'w>(w: &'w Write, rel: &str) -> Option<(&'w str, &'w str)> {
    w.relationships
        .iter()
        .find(|(name, l)| name == rel && l.len() == 1)
        .map(|(_, l)| (l[0].0.as_str(), l[0].1.as_str()))
}

/// A second localization with the same locale for one parent is refused (issue 7 §2).
async fn one_localization_per_locale(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    let Some(locale) = w.attributes.get("locale").cloned() else {
        return Ok(());
    };
    let m = Manifest::get();
    for (rel, linkage) in &w.relationships {
        let [(ptype, pid)] = linkage.as_slice() else {
            continue;
        };
        // The parent's to-many that lists localizations of this type.
        let Some(parent_rel) = m.resources.get(ptype.as_str()).and_then(|r| {
            r.relationships
                .iter()
                .find(|(_, s)| {
                    s.target.as_deref() == Some(w.rtype.as_str())
                        && s.inverse.as_deref() == Some(rel.as_str())
                })
                .map(|(n, _)| n.clone())
        }) else {
            continue;
        };
        for sibling in related(tx, (ptype, pid), &parent_rel).await? {
            let clash = tx
                .get(&w.rtype, &sibling)
                .await?
                .is_some_and(|r| r.attributes.get("locale") == Some(&locale));
            if clash {
                let shown = locale.as_str().unwrap_or_default();
                return Err(AscError::entity_error(
                    "ATTRIBUTE.INVALID",
                    "An attribute value is invalid.",
                    format!("A localization for the locale '{shown}' already exists."),
                    "/data/attributes/locale",
                )
                .reason(format!(
                    "{} {sibling} of {ptype} {pid} already has locale '{shown}'; one localization per locale (issue 7 §2)",
                    w.rtype
                )));
            }
        }
    }
    Ok(())
}

/// Product IDs are unique within an app across its subscriptions and in-app purchases
/// (issue 7 §2: a second subscription with the same `productId` is Apple's 409).
async fn one_product_id_per_app(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    let Some(product_id) = w.attributes.get("productId").cloned() else {
        return Ok(());
    };
    // The app, through the subscription's group or the purchase's app.
    let mut groups = Vec::new();
    let app = match to_one(w, "group") {
        Some((_, gid)) => {
            groups.push(gid.to_string());
            let linked = tx.linked("subscriptionGroups", gid, "app").await?;
            let mut apps = linked.into_iter().map(|(_, id)| id).collect::<Vec<_>>();
            apps.extend(
                tx.linking("apps", "subscriptionGroups", ("subscriptionGroups", gid))
                    .await?,
            );
            apps.into_iter().next()
        }
        None => to_one(w, "app").map(|(_, id)| id.to_string()),
    };
    let mut products: Vec<(&str, String)> = Vec::new();
    if let Some(app) = &app {
        groups.extend(related(tx, ("apps", app), "subscriptionGroups").await?);
        for id in related(tx, ("apps", app), "inAppPurchasesV2").await? {
            products.push(("inAppPurchases", id));
        }
    }
    groups.sort();
    groups.dedup();
    for g in &groups {
        for id in related(tx, ("subscriptionGroups", g), "subscriptions").await? {
            products.push(("subscriptions", id));
        }
    }
    for (rtype, id) in products {
        let taken = tx
            .get(rtype, &id)
            .await?
            .is_some_and(|r| r.attributes.get("productId") == Some(&product_id));
        if taken {
            let shown = product_id.as_str().unwrap_or_default();
            return Err(AscError::entity_error(
                "ATTRIBUTE.INVALID",
                "An attribute value is invalid.",
                format!("The product ID '{shown}' has already been used."),
                "/data/attributes/productId",
            )
            .reason(format!(
                "{rtype} {id} of the same app already has productId '{shown}'; product IDs are unique per app (issue 7 §2)"
            )));
        }
    }
    Ok(())
}
