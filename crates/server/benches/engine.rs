//! `cargo bench -p crabapple-server`: the engine in-process (no sockets), through the same router a
//! client reaches: authenticated GET of one app, and of the apps collection with builds included.
//! Prints requests per second and percentiles; asserts nothing.

use axum::body::Body;
use crabapple_server::setup::{self, WorldChoice};
use crabapple_server::{App, Config, keys};
use http_body_util::BodyExt;
use std::time::{Duration, Instant};
use tower::ServiceExt;

async fn run(router: &axum::Router, token: &str, uri: &str, n: usize) {
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let req = axum::http::Request::builder()
            .uri(uri)
            .header("host", "bench")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.into_body().collect().await.unwrap();
        lat.push(t.elapsed());
    }
    let total = start.elapsed();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "{uri:<45} {:>8.0} req/s   p50 {:>7.1?}  p99 {:>7.1?}  (n={n}, one task)",
        n as f64 / total.as_secs_f64(),
        p(0.50),
        p(0.99)
    );
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("crabapple-bench-{}", std::process::id()));
    let store = setup::open(&dir).await.unwrap();
    let config = Config {
        data_dir: dir.clone(),
        public_url: None,
        rate_limit: u64::MAX / 2,
        world: WorldChoice::Demo,
        admin: Default::default(),
        allow_link_local_urls: false,
    };
    let t = Instant::now();
    let app = App::new(store, config).await.unwrap();
    setup::first_start(&app.engine, &dir, &WorldChoice::Demo)
        .await
        .unwrap();
    app.reload_keys().await.unwrap();
    println!("first start (store + demo world + key): {:?}", t.elapsed());
    let k = keys::list(app.store(), &dir).await.unwrap().remove(0);
    let p8 = std::fs::read_to_string(&k.key_path).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token =
        crabapple_auth::mint_asc_token(&p8, &k.key_id, Some(&k.issuer_id), now, 1200, &[]).unwrap();
    let (apps, _) = app
        .store()
        .list(&crabapple_store::ListQuery {
            rtype: "apps".into(),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let id = apps[0].id.clone();
    let router = crabapple_server::router(app.clone());
    // Pieces of one request, timed alone.
    let t = Instant::now();
    for _ in 0..2000 {
        app.store().get("apps", &id).await.unwrap();
    }
    println!(
        "store.get(apps, id)                           {:>8.1?} each",
        t.elapsed() / 2000
    );
    let t = Instant::now();
    let q: Vec<(String, String)> = Vec::new();
    for _ in 0..2000 {
        let target = crabapple_auth::RequestTarget {
            method: "GET",
            path: "/v1/apps/1",
            query: &q,
        };
        app.verifier
            .verify_asc(
                Some(&format!("Bearer {token}")),
                &target,
                now,
                &|k: &str| app.key(k),
            )
            .unwrap();
    }
    println!(
        "verify_asc (cached token)                     {:>8.1?} each",
        t.elapsed() / 2000
    );
    let n = std::env::var("BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    run(&router, &token, &format!("/v1/apps/{id}"), n / 10).await; // warm-up
    run(&router, &token, &format!("/v1/apps/{id}"), n).await;
    run(&router, &token, "/v1/apps?include=builds", n).await;
    run(
        &router,
        &token,
        "/v1/apps?include=builds,appStoreVersions&limit=50",
        n / 3,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let _ = std::fs::remove_dir_all(dir);
}
