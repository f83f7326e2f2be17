//! The commerce room: the ledger's rules (purchases, renewals, refunds, …), the clock-driven
//! scheduler and the notification deliverer.
//!
//! - [`engine`]: one event's SQL transaction and what every event uses (transactions, renewal
//!   state, outbox rows), and the scheduler's step.
//! - [`event`]: the events, one file each (`purchase`, `renew`, `refund`, …): parse, apply, notify.
//! - [`events`]: the admin API / CLI surface over them (arguments in, JSON result out).
//! - [`storefronts`]: the one storefront table (codes, currency, fixed USD rate, VAT) and Apple's
//!   equalization of a USD tier into a storefront's price, shared with the price points and reports.
//! - [`Commerce::run_due`]: runs everything due at or before a virtual time, in time order —
//!   renewals, billing retry and grace period ends, expirations, mass extensions and
//!   notification (re)deliveries. Advancing the clock calls it; so does the delivery loop
//!   ([`Commerce::spawn`]) as virtual time passes.
//! - delivery: POST `{"signedPayload": …}` with a timeout; 200–206 is success; production
//!   retries 1, 12, 24, 48 and 72 hours after the previous attempt, sandbox tries once
//!   (apple-semantics.md §7). Every attempt is recorded with Apple's `sendAttemptResult`.
//!   The outbox is durable and leased per attempt, so a restart (or kill -9) never loses a due
//!   notification; one interrupted mid-POST is sent again (at-least-once, like Apple).

pub mod batch;
pub mod catalog;
mod delivery;
pub mod egress;
pub mod engine;
pub mod event;
pub mod events;
pub mod outbox;
pub mod price_day;
pub mod state;
pub mod storefronts;

use crate::ledger::{LedgerStore, LedgerTx};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use crabapple_auth::{RateStatus, ServerApiRateLimiter, ServerEndpoint};
use crabapple_store::Store;
use serde::{Deserialize, Serialize};

use crate::models::Environment;
use crate::pki::Pki;
use engine::Ev;

/// An App Store environment crabapple emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Env {
    Sandbox,
    Production,
}

impl Env {
    /// `Sandbox` / `Production` (Apple's `environment` value and the ledger column).
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Sandbox => "Sandbox",
            Env::Production => "Production",
        }
    }

    pub fn wire(self) -> Environment {
        match self {
            Env::Sandbox => Environment::Sandbox,
            Env::Production => Environment::Production,
        }
    }

    pub fn is_sandbox(self) -> bool {
        self == Env::Sandbox
    }

    /// `sandbox` / `production`, any case.
    pub fn parse(s: &str) -> Option<Env> {
        match s.to_ascii_lowercase().as_str() {
            "sandbox" => Some(Env::Sandbox),
            "production" | "prod" => Some(Env::Production),
            _ => None,
        }
    }

    pub fn from_db(s: &str) -> Env {
        if s == "Production" {
            Env::Production
        } else {
            Env::Sandbox
        }
    }
}

/// Tunables (admin API `GET|PUT /crabapple/admin/commerce/settings`), kept in the store: every
/// replica of a shared store uses the same (issue 12), and a restart keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// How long a notification POST may take before it counts as `TIMED_OUT`.
    pub delivery_timeout_ms: u64,
    /// Parallel notification POSTs.
    pub delivery_concurrency: usize,
    /// Multiplies Apple's App Store Server API rate limits (1.0 = Apple's numbers).
    pub rate_limit_scale: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delivery_timeout_ms: std::env::var("CRABAPPLE_NOTIFICATION_TIMEOUT_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5_000),
            delivery_concurrency: 16,
            rate_limit_scale: 1.0,
        }
    }
}

/// What one [`Commerce::run_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Renewals, billing failures, grace and retry ends, expirations.
    pub subscription_events: u64,
    pub mass_extensions: u64,
    pub delivery_attempts: u64,
    pub delivered: u64,
    pub failed_attempts: u64,
}

/// How long a pass waits for notifications another replica is posting ([`Commerce::others_post`]).
const OTHERS_WAIT: Duration = Duration::from_secs(15);

/// The longest the delivery loop sleeps without looking at the ledger ([`Commerce::spawn`]): a
/// safety net for a commit it could not hear of (a PostgreSQL session lost and found again
/// counts as one; this bounds what else could be missed). Idle, a world makes one look per
/// 30 s.
const IDLE_LOOK: Duration = Duration::from_secs(30);

/// The delivery loop's next look after a failed pass (a storage fault, a lost connection).
const RETRY_LOOK: Duration = Duration::from_millis(250);

/// The delivery loop's shortest sleep between passes.
const MIN_LOOK: Duration = Duration::from_millis(5);

/// The App Store Server API's rate counters in the database ([`Commerce::rate_hit`]).
const RATE_KEY_PREFIX: &str = "storekit|";

/// The meta key of the admin API's commerce settings ([`Commerce::save_settings`]).
const SETTINGS_META: &str = "storekit.settings";

/// The meta key naming an external signing PKI (`crabapple serve --apple-test-pki …`).
const EXTERNAL_PKI_META: &str = "storekit.externalPki";

/// Shared commerce state of a process (one per data directory).
pub struct Commerce {
    pub store: Store,
    pki: Arc<Pki>,
    http: reqwest::Client,
    /// Where `http` may send requests (issue 8: no link-local or metadata addresses).
    pub egress: egress::Egress,
    /// The client of real-time retention message requests (same rules).
    pub(crate) realtime_http: reqwest::Client,
    settings: RwLock<Settings>,
    limiter: RwLock<Arc<ServerApiRateLimiter>>,
    sched: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Commerce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commerce").finish_non_exhaustive()
    }
}

impl Commerce {
    /// Commerce over `store`, signing with the data directory's PKI (minted on first use) or
    /// the external PKI recorded by [`Commerce::use_external_pki`].
    pub async fn open(store: Store, data_dir: &Path) -> Result<Arc<Commerce>> {
        let pki = match store.meta_get(EXTERNAL_PKI_META).await? {
            Some(v) if !v.is_empty() => {
                let p: Vec<PathBuf> = serde_json::from_str(&v).context("external PKI paths")?;
                anyhow::ensure!(p.len() == 4, "external PKI needs 4 paths");
                Pki::from_files(&p[0], &p[1], &p[2], &p[3]).context(
                    "loading the external signing PKI (crabapple serve --apple-test-pki)",
                )?
            }
            _ => Pki::load_or_create(data_dir)?,
        };
        let c = Commerce::new(store, Arc::new(pki));
        c.reload_settings().await?;
        Ok(c)
    }

    /// Adopts the settings the store keeps ([`Commerce::save_settings`]): at start, and when
    /// another process (a replica, issue 12) may have changed them.
    pub async fn reload_settings(&self) -> Result<()> {
        if let Some(v) = self.store.meta_get(SETTINGS_META).await? {
            let s: Settings = serde_json::from_str(&v).context("commerce settings")?;
            if s != self.settings() {
                self.set_settings(s);
            }
        }
        Ok(())
    }

    /// Keeps `s` in the store, so every process of the data directory (each replica) uses them,
    /// and uses them here.
    pub async fn save_settings(&self, s: Settings) -> Result<()> {
        let rescaled = (s.rate_limit_scale - self.settings().rate_limit_scale).abs() > f64::EPSILON;
        if rescaled && self.store.dialect() == crabapple_store::Dialect::Postgres {
            // New budgets count from zero, as a new in-process limiter does.
            self.store.quota_reset(RATE_KEY_PREFIX).await?;
        }
        self.store
            .meta_set(SETTINGS_META, &serde_json::to_string(&s)?)
            .await?;
        self.set_settings(s);
        Ok(())
    }

    /// Commerce over `store` signing with `pki`.
    pub fn new(store: Store, pki: Arc<Pki>) -> Arc<Commerce> {
        let egress = egress::Egress::default();
        let http = egress.client("App Store Server Notifications (crabapple)");
        let realtime_http = egress.client("App Store Retention Messaging (crabapple)");
        Arc::new(Commerce {
            store,
            pki,
            http,
            egress,
            realtime_http,
            settings: RwLock::new(Settings::default()),
            limiter: RwLock::new(Arc::new(ServerApiRateLimiter::new(1.0))),
            sched: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Signs with an external PKI from now on (e.g. Apple's published test PKI: leaf key, leaf,
    /// intermediate, root), recorded in the store so every crabapple process of this data
    /// directory (server and CLI) signs alike. `None` returns to the data directory's PKI.
    pub async fn use_external_pki(store: &Store, paths: Option<[PathBuf; 4]>) -> Result<()> {
        match paths {
            Some(p) => {
                let abs: Vec<PathBuf> = p
                    .iter()
                    .map(|x| std::path::absolute(x).unwrap_or_else(|_| x.clone()))
                    .collect();
                Pki::from_files(&abs[0], &abs[1], &abs[2], &abs[3])?;
                store
                    .meta_set(EXTERNAL_PKI_META, &serde_json::to_string(&abs)?)
                    .await
            }
            None => {
                let mut tx = store.begin().await?;
                tx.meta_set(EXTERNAL_PKI_META, "").await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// The JWS of an outbox row: as stored, or for a row a batch wrote unsigned
    /// ([`engine::Ev::lazy_signing`]) signed now from its decoded content and stored, so every
    /// later read and retry carries the same bytes. A store that refuses the write (read-only
    /// data directory, full disk) still gets the signed payload, unstored.
    pub async fn signed_payload(
        &self,
        n: &crate::ledger::NotificationRow,
    ) -> anyhow::Result<String> {
        if !n.signed_payload.is_empty() {
            return Ok(n.signed_payload.clone());
        }
        let decoded = n
            .decoded
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("notification {} has no content", n.seq))?;
        let jws = engine::sign_decoded(self.pki(), decoded)?;
        match self.store.ledger_set_signed_payload(n.seq, &jws).await {
            Ok(stored) => Ok(stored),
            Err(e) => {
                tracing::warn!(seq = n.seq, "storing a notification's signature: {e:#}");
                Ok(jws)
            }
        }
    }

    pub fn pki(&self) -> &Arc<Pki> {
        &self.pki
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings lock").clone()
    }

    pub fn set_settings(&self, s: Settings) {
        if (s.rate_limit_scale - self.settings().rate_limit_scale).abs() > f64::EPSILON {
            // New budgets count from zero: hits held in memory under the old ones are dropped
            // (on PostgreSQL the replica that rescaled also reset the shared counts,
            // [`Commerce::save_settings`]; another replica adopting them forgets its own).
            self.store.quota_forget(RATE_KEY_PREFIX);
            *self.limiter.write().expect("limiter lock") =
                Arc::new(ServerApiRateLimiter::new(s.rate_limit_scale));
        }
        *self.settings.write().expect("settings lock") = s;
    }

    pub fn limiter(&self) -> Arc<ServerApiRateLimiter> {
        self.limiter.read().expect("limiter lock").clone()
    }

    /// Counts one App Store Server API request of `bundle_id` to `endpoint` (§1.9): in this
    /// process on SQLite (one server), in the database on PostgreSQL so that every replica
    /// counts against one budget (issue 12, like the App Store Connect API's hourly quota).
    pub async fn rate_hit(
        &self,
        bundle_id: &str,
        endpoint: ServerEndpoint,
        sandbox: bool,
        wall_ms: i64,
    ) -> Result<RateStatus> {
        let limiter = self.limiter();
        if self.store.dialect() != crabapple_store::Dialect::Postgres {
            return Ok(limiter.hit(bundle_id, endpoint, sandbox, wall_ms));
        }
        let limit = limiter.budget(endpoint, sandbox);
        let key = format!("{RATE_KEY_PREFIX}{bundle_id}|{endpoint:?}|{sandbox}");
        let q = self
            .store
            .quota_hit(&key, limit as i64, crabapple_auth::HOUR_MS, wall_ms)
            .await?;
        Ok(RateStatus {
            limit,
            remaining: q.remaining.max(0) as u64,
            allowed: q.allowed,
            retry_after_ms: q.retry_at_ms,
        })
    }

    /// Tells the delivery loop that something may be due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs everything due at or before `now` (virtual ms), earliest first: subscription
    /// steps, mass extensions and notification attempts, each at its own due time (so a clock
    /// advance of 3 days replays 3 days of renewals and retries in order, deterministically).
    pub async fn run_due(&self, now: i64) -> Result<RunSummary> {
        let _guard = self.sched.lock().await;
        let mut sum = RunSummary::default();
        // Claims that found nothing in a row (see below).
        let mut contended = 0;
        // A generous bound: production renewals are at least a week apart, sandbox ones stop
        // after 12 renewals; every step moves its subscription's due time forward.
        for _ in 0..1_000_000 {
            let wall = self.store.clock.wall_ms();
            let due = self.store.ledger_next_due(now, wall).await?;
            let ts = due.subscription.as_ref().map(|s| s.1);
            let tm = due.mass_extension.as_ref().map(|m| m.1);
            let tn = due.notification_ms;
            let Some(first) = [ts, tm, tn].into_iter().flatten().min() else {
                // What another replica records may make more work due: look again after it.
                let held = due.held_until.is_some_and(|l| l >= self.live_claims_from());
                if held && self.others_post(now).await? {
                    continue;
                }
                break;
            };
            if ts == Some(first) {
                let (orig, at) = due.subscription.expect("due subscription");
                let mut ev = Ev::begin(self).await?;
                match ev.step(&orig, at).await {
                    // The step's notification is written at COMMIT: a full disk shows there.
                    Ok(_) => {
                        ev.commit().await.map_err(|e| {
                            anyhow::anyhow!(
                                "subscription {orig}: {}",
                                crabapple_store::error_reason(&e)
                            )
                        })?;
                        sum.subscription_events += 1;
                    }
                    // A full disk is no reason to stop renewing: the step runs again once the
                    // store takes writes (issue 8).
                    Err(e) if e.storage_fault => {
                        anyhow::bail!("subscription {orig}: {}", e.message)
                    }
                    Err(e) => {
                        drop(ev);
                        tracing::warn!(original_transaction_id = %orig, "subscription step failed: {e}");
                        self.park_subscription(&orig).await?;
                    }
                }
            } else if tm == Some(first) {
                let ((app, env, product, rid), at) = due.mass_extension.expect("due mass");
                let subs = self
                    .store
                    .ledger_subscriptions_of_product(&app, &env, &product)
                    .await?;
                let mut ev = Ev::begin(self).await?;
                let Some(mut m) = ev
                    .tx
                    .ledger_mass_extension(&app, &env, &product, &rid)
                    .await?
                else {
                    continue;
                };
                if m.due_ms != Some(at) {
                    continue;
                }
                match ev.run_mass_extension(&mut m, &subs, at).await {
                    Ok(()) => {
                        ev.commit().await.map_err(|e| {
                            anyhow::anyhow!(
                                "mass extension {rid}: {}",
                                crabapple_store::error_reason(&e)
                            )
                        })?;
                        sum.mass_extensions += 1;
                    }
                    Err(e) if e.storage_fault => {
                        anyhow::bail!("mass extension {rid}: {}", e.message)
                    }
                    Err(e) => {
                        drop(ev);
                        tracing::warn!(request_identifier = %rid, "mass extension failed: {e}");
                        let mut tx = self.store.begin().await?;
                        m.due_ms = None;
                        m.complete_ms = Some(at);
                        tx.ledger_put_mass_extension(&m).await?;
                        tx.commit().await?;
                    }
                }
            } else {
                let until = [ts, tm].into_iter().flatten().min().unwrap_or(now).min(now);
                // Nothing unclaimed: another worker claimed what was due between the look and
                // the claim (or is claiming it: SKIP LOCKED passed its locked row). It may have
                // posted it already; either way more may be due after it (the next renewal, a
                // retry): wait for what it still posts, then look again.
                let Some(d) = delivery::claim_and_deliver(self, until).await? else {
                    if !self.others_post(now).await? {
                        contended += 1;
                        if contended > Self::MAX_CONTENDED_LOOKS {
                            tracing::warn!("notifications due but never claimable; pass ends");
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    continue;
                };
                contended = 0;
                sum.delivery_attempts += d.0;
                sum.delivered += d.1;
                sum.failed_attempts += d.2;
            }
        }
        Ok(sum)
    }

    /// How many looks in a row a pass makes when a notification is due but its claim finds
    /// nothing (each 1 ms apart): another worker's claim in flight is committed long before.
    const MAX_CONTENDED_LOOKS: u32 = 2_000;

    /// The lease end from which a claim is a live worker's: claims whose pass should be over
    /// (less than the slack left) are a killed replica's, not waited for.
    fn live_claims_from(&self) -> i64 {
        self.store.clock.wall_ms() + delivery::LEASE_SLACK_MS - 2_000
    }

    /// Whether another replica was posting notifications due at or before `now` (issue 12: its
    /// claim is leased): then this waits until it recorded them — its pass ends within its
    /// timeouts — or at most [`OTHERS_WAIT`], so that a pass (a clock advance) returns only once
    /// everything due was attempted, whichever replica made the attempt, as on one server. A
    /// claim older than its pass's timeouts (a killed replica's) is not waited for; it is
    /// claimed again once its lease ran out.
    async fn others_post(&self, now: i64) -> Result<bool> {
        let started = std::time::Instant::now();
        let mut waited = false;
        while started.elapsed() < OTHERS_WAIT {
            if self
                .store
                .ledger_leased_due(now, self.live_claims_from())
                .await?
                .is_none()
            {
                return Ok(waited);
            }
            waited = true;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!("notifications another replica claimed are still not attempted");
        Ok(false)
    }

    /// Empties the commerce ledger (customers, transactions, renewal state, the notification
    /// outbox and history, renewal-date extensions, records, id counters): a clean slate, as
    /// `POST /crabapple/admin/reset` gives the App Store Connect side. Waits for a running
    /// scheduler pass (renewals, deliveries in flight) to finish first, so no attempt is
    /// recorded against a cleared outbox. Settings and the signing PKI stay.
    pub async fn reset(&self) -> Result<()> {
        let _guard = self.sched.lock().await;
        let mut tx = self.store.begin().await?;
        tx.ledger_clear().await?;
        tx.commit().await
    }

    /// Stops scheduling a subscription whose step keeps failing (so the scheduler can't spin).
    async fn park_subscription(&self, orig: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if let Some(mut s) = tx.ledger_subscription(orig).await? {
            s.next_event_ms = None;
            tx.ledger_put_subscription(&s).await?;
        }
        tx.commit().await
    }

    /// Starts the delivery loop: drops stale leases (a previous process may have been killed
    /// mid-POST), then runs [`Commerce::run_due`] and sleeps until the earliest scheduled work
    /// ([`Commerce::next_wait`]) or until woken: by this process ([`Commerce::wake`], or any
    /// commit to the store) or by another process's commit (a replica's event, a CLI clock
    /// advance; [`crabapple_store::CommitWaiter`], which issues no statement). An idle world
    /// sends its database nothing between looks [`IDLE_LOOK`] apart (issue 12: it used to look
    /// every 250 ms).
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let c = self.clone();
        tokio::spawn(async move {
            if let Err(e) = c.store.ledger_clear_leases().await {
                tracing::warn!("clearing notification leases: {e:#}");
            }
            let mut commits = c.store.commit_waiter();
            loop {
                let wait = match c.run_due(c.store.now_ms()).await {
                    Ok(_) => c.next_wait().await,
                    Err(e) => Err(e),
                };
                let wait = wait.unwrap_or_else(|e| {
                    tracing::warn!("commerce scheduler: {e:#}");
                    RETRY_LOOK
                });
                tokio::select! {
                    committed = commits.wait(&c.store, wait) => {
                        // Another process may have moved the clock.
                        if committed && let Err(e) = c.store.reload_clock().await {
                            tracing::warn!("commerce scheduler: reloading the clock: {e:#}");
                        }
                    }
                    _ = c.wake.notified() => {}
                }
            }
        })
    }

    /// How long the delivery loop may sleep: until the earliest scheduled work comes due on
    /// the virtual clock (which runs with the wall clock between advances: a virtual delay is a
    /// wall delay; an advance wakes the loop), or another worker's lease on due notifications
    /// lapses (a killed replica's), at most [`IDLE_LOOK`].
    async fn next_wait(&self) -> Result<Duration> {
        let (now, wall) = (self.store.now_ms(), self.store.clock.wall_ms());
        let (due, lease_ends) = self.store.ledger_next_wake(now, wall).await?;
        let ms = [due.map(|t| t - now), lease_ends.map(|t| t + 1 - wall)]
            .into_iter()
            .flatten()
            .min()
            .map_or(IDLE_LOOK, |ms| Duration::from_millis(ms.max(0) as u64));
        // Work still due right after a pass (a step that keeps failing is parked; this is a
        // pass cut short): look again soon, not at once.
        Ok(ms.clamp(MIN_LOOK, IDLE_LOOK))
    }
}

/// The hook a clock advance calls: runs everything due at `now` (see [`Commerce::run_due`]).
pub async fn run_due(commerce: &Commerce, now: i64) -> Result<RunSummary> {
    commerce.run_due(now).await
}

/// The hook a world reset calls: empties the commerce ledger (see [`Commerce::reset`]).
pub async fn reset(commerce: &Commerce) -> Result<()> {
    commerce.reset().await
}
