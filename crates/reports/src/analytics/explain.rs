//! Why a report has, or has not, an instance, a segment or rows for a day (forum posts 2, 3, 12
//! and 14: users cannot tell Apple's behaviour from their own bug): the answer of the admin API's
//! `GET /crabapple/admin/analytics/explain?reportId=…&date=…` (or `?instanceId=…`) and the
//! `X-Crabapple-Reason` of an instance list that hides or lacks something.
//!
//! The causes, in the order they are checked: the report's granularities (reports-formats.md
//! §4.4), the processing delay and the ONGOING start (apple-semantics.md §2.2, §2.3), a
//! snapshot's delivery and history start, the 35-day expiry, the inactivity stop
//! ([`super::lifecycle`]), injected faults ([`super::faults`]), and for a file that exists the
//! rows it holds with the privacy threshold's count ([`super::files::Rendered::reason`]).

use super::lifecycle::{self, Live, Verdict, pacific_time};
use super::schedule::{FIRST_DELAY_DAYS, Granularity, HISTORY_START, Instance, RETENTION_DAYS};
use super::{Report, files, segment};
use crate::pacific;
use anyhow::Result;
use crabapple_store::Store;
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Value, json};

/// One instance's story: a status word and the sentence.
struct Story {
    status: &'static str,
    text: String,
    rows: Option<Value>,
}

fn story(status: &'static str, text: String) -> Story {
    Story {
        status,
        text,
        rows: None,
    }
}

fn first_processing_date(live: &Live) -> Date {
    live.facts.day + FIRST_DELAY_DAYS.days()
}

/// Why the schedule makes no instance `i` (it is not among the request's instances today).
fn not_scheduled(live: &Live, i: &Instance, today: Date) -> Story {
    let report = i.report;
    let grans = Granularity::of(report);
    let (r, p, first) = (
        live.facts.day,
        i.processing_date,
        first_processing_date(live),
    );
    if let Some(why) = report.why_not_generated() {
        return story("notGenerated", why);
    }
    if !grans.contains(&i.granularity) {
        let names: Vec<&str> = grans.iter().map(|g| g.name()).collect();
        return story(
            "notMade",
            format!(
                "{} has no {} instances, only {} (reports-formats.md §4.4)",
                report.name,
                i.granularity.name(),
                names.join(", ")
            ),
        );
    }
    if !i.granularity.processes_on(p) {
        return story(
            "notMade",
            format!(
                "{p} is no processing date of {} instances (WEEKLY: Fridays, MONTHLY: the 5th, reports-formats.md §4.4)",
                i.granularity.name()
            ),
        );
    }
    if live.facts.snapshot {
        if today < first {
            return story(
                "notYet",
                format!(
                    "the ONE_TIME_SNAPSHOT requested on {r} is delivered on {first} at 00:00 Pacific (apple-semantics.md §2.3: \"Your first report request generates in 1–2 days\")"
                ),
            );
        }
        if today >= first + RETENTION_DAYS.days() {
            return story(
                "expired",
                format!(
                    "the snapshot delivered on {first} was kept {RETENTION_DAYS} days, until {} (apple-semantics.md §2.3); request a new ONE_TIME_SNAPSHOT",
                    first + RETENTION_DAYS.days()
                ),
            );
        }
        if p > first {
            return story(
                "afterSnapshot",
                format!(
                    "a ONE_TIME_SNAPSHOT \"doesn't generate any new data after the day you request it\" (apple-semantics.md §2.2): its last processing date is {first}; an ONGOING request makes the later days"
                ),
            );
        }
        return match live.facts.first_data_day {
            None => story(
                "noData",
                format!(
                    "the app has no data from {HISTORY_START} on, so the snapshot holds no instances"
                ),
            ),
            Some(d) => story(
                "beforeHistory",
                format!(
                    "the snapshot's history starts at {} (the app's first day of data; reports' history starts {HISTORY_START}, reports-formats.md §4.4): this instance would hold only earlier Dates",
                    d.max(HISTORY_START)
                ),
            ),
        };
    }
    if p < first {
        return story(
            "beforeRequest",
            format!(
                "the request was made on {r}: an ONGOING request's first processing date is {first} and it makes no history before it (apple-semantics.md §2.2: \"Use ONE_TIME_SNAPSHOT to get historical data\")"
            ),
        );
    }
    if p > today {
        return story(
            "notYet",
            format!(
                "processing date {p} has not come yet (today is {today} in Pacific time; an instance appears at 00:00 Pacific of its processing date, apple-semantics.md §2.3)"
            ),
        );
    }
    if !lifecycle::kept(i, today) {
        return story(
            "expired",
            format!(
                "instances are kept {RETENTION_DAYS} days (apple-semantics.md §2.3): processing date {p} expired on {}",
                p + RETENTION_DAYS.days()
            ),
        );
    }
    story("notMade", "the schedule makes no such instance".into())
}

/// The story of instance `i` at `now_ms`, with the rows of Date `date` when it exists.
async fn instance_story(
    store: &Store,
    live: &Live,
    i: &Instance,
    date: Option<Date>,
    now_ms: i64,
) -> Result<Story> {
    let today = pacific::day_of_ms(now_ms);
    if !live.scheduled(i.report, today).contains(i) {
        return Ok(not_scheduled(live, i, today));
    }
    match live.verdict(i, now_ms) {
        Verdict::Stopped(s) => return Ok(story("stopped", s.why.clone())),
        Verdict::Removed(_, why) => return Ok(story("removedByFault", why)),
        Verdict::Late(f, at) => {
            return Ok(story(
                "late",
                format!(
                    "{}: appears at {} instead of 00:00 Pacific on {} (delayHours {})",
                    f.label(),
                    pacific_time(at),
                    i.processing_date,
                    f.delay_hours.unwrap_or(0)
                ),
            ));
        }
        Verdict::Visible => {}
    }
    if let Some(f) = live.empty_fault(i) {
        return Ok(story(
            "empty",
            format!("{}: the instance exists but has no segments", f.label()),
        ));
    }
    let segment::Content {
        text,
        reasons,
        dropped_rows,
        noise,
        ..
    } = segment::content(store, i, live).await?;
    let mut lines = text.lines();
    let column = lines.next().and_then(segment::date_column);
    let rows: Vec<Option<Date>> = lines
        .map(|l| column.and_then(|c| segment::row_date(l, c)))
        .collect();
    let (first, last) = i.dates();
    let mut s = format!(
        "available: holds Dates {first} to {last}, {} rows",
        rows.len()
    );
    let mut counts = json!({ "file": rows.len() });
    // §4.5: the rows the threshold dropped, each as the file would have had it, and what the
    // noise added to the kept ones — Detailed total = Standard total − dropped + noise.
    if i.report.detailed || !dropped_rows.is_empty() {
        let noise: serde_json::Map<String, Value> = noise
            .into_iter()
            .map(|(name, v)| {
                let v = v.parse::<i64>().map_or(json!(v), |n| json!(n));
                (name.to_string(), v)
            })
            .collect();
        counts["privacy"] = json!({
            "threshold": files::THRESHOLD,
            "dropped": dropped_rows.len(),
            "droppedRows": dropped_rows,
            "noise": noise,
        });
    }
    if let Some(d) = date {
        // Weekly and monthly rows carry the period's first day (reports-formats.md §4.1).
        let cell = if i.granularity == Granularity::Daily {
            d
        } else {
            first
        };
        let n = rows.iter().filter(|r| **r == Some(cell)).count();
        counts["date"] = json!(n);
        s.push_str(&format!(", {n} of them for {d}"));
        if i.granularity == Granularity::Daily {
            s.push_str(if d == last {
                " (its partial day: a later instance restates it, reports-formats.md §4.4)"
            } else {
                " (its complete day)"
            });
        }
        if n == 0 && reasons.is_empty() {
            s.push_str(&format!(
                "; the app has no {} data recorded for {d}",
                i.report.name
            ));
        }
    }
    for r in &reasons {
        s.push_str("; ");
        s.push_str(r);
    }
    Ok(Story {
        status: "available",
        text: s,
        rows: Some(counts),
    })
}

/// The instances that could hold Date `d`: the two DAILY ones (d as complete and as partial
/// day), the WEEKLY one of its Monday–Sunday and the MONTHLY one of its month (§4.4).
fn candidates(report: &'static Report, request: &str, d: Date) -> Vec<Instance> {
    let monday = d - i64::from(d.weekday().to_monday_zero_offset()).days();
    let next_month = d.last_of_month() + 1.days();
    [
        (Granularity::Daily, d + 2.days()),
        (Granularity::Daily, d + 1.days()),
        (Granularity::Weekly, monday + 11.days()),
        (Granularity::Monthly, next_month + 4.days()),
    ]
    .into_iter()
    .map(|(granularity, processing_date)| Instance {
        report,
        request: request.to_string(),
        granularity,
        processing_date,
    })
    .collect()
}

/// The explanation document for a report and Date, or for one instance; `Err((status,
/// sentence))` when the question names nothing.
pub async fn explain(
    store: &Store,
    report_id: Option<&str>,
    date: Option<&str>,
    instance_id: Option<&str>,
    now_ms: i64,
) -> Result<Result<Value, (u16, String)>> {
    let (report, request, day, list) = match (instance_id, report_id, date) {
        (Some(id), _, _) => match Instance::parse_id(id) {
            Some(i) => (i.report, i.request.clone(), None, vec![i]),
            None => {
                return Ok(Err((
                    404,
                    format!("'{id}' is no analytics report instance id"),
                )));
            }
        },
        (None, Some(rid), Some(d)) => {
            let Some((report, request)) = Report::parse_id(rid) else {
                return Ok(Err((404, format!("'{rid}' is no analytics report id"))));
            };
            let Ok(d) = d.parse::<Date>() else {
                return Ok(Err((400, format!("date '{d}' is not YYYY-MM-DD"))));
            };
            (
                report,
                request.to_string(),
                Some(d),
                candidates(report, request, d),
            )
        }
        _ => {
            return Ok(Err((
                400,
                "give reportId and date (YYYY-MM-DD), or instanceId".into(),
            )));
        }
    };
    let Some(live) = lifecycle::load(store, &request, now_ms).await? else {
        return Ok(Err((404, format!("no analyticsReportRequests/{request}"))));
    };
    let mut instances = Vec::new();
    let mut summary = Vec::new();
    if let Some(d) = day
        && d < HISTORY_START
    {
        summary.push(format!(
            "{d} is before the reports' history start {HISTORY_START} (reports-formats.md §4.4)"
        ));
    }
    for i in &list {
        let s = instance_story(store, &live, i, day, now_ms).await?;
        summary.push(format!(
            "{} {}: {} — {}",
            i.granularity.name(),
            i.processing_date,
            s.status,
            s.text
        ));
        let mut v = json!({
            "id": i.id(),
            "granularity": i.granularity.name(),
            "processingDate": i.processing_date.to_string(),
            "status": s.status,
            "explanation": s.text,
        });
        if let Some(r) = s.rows {
            v["rows"] = r;
        }
        instances.push(v);
    }
    let faults: Vec<Value> = live
        .faults_of(report)
        .map(|f| serde_json::to_value(f).unwrap_or_default())
        .collect();
    let mut doc = json!({
        "reportId": report.id(&request),
        "report": report.name,
        "category": report.category,
        "app": live.app,
        "request": {
            "id": request,
            "accessType": if live.facts.snapshot { "ONE_TIME_SNAPSHOT" } else { "ONGOING" },
            "requestedOn": live.facts.day.to_string(),
            "firstProcessingDate": first_processing_date(&live).to_string(),
            "stoppedDueToInactivity": live.stop.is_some(),
            "stoppedOn": live.stop.as_ref().map(|s| s.day.to_string()),
            "lastDownload": live.state.last_download.map(|d| d.to_string()),
            "inactivityDays": live.settings.inactivity_days,
        },
        "today": pacific::day_of_ms(now_ms).to_string(),
        "instances": instances,
        "faults": faults,
        "explanation": summary.join("\n"),
    });
    if let Some(d) = day {
        doc["date"] = json!(d.to_string());
    }
    Ok(Ok(doc))
}

/// The `X-Crabapple-Reason` of an instance list: what the stop and injected faults hid, which
/// listed instances are empty, or why there is nothing at all (forum post 3's `"data": []`).
pub fn list_reason(
    live: &Live,
    report: &'static Report,
    shown: &[Instance],
    hidden: &[(Instance, Verdict<'_>)],
    now_ms: i64,
) -> Option<String> {
    let mut parts = Vec::new();
    let dates = |v: Vec<&Instance>| -> String {
        let mut d: Vec<String> = v.iter().map(|i| i.processing_date.to_string()).collect();
        d.sort();
        d.dedup();
        if d.len() > 6 {
            let n = d.len();
            d.truncate(6);
            d.push(format!("… {n} in all"));
        }
        d.join(", ")
    };
    if let Some(s) = &live.stop {
        let n = hidden
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Stopped(_)))
            .count();
        parts.push(format!("{}; {n} instances were not made", s.why));
    }
    for f in live.faults_of(report) {
        let removed: Vec<&Instance> = hidden
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Removed(x, _) if x.id == f.id))
            .map(|(i, _)| i)
            .collect();
        if !removed.is_empty() {
            parts.push(format!(
                "{} removed {} instances (processing dates {})",
                f.label(),
                removed.len(),
                dates(removed.clone())
            ));
        }
        let late: Vec<(&Instance, i64)> = hidden
            .iter()
            .filter_map(|(i, v)| match v {
                Verdict::Late(x, at) if x.id == f.id => Some((i, *at)),
                _ => None,
            })
            .collect();
        if let Some(next) = late.iter().map(|(_, at)| *at).min() {
            parts.push(format!(
                "{}: {} instances appear late, the next at {}",
                f.label(),
                late.len(),
                pacific_time(next)
            ));
        }
        let empty: Vec<&Instance> = shown.iter().filter(|i| f.empties(&live.app, i)).collect();
        if !empty.is_empty() {
            parts.push(format!(
                "{}: {} listed instances have no segments (processing dates {})",
                f.label(),
                empty.len(),
                dates(empty.clone())
            ));
        }
    }
    if shown.is_empty() && parts.is_empty() {
        let today = pacific::day_of_ms(now_ms);
        let first = first_processing_date(live);
        let probe = Instance {
            report,
            request: live.facts.id.clone(),
            granularity: Granularity::Daily,
            processing_date: first.min(today),
        };
        let why = if today < first {
            format!(
                "request {} was made on {}: its first instances appear on {first} at 00:00 Pacific (apple-semantics.md §2.3: \"Your first report request generates in 1–2 days\")",
                live.facts.id, live.facts.day
            )
        } else {
            not_scheduled(live, &probe, today).text
        };
        parts.push(format!("no instances of {}: {why}", report.name));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
