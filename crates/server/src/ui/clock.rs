//! The inspector's clock view: the virtual now every time-dependent rule reads, how far it is
//! ahead of the real clock, and forms that advance it or set it to a later time through the
//! admin API (`POST /crabapple/admin/clock/advance`; the clock only moves forward).

use super::{Base, esc, frame, html, time_el};
use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

pub async fn page(State(app): State<Arc<App>>, base: Base) -> Response {
    let store = app.store();
    let now = store.now_ms();
    let offset = store.clock.offset_ms();
    let pacific = crabapple_reports::pacific::day_of_ms(now);
    let main = format!(
        "<h1>Virtual clock</h1>\
         <dl id=\"clock\" data-now-ms=\"{now}\">\
         <dt>Now (virtual)</dt><dd id=\"clock-now\">{}</dd>\
         <dt>Pacific day (Apple's reporting day)</dt><dd>{}</dd>\
         <dt>Ahead of the real clock</dt><dd id=\"clock-offset\">{}</dd></dl>\
         <p>Advancing runs everything due on the way, in time order: renewals, grace and billing \
         retry periods, expirations, notification retries, planned changes of resources.</p>\
         <section aria-labelledby=\"advance-h\"><h2 id=\"advance-h\">Advance</h2>\
         <form id=\"advance\" data-admin=\"POST {advance}\">\
         <label for=\"by\">By (90s, 15m, 12h, 3d, 2w)</label> \
         <input id=\"by\" name=\"by\" required pattern=\"[0-9]+(ms|s|m|h|d|w)?\" value=\"1d\"> \
         <button type=\"submit\">Advance</button></form></section>\
         <section aria-labelledby=\"set-h\"><h2 id=\"set-h\">Set</h2>\
         <form id=\"set\" data-clock-set=\"{now}\">\
         <label for=\"to\">To (UTC, later than now)</label> \
         <input id=\"to\" name=\"to\" required placeholder=\"2027-01-01T00:00:00Z\"> \
         <button type=\"submit\">Set</button></form></section>\
         <p id=\"result\" role=\"status\" aria-live=\"polite\"></p>",
        time_el(now),
        esc(&pacific.to_string()),
        esc(&human(offset)),
        advance = base.admin("/clock/advance"),
    );
    html(StatusCode::OK, frame(&base, "Clock", Some("/clock"), &main))
}

/// `90061000` → `1d 1h 1m 1s`.
fn human(ms: i64) -> String {
    let (sign, mut s) = if ms < 0 {
        ("-", -ms / 1000)
    } else {
        ("", ms / 1000)
    };
    let mut parts = Vec::new();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= n {
            parts.push(format!("{}{unit}", s / n));
            s %= n;
        }
    }
    if parts.is_empty() {
        return "0s".into();
    }
    format!("{sign}{}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_read_as_days_hours_minutes_seconds() {
        assert_eq!(super::human(90_061_000), "1d 1h 1m 1s");
        assert_eq!(super::human(0), "0s");
        assert_eq!(super::human(3_600_000), "1h");
    }
}
