//! Review items beyond versions: in-app events (`appEvent`), custom product page versions
//! (`appCustomProductPageVersion`) and product page optimization tests
//! (`appStoreVersionExperiment`, `appStoreVersionExperimentV2`) — the other relationships of the
//! spec's `ReviewSubmissionItemCreateRequest` that App Store Connect reviews with a version
//! ("You can submit the app by itself or include other items, such as In-App Events or custom
//! product pages": App Store Connect Help, "App and submission statuses").
//!
//! Each moves with its submission on the reviewer's timeline (submissions.rs), the item's
//! `state` and the resource's own state attribute (`eventState`, `state`) alike: added →
//! READY_FOR_REVIEW; submitted → WAITING_FOR_REVIEW, then IN_REVIEW (the resource; the item keeps
//! READY_FOR_REVIEW until the verdict, as version items do); approved → APPROVED; rejected →
//! REJECTED, or ACCEPTED when the rejection is the version's (Apple's Help: "Accepted — This item
//! has been accepted, but one or more items in your submission were rejected"); taken back →
//! the item REMOVED, the resource back to its first state (DRAFT, PREPARE_FOR_SUBMISSION: a
//! guess). What comes after an approval (an event PUBLISHED at its start date, a test running)
//! is not simulated.
//!
//! Refusals (409; codes and titles in Apple's shapes, the details crabapple's wording — guesses,
//! Apple's texts for these were not found): an item for a resource already waiting in a
//! submission ([`already_an_item`]), and for a resource in a state it cannot be submitted from
//! ([`not_reviewable`], the version's shape).

use super::submissions::{Verdict, plan_review_state};
use super::{TRACK_REVIEW, attr, change, linked_one, written_one};
use crabapple_jsonapi::{AscError, Write};
use crabapple_store::Tx;

/// One kind of review item: the item's relationship, the resource's type, its state attribute,
/// its first state, and the states it may be submitted from.
pub struct Kind {
    pub rel: &'static str,
    pub rtype: &'static str,
    pub state: &'static str,
    pub first: &'static str,
    pub submittable: &'static [&'static str],
}

const PAGE_STATES: &[&str] = &["PREPARE_FOR_SUBMISSION", "REJECTED"];

/// The kinds of the spec's `ReviewSubmissionItem` relationships reviewed with a version here.
pub const KINDS: &[Kind] = &[
    Kind {
        rel: "appEvent",
        rtype: "appEvents",
        state: "eventState",
        first: "DRAFT",
        submittable: &["DRAFT", "REJECTED"],
    },
    Kind {
        rel: "appCustomProductPageVersion",
        rtype: "appCustomProductPageVersions",
        state: "state",
        first: "PREPARE_FOR_SUBMISSION",
        submittable: PAGE_STATES,
    },
    Kind {
        rel: "appStoreVersionExperiment",
        rtype: "appStoreVersionExperiments",
        state: "state",
        first: "PREPARE_FOR_SUBMISSION",
        submittable: PAGE_STATES,
    },
    Kind {
        rel: "appStoreVersionExperimentV2",
        rtype: "appStoreVersionExperiments",
        state: "state",
        first: "PREPARE_FOR_SUBMISSION",
        submittable: PAGE_STATES,
    },
];

/// 409 for a resource that cannot be reviewed in its state: the shape Apple answers for a
/// version (submissions.rs), with the state in `X-Crabapple-Reason`.
pub fn not_reviewable(rtype: &str, id: &str, state: &str) -> AscError {
    AscError::new(
        409,
        "STATE_ERROR.ENTITY_STATE_INVALID",
        &format!("{rtype} with id '{id}' is not in valid state."),
        "This resource cannot be reviewed, please check associated errors to see why.",
    )
    .reason(format!(
        "the {rtype} is {state}, not a state in which it can be submitted"
    ))
}

/// 409 for an item whose resource already waits in a submission (crabapple's wording).
pub fn already_an_item(rel: &str, rtype: &str, id: &str, submission: &str) -> AscError {
    AscError::new(
        409,
        "ENTITY_ERROR.RELATIONSHIP.INVALID",
        "The provided entity includes a relationship with an invalid value",
        format!(
            "{rtype} with id '{id}' is already an item of reviewSubmissions with id '{submission}'."
        ),
    )
    .pointer(&format!("/data/relationships/{rel}"))
}

/// The first resource a new item names, of any kind (a version too): `(relationship, type, id)`.
fn named(w: &Write) -> Option<(&'static str, &'static str, String)> {
    let version = ("appStoreVersion", "appStoreVersions");
    KINDS
        .iter()
        .map(|k| (k.rel, k.rtype))
        .chain([version])
        .find_map(|(rel, rtype)| written_one(w, rel).map(|id| (rel, rtype, id.to_string())))
}

/// A new item: refused when its resource is already an item still waiting for a verdict
/// (READY_FOR_REVIEW) in an open submission; a non-version resource must be in a state it can be
/// submitted from, and is READY_FOR_REVIEW from now on.
pub async fn add(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    let Some((rel, rtype, id)) = named(w) else {
        return Ok(());
    };
    for item in tx
        .linking("reviewSubmissionItems", rel, (rtype, &id))
        .await?
    {
        let Some(i) = tx.get("reviewSubmissionItems", &item).await? else {
            continue;
        };
        let sub = linked_one(tx, "reviewSubmissionItems", &item, "reviewSubmission").await?;
        let open = match &sub {
            Some(s) => tx
                .get("reviewSubmissions", s)
                .await?
                .is_some_and(|r| !matches!(attr(&r.attributes, "state"), "COMPLETE" | "CANCELING")),
            None => false,
        };
        if open && attr(&i.attributes, "state") == "READY_FOR_REVIEW" {
            return Err(already_an_item(rel, rtype, &id, &sub.unwrap_or_default()));
        }
    }
    let Some(kind) = KINDS.iter().find(|k| k.rel == rel) else {
        return Ok(());
    };
    let Some(r) = tx.get(kind.rtype, &id).await? else {
        return Ok(());
    };
    let state = attr(&r.attributes, kind.state).to_string();
    if !kind.submittable.contains(&state.as_str()) {
        return Err(not_reviewable(kind.rtype, &id, &state));
    }
    let ready = change(kind.state, "READY_FOR_REVIEW");
    let now = tx.now_ms();
    tx.timeline_plan(
        (kind.rtype, &id),
        TRACK_REVIEW,
        now,
        &ready,
        "added for review",
    )
    .await?;
    Ok(())
}

/// The non-version items of a submission: `(item, kind, resource id)`; with `pending`, only
/// those still to be decided (READY_FOR_REVIEW, or REJECTED and sent again) — an item accepted,
/// approved or removed stays so when its submission is sent again.
pub async fn of_submission(
    tx: &mut Tx,
    submission: &str,
    pending: bool,
) -> Result<Vec<(String, &'static Kind, String)>, AscError> {
    let mut out = Vec::new();
    for (_, item) in tx.linked("reviewSubmissions", submission, "items").await? {
        let state = match tx.get("reviewSubmissionItems", &item).await? {
            Some(i) => attr(&i.attributes, "state").to_string(),
            None => continue,
        };
        if pending && !matches!(state.as_str(), "READY_FOR_REVIEW" | "REJECTED") {
            continue;
        }
        for k in KINDS {
            if let Some(id) = linked_one(tx, "reviewSubmissionItems", &item, k.rel).await? {
                out.push((item.clone(), k, id));
                break;
            }
        }
    }
    Ok(out)
}

/// Plans the resource's state attribute `k.state` = `state` at `at_ms` on the review track.
async fn plan_own(
    tx: &mut Tx,
    (k, id): (&Kind, &str),
    state: &str,
    at_ms: i64,
    note: &str,
) -> Result<(), AscError> {
    let own = change(k.state, state);
    tx.timeline_plan((k.rtype, id), TRACK_REVIEW, at_ms, &own, note)
        .await?;
    Ok(())
}

/// `submitted: true`: each resource WAITING_FOR_REVIEW now, IN_REVIEW at `in_review_ms`.
pub async fn plan_submit(
    tx: &mut Tx,
    submission: &str,
    now: i64,
    in_review_ms: i64,
) -> Result<(), AscError> {
    for (_, k, id) in of_submission(tx, submission, true).await? {
        let waiting = "WAITING_FOR_REVIEW";
        plan_own(tx, (k, &id), waiting, now, "submitted for review").await?;
        plan_own(tx, (k, &id), "IN_REVIEW", in_review_ms, "review started").await?;
    }
    Ok(())
}

/// The verdict at `at_ms` on the submission's non-version items and their resources: APPROVED;
/// rejected, ACCEPTED when the submission holds a version (the rejection is the version's), else
/// REJECTED.
pub async fn plan_verdict(
    tx: &mut Tx,
    submission: &str,
    verdict: &Verdict,
    has_version: bool,
    at_ms: i64,
    note: &str,
) -> Result<(), AscError> {
    let state = match verdict {
        Verdict::Approve => "APPROVED",
        Verdict::Reject(_) if has_version => "ACCEPTED",
        Verdict::Reject(_) => "REJECTED",
    };
    let note = if state == "ACCEPTED" {
        "accepted: another item of the submission was rejected"
    } else {
        note
    };
    for (item, k, id) in of_submission(tx, submission, true).await? {
        let item = ("reviewSubmissionItems", item.as_str());
        plan_review_state(tx, item, at_ms, state, note).await?;
        plan_own(tx, (k, &id), state, at_ms, note).await?;
    }
    Ok(())
}

/// Cancels what is planned for the submission's non-version items and their resources (a
/// decision on command or a cancellation replans it).
pub async fn cancel_planned(tx: &mut Tx, submission: &str) -> Result<(), AscError> {
    for (item, k, id) in of_submission(tx, submission, false).await? {
        tx.timeline_cancel(("reviewSubmissionItems", &item), Some(TRACK_REVIEW))
            .await?;
        tx.timeline_cancel((k.rtype, &id), Some(TRACK_REVIEW))
            .await?;
    }
    Ok(())
}

/// The submission taken back at `now`: its non-version items REMOVED, their resources back to
/// their first state.
pub async fn take_back(tx: &mut Tx, submission: &str, now: i64) -> Result<(), AscError> {
    cancel_planned(tx, submission).await?;
    let note = "removed from review by the developer";
    for (item, k, id) in of_submission(tx, submission, true).await? {
        let item = ("reviewSubmissionItems", item.as_str());
        plan_review_state(tx, item, now, "REMOVED", note).await?;
        plan_own(tx, (k, &id), k.first, now, note).await?;
    }
    Ok(())
}
