//! The bytes of an analytics segment (reports-formats.md §4.1, §4.3, §4.5): a tab-separated text
//! file (App Crashes Expanded: comma-separated, §4.1), gzip'd by the caller, with the report's
//! columns in Apple's order, one row per Date and dimensions. This module owns the machinery every
//! report shares — a [`Table`] that aggregates rows under the level's header, Apple's privacy
//! measures, the file's text — and dispatches to one module per family of reports:
//!
//! - [`commerce`]: App Downloads, App Store Purchases, App Store Pre-Orders;
//! - [`engagement`]: App Store Discovery and Engagement, App Store Web Preview Engagement;
//! - [`usage`]: App Store Installation and Deletion, App Sessions, App Opt In, App Crashes, App
//!   Crashes Expanded, App Install Performance;
//! - [`subscriptions`]: App Store Subscription State and Subscription Event;
//! - [`unit_days`]: what the files read of a final day, computed once per process.
//!
//! Sources: the app units the simulator records (`report_app_units`) and the production ledger.
//! Apple's other metrics (impressions, sessions, crashes, …) are not simulated: crabapple derives
//! them DETERMINISTICALLY from the app units with fixed ratios — crabapple's model, not Apple's
//! data. Each ratio is a named constant in its module:
//!
//! | constant | value | meaning |
//! |---|---|---|
//! | `engagement::IMPRESSIONS_PER_DOWNLOAD_SEARCH` | 8 | impressions per first-time download from `App Store search` |
//! | `engagement::IMPRESSIONS_PER_DOWNLOAD_BROWSE` | 15 | … from `App Store browse` |
//! | `engagement::IMPRESSIONS_PER_DOWNLOAD_OTHER` | 4 | … from any other source type |
//! | `engagement::PAGE_VIEWS_PER_DOWNLOAD` | 3 | product page views per first-time download |
//! | `engagement::UNIQUE_PERCENT` | 80 | Unique Counts as a share of Counts (rounded up) |
//! | `engagement::WEB_PREVIEW_VIEWS_PER_DOWNLOAD` | 5 | web preview page views per first-time download from `Web referrer` |
//! | `usage::DELETE_PERCENT` | 15 | deletions as a share of the day's installs (rounded down) |
//! | `usage::ACTIVE_DAYS` | 30 | an install counts as an active device for this many days |
//! | `usage::ACTIVE_PERCENT` | 30 | share of those devices that open the app on a day (rounded up) |
//! | `usage::SESSIONS_PER_ACTIVE_DEVICE` | 3 | sessions per active device and day |
//! | `usage::SECONDS_PER_SESSION` | 240 | Total Session Duration per session |
//! | `usage::CRASHES_PER_THOUSAND_SESSIONS` | 5 | crashes per 1,000 sessions (rounded down) |
//! | `usage::OPT_IN_PERCENT` | 25 | Users Opting-In as a share of Downloading Users (rounded down) |
//! | `usage::FULL_INSTALL_MS`, `usage::DELTA_INSTALL_MS` | 6000, 2500 | Avg Install Duration of a full package (downloads) and of a delta (updates) |
//! | `commerce::PRE_ORDER_CANCEL_PERCENT` | 10 | pre-orders canceled as a share of those placed (rounded down) |
//!
//! Installs are first-time downloads + redownloads, so Installation and Deletion Standard agrees
//! with App Downloads Standard; Subscription State counts the ledger's subscriptions as of the end
//! of the day (the Sales SUBSCRIPTION report's states). Weekly and monthly files have one Date,
//! the first day of the week or month (§4.1), and sum the days' rows.
//!
//! Privacy (§4.5). Standard files are exact (crabapple's choice, so Standard totals equal the
//! Sales reports and the ledger, and Detailed ones show what the privacy measures remove).
//! Detailed files drop rows whose user metric (Counts; Unique Counts, Unique Devices, Paying Users
//! where the report has them) is under [`THRESHOLD`] and add integer noise of σ≈2 to the other
//! metrics, each drawn independently from the md5 of (report name, Date, row dimensions, metric),
//! so the same report gives the same bytes on every request; Purchases Detailed draws once on
//! Paying Users and moves Purchases, Sales and Proceeds in proportion; Sessions Detailed noises
//! Total Session Duration with σ = (duration/sessions)/4. A noised metric stays ≥ 1. App Crashes
//! Expanded keeps only rows with a Count of at least 5 (§4.3). App-usage reports (Sessions,
//! Installation and Deletion, Crashes) are not generated at all when the period has fewer than 5
//! users ([`Rendered::withheld`]: the instance has no segment). [`Rendered::reason`] says what was
//! dropped or withheld, for the download's `X-Crabapple-Reason`.

pub mod commerce;
pub mod engagement;
pub mod subscriptions;
pub mod unit_days;
pub mod usage;

pub use commerce::{
    DOWNLOADS_DETAILED, DOWNLOADS_STANDARD, PRE_ORDERS_DETAILED, PRE_ORDERS_STANDARD,
    PURCHASES_DETAILED, PURCHASES_STANDARD,
};
pub use engagement::{
    DISCOVERY_DETAILED, DISCOVERY_STANDARD, WEB_PREVIEW_DETAILED, WEB_PREVIEW_STANDARD,
};
pub use subscriptions::{
    SUBSCRIPTION_EVENT_DETAILED, SUBSCRIPTION_EVENT_STANDARD, SUBSCRIPTION_STATE_DETAILED,
    SUBSCRIPTION_STATE_STANDARD,
};
pub use usage::{
    CRASHES, CRASHES_EXPANDED, INSTALL_PERFORMANCE, INSTALLS_DETAILED, INSTALLS_STANDARD, OPT_IN,
    SESSIONS_DETAILED, SESSIONS_STANDARD,
};

use super::schedule::{Granularity, Instance};
use super::{Kind, Report};
use crate::proceeds::format_amount;
use anyhow::Result;
use crabapple_store::Store;
use jiff::civil::Date;
use md5::{Digest, Md5};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// §4.5: values from fewer than 5 users or devices are omitted.
pub const THRESHOLD: i64 = 5;

/// A standard normal draw from the md5 of the key (Box–Muller), stable across requests: the md5
/// of `report`, `date` and the key's cells (then the metric's number, if any) on lines and tabs,
/// `"{report}\n{date}\n{key[0]}\t…\t{metric}"`, fed piece by piece.
fn gaussian(report: &str, date: &str, key: &[&str], metric: Option<usize>) -> f64 {
    let mut h = Md5::new();
    for piece in [report, "\n", date, "\n"] {
        h.update(piece);
    }
    for (i, k) in key.iter().enumerate() {
        if i > 0 {
            h.update("\t");
        }
        h.update(k);
    }
    if let Some(m) = metric {
        if !key.is_empty() {
            h.update("\t");
        }
        h.update(m.to_string());
    }
    let digest = h.finalize();
    let u = |b: &[u8]| {
        let v = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        ((v >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let (u1, u2) = (u(&digest[0..8]), u(&digest[8..16]));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The integer noise of one row: md5 of the key → Box–Muller → N(0, 2) rounded.
pub fn noise(report: &str, date: &str, key: &[&str], metric: Option<usize>) -> i64 {
    (2.0 * gaussian(report, date, key, metric)).round() as i64
}

/// The header line of a report at its level.
pub fn header(report: &Report) -> &'static str {
    let s = spec(report.kind);
    if report.detailed {
        s.detailed
    } else {
        s.standard
    }
}

/// How a Detailed file's metrics are noised (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Noise {
    /// Every metric its own draw of σ≈2.
    Independent,
    /// One draw on the user metric; the others move in proportion (Purchases).
    Proportional,
    /// Independent, but Total Session Duration (metric 1) with σ = (duration/sessions)/4.
    SessionDuration,
}

/// What a report's file is made of, beyond its rows.
struct Spec {
    standard: &'static str,
    /// The Detailed header (the Standard one for single-level reports).
    detailed: &'static str,
    /// How many trailing columns are metrics.
    metrics: usize,
    /// The metric counted against [`THRESHOLD`].
    users: usize,
    /// Metrics written as USD amounts (milli-USD in the table).
    money: &'static [usize],
    noise: Noise,
    /// §4.5: an app-usage report, not generated under [`THRESHOLD`] users for the period.
    usage: bool,
    /// Rows under [`THRESHOLD`] dropped at every level (App Crashes Expanded, §4.3).
    threshold_always: bool,
    delimiter: char,
    /// The metrics of a row from what was summed into it.
    finish: fn(&[i64]) -> Vec<i64>,
}

impl Spec {
    /// Metric `i`'s value as the file writes it (amounts in USD from milli-USD).
    fn write(&self, i: usize, v: i64) -> String {
        if self.money.contains(&i) {
            format_amount(v, "USD")
        } else {
            v.to_string()
        }
    }
}

/// `percent` % of `n`, rounded up (n ≥ 0).
fn percent_up(n: i64, percent: i64) -> i64 {
    (n * percent + 99) / 100
}

fn same(b: &[i64]) -> Vec<i64> {
    b.to_vec()
}

const fn tsv_spec(
    standard: &'static str,
    detailed: &'static str,
    metrics: usize,
    users: usize,
    finish: fn(&[i64]) -> Vec<i64>,
) -> Spec {
    Spec {
        standard,
        detailed,
        metrics,
        users,
        money: &[],
        noise: Noise::Independent,
        usage: false,
        threshold_always: false,
        delimiter: '\t',
        finish,
    }
}

fn spec(kind: Kind) -> &'static Spec {
    match kind {
        Kind::Downloads | Kind::NotGenerated => &commerce::DOWNLOADS,
        Kind::Purchases => &commerce::PURCHASES,
        Kind::PreOrders => &commerce::PRE_ORDERS,
        Kind::DiscoveryAndEngagement => &engagement::DISCOVERY,
        Kind::WebPreviewEngagement => &engagement::WEB_PREVIEW,
        Kind::Sessions => &usage::SESSIONS,
        Kind::InstallationAndDeletion => &usage::INSTALLS,
        Kind::OptIn => &usage::OPT_IN_SPEC,
        Kind::Crashes => &usage::CRASHES_SPEC,
        Kind::CrashesExpanded => &usage::CRASHES_EXPANDED_SPEC,
        Kind::InstallPerformance => &usage::INSTALL_PERFORMANCE_SPEC,
        Kind::SubscriptionState => &subscriptions::STATE,
        Kind::SubscriptionEvent => &subscriptions::EVENT,
    }
}

/// A file's text and what the privacy measures did to it.
pub struct Rendered {
    /// Header and rows, `\n` after each line.
    pub text: String,
    /// Rows computed before thresholding.
    pub rows: usize,
    /// Rows dropped by the threshold.
    pub dropped: usize,
    /// §4.5: why an app-usage report is not generated for the period (fewer than 5 users); the
    /// instance then has no segment. `None` for a file that exists.
    pub withheld: Option<String>,
    /// The dropped rows as the file would have had them (exact metrics), for `explain`.
    pub dropped_rows: Vec<String>,
    /// Per metric (the header's last columns, in order), what the noise added to the kept rows
    /// in all (milli-USD for amounts): Detailed total = Standard total − dropped rows + this.
    pub noise: Vec<i64>,
}

impl Rendered {
    /// The names of the metric columns and the noise each got, as the file writes amounts.
    pub fn noise_by_metric(&self, report: &Report) -> Vec<(&'static str, String)> {
        let s = spec(report.kind);
        let names: Vec<&'static str> = header(report).split(s.delimiter).collect();
        let metrics = &names[names.len() - s.metrics..];
        metrics
            .iter()
            .zip(&self.noise)
            .enumerate()
            .map(|(i, (n, v))| (*n, s.write(i, *v)))
            .collect()
    }

    /// What the privacy measures did to the file (the `X-Crabapple-Reason` of its download);
    /// `None` for exact files.
    pub fn reason(&self, report: &Report) -> Option<String> {
        if let Some(w) = &self.withheld {
            return Some(w.clone());
        }
        if report.detailed {
            return Some(format!(
                "reports-formats.md §4.5: {} of {} rows of {} came from fewer than {THRESHOLD} users or devices and were dropped; the other rows carry stable integer noise (σ≈2)",
                self.dropped, self.rows, report.name
            ));
        }
        spec(report.kind).threshold_always.then(|| {
            format!(
                "reports-formats.md §4.3: {} of {} rows of {} had a Count under {THRESHOLD} and were dropped",
                self.dropped, self.rows, report.name
            )
        })
    }
}

/// What every row of a file starts with.
struct Ctx {
    instance: Instance,
    app_id: String,
    app_name: String,
    /// The Dates of the file.
    first: Date,
    last: Date,
    /// `first` as text.
    first_text: String,
}

/// A row's cells, owned (kept between files): (column name, text).
type Cells = Vec<(&'static str, String)>;
/// A row's cells as [`Table::add`] takes them.
type CellRefs<'a> = Vec<(&'static str, &'a str)>;

impl Ctx {
    /// The Date of a row of `day`: the day in a DAILY file, the period's first day otherwise.
    fn date(&self, day: Date) -> Cow<'_, str> {
        match self.instance.granularity {
            Granularity::Daily if day != self.first => Cow::Owned(day.to_string()),
            _ => Cow::Borrowed(&self.first_text),
        }
    }

    /// Date (also as Event Date), App Name, App Apple Identifier of a row dated `date`
    /// ([`Ctx::date`]).
    fn cells<'a>(&'a self, date: &'a str) -> CellRefs<'a> {
        vec![
            ("Date", date),
            ("Event Date", date),
            ("App Name", &self.app_name),
            ("App Apple Identifier", &self.app_id),
        ]
    }
}

/// Borrows owned cells.
fn refs(cells: &Cells) -> impl Iterator<Item = (&'static str, &str)> {
    cells.iter().map(|(n, v)| (*n, v.as_str()))
}

fn yes_no(b: bool) -> &'static str {
    if b { "Yes" } else { "No" }
}

/// Separates a row's dimension cells in a [`Table`] key: below every character of a cell, so
/// that keys sort as their lists of cells do (Date first). A key is one string instead of one
/// per cell (a big app's monthly Sessions Detailed has hundreds of thousands of rows).
const KEY_SEPARATOR: char = '\0';

/// The rows of one file: dimension cells (the level's header columns) → summed inputs.
struct Table {
    spec: &'static Spec,
    columns: Vec<&'static str>,
    /// Summed in a hash map under the cells joined by [`KEY_SEPARATOR`], written sorted.
    rows: HashMap<String, Vec<i64>, foldhash::fast::FixedState>,
    /// The key being built by [`Table::add`] (allocated only for a new row).
    key: String,
    /// The cell names of the last [`Table::add`] (by address: a call site adds the same
    /// names in the same order every time) and, per column, which of its cells fills it.
    shape: Vec<(usize, usize)>,
    picks: Vec<Option<usize>>,
    /// The period's users, for the app-usage rule of §4.5.
    users: i64,
}

impl Table {
    fn new(report: &Report) -> Table {
        let spec = spec(report.kind);
        let names: Vec<&'static str> = header(report).split(spec.delimiter).collect();
        Table {
            spec,
            columns: names[..names.len() - spec.metrics].to_vec(),
            rows: HashMap::default(),
            key: String::with_capacity(128),
            shape: Vec::new(),
            picks: Vec::new(),
            users: 0,
        }
    }

    /// Adds `inputs` to the row the level's columns make of `cells` (absent cells are empty).
    fn add(&mut self, cells: &[(&'static str, &str)], inputs: &[i64]) {
        let shape = cells.iter().map(|(n, _)| (n.as_ptr() as usize, n.len()));
        if !shape.clone().eq(self.shape.iter().copied()) {
            self.shape = shape.collect();
            // The last cell of a name wins.
            self.picks = (self.columns.iter())
                .map(|c| cells.iter().rposition(|(n, _)| n == c))
                .collect();
        }
        let key = &mut self.key;
        key.clear();
        for (i, pick) in self.picks.iter().enumerate() {
            if i > 0 {
                key.push(KEY_SEPARATOR);
            }
            if let Some((_, v)) = pick.map(|p| &cells[p]) {
                if v.contains(['\t', '\n', '\r']) {
                    key.push_str(&v.replace(['\t', '\n', '\r'], " "));
                } else {
                    key.push_str(v);
                }
            }
        }
        let row = match self.rows.get_mut(key.as_str()) {
            Some(row) => row,
            None => self
                .rows
                .entry(key.clone())
                .or_insert_with(|| vec![0; inputs.len()]),
        };
        for (r, i) in row.iter_mut().zip(inputs) {
            *r += i;
        }
    }

    /// One line of the file (without its newline): the row's cells, then its metrics.
    fn write_line(&self, out: &mut String, key: &[&str], m: &[i64]) {
        let d = self.spec.delimiter;
        for (i, s) in key.iter().enumerate() {
            if i > 0 {
                out.push(d);
            }
            if d == ',' && (s.contains(',') || s.contains('"')) {
                out.push('"');
                out.push_str(&s.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(s);
            }
        }
        for (i, v) in m.iter().enumerate() {
            out.push(d);
            out.push_str(&self.spec.write(i, *v));
        }
    }

    /// The file: header, then the rows that pass the privacy measures.
    fn finish(mut self, report: &Report, period: &str) -> Rendered {
        let spec = self.spec;
        let header = header(report);
        if spec.usage && self.users < THRESHOLD {
            return Rendered {
                text: format!("{header}\n"),
                rows: 0,
                dropped: 0,
                dropped_rows: vec![],
                noise: vec![0; spec.metrics],
                withheld: Some(format!(
                    "reports-formats.md §4.5: {} is not generated for {period}: {} users, fewer than {THRESHOLD}",
                    report.name, self.users
                )),
            };
        }
        let mut out = format!("{header}\n");
        let mut rows = 0;
        let mut dropped_rows = Vec::new();
        let mut noise = vec![0; spec.metrics];
        let mut sorted: Vec<(String, Vec<i64>)> =
            std::mem::take(&mut self.rows).into_iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut key: Vec<&str> = Vec::with_capacity(self.columns.len());
        for (k, inputs) in &sorted {
            key.clear();
            key.extend(k.split(KEY_SEPARATOR));
            let mut m = (spec.finish)(inputs);
            if m.iter().all(|v| *v == 0) {
                continue;
            }
            rows += 1;
            if (report.detailed || spec.threshold_always) && m[spec.users] < THRESHOLD {
                let mut line = String::new();
                self.write_line(&mut line, &key, &m);
                dropped_rows.push(line);
                continue;
            }
            if report.detailed {
                let exact = m.clone();
                add_noise(report, spec, &key, &mut m);
                for ((n, a), b) in noise.iter_mut().zip(&exact).zip(&m) {
                    *n += b - a;
                }
            }
            self.write_line(&mut out, &key, &m);
            out.push('\n');
        }
        Rendered {
            text: out,
            rows,
            dropped: dropped_rows.len(),
            dropped_rows,
            noise,
            withheld: None,
        }
    }
}

/// §4.5's stable noise on a Detailed row's metrics (see the module doc).
fn add_noise(report: &Report, spec: &Spec, key: &[&str], m: &mut [i64]) {
    // The Date, the other cells, and the metric's number unless it is the users metric.
    let (n, d, k) = (report.name, key[0], &key[1..]);
    let metric = |i: usize| Some(i).filter(|i| *i != spec.users);
    match spec.noise {
        Noise::Proportional => {
            let users = m[spec.users];
            let noised = (users + noise(n, d, k, None)).max(1);
            for (i, v) in m.iter_mut().enumerate() {
                *v = if i == spec.users {
                    noised
                } else {
                    *v * noised / users
                };
            }
        }
        Noise::Independent | Noise::SessionDuration => {
            let sessions = m[0].max(1);
            for i in 0..m.len() {
                if m[i] == 0 {
                    continue;
                }
                let delta = if spec.noise == Noise::SessionDuration && i == 1 {
                    (gaussian(n, d, k, metric(i)) * (m[1] as f64 / sessions as f64) / 4.0).round()
                        as i64
                } else {
                    noise(n, d, k, metric(i))
                };
                m[i] = (m[i] + delta).max(1);
            }
        }
    }
}

/// The file of `instance` for app `app_id`.
pub async fn render(store: &Store, instance: &Instance, app_id: &str) -> Result<Rendered> {
    let app = store.get("apps", app_id).await?;
    let app_name = app
        .as_ref()
        .and_then(|a| a.attributes.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let report = instance.report;
    let (first, last) = instance.dates();
    let ctx = Ctx {
        instance: instance.clone(),
        app_id: app_id.to_string(),
        app_name,
        first,
        last,
        first_text: first.to_string(),
    };
    let mut t = Table::new(report);
    match report.kind {
        Kind::NotGenerated => {}
        Kind::Downloads => commerce::downloads(store, &ctx, &mut t).await?,
        Kind::Purchases => commerce::purchases(store, &ctx, &mut t).await?,
        Kind::PreOrders => commerce::pre_orders(store, &ctx, &mut t).await?,
        Kind::DiscoveryAndEngagement => engagement::discovery(store, &ctx, &mut t).await?,
        Kind::WebPreviewEngagement => engagement::web_preview(store, &ctx, &mut t).await?,
        Kind::InstallationAndDeletion => usage::installs(store, &ctx, &mut t).await?,
        Kind::Sessions | Kind::Crashes | Kind::CrashesExpanded => {
            usage::active(store, &ctx, &mut t, report.kind).await?
        }
        Kind::OptIn => usage::opt_in(store, &ctx, &mut t).await?,
        Kind::InstallPerformance => usage::install_performance(store, &ctx, &mut t).await?,
        Kind::SubscriptionState => subscriptions::state(store, &ctx, &mut t).await?,
        Kind::SubscriptionEvent => subscriptions::event(store, &ctx, &mut t).await?,
    }
    let period = if first == last {
        first.to_string()
    } else {
        format!("{first} to {last}")
    };
    Ok(t.finish(report, &period))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::CATALOGUE;

    #[test]
    fn s4_5_noise_is_stable_and_about_sigma_2() {
        assert_eq!(
            noise("r", "2026-01-01", &["a"], None),
            noise("r", "2026-01-01", &["a"], None)
        );
        // A metric's draw is that of the key with the metric's number as a last cell.
        let d = "2026-01-01";
        assert_eq!(
            noise("r", d, &["a", "b"], Some(1)),
            noise("r", d, &["a", "b", "1"], None)
        );
        assert_eq!(noise("r", d, &[], Some(1)), noise("r", d, &["1"], None));
        let draws: Vec<i64> = (0..4000)
            .map(|i| {
                noise(
                    "App Downloads Detailed",
                    "2026-01-01",
                    &[&i.to_string()],
                    None,
                )
            })
            .collect();
        let within2 = draws.iter().filter(|n| n.abs() <= 2).count() as f64 / 4000.0;
        let within6 = draws.iter().filter(|n| n.abs() <= 6).count() as f64 / 4000.0;
        let mean = draws.iter().sum::<i64>() as f64 / 4000.0;
        // §4.5: 68.2 % within ±2 (rounding to integers widens it a little), 99.7 % within ±6.
        assert!((0.68..0.85).contains(&within2), "{within2}");
        assert!(within6 > 0.99, "{within6}");
        assert!(mean.abs() < 0.2, "{mean}");
    }

    #[test]
    fn s4_5_session_duration_noise_has_sigma_of_a_quarter_of_the_mean_session() {
        let report = Report::by_n(9).unwrap();
        let deltas: Vec<f64> = (0..4000)
            .map(|i| {
                let mut m = vec![100, 24_000, 40];
                add_noise(report, &usage::SESSIONS, &["d", &i.to_string()], &mut m);
                (m[1] - 24_000) as f64
            })
            .collect();
        let sd = (deltas.iter().map(|d| d * d).sum::<f64>() / 4000.0).sqrt();
        // σ = (24000 / 100) / 4 = 60.
        assert!((55.0..65.0).contains(&sd), "{sd}");
    }

    #[test]
    fn s4_3_every_generated_report_has_a_header_with_its_metrics() {
        for r in CATALOGUE.iter().filter(|r| r.kind != Kind::NotGenerated) {
            let s = spec(r.kind);
            let cols = header(r).split(s.delimiter).count();
            assert!(cols > s.metrics && s.users < s.metrics, "{}", r.name);
            assert!(!r.granularities.is_empty(), "{}", r.name);
        }
    }
}
