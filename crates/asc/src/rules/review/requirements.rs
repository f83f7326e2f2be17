//! What Apple checks before a version can be reviewed (when it is added to a review submission
//! and when the submission is submitted), answered as Apple does: one 409
//! `STATE_ERROR.ENTITY_STATE_INVALID` "appStoreVersions with id '…' is not in valid state." /
//! "This resource cannot be reviewed, please check associated errors to see why." whose
//! `meta.associatedErrors` lists one error per missing thing, keyed by the resource it concerns
//! (observed bodies: fastlane#20009, #20100, #20869; a public test fixture of the same 409 keyed
//! by `/apps/{id}`).
//!
//! The checks, in Apple's words where they are known:
//! - a build attached (crabapple's wording, by analogy with the attribute text below);
//! - each version localization's `description`, `keywords` and `supportUrl`, and `whatsNew` for
//!   an update: "The provided entity is missing a required attribute" / "You must provide a
//!   value for the attribute 'description' with this request" (observed);
//! - a screenshot for each display type the platform requires, counting the `appScreenshots` of
//!   the version's screenshot sets whatever their delivery state: "App screenshot missing
//!   (APP_IPHONE_65)." / "A screenshot with type iphone65 is required but was not provided"
//!   (observed, codemagic cli-tools#85; the code is crabapple's guess);
//! - the app's age rating declaration and its price schedule (crabapple's wording).

use super::versions::state_of;
use super::{attr, linked_one};
use crabapple_jsonapi::AscError;
use crabapple_store::Tx;
use serde_json::{Value, json};

/// `(platform, display types any of which satisfies it, the type named when missing, its short
/// name in Apple's text)`: iPhone needs the 6.9" (or the 6.5") screenshots, the other platforms
/// their one display.
pub const REQUIRED_SCREENSHOTS: &[(&str, &[&str], &str, &str)] = &[
    (
        "IOS",
        &["APP_IPHONE_67", "APP_IPHONE_65"],
        "APP_IPHONE_67",
        "iphone67",
    ),
    ("MAC_OS", &["APP_DESKTOP"], "APP_DESKTOP", "desktop"),
    ("TV_OS", &["APP_APPLE_TV"], "APP_APPLE_TV", "appleTV"),
    (
        "VISION_OS",
        &["APP_APPLE_VISION_PRO"],
        "APP_APPLE_VISION_PRO",
        "appleVisionPro",
    ),
];

/// Localization attributes every submitted version needs.
pub const REQUIRED_TEXTS: &[&str] = &["description", "keywords", "supportUrl"];

pub(super) fn associated(
    code: &str,
    title: &str,
    detail: String,
    pointer: Option<String>,
) -> Value {
    let mut e = json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "status": "409",
        "code": code,
        "title": title,
        "detail": detail,
    });
    if let Some(p) = pointer {
        e["source"] = json!({ "pointer": p });
    }
    e
}

/// A missing attribute, pointed at as Apple does (`/data/attributes/keywords`: codemagic reads
/// the attribute's name from the pointer).
fn missing_attribute(name: &str) -> Value {
    associated(
        "ENTITY_ERROR.ATTRIBUTE.REQUIRED",
        "The provided entity is missing a required attribute",
        format!("You must provide a value for the attribute '{name}' with this request"),
        Some(format!("/data/attributes/{name}")),
    )
}

fn missing_relationship(name: &str) -> Value {
    associated(
        "ENTITY_ERROR.RELATIONSHIP.REQUIRED",
        "The provided entity is missing a required relationship",
        format!("You must provide a value for the relationship '{name}' with this request"),
        Some(format!("/data/relationships/{name}")),
    )
}

/// The errors of version `id`, grouped by the path of the resource each concerns (empty: it can
/// be reviewed).
pub async fn problems(tx: &mut Tx, id: &str) -> Result<Vec<(String, Vec<Value>)>, AscError> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
    let mut add = |path: String, e: Value| match out.iter_mut().find(|(p, _)| *p == path) {
        Some((_, l)) => l.push(e),
        None => out.push((path, vec![e])),
    };
    let Some(v) = tx.get("appStoreVersions", id).await? else {
        return Ok(out);
    };
    let here = format!("/v1/appStoreVersions/{id}");
    if linked_one(tx, "appStoreVersions", id, "build")
        .await?
        .is_none()
    {
        add(here.clone(), missing_relationship("build"));
    }
    let app = linked_one(tx, "appStoreVersions", id, "app").await?;
    let update = match &app {
        Some(a) => has_live_version(tx, a, id).await?,
        None => false,
    };
    let mut shots: Vec<String> = Vec::new();
    let locs = tx
        .linked("appStoreVersions", id, "appStoreVersionLocalizations")
        .await?;
    if locs.is_empty() {
        add(
            here.clone(),
            missing_relationship("appStoreVersionLocalizations"),
        );
    }
    for (_, loc) in &locs {
        let Some(l) = tx.get("appStoreVersionLocalizations", loc).await? else {
            continue;
        };
        let path = format!("/v1/appStoreVersionLocalizations/{loc}");
        let wanted = REQUIRED_TEXTS
            .iter()
            .copied()
            .chain(update.then_some("whatsNew"));
        for name in wanted {
            if attr(&l.attributes, name).trim().is_empty() {
                add(path.clone(), missing_attribute(name));
            }
        }
        for (_, set) in tx
            .linked("appStoreVersionLocalizations", loc, "appScreenshotSets")
            .await?
        {
            if tx
                .linked("appScreenshotSets", &set, "appScreenshots")
                .await?
                .is_empty()
            {
                continue;
            }
            if let Some(s) = tx.get("appScreenshotSets", &set).await? {
                shots.push(attr(&s.attributes, "screenshotDisplayType").to_string());
            }
        }
    }
    let platform = attr(&v.attributes, "platform");
    if let Some((_, any, named, short)) = REQUIRED_SCREENSHOTS.iter().find(|(p, ..)| *p == platform)
        && !shots.iter().any(|s| any.contains(&s.as_str()))
    {
        add(
            here.clone(),
            associated(
                "STATE_ERROR.SCREENSHOT_REQUIRED",
                &format!("App screenshot missing ({named})."),
                format!("A screenshot with type {short} is required but was not provided"),
                None,
            ),
        );
    }
    if let Some(app) = &app {
        let mut rated = false;
        for (_, info) in tx.linked("apps", app, "appInfos").await? {
            if linked_one(tx, "appInfos", &info, "ageRatingDeclaration")
                .await?
                .is_some()
            {
                rated = true;
            }
        }
        if !rated {
            add(
                format!("/v1/apps/{app}"),
                missing_relationship("ageRatingDeclaration"),
            );
        }
        if linked_one(tx, "apps", app, "appPriceSchedule")
            .await?
            .is_none()
        {
            add(
                format!("/v1/apps/{app}"),
                missing_relationship("appPriceSchedule"),
            );
        }
    }
    Ok(out)
}

/// Whether the app has a version out before `id` (then `whatsNew` is required).
async fn has_live_version(tx: &mut Tx, app: &str, id: &str) -> Result<bool, AscError> {
    for (_, other) in tx.linked("apps", app, "appStoreVersions").await? {
        if other == id {
            continue;
        }
        if let Some(o) = tx.get("appStoreVersions", &other).await?
            && super::versions::DONE.contains(&state_of(&o.attributes))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Apple's 409 for version `id` with `problems` (non-empty).
pub fn not_in_valid_state(id: &str, problems: Vec<(String, Vec<Value>)>) -> AscError {
    let count: usize = problems.iter().map(|(_, l)| l.len()).sum();
    let mut e = AscError::new(
        409,
        "STATE_ERROR.ENTITY_STATE_INVALID",
        &format!("appStoreVersions with id '{id}' is not in valid state."),
        "This resource cannot be reviewed, please check associated errors to see why.",
    )
    .reason(format!(
        "{count} requirement(s) of review missing: {}",
        problems
            .iter()
            .flat_map(|(_, l)| l.iter().map(attr_detail))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let map: serde_json::Map<String, Value> = problems
        .into_iter()
        .map(|(p, l)| (p, Value::Array(l)))
        .collect();
    e.meta = Some(json!({ "associatedErrors": map }));
    e
}

fn attr_detail(e: &Value) -> String {
    e["detail"].as_str().unwrap_or_default().to_string()
}

/// Checks version `id`; Apple's 409 when something is missing.
pub async fn check(tx: &mut Tx, id: &str) -> Result<(), AscError> {
    let p = problems(tx, id).await?;
    if p.is_empty() {
        Ok(())
    } else {
        Err(not_in_valid_state(id, p))
    }
}
