//! Notification delivery: one POST per attempt, Apple's retry schedule, recorded results.

use crate::ledger::LedgerStore;
use std::error::Error as _;
use std::time::Duration;

use crate::ledger::{AttemptRecord, NotificationRow};
use anyhow::Result;
use crabapple_store::Store;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::{Commerce, Env};
use crate::models::SendAttemptResult;

const HOUR_MS: i64 = 3_600_000;

/// V2 retries (responding-to-app-store-server-notifications): "five times, at 1, 12, 24, 48,
/// and 72 hours after the previous attempt", production only; the sandbox tries once.
pub const RETRY_DELAYS_MS: [i64; 5] = [
    HOUR_MS,
    12 * HOUR_MS,
    24 * HOUR_MS,
    48 * HOUR_MS,
    72 * HOUR_MS,
];

/// When to try again after `attempts` failed attempts, if at all.
pub fn next_attempt(env: Env, attempts: usize, last_attempt_ms: i64) -> Option<i64> {
    if env.is_sandbox() {
        return None;
    }
    RETRY_DELAYS_MS
        .get(attempts.checked_sub(1)?)
        .map(|d| last_attempt_ms + d)
}

/// What a claim's lease lasts beyond its pass's timeouts: while more than this is left, the
/// claimant may still be posting; with less, it is late (killed, most likely) and nobody waits
/// for it ([`super::Commerce::run_due`]); once the lease ran out the rows are claimed again.
pub(super) const LEASE_SLACK_MS: i64 = 60_000;

/// How many notifications one pass claims: four rounds of `concurrency` attempts.
const ROUNDS_PER_CLAIM: usize = 4;

/// Claims the notifications due at or before `until` (at most a pass's worth: [`ROUNDS_PER_CLAIM`]
/// rounds of the settings' concurrency) in one statement, `FOR UPDATE SKIP LOCKED` on PostgreSQL
/// (issue 12: each attempt is made by one replica), and posts them. Each is leased for the whole
/// pass — every round's timeout and a minute — so no other worker takes it while this one may
/// still post it, and a killed worker's claims are free again once that lease ran out.
/// Returns (attempts, delivered, failed); `None` when nothing unclaimed was due.
pub async fn claim_and_deliver(c: &Commerce, until: i64) -> Result<Option<(u64, u64, u64)>> {
    let settings = c.settings();
    let concurrency = settings.delivery_concurrency.max(1);
    let timeout_ms = settings.delivery_timeout_ms.max(1) as i64;
    let wall = c.store.clock.wall_ms();
    let lease_until = wall + ROUNDS_PER_CLAIM as i64 * timeout_ms + LEASE_SLACK_MS;
    let limit = (concurrency * ROUNDS_PER_CLAIM) as i64;
    let rows = c
        .store
        .ledger_claim_notifications(until, wall, lease_until, limit)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    deliver(c, rows, until).await.map(Some)
}

/// Posts a batch of claimed notifications concurrently; a notification to a name that never
/// resolves is not posted (see [`unreachable`]). Returns (attempts, delivered, failed).
async fn deliver(c: &Commerce, rows: Vec<NotificationRow>, until: i64) -> Result<(u64, u64, u64)> {
    let settings = c.settings();
    let timeout = Duration::from_millis(settings.delivery_timeout_ms.max(1));
    let concurrency = settings.delivery_concurrency.max(1);
    let mut set = JoinSet::new();
    let (mut attempts, mut delivered, mut failed) = (0, 0, 0);
    let mut collect = |ok: bool| {
        attempts += 1;
        if ok {
            delivered += 1;
        } else {
            failed += 1;
        }
    };
    let faults = armed_faults(&c.store).await?;
    let (mut unposted, mut made) = (Vec::new(), 0);
    for mut row in rows {
        if let Some((record, n)) = unreachable(&c.egress, &faults, &row, until) {
            made += n;
            unposted.push(record);
            continue;
        }
        row.signed_payload = c.signed_payload(&row).await?;
        while set.len() >= concurrency {
            if let Some(r) = set.join_next().await {
                collect(r??);
            }
        }
        let store = c.store.clone();
        let http = c.http.clone();
        let egress = c.egress.clone();
        set.spawn(async move { attempt(store, http, egress, row, timeout).await });
    }
    while let Some(r) = set.join_next().await {
        collect(r??);
    }
    c.store.ledger_record_attempts(&unposted).await?;
    Ok((attempts + made, delivered, failed + made))
}

/// A claimed notification whose URL's host never resolves (`.example`, `.invalid`:
/// [`super::egress::never_resolves`], as the demo world's URLs), when no fault names the URL and
/// no egress rule refuses it: each attempt would fail before any byte is sent, as `NO_RESPONSE`
/// (what the resolver's error gives, [`classify`]), so the attempt due and every retry of
/// Apple's schedule due by `until` are recorded at once, at their own times, without signing
/// the payload (it is signed when first read) — the same record the delivery loop would leave
/// attempt by attempt. After a simulated year of the demo world at 10,000 downloads a day, the
/// loop made each of 390,000 notifications' six attempts one at a time and signed and stored
/// every payload (15 KB each): 220 notifications a second on a busy core, about half an hour;
/// now about 40 s. The record to store and the attempts made; `None` for any other notification.
fn unreachable(
    egress: &super::egress::Egress,
    faults: &[crabapple_http::faults::Fault],
    row: &NotificationRow,
    until: i64,
) -> Option<(AttemptRecord, u64)> {
    let url = row.url.as_deref()?;
    let never = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(super::egress::never_resolves))
        .unwrap_or(false);
    if !never || egress.refused(url).is_some() || faults.iter().any(|f| times_out(f, url)) {
        return None;
    }
    let mut attempts = match &row.attempts {
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    };
    let env = Env::from_db(&row.environment);
    let mut at = row.next_attempt_ms.unwrap_or(row.signed_date_ms);
    let mut made = 0;
    let next = loop {
        attempts
            .push(json!({ "attemptDate": at, "sendAttemptResult": SendAttemptResult::NoResponse }));
        made += 1;
        match next_attempt(env, attempts.len(), at) {
            Some(n) if n <= until => at = n,
            other => break other,
        }
    };
    let state = if next.is_some() { "pending" } else { "failed" };
    Some(((row.seq, Value::Array(attempts), state, next), made))
}

/// The faults armed on demand (issue 13, crabapple_http::faults).
async fn armed_faults(store: &Store) -> Result<Vec<crabapple_http::faults::Fault>> {
    use crabapple_http::faults;
    let Some(stored) = store.meta_get(faults::META_KEY).await? else {
        return Ok(Vec::new());
    };
    faults::parse_list(&serde_json::from_str(&stored)?).map_err(|e| anyhow::anyhow!(e))
}

/// Whether `f` is a `notificationTimeout` fault whose route matches a POST to `url`.
fn times_out(f: &crabapple_http::faults::Fault, url: &str) -> bool {
    let target = crabapple_http::faults::Target {
        method: "POST",
        path: url,
        key_id: None,
    };
    f.kind == crabapple_http::faults::Kind::NotificationTimeout && f.names(&target)
}

/// One attempt of a claimed notification: POST, record (which releases the lease).
async fn attempt(
    store: Store,
    http: reqwest::Client,
    egress: super::egress::Egress,
    row: NotificationRow,
    timeout: Duration,
) -> Result<bool> {
    let at = row.next_attempt_ms.unwrap_or(row.signed_date_ms);
    let result = match &row.url {
        Some(url) => match egress.refused(url) {
            Some(why) => {
                tracing::warn!(uuid = %row.notification_uuid, "notification not sent: {why}");
                SendAttemptResult::Other
            }
            None => match timed_out_by_fault(&store, url).await? {
                Some(why) => {
                    tracing::info!(uuid = %row.notification_uuid, "notification not sent: {why}");
                    SendAttemptResult::TimedOut
                }
                None => post(&http, url, &row.signed_payload, timeout).await,
            },
        },
        None => SendAttemptResult::Other,
    };
    let ok = result == SendAttemptResult::Success;
    let mut attempts = match row.attempts {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    attempts.push(json!({ "attemptDate": at, "sendAttemptResult": result }));
    let env = Env::from_db(&row.environment);
    let (state, next) = if ok {
        ("delivered", None)
    } else {
        match next_attempt(env, attempts.len(), at) {
            Some(n) => ("pending", Some(n)),
            None => ("failed", None),
        }
    };
    tracing::debug!(uuid = %row.notification_uuid, result = %result, state, "notification attempt");
    store
        .ledger_record_attempt(row.seq, &Value::Array(attempts), state, next)
        .await?;
    Ok(ok)
}

/// Faults on demand (issue 13, crabapple_http::faults): an armed `notificationTimeout` fault whose
/// route matches the receiver's URL takes this attempt — recorded as `TIMED_OUT`, nothing sent.
/// Its description, when one did.
async fn timed_out_by_fault(store: &Store, url: &str) -> Result<Option<String>> {
    use crabapple_http::faults;
    // Attempts run concurrently: one at a time here, so the counters add up.
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE.lock().await;
    let mut list = armed_faults(store).await?;
    if !list.iter().any(|f| times_out(f, url)) {
        return Ok(None);
    }
    let hit = list
        .iter_mut()
        .filter(|f| times_out(f, url))
        .find_map(|f| f.draw().then(|| f.describe()));
    store
        .meta_set(faults::META_KEY, &serde_json::to_string(&list)?)
        .await?;
    Ok(hit)
}

/// POSTs `{"signedPayload": …}`; 200–206 is success.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    signed_payload: &str,
    timeout: Duration,
) -> SendAttemptResult {
    let body = json!({ "signedPayload": signed_payload }).to_string();
    let sent = http
        .post(url)
        .timeout(timeout)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            // Read (and bound) the body so a receiver that stalls mid-body counts as a timeout.
            let body = tokio::time::timeout(timeout, resp.bytes()).await;
            match body {
                Err(_) => SendAttemptResult::TimedOut,
                Ok(Err(e)) if (200..=206).contains(&status) => classify(&e),
                _ if (200..=206).contains(&status) => SendAttemptResult::Success,
                _ => SendAttemptResult::UnsuccessfulHttpResponseCode,
            }
        }
        Err(e) => classify(&e),
    }
}

/// Maps a transport failure to Apple's `sendAttemptResult`.
fn classify(e: &reqwest::Error) -> SendAttemptResult {
    if e.is_timeout() {
        return SendAttemptResult::TimedOut;
    }
    if e.is_redirect() {
        return SendAttemptResult::CircularRedirect;
    }
    let chain = {
        let mut s = e.to_string();
        let mut src = e.source();
        while let Some(x) = src {
            s.push_str(" | ");
            s.push_str(&x.to_string());
            src = x.source();
        }
        s.to_ascii_lowercase()
    };
    if chain.contains("tls") || chain.contains("certificate") || chain.contains("handshake") {
        return SendAttemptResult::TlsIssue;
    }
    if e.is_connect() {
        return SendAttemptResult::NoResponse;
    }
    if chain.contains("incomplete") || chain.contains("closed") || chain.contains("reset") {
        return SendAttemptResult::PrematureClose;
    }
    if e.is_body() || e.is_decode() {
        return SendAttemptResult::InvalidResponse;
    }
    if e.is_request() {
        return SendAttemptResult::SocketIssue;
    }
    SendAttemptResult::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_is_apples() {
        let t = 1_000;
        assert_eq!(next_attempt(Env::Sandbox, 1, t), None);
        assert_eq!(next_attempt(Env::Production, 1, t), Some(t + HOUR_MS));
        assert_eq!(next_attempt(Env::Production, 2, t), Some(t + 12 * HOUR_MS));
        assert_eq!(next_attempt(Env::Production, 3, t), Some(t + 24 * HOUR_MS));
        assert_eq!(next_attempt(Env::Production, 4, t), Some(t + 48 * HOUR_MS));
        assert_eq!(next_attempt(Env::Production, 5, t), Some(t + 72 * HOUR_MS));
        assert_eq!(next_attempt(Env::Production, 6, t), None);
    }
}
