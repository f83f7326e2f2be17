//! The simulator keeps each day's ledger in memory and writes it at commit (crates/store
//! `ledger/overlay.rs`, `due.rs`, `pending.rs`: the issue 9 performance work). This proves the
//! rows are the very ones the statement-by-statement path writes — customers, transactions,
//! subscription state, the outbox's notifications and the counters — over weeks of an indie
//! app with refunds, billing failures and recoveries, plan changes, offers and family sharing
//! (a refused event's rollback in memory is proven in crates/store's overlay tests).

#[path = "../../server/tests/common/mod.rs"]
mod common;

use crabapple_simulator::traffic::{Profile, parse_section};
use crabapple_simulator::{Options, clock, simulate};
use serde_json::Value;

/// seq, type, subtype, customer, transaction, signed date, decoded.
type NoteRow = (
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
    String,
);

async fn db(w: &common::World) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=ro", w.dir.join("crabapple.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

/// Every ledger row as text, in key order; what is random by design (app transaction nonces,
/// notification UUIDs) left out.
async fn ledger(w: &common::World) -> Vec<String> {
    let pool = db(w).await;
    let mut out = Vec::new();
    for sql in [
        "SELECT json_array(id, app_id, environment, label, app_account_token, storefront,
         app_transaction_id, created_ms) FROM commerce_customers ORDER BY id",
        "SELECT json_array(transaction_id, original_transaction_id, customer_id, product_id,
         order_id, web_order_line_item_id, ownership, purchase_ms, expires_ms, revoked,
         revoked_ms, finished, mod_seq, refund_seq, modified_ms, payload)
         FROM commerce_transactions ORDER BY transaction_id",
        "SELECT json_array(original_transaction_id, customer_id, group_id, product_id, status,
         expires_ms, latest_transaction_id, storefront, next_event_ms, renewal, state, updated_ms)
         FROM commerce_subscriptions ORDER BY original_transaction_id",
        "SELECT json_array(name, value) FROM commerce_counters ORDER BY name",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&pool)
            .await
            .unwrap();
        out.extend(rows);
    }
    let notes: Vec<NoteRow> = sqlx::query_as(
        "SELECT seq, notification_type, subtype, customer_id, transaction_id, signed_date_ms,
             decoded FROM commerce_notifications ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (seq, ty, sub, cust, txn, at, decoded) in notes {
        let mut d: Value = serde_json::from_str(&decoded).unwrap();
        d["payload"]
            .as_object_mut()
            .unwrap()
            .remove("notificationUUID");
        out.push(format!("{seq} {ty} {sub:?} {cust:?} {txn:?} {at} {d}"));
    }
    out
}

#[tokio::test]
async fn issue_9_a_day_in_memory_writes_the_rows_of_a_day_statement_by_statement() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let o = Options {
        days: 45,
        seed: 9,
        apps: vec!["com.crabapple.notes".into()],
        profile: Some(Profile::Indie),
        traffic: parse_section(crabapple_asc::world::DEMO_YAML).unwrap(),
        start: Some(clock::first_day_from(wall) + jiff::Span::new().days(2)),
        statement_by_statement: false,
    };
    let (a, b) = (common::demo().await, common::demo().await);
    let sa = simulate(&a.app.commerce, &o, |_| {}).await.unwrap();
    let plain = Options {
        statement_by_statement: true,
        ..o
    };
    let sb = simulate(&b.app.commerce, &plain, |_| {}).await.unwrap();
    assert_eq!(sa, sb);
    assert!(
        sa.renewals > 0 && sa.refunds > 0,
        "the run exercises renewals and refunds: {sa:?}"
    );
    let (la, lb) = (ledger(&a).await, ledger(&b).await);
    assert!(la.len() > 1_000, "{}", la.len());
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(x, y);
    }
    assert_eq!(la.len(), lb.len());
}
