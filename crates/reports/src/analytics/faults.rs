//! Injected faults of Analytics Reports: what users report from Apple (forum posts 2, 3 and 12),
//! produced on purpose and always said to be injected. Stored in meta `analytics.faults`, set
//! through `/crabapple/admin/analytics/faults` or the seed file's `analytics.faults`.
//!
//! A fault names an `app` (Apple id; absent = every app), a `report` (API name; absent or `*` =
//! every report) and a `kind`; its days are `dates`, or `from`–`to`, or every day, thinned by
//! `rate` (0–1, drawn per day from the md5 of `seed`, app, report and day, so the same days on
//! every run):
//!
//! - `missingDays` — the days are Dates (the files' Date column): their rows are in no file; an
//!   instance all of whose Dates are missing does not exist (forum post 2's "no data on June
//!   2-4", or months). Weekly and monthly files are "complete by default" (reports-formats.md
//!   §4.4): only a period missing entirely is absent.
//! - `lateInstances` — the days are processing dates: the instance appears `delayHours` (or
//!   `delayDays`) after 00:00 Pacific of its processing date instead of at it.
//! - `emptyInstances` — the days are processing dates: the instance exists but has no segments.
//! - `partialSnapshot` — ONE_TIME_SNAPSHOT requests only (forum post 12): `historyDays` keeps the
//!   instances whose Dates reach the last N days before the delivery; the days (processing
//!   dates) are gaps in the backfill.

use super::schedule::{Instance, RequestFacts};
use super::{CATALOGUE, Report};
use crate::pacific;
use anyhow::Result;
use crabapple_store::{Store, Tx};
use jiff::ToSpan;
use jiff::civil::Date;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const META: &str = "analytics.faults";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    MissingDays,
    LateInstances,
    EmptyInstances,
    PartialSnapshot,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::MissingDays => "missingDays",
            Kind::LateInstances => "lateInstances",
            Kind::EmptyInstances => "emptyInstances",
            Kind::PartialSnapshot => "partialSnapshot",
        }
    }
}

/// One injected fault (see the module comment for the members).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    #[serde(default)]
    pub id: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_hours: Option<i64>,
    /// Read as `delayHours` = 24 × this (never written back).
    #[serde(default, skip_serializing)]
    pub delay_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_days: Option<i64>,
}

impl Fault {
    /// A fault from JSON, checked (report names, rate, delay, history, range); a sentence when
    /// it is not one.
    pub fn parse(v: &Value) -> Result<Fault, String> {
        let mut f: Fault =
            serde_json::from_value(v.clone()).map_err(|e| format!("analytics fault: {e}"))?;
        if f.report.as_deref() == Some("*") {
            f.report = None;
        }
        if f.app.as_deref() == Some("*") {
            f.app = None;
        }
        if let Some(d) = f.delay_days.take()
            && f.delay_hours.is_none()
        {
            f.delay_hours = Some(d.saturating_mul(24));
        }
        if let Some(r) = &f.report
            && !CATALOGUE.iter().any(|c| c.name == r)
        {
            return Err(format!(
                "report '{r}' is not a report of the catalogue (reports-formats.md §4.2); use its API name or '*'"
            ));
        }
        if let Some(r) = f.rate
            && !(0.0..=1.0).contains(&r)
        {
            return Err(format!("rate must be from 0 to 1, not {r}"));
        }
        if let (Some(a), Some(b)) = (f.from, f.to)
            && a > b
        {
            return Err(format!("from ({a}) is after to ({b})"));
        }
        match f.kind {
            Kind::LateInstances if f.delay_hours.is_none_or(|h| h <= 0) => {
                return Err("a lateInstances fault needs delayHours > 0 (or delayDays)".into());
            }
            Kind::PartialSnapshot
                if f.history_days.is_some_and(|d| d < 1)
                    || (f.history_days.is_none() && !f.picks_days()) =>
            {
                return Err(
                    "a partialSnapshot fault needs historyDays ≥ 1 or the days of its gaps (dates, from–to or rate)"
                        .into(),
                );
            }
            _ => {}
        }
        Ok(f)
    }

    fn picks_days(&self) -> bool {
        !self.dates.is_empty() || self.from.is_some() || self.to.is_some() || self.rate.is_some()
    }

    pub fn applies_to(&self, report: &Report) -> bool {
        self.report.as_deref().is_none_or(|r| r == report.name)
    }

    /// Whether day `d` is one of the fault's days for `app` and `report`.
    pub fn selects(&self, app: &str, report: &Report, d: Date) -> bool {
        if !self.dates.is_empty() && !self.dates.contains(&d) {
            return false;
        }
        if self.from.is_some_and(|f| d < f) || self.to.is_some_and(|t| d > t) {
            return false;
        }
        match self.rate {
            None => true,
            Some(rate) => {
                let h = Md5::digest(format!("{}\n{app}\n{}\n{d}", self.seed, report.name));
                let v = u64::from_le_bytes(h[0..8].try_into().expect("8 bytes"));
                (v as f64) / (u64::MAX as f64) < rate
            }
        }
    }

    /// Who it is, for the sentences that name it.
    pub fn label(&self) -> String {
        format!("injected fault {} ({})", self.id, self.kind.name())
    }

    /// Why `i` does not exist, if this fault removes it (missing days, a partial snapshot).
    pub fn removes(&self, app: &str, i: &Instance, req: &RequestFacts) -> Option<String> {
        let (first, last) = i.dates();
        match self.kind {
            Kind::MissingDays => {
                let mut d = first;
                while d <= last {
                    if !self.selects(app, i.report, d) {
                        return None;
                    }
                    d = d.tomorrow().ok()?;
                }
                Some(format!(
                    "{}: every Date it would hold ({first} to {last}) is a missing day",
                    self.label()
                ))
            }
            Kind::PartialSnapshot if req.snapshot => {
                let delivery = req.day + super::schedule::FIRST_DELAY_DAYS.days();
                if let Some(n) = self.history_days
                    && last < delivery - n.days()
                {
                    return Some(format!(
                        "{}: the snapshot delivered on {delivery} holds only the last {n} days of history (Dates from {})",
                        self.label(),
                        delivery - n.days()
                    ));
                }
                (self.picks_days() && self.selects(app, i.report, i.processing_date)).then(|| {
                    format!(
                        "{}: processing date {} is a gap in the snapshot's backfill",
                        self.label(),
                        i.processing_date
                    )
                })
            }
            _ => None,
        }
    }

    /// When a late instance appears (ms), if this fault delays `i`.
    pub fn visible_from(&self, app: &str, i: &Instance) -> Option<i64> {
        (self.kind == Kind::LateInstances && self.selects(app, i.report, i.processing_date)).then(
            || {
                pacific::day_bounds_ms(i.processing_date).0
                    + self.delay_hours.unwrap_or(0) * 3_600_000
            },
        )
    }

    /// Whether this fault leaves `i` without segments.
    pub fn empties(&self, app: &str, i: &Instance) -> bool {
        self.kind == Kind::EmptyInstances && self.selects(app, i.report, i.processing_date)
    }

    /// Whether this fault removes the rows of Date `d` from the files of `report`.
    pub fn misses(&self, app: &str, report: &Report, d: Date) -> bool {
        self.kind == Kind::MissingDays && self.selects(app, report, d)
    }
}

fn parse_list(text: Option<String>) -> Vec<Fault> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Every injected fault.
pub async fn load(store: &Store) -> Result<Vec<Fault>> {
    Ok(parse_list(store.meta_get(META).await?))
}

/// Replaces every fault with `list` (ids `f1`, `f2`, … where missing).
pub async fn replace(tx: &mut Tx, mut list: Vec<Fault>) -> Result<Vec<Fault>> {
    for (n, f) in list.iter_mut().enumerate() {
        if f.id.is_empty() {
            f.id = format!("f{}", n + 1);
        }
    }
    tx.meta_set(META, &serde_json::to_string(&list)?).await?;
    Ok(list)
}

/// Adds one fault; its id is the next free `f<N>`.
pub async fn add(store: &Store, mut f: Fault) -> Result<Fault> {
    let mut tx = store.begin().await?;
    let mut list = parse_list(tx.meta_get(META).await?);
    let n = list
        .iter()
        .filter_map(|f| f.id.strip_prefix('f')?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    if f.id.is_empty() || list.iter().any(|x| x.id == f.id) {
        f.id = format!("f{}", n + 1);
    }
    list.push(f.clone());
    tx.meta_set(META, &serde_json::to_string(&list)?).await?;
    tx.commit().await?;
    Ok(f)
}

/// Removes the fault `id` (or every fault when `None`); whether something was removed.
pub async fn remove(store: &Store, id: Option<&str>) -> Result<bool> {
    let mut tx = store.begin().await?;
    let mut list = parse_list(tx.meta_get(META).await?);
    let before = list.len();
    list.retain(|f| id.is_some_and(|id| f.id != id));
    tx.meta_set(META, &serde_json::to_string(&list)?).await?;
    tx.commit().await?;
    Ok(id.is_none() || list.len() < before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use serde_json::json;

    fn downloads() -> &'static Report {
        Report::by_n(3).unwrap()
    }

    #[test]
    fn faults_parse_with_apples_report_names_and_refuse_nonsense() {
        let f =
            Fault::parse(&json!({"kind": "missingDays", "report": "*", "dates": ["2026-06-02"]}))
                .unwrap();
        assert_eq!((f.report, f.dates), (None, vec![date(2026, 6, 2)]));
        let e = |v: Value| Fault::parse(&v).unwrap_err();
        assert_eq!(
            e(json!({"kind": "missingDays", "report": "Downloads"})),
            "report 'Downloads' is not a report of the catalogue (reports-formats.md §4.2); use its API name or '*'"
        );
        assert_eq!(
            e(json!({"kind": "lateInstances"})),
            "a lateInstances fault needs delayHours > 0 (or delayDays)"
        );
        let late = Fault::parse(&json!({"kind": "lateInstances", "delayDays": 2})).unwrap();
        assert_eq!((late.delay_hours, late.delay_days), (Some(48), None));
        assert_eq!(
            e(json!({"kind": "missingDays", "rate": 2.0})),
            "rate must be from 0 to 1, not 2"
        );
        assert!(e(json!({"kind": "sometimes"})).starts_with("analytics fault: unknown variant"));
    }

    #[test]
    fn a_rate_picks_the_same_days_on_every_run_and_about_that_share() {
        let f = Fault::parse(&json!({"kind": "missingDays", "rate": 0.25, "seed": 7})).unwrap();
        let days: Vec<Date> = (0..400).map(|n| date(2025, 1, 1) + n.days()).collect();
        let picked: Vec<&Date> = days
            .iter()
            .filter(|d| f.selects("1", downloads(), **d))
            .collect();
        let again: Vec<&Date> = days
            .iter()
            .filter(|d| f.selects("1", downloads(), **d))
            .collect();
        assert_eq!(picked, again);
        assert!((70..130).contains(&picked.len()), "{}", picked.len());
    }
}
