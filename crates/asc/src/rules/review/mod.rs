//! Release flows (issue 11, "Versions, review, release — and their history"): an App Store
//! version's state machine, review submissions and their items, the simulated reviewer, manual,
//! automatic, scheduled and phased releases — every later step planned on the store's timeline
//! (`crabapple_store::timeline`), so that each transition is applied at its virtual time and
//! kept as the resource's history.
//!
//! - [`versions`]: the two state attributes kept in step, editable states, new versions, what
//!   follows each state (release processing, replacement of the live version).
//! - [`submissions`]: `reviewSubmissions` and `reviewSubmissionItems`, the reviewer.
//! - [`items`]: the items beyond versions (in-app events, custom product pages, tests).
//! - [`requirements`]: what Apple checks before a version can be reviewed.
//! - [`release`]: `appStoreVersionReleaseRequests` and `appStoreVersionPhasedReleases`.
//! - [`history`]: the transitions of a version, its submissions and its phased release.
//!
//! Durations are `meta` settings of the data directory ([`Settings`], documented in the README
//! section "Review and release").

pub mod history;
pub mod items;
pub mod release;
pub mod requirements;
pub mod submissions;
pub mod versions;

use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use crabapple_store::timeline::Entry;
use serde_json::{Map, Value};

pub use submissions::{Verdict, decide};

pub struct Review;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The timeline tracks of this family: the review of a submission (planned at submission,
/// cancelled by a decision or a cancellation), what follows an approval, the days of a phased
/// release, and the version's own changes.
pub const TRACK_REVIEW: &str = "review";
pub const TRACK_RELEASE: &str = "release";
pub const TRACK_PHASED: &str = "phased";
/// Changes a request makes to a version itself (its creation).
pub const TRACK_VERSION: &str = "version";

/// The reviewer's and the release's timing, from `meta` keys (milliseconds, or a fraction for the
/// rejection rate). Defaults: a submission waits a day for review (Apple: "on average, 90% of
/// submissions are reviewed in less than 24 hours"), is reviewed in two hours, is approved, and
/// an approved version is processed for distribution in an hour.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `review.waitingMs`: WAITING_FOR_REVIEW → IN_REVIEW.
    pub waiting_ms: i64,
    /// `review.inReviewMs`: IN_REVIEW → the verdict.
    pub in_review_ms: i64,
    /// `review.rejectRate`: the share of submissions the reviewer rejects (0–1), drawn
    /// deterministically from the submission's id.
    pub reject_rate: f64,
    /// `release.processingMs`: PROCESSING_FOR_DISTRIBUTION → READY_FOR_DISTRIBUTION.
    pub processing_ms: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            waiting_ms: DAY_MS,
            in_review_ms: 2 * HOUR_MS,
            reject_rate: 0.0,
            processing_ms: HOUR_MS,
        }
    }
}

impl Settings {
    pub async fn read(tx: &mut Tx) -> Result<Settings, AscError> {
        let d = Settings::default();
        let ms = |v: Option<String>, default: i64| {
            v.and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .unwrap_or(default)
        };
        let rate = tx
            .meta_get("review.rejectRate")
            .await?
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(d.reject_rate);
        Ok(Settings {
            waiting_ms: ms(tx.meta_get("review.waitingMs").await?, d.waiting_ms),
            in_review_ms: ms(tx.meta_get("review.inReviewMs").await?, d.in_review_ms),
            reject_rate: rate,
            processing_ms: ms(tx.meta_get("release.processingMs").await?, d.processing_ms),
        })
    }
}

/// A one-attribute change set.
pub fn change(name: &str, value: impl Into<Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(name.into(), value.into());
    m
}

pub use super::linked_one;

/// The first target of a relationship a write sets.
pub fn written_one<'w>(w: &'w Write, rel: &str) -> Option<&'w str> {
    w.relationships
        .iter()
        .find(|(r, _)| r == rel)
        .and_then(|(_, to)| to.first())
        .map(|(_, id)| id.as_str())
}

/// A string attribute.
pub fn attr<'a>(attributes: &'a Map<String, Value>, name: &str) -> &'a str {
    attributes
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl Family for Review {
    fn name(&self) -> &'static str {
        "review"
    }

    fn before_write<'a>(
        &'a self,
        engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            // The admin API and the world loader set up state as it is; Apple's rules are for
            // requests.
            if w.op_id.is_empty() || w.op_id == "admin" {
                return Ok(());
            }
            match w.rtype.as_str() {
                "appStoreVersions" => versions::before_write(tx, w).await,
                "appStoreVersionLocalizations" if w.existing.is_some() => {
                    versions::localization_edit(tx, w).await
                }
                "reviewSubmissions" => submissions::before_write(tx, w).await,
                "reviewSubmissionItems" => submissions::item_write(engine, tx, w).await,
                "appStoreVersionReleaseRequests" => release::request(tx, w).await,
                "appStoreVersionPhasedReleases" => release::phased_write(tx, w).await,
                _ => Ok(()),
            }
        })
    }

    fn before_delete<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        existing: &'a crabapple_store::Resource,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            match existing.rtype.as_str() {
                "appStoreVersionSubmissions" => {
                    submissions::withdraw_version_submission(tx, &existing.id).await
                }
                _ => Ok(()),
            }
        })
    }

    fn on_timeline<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        entry: &'a Entry,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            match entry.rtype.as_str() {
                "appStoreVersions" => versions::on_timeline(tx, entry).await,
                "appStoreVersionPhasedReleases" => release::phased_on_timeline(tx, entry).await,
                _ => Ok(()),
            }
        })
    }
}
