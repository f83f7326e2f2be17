//! The life of an analytics report request beyond the schedule (apple-semantics.md §2.3, forum
//! post 5): crabapple's settings for it, the inactivity stop, and which instances are visible
//! now once the stop and the injected faults ([`super::faults`]) are applied.
//!
//! - **Settings** (meta `analytics.settings`, the admin API's `/crabapple/admin/analytics/settings`
//!   and the seed file's `analytics:` section): `inactivityDays` and `deletedSnapshotBlockDays`.
//! - **Inactivity** (§2.3: "If you don't retrieve data for a long time, a report request changes
//!   to `stoppedDueToInactivity`"; the duration is undocumented): an ONGOING request none of whose
//!   segments was downloaded on `inactivityDays` consecutive Pacific days — counted from the day
//!   before its first processing date when nothing was ever downloaded — stops at 00:00 Pacific
//!   of the next day: `stoppedDueToInactivity` becomes true (stored, as Apple shows it) and no
//!   instance has a processing date from that day on. What exists stays readable until it
//!   expires; a download after the stop does not resume it ("You need to make a new request").
//!   A request stored with `stoppedDueToInactivity: true` (a seed, the admin API) stopped on the
//!   day it was written. ONE_TIME_SNAPSHOT requests make nothing new anyway and never stop.
//! - **Per-request state** (meta `analytics.requestState`): the last Pacific day a segment of the
//!   request was downloaded and the day it stopped. A world (re)load empties it.

use super::Report;
use super::family::load_request;
use super::faults::{self, Fault};
use super::schedule::{self, FIRST_DELAY_DAYS, Instance, RETENTION_DAYS, RequestFacts};
use crate::pacific;
use anyhow::Result;
use crabapple_store::{Store, Tx};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// crabapple's guess (§2.3: "Threshold duration undocumented"): a month without a download,
/// shorter than the 35 days an instance is kept, so a collector that runs monthly never stops.
pub const DEFAULT_INACTIVITY_DAYS: i64 = 30;
/// Forum post 5 (still 409 a week after the delete) and reports-formats.md §4.1 ("You can make
/// a single, one-time snapshot request per month"): a deleted snapshot blocks a new one for 30
/// days after its deletion (crabapple's reading; configurable).
pub const DEFAULT_DELETED_SNAPSHOT_BLOCK_DAYS: i64 = 30;

const SETTINGS_META: &str = "analytics.settings";
const STATE_META: &str = "analytics.requestState";
const REQUESTS: &str = "analyticsReportRequests";

/// crabapple's settings of the Analytics Reports lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "default_inactivity")]
    pub inactivity_days: i64,
    #[serde(default = "default_block")]
    pub deleted_snapshot_block_days: i64,
}

fn default_inactivity() -> i64 {
    DEFAULT_INACTIVITY_DAYS
}

fn default_block() -> i64 {
    DEFAULT_DELETED_SNAPSHOT_BLOCK_DAYS
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            inactivity_days: DEFAULT_INACTIVITY_DAYS,
            deleted_snapshot_block_days: DEFAULT_DELETED_SNAPSHOT_BLOCK_DAYS,
        }
    }
}

impl Settings {
    fn parse(text: Option<String>) -> Settings {
        text.and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub async fn load(store: &Store) -> Result<Settings> {
        Ok(Settings::parse(store.meta_get(SETTINGS_META).await?))
    }

    pub async fn load_tx(tx: &mut Tx) -> Result<Settings> {
        Ok(Settings::parse(tx.meta_get(SETTINGS_META).await?))
    }

    /// These settings with the members of `patch` replaced (the admin API's PATCH, a seed's
    /// section); an unknown member or a value below 1 day is refused with a sentence.
    pub fn merged(&self, patch: &Value) -> Result<Settings, String> {
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let Value::Object(p) = patch else {
            return Err("analytics settings must be an object".into());
        };
        for (k, x) in p {
            v[k.as_str()] = x.clone();
        }
        let s: Settings =
            serde_json::from_value(v).map_err(|e| format!("analytics settings: {e}"))?;
        for (name, n) in [
            ("inactivityDays", s.inactivity_days),
            ("deletedSnapshotBlockDays", s.deleted_snapshot_block_days),
        ] {
            if !(1..=3650).contains(&n) {
                return Err(format!(
                    "{name} must be a number of days from 1 to 3650, not {n}"
                ));
            }
        }
        Ok(s)
    }

    pub async fn save(&self, tx: &mut Tx) -> Result<()> {
        tx.meta_set(SETTINGS_META, &serde_json::to_string(self)?)
            .await
    }
}

/// What crabapple remembers of a request between calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_download: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_on: Option<Date>,
}

type States = BTreeMap<String, RequestState>;

fn parse_states(text: Option<String>) -> States {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Forgets every request's state and deleted snapshot (a world load).
pub async fn reset_state(tx: &mut Tx) -> Result<()> {
    tx.meta_set(STATE_META, "{}").await?;
    tx.meta_set(DELETED_SNAPSHOTS_META, "{}").await
}

async fn update_state(
    store: &Store,
    id: &str,
    change: impl FnOnce(&mut RequestState),
) -> Result<()> {
    let mut tx = store.begin().await?;
    let mut all = parse_states(tx.meta_get(STATE_META).await?);
    change(all.entry(id.to_string()).or_default());
    tx.meta_set(STATE_META, &serde_json::to_string(&all)?)
        .await?;
    tx.commit().await
}

/// Why and since when a request makes no new instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// The first Pacific day without instances.
    pub day: Date,
    pub why: String,
}

/// A request as the lifecycle sees it now.
#[derive(Debug, Clone)]
pub struct Live {
    pub facts: RequestFacts,
    pub app: String,
    pub settings: Settings,
    pub state: RequestState,
    pub stop: Option<Stop>,
    /// The injected faults of the request's app.
    pub faults: Vec<Fault>,
}

/// Whether an instance the schedule makes is visible now, and if not, why.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<'a> {
    Visible,
    /// The request stopped due to inactivity before the processing date.
    Stopped(&'a Stop),
    /// An injected fault removed it (missing days, a partial snapshot).
    Removed(&'a Fault, String),
    /// An injected late-instances fault shows it from this time (ms).
    Late(&'a Fault, i64),
}

/// The request `id` at virtual time `now_ms`, if it exists; a newly reached inactivity stop is
/// stored (the state and `stoppedDueToInactivity: true`).
pub async fn load(store: &Store, id: &str, now_ms: i64) -> Result<Option<Live>> {
    let Some((facts, app)) = load_request(store, id, now_ms).await? else {
        return Ok(None);
    };
    let settings = Settings::load(store).await?;
    let state = parse_states(store.meta_get(STATE_META).await?)
        .remove(id)
        .unwrap_or_default();
    let faults = faults::load(store)
        .await?
        .into_iter()
        .filter(|f| f.app.as_deref().is_none_or(|a| a == app))
        .collect();
    let mut live = Live {
        facts,
        app,
        settings,
        state,
        stop: None,
        faults,
    };
    if live.facts.snapshot {
        return Ok(Some(live));
    }
    let today = pacific::day_of_ms(now_ms);
    if let Some(day) = live.state.stopped_on {
        live.stop = Some(live.inactivity_stop(day));
        return Ok(Some(live));
    }
    let stored = store.get(REQUESTS, id).await?;
    if let Some(r) = &stored
        && r.attributes.get("stoppedDueToInactivity") == Some(&Value::Bool(true))
    {
        let day = pacific::day_of_ms(r.updated_ms);
        live.stop = Some(Stop {
            day,
            why: format!(
                "the request was stored with stoppedDueToInactivity: true on {day} (a seed file or the admin API); it makes no instances from that day on"
            ),
        });
        return Ok(Some(live));
    }
    let day = live.inactivity_day();
    if today >= day {
        // Reached now: stored once, as Apple shows it from then on.
        let mut tx = store.begin().await?;
        if let Some(mut r) = tx.get(REQUESTS, id).await? {
            r.attributes
                .insert("stoppedDueToInactivity".into(), Value::Bool(true));
            tx.put(REQUESTS, id, &r.attributes).await?;
        }
        let mut all = parse_states(tx.meta_get(STATE_META).await?);
        all.entry(id.to_string()).or_default().stopped_on = Some(day);
        tx.meta_set(STATE_META, &serde_json::to_string(&all)?)
            .await?;
        tx.commit().await?;
        live.state.stopped_on = Some(day);
        live.stop = Some(live.inactivity_stop(day));
    }
    Ok(Some(live))
}

impl Live {
    /// The day before the first processing date: the baseline when nothing was downloaded.
    fn baseline(&self) -> Date {
        self.state
            .last_download
            .unwrap_or(self.facts.day + (FIRST_DELAY_DAYS - 1).days())
    }

    /// The day an ONGOING request stops if nothing more is downloaded.
    pub fn inactivity_day(&self) -> Date {
        self.baseline() + (self.settings.inactivity_days + 1).days()
    }

    fn inactivity_stop(&self, day: Date) -> Stop {
        let since = match self.state.last_download {
            Some(d) => format!("the last segment download was on {d}"),
            None => format!(
                "no segment was ever downloaded (first processing date {})",
                self.facts.day + FIRST_DELAY_DAYS.days()
            ),
        };
        Stop {
            day,
            why: format!(
                "stoppedDueToInactivity since {day}: {since} and a request stops after {} days without one (inactivityDays, apple-semantics.md §2.3: \"If you don't retrieve data for a long time, a report request changes to stoppedDueToInactivity. You need to make a new request to resume getting reports.\")",
                self.settings.inactivity_days
            ),
        }
    }

    /// The faults that apply to `report`.
    pub fn faults_of<'a>(&'a self, report: &Report) -> impl Iterator<Item = &'a Fault> {
        self.faults.iter().filter(move |f| f.applies_to(report))
    }

    /// Whether the schedule's instance `i` is visible at `now_ms`.
    pub fn verdict(&self, i: &Instance, now_ms: i64) -> Verdict<'_> {
        if let Some(s) = &self.stop
            && i.processing_date >= s.day
        {
            return Verdict::Stopped(s);
        }
        for f in self.faults_of(i.report) {
            if let Some(why) = f.removes(&self.app, i, &self.facts) {
                return Verdict::Removed(f, why);
            }
        }
        for f in self.faults_of(i.report) {
            if let Some(at) = f.visible_from(&self.app, i)
                && now_ms < at
            {
                return Verdict::Late(f, at);
            }
        }
        Verdict::Visible
    }

    /// The schedule's instances of `report` on Pacific day `today` (before the stop and faults).
    pub fn scheduled(&self, report: &'static Report, today: Date) -> Vec<Instance> {
        schedule::instances(report, &self.facts, today)
    }

    /// The instances of `report` a client sees at `now_ms`, and those the stop or a fault hid.
    pub fn instances(
        &self,
        report: &'static Report,
        now_ms: i64,
    ) -> (Vec<Instance>, Vec<(Instance, Verdict<'_>)>) {
        let mut shown = Vec::new();
        let mut hidden = Vec::new();
        for i in self.scheduled(report, pacific::day_of_ms(now_ms)) {
            match self.verdict(&i, now_ms) {
                Verdict::Visible => shown.push(i),
                v => hidden.push((i, v)),
            }
        }
        (shown, hidden)
    }

    /// Whether `i` is visible now.
    pub fn shows(&self, i: &Instance, now_ms: i64) -> bool {
        self.scheduled(i.report, pacific::day_of_ms(now_ms))
            .contains(i)
            && self.verdict(i, now_ms) == Verdict::Visible
    }

    /// The injected fault that leaves `i` without segments, if any.
    pub fn empty_fault(&self, i: &Instance) -> Option<&Fault> {
        self.faults_of(i.report).find(|f| f.empties(&self.app, i))
    }
}

/// Records a segment download of request `id` on Pacific day `today` (once a day; nothing once
/// the request stopped: a stopped request does not resume).
pub async fn record_download(store: &Store, live: &Live, id: &str, today: Date) -> Result<()> {
    if live.stop.is_some() || live.facts.snapshot || live.state.last_download == Some(today) {
        return Ok(());
    }
    update_state(store, id, |s| s.last_download = Some(today)).await
}

/// An instance's processing date is within the 35 days it is kept (§2.3) on `today`.
pub fn kept(i: &Instance, today: Date) -> bool {
    i.processing_date > today - RETENTION_DAYS.days()
}

const DELETED_SNAPSHOTS_META: &str = "analytics.deletedSnapshots";

/// A deleted ONE_TIME_SNAPSHOT request, remembered for forum post 5's rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeletedSnapshot {
    id: String,
    deleted_ms: i64,
}

type DeletedSnapshots = BTreeMap<String, DeletedSnapshot>;

fn parse_deleted(text: Option<String>) -> DeletedSnapshots {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Remembers that app `app`'s ONE_TIME_SNAPSHOT request `id` was deleted now.
pub async fn snapshot_deleted(tx: &mut Tx, app: &str, id: &str) -> Result<()> {
    let mut all = parse_deleted(tx.meta_get(DELETED_SNAPSHOTS_META).await?);
    let deleted_ms = tx.now_ms();
    all.insert(
        app.to_string(),
        DeletedSnapshot {
            id: id.to_string(),
            deleted_ms,
        },
    );
    tx.meta_set(DELETED_SNAPSHOTS_META, &serde_json::to_string(&all)?)
        .await
}

/// Forum post 5: why a new ONE_TIME_SNAPSHOT request of `app` is still refused now, if it is
/// (a snapshot of the app deleted less than `deletedSnapshotBlockDays` ago).
pub async fn snapshot_still_blocked(tx: &mut Tx, app: &str) -> Result<Option<String>> {
    let Some(d) = parse_deleted(tx.meta_get(DELETED_SNAPSHOTS_META).await?).remove(app) else {
        return Ok(None);
    };
    let days = Settings::load_tx(tx).await?.deleted_snapshot_block_days;
    let until = d.deleted_ms + days * 86_400_000;
    if tx.now_ms() >= until {
        return Ok(None);
    }
    let at = pacific_time;
    Ok(Some(format!(
        "app {app}'s ONE_TIME_SNAPSHOT request {} was deleted at {}, and Apple still counts a deleted snapshot (forum post 5: 409 \"a week since it was deleted\"; reports-formats.md §4.1: \"You can make a single, one-time snapshot request per month\"): a new one is accepted from {} (deletedSnapshotBlockDays = {days})",
        d.id,
        at(d.deleted_ms),
        at(until)
    )))
}

/// A time of the virtual clock in Pacific time, for sentences (`2026-06-02 09:00 PDT`).
pub fn pacific_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(pacific::zone().clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default()
}

/// A world (re)load: the seed file's `analytics:` section (`inactivityDays`,
/// `deletedSnapshotBlockDays`, `faults: [...]`) replaces the settings and faults, and every
/// request's state is forgotten. Without a section: the defaults and no faults.
pub async fn load_world(tx: &mut Tx, section: Option<&Value>) -> Result<()> {
    let mut settings = serde_json::Map::new();
    let mut list = Vec::new();
    if let Some(v) = section {
        let Value::Object(m) = v else {
            anyhow::bail!("seed: analytics must be a mapping");
        };
        for (k, x) in m {
            if k == "faults" {
                for f in x.as_array().map(Vec::as_slice).unwrap_or_default() {
                    list.push(Fault::parse(f).map_err(|e| anyhow::anyhow!("seed: {e}"))?);
                }
            } else {
                settings.insert(k.clone(), x.clone());
            }
        }
    }
    Settings::default()
        .merged(&Value::Object(settings))
        .map_err(|e| anyhow::anyhow!("seed: {e}"))?
        .save(tx)
        .await?;
    faults::replace(tx, list).await?;
    reset_state(tx).await
}
