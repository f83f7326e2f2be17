//! The inspector's report views: the Sales and Finance report files cache (what
//! `GET /v1/salesReports` and `/v1/financeReports` answered and keep answering) and, for an
//! analytics report of a report request, a calendar of its DAILY instances by processing day —
//! each day says whether the instance is there and, for a gap, why (the words of
//! [`crabapple_reports::analytics::explain`]: not made yet, stopped for inactivity, removed or
//! delayed by an injected fault, empty).

use super::{Base, esc, frame, html, internal, table, time_el};
use crate::App;
use crate::wire::parse_query;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use crabapple_reports::ReportsStore;
use crabapple_reports::analytics::schedule::{Granularity, Instance};
use crabapple_reports::analytics::{CATALOGUE, Report, explain};
use jiff::ToSpan;
use serde_json::Value;
use std::sync::Arc;

pub async fn files(State(app): State<Arc<App>>, base: Base) -> Response {
    let files = match app.store().report_files(500).await {
        Ok(f) => f,
        Err(e) => return internal(&base, e),
    };
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|(key, status, ct, len, reason, created)| {
            vec![
                format!("<code>{}</code>", esc(key)),
                status.to_string(),
                esc(ct.as_deref().unwrap_or_default()),
                len.to_string(),
                esc(reason),
                time_el(*created),
            ]
        })
        .collect();
    let main = format!(
        "<h1>Report files</h1><p>Sales and Finance report answers as cached (a file, or Apple's \
         404 when there were no sales, with why), newest first. A change to the ledger starts a \
         new generation: older files are never served again.</p>{}",
        table(
            "report-files",
            "Cached report files",
            &["Request", "Status", "Content type", "Bytes", "Why", "Made"],
            &rows
        )
    );
    html(
        StatusCode::OK,
        frame(&base, "Report files", Some("/reports"), &main),
    )
}

/// Days shown in the calendar.
const DAYS: i64 = 35;

pub async fn analytics(State(app): State<Arc<App>>, base: Base, uri: Uri) -> Response {
    let q = parse_query(uri.query());
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let requests = match super::world::all(&app, "analyticsReportRequests").await {
        Ok(items) => items,
        Err(e) => return internal(&base, e),
    };
    let request = get("request").or_else(|| requests.first().map(|r| r.id.clone()));
    let report = get("report")
        .and_then(|n| n.parse().ok())
        .and_then(Report::by_n)
        .unwrap_or(&CATALOGUE[0]);
    let options = |items: Vec<(String, String)>, selected: &str| -> String {
        items
            .into_iter()
            .map(|(v, label)| {
                let sel = if v == selected { " selected" } else { "" };
                format!(
                    "<option value=\"{}\"{sel}>{}</option>",
                    esc(&v),
                    esc(&label)
                )
            })
            .collect()
    };
    let request_options = options(
        requests
            .iter()
            .map(|r| {
                let access = r
                    .attributes
                    .get("accessType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (r.id.clone(), format!("{} ({access})", r.id))
            })
            .collect(),
        request.as_deref().unwrap_or_default(),
    );
    let report_options = options(
        CATALOGUE
            .iter()
            .map(|r| (r.n.to_string(), format!("{} — {}", r.name, r.category)))
            .collect(),
        &report.n.to_string(),
    );
    let calendar = match &request {
        Some(req) => match calendar(&app, report, req).await {
            Ok(c) => c,
            Err(e) => return internal(&base, e),
        },
        None => "<p>No analytics report requests yet: a client creates one with \
                 <code>POST /v1/analyticsReportRequests</code>.</p>"
            .into(),
    };
    let main = format!(
        "<h1>Analytics instances</h1>\
         <form method=\"get\" action=\"{action}\" class=\"filters\" aria-label=\"Choose a report\">\
         <p><label for=\"request\">Report request</label> <select id=\"request\" name=\"request\">{request_options}</select></p>\
         <p><label for=\"report\">Report</label> <select id=\"report\" name=\"report\">{report_options}</select></p>\
         <p><button type=\"submit\">Show</button></p></form>{calendar}",
        action = base.ui("/analytics"),
    );
    html(
        StatusCode::OK,
        frame(&base, "Analytics", Some("/analytics"), &main),
    )
}

/// The last [`DAYS`] processing days, Monday-first weeks, each day's DAILY instance explained.
async fn calendar(app: &App, report: &'static Report, request: &str) -> anyhow::Result<String> {
    let store = app.store();
    let now = store.now_ms();
    let today = crabapple_reports::pacific::day_of_ms(now);
    let first = today - (DAYS - 1).days();
    let first = first - i64::from(first.weekday().to_monday_zero_offset()).days();
    let mut cells = Vec::new();
    let mut day = first;
    let mut gaps = 0;
    while day <= today {
        let i = Instance {
            report,
            request: request.to_string(),
            granularity: Granularity::Daily,
            processing_date: day,
        };
        let doc = explain::explain(store, None, None, Some(&i.id()), now).await?;
        let (status, why) = match doc {
            Ok(d) => {
                let inst = d.pointer("/instances/0").cloned().unwrap_or(Value::Null);
                (
                    inst.get("status")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string(),
                    inst.get("explanation")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                )
            }
            Err((_, why)) => ("unknown".to_string(), why),
        };
        if status != "available" {
            gaps += 1;
        }
        cells.push(format!(
            "<td class=\"day {s}\"><time datetime=\"{day}\">{day}</time><br><strong>{s}</strong>\
             <br><small>{why}</small></td>",
            s = esc(&status),
            why = esc(&why),
        ));
        day += 1.day();
    }
    let rows: String = cells
        .chunks(7)
        .map(|w| format!("<tr>{}</tr>", w.concat()))
        .collect();
    let head: String = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    .iter()
    .map(|d| format!("<th scope=\"col\">{d}</th>"))
    .collect();
    Ok(format!(
        "<p id=\"calendar-summary\">{} of {} days have no available DAILY instance of \
         {} for request <code>{}</code> (Pacific processing days up to {today}).</p>\
         <table id=\"calendar\"><caption>DAILY instances by processing day</caption>\
         <thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>",
        gaps,
        cells.len(),
        esc(report.name),
        esc(request),
    ))
}
