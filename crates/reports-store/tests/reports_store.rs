//! The reports' persistence on a SQLite store: app units add up per day and dimension, and the
//! report files cache keeps files per generation (migrations 0005 and 0007).

use crabapple_reports_store::{AppUnitsRow, ReportFile, ReportsStore, ReportsTx};
use crabapple_store::Store;

fn units(day: &str, territory: &str, n: i64) -> AppUnitsRow {
    AppUnitsRow {
        app_id: "1".into(),
        day: day.into(),
        download_type: "First-time download".into(),
        app_version: "1.0".into(),
        device: "iPhone".into(),
        platform_version: "iOS 18.2".into(),
        source_type: "App Store search".into(),
        source_info: String::new(),
        campaign: String::new(),
        page_type: "Product page".into(),
        territory: territory.into(),
        pre_order: false,
        units: n,
    }
}

#[tokio::test]
async fn units_of_the_same_day_and_dimensions_add_up_and_read_back_by_day_range() {
    let dir = std::env::temp_dir().join(format!("crabapple-units-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("db.sqlite")).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.add_app_units(&[units("2026-11-01", "US", 3), units("2026-11-02", "US", 5)])
        .await
        .unwrap();
    tx.add_app_units(&[units("2026-11-01", "US", 4), units("2026-11-01", "DE", 1)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let got = store.app_units("2026-11-01", "2026-11-01").await.unwrap();
    assert_eq!(
        got,
        vec![units("2026-11-01", "DE", 1), units("2026-11-01", "US", 7)]
    );
    assert_eq!(
        store
            .app_units("2026-11-01", "2026-11-30")
            .await
            .unwrap()
            .len(),
        3
    );
    let mut tx = store.begin().await.unwrap();
    tx.reports_clear().await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        store
            .app_units("2026-01-01", "2026-12-31")
            .await
            .unwrap()
            .is_empty()
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn file(body: &[u8]) -> ReportFile {
    ReportFile {
        status: 200,
        content_type: Some("application/a-gzip".into()),
        headers: vec![(
            "x-reports-filename".into(),
            "S_D_1_20261101_V1_0.txt.gz".into(),
        )],
        body: body.to_vec(),
        reason: String::new(),
    }
}

/// Migration 0007: a file is stored and served only under the generation it was computed at;
/// catalogue writes, units of a reported day and `reports_clear` change the generation, units
/// of a day not reported yet (what the simulator writes) do not.
#[tokio::test]
async fn report_files_are_kept_per_generation_and_the_generation_follows_what_files_read() {
    let dir = std::env::temp_dir().join(format!("crabapple-files-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("db.sqlite")).await.unwrap();
    let now = store.now_ms();
    let g0 = store.report_generation().await.unwrap();
    assert!(
        store
            .put_report_file("k", &g0, &file(b"a"), now)
            .await
            .unwrap()
    );
    assert_eq!(store.report_file("k", &g0).await.unwrap(), Some(file(b"a")));

    let today = crabapple_store::clock::pacific()
        .to_datetime(jiff::Timestamp::from_millisecond(now).unwrap())
        .date();
    let mut tx = store.begin().await.unwrap();
    tx.add_app_units(&[units(&today.to_string(), "US", 1)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.report_generation().await.unwrap(), g0);

    let reported = today.checked_sub(jiff::Span::new().days(2)).unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.add_app_units(&[units(&reported.to_string(), "US", 1)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let g1 = store.report_generation().await.unwrap();
    assert_ne!(g1, g0);
    assert_eq!(store.report_file("k", &g1).await.unwrap(), None);
    assert!(
        store
            .put_report_file("k", &g1, &file(b"b"), now)
            .await
            .unwrap()
    );
    // A file computed under the old generation and stored late is refused, and drops nothing.
    assert!(
        !store
            .put_report_file("late", &g0, &file(b"c"), now)
            .await
            .unwrap()
    );
    assert_eq!(store.report_file("k", &g1).await.unwrap(), Some(file(b"b")));

    let mut tx = store.begin().await.unwrap();
    tx.put("apps", "1", &serde_json::Map::new()).await.unwrap();
    tx.commit().await.unwrap();
    let g2 = store.report_generation().await.unwrap();
    assert_ne!(g2, g1);

    assert!(
        store
            .put_report_file("k", &g2, &file(b"d"), now)
            .await
            .unwrap()
    );
    let mut tx = store.begin().await.unwrap();
    tx.reports_clear().await.unwrap();
    tx.commit().await.unwrap();
    let g3 = store.report_generation().await.unwrap();
    assert_ne!(g3, g2);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_files")
        .fetch_one(store.read_pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    std::fs::remove_dir_all(&dir).ok();
}
