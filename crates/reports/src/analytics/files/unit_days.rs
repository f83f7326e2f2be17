//! What the analytics files read of an app's day, kept in memory once the day is final, so that a
//! collector walking a year of instances computes each day about once instead of once per file:
//! the app units of the day ([`of`]; App Sessions and App Crashes read the 29 days before each
//! file too) and, through [`DayMemo`], the day's Subscription State rows (files/subscriptions.rs:
//! each day is in two DAILY files of two levels).
//!
//! A day is final from 08:00 Pacific the next day, when the Sales reports count it as reported:
//! from then on a write into it changes the database's report generation token (the contract of
//! the report files cache, [`crate::cache`]), and the kept rows are keyed by that token, so a
//! changed day is read again. Days not yet final are always read from the database. The memory
//! holds at most [`BUDGET_BYTES`] of rows, the days kept longest dropped first.

use crate::period;
use anyhow::Result;
use crabapple_store::Store;
use crabapple_store::reports::AppUnitsRow;
use jiff::civil::Date;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

/// How much memory the kept days of one kind may take (approximate bytes).
pub const BUDGET_BYTES: usize = 96 << 20;

/// (generation token, app, day).
pub type Key = (String, String, Date);

/// Days of one kind kept in memory within [`BUDGET_BYTES`], the days kept longest dropped first.
pub struct DayMemo<T> {
    days: HashMap<Key, Arc<T>>,
    order: VecDeque<(Key, usize)>,
    bytes: usize,
}

impl<T> Default for DayMemo<T> {
    fn default() -> Self {
        DayMemo {
            days: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }
}

static MEMO: LazyLock<Mutex<DayMemo<Vec<AppUnitsRow>>>> = LazyLock::new(Default::default);

/// Whether Pacific day `d` is final at `now_ms` (08:00 Pacific the next day, see the module doc).
pub fn is_final(d: Date, now_ms: i64) -> bool {
    d.tomorrow()
        .is_ok_and(|n| now_ms >= period::at_8_pacific(n))
}

/// The key of app `app`'s day `d` in `store` now, if the day is final.
pub async fn final_key(store: &Store, app: &str, d: Date) -> Result<Option<Key>> {
    if !is_final(d, store.now_ms()) {
        return Ok(None);
    }
    Ok(Some((store.report_generation().await?, app.to_string(), d)))
}

fn size(rows: &[AppUnitsRow]) -> usize {
    rows.iter()
        .map(|u| {
            160 + u.day.len()
                + u.download_type.len()
                + u.app_version.len()
                + u.device.len()
                + u.platform_version.len()
                + u.source_type.len()
                + u.source_info.len()
                + u.campaign.len()
                + u.page_type.len()
                + u.territory.len()
        })
        .sum()
}

impl<T> DayMemo<T> {
    /// The kept value of `key`.
    pub fn get(&self, key: &Key) -> Option<Arc<T>> {
        self.days.get(key).cloned()
    }

    /// Keeps `rows` (about `n` bytes) under `key`.
    pub fn put(&mut self, key: Key, rows: Arc<T>, n: usize) {
        if n > BUDGET_BYTES / 4 || self.days.contains_key(&key) {
            return;
        }
        self.days.insert(key.clone(), rows);
        self.order.push_back((key, n));
        self.bytes += n;
        while self.bytes > BUDGET_BYTES {
            let Some((old, n)) = self.order.pop_front() else {
                break;
            };
            self.days.remove(&old);
            self.bytes -= n;
        }
    }
}

/// The app units of app `app` from `from` to `to` (Pacific days), one list per day.
pub async fn of(
    store: &Store,
    app: &str,
    from: Date,
    to: Date,
) -> Result<Vec<Arc<Vec<AppUnitsRow>>>> {
    let now = store.now_ms();
    let generation = store.report_generation().await?;
    let key = |d: Date| (generation.clone(), app.to_string(), d);
    let is_final = |d: Date| is_final(d, now);
    // The kept days, and the first and last day to read.
    let mut kept: HashMap<Date, Arc<Vec<AppUnitsRow>>> = HashMap::new();
    let mut missing: Option<(Date, Date)> = None;
    {
        let memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
        let mut d = from;
        while d <= to {
            match memo.days.get(&key(d)).filter(|_| is_final(d)) {
                Some(rows) => {
                    kept.insert(d, rows.clone());
                }
                None => missing = Some((missing.map_or(d, |m| m.0), d)),
            }
            d = d.tomorrow()?;
        }
    }
    let mut read: HashMap<Date, Vec<AppUnitsRow>> = HashMap::new();
    if let Some((a, b)) = missing {
        for u in store
            .app_units_of(app, &a.to_string(), &b.to_string())
            .await?
        {
            read.entry(u.day.parse()?).or_default().push(u);
        }
    }
    let mut out = Vec::new();
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    let mut d = from;
    while d <= to {
        if let Some(rows) = kept.remove(&d) {
            out.push(rows);
        } else if missing.is_some_and(|(a, b)| a <= d && d <= b) {
            let rows = Arc::new(read.remove(&d).unwrap_or_default());
            if is_final(d) {
                memo.put(key(d), rows.clone(), size(&rows));
            }
            out.push(rows);
        }
        d = d.tomorrow()?;
    }
    Ok(out)
}
