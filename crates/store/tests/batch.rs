//! Writes kept in memory (`Tx::batch_writes`, issue 12: the demo world created in under 1 s on
//! PostgreSQL) write the very rows the same writes make one statement at a time: resources in
//! the same `seq` order with the same attributes and times, linkage with the same `ord` — on a
//! new store (where the transaction knows everything there is) and on one that has rows, and
//! every read inside the transaction sees what was kept.

use std::path::PathBuf;

use crabapple_store::{Store, Tx};
use serde_json::{Map, Value, json};
use sqlx::Row;

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crabapple-batch-{label}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A world's worth of writes with reads between them; what each read answered.
async fn write_and_read(tx: &mut Tx, round: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let now = tx.now_ms();
    for n in 0..30 {
        let id = format!("app{n}");
        tx.put(
            "apps",
            &id,
            &attrs(json!({"name": format!("{round} {n}"), "n": n})),
        )
        .await
        .unwrap();
    }
    // A put again keeps the resource's place; a creation time set after the put sticks.
    tx.put("apps", "app3", &attrs(json!({"name": "again"})))
        .await
        .unwrap();
    tx.set_created_ms("apps", "app4", now - 86_400_000)
        .await
        .unwrap();
    tx.set_created_ms("apps", "app5", now).await.unwrap();
    for n in 0..10 {
        let id = format!("b{n}");
        tx.put("builds", &id, &attrs(json!({"version": n})))
            .await
            .unwrap();
        tx.link(("apps", "app1"), "builds", ("builds", &id))
            .await
            .unwrap();
        tx.link(("builds", &id), "app", ("apps", "app1"))
            .await
            .unwrap();
    }
    // Linkage added twice stays once, in its first place.
    tx.link(("apps", "app1"), "builds", ("builds", "b2"))
        .await
        .unwrap();
    seen.push(format!(
        "exists {} {}",
        tx.exists("apps", "app29").await.unwrap(),
        tx.exists("apps", "nope").await.unwrap()
    ));
    seen.push(format!(
        "has linkage {} {}",
        tx.has_linkage("builds", "app").await.unwrap(),
        tx.has_linkage("apps", "appInfos").await.unwrap()
    ));
    seen.push(format!(
        "linked {:?}",
        tx.linked("apps", "app1", "builds").await.unwrap()
    ));
    tx.unlink(("apps", "app1"), "builds", ("builds", "b0"))
        .await
        .unwrap();
    tx.link(("apps", "app1"), "builds", ("builds", "b0"))
        .await
        .unwrap();
    seen.push(format!(
        "linked again {:?}",
        tx.linked("apps", "app1", "builds").await.unwrap()
    ));
    seen.push(format!(
        "linking {:?}",
        tx.linking("builds", "app", ("apps", "app1")).await.unwrap()
    ));
    seen.push(format!(
        "linked any {:?}",
        tx.linked_any("apps", "app1", "builds").await.unwrap()
    ));
    let got = tx.get("apps", "app3").await.unwrap().unwrap();
    seen.push(format!("get {:?}", got.attributes));
    seen.push(format!(
        "get nope {:?}",
        tx.get("apps", "nope").await.unwrap()
    ));
    seen.push(format!("ids {:?}", tx.ids("apps").await.unwrap()));
    seen.push(format!(
        "find {:?}",
        tx.find_ids("builds", "version", &json!(3)).await.unwrap()
    ));
    // Writes after reads, then a delete of a resource with linkage.
    tx.put("apps", "late", &attrs(json!({"name": "late"})))
        .await
        .unwrap();
    tx.link(("apps", "late"), "builds", ("builds", "b9"))
        .await
        .unwrap();
    tx.delete("builds", "b8").await.unwrap();
    tx.unlink_all(("builds", "b7"), "app").await.unwrap();
    seen.push(format!(
        "after delete {} {:?} {:?}",
        tx.exists("builds", "b8").await.unwrap(),
        tx.linked("apps", "app1", "builds").await.unwrap(),
        tx.linked("builds", "b7", "app").await.unwrap()
    ));
    seen
}

/// A time as the round it was the time of (`t0`, `t1`), or a day before it.
fn when(v: i64, nows: &[i64]) -> String {
    for (i, n) in nows.iter().enumerate().rev() {
        if v == *n {
            return format!("t{i}");
        }
        if v == n - 86_400_000 {
            return format!("t{i} - 1 day");
        }
    }
    v.to_string()
}

/// Every row of resources and linkage, times named by [`when`].
async fn rows(store: &Store, nows: &[i64]) -> (Vec<String>, Vec<String>) {
    let resources = sqlx::query(
        "SELECT type, id, attributes, created_ms, updated_ms FROM resources ORDER BY seq",
    )
    .fetch_all(store.read_pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        format!(
            "{}/{} {} created {} updated {}",
            r.get::<String, _>(0),
            r.get::<String, _>(1),
            r.get::<String, _>(2),
            when(r.get::<i64, _>(3), nows),
            when(r.get::<i64, _>(4), nows)
        )
    })
    .collect();
    let edges = sqlx::query(
        "SELECT src_type, src_id, rel, dst_type, dst_id, ord FROM edges \
         ORDER BY src_type, src_id, rel, dst_type, dst_id",
    )
    .fetch_all(store.read_pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        format!(
            "{}/{} {} {}/{} #{}",
            r.get::<String, _>(0),
            r.get::<String, _>(1),
            r.get::<String, _>(2),
            r.get::<String, _>(3),
            r.get::<String, _>(4),
            r.get::<i64, _>(5)
        )
    })
    .collect();
    (resources, edges)
}

/// Two rounds of writes on `store`, kept in memory or not; the rows after each round.
/// What the reads of each round answered, and the rows after it.
type Round = (Vec<String>, Vec<String>, Vec<String>);

async fn two_rounds(store: &Store, batch: bool) -> Vec<Round> {
    let mut out = Vec::new();
    let mut nows = Vec::new();
    for round in ["first", "second"] {
        // The rounds' times differ.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let mut tx = store.begin().await.unwrap();
        if batch {
            tx.batch_writes().await.unwrap();
        }
        nows.push(tx.now_ms());
        let seen = write_and_read(&mut tx, round).await;
        tx.commit().await.unwrap();
        let (resources, edges) = rows(store, &nows).await;
        out.push((seen, resources, edges));
    }
    out
}

async fn same_rows_either_way(plain: Store, batched: Store) {
    let expected = two_rounds(&plain, false).await;
    let (seen, resources, edges) = &expected[0];
    assert_eq!(seen[0], "exists true false");
    assert!(seen[2].starts_with(r#"linked [("builds", "b0"), ("builds", "b1")"#));
    assert_eq!(resources.len(), 40, "{resources:?}");
    assert_eq!(
        resources[4],
        format!(r#"apps/app4 {{"name":"first 4","n":4}} created t0 - 1 day updated t0"#)
    );
    assert_eq!(edges.len(), 18, "{edges:?}");
    let got = two_rounds(&batched, true).await;
    for (round, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got.0, expected.0, "reads of round {round}");
        assert_eq!(got.1, expected.1, "resources after round {round}");
        assert_eq!(got.2, expected.2, "linkage after round {round}");
    }
}

#[tokio::test]
async fn kept_writes_make_the_same_rows_on_sqlite() {
    let (a, b) = (temp_dir("plain"), temp_dir("kept"));
    same_rows_either_way(
        Store::open(&a.join("crabapple.db")).await.unwrap(),
        Store::open(&b.join("crabapple.db")).await.unwrap(),
    )
    .await;
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

/// The suite's PostgreSQL (scripts/test.sh starts it and exports the URL).
fn postgres_url() -> String {
    std::env::var("CRABAPPLE_TEST_POSTGRES_URL").expect(
        "CRABAPPLE_TEST_POSTGRES_URL: start PostgreSQL with `scripts/pg.sh start` and export the \
         URL it prints (scripts/test.sh does both)",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_writes_make_the_same_rows_on_postgres() {
    let url = postgres_url();
    let dir = temp_dir("pg");
    let pid = std::process::id();
    let (a, b) = (format!("batch_plain_{pid}"), format!("batch_kept_{pid}"));
    same_rows_either_way(
        Store::connect_schema(&url, &a, &dir).await.unwrap(),
        Store::connect_schema(&url, &b, &dir).await.unwrap(),
    )
    .await;
    for s in [a, b] {
        Store::drop_schema(&url, &s).await.unwrap();
    }
    let _ = std::fs::remove_dir_all(dir);
}
