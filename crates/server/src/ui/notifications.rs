//! The inspector's notifications view: the App Store Server Notifications V2 outbox (newest
//! first) and one notification opened — its `signedPayload` JWS with the header and payload
//! decoded (the transaction and renewal info decoded too), each delivery attempt with Apple's
//! `sendAttemptResult`, and a resend button
//! (`POST /crabapple/admin/commerce/notifications/{uuid}/resend`).

use super::{Base, esc, frame, html, internal, json_block, table, time_el};
use crate::App;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use crabapple_storekit::ledger::LedgerStore;
use serde_json::Value;
use std::sync::Arc;

/// Rows listed on the page.
const LIMIT: i64 = 200;

/// The outbox entries ([`crabapple_storekit::commerce::outbox::entry`]), newest first.
pub(super) async fn entries(app: &App, limit: i64) -> anyhow::Result<Vec<Value>> {
    let c = &app.commerce;
    let rows = c.store.ledger_notifications(None, limit).await?;
    let mut out = Vec::with_capacity(rows.len());
    // The store lists the last `limit` oldest first.
    for n in rows.iter().rev() {
        out.push(crabapple_storekit::commerce::outbox::entry(c, n).await?);
    }
    Ok(out)
}

pub(super) fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn attempts(v: &Value) -> &[Value] {
    v.get("sendAttempts")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

pub async fn list(State(app): State<Arc<App>>, base: Base) -> Response {
    let list = match entries(&app, LIMIT).await {
        Ok(l) => l,
        Err(e) => return internal(&base, e),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            let uuid = text(n, "notificationUUID");
            let last = attempts(n)
                .last()
                .and_then(|a| a.get("sendAttemptResult"))
                .and_then(Value::as_str)
                .unwrap_or("—");
            vec![
                time_el(n.get("signedDate").and_then(Value::as_i64).unwrap_or(0)),
                format!(
                    "<a href=\"{}/{}\">{}</a>",
                    base.ui("/notifications"),
                    esc(uuid),
                    esc(text(n, "notificationType"))
                ),
                esc(text(n, "subtype")),
                esc(text(n, "bundleId")),
                esc(text(n, "environment")),
                esc(text(n, "state")),
                format!("{} ({})", attempts(n).len(), esc(last)),
                esc(text(n, "url")),
            ]
        })
        .collect();
    let main = format!(
        "<h1>Notifications</h1><p>App Store Server Notifications V2 in the outbox, newest first \
         (at most {LIMIT}). Open one to see its signed payload decoded and every delivery \
         attempt.</p>{}",
        table(
            "notifications",
            "Notifications, newest first",
            &[
                "Signed",
                "Type",
                "Subtype",
                "Bundle ID",
                "Environment",
                "State",
                "Attempts (last result)",
                "URL"
            ],
            &rows
        )
    );
    html(
        StatusCode::OK,
        frame(&base, "Notifications", Some("/notifications"), &main),
    )
}

/// The JOSE header of a compact JWS, or `null`.
fn jws_header(jws: &str) -> Value {
    jws.split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h.trim_end_matches('='))
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

pub async fn one(State(app): State<Arc<App>>, base: Base, Path(uuid): Path<String>) -> Response {
    let c = &app.commerce;
    let row = match c.store.ledger_notification(&uuid).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return super::refusal_page(
                &base,
                StatusCode::NOT_FOUND,
                &format!("no notification {uuid}"),
            );
        }
        Err(e) => return internal(&base, e),
    };
    let n = match crabapple_storekit::commerce::outbox::entry(c, &row).await {
        Ok(n) => n,
        Err(e) => return internal(&base, e),
    };
    let signed = text(&n, "signedPayload");
    let mut header = jws_header(signed);
    // The certificate chain is long base64; its length says enough on the page.
    if let Some(x5c) = header.get_mut("x5c").and_then(Value::as_array_mut) {
        for cert in x5c.iter_mut() {
            let len = cert.as_str().map_or(0, str::len);
            *cert = Value::String(format!("<certificate, {len} base64 characters>"));
        }
    }
    let attempt_rows: Vec<Vec<String>> = attempts(&n)
        .iter()
        .enumerate()
        .map(|(i, a)| {
            vec![
                (i + 1).to_string(),
                time_el(a.get("attemptDate").and_then(Value::as_i64).unwrap_or(0)),
                esc(a
                    .get("sendAttemptResult")
                    .and_then(Value::as_str)
                    .unwrap_or_default()),
            ]
        })
        .collect();
    let next = n
        .get("nextAttemptDate")
        .and_then(Value::as_i64)
        .map(|t| format!("<dt>Next attempt</dt><dd>{}</dd>", time_el(t)))
        .unwrap_or_default();
    let main = format!(
        "<h1>{kind} <small>{sub}</small></h1>\
         <dl id=\"notification\"><dt>notificationUUID</dt><dd><code>{uuid}</code></dd>\
         <dt>Bundle ID</dt><dd>{bundle}</dd><dt>Environment</dt><dd>{env}</dd>\
         <dt>State</dt><dd id=\"state\">{state}</dd><dt>URL</dt><dd>{url}</dd>{next}</dl>\
         <form id=\"resend\" data-admin=\"POST {notifications}/{uuid}/resend\">\
         <button type=\"submit\">Resend now</button></form>\
         <p id=\"result\" role=\"status\" aria-live=\"polite\"></p>\
         {attempts}\
         <h2>Signed payload</h2>{header}{payload}\
         <details><summary>signedPayload (JWS)</summary><pre id=\"jws\" tabindex=\"0\">{jws}</pre></details>",
        kind = esc(text(&n, "notificationType")),
        sub = esc(text(&n, "subtype")),
        uuid = esc(&uuid),
        bundle = esc(text(&n, "bundleId")),
        env = esc(text(&n, "environment")),
        state = esc(text(&n, "state")),
        url = esc(text(&n, "url")),
        attempts = table(
            "attempts",
            "Delivery attempts",
            &["#", "Attempt date", "sendAttemptResult"],
            &attempt_rows
        ),
        header = json_block("jws-header", "Header", &header),
        payload = json_block(
            "jws-payload",
            "Payload (signedTransactionInfo and signedRenewalInfo decoded beside them)",
            n.get("payload").unwrap_or(&Value::Null)
        ),
        jws = esc(signed),
        notifications = base.admin("/commerce/notifications"),
    );
    html(
        StatusCode::OK,
        frame(&base, "Notification", Some("/notifications"), &main),
    )
}
