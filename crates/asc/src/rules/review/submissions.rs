//! Review submissions (`reviewSubmissions`, `reviewSubmissionItems`) and the simulated reviewer.
//!
//! A submission is created for an app and a platform (READY_FOR_REVIEW), gets its items (a
//! version: checked by [`requirements`] as Apple checks it when the item is added), and is sent
//! with `PATCH … submitted: true`: WAITING_FOR_REVIEW with its `submittedDate`, the version
//! WAITING_FOR_REVIEW too. The reviewer is planned on the timeline at once: IN_REVIEW after
//! `review.waitingMs`, the verdict `review.inReviewMs` later — approved (the submission
//! COMPLETE, the item APPROVED, the version where its release type leads) or rejected (the
//! submission UNRESOLVED_ISSUES, the item and the version REJECTED), rejected for a share
//! `review.rejectRate` of submissions drawn from the submission's id. `canceled: true` takes it
//! back: CANCELING, then COMPLETE, the version DEVELOPER_REJECTED (observed: "version … ->
//! DEVELOPER_REJECTED, reviewState COMPLETE", App-Store-Connect-CLI#2045), the items REMOVED.
//! [`decide`] is the reviewer on command (`crabapple review approve|reject`, the admin API).
//! In-app events, custom product pages and product page tests move with their submission too
//! (items.rs).

use super::requirements;
use super::versions::{approved_state, is_editable, plan_state, state_of};
use super::{Settings, TRACK_REVIEW, attr, change, linked_one, written_one};
use crabapple_jsonapi::{AscError, Engine, Write};
use crabapple_store::Tx;
use serde_json::{Value, json};

/// 409 of a submission without items: observed `STATE_ERROR.ENTITY_STATE_INVALID` "Resource
/// state invalid" / "reviewSubmissions with id … does not have any items." (microsoft/asconnect#50).
pub fn no_items(id: &str) -> AscError {
    AscError::new(
        409,
        "STATE_ERROR.ENTITY_STATE_INVALID",
        "Resource state invalid",
        format!("reviewSubmissions with id {id} does not have any items."),
    )
}

/// 409 for a submission change its state does not allow (submitting twice, canceling a finished
/// review, adding items once submitted). The code and title are Apple's (above); the detail is
/// crabapple's wording.
pub fn wrong_state(id: &str, state: &str, what: &str) -> AscError {
    AscError::new(
        409,
        "STATE_ERROR.ENTITY_STATE_INVALID",
        "Resource state invalid",
        format!("reviewSubmissions with id {id} cannot {what} in state {state}."),
    )
}

/// States of a submission that is still open (not COMPLETE).
const OPEN: &[&str] = &[
    "READY_FOR_REVIEW",
    "WAITING_FOR_REVIEW",
    "IN_REVIEW",
    "UNRESOLVED_ISSUES",
    "CANCELING",
    "COMPLETING",
];

/// Apple's limit of unfinished submissions per app and platform (observed: "maximum limit=5 of
/// concurrency", a public fixture of the 409 below).
pub const MAX_OPEN: usize = 5;

/// `PATCH`/`POST /v1/reviewSubmissions`.
pub async fn before_write(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let submitted = w.attributes.remove("submitted") == Some(Value::Bool(true));
    let canceled = w.attributes.remove("canceled") == Some(Value::Bool(true));
    let Some(existing) = w.existing.clone() else {
        return new_submission(tx, w).await;
    };
    let state = attr(&existing.attributes, "state").to_string();
    if canceled {
        if !matches!(
            state.as_str(),
            "WAITING_FOR_REVIEW" | "IN_REVIEW" | "UNRESOLVED_ISSUES" | "READY_FOR_REVIEW"
        ) {
            return Err(wrong_state(&w.id, &state, "be canceled"));
        }
        return cancel(tx, w).await;
    }
    if submitted {
        if state != "READY_FOR_REVIEW" && state != "UNRESOLVED_ISSUES" {
            return Err(wrong_state(&w.id, &state, "be submitted"));
        }
        return submit(tx, w).await;
    }
    Ok(())
}

/// A new submission: at most [`MAX_OPEN`] unfinished ones per app and platform.
async fn new_submission(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let Some(app) = written_one(w, "app").map(str::to_string) else {
        return Ok(());
    };
    let platform = match attr(&w.attributes, "platform") {
        "" => "IOS".to_string(),
        p => p.to_string(),
    };
    let mut open = 0;
    for (_, s) in tx.linked("apps", &app, "reviewSubmissions").await? {
        if let Some(r) = tx.get("reviewSubmissions", &s).await?
            && attr(&r.attributes, "platform") == platform
            && OPEN.contains(&attr(&r.attributes, "state"))
        {
            open += 1;
        }
    }
    if open >= MAX_OPEN {
        let mut e = AscError::new(
            409,
            "STATE_ERROR.ENTITY_STATE_INVALID",
            &format!("apps with id '{app}' is not in valid state."),
            "This resource cannot be reviewed, please check associated errors to see why.",
        );
        e.meta = Some(json!({"associatedErrors": {format!("/apps/{app}"): [{
            "id": uuid::Uuid::new_v4().to_string(),
            "status": "409",
            "code": "STATE_ERROR.CONCURRENT_REVIEW_SUBMISSION_LIMIT_EXCEEDED",
            "title": "ReviewSubmission creation concurrency limit is reached",
            "detail": format!("Unable to create reviewSubmission for appId={app} reviewSubmissionType=DEFAULT platform={platform} as maximum limit={MAX_OPEN} of concurrency has reached"),
        }]}}));
        return Err(e);
    }
    Ok(())
}

/// Plans the `state` of a submission or an item at `at_ms` on the review track.
pub(super) async fn plan_review_state(
    tx: &mut Tx,
    resource: (&str, &str),
    at_ms: i64,
    state: &str,
    note: &str,
) -> Result<(), AscError> {
    tx.timeline_plan(resource, TRACK_REVIEW, at_ms, &change("state", state), note)
        .await?;
    Ok(())
}

/// The versions a submission's items hold: `(item, version)`.
async fn version_items(tx: &mut Tx, submission: &str) -> Result<Vec<(String, String)>, AscError> {
    let mut out = Vec::new();
    for (_, item) in tx.linked("reviewSubmissions", submission, "items").await? {
        if let Some(v) = linked_one(tx, "reviewSubmissionItems", &item, "appStoreVersion").await? {
            out.push((item, v));
        }
    }
    Ok(out)
}

/// `submitted: true`: checks every version again, then plans the review.
async fn submit(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let items = tx.linked("reviewSubmissions", &w.id, "items").await?;
    if items.is_empty() {
        return Err(no_items(&w.id));
    }
    let versions = version_items(tx, &w.id).await?;
    for (_, v) in &versions {
        requirements::check(tx, v).await?;
    }
    let now = tx.now_ms();
    let mut changes = change("state", "WAITING_FOR_REVIEW");
    changes.insert("submittedDate".into(), json!(crate::rules::rfc3339(now)));
    w.attributes.extend(changes.clone());
    tx.timeline_record(
        ("reviewSubmissions", &w.id),
        TRACK_REVIEW,
        &changes,
        "submitted for review",
    )
    .await?;
    for (_, v) in &versions {
        plan_state(
            tx,
            v,
            TRACK_REVIEW,
            now,
            "WAITING_FOR_REVIEW",
            "submitted for review",
        )
        .await?;
    }
    let s = Settings::read(tx).await?;
    let in_review = now + s.waiting_ms;
    let verdict = in_review + s.in_review_ms;
    super::items::plan_submit(tx, &w.id, now, in_review).await?;
    plan_review_state(
        tx,
        ("reviewSubmissions", &w.id),
        in_review,
        "IN_REVIEW",
        "review started",
    )
    .await?;
    for (_, v) in &versions {
        plan_state(
            tx,
            v,
            TRACK_REVIEW,
            in_review,
            "IN_REVIEW",
            "review started",
        )
        .await?;
    }
    let approve = draw(&w.id, s.reject_rate);
    let v = if approve {
        Verdict::Approve
    } else {
        Verdict::Reject("Guideline 2.1 - Performance - App Completeness".into())
    };
    plan_verdict(tx, &w.id, &versions, &v, verdict).await
}

/// Whether the reviewer approves submission `id` when it rejects a share `rate`: a fixed hash of
/// the id (FNV-1a, then SplitMix64's finalizer so that ids differing in one character spread)
/// mapped to [0, 1), the same for the same world.
pub fn draw(id: &str, rate: f64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    let x = (h >> 11) as f64 / (1u64 << 53) as f64;
    x >= rate
}

/// The reviewer's decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Approve,
    /// With the reason (kept in the history; Apple shows it in the Resolution Center, which the
    /// API does not expose).
    Reject(String),
}

/// Plans the verdict on the submission, its items and versions at `at_ms`.
async fn plan_verdict(
    tx: &mut Tx,
    submission: &str,
    versions: &[(String, String)],
    verdict: &Verdict,
    at_ms: i64,
) -> Result<(), AscError> {
    let (sub_state, item_state, note) = match verdict {
        Verdict::Approve => ("COMPLETE", "APPROVED", "approved".to_string()),
        Verdict::Reject(why) => ("UNRESOLVED_ISSUES", "REJECTED", format!("rejected: {why}")),
    };
    plan_review_state(
        tx,
        ("reviewSubmissions", submission),
        at_ms,
        sub_state,
        &note,
    )
    .await?;
    for (item, v) in versions {
        plan_review_state(
            tx,
            ("reviewSubmissionItems", item),
            at_ms,
            item_state,
            &note,
        )
        .await?;
        let state = match verdict {
            Verdict::Approve => match tx.get("appStoreVersions", v).await? {
                Some(r) => approved_state(&r.attributes, at_ms),
                None => continue,
            },
            Verdict::Reject(_) => "REJECTED",
        };
        plan_state(tx, v, TRACK_REVIEW, at_ms, state, &note).await?;
    }
    let has_version = !versions.is_empty();
    super::items::plan_verdict(tx, submission, verdict, has_version, at_ms, &note).await
}

/// `canceled: true`: the submission is CANCELING now, then [`take_back`].
async fn cancel(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let canceling = change("state", "CANCELING");
    w.attributes.extend(canceling.clone());
    tx.timeline_record(
        ("reviewSubmissions", &w.id),
        TRACK_REVIEW,
        &canceling,
        "canceled by the developer",
    )
    .await?;
    take_back(tx, &w.id, false).await
}

/// Takes submission `id` back from review: its planned steps are cancelled; it is COMPLETE at
/// once (after CANCELING, planned too when `plan_canceling`), its versions DEVELOPER_REJECTED,
/// its items REMOVED.
async fn take_back(tx: &mut Tx, id: &str, plan_canceling: bool) -> Result<(), AscError> {
    let now = tx.now_ms();
    let versions = version_items(tx, id).await?;
    tx.timeline_cancel(("reviewSubmissions", id), Some(TRACK_REVIEW))
        .await?;
    if plan_canceling {
        plan_review_state(
            tx,
            ("reviewSubmissions", id),
            now,
            "CANCELING",
            "canceled by the developer",
        )
        .await?;
    }
    plan_review_state(
        tx,
        ("reviewSubmissions", id),
        now,
        "COMPLETE",
        "cancellation complete",
    )
    .await?;
    for (item, v) in &versions {
        tx.timeline_cancel(("reviewSubmissionItems", item), Some(TRACK_REVIEW))
            .await?;
        plan_review_state(
            tx,
            ("reviewSubmissionItems", item),
            now,
            "REMOVED",
            "removed from review by the developer",
        )
        .await?;
        withdraw(tx, v, now).await?;
    }
    super::items::take_back(tx, id, now).await
}

/// A version taken back from review: its planned review cancelled, DEVELOPER_REJECTED (when it
/// had left the editable states).
async fn withdraw(tx: &mut Tx, version: &str, now: i64) -> Result<(), AscError> {
    tx.timeline_cancel(("appStoreVersions", version), Some(TRACK_REVIEW))
        .await?;
    let state = tx
        .get("appStoreVersions", version)
        .await?
        .map(|r| state_of(&r.attributes).to_string())
        .unwrap_or_default();
    if !is_editable(&state) || state == "READY_FOR_REVIEW" {
        plan_state(
            tx,
            version,
            TRACK_REVIEW,
            now,
            "DEVELOPER_REJECTED",
            "removed from review by the developer",
        )
        .await?;
    }
    Ok(())
}

/// `DELETE /v1/appStoreVersionSubmissions/{id}` (deprecated, the older way to remove a version
/// from review): the version's open submissions are taken back as by `canceled: true`, or the
/// version alone when no submission holds it.
pub async fn withdraw_version_submission(tx: &mut Tx, id: &str) -> Result<(), AscError> {
    let Some(version) = linked_one(tx, "appStoreVersionSubmissions", id, "appStoreVersion").await?
    else {
        return Ok(());
    };
    let Some(v) = tx.get("appStoreVersions", &version).await? else {
        return Ok(());
    };
    if !matches!(state_of(&v.attributes), "WAITING_FOR_REVIEW" | "IN_REVIEW") {
        return Ok(());
    }
    let mut any = false;
    for sub in tx
        .linking(
            "reviewSubmissions",
            "appStoreVersionForReview",
            ("appStoreVersions", &version),
        )
        .await?
    {
        if let Some(s) = tx.get("reviewSubmissions", &sub).await?
            && matches!(
                attr(&s.attributes, "state"),
                "WAITING_FOR_REVIEW" | "IN_REVIEW"
            )
        {
            take_back(tx, &sub, true).await?;
            any = true;
        }
    }
    if !any {
        let now = tx.now_ms();
        withdraw(tx, &version, now).await?;
    }
    Ok(())
}

/// `POST /v1/reviewSubmissionItems`: a version joins an unsubmitted submission once Apple's
/// requirements hold (observed: the 409 of [`requirements`] answers this POST,
/// itsyconnect-macos#67); the submission then names it as `appStoreVersionForReview`.
pub async fn item_write(engine: &Engine, tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    if w.existing.is_some() {
        w.attributes.remove("resolved");
        if w.attributes.remove("removed") == Some(Value::Bool(true)) {
            w.attributes.insert("state".into(), json!("REMOVED"));
            let s = change("state", "REMOVED");
            tx.timeline_record(
                ("reviewSubmissionItems", &w.id),
                TRACK_REVIEW,
                &s,
                "removed by the developer",
            )
            .await?;
        }
        return Ok(());
    }
    let Some(sub) = written_one(w, "reviewSubmission").map(str::to_string) else {
        return Ok(());
    };
    if let Some(s) = tx.get("reviewSubmissions", &sub).await? {
        let state = attr(&s.attributes, "state");
        if state != "READY_FOR_REVIEW" && state != "UNRESOLVED_ISSUES" {
            return Err(wrong_state(&sub, state, "take new items")
                .pointer("/data/relationships/reviewSubmission"));
        }
    }
    // Not twice; events, pages and tests in a state they can be submitted from (items.rs).
    super::items::add(tx, w).await?;
    let Some(version) = written_one(w, "appStoreVersion").map(str::to_string) else {
        return Ok(());
    };
    if let Some(v) = tx.get("appStoreVersions", &version).await? {
        let state = state_of(&v.attributes).to_string();
        if !is_editable(&state) {
            return Err(super::items::not_reviewable(
                "appStoreVersions",
                &version,
                &state,
            ));
        }
    }
    one_in_review(tx, &version).await?;
    requirements::check(tx, &version).await?;
    engine
        .link(
            tx,
            ("reviewSubmissions", &sub),
            "appStoreVersionForReview",
            ("appStoreVersions", &version),
        )
        .await?;
    Ok(())
}

/// One version of an app in review per platform: another version of the platform waiting for
/// review or in review answers Apple's 409 for the version with an associated `STATE_ERROR`
/// (crabapple's wording; a new version cannot even be created then, versions.rs).
async fn one_in_review(tx: &mut Tx, version: &str) -> Result<(), AscError> {
    let Some(v) = tx.get("appStoreVersions", version).await? else {
        return Ok(());
    };
    let Some(app) = linked_one(tx, "appStoreVersions", version, "app").await? else {
        return Ok(());
    };
    let platform = attr(&v.attributes, "platform").to_string();
    for (_, other) in tx.linked("apps", &app, "appStoreVersions").await? {
        if other == version {
            continue;
        }
        let Some(o) = tx.get("appStoreVersions", &other).await? else {
            continue;
        };
        let state = state_of(&o.attributes);
        if attr(&o.attributes, "platform") == platform
            && matches!(state, "WAITING_FOR_REVIEW" | "IN_REVIEW")
        {
            let detail = format!(
                "Version {} of this app for {platform} is already {state}.",
                attr(&o.attributes, "versionString")
            );
            let e = requirements::associated(
                "STATE_ERROR",
                "The request cannot be fulfilled because of the state of another resource.",
                detail,
                None,
            );
            return Err(requirements::not_in_valid_state(
                version,
                vec![(format!("/v1/appStoreVersions/{other}"), vec![e])],
            ));
        }
    }
    Ok(())
}

/// The reviewer on command: the version (WAITING_FOR_REVIEW or IN_REVIEW) is decided now — its
/// planned review is cancelled and `verdict` applied through the timeline, as the simulated
/// reviewer would. The version's new state.
pub async fn decide(engine: &Engine, version: &str, verdict: Verdict) -> Result<String, AscError> {
    let mut tx = engine.store.begin().await?;
    let v = tx
        .get("appStoreVersions", version)
        .await?
        .ok_or_else(|| AscError::not_found("appStoreVersions", version))?;
    let state = state_of(&v.attributes).to_string();
    if state != "WAITING_FOR_REVIEW" && state != "IN_REVIEW" {
        return Err(AscError::state_error(format!(
            "The appStoreVersion with id '{version}' is {state}; only a version WAITING_FOR_REVIEW or IN_REVIEW can be approved or rejected."
        )));
    }
    let subs = tx
        .linking(
            "reviewSubmissions",
            "appStoreVersionForReview",
            ("appStoreVersions", version),
        )
        .await?;
    let now = tx.now_ms();
    tx.timeline_cancel(("appStoreVersions", version), Some(TRACK_REVIEW))
        .await?;
    let mut decided = false;
    for sub in subs {
        let Some(s) = tx.get("reviewSubmissions", &sub).await? else {
            continue;
        };
        if !matches!(
            attr(&s.attributes, "state"),
            "WAITING_FOR_REVIEW" | "IN_REVIEW"
        ) {
            continue;
        }
        let items: Vec<(String, String)> = version_items(&mut tx, &sub).await?;
        tx.timeline_cancel(("reviewSubmissions", &sub), Some(TRACK_REVIEW))
            .await?;
        for (item, _) in &items {
            tx.timeline_cancel(("reviewSubmissionItems", item), Some(TRACK_REVIEW))
                .await?;
        }
        super::items::cancel_planned(&mut tx, &sub).await?;
        plan_verdict(&mut tx, &sub, &items, &verdict, now).await?;
        decided = true;
    }
    if !decided {
        // A version put in review without a submission (a seed): decided alone.
        let to = match &verdict {
            Verdict::Approve => approved_state(&v.attributes, now),
            Verdict::Reject(_) => "REJECTED",
        };
        plan_state(
            &mut tx,
            version,
            TRACK_REVIEW,
            now,
            to,
            "decided on command",
        )
        .await?;
    }
    tx.commit().await?;
    engine.run_timeline().await?;
    let v = engine
        .store
        .get("appStoreVersions", version)
        .await?
        .map(|r| state_of(&r.attributes).to_string())
        .unwrap_or_default();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reviewer_rejects_the_configured_share_of_submissions_deterministically() {
        let ids: Vec<String> = (0..1000).map(|i| format!("submission-{i}")).collect();
        let rejected = |rate: f64| ids.iter().filter(|id| !draw(id, rate)).count();
        assert_eq!(rejected(0.0), 0, "default: every submission approved");
        assert_eq!(rejected(1.0), 1000);
        let quarter = rejected(0.25);
        assert!((200..300).contains(&quarter), "{quarter}");
        assert_eq!(rejected(0.25), quarter, "the same draw every time");
    }
}
