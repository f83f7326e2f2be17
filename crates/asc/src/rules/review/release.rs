//! Releasing an approved version: the developer's release request
//! (`POST /v1/appStoreVersionReleaseRequests`, for a version PENDING_DEVELOPER_RELEASE) and the
//! phased release (`appStoreVersionPhasedReleases`): seven days at 1, 2, 5, 10, 20, 50 and
//! 100 % of users (Apple, "Release a version update in phases"), `currentDayNumber` moving each
//! day, paused for at most 30 days in total (then it resumes by itself), COMPLETE after day 7
//! or when the developer releases to everyone (`phasedReleaseState: COMPLETE`).
//!
//! The days are timeline entries on the phased release's `phased` track; a pause cancels them
//! and plans the automatic resumption, a resumption plans the remaining days again.

use super::versions::{plan_state, state_of};
use super::{DAY_MS, TRACK_PHASED, TRACK_RELEASE, attr, change, written_one};
use crabapple_jsonapi::{AscError, Write};
use crabapple_store::Tx;
use crabapple_store::timeline::{Entry, EntryState};
use serde_json::{Map, Value, json};

/// The share of users of each day of a phased release (Apple's documented schedule).
pub const PERCENT_BY_DAY: [u32; 7] = [1, 2, 5, 10, 20, 50, 100];

/// At most this many days of pause in total; then the release resumes by itself (Apple: "you can
/// pause the phased release for up to 30 days").
pub const MAX_PAUSE_DAYS: i64 = 30;

/// The note of day `n`'s entry.
pub fn day_note(n: i64) -> String {
    let pct = PERCENT_BY_DAY[(n.clamp(1, 7) - 1) as usize];
    format!("phased release day {n} ({pct} % of users)")
}

pub fn day_changes(n: i64) -> Map<String, Value> {
    change("currentDayNumber", n)
}

/// Plans days `after + 1` … 7 from `first_at` (one a day) and COMPLETE a day after day 7.
pub async fn plan_days(tx: &mut Tx, id: &str, after: i64, first_at: i64) -> Result<(), AscError> {
    let mut at = first_at;
    for n in (after + 1)..=7 {
        tx.timeline_plan(
            ("appStoreVersionPhasedReleases", id),
            TRACK_PHASED,
            at,
            &day_changes(n),
            &day_note(n),
        )
        .await?;
        at += DAY_MS;
    }
    tx.timeline_plan(
        ("appStoreVersionPhasedReleases", id),
        TRACK_PHASED,
        at,
        &change("phasedReleaseState", "COMPLETE"),
        "phased release complete: all users",
    )
    .await?;
    Ok(())
}

/// 409 for a release request of a version that is not waiting for its developer. Apple's text is
/// not public; crabapple's wording, in Apple's STATE_ERROR form.
pub fn not_pending_release(id: &str, state: &str) -> AscError {
    AscError::state_error(format!(
        "The appStoreVersion with id '{id}' cannot be released in its current state {state}. Only a version in PENDING_DEVELOPER_RELEASE can be released."
    ))
}

/// `POST /v1/appStoreVersionReleaseRequests`: the version leaves PENDING_DEVELOPER_RELEASE for
/// processing (then READY_FOR_DISTRIBUTION, versions.rs).
pub async fn request(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let Some(version) = written_one(w, "appStoreVersion").map(str::to_string) else {
        return Ok(());
    };
    let Some(v) = tx.get("appStoreVersions", &version).await? else {
        return Ok(());
    };
    let state = state_of(&v.attributes).to_string();
    if state != "PENDING_DEVELOPER_RELEASE" {
        return Err(
            not_pending_release(&version, &state).pointer("/data/relationships/appStoreVersion")
        );
    }
    let now = tx.now_ms();
    plan_state(
        tx,
        &version,
        TRACK_RELEASE,
        now,
        "PROCESSING_FOR_DISTRIBUTION",
        "released by the developer (appStoreVersionReleaseRequests)",
    )
    .await
}

/// 409 for a phased release change its state does not allow. Apple's text is not public;
/// crabapple's wording.
pub fn cannot_become(from: &str, to: &str) -> AscError {
    AscError::state_error(format!(
        "The phased release cannot change from {from} to {to}."
    ))
}

/// Creates and updates of `appStoreVersionPhasedReleases`.
pub async fn phased_write(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    let Some(existing) = w.existing.clone() else {
        // A new phased release waits for its version's release (INACTIVE) unless the version is
        // live already.
        if let Some(version) = written_one(w, "appStoreVersion").map(str::to_string)
            && let Some(v) = tx.get("appStoreVersions", &version).await?
            && state_of(&v.attributes) != "READY_FOR_DISTRIBUTION"
        {
            w.attributes
                .entry("phasedReleaseState")
                .or_insert_with(|| json!("INACTIVE"));
        }
        return Ok(());
    };
    let from = attr(&existing.attributes, "phasedReleaseState").to_string();
    let to = attr(&w.attributes, "phasedReleaseState").to_string();
    if from == to {
        return Ok(());
    }
    let started = existing
        .attributes
        .get("startDate")
        .is_some_and(|d| !d.is_null());
    let now = tx.now_ms();
    let id = w.id.clone();
    let day = existing
        .attributes
        .get("currentDayNumber")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let mut changes = change("phasedReleaseState", to.as_str());
    let note = match (from.as_str(), to.as_str()) {
        ("ACTIVE", "PAUSED") if started => {
            tx.timeline_cancel(("appStoreVersionPhasedReleases", &id), Some(TRACK_PHASED))
                .await?;
            let paused = total_pause_days(&existing.attributes);
            let mut resume = change("phasedReleaseState", "ACTIVE");
            resume.insert("totalPauseDuration".into(), json!(MAX_PAUSE_DAYS));
            tx.timeline_plan(
                ("appStoreVersionPhasedReleases", &id),
                TRACK_PHASED,
                now + (MAX_PAUSE_DAYS - paused).max(0) * DAY_MS,
                &resume,
                RESUMED_BY_ITSELF,
            )
            .await?;
            format!("paused on day {day}")
        }
        ("PAUSED", "ACTIVE") => {
            tx.timeline_cancel(("appStoreVersionPhasedReleases", &id), Some(TRACK_PHASED))
                .await?;
            let since = paused_since(tx, &id).await?.unwrap_or(now);
            let total = total_pause_days(&existing.attributes) + (now - since) / DAY_MS;
            let total = total.min(MAX_PAUSE_DAYS);
            w.attributes
                .insert("totalPauseDuration".into(), json!(total));
            changes.insert("totalPauseDuration".into(), json!(total));
            plan_days(tx, &id, day, now + DAY_MS).await?;
            format!("resumed on day {day}")
        }
        ("ACTIVE" | "PAUSED", "COMPLETE") if started => {
            tx.timeline_cancel(("appStoreVersionPhasedReleases", &id), Some(TRACK_PHASED))
                .await?;
            "released to all users by the developer".to_string()
        }
        _ => {
            return Err(cannot_become(&from, &to)
                .pointer("/data/attributes/phasedReleaseState")
                .reason(format!(
                    "a phased release pauses when ACTIVE (started), resumes when PAUSED and completes when started; it is {from}{}",
                    if started { "" } else { " and its version is not released yet" }
                )));
        }
    };
    tx.timeline_record(
        ("appStoreVersionPhasedReleases", &id),
        TRACK_PHASED,
        &changes,
        &note,
    )
    .await?;
    Ok(())
}

/// The note of the automatic resumption after [`MAX_PAUSE_DAYS`].
pub const RESUMED_BY_ITSELF: &str = "resumed by itself after 30 days of pause in total";

fn total_pause_days(attributes: &Map<String, Value>) -> i64 {
    attributes
        .get("totalPauseDuration")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// When the phased release was last paused (the history's last applied PAUSED entry).
async fn paused_since(tx: &mut Tx, id: &str) -> Result<Option<i64>, AscError> {
    Ok(tx
        .timeline_of(("appStoreVersionPhasedReleases", id))
        .await?
        .iter()
        .rev()
        .find(|e| {
            e.state == EntryState::Applied
                && e.changes.get("phasedReleaseState") == Some(&json!("PAUSED"))
        })
        .map(|e| e.at_ms))
}

/// The automatic resumption reached: the remaining days follow from then.
pub async fn phased_on_timeline(tx: &mut Tx, e: &Entry) -> Result<(), AscError> {
    if e.note != RESUMED_BY_ITSELF {
        return Ok(());
    }
    let Some(p) = tx.get("appStoreVersionPhasedReleases", &e.id).await? else {
        return Ok(());
    };
    let day = p
        .attributes
        .get("currentDayNumber")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    plan_days(tx, &e.id, day, e.at_ms + DAY_MS).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seven_days_follow_apples_percentages() {
        assert_eq!(day_note(1), "phased release day 1 (1 % of users)");
        assert_eq!(day_note(7), "phased release day 7 (100 % of users)");
        assert_eq!(PERCENT_BY_DAY.iter().sum::<u32>(), 188);
    }
}
