//! The simulator end to end on the demo world (issue 9, "What a user does"): the same seed gives
//! the same app units and transactions, the summary agrees with the ledger, a simulated
//! purchase is in the App Store Server API's transaction history, and a second run continues
//! where the first stopped.

#[path = "../../server/tests/common/mod.rs"]
mod common;

use base64::Engine as _;
use crabapple_reports::{AppUnitsRow, ReportsStore};
use crabapple_simulator::traffic::{Profile, parse_section};
use crabapple_simulator::{Options, Summary, clock, simulate};
use crabapple_storekit::ledger::LedgerStore;
use jiff::civil::Date;
use serde_json::Value;

const APPS: &[&str] = &[
    "com.crabapple.notes",
    "com.crabapple.orchardquest",
    "com.crabapple.fit",
];

fn opts(days: u32, start: Option<Date>) -> Options {
    Options {
        days,
        seed: 42,
        apps: APPS.iter().map(|s| s.to_string()).collect(),
        profile: Some(Profile::Small),
        traffic: parse_section(crabapple_asc::world::DEMO_YAML).unwrap(),
        start,
        statement_by_statement: false,
    }
}

/// A day both worlds of a test can start on (the day after tomorrow, Pacific).
fn common_start() -> Date {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    clock::first_day_from(wall) + jiff::Span::new().days(2)
}

async fn run(w: &common::World, o: &Options) -> Summary {
    simulate(&w.app.commerce, o, |_| {}).await.unwrap()
}

async fn units(w: &common::World) -> Vec<AppUnitsRow> {
    w.app
        .store()
        .app_units("2000-01-01", "2999-12-31")
        .await
        .unwrap()
}

async fn db(w: &common::World) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=ro", w.dir.join("crabapple.db").display());
    sqlx::SqlitePool::connect(&url).await.unwrap()
}

type TxnRow = (
    String,
    String,
    i64,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    String,
);

async fn transactions(w: &common::World) -> Vec<TxnRow> {
    sqlx::query_as(
        "SELECT transaction_id, original_transaction_id, customer_id, product_id, purchase_ms,
         expires_ms, revoked_ms, payload FROM commerce_transactions ORDER BY transaction_id",
    )
    .fetch_all(&db(w).await)
    .await
    .unwrap()
}

async fn scalar(w: &common::World, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&db(w).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn same_seed_and_world_give_identical_units_and_transactions() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    let start = Some(common_start());
    let (a, b) = (common::demo().await, common::demo().await);
    let (sa, sb) = (
        run(&a, &opts(30, start)).await,
        run(&b, &opts(30, start)).await,
    );
    assert_eq!(sa, sb);
    assert_eq!(sa.days, 30);
    assert!(sa.purchases > 20 && sa.downloads > 5_000, "{sa:?}");
    let (ua, ub) = (units(&a).await, units(&b).await);
    assert!(!ua.is_empty());
    assert_eq!(ua, ub);
    let (ta, tb) = (transactions(&a).await, transactions(&b).await);
    assert_eq!(ta.len() as u64, sa.purchases + sa.renewals);
    assert_eq!(ta, tb);
    // Another seed is another history.
    let c = common::demo().await;
    let other = Options {
        seed: 7,
        ..opts(30, start)
    };
    run(&c, &other).await;
    assert_ne!(units(&c).await, ua);
}

#[tokio::test]
async fn the_summary_agrees_with_the_ledger() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    let w = common::demo().await;
    let s = run(&w, &opts(45, None)).await;
    let first_time: i64 = units(&w)
        .await
        .iter()
        .filter(|u| u.download_type == "First-time download")
        .map(|u| u.units)
        .sum();
    assert_eq!(first_time as u64, s.downloads);
    let purchases = scalar(
        &w,
        "SELECT COUNT(*) FROM commerce_transactions WHERE json_extract(payload, '$.transactionReason') = 'PURCHASE'",
    )
    .await;
    let renewals = scalar(
        &w,
        "SELECT COUNT(*) FROM commerce_transactions WHERE json_extract(payload, '$.transactionReason') = 'RENEWAL'",
    )
    .await;
    let refunds = scalar(
        &w,
        "SELECT COUNT(*) FROM commerce_transactions WHERE json_extract(payload, '$.revocationType') LIKE 'REFUND%'",
    )
    .await;
    let notifications = scalar(&w, "SELECT COUNT(*) FROM commerce_notifications").await;
    assert_eq!(
        (purchases, renewals, refunds, notifications),
        (
            s.purchases as i64,
            s.renewals as i64,
            s.refunds as i64,
            s.notifications as i64
        ),
        "{s:?}"
    );
    assert!(s.renewals > 0 && s.refunds > 0, "{s:?}");
    // Every kind of offer the model uses was redeemed, and Family Sharing happened.
    for (sql, what) in [
        (
            "SELECT COUNT(*) FROM commerce_transactions WHERE json_extract(payload, '$.offerType') = 1",
            "introductory",
        ),
        (
            "SELECT COUNT(*) FROM commerce_transactions WHERE json_extract(payload, '$.type') = 'Consumable'",
            "consumable",
        ),
        (
            "SELECT COUNT(*) FROM commerce_transactions WHERE json_extract(payload, '$.type') = 'Non-Consumable'",
            "non-consumable",
        ),
        (
            "SELECT COUNT(*) FROM commerce_notifications WHERE notification_type = 'DID_CHANGE_RENEWAL_STATUS'",
            "auto-renew off",
        ),
        (
            "SELECT COUNT(*) FROM commerce_notifications WHERE notification_type = 'DID_CHANGE_RENEWAL_PREF'",
            "crossgrade",
        ),
        (
            "SELECT COUNT(*) FROM commerce_notifications WHERE subtype = 'GRACE_PERIOD'",
            "billing grace period",
        ),
        (
            "SELECT COUNT(*) FROM commerce_transactions WHERE ownership = 'FAMILY_SHARED'",
            "Family Sharing",
        ),
    ] {
        assert!(scalar(&w, sql).await > 0, "no {what}");
    }
}

#[tokio::test]
async fn a_simulated_purchase_is_in_the_app_store_server_api_history() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    let w = common::demo().await;
    run(&w, &opts(5, None)).await;
    let (id, bundle): (String, String) = sqlx::query_as(
        "SELECT transaction_id, bundle_id FROM commerce_transactions ORDER BY transaction_id LIMIT 1",
    )
    .fetch_one(&db(&w).await)
    .await
    .unwrap();
    let token = w.server_api_token(&bundle).await;
    let r = w
        .call(
            "GET",
            &format!("/inApps/v2/history/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let signed = r.json()["signedTransactions"].as_array().unwrap().clone();
    let ids: Vec<String> = signed
        .iter()
        .map(|s| {
            let payload = s.as_str().unwrap().split('.').nth(1).unwrap();
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["environment"], "Production");
            v["transactionId"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(ids.contains(&id), "{id} not in {ids:?}");
}

#[tokio::test]
async fn simulating_twice_continues_where_the_first_run_stopped() {
    let w = common::demo().await;
    let first = run(&w, &opts(4, None)).await;
    let second = run(&w, &opts(3, None)).await;
    assert_eq!(
        second.first_day.unwrap(),
        first.last_day.unwrap().tomorrow().unwrap()
    );
    let days: std::collections::BTreeSet<String> =
        units(&w).await.into_iter().map(|u| u.day).collect();
    assert_eq!(days.len(), 7, "{days:?}");
    // The clock stands at the end of the last simulated day.
    let end = clock::day_start_ms(second.last_day.unwrap().tomorrow().unwrap());
    assert!(w.app.store().now_ms() >= end);
    // A start before what is already simulated is refused.
    let err = simulate(&w.app.commerce, &opts(1, first.first_day), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is before"), "{err}");
}

#[tokio::test]
async fn black_friday_week_redeems_the_worlds_named_offer_code() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    let w = common::demo().await;
    let o = Options {
        apps: vec!["com.crabapple.notes".into()],
        profile: Some(Profile::Indie),
        ..opts(3, Some(jiff::civil::date(2027, 11, 25)))
    };
    run(&w, &o).await;
    let named: Vec<(String, i64)> = sqlx::query_as(
        "SELECT DISTINCT json_extract(payload, '$.offerIdentifier'), json_extract(payload, '$.price')
         FROM commerce_transactions WHERE json_extract(payload, '$.offerType') = 3",
    )
    .fetch_all(&db(&w).await)
    .await
    .unwrap();
    assert!(!named.is_empty());
    assert!(named.iter().all(|(n, _)| n == "BLACKFRIDAY30"), "{named:?}");
    // 30 % off the monthly price the purchase would have charged.
    let list: i64 = scalar(
        &w,
        "SELECT json_extract(payload, '$.price') FROM commerce_transactions
         WHERE product_id = 'com.crabapple.notes.pro.monthly' AND json_extract(payload, '$.offerType') IS NULL
         AND json_extract(payload, '$.storefront') = 'USA' LIMIT 1",
    )
    .await;
    assert!(
        named.iter().any(|(_, p)| *p == list * 7 / 10 / 10 * 10),
        "{named:?} vs list {list}"
    );
}

/// Simulated notifications are stored unsigned and signed when first read (migration 0006): the
/// Notification History API answers Apple's verifiable JWS, the same bytes on every read, whose
/// transaction and renewal info are the ones the event stored.
#[tokio::test]
async fn simulated_notifications_are_signed_when_first_read_and_keep_their_bytes() {
    // Reads the SQLite file itself (below), also in the suite's PostgreSQL pass.
    crabapple_server::setup::use_embedded();
    use crabapple_storekit::models::Environment;
    use crabapple_storekit::verify::SignedDataVerifier;
    let w = common::demo().await;
    let o = Options {
        apps: vec!["com.crabapple.notes".into()],
        ..opts(3, None)
    };
    run(&w, &o).await;
    let unsigned: i64 = scalar(
        &w,
        "SELECT COUNT(*) FROM commerce_notifications WHERE signed_payload = ''",
    )
    .await;
    assert!(unsigned > 0);
    let app: crabapple_storekit::ledger::AppRow = w
        .app
        .store()
        .ledger_app_by_bundle("com.crabapple.notes")
        .await
        .unwrap()
        .unwrap();
    let token = w.server_api_token(&app.bundle_id).await;
    let now = w.app.store().now_ms();
    let body = serde_json::json!({"startDate": now - 5 * 86_400_000, "endDate": now});
    let first = notification_history(&w, &token, &body).await;
    assert!(!first.is_empty());
    assert_eq!(
        notification_history(&w, &token, &body).await,
        first,
        "a second read gets the same bytes"
    );
    let root = w.app.commerce.pki().root_der().to_vec();
    let v = SignedDataVerifier::new(
        root,
        Environment::Production,
        &app.bundle_id,
        app.id.parse().ok(),
    );
    for item in &first {
        let d = v
            .verify_and_decode_notification(item["signedPayload"].as_str().unwrap())
            .unwrap();
        let data = d.data.unwrap();
        let t = v
            .verify_and_decode_signed_transaction(data.signed_transaction_info.as_deref().unwrap())
            .unwrap();
        let stored = w
            .app
            .store()
            .ledger_transaction(t.transaction_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t.product_id.as_deref(), Some(stored.product_id.as_str()));
        assert_eq!(t.signed_date, d.signed_date);
    }
}

async fn notification_history(w: &common::World, token: &str, body: &Value) -> Vec<Value> {
    let r = w
        .call(
            "POST",
            "/inApps/v1/notifications/history",
            Some(token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["notificationHistory"].as_array().unwrap().clone()
}
