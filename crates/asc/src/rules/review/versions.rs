//! An App Store version's state: `appVersionState` and the deprecated `appStoreState` kept in
//! step ([`STATES`], written as data), the states in which it may be edited, when a new version
//! may be created, and what the timeline does after each state (processing for distribution,
//! a scheduled release at its date, the previous version replaced, the phased release started).
//!
//! Facts: apple-semantics.md §8.4 (both enums); the spec's `AppVersionState` and
//! `AppStoreVersionState`; the 409 texts cited where they are used.

use super::{
    DAY_MS, Settings, TRACK_PHASED, TRACK_RELEASE, TRACK_VERSION, attr, change, linked_one,
    written_one,
};
use crate::rules::rfc3339;
use crabapple_jsonapi::{AscError, Write};
use crabapple_store::Tx;
use crabapple_store::timeline::Entry;
use serde_json::{Map, Value, json};

/// `(appVersionState, appStoreState)`: the deprecated attribute's name for each state of the
/// current one. The states Apple renamed: READY_FOR_DISTRIBUTION was READY_FOR_SALE,
/// PROCESSING_FOR_DISTRIBUTION was PROCESSING_FOR_APP_STORE; the others kept their names
/// (§8.4; the legacy enum's extra states — DEVELOPER_REMOVED_FROM_SALE, REMOVED_FROM_SALE,
/// PENDING_CONTRACT, PREORDER_READY_FOR_SALE, NOT_APPLICABLE — have no current counterpart).
pub const STATES: &[(&str, &str)] = &[
    ("ACCEPTED", "ACCEPTED"),
    ("DEVELOPER_REJECTED", "DEVELOPER_REJECTED"),
    ("IN_REVIEW", "IN_REVIEW"),
    ("INVALID_BINARY", "INVALID_BINARY"),
    ("METADATA_REJECTED", "METADATA_REJECTED"),
    ("PENDING_APPLE_RELEASE", "PENDING_APPLE_RELEASE"),
    ("PENDING_DEVELOPER_RELEASE", "PENDING_DEVELOPER_RELEASE"),
    ("PREPARE_FOR_SUBMISSION", "PREPARE_FOR_SUBMISSION"),
    ("PROCESSING_FOR_DISTRIBUTION", "PROCESSING_FOR_APP_STORE"),
    ("READY_FOR_DISTRIBUTION", "READY_FOR_SALE"),
    ("READY_FOR_REVIEW", "READY_FOR_REVIEW"),
    ("REJECTED", "REJECTED"),
    ("REPLACED_WITH_NEW_VERSION", "REPLACED_WITH_NEW_VERSION"),
    (
        "WAITING_FOR_EXPORT_COMPLIANCE",
        "WAITING_FOR_EXPORT_COMPLIANCE",
    ),
    ("WAITING_FOR_REVIEW", "WAITING_FOR_REVIEW"),
];

/// States in which the developer edits the version (and submits it): before its first
/// submission, and after it came back from review (rejected, removed by the developer).
pub const EDITABLE: &[&str] = &[
    "PREPARE_FOR_SUBMISSION",
    "READY_FOR_REVIEW",
    "DEVELOPER_REJECTED",
    "REJECTED",
    "METADATA_REJECTED",
    "INVALID_BINARY",
    "WAITING_FOR_EXPORT_COMPLIANCE",
];

/// States after which a version is history: live, or replaced by a newer live one.
pub const DONE: &[&str] = &["READY_FOR_DISTRIBUTION", "REPLACED_WITH_NEW_VERSION"];

/// The legacy `appStoreState` of a state.
pub fn legacy_state(state: &str) -> &str {
    STATES
        .iter()
        .find(|(s, _)| *s == state)
        .map_or(state, |(_, l)| l)
}

/// The changes that put a version in `state` (both attributes).
pub fn state_changes(state: &str) -> Map<String, Value> {
    let mut m = change("appVersionState", state);
    m.insert("appStoreState".into(), json!(legacy_state(state)));
    m
}

pub fn state_of(attributes: &Map<String, Value>) -> &str {
    match attr(attributes, "appVersionState") {
        "" => attr(attributes, "appStoreState"),
        s => s,
    }
}

pub fn is_editable(state: &str) -> bool {
    EDITABLE.contains(&state)
}

/// Plans the version's move to `state` at `at_ms` (its history entry, applied then).
pub async fn plan_state(
    tx: &mut Tx,
    id: &str,
    track: &str,
    at_ms: i64,
    state: &str,
    note: &str,
) -> Result<(), AscError> {
    tx.timeline_plan(
        ("appStoreVersions", id),
        track,
        at_ms,
        &state_changes(state),
        note,
    )
    .await?;
    Ok(())
}

/// 409 for a new version while the platform has one that is not history yet: observed
/// `ENTITY_ERROR.RELATIONSHIP.INVALID` "You cannot create a new version of the App in the
/// current state." at `/data/relationships/app` (public CI logs: a version left in
/// PREPARE_FOR_SUBMISSION, or the previous one still in review).
pub fn cannot_create() -> AscError {
    AscError::entity_error(
        "RELATIONSHIP.INVALID",
        "The provided entity includes a relationship with an invalid value",
        "You cannot create a new version of the App in the current state.",
        "/data/relationships/app",
    )
}

/// 409 for an edit in a state that does not take it: observed `STATE_ERROR` "Attribute
/// 'description' cannot be edited at this time" (fastlane#17933); the relationship wording is
/// crabapple's, by analogy.
pub fn not_editable(what: &str, name: &str) -> AscError {
    AscError::state_error(format!("{what} '{name}' cannot be edited at this time"))
}

/// Creates and updates of `appStoreVersions` from requests.
pub async fn before_write(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let Some(existing) = w.existing.clone() else {
        return new_version(tx, w).await;
    };
    let state = state_of(&existing.attributes).to_string();
    if is_editable(&state) {
        return Ok(());
    }
    for (k, v) in &w.attributes {
        if existing.attributes.get(k) != Some(v) {
            return Err(not_editable("Attribute", k).reason(format!(
                "the version is {state}; a version is edited only in {}",
                EDITABLE.join(", ")
            )));
        }
    }
    for (rel, targets) in &w.relationships {
        if tx.linked(&w.rtype, &w.id, rel).await? != *targets {
            return Err(not_editable("Relationship", rel).reason(format!(
                "the version is {state}; its {rel} is fixed until it leaves review"
            )));
        }
    }
    Ok(())
}

/// A new version: refused while another version of the app for the platform is not history yet
/// (editable, in review, or approved and not yet live).
async fn new_version(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let Some(app) = written_one(w, "app").map(str::to_string) else {
        return Ok(());
    };
    let platform = attr(&w.attributes, "platform").to_string();
    for (_, v) in tx.linked("apps", &app, "appStoreVersions").await? {
        let Some(other) = tx.get("appStoreVersions", &v).await? else {
            continue;
        };
        let state = state_of(&other.attributes);
        if attr(&other.attributes, "platform") == platform && !DONE.contains(&state) {
            return Err(cannot_create().reason(format!(
                "version {} ({v}) of app {app} for {platform} is {state}: a new version is created once it is live",
                attr(&other.attributes, "versionString")
            )));
        }
    }
    let created = state_changes("PREPARE_FOR_SUBMISSION");
    w.attributes.extend(created.clone());
    tx.timeline_record(
        ("appStoreVersions", &w.id),
        TRACK_VERSION,
        &created,
        "created",
    )
    .await?;
    Ok(())
}

/// An update of a version localization: only `promotionalText` may change once the version left
/// the editable states (Apple lets promotional text change at any time; the other texts give
/// the observed `STATE_ERROR` above).
pub async fn localization_edit(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let existing = w
        .existing
        .as_ref()
        .map(|r| r.attributes.clone())
        .unwrap_or_default();
    let Some(version) = linked_one(tx, &w.rtype, &w.id, "appStoreVersion").await? else {
        return Ok(());
    };
    let Some(v) = tx.get("appStoreVersions", &version).await? else {
        return Ok(());
    };
    let state = state_of(&v.attributes).to_string();
    if is_editable(&state) {
        return Ok(());
    }
    for (k, val) in &w.attributes {
        if k != "promotionalText" && existing.get(k) != Some(val) {
            return Err(
                not_editable("Attribute", k).reason(format!("its version {version} is {state}"))
            );
        }
    }
    Ok(())
}

/// What follows a version's state once the clock reached it.
pub async fn on_timeline(tx: &mut Tx, e: &Entry) -> Result<(), AscError> {
    let Some(state) = e.changes.get("appVersionState").and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(v) = tx.get("appStoreVersions", &e.id).await? else {
        return Ok(());
    };
    match state {
        "PROCESSING_FOR_DISTRIBUTION" => {
            let s = Settings::read(tx).await?;
            plan_state(
                tx,
                &e.id,
                TRACK_RELEASE,
                e.at_ms + s.processing_ms,
                "READY_FOR_DISTRIBUTION",
                "processed for distribution: on the App Store",
            )
            .await
        }
        "PENDING_APPLE_RELEASE" => {
            let at = earliest_release_ms(&v.attributes)
                .unwrap_or(e.at_ms)
                .max(e.at_ms);
            plan_state(
                tx,
                &e.id,
                TRACK_RELEASE,
                at,
                "PROCESSING_FOR_DISTRIBUTION",
                "scheduled release date reached",
            )
            .await
        }
        "READY_FOR_DISTRIBUTION" => released(tx, &e.id, &v.attributes, e.at_ms).await,
        _ => Ok(()),
    }
}

/// `earliestReleaseDate` in epoch milliseconds.
pub fn earliest_release_ms(attributes: &Map<String, Value>) -> Option<i64> {
    crate::rules::ms_of(attributes.get("earliestReleaseDate"))
}

/// The state an approved version goes to at `at_ms`, by its `releaseType`: MANUAL waits for the
/// developer, SCHEDULED for its `earliestReleaseDate` (when still ahead), AFTER_APPROVAL (the
/// default) is processed for distribution at once.
pub fn approved_state(attributes: &Map<String, Value>, at_ms: i64) -> &'static str {
    match attr(attributes, "releaseType") {
        "MANUAL" => "PENDING_DEVELOPER_RELEASE",
        "SCHEDULED" if earliest_release_ms(attributes).is_some_and(|t| t > at_ms) => {
            "PENDING_APPLE_RELEASE"
        }
        _ => "PROCESSING_FOR_DISTRIBUTION",
    }
}

/// A version went live at `at_ms`: the app's previous live version for the platform is replaced
/// (REPLACED_WITH_NEW_VERSION) and its phased release, if any, starts.
async fn released(
    tx: &mut Tx,
    id: &str,
    attributes: &Map<String, Value>,
    at_ms: i64,
) -> Result<(), AscError> {
    let platform = attr(attributes, "platform").to_string();
    let version = attr(attributes, "versionString").to_string();
    if let Some(app) = linked_one(tx, "appStoreVersions", id, "app").await? {
        for (_, other) in tx.linked("apps", &app, "appStoreVersions").await? {
            if other == id {
                continue;
            }
            let Some(o) = tx.get("appStoreVersions", &other).await? else {
                continue;
            };
            if attr(&o.attributes, "platform") == platform
                && state_of(&o.attributes) == "READY_FOR_DISTRIBUTION"
            {
                plan_state(
                    tx,
                    &other,
                    TRACK_RELEASE,
                    at_ms,
                    "REPLACED_WITH_NEW_VERSION",
                    &format!("replaced by version {version}"),
                )
                .await?;
            }
        }
    }
    let Some(phased) =
        linked_one(tx, "appStoreVersions", id, "appStoreVersionPhasedRelease").await?
    else {
        return Ok(());
    };
    let Some(p) = tx.get("appStoreVersionPhasedReleases", &phased).await? else {
        return Ok(());
    };
    let state = attr(&p.attributes, "phasedReleaseState");
    let started = p.attributes.get("startDate").is_some_and(|d| !d.is_null());
    if state == "INACTIVE" || (state == "ACTIVE" && !started) {
        let mut start = super::release::day_changes(1);
        start.insert("phasedReleaseState".into(), json!("ACTIVE"));
        start.insert("startDate".into(), json!(rfc3339(at_ms)));
        tx.timeline_plan(
            ("appStoreVersionPhasedReleases", &phased),
            TRACK_PHASED,
            at_ms,
            &start,
            &super::release::day_note(1),
        )
        .await?;
        super::release::plan_days(tx, &phased, 1, at_ms + DAY_MS).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_state_attributes_name_every_state_of_the_spec() {
        let m = crabapple_spec::Manifest::get();
        let states = |name: &str| -> Vec<String> {
            let s = m.resolve(&m.resources["appStoreVersions"].attributes[name]);
            s["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let current = states("appVersionState");
        let legacy = states("appStoreState");
        for s in &current {
            assert!(STATES.iter().any(|(c, _)| c == s), "{s} has no mapping");
        }
        for (c, l) in STATES {
            assert!(current.contains(&c.to_string()), "{c}");
            assert!(legacy.contains(&l.to_string()), "{l}");
        }
        assert_eq!(legacy_state("READY_FOR_DISTRIBUTION"), "READY_FOR_SALE");
        assert_eq!(
            legacy_state("PROCESSING_FOR_DISTRIBUTION"),
            "PROCESSING_FOR_APP_STORE"
        );
    }

    #[test]
    fn an_approved_version_goes_where_its_release_type_says() {
        let attrs = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            approved_state(&attrs(json!({"releaseType": "MANUAL"})), 0),
            "PENDING_DEVELOPER_RELEASE"
        );
        assert_eq!(
            approved_state(&attrs(json!({"releaseType": "AFTER_APPROVAL"})), 0),
            "PROCESSING_FOR_DISTRIBUTION"
        );
        let scheduled = attrs(
            json!({"releaseType": "SCHEDULED", "earliestReleaseDate": "1970-01-02T00:00:00Z"}),
        );
        assert_eq!(approved_state(&scheduled, 0), "PENDING_APPLE_RELEASE");
        assert_eq!(
            approved_state(&scheduled, DAY_MS + 1),
            "PROCESSING_FOR_DISTRIBUTION",
            "a date already past releases at once"
        );
    }
}
