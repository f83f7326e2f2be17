//! TestFlight's server-set values and linkage: a beta group's public link and its limit, a beta
//! tester's invitation type and state, the apps a tester belongs to through its groups and builds,
//! and which builds a group can be given (with the testers invited when a build reaches them).
//!
//! Testers' states: `NOT_INVITED` until a build is there to test, then `INVITED` (Apple emails the
//! invitation); `ACCEPTED` and `INSTALLED` are the tester's doing on a device, so crabapple moves
//! them only on request: `PATCH /crabapple/admin/resources/betaTesters/{id}` with `{"attributes":
//! {"state": "ACCEPTED"}}` (README, "TestFlight").

use crate::rules::beta_review::require_testable;
use crate::rules::builds::{is_internal, review_state, sync_stored};
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
/// the invitation right away): a build given to the tester, any build of an internal group, a
/// build of an external group once Beta App Review approved it.
async fn has_build(tx: &mut Tx, targets: &[(String, String)]) -> Result<bool, AscError> {
    for (t, id) in targets {
        if t == "builds" {
            return Ok(true);
        }
        if t != "betaGroups" {
            continue;
        }
        let internal = is_internal(tx, id).await?;
        for (_, b) in tx.linked(t, id, "builds").await? {
            if internal || review_state(tx, &b).await?.as_deref() == Some("APPROVED") {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Apple's range of `publicLinkLimit` (the spec's BetaGroup documentation: the maximum number of
/// testers who can join through the public link, 1 to 10,000).
pub const PUBLIC_LINK_LIMIT: std::ops::RangeInclusive<i64> = 1..=10_000;

/// A group's `publicLinkLimit` outside 1..=10000 is refused (409, crabapple's wording of Apple's
/// documented range).
fn public_link_limit(w: &Write) -> Result<(), AscError> {
    let Some(v) = w.attributes.get("publicLinkLimit").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    if v.as_i64().is_some_and(|n| PUBLIC_LINK_LIMIT.contains(&n)) {
        return Ok(());
    }
    Err(AscError::entity_error(
        "ATTRIBUTE.INVALID",
        "An attribute value is invalid.",
        format!("The public link limit must be between 1 and 10000, not {v}."),
        "/data/attributes/publicLinkLimit",
    ))
}

/// Sets a tester's state and records it in the tester's history.
async fn set_tester_state(tx: &mut Tx, t: &str, state: &str, note: &str) -> Result<(), AscError> {
    let Some(mut r) = tx.get("betaTesters", t).await? else {
        return Ok(());
    };
    r.attributes.insert("state".into(), json!(state));
    tx.put("betaTesters", t, &r.attributes).await?;
    let mut changes = serde_json::Map::new();
    changes.insert("state".into(), json!(state));
    tx.timeline_record(("betaTesters", t), "invitation", &changes, note)
        .await?;
    Ok(())
}

/// A build reached the group's testers: those not invited yet are (`NOT_INVITED` → `INVITED`).
pub async fn invite_testers(tx: &mut Tx, group: &str) -> Result<(), AscError> {
    for (_, t) in tx.linked("betaGroups", group, "betaTesters").await? {
        let state = tx
            .get("betaTesters", &t)
            .await?
            .and_then(|r| r.attributes.get("state").cloned());
        if state
            .as_ref()
            .and_then(Value::as_str)
            .is_none_or(|s| s == "NOT_INVITED")
        {
            set_tester_state(tx, &t, "INVITED", "invited: a build is ready to test").await?;
        }
    }
    Ok(())
}

/// `POST /v1/betaTesterInvitations`: Apple (re)sends the invitation of the tester to the app; a
/// tester who has not accepted yet is `INVITED`.
async fn invitation(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    for (_, t) in w
        .relationships
        .iter()
        .filter(|(n, _)| n == "betaTester")
        .flat_map(|(_, l)| l.iter())
    {
        let state = tx
            .get("betaTesters", t)
            .await?
            .and_then(|r| r.attributes.get("state").cloned());
        if matches!(
            state.as_ref().and_then(Value::as_str),
            None | Some("NOT_INVITED" | "REVOKED")
        ) {
            set_tester_state(tx, t, "INVITED", "invited: betaTesterInvitations").await?;
        }
    }
    Ok(())
}

/// Operations that give builds to groups or take them back: `(operation, whether the path's id is
/// the build, whether it gives)`.
const GROUP_BUILDS: &[(&str, bool, bool)] = &[
    ("betaGroups_builds_createToManyRelationship", false, true),
    ("builds_betaGroups_createToManyRelationship", true, true),
    ("betaGroups_builds_deleteToManyRelationship", false, false),
    ("builds_betaGroups_deleteToManyRelationship", true, false),
];

/// Whether `build` may be given to `group`. An internal group with access to all builds has them
/// already: 422 "Builds cannot be assigned to this internal group." / "Cannot add internal group
/// to a build." (as Apple answered metasequoiaime/MSIME-Apple#518). Any group needs a build that
/// finished processing, has not expired and has its export compliance answer (Apple's 422s of
/// beta_review.rs; App-Store-Connect-CLI#2595 lists these as the causes). An external group may
/// be given a build before Beta App Review (it is staged there; its testers get it once
/// approved: App-Store-Connect-CLI#2658).
async fn require_assignable(tx: &mut Tx, group: &str, build: &str) -> Result<(), AscError> {
    let g = tx
        .get("betaGroups", group)
        .await?
        .ok_or_else(|| AscError::not_found("betaGroups", group))?;
    let flag = |k: &str| g.attributes.get(k) == Some(&Value::Bool(true));
    if flag("isInternalGroup") && flag("hasAccessToAllBuilds") {
        return Err(AscError::new(
            422,
            "ENTITY_UNPROCESSABLE",
            "Builds cannot be assigned to this internal group.",
            "Cannot add internal group to a build.",
        ));
    }
    let b = tx
        .get("builds", build)
        .await?
        .ok_or_else(|| AscError::not_found("builds", build))?;
    require_testable(&b.attributes)
}

/// Gives builds to groups (either path), then moves their beta details and invites the testers a
/// build reached: every tester of an internal group, those of an external group once the build
/// is approved. Taking builds back moves their beta details only.
async fn give_builds(
    engine: &Engine,
    op: &'static Operation,
    req: &Request,
    (path_is_build, gives): (bool, bool),
) -> Result<Reply, AscError> {
    let (path, listed) = path_and_listed(op, req);
    let pairs: Vec<(String, String)> = listed
        .into_iter()
        .map(|(_, id)| {
            if path_is_build {
                (id, path.1.clone())
            } else {
                (path.1.clone(), id)
            }
        })
        .collect();
    if gives {
        let mut tx = engine.store.begin().await?;
        for (g, b) in &pairs {
            if tx.exists("betaGroups", g).await? && tx.exists("builds", b).await? {
                require_assignable(&mut tx, g, b).await?;
            }
        }
    }
    let reply = engine.generic(op, req).await?;
    let mut tx = engine.store.begin().await?;
    for (g, b) in &pairs {
        sync_stored(&mut tx, b).await?;
        if !gives {
            continue;
        }
        let approved = crate::rules::builds::review_state(&mut tx, b)
            .await?
            .as_deref()
            == Some("APPROVED");
        if is_internal(&mut tx, g).await? || approved {
            invite_testers(&mut tx, g).await?;
        }
    }
    tx.commit().await?;
    Ok(reply)
}

/// The path's `(type, id)` and the `(type, id)`s a linkage request lists.
fn path_and_listed(op: &Operation, req: &Request) -> ((String, String), Vec<(String, String)>) {
    let listed = super::listed_linkage(&req.body);
    let path = (
        op.resource.clone().unwrap_or_default(),
        req.id.clone().unwrap_or_default(),
    );
    (path, listed)
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
                "betaGroups" => {
                    public_link_limit(w)?;
                    Self::public_link(w);
                }
                "betaTesters" if w.existing.is_none() => Self::new_tester(tx, w).await?,
                "betaTesterInvitations" if w.existing.is_none() => invitation(tx, w).await?,
                _ => {}
            }
            Ok(())
        })
    }

    fn handles(&self, op: &Operation) -> bool {
        TESTER_LINKAGE.iter().any(|(o, _, _)| *o == op.id)
            || GROUP_BUILDS.iter().any(|(o, _, _)| *o == op.id)
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        if let Some(&(_, path_is_build, gives)) = GROUP_BUILDS.iter().find(|(o, _, _)| *o == op.id)
        {
            return Some(Box::pin(async move {
                give_builds(engine, engine.op(req.op), req, (path_is_build, gives)).await
            }));
        }
        let &(_, path_is_tester, adds) = TESTER_LINKAGE.iter().find(|(o, _, _)| *o == op.id)?;
        Some(Box::pin(async move {
            let op = engine.op(req.op);
            let reply = engine.generic(op, req).await?;
            let (path, listed) = path_and_listed(op, req);
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
