//! A build's life on the virtual clock and the TestFlight states that follow it: processing
//! (`processingState` PROCESSING → VALID, or INVALID with a reason), expiry 90 days after upload
//! (`expirationDate`, then `expired: true`), and the build beta detail's `internalBuildState` /
//! `externalBuildState` derived from processing, export compliance, groups and beta app review.
//!
//! Settings (meta `builds.settings`; the seed file's `builds:` section, the admin API's
//! `/crabapple/admin/builds/settings`; defaults below): how long processing and beta app review take, their outcome, and builds asked to fail
//! processing (by build number, with the reason). Every change is a timeline entry, so a build's
//! history lists each transition at its virtual time; nothing runs in the background.

use super::rfc3339;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use crabapple_store::timeline::Entry;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// TestFlight builds expire 90 days after upload (Apple, "TestFlight overview": "Builds are
/// available to test for up to 90 days").
pub const EXPIRY_DAYS: i64 = 90;
/// crabapple's guess: Apple processes most builds within minutes ("5-30 minutes" in developers'
/// notes); 10 minutes unless set.
pub const DEFAULT_PROCESSING_MINUTES: i64 = 10;
/// Beta App Review: first a wait, then the review itself; Apple decides most first builds within
/// a day or two. crabapple: 12 h waiting, 12 h in review.
pub const DEFAULT_BETA_REVIEW_WAIT_MINUTES: i64 = 12 * 60;
pub const DEFAULT_BETA_REVIEW_MINUTES: i64 = 12 * 60;

const SETTINGS_META: &str = "builds.settings";
/// Timeline tracks of a build and of a beta app review submission.
pub const PROCESSING_TRACK: &str = "processing";
pub const EXPIRY_TRACK: &str = "expiry";
pub const BETA_REVIEW_TRACK: &str = "betaReview";

/// crabapple's settings of build processing and beta app review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "default_processing")]
    pub processing_minutes: i64,
    #[serde(default = "default_wait")]
    pub beta_review_wait_minutes: i64,
    #[serde(default = "default_review")]
    pub beta_review_minutes: i64,
    /// `APPROVED` or `REJECTED`: what Beta App Review decides.
    #[serde(default = "default_outcome")]
    pub beta_review_outcome: String,
    /// Build numbers (`version`) whose processing ends INVALID, with the reason recorded in the
    /// build's history (e.g. `"ITMS-90062: …"`).
    #[serde(default)]
    pub invalid_builds: BTreeMap<String, String>,
}

fn default_processing() -> i64 {
    DEFAULT_PROCESSING_MINUTES
}
fn default_wait() -> i64 {
    DEFAULT_BETA_REVIEW_WAIT_MINUTES
}
fn default_review() -> i64 {
    DEFAULT_BETA_REVIEW_MINUTES
}
fn default_outcome() -> String {
    "APPROVED".into()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            processing_minutes: DEFAULT_PROCESSING_MINUTES,
            beta_review_wait_minutes: DEFAULT_BETA_REVIEW_WAIT_MINUTES,
            beta_review_minutes: DEFAULT_BETA_REVIEW_MINUTES,
            beta_review_outcome: default_outcome(),
            invalid_builds: BTreeMap::new(),
        }
    }
}

impl Settings {
    pub async fn load(tx: &mut Tx) -> anyhow::Result<Settings> {
        Ok(tx
            .meta_get(SETTINGS_META)
            .await?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    /// These settings with the members of `patch` replaced; an unknown member, a duration outside
    /// 0..=525600 minutes (a year) or another outcome is refused with a sentence.
    pub fn merged(&self, patch: &Value) -> Result<Settings, String> {
        let Value::Object(p) = patch else {
            return Err("build settings must be an object".into());
        };
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        for (k, x) in p {
            v[k.as_str()] = x.clone();
        }
        let s: Settings = serde_json::from_value(v).map_err(|e| format!("build settings: {e}"))?;
        for (name, n) in [
            ("processingMinutes", s.processing_minutes),
            ("betaReviewWaitMinutes", s.beta_review_wait_minutes),
            ("betaReviewMinutes", s.beta_review_minutes),
        ] {
            if !(0..=525_600).contains(&n) {
                return Err(format!("{name} must be from 0 to 525600 minutes, not {n}"));
            }
        }
        if !matches!(s.beta_review_outcome.as_str(), "APPROVED" | "REJECTED") {
            return Err(format!(
                "betaReviewOutcome must be APPROVED or REJECTED, not {}",
                s.beta_review_outcome
            ));
        }
        Ok(s)
    }

    pub async fn save(&self, tx: &mut Tx) -> anyhow::Result<()> {
        tx.meta_set(SETTINGS_META, &serde_json::to_string(self)?)
            .await
    }
}

/// The attributes map of a JSON object literal (timeline changes).
pub(crate) fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A build's `expirationDate`: 90 days after `uploadedDate` (now when it has none).
pub fn expiration_ms(build: &Map<String, Value>, now_ms: i64) -> i64 {
    super::ms_of(build.get("uploadedDate")).unwrap_or(now_ms) + EXPIRY_DAYS * 86_400_000
}

/// Plans what Apple does with a build it received: processing ends VALID (or INVALID when the
/// settings name its build number) after the processing time, and the build expires at its
/// `expirationDate` (set to upload + 90 days when missing). Idempotent: the build's planned
/// processing and expiry are replaced. The uploads flow calls it once the build exists.
pub async fn plan_processing(tx: &mut Tx, build_id: &str) -> Result<(), AscError> {
    let b = tx
        .get("builds", build_id)
        .await?
        .ok_or_else(|| AscError::not_found("builds", build_id))?;
    let mut attrs = b.attributes;
    if plan(tx, build_id, &mut attrs).await? {
        tx.put("builds", build_id, &attrs).await?;
    }
    Ok(())
}

/// [`plan_processing`] on attributes about to be written (a create); whether it changed them.
pub(crate) async fn plan(
    tx: &mut Tx,
    id: &str,
    attrs: &mut Map<String, Value>,
) -> Result<bool, AscError> {
    let now = tx.now_ms();
    let mut changed = false;
    if !attrs.get("expirationDate").is_some_and(|v| v.is_string()) {
        attrs.insert(
            "expirationDate".into(),
            json!(rfc3339(expiration_ms(attrs, now))),
        );
        changed = true;
    }
    if !attrs.contains_key("expired") {
        attrs.insert("expired".into(), json!(false));
        changed = true;
    }
    let key = ("builds", id);
    if attrs.get("expired") != Some(&Value::Bool(true)) {
        let at = super::ms_of(attrs.get("expirationDate"))
            .unwrap_or(now)
            .max(now);
        tx.timeline_cancel(key, Some(EXPIRY_TRACK)).await?;
        tx.timeline_plan(
            key,
            EXPIRY_TRACK,
            at,
            &obj(json!({ "expired": true })),
            "expired: 90 days after upload",
        )
        .await?;
    }
    if attrs.get("processingState").and_then(Value::as_str) == Some("PROCESSING") {
        let settings = Settings::load(tx).await?;
        let again = tx.timeline_cancel(key, Some(PROCESSING_TRACK)).await? > 0;
        if !again {
            tx.timeline_record(
                key,
                PROCESSING_TRACK,
                &obj(json!({ "processingState": "PROCESSING" })),
                "received: processing",
            )
            .await?;
        }
        let number = attrs.get("version").and_then(Value::as_str).unwrap_or("");
        let (state, note) = match settings.invalid_builds.get(number) {
            Some(reason) => ("INVALID", format!("processed: INVALID — {reason}")),
            None => ("VALID", "processed: VALID".to_string()),
        };
        tx.timeline_plan(
            key,
            PROCESSING_TRACK,
            now + settings.processing_minutes * 60_000,
            &obj(json!({ "processingState": state })),
            &note,
        )
        .await?;
    }
    Ok(changed)
}

/// Saves the world's build settings (the seed file's `builds:` section; defaults without one) and
/// plans processing and expiry for every build of a freshly loaded world (the demo's PROCESSING
/// build finishes, its valid builds expire on their dates) and the next steps of its beta app
/// review submissions still waiting or in review.
pub async fn load_world(tx: &mut Tx, settings: Option<&Value>) -> anyhow::Result<()> {
    let s = match settings {
        Some(v) => Settings::default()
            .merged(v)
            .map_err(|e| anyhow::anyhow!("seed: builds: {e}"))?,
        None => Settings::default(),
    };
    s.save(tx).await?;
    for id in tx.ids("builds").await? {
        plan_processing(tx, &id)
            .await
            .map_err(|e| anyhow::anyhow!(e.reason))?;
    }
    for id in tx.ids("betaAppReviewSubmissions").await? {
        let state = tx
            .get("betaAppReviewSubmissions", &id)
            .await?
            .and_then(|r| r.attributes.get("betaReviewState").cloned());
        if let Some(s) = state.as_ref().and_then(Value::as_str) {
            super::beta_review::plan_review(tx, &id, s)
                .await
                .map_err(|e| anyhow::anyhow!(e.reason))?;
        }
    }
    Ok(())
}

/// `(internalBuildState, externalBuildState)` as Apple derives them: from processing and the
/// export compliance answer (`usesNonExemptEncryption`), then — once the build can be tested —
/// from its groups (IN_BETA_TESTING in an internal group; in an external group once Beta App
/// Review approved it) and its beta app review submission's `betaReviewState`.
pub fn beta_states(
    build: &Map<String, Value>,
    review: Option<&str>,
    internal_group: bool,
    external_group: bool,
) -> (&'static str, &'static str) {
    if build.get("expired") == Some(&Value::Bool(true)) {
        return ("EXPIRED", "EXPIRED");
    }
    match build.get("processingState").and_then(Value::as_str) {
        Some("VALID") => {}
        Some("FAILED") | Some("INVALID") => {
            return ("PROCESSING_EXCEPTION", "PROCESSING_EXCEPTION");
        }
        _ => return ("PROCESSING", "PROCESSING"),
    }
    if build
        .get("usesNonExemptEncryption")
        .is_none_or(Value::is_null)
    {
        return ("MISSING_EXPORT_COMPLIANCE", "MISSING_EXPORT_COMPLIANCE");
    }
    let internal = if internal_group {
        "IN_BETA_TESTING"
    } else {
        "READY_FOR_BETA_TESTING"
    };
    let external = match review {
        Some("WAITING_FOR_REVIEW") => "WAITING_FOR_BETA_REVIEW",
        Some("IN_REVIEW") => "IN_BETA_REVIEW",
        Some("REJECTED") => "BETA_REJECTED",
        Some("APPROVED") if external_group => "IN_BETA_TESTING",
        Some("APPROVED") => "BETA_APPROVED",
        _ => "READY_FOR_BETA_SUBMISSION",
    };
    (internal, external)
}

/// The `betaReviewState` of a build's beta app review submission.
pub async fn review_state(tx: &mut Tx, build: &str) -> Result<Option<String>, AscError> {
    for (t, id) in tx
        .linked("builds", build, "betaAppReviewSubmission")
        .await?
    {
        if let Some(r) = tx.get(&t, &id).await? {
            return Ok(r
                .attributes
                .get("betaReviewState")
                .and_then(Value::as_str)
                .map(str::to_string));
        }
    }
    Ok(None)
}

/// Whether a beta group is internal (`isInternalGroup`).
pub async fn is_internal(tx: &mut Tx, group: &str) -> Result<bool, AscError> {
    Ok(tx
        .get("betaGroups", group)
        .await?
        .is_some_and(|g| g.attributes.get("isInternalGroup") == Some(&Value::Bool(true))))
}

/// Moves the build's beta detail to the states of [`beta_states`], for the build's attributes
/// `attrs` (the ones being written) and, when given, its submission's `review` state.
pub async fn sync_detail(
    tx: &mut Tx,
    build: &str,
    attrs: &Map<String, Value>,
    review: Option<Option<&str>>,
) -> Result<(), AscError> {
    let review = match review {
        Some(r) => r.map(str::to_string),
        None => review_state(tx, build).await?,
    };
    let (mut internal, mut external) = (false, false);
    for (_, g) in tx.linked("builds", build, "betaGroups").await? {
        if is_internal(tx, &g).await? {
            internal = true;
        } else {
            external = true;
        }
    }
    let (i, e) = beta_states(attrs, review.as_deref(), internal, external);
    for (t, d) in tx.linked("builds", build, "buildBetaDetail").await? {
        let Some(mut detail) = tx.get(&t, &d).await? else {
            continue;
        };
        let a = &mut detail.attributes;
        if a.get("internalBuildState").and_then(Value::as_str) != Some(i)
            || a.get("externalBuildState").and_then(Value::as_str) != Some(e)
        {
            a.insert("internalBuildState".into(), json!(i));
            a.insert("externalBuildState".into(), json!(e));
            tx.put(&t, &d, a).await?;
        }
    }
    Ok(())
}

/// [`sync_detail`] for a stored build.
pub async fn sync_stored(tx: &mut Tx, build: &str) -> Result<(), AscError> {
    if let Some(b) = tx.get("builds", build).await? {
        sync_detail(tx, build, &b.attributes, None).await?;
    }
    Ok(())
}

/// A build's update. By the API (`api`): an export compliance answer is given once (Apple: "You
/// cannot update when the value is already set." at `/data/attributes/usesNonExemptEncryption`,
/// the text fastlane's spaceship matches in `WrapperError`), and `expired: true` expires the build
/// now. By the admin API (Apple itself): a new `processingState` replaces the planned processing.
/// Either way the beta detail follows.
async fn update_build(tx: &mut Tx, w: &Write, api: bool) -> Result<(), AscError> {
    let old = &w
        .existing
        .as_ref()
        .map(|e| e.attributes.clone())
        .unwrap_or_default();
    let new = &w.attributes;
    let key = ("builds", w.id.as_str());
    let answer = "usesNonExemptEncryption";
    if api && old.get(answer).is_some_and(|v| !v.is_null()) && old.get(answer) != new.get(answer) {
        return Err(AscError::entity_error(
            "ATTRIBUTE.INVALID",
            "An attribute value is invalid.",
            "You cannot update when the value is already set.",
            "/data/attributes/usesNonExemptEncryption",
        ));
    }
    let by = if api {
        "by the developer"
    } else {
        "by the admin API"
    };
    if old.get("expired") != Some(&Value::Bool(true))
        && new.get("expired") == Some(&Value::Bool(true))
    {
        tx.timeline_cancel(key, Some(EXPIRY_TRACK)).await?;
        tx.timeline_record(
            key,
            EXPIRY_TRACK,
            &obj(json!({ "expired": true })),
            &format!("expired {by}"),
        )
        .await?;
    }
    let state = new.get("processingState");
    if !api && old.get("processingState") != state {
        tx.timeline_cancel(key, Some(PROCESSING_TRACK)).await?;
        if state.and_then(Value::as_str) == Some("PROCESSING") {
            let mut attrs = new.clone();
            plan(tx, &w.id, &mut attrs).await?;
        } else if let Some(s) = state {
            tx.timeline_record(
                key,
                PROCESSING_TRACK,
                &obj(json!({ "processingState": s })),
                &format!("processed: {} {by}", s.as_str().unwrap_or_default()),
            )
            .await?;
        }
    }
    sync_detail(tx, &w.id, new, None).await
}

/// `POST /v1/buildBetaNotifications`: Apple tells the build's testers it is available — refused
/// when Apple already does it by itself (the build beta detail's `autoNotifyEnabled`): 409
/// `STATE_ERROR.ENTITY_STATE_INVALID` "Auto-notify already enabled" (as Apple answered
/// rorkai/App-Store-Connect-CLI#2044 and #1160).
async fn notify_testers(tx: &mut Tx, w: &Write) -> Result<(), AscError> {
    for (_, build) in w
        .relationships
        .iter()
        .filter(|(n, _)| n == "build")
        .flat_map(|(_, l)| l)
    {
        for (t, d) in tx.linked("builds", build, "buildBetaDetail").await? {
            let auto = tx
                .get(&t, &d)
                .await?
                .is_some_and(|r| r.attributes.get("autoNotifyEnabled") == Some(&Value::Bool(true)));
            if auto {
                let mut e = AscError::state_error("Auto-notify already enabled");
                e.code = "STATE_ERROR.ENTITY_STATE_INVALID".into();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// What the admin API's writes of builds and beta app review submissions set in motion (it plays
/// Apple: no refusal): a new build is planned like an upload, an update moves what depends on it.
pub async fn admin_write(tx: &mut Tx, w: &mut Write) -> Result<(), AscError> {
    match (w.rtype.as_str(), w.existing.is_some()) {
        ("builds", false) => {
            plan(tx, &w.id.clone(), &mut w.attributes).await?;
            Ok(())
        }
        ("builds", true) => update_build(tx, w, false).await,
        ("betaAppReviewSubmissions", true) => super::beta_review::admin_update(tx, w).await,
        ("betaAppReviewSubmissions", false) => super::beta_review::admin_create(tx, w).await,
        _ => Ok(()),
    }
}

/// A build's processing ended (`processingState` VALID or INVALID): its upload record
/// (`buildUploads`, the build's `buildUpload`) says so too — `COMPLETE`, or `FAILED` with the
/// reason as a `StateDetail` (`ITMS-90062: …` → code `ITMS-90062`).
async fn finish_upload(tx: &mut Tx, build: &str, reason: Option<&str>) -> Result<(), AscError> {
    for (t, u) in tx.linked("builds", build, "buildUpload").await? {
        let Some(mut up) = tx.get(&t, &u).await? else {
            continue;
        };
        let errors = match reason {
            None => json!([]),
            Some(r) => {
                let (code, description) = r
                    .split_once(": ")
                    .filter(|(c, _)| c.starts_with("ITMS-"))
                    .unwrap_or(("ITMS-90000", r));
                json!([{ "code": code, "description": description }])
            }
        };
        let state = if reason.is_some() {
            "FAILED"
        } else {
            "COMPLETE"
        };
        up.attributes.insert(
            "state".into(),
            json!({ "state": state, "errors": errors, "warnings": [], "infos": [] }),
        );
        tx.put(&t, &u, &up.attributes).await?;
    }
    Ok(())
}

/// A timeline entry of a build was applied: its upload record and beta detail follow.
async fn on_build_entry(tx: &mut Tx, entry: &Entry) -> Result<(), AscError> {
    match entry.changes.get("processingState").and_then(Value::as_str) {
        Some("VALID") => finish_upload(tx, &entry.id, None).await?,
        Some("INVALID") => {
            let reason = entry.note.split_once(" — ").map_or("", |(_, r)| r);
            finish_upload(tx, &entry.id, Some(reason)).await?
        }
        _ => {}
    }
    sync_stored(tx, &entry.id).await
}

/// Builds: the beta detail follows each timeline change of a build or of its beta app review.
pub struct Builds;

impl Family for Builds {
    fn name(&self) -> &'static str {
        "builds"
    }

    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            match (w.rtype.as_str(), w.existing.is_some()) {
                ("builds", true) => update_build(tx, w, true).await,
                ("betaAppReviewSubmissions", false) => super::beta_review::submit(tx, w).await,
                ("buildBetaNotifications", false) => notify_testers(tx, w).await,
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
                "builds" => on_build_entry(tx, entry).await,
                "betaAppReviewSubmissions" => {
                    super::beta_review::on_review_change(tx, &entry.id).await
                }
                _ => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_build_with_its_export_compliance_answer_follows_its_review_and_groups() {
        let b = obj(json!({"processingState": "VALID", "usesNonExemptEncryption": false}));
        assert_eq!(
            beta_states(&b, None, false, false),
            ("READY_FOR_BETA_TESTING", "READY_FOR_BETA_SUBMISSION")
        );
        assert_eq!(
            beta_states(&b, Some("IN_REVIEW"), true, false),
            ("IN_BETA_TESTING", "IN_BETA_REVIEW")
        );
        assert_eq!(
            beta_states(&b, Some("APPROVED"), false, false),
            ("READY_FOR_BETA_TESTING", "BETA_APPROVED")
        );
        assert_eq!(
            beta_states(&b, Some("APPROVED"), false, true),
            ("READY_FOR_BETA_TESTING", "IN_BETA_TESTING")
        );
        let unanswered = obj(json!({"processingState": "VALID"}));
        assert_eq!(
            beta_states(&unanswered, Some("APPROVED"), true, true),
            ("MISSING_EXPORT_COMPLIANCE", "MISSING_EXPORT_COMPLIANCE")
        );
    }

    #[test]
    fn settings_refuse_unknown_members_and_other_outcomes() {
        let s = Settings::default();
        assert_eq!(
            s.merged(&json!({"betaReviewOutcome": "MAYBE"}))
                .unwrap_err(),
            "betaReviewOutcome must be APPROVED or REJECTED, not MAYBE"
        );
        assert!(s.merged(&json!({"speed": 1})).is_err());
        let m = s
            .merged(&json!({"processingMinutes": 1, "invalidBuilds": {"9": "ITMS-90062"}}))
            .unwrap();
        assert_eq!(m.processing_minutes, 1);
        assert_eq!(m.invalid_builds["9"], "ITMS-90062");
    }
}
