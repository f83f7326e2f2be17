//! `crabapple simulate`: a deterministic simulator of what real apps produce, day by day on the
//! virtual clock. For each simulated app it writes the day's app units (`report_app_units`,
//! [`units`]) and drives its paying customers through the commerce events `crabapple purchase
//! …` runs ([`customers`]), with the renewals, billing retries and expirations the clock makes
//! due in between, so the ledger, the App Store Server API, the notification outbox and the
//! reports see simulated customers exactly like manual ones. One SQL transaction per day.
//!
//! Determinism: the same `--seed` and the same starting world give the same ledger rows. Every
//! draw comes from [`rng`] streams named by seed, app and day; days are Pacific calendar days
//! ([`clock`]) and events happen at times derived from the day, never from the wall clock.

pub mod clock;
pub mod customers;
pub mod rng;
pub mod traffic;
pub mod units;

use crabapple_reports::ReportsTx;
use crabapple_storekit::ledger::{LedgerStore, LedgerTx};
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use crabapple_storekit::Commerce;
use crabapple_storekit::commerce::Env;
use crabapple_storekit::commerce::catalog::{self, Product};
use crabapple_storekit::commerce::engine::Ev;
use jiff::civil::Date;
use serde_json::Value;

use customers::{AppCustomers, OfferCode};
use rng::Rng;
use traffic::{Profile, Traffic, TrafficSpec};

/// The meta key holding the next day to simulate (a second run continues there).
pub const NEXT_DAY_META: &str = "simulator.nextDay";

/// What to simulate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub days: u32,
    pub seed: u64,
    /// Bundle ids (default: the apps of the world's `traffic:` section, else every app).
    pub apps: Vec<String>,
    /// Overrides the volume of every simulated app.
    pub profile: Option<Profile>,
    /// The world / seed file's `traffic:` section.
    pub traffic: BTreeMap<String, TrafficSpec>,
    /// The first day (default: where the last run stopped, else the first day starting at or
    /// after the virtual now); never before either.
    pub start: Option<Date>,
    /// Reads and writes the ledger statement by statement as single events do, instead of
    /// keeping each day in memory (crates/store `Tx::ledger_batch`): the same rows, slower; for
    /// the test that proves they are the same.
    pub statement_by_statement: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub days: u32,
    pub first_day: Option<Date>,
    pub last_day: Option<Date>,
    /// First-time downloads.
    pub downloads: u64,
    pub redownloads: u64,
    pub updates: u64,
    /// New purchases (ONE_TIME_CHARGE and SUBSCRIBED notifications).
    pub purchases: u64,
    /// DID_RENEW notifications.
    pub renewals: u64,
    /// REFUND notifications.
    pub refunds: u64,
    /// Every notification appended to the outbox.
    pub notifications: u64,
    /// Events the commerce rules refused (e.g. a recovery for a subscription that already
    /// expired); nothing of them was written.
    pub refused: u64,
}

/// Progress after each day.
#[derive(Debug, Clone, Copy)]
pub struct DayDone {
    pub done: u32,
    pub total: u32,
    /// Notifications so far (one per commerce event).
    pub events: u64,
}

/// Runs the simulation on `c`'s store; `progress` is called after each committed day.
pub async fn simulate(
    c: &Commerce,
    opts: &Options,
    mut progress: impl FnMut(DayDone),
) -> Result<Summary> {
    let store = &c.store;
    let now = store.now_ms();
    // A fresh run starts on the first day that starts after the virtual now; a later run
    // continues on the day after the last one simulated, or on the day under way if the clock
    // was moved past it (the clock stands a little past the last day's end: real time runs on).
    let first = match store.meta_get(NEXT_DAY_META).await? {
        Some(d) => {
            let d: Date = d.parse().context("simulator.nextDay")?;
            d.max(clock::pacific_day(now))
        }
        None => clock::first_day_from(now),
    };
    let first = match opts.start {
        Some(s) => {
            anyhow::ensure!(
                s >= first,
                "--start {s} is before {first}, the first day the virtual clock and earlier runs leave open"
            );
            s
        }
        None => first,
    };
    let mut apps = load_apps(c, opts).await?;
    let mut sum = Summary::default();
    for i in 0..opts.days {
        let day = first + jiff::Span::new().days(i64::from(i));
        let start = clock::day_start_ms(day);
        let end = clock::day_start_ms(day.tomorrow()?);
        let mut ev = Ev::begin(c).await?;
        // The day's ledger is kept in memory and written at commit, the steps due that day are
        // read ahead (crates/store ledger/overlay.rs, due.rs), and notifications are signed when
        // first sent or read.
        ev.lazy_signing = true;
        if !opts.statement_by_statement {
            ev.tx.ledger_batch();
        }
        ev.tx.ledger_open_due_window(end - 1).await?;
        // The day's acts of every app, in time order (ties: app order, then plan order).
        let mut plan = Vec::new();
        let day_n = (day - jiff::civil::date(2000, 1, 1)).get_days() as u64;
        let mut rngs = Vec::new();
        for (k, a) in apps.iter_mut().enumerate() {
            let mut r = Rng::stream(opts.seed, &a.app.bundle_id, day_n);
            // The day's new customers (`customers::label`) are unknown to the ledger.
            ev.tx
                .ledger_fresh_labels(
                    &a.app.id,
                    Env::Production.as_str(),
                    &customers::day_label_prefix(day),
                )
                .await?;
            let (rows, counts) = units::day_units(&a.app.id, &a.traffic, day, &mut r);
            ev.tx.add_app_units(&rows).await?;
            sum.downloads += counts.first_time;
            sum.redownloads += counts.redownloads;
            sum.updates += counts.updates;
            for (ms, act) in a.plan(day, counts.first_time, &mut r) {
                plan.push((start + ms.min(end - start - 2), k, plan.len(), act));
            }
            rngs.push(r);
        }
        plan.sort_by_key(|p| (p.0, p.1, p.2));
        for (at, k, _, act) in plan {
            ev.run_due_steps(at).await?;
            if let Err(e) = apps[k].apply(&mut ev, act, day, at, &mut rngs[k]).await {
                anyhow::ensure!(e.status < 500, "simulated event failed: {e}");
                tracing::debug!("simulated event refused: {e}");
                sum.refused += 1;
            }
        }
        ev.run_due_steps(end - 1).await?;
        let next = day.tomorrow()?;
        ev.tx.meta_set(NEXT_DAY_META, &next.to_string()).await?;
        for e in ev.commit().await? {
            sum.notifications += 1;
            match e.notification_type.as_str() {
                "ONE_TIME_CHARGE" | "SUBSCRIBED" => sum.purchases += 1,
                "DID_RENEW" => sum.renewals += 1,
                "REFUND" => sum.refunds += 1,
                _ => {}
            }
        }
        let behind = end - store.now_ms();
        if behind > 0 {
            store.advance_clock(behind).await?;
        }
        sum.days += 1;
        sum.first_day.get_or_insert(day);
        sum.last_day = Some(day);
        progress(DayDone {
            done: i + 1,
            total: opts.days,
            events: sum.notifications,
        });
    }
    Ok(sum)
}

/// The simulated apps with their products on sale, offer codes and subscribers so far.
async fn load_apps(c: &Commerce, opts: &Options) -> Result<Vec<AppCustomers>> {
    let store = &c.store;
    let bundles: Vec<String> = if !opts.apps.is_empty() {
        opts.apps.clone()
    } else if !opts.traffic.is_empty() {
        opts.traffic.keys().cloned().collect()
    } else {
        store.ledger_bundle_ids().await?
    };
    let mut out = Vec::new();
    for b in bundles {
        let app = store
            .ledger_app_by_bundle(&b)
            .await?
            .with_context(|| format!("no app with bundle id {b} in this data directory"))?;
        let traffic = Traffic::resolve(opts.traffic.get(&b), opts.profile)
            .with_context(|| format!("traffic of {b}"))?;
        let (products, codes) = products_on_sale(c, &app).await?;
        let mut a = AppCustomers::new(app, traffic, products, codes);
        resume(c, &mut a).await?;
        out.push(a);
    }
    Ok(out)
}

/// Products of an app that are on sale (`state` APPROVED), by product id, and the named offer
/// codes (`subscriptionOfferCodes.name`) of its subscriptions.
async fn products_on_sale(
    c: &Commerce,
    app: &crabapple_storekit::ledger::AppRow,
) -> Result<(Vec<Product>, Vec<OfferCode>)> {
    let store = &c.store;
    let mut ids = Vec::new();
    for t in ["inAppPurchases", "subscriptionGroups"] {
        for id in store.linked_any("apps", &app.id, t).await? {
            if t == "subscriptionGroups" {
                for s in store
                    .linked_any("subscriptionGroups", &id, "subscriptions")
                    .await?
                {
                    ids.push(("subscriptions", s));
                }
            } else {
                ids.push(("inAppPurchases", id));
            }
        }
    }
    let mut tx = store.begin().await?;
    let mut products = BTreeMap::new();
    let mut codes = Vec::new();
    for (t, id) in ids {
        let Some(r) = tx.get(t, &id).await? else {
            continue;
        };
        let attr = |k: &str| {
            r.attributes
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if attr("state").as_deref() != Some("APPROVED") {
            continue;
        }
        let Some(pid) = attr("productId") else {
            continue;
        };
        if let Some(p) = catalog::resolve_product(&mut tx, app, &pid).await? {
            if t == "subscriptions" {
                for oc in tx.linked_any(t, &id, "subscriptionOfferCodes").await? {
                    if let Some(o) = tx.get("subscriptionOfferCodes", &oc).await?
                        && let Some(name) = o.attributes.get("name").and_then(Value::as_str)
                    {
                        codes.push(OfferCode {
                            name: name.to_string(),
                            product_id: pid.clone(),
                        });
                    }
                }
            }
            products.insert(pid, p);
        }
    }
    drop(tx);
    codes.sort_by(|a, b| (&a.product_id, &a.name).cmp(&(&b.product_id, &b.name)));
    Ok((products.into_values().collect(), codes))
}

/// Picks up the subscribers an earlier run left (`sim-` customers of the app).
async fn resume(c: &Commerce, a: &mut AppCustomers) -> Result<()> {
    for p in a.products.clone() {
        let subs = c
            .store
            .ledger_subscribers_of_product(&a.app.id, "Production", &p.product_id)
            .await?;
        for (original_transaction_id, label, product_id, status) in subs {
            if !label.starts_with("sim-") || label.ends_with("-family") {
                continue;
            }
            let h = customers::Held {
                original_transaction_id: original_transaction_id.into(),
                customer: label.into(),
                product_id: a.product_id(&product_id),
            };
            if matches!(status, 1 | 3 | 4) {
                a.active.push(h);
            } else {
                a.lapsed.push(h);
            }
        }
    }
    Ok(())
}
