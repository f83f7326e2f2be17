//! TestFlight's server-set values and linkage: a beta group's public link, a beta tester's
//! invitation type and state, and the apps a tester belongs to through its groups and builds.

use crate::rules::singletons::beta_states;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request, Write};
use crabapple_spec::Operation;
use crabapple_store::Tx;
use rand::Rng;
use serde_json::{Value, json};

pub struct TestFlight;

/// Apple's public links: `https://testflight.apple.com/join/` and an 8-character code.
pub const PUBLIC_LINK_BASE: &str = "https://testflight.apple.com/join/";

fn public_link_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Linkage operations with a consequence for a tester's apps: `(operation, whether the path's id
/// is the tester, whether it adds)`. Added to a group or build, a tester belongs to its app;
/// removed from an app, a tester leaves the app's groups and builds too.
const TESTER_LINKAGE: &[(&str, bool, bool)] = &[
    (
        "betaGroups_betaTesters_createToManyRelationship",
        false,
        true,
    ),
    (
        "builds_individualTesters_createToManyRelationship",
        false,
        true,
    ),
    (
        "betaTesters_betaGroups_createToManyRelationship",
        true,
        true,
    ),
    ("betaTesters_builds_createToManyRelationship", true, true),
    ("apps_betaTesters_deleteToManyRelationship", false, false),
    ("betaTesters_apps_deleteToManyRelationship", true, false),
];

/// Removes tester `t` from the groups and builds of `app`.
async fn leave_app(engine: &Engine, tx: &mut Tx, t: &str, app: &str) -> Result<(), AscError> {
    for rel in ["betaGroups", "builds"] {
        for (ty, id) in tx.linked("betaTesters", t, rel).await? {
            if app_of(tx, &ty, &id).await?.as_deref() == Some(app) {
                engine
                    .unlink(tx, ("betaTesters", t), rel, (&ty, &id))
                    .await?;
            }
        }
    }
    Ok(())
}

/// The app of a beta group or a build.
async fn app_of(tx: &mut Tx, rtype: &str, id: &str) -> Result<Option<String>, AscError> {
    Ok(tx
        .linked(rtype, id, "app")
        .await?
        .into_iter()
        .next()
        .map(|(_, a)| a))
}

/// Apps a tester joins through `targets` (beta groups and builds), without repeats.
async fn apps_of(tx: &mut Tx, targets: &[(String, String)]) -> Result<Vec<String>, AscError> {
    let mut apps = Vec::new();
    for (t, id) in targets {
        if let Some(a) = app_of(tx, t, id).await?
            && !apps.contains(&a)
        {
            apps.push(a);
        }
    }
    Ok(apps)
}

/// Whether any of the groups or builds has a build for the tester to install (then Apple sends
/// the invitation right away).
async fn has_build(tx: &mut Tx, targets: &[(String, String)]) -> Result<bool, AscError> {
    for (t, id) in targets {
        if t == "builds" {
            return Ok(true);
        }
        if t == "betaGroups" && !tx.linked(t, id, "builds").await?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

impl TestFlight {
    /// A group with `publicLinkEnabled` gets its code and link (on create and when enabled).
    fn public_link(w: &mut Write) {
        let enabled = w.attributes.get("publicLinkEnabled") == Some(&Value::Bool(true));
        let has = w
            .attributes
            .get("publicLinkId")
            .is_some_and(|v| !v.is_null());
        if enabled && !has {
            let code = public_link_id();
            w.attributes.insert(
                "publicLink".into(),
                json!(format!("{PUBLIC_LINK_BASE}{code}")),
            );
            w.attributes.insert("publicLinkId".into(), json!(code));
        }
    }

    /// A new tester: invited by email, `INVITED` when a build is there to test (else
    /// `NOT_INVITED`), and a tester of the apps of its groups and builds.
    async fn new_tester(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
        let targets: Vec<(String, String)> = w
            .relationships
            .iter()
            .filter(|(n, _)| n == "betaGroups" || n == "builds")
            .flat_map(|(_, l)| l.iter().cloned())
            .collect();
        w.attributes
            .entry("inviteType")
            .or_insert_with(|| json!("EMAIL"));
        let state = if has_build(tx, &targets).await? {
            "INVITED"
        } else {
            "NOT_INVITED"
        };
        w.attributes.entry("state").or_insert_with(|| json!(state));
        let apps = apps_of(tx, &targets).await?;
        if !apps.is_empty() && !w.relationships.iter().any(|(n, _)| n == "apps") {
            let apps = apps.into_iter().map(|a| ("apps".to_string(), a)).collect();
            w.relationships.push(("apps".into(), apps));
        }
        Ok(())
    }
}

impl Family for TestFlight {
    fn name(&self) -> &'static str {
        "testflight"
    }

    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            match w.rtype.as_str() {
                "betaGroups" => Self::public_link(w),
                "betaTesters" if w.existing.is_none() => Self::new_tester(tx, w).await?,
                // An export compliance answer moves the build's beta detail on.
                "builds" if w.existing.is_some() => {
                    let id = w.id.clone();
                    for (t, d) in tx.linked("builds", &id, "buildBetaDetail").await? {
                        let Some(mut detail) = tx.get(&t, &d).await? else {
                            continue;
                        };
                        let old = beta_states(&w.existing.as_ref().unwrap().attributes);
                        let new = beta_states(&w.attributes);
                        let a = &mut detail.attributes;
                        if old != new
                            && a.get("internalBuildState").and_then(Value::as_str) == Some(old.0)
                        {
                            a.insert("internalBuildState".into(), json!(new.0));
                            a.insert("externalBuildState".into(), json!(new.1));
                            tx.put(&t, &d, a).await?;
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }

    fn handles(&self, op: &Operation) -> bool {
        TESTER_LINKAGE.iter().any(|(o, _, _)| *o == op.id)
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        let &(_, path_is_tester, adds) = TESTER_LINKAGE.iter().find(|(o, _, _)| *o == op.id)?;
        Some(Box::pin(async move {
            let op = engine.op(req.op);
            let reply = engine.generic(op, req).await?;
            let listed = super::listed_linkage(&req.body);
            let path = (
                op.resource.clone().unwrap_or_default(),
                req.id.clone().unwrap_or_default(),
            );
            let (testers, targets) = if path_is_tester {
                (vec![path.1], listed)
            } else {
                (listed.into_iter().map(|(_, id)| id).collect(), vec![path])
            };
            let mut tx = engine.store.begin().await?;
            if !adds {
                for t in &testers {
                    for (_, app) in targets.iter().filter(|(ty, _)| ty == "apps") {
                        leave_app(engine, &mut tx, t, app).await?;
                    }
                }
            } else {
                let apps = apps_of(&mut tx, &targets).await?;
                for t in &testers {
                    for a in &apps {
                        engine
                            .link(&mut tx, ("betaTesters", t), "apps", ("apps", a))
                            .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(reply)
        }))
    }
}
