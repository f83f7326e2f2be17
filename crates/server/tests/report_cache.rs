//! The report files cache (crates/reports/src/cache.rs, issue 9 "Performance"): a closed period's
//! Sales and Trends or Finance answer is computed once and served as stored — byte for byte what a
//! fresh computation gives; never an answer that could still change; gone when the ledger is
//! emptied, the world reset, the catalogue edited, or when another process writes units into a
//! reported day or empties the ledger.

mod common;

use common::reports::*;
use common::*;
use crabapple_jsonapi::Reply;
use crabapple_reports::period::{Frequency, ReportPeriod, at_8_pacific};
use crabapple_reports::{ReportFile, ReportsStore, ReportsTx};
use crabapple_reports::{cache, fiscal, pacific, transport};
use crabapple_store::Store;
use crabapple_storekit::ledger::{LedgerStore, LedgerTx};
use jiff::civil::Date;
use serde_json::{Value, json};

const TEAM: &str = "Crabapple Demo Team";
const NOTES: &str = "1476097583";

fn daily_key(day: Date) -> String {
    cache::sales_key(vendor(), "SALES", "SUMMARY", "DAILY", "1_0", day)
}

fn daily(day: Date) -> String {
    sales_uri(
        "SALES",
        "SUMMARY",
        "DAILY",
        Some(&day.to_string()),
        Some("1_0"),
    )
}

async fn buy(w: &World, product: &str, customer: &str) -> Value {
    post(
        w,
        "/crabapple/admin/commerce/purchase",
        json!({"bundleId": "com.crabapple.notes", "productId": product, "environment": "production", "customer": customer}),
    )
    .await
}

/// Adds `n` first-time downloads of Crabapple Notes in the US on `day`, in a transaction of `store`.
async fn add_units(store: &Store, day: Date, n: i64) {
    let mut tx = store.begin().await.unwrap();
    tx.add_app_units(&[units(
        NOTES,
        &day.to_string(),
        "First-time download",
        "US",
        n,
    )])
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// What a client sees of a file: status, Apple's transport headers, the gzip bytes.
fn seen(r: &Resp) -> (u16, Vec<Option<String>>, Vec<u8>) {
    let names = [
        "content-type",
        "content-encoding",
        "content-disposition",
        "x-reports-filename",
        "x-reports-download-version",
    ];
    (
        r.status,
        names.iter().map(|n| r.header(n)).collect(),
        r.body.clone(),
    )
}

fn reply_seen(r: &Reply) -> (u16, Vec<Option<String>>, Vec<u8>) {
    let h = |n: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    (
        r.status,
        vec![
            r.content_type.clone(),
            h("content-encoding"),
            h("content-disposition"),
            h("x-reports-filename"),
            h("x-reports-download-version"),
        ],
        r.body.clone(),
    )
}

/// The row the cache stored for `key` under the current generation, once the background write
/// has landed (it is not on the request's path).
async fn stored(store: &Store, key: &str) -> Option<ReportFile> {
    for _ in 0..200 {
        let generation = store.report_generation().await.unwrap();
        if let Some(f) = store.report_file(key, &generation).await.unwrap() {
            return Some(f);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

async fn rows(store: &Store) -> i64 {
    let generation = store.report_generation().await.unwrap();
    let mut n = 0;
    for d in 0..60 {
        let day = pacific::day_of_ms(store.now_ms()) - jiff::Span::new().days(d);
        n += i64::from(
            store
                .report_file(&daily_key(day), &generation)
                .await
                .unwrap()
                .is_some(),
        );
    }
    n
}

/// §2.3 + §1.1: the second download of a daily SALES file and of a FINANCIAL file comes from the
/// cache (memory, and the database row written for other processes) and is byte for byte the
/// file computed fresh from the ledger, with the same transport headers.
#[tokio::test]
async fn s2_3_cached_sales_and_finance_files_are_byte_identical_to_fresh_ones() {
    let w = demo().await;
    let store = w.app.store().clone();
    buy(&w, "com.crabapple.notes.handwriting", "cache-1").await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    advance_to(&w, at_8_pacific(day.tomorrow().unwrap())).await;

    let first = w.get(&daily(day)).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let second = w.get(&daily(day)).await;
    assert_eq!(seen(&second), seen(&first));
    let period = ReportPeriod::parse(Frequency::Daily, &day.to_string()).unwrap();
    let text = crabapple_reports::sales::render(&store, &period, TEAM)
        .await
        .unwrap()
        .unwrap();
    let name = format!("S_D_{}_{}_V1_0.txt.gz", vendor(), day.strftime("%Y%m%d"));
    let fresh = transport::file_reply(&name, Some("1_0"), &text);
    assert_eq!(seen(&first), reply_seen(&fresh));
    let row = stored(&store, &daily_key(day)).await.expect("stored");
    assert_eq!((row.status, &row.body), (200, &fresh.body));
    assert_eq!(row.headers, fresh.headers);

    let fp = fiscal::Period::containing(day);
    advance_to(&w, at_8_pacific(fp.issued_on())).await;
    let uri = finance_uri("FINANCIAL", "US", &fp.report_date());
    let first = w.get(&uri).await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(seen(&w.get(&uri).await), seen(&first));
    let text = crabapple_reports::finance::render(
        &store,
        crabapple_reports::finance::FinanceReport::Financial,
        "US",
        &fp,
        TEAM,
    )
    .await
    .unwrap()
    .unwrap();
    let fresh = transport::file_reply(
        &crabapple_reports::finance::file_name(vendor(), &fp, "US"),
        None,
        &text,
    );
    assert_eq!(seen(&first), reply_seen(&fresh));
    let key = cache::finance_key(vendor(), "Financial", "US", &fp.report_date());
    assert_eq!(stored(&store, &key).await.expect("stored").body, fresh.body);
}

/// §2.5: "Report is not available yet." is never cached — a purchase after it lands in the file
/// once it is out; the "no sales" 404 of a closed day is (choice: it is as final as a file).
#[tokio::test]
async fn s2_5_not_available_yet_is_not_cached_and_the_file_appears_with_later_purchases() {
    let w = demo().await;
    let store = w.app.store().clone();
    let day = pacific::day_of_ms(now_ms(&w).await);
    buy(&w, "com.crabapple.notes.handwriting", "early").await;
    let r = w.get(&daily(day)).await;
    assert_eq!(
        err(&r),
        e(
            404,
            "NOT_FOUND",
            NOT_FOUND_TITLE,
            "Report is not available yet.",
            ""
        )
    );
    assert_eq!(rows(&store).await, 0);
    buy(&w, "com.crabapple.notes.handwriting", "late").await;
    advance_to(&w, at_8_pacific(day.tomorrow().unwrap())).await;
    let text = gunzip(&w.get(&daily(day)).await.body);
    let line = text.lines().nth(1).unwrap();
    assert_eq!(line.split('\t').nth(7), Some("2"), "both purchases: {text}");
    assert!(stored(&store, &daily_key(day)).await.is_some());

    // The day before: closed, nothing sold. 404 "no sales", kept as such.
    let before = day.yesterday().unwrap();
    let r = w.get(&daily(before)).await;
    assert_eq!(err(&r), e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""));
    let row = stored(&store, &daily_key(before)).await.expect("stored");
    assert_eq!((row.status, row.body.len()), (404, 0));
    assert_eq!(err(&w.get(&daily(before)).await), err(&r));
}

/// The admin reset empties the ledger (`ledger_clear`) and reloads the world: cached files go.
/// Editing the catalogue (the app's name is the file's Title) makes them be computed again.
#[tokio::test]
async fn ledger_clear_and_catalogue_edits_invalidate_cached_files() {
    let w = demo().await;
    let store = w.app.store().clone();
    buy(&w, "com.crabapple.notes.handwriting", "cleared").await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    add_units(&store, day, 3).await;
    advance_to(&w, at_8_pacific(day.tomorrow().unwrap())).await;
    let before = gunzip(&w.get(&daily(day)).await.body);
    assert!(before.contains("\tCrabapple Notes\t"), "{before}");
    stored(&store, &daily_key(day)).await.expect("stored");

    let app = store.get("apps", NOTES).await.unwrap().unwrap();
    let mut attributes = app.attributes.clone();
    attributes.insert("name".into(), json!("Crabapple Notes Pro"));
    let mut tx = store.begin().await.unwrap();
    tx.put("apps", NOTES, &attributes).await.unwrap();
    tx.commit().await.unwrap();
    let renamed = gunzip(&w.get(&daily(day)).await.body);
    assert_eq!(
        renamed,
        before.replace("\tCrabapple Notes\t", "\tCrabapple Notes Pro\t")
    );

    let r = w.call("POST", "/crabapple/admin/reset", None, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(rows(&store).await, 0, "ledger_clear empties report_files");
    let r = w.get(&daily(day)).await;
    assert_eq!(err(&r), e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""));
}

/// A renewal is dated at its due time and run by the scheduler a moment after the clock jumped
/// past it: until it has run, the day's file is answered (without it) but not kept; then the
/// file with the renewal is.
#[tokio::test]
async fn a_period_with_ledger_work_still_due_is_answered_but_not_kept() {
    let w = demo().await;
    let store = w.app.store().clone();
    buy(&w, "com.crabapple.notes.pro.monthly", "renewing").await;
    // The clock jumps past the renewal by itself (no scheduler runs in these tests).
    store.advance_clock(40 * 86_400_000).await.unwrap();
    let due = store
        .ledger_next_due(store.now_ms(), store.clock.wall_ms())
        .await
        .unwrap()
        .subscription
        .expect("the renewal is due")
        .1;
    let renewal_day = pacific::day_of_ms(due);
    let r = w.get(&daily(renewal_day)).await;
    assert_eq!(err(&r), e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let generation = store.report_generation().await.unwrap();
    assert_eq!(
        store
            .report_file(&daily_key(renewal_day), &generation)
            .await
            .unwrap(),
        None
    );
    crabapple_storekit::run_due(&w.app.commerce, store.now_ms())
        .await
        .unwrap();
    let r = w.get(&daily(renewal_day)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = gunzip(&r.body);
    assert!(text.contains("\tRenewal\t"), "{text}");
    assert_eq!(
        stored(&store, &daily_key(renewal_day)).await.unwrap().body,
        r.body
    );
}

/// `crabapple simulate` and other CLI commands write the data directory while the server runs:
/// a second store on the same database file stands for that process. Its units written into a
/// reported day and its ledger reset are seen by the server's next download; what the server
/// cached is shared with it byte for byte.
#[tokio::test]
async fn another_process_writing_the_database_invalidates_and_shares_cached_files() {
    let w = demo().await;
    let store = w.app.store().clone();
    let other = crabapple_server::setup::open(&w.dir).await.unwrap();
    buy(&w, "com.crabapple.notes.handwriting", "shared").await;
    let day = pacific::day_of_ms(now_ms(&w).await);
    advance_to(&w, at_8_pacific(day.tomorrow().unwrap())).await;
    other.reload_clock().await.unwrap();
    let served = w.get(&daily(day)).await;
    assert_eq!(served.status, 200);
    stored(&store, &daily_key(day)).await.expect("stored");
    // The other process reads the server's file: the same bytes.
    assert_eq!(
        stored(&other, &daily_key(day)).await.unwrap().body,
        served.body
    );

    // Units of a day already reported: the generation changes in the writer's transaction.
    add_units(&other, day, 4).await;
    let text = gunzip(&w.get(&daily(day)).await.body);
    let app_line = text
        .lines()
        .find(|l| l.contains(&format!("\t{NOTES}\t")))
        .unwrap_or_else(|| panic!("the other process's units: {text}"));
    assert_eq!(app_line.split('\t').nth(7), Some("4"));

    let mut tx = other.begin().await.unwrap();
    tx.ledger_clear().await.unwrap();
    tx.commit().await.unwrap();
    let r = w.get(&daily(day)).await;
    assert_eq!(err(&r), e(404, "NOT_FOUND", NOT_FOUND_TITLE, NO_SALES, ""));
}
