//! Beta App Review of a build for external testing: `POST /v1/betaAppReviewSubmissions` with
//! Apple's preconditions and refusals, then `betaReviewState` WAITING_FOR_REVIEW → IN_REVIEW →
//! APPROVED (or REJECTED) on the timeline (durations and outcome: builds.rs's settings), the
//! build's `externalBuildState` following (WAITING_FOR_BETA_REVIEW, IN_BETA_REVIEW,
//! BETA_APPROVED / IN_BETA_TESTING, BETA_REJECTED).
//!
//! Apple's refusals, as clients print them (422 since Apple moved these from 409):
//! - a build still processing, invalid or expired: "The build is not in a valid processing state
//!   for this operation." (codemagic-ci-cd/cli-tools#346);
//! - no export compliance answer: "The build is missing export compliance." (codemagic users'
//!   logs, e.g. antoinedc/MantaUI#933);
//! - another build of the same version (train) waiting or in review:
//!   `ENTITY_UNPROCESSABLE.ANOTHER_BUILD_IN_REVIEW` "Another build is in review." / "Another build
//!   in the same train is already in beta review. Please submit it again once it gets
//!   completed." (tramlinehq/store-quirks#5 and users' logs);
//! - test information missing: "Complete test information is required to submit application
//!   {name} build for external testing." with "App is missing required Beta App Information:
//!   Feedback Email." / "App is missing required Beta App Review Information: First Name, …"
//!   (codemagic users' logs).

use super::builds::{BETA_REVIEW_TRACK, Settings, obj, sync_detail};
use crabapple_jsonapi::{AscError, Write};
use crabapple_store::Tx;
use serde_json::{Map, Value, json};

const SUBMISSIONS: &str = "betaAppReviewSubmissions";

fn unprocessable(code: &str, title: &str, detail: &str) -> AscError {
    AscError::new(422, code, title, detail)
}

/// 422: the build cannot be used (processing, invalid, expired).
pub fn not_valid() -> AscError {
    let t = "The build is not in a valid processing state for this operation.";
    unprocessable("ENTITY_UNPROCESSABLE", t, t)
}

/// 422: the build has no export compliance answer.
pub fn missing_export_compliance() -> AscError {
    let t = "The build is missing export compliance.";
    unprocessable("ENTITY_UNPROCESSABLE", t, t)
}

/// The build a submission is for, from the create document's relationships.
fn build_of(w: &Write) -> Option<String> {
    w.relationships
        .iter()
        .find(|(n, _)| n == "build")
        .and_then(|(_, l)| l.first())
        .map(|(_, id)| id.clone())
}

/// Refuses a build that cannot be tested yet: still processing, invalid, expired, or without its
/// export compliance answer.
pub fn require_testable(build: &Map<String, Value>) -> Result<(), AscError> {
    let valid = build.get("processingState").and_then(Value::as_str) == Some("VALID");
    if !valid || build.get("expired") == Some(&Value::Bool(true)) {
        return Err(not_valid());
    }
    if build
        .get("usesNonExemptEncryption")
        .is_none_or(Value::is_null)
    {
        return Err(missing_export_compliance());
    }
    Ok(())
}

fn text_set(a: &Map<String, Value>, k: &str) -> bool {
    a.get(k)
        .and_then(Value::as_str)
        .is_some_and(|s| !s.trim().is_empty())
}

/// The test information Beta App Review needs: a feedback email in a beta app localization and
/// the review contact (betaAppReviewDetails, id = the app's id).
async fn require_test_information(tx: &mut Tx, app: &str) -> Result<(), AscError> {
    let name = tx
        .get("apps", app)
        .await?
        .and_then(|a| {
            a.attributes
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let title = format!(
        "Complete test information is required to submit application {name} build for external testing."
    );
    let mut feedback = false;
    for (t, id) in tx.linked("apps", app, "betaAppLocalizations").await? {
        if let Some(l) = tx.get(&t, &id).await? {
            feedback |= text_set(&l.attributes, "feedbackEmail");
        }
    }
    if !feedback {
        return Err(unprocessable(
            "ENTITY_UNPROCESSABLE",
            &title,
            "App is missing required Beta App Information: Feedback Email.",
        ));
    }
    let detail = match super::linked_one(tx, "apps", app, "betaAppReviewDetail").await? {
        Some(d) => tx
            .get("betaAppReviewDetails", &d)
            .await?
            .map(|r| r.attributes),
        None => None,
    }
    .unwrap_or_default();
    let missing: Vec<&str> = [
        ("contactFirstName", "First Name"),
        ("contactLastName", "Last Name"),
        ("contactPhone", "Phone Number"),
        ("contactEmail", "Email"),
    ]
    .iter()
    .filter(|(k, _)| !text_set(&detail, k))
    .map(|(_, label)| *label)
    .collect();
    if !missing.is_empty() {
        return Err(unprocessable(
            "ENTITY_UNPROCESSABLE",
            &title,
            &format!(
                "App is missing required Beta App Review Information: {}.",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Refuses a submission while another build of the same train (pre-release version; the app when
/// the build has none) waits for or is in Beta App Review — or this build already is.
async fn require_no_review_in_progress(tx: &mut Tx, build: &str) -> Result<(), AscError> {
    let (rel, parent) = match super::linked_one(tx, "builds", build, "preReleaseVersion").await? {
        Some(v) => ("preReleaseVersions", v),
        None => match super::linked_one(tx, "builds", build, "app").await? {
            Some(a) => ("apps", a),
            None => return Ok(()),
        },
    };
    for (_, other) in tx.linked(rel, &parent, "builds").await? {
        let state = super::builds::review_state(tx, &other).await?;
        if matches!(state.as_deref(), Some("WAITING_FOR_REVIEW" | "IN_REVIEW")) {
            return Err(unprocessable(
                "ENTITY_UNPROCESSABLE.ANOTHER_BUILD_IN_REVIEW",
                "Another build is in review.",
                "Another build in the same train is already in beta review. Please submit it again once it gets completed.",
            ));
        }
    }
    Ok(())
}

/// A new submission (the API's POST): Apple's preconditions, then WAITING_FOR_REVIEW with the
/// review planned on the timeline and the build's external state moved.
pub async fn submit(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let Some(build) = build_of(w) else {
        return Ok(());
    };
    let attrs = tx
        .get("builds", &build)
        .await?
        .ok_or_else(|| AscError::not_found("builds", &build))?
        .attributes;
    require_testable(&attrs)?;
    require_no_review_in_progress(tx, &build).await?;
    if let Some(app) = super::linked_one(tx, "builds", &build, "app").await? {
        require_test_information(tx, &app).await?;
    }
    w.attributes
        .insert("betaReviewState".into(), json!("WAITING_FOR_REVIEW"));
    let id = w.id.clone();
    tx.timeline_record(
        (SUBMISSIONS, &id),
        BETA_REVIEW_TRACK,
        &obj(json!({ "betaReviewState": "WAITING_FOR_REVIEW" })),
        "submitted for Beta App Review",
    )
    .await?;
    plan_review(tx, &id, "WAITING_FOR_REVIEW").await?;
    sync_detail(tx, &build, &attrs, Some(Some("WAITING_FOR_REVIEW"))).await
}

/// Plans the rest of a review from `state` (WAITING_FOR_REVIEW: in review after the wait, decided
/// after the review; IN_REVIEW: decided after the review; anything else: nothing), replacing
/// what was planned.
pub async fn plan_review(tx: &mut Tx, id: &str, state: &str) -> Result<(), AscError> {
    let s = Settings::load(tx).await?;
    let key = (SUBMISSIONS, id);
    tx.timeline_cancel(key, Some(BETA_REVIEW_TRACK)).await?;
    let now = tx.now_ms();
    let decided_at = match state {
        "WAITING_FOR_REVIEW" => {
            let at = now + s.beta_review_wait_minutes * 60_000;
            tx.timeline_plan(
                key,
                BETA_REVIEW_TRACK,
                at,
                &obj(json!({ "betaReviewState": "IN_REVIEW" })),
                "Beta App Review started",
            )
            .await?;
            at + s.beta_review_minutes * 60_000
        }
        "IN_REVIEW" => now + s.beta_review_minutes * 60_000,
        _ => return Ok(()),
    };
    let outcome = s.beta_review_outcome.as_str();
    tx.timeline_plan(
        key,
        BETA_REVIEW_TRACK,
        decided_at,
        &obj(json!({ "betaReviewState": outcome })),
        &format!("Beta App Review: {outcome}"),
    )
    .await?;
    Ok(())
}

/// The build follows its submission's `state`: its beta detail moves, and once approved the
/// testers of its groups are invited (external testers get a build only after Beta App Review).
async fn build_follows(tx: &mut Tx, build: &str, state: Option<&str>) -> Result<(), AscError> {
    if let Some(b) = tx.get("builds", build).await? {
        sync_detail(tx, build, &b.attributes, Some(state)).await?;
    }
    if state == Some("APPROVED") {
        for (_, g) in tx.linked("builds", build, "betaGroups").await? {
            super::testflight::invite_testers(tx, &g).await?;
        }
    }
    Ok(())
}

/// A submission's state changed on the timeline: its build follows.
pub async fn on_review_change(tx: &mut Tx, id: &str) -> Result<(), AscError> {
    let Some(build) = super::linked_one(tx, SUBMISSIONS, id, "build").await? else {
        return Ok(());
    };
    let state = super::builds::review_state(tx, &build).await?;
    build_follows(tx, &build, state.as_deref()).await
}

/// The admin API made a submission (Apple's record of a review): its review goes on from its
/// state (WAITING_FOR_REVIEW unless given) and the build follows.
pub async fn admin_create(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let state = w
        .attributes
        .entry("betaReviewState")
        .or_insert_with(|| json!("WAITING_FOR_REVIEW"))
        .as_str()
        .unwrap_or_default()
        .to_string();
    plan_review(tx, &w.id, &state).await?;
    match build_of(w) {
        Some(build) => build_follows(tx, &build, Some(&state)).await,
        None => Ok(()),
    }
}

/// The admin API changed a submission's `betaReviewState` (Apple's reviewer deciding now): the
/// planned review is replaced from the new state and the build follows.
pub async fn admin_update(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    let old = w
        .existing
        .as_ref()
        .and_then(|e| e.attributes.get("betaReviewState").cloned());
    let new = w.attributes.get("betaReviewState").cloned();
    if old == new {
        return Ok(());
    }
    let state = new.as_ref().and_then(Value::as_str).unwrap_or_default();
    plan_review(tx, &w.id, state).await?;
    tx.timeline_record(
        (SUBMISSIONS, &w.id),
        BETA_REVIEW_TRACK,
        &obj(json!({ "betaReviewState": state })),
        &format!("Beta App Review: {state} (admin API)"),
    )
    .await?;
    match super::linked_one(tx, SUBMISSIONS, &w.id, "build").await? {
        Some(build) => build_follows(tx, &build, Some(state)).await,
        None => Ok(()),
    }
}
