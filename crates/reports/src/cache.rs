//! The report files cache: every answer of `GET /v1/salesReports` (Sales and Trends, the
//! subscription reports included) and `GET /v1/financeReports` for a closed period is computed
//! once, then served as stored. One mechanism for the whole family ([`serve`]); the family's
//! checks (400s, 406, 404 "not available yet", 410) run before it, on every request, so only an
//! answer the family has decided to give from the ledger ever reaches it.
//!
//! Why a closed period's file cannot change: it exists from 08:00 Pacific after the period
//! (reports-formats.md §2.3, Finance §3.6), and every commerce event and simulated day is dated at
//! the virtual now or later, which never moves back. What else a file reads — the catalogue
//! (names, SKUs, price schedules), the team name, the ledger as a whole, app units written into a
//! day already reported — changes the database's report generation token in the writer's own
//! transaction (migration 0007's triggers, `ledger_clear`, `ReportsTx::add_app_units`), and an answer is
//! served only under the token it was computed at. Two guards more:
//! - the ledger's scheduler dates a renewal (billing retry, mass extension) at its due time, and
//!   runs it a moment after the clock jumped: while such work is due before the period's end
//!   the answer is sent but not kept (`LedgerReports::report_work_due_before`);
//! - the token is read before the answer is computed, and storing checks it again, so a file
//!   computed across a change is never stored under the new token.
//!
//! "No sales" 404s of closed periods are cached too (choice): they are as final as the files, and
//! a collector polling every day of a quiet year asks for them as often. Errors other than that
//! 404 (a 500 on a storage fault) are never cached.
//!
//! Layers: the database (`report_files`, shared by every process and replica on it: the server,
//! `crabapple simulate`, a later PostgreSQL backend) and, in front, an in-memory LRU of
//! [`MEMORY_BYTES`] (`CRABAPPLE_REPORTS_MEMORY_MB` overrides it, 0 turns it off) keyed by
//! generation token and request key; the token is read from the database on every request, so the
//! memory layer is right whoever wrote. Concurrent requests for the same missing file wait for one
//! computation. A file is stored in the database in the background (the writer lock may be held
//! by another process for a while: the request does not wait for it).

use crate::family::no_sales;
use crabapple_jsonapi::{AscError, Reply};
use crabapple_reports_store::{ReportFile, ReportsStore};
use crabapple_store::Store;
use crabapple_storekit::ledger::LedgerReports;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// Default size of the in-memory layer (file bodies, gzip bytes).
pub const MEMORY_BYTES: usize = 64 << 20;

/// The cache key of a Sales and Trends request, once resolved: report type, subtype, frequency,
/// version, the period's first day and the vendor number (it names the file).
pub fn sales_key(
    vendor: &str,
    rtype: &str,
    sub: &str,
    frequency: &str,
    version: &str,
    first: jiff::civil::Date,
) -> String {
    format!("sales/{vendor}/{rtype}/{sub}/{frequency}/{version}/{first}")
}

/// The cache key of a Finance request: report type, the file's region and the fiscal period.
pub fn finance_key(vendor: &str, rtype: &str, region: &str, report_date: &str) -> String {
    format!("finance/{vendor}/{rtype}/{region}/{report_date}")
}

/// The answer for `key`, a period that ends at `end_ms`: the cached one, or `render`'s (kept when
/// it is a file or the "no sales" 404 and no ledger work is due before `end_ms`). `render` is not
/// polled unless the answer has to be computed.
pub async fn serve(
    store: &Store,
    key: &str,
    end_ms: i64,
    render: impl Future<Output = Result<Reply, AscError>>,
) -> Result<Reply, AscError> {
    let generation = store.report_generation().await?;
    let mkey = format!("{generation}\n{key}");
    if let Some(f) = MEMORY.get(&mkey) {
        return answer(&f);
    }
    let flight = in_flight(&mkey);
    let turn = flight.lock().await;
    let r = fill(store, key, &generation, &mkey, end_ms, render).await;
    drop(turn);
    if let Ok(mut m) = IN_FLIGHT.lock() {
        m.remove(&mkey);
    }
    r
}

async fn fill(
    store: &Store,
    key: &str,
    generation: &str,
    mkey: &str,
    end_ms: i64,
    render: impl Future<Output = Result<Reply, AscError>>,
) -> Result<Reply, AscError> {
    // Another request may have filled it while this one waited for its turn.
    if let Some(f) = MEMORY.get(mkey) {
        return answer(&f);
    }
    if let Some(f) = store.report_file(key, generation).await? {
        let f = Arc::new(f);
        MEMORY.put(mkey, f.clone());
        return answer(&f);
    }
    // Checked before computing: work that lands after this read is not due before `end_ms`.
    let settled = !store.report_work_due_before(end_ms).await?;
    let r = render.await;
    if settled && let Some(f) = keepable(&r) {
        let f = Arc::new(f);
        MEMORY.put(mkey, f.clone());
        let (store, key, generation) = (store.clone(), key.to_string(), generation.to_string());
        tokio::spawn(async move {
            let now = store.now_ms();
            if let Err(e) = store.put_report_file(&key, &generation, &f, now).await {
                tracing::warn!("storing the report file {key}: {e:#}");
            }
        });
    }
    r
}

/// What of an answer is kept: a file, or Apple's "no sales" 404.
fn keepable(r: &Result<Reply, AscError>) -> Option<ReportFile> {
    match r {
        Ok(reply) if reply.status == 200 => Some(ReportFile {
            status: 200,
            content_type: reply.content_type.clone(),
            headers: reply.headers.clone(),
            body: reply.body.clone(),
            reason: String::new(),
        }),
        Err(e) if e.status == 404 && e.detail == no_sales().detail => Some(ReportFile {
            status: 404,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
            reason: e.reason.clone(),
        }),
        _ => None,
    }
}

/// The answer a kept file stands for.
fn answer(f: &ReportFile) -> Result<Reply, AscError> {
    match f.status {
        200 => Ok(Reply {
            status: 200,
            content_type: f.content_type.clone(),
            headers: f.headers.clone(),
            body: f.body.clone(),
        }),
        _ => Err(no_sales().reason(f.reason.clone())),
    }
}

static IN_FLIGHT: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn in_flight(mkey: &str) -> Arc<tokio::sync::Mutex<()>> {
    let mut m = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    m.entry(mkey.to_string()).or_default().clone()
}

/// The in-memory layer, shared by every store of the process: keys start with the database's
/// generation token, random per database and per change, so stores never see each other's files.
static MEMORY: LazyLock<Memory> = LazyLock::new(|| {
    let mb = std::env::var("CRABAPPLE_REPORTS_MEMORY_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    Memory::new(mb.map_or(MEMORY_BYTES, |mb| mb << 20))
});

/// A least-recently-used map of kept files within a byte budget (bodies and keys).
struct Memory {
    budget: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Arc<ReportFile>, u64)>,
    bytes: usize,
    tick: u64,
}

fn size(key: &str, f: &ReportFile) -> usize {
    key.len() + f.body.len() + f.reason.len() + 64
}

impl Memory {
    fn new(budget: usize) -> Memory {
        Memory {
            budget,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<ReportFile>> {
        let mut l = self.inner.lock().ok()?;
        l.tick += 1;
        let tick = l.tick;
        let e = l.entries.get_mut(key)?;
        e.1 = tick;
        Some(e.0.clone())
    }

    fn put(&self, key: &str, f: Arc<ReportFile>) {
        let n = size(key, &f);
        // A file larger than a quarter of the budget is served from the database only.
        if n > self.budget / 4 {
            return;
        }
        let Ok(mut l) = self.inner.lock() else {
            return;
        };
        l.tick += 1;
        let tick = l.tick;
        if let Some((old, _)) = l.entries.insert(key.to_string(), (f, tick)) {
            l.bytes -= size(key, &old);
        }
        l.bytes += n;
        while l.bytes > self.budget {
            let Some(oldest) = l
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = l.entries.remove(&oldest) {
                l.bytes -= size(&oldest, &old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> Arc<ReportFile> {
        Arc::new(ReportFile {
            status: 200,
            content_type: None,
            headers: Vec::new(),
            body: vec![0; n],
            reason: String::new(),
        })
    }

    #[test]
    fn memory_drops_the_least_recently_used_file_beyond_its_budget() {
        let m = Memory::new(4 * (1000 + 64 + 1));
        m.put("a", file(1000));
        m.put("b", file(1000));
        m.put("c", file(1000));
        assert!(m.get("a").is_some());
        m.put("d", file(1000));
        m.put("e", file(1000));
        // b was used last longest ago.
        assert!(m.get("b").is_none());
        assert!(m.get("a").is_some() && m.get("e").is_some());
        // Too big for the memory layer: never kept.
        m.put("big", file(4000));
        assert!(m.get("big").is_none());
        // Disabled.
        let off = Memory::new(0);
        off.put("a", file(1));
        assert!(off.get("a").is_none());
    }

    #[test]
    fn only_files_and_no_sales_404s_are_kept() {
        let reply = crate::transport::file_reply("S_D_1_20261205.txt.gz", Some("1_0"), "x\n");
        let kept = keepable(&Ok(reply.clone())).unwrap();
        let back = answer(&kept).unwrap();
        assert_eq!(
            (back.status, back.content_type, back.headers, back.body),
            (reply.status, reply.content_type, reply.headers, reply.body)
        );
        let e = no_sales().reason("no earnings");
        let kept = keepable(&Err(e)).unwrap();
        let back = answer(&kept).unwrap_err();
        assert_eq!(
            (
                back.status,
                back.code.as_str(),
                back.detail.as_deref(),
                back.reason.as_str()
            ),
            (
                404,
                "NOT_FOUND",
                Some("There were no sales for the date specified."),
                "no earnings"
            )
        );
        assert!(keepable(&Err(crate::family::not_available_yet())).is_none());
        assert!(keepable(&Err(AscError::internal("disk full"))).is_none());
    }
}
