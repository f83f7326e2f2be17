//! What the analytics files read of an app's day, kept in memory once the day is final, so that a
//! collector walking a year of instances computes each day about once instead of once per file:
//! the app units of the day ([`of`]; App Sessions and App Crashes read the 29 days before each
//! file too) and, through [`DayMemo`] and [`kept`], what a file family computes of a ledger day:
//! the App Store Purchases sums (files/commerce.rs) and the Subscription State and Event rows
//! (files/subscriptions.rs).
//!
//! A day is final from 08:00 Pacific the next day, when the Sales reports count it as reported:
//! from then on a write into it changes the database's report generation token (the contract of
//! the report files cache, [`crate::cache`]), and the kept rows are keyed by that token, so a
//! changed day is read again. Days not yet final are always read from the database, one day per
//! query (a month of a big app at once would hold every row twice while it is converted). A day
//! is kept compactly ([`UnitDay`]: its distinct texts once, each row as their indices). The
//! memory holds at most [`BUDGET_BYTES`] of them; when full it keeps the newest Dates (a
//! collector walking a year again and again then reads the kept part from memory instead of
//! evicting every day before it is read again), and days of an older generation go first.

use crate::period;
use anyhow::Result;
use crabapple_reports_store::{AppUnitsRow, ReportsStore};
use crabapple_store::Store;
use crabapple_storekit::ledger::LedgerReports;
use jiff::civil::Date;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

/// How much memory the kept days of one kind may take (approximate bytes).
pub const BUDGET_BYTES: usize = 96 << 20;

/// (generation token, app, day).
pub type Key = (String, String, Date);

/// Days of one kind kept in memory within [`BUDGET_BYTES`] (see the module doc for which).
pub struct DayMemo<T> {
    days: HashMap<Key, (Arc<T>, usize)>,
    /// The kept keys by Date, the first one dropped first.
    order: BTreeSet<(Date, String, String)>,
    bytes: usize,
}

impl<T> Default for DayMemo<T> {
    fn default() -> Self {
        DayMemo {
            days: HashMap::new(),
            order: BTreeSet::new(),
            bytes: 0,
        }
    }
}

/// The texts of an app units row a file reads, in [`UnitRow::cells`]' order.
const TEXTS: usize = 9;

/// One app units row of a [`UnitDay`]: its texts as indices into the day's strings.
#[derive(Debug, Clone, Copy)]
struct UnitRow {
    cells: [u32; TEXTS],
    pre_order: bool,
    units: i64,
}

/// An app's units of one day, compact: each distinct text once.
#[derive(Debug)]
pub struct UnitDay {
    day: Date,
    day_text: String,
    strings: Vec<Box<str>>,
    rows: Vec<UnitRow>,
}

impl UnitDay {
    fn new(day: Date, from: Vec<AppUnitsRow>) -> UnitDay {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut strings: Vec<Box<str>> = Vec::new();
        let mut intern = |s: String| -> u32 {
            if let Some(i) = index.get(&s) {
                return *i;
            }
            let i = strings.len() as u32;
            strings.push(s.clone().into_boxed_str());
            index.insert(s, i);
            i
        };
        // Not collected in place: that would keep the read rows' allocation (about six times
        // the compact rows' size) for as long as the day is kept.
        let mut rows = Vec::with_capacity(from.len());
        rows.extend(from.into_iter().map(|u| UnitRow {
            cells: [
                intern(u.download_type),
                intern(u.app_version),
                intern(u.device),
                intern(u.platform_version),
                intern(u.source_type),
                intern(u.source_info),
                intern(u.campaign),
                intern(u.page_type),
                intern(u.territory),
            ],
            pre_order: u.pre_order,
            units: u.units,
        }));
        UnitDay {
            day,
            day_text: day.to_string(),
            strings,
            rows,
        }
    }

    /// Approximate bytes in memory.
    fn size(&self) -> usize {
        96 + self.rows.capacity() * size_of::<UnitRow>()
            + self.strings.iter().map(|s| s.len() + 32).sum::<usize>()
    }

    /// The day's rows.
    pub fn iter(&self) -> impl Iterator<Item = Unit<'_>> {
        self.rows.iter().map(move |r| Unit { day: self, row: r })
    }
}

/// One app units row of a day, as the files read it.
#[derive(Clone, Copy)]
pub struct Unit<'a> {
    day: &'a UnitDay,
    row: &'a UnitRow,
}

impl<'a> Unit<'a> {
    fn text(&self, i: usize) -> &'a str {
        &self.day.strings[self.row.cells[i] as usize]
    }
    /// The reporting day (Pacific).
    pub fn day(&self) -> Date {
        self.day.day
    }
    /// The day as `YYYY-MM-DD`.
    pub fn day_text(&self) -> &'a str {
        &self.day.day_text
    }
    pub fn download_type(&self) -> &'a str {
        self.text(0)
    }
    pub fn app_version(&self) -> &'a str {
        self.text(1)
    }
    pub fn device(&self) -> &'a str {
        self.text(2)
    }
    pub fn platform_version(&self) -> &'a str {
        self.text(3)
    }
    pub fn source_type(&self) -> &'a str {
        self.text(4)
    }
    pub fn source_info(&self) -> &'a str {
        self.text(5)
    }
    pub fn campaign(&self) -> &'a str {
        self.text(6)
    }
    pub fn page_type(&self) -> &'a str {
        self.text(7)
    }
    pub fn territory(&self) -> &'a str {
        self.text(8)
    }
    pub fn pre_order(&self) -> bool {
        self.row.pre_order
    }
    pub fn units(&self) -> i64 {
        self.row.units
    }
}

static MEMO: LazyLock<Mutex<DayMemo<UnitDay>>> = LazyLock::new(Default::default);

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

impl<T> DayMemo<T> {
    /// The kept value of `key`.
    pub fn get(&self, key: &Key) -> Option<Arc<T>> {
        self.days.get(key).map(|(v, _)| v.clone())
    }

    fn drop_key(&mut self, (generation, app, day): &(String, String, Date)) {
        let key = (generation.clone(), app.clone(), *day);
        if let Some((_, n)) = self.days.remove(&key) {
            self.bytes -= n;
        }
        self.order.remove(&(*day, app.clone(), generation.clone()));
    }

    /// Keeps `rows` (about `n` bytes) under `key`: when the memory is full, the days of other
    /// generations go first, then the first Dates (which may be `key`'s: then it is not kept).
    pub fn put(&mut self, key: Key, rows: Arc<T>, n: usize) {
        if n > BUDGET_BYTES / 4 || self.days.contains_key(&key) {
            return;
        }
        if self.bytes + n > BUDGET_BYTES {
            let stale: Vec<Key> = self.days.keys().filter(|k| k.0 != key.0).cloned().collect();
            for k in &stale {
                self.drop_key(k);
            }
        }
        self.order.insert((key.2, key.1.clone(), key.0.clone()));
        self.days.insert(key, (rows, n));
        self.bytes += n;
        while self.bytes > BUDGET_BYTES {
            let Some((day, app, generation)) = self.order.pop_first() else {
                break;
            };
            self.drop_key(&(generation, app, day));
        }
    }
}

/// What is kept in `memo` of app `app`'s ledger `day`, else the key to keep them under once computed:
/// like the Sales files (crate::cache), a day is kept once final and with no renewal of the
/// ledger's scheduler still due before its end.
pub async fn kept<T>(
    store: &Store,
    memo: &Mutex<DayMemo<T>>,
    app: &str,
    day: Date,
) -> Result<(Option<Arc<T>>, Option<Key>)> {
    let key = match final_key(store, app, day).await? {
        Some(k)
            if !store
                .report_work_due_before(crate::pacific::day_bounds_ms(day).1)
                .await? =>
        {
            k
        }
        _ => return Ok((None, None)),
    };
    let found = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key);
    Ok((found, Some(key)))
}

/// The app units of app `app` from `from` to `to` (Pacific days), one [`UnitDay`] per day: the
/// kept ones, the others read from the database one day at a time (and kept once final).
pub async fn of(store: &Store, app: &str, from: Date, to: Date) -> Result<Vec<Arc<UnitDay>>> {
    let now = store.now_ms();
    let generation = store.report_generation().await?;
    let key = |d: Date| (generation.clone(), app.to_string(), d);
    let mut out = Vec::new();
    let mut d = from;
    while d <= to {
        let kept = is_final(d, now)
            .then(|| MEMO.lock().unwrap_or_else(|e| e.into_inner()).get(&key(d)))
            .flatten();
        let day = match kept {
            Some(day) => day,
            None => {
                let text = d.to_string();
                let rows = store.app_units_of(app, &text, &text).await?;
                let day = Arc::new(UnitDay::new(d, rows));
                if is_final(d, now) {
                    let n = day.size();
                    MEMO.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .put(key(d), day.clone(), n);
                }
                day
            }
        };
        out.push(day);
        d = d.tomorrow()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_day_holds_its_compact_rows_only() {
        let row = AppUnitsRow {
            app_id: "1".into(),
            day: "2027-01-01".into(),
            download_type: "First-time download".into(),
            app_version: "1.0".into(),
            device: "iPhone".into(),
            platform_version: "iOS 18.1".into(),
            source_type: "App Store search".into(),
            source_info: String::new(),
            campaign: String::new(),
            page_type: "Store sheet".into(),
            territory: "US".into(),
            pre_order: false,
            units: 3,
        };
        let day = UnitDay::new(jiff::civil::date(2027, 1, 1), vec![row; 1000]);
        // Not the read rows' allocation (1,000 rows of 13 fields), which a collect in place keeps.
        assert_eq!(day.rows.capacity(), 1000);
        assert!(
            day.size() < 1000 * size_of::<UnitRow>() + 1024,
            "{}",
            day.size()
        );
        assert_eq!(day.iter().map(|u| u.units()).sum::<i64>(), 3000);
    }
}
