//! Issue 12 "notification deliveries … are claimed from an outbox with `FOR UPDATE SKIP LOCKED`
//! and leases": one statement claims up to N due notifications and leases them; workers claiming
//! at once get different rows; a lease that ran out (a killed worker's) is claimed again.

use crabapple_storekit::ledger::{LedgerStore, LedgerTx};
use std::collections::HashSet;

use crabapple_store::Store;
use crabapple_storekit::ledger::NotificationRow;
use serde_json::json;

use crate::common::TempDir;

fn row(i: i64, due: i64) -> NotificationRow {
    NotificationRow {
        seq: 0,
        notification_uuid: format!("00000000-0000-4000-8000-{i:012}"),
        app_id: "1".into(),
        bundle_id: "com.example.claims".into(),
        environment: "Production".into(),
        notification_type: "ONE_TIME_CHARGE".into(),
        subtype: None,
        customer_id: None,
        transaction_id: None,
        signed_date_ms: due,
        signed_payload: "jws".into(),
        decoded: Some("{}".into()),
        url: None,
        test_token: None,
        state: "pending".into(),
        attempts: json!([]),
        next_attempt_ms: Some(due),
    }
}

/// `n` pending notifications, the i-th due at `1_000 - i` (due order is the reverse of seq).
async fn outbox(store: &Store, n: i64) {
    let mut tx = store.begin().await.unwrap();
    for i in 0..n {
        tx.ledger_insert_notification(row(i, 1_000 - i))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

fn uuids(rows: &[NotificationRow]) -> Vec<String> {
    rows.iter().map(|r| r.notification_uuid.clone()).collect()
}

#[tokio::test]
async fn a_claim_leases_the_earliest_due_and_a_lapsed_lease_is_claimed_again() {
    let dir = TempDir::new("claims");
    let store = Store::open(&dir.path().join("crabapple.db")).await.unwrap();
    outbox(&store, 5).await;
    // Due by 997: rows 3 and 4 (due 997 and 996), earliest first.
    let first = store
        .ledger_claim_notifications(997, 10, 100, 10)
        .await
        .unwrap();
    assert_eq!(
        uuids(&first),
        [row(4, 0).notification_uuid, row(3, 0).notification_uuid]
    );
    // Leased until wall 100: not claimable before, claimable again after (a killed worker).
    let all = store
        .ledger_claim_notifications(2_000, 50, 100, 2)
        .await
        .unwrap();
    assert_eq!(
        uuids(&all),
        [row(2, 0).notification_uuid, row(1, 0).notification_uuid]
    );
    let rest = store
        .ledger_claim_notifications(2_000, 50, 100, 10)
        .await
        .unwrap();
    assert_eq!(uuids(&rest), [row(0, 0).notification_uuid]);
    assert!(
        store
            .ledger_claim_notifications(2_000, 99, 200, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let lapsed = store
        .ledger_claim_notifications(2_000, 101, 200, 10)
        .await
        .unwrap();
    assert_eq!(lapsed.len(), 5);
    // A recorded attempt releases the lease; a delivered row is never claimed again.
    let n = &lapsed[0];
    store
        .ledger_record_attempt(n.seq, &json!([]), "delivered", None)
        .await
        .unwrap();
    let after = store
        .ledger_claim_notifications(2_000, 201, 300, 10)
        .await
        .unwrap();
    assert_eq!(after.len(), 4);
    assert!(!uuids(&after).contains(&n.notification_uuid));
}

/// Three replicas' stores on one PostgreSQL schema claim 20 at a time, 8 claims each at once:
/// every one of the 300 due notifications is claimed by exactly one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue12_replicas_claiming_at_once_on_postgresql_each_get_different_notifications() {
    let url = crate::common::postgres_url();
    let dir = TempDir::new("claims-pg");
    let schema = format!("claims_{}", std::process::id());
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(
            Store::connect_schema(&url, &schema, dir.path())
                .await
                .unwrap(),
        );
    }
    outbox(&stores[0], 300).await;
    let mut tasks = tokio::task::JoinSet::new();
    for s in &stores {
        for _ in 0..8 {
            let s = s.clone();
            tasks.spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s
                        .ledger_claim_notifications(2_000, 10, 1_000_000, 20)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(uuids(&got));
                }
            });
        }
    }
    let mut claimed = Vec::new();
    while let Some(r) = tasks.join_next().await {
        claimed.extend(r.unwrap());
    }
    let distinct: HashSet<&String> = claimed.iter().collect();
    assert_eq!(claimed.len(), 300, "claims in all");
    assert_eq!(distinct.len(), 300, "each notification claimed once");
    Store::drop_schema(&url, &schema).await.unwrap();
}
