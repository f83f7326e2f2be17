//! Issue 12: several `crabapple serve --database postgres://…` replicas on one PostgreSQL
//! database serve one world. Each test gets a schema of its own on the suite's PostgreSQL
//! (`CRABAPPLE_TEST_POSTGRES_URL`, started by scripts/test.sh with scripts/pg.sh); without it
//! these tests fail, saying so.

mod common;

use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The suite's PostgreSQL URL with a fresh schema for `case`.
fn database(case: &str) -> String {
    let url = std::env::var("CRABAPPLE_TEST_POSTGRES_URL").expect(
        "CRABAPPLE_TEST_POSTGRES_URL: start PostgreSQL with `scripts/pg.sh start` and export the \
         URL it prints (scripts/test.sh does both)",
    );
    let schema = format!("r_{case}_{}", std::process::id());
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

fn scratch(case: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("crabapple-replicas-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A running `serve`, killed when dropped (also when a test fails half-way).
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A replica: `serve` on `data` with the store in `db`; its port once ready.
fn replica(data: &Path, db: &str) -> (Replica, u16) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            db,
            "--data",
        ])
        .arg(data)
        .env_remove("CRABAPPLE_TEST_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crabapple starts");
    let port = wait_ready(&mut child);
    (Replica(child), port)
}

fn token(data: &Path, db: &str) -> String {
    let out = run(&["token", "--database", db], data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Three replicas started at once on a new database: one creates the world, all serve it.
fn three(case: &str) -> (PathBuf, String, Vec<(Replica, u16)>, String) {
    let data = scratch(case);
    let db = database(case);
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let (d, u) = (data.clone(), db.clone());
            std::thread::spawn(move || replica(&d, &u))
        })
        .collect();
    let replicas: Vec<(Replica, u16)> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let token = token(&data, &db);
    (data, db, replicas, token)
}

fn stop(replicas: Vec<(Replica, u16)>, data: &Path) {
    drop(replicas);
    let _ = std::fs::remove_dir_all(data);
}

fn bundle_id(identifier: &str) -> serde_json::Value {
    json!({"data": {"type": "bundleIds", "attributes": {
        "name": "Replica", "identifier": identifier, "platform": "IOS"}}})
}

#[test]
fn issue12_three_replicas_started_at_once_serve_one_world_and_see_each_others_writes() {
    let (data, _db, replicas, token) = three("world");
    let ports: Vec<u16> = replicas.iter().map(|(_, p)| *p).collect();
    // One world: the same apps on every replica.
    // (Their links differ: each names the host the client used.)
    let apps: Vec<serde_json::Value> = ports
        .iter()
        .map(|p| {
            let doc = http(*p, "GET", "/v1/apps?limit=200", Some(&token), None).json();
            let ids: Vec<serde_json::Value> = doc["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].clone())
                .collect();
            serde_json::Value::Array(ids)
        })
        .collect();
    assert!(
        apps.iter().all(|a| a == &apps[0]),
        "replicas disagree on /v1/apps"
    );
    let count = |p: u16| {
        http(p, "GET", "/v1/apps?limit=200", Some(&token), None).json()["data"]
            .as_array()
            .unwrap()
            .len()
    };
    assert!(count(ports[0]) > 0, "the demo world was loaded once");
    // A write on one replica is seen by the others at their next request (their caches too:
    // each read the bundle IDs first).
    for p in &ports {
        assert_eq!(
            http(*p, "GET", "/v1/bundleIds?limit=200", Some(&token), None).status,
            200
        );
    }
    let made = http(
        ports[0],
        "POST",
        "/v1/bundleIds",
        Some(&token),
        Some(&bundle_id("com.replica.seen")),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["data"]["id"].as_str().unwrap().to_string();
    for p in &ports[1..] {
        let got = http(
            *p,
            "GET",
            &format!("/v1/bundleIds/{id}"),
            Some(&token),
            None,
        );
        assert_eq!(got.status, 200, "replica {p}: {}", got.body);
        assert_eq!(
            got.json()["data"]["attributes"]["identifier"],
            "com.replica.seen"
        );
    }
    // A delete on another replica: gone everywhere.
    assert_eq!(
        http(
            ports[2],
            "DELETE",
            &format!("/v1/bundleIds/{id}"),
            Some(&token),
            None
        )
        .status,
        204
    );
    for p in &ports {
        assert_eq!(
            http(
                *p,
                "GET",
                &format!("/v1/bundleIds/{id}"),
                Some(&token),
                None
            )
            .status,
            404
        );
    }
    stop(replicas, &data);
}

/// Issue 12 "caches stay correct across processes: replicas invalidate through LISTEN/NOTIFY on
/// PostgreSQL; a write on replica A is visible on replica B at the next request": once the
/// three replicas rely on notifications (crates/store/src/notify.rs; admin status says so),
/// 60 renames, each on the next replica, are each read back at once on the one after it — whose
/// cache held the previous name.
#[test]
fn issue12_replicas_relying_on_notifications_see_each_write_at_their_next_request() {
    let (data, db, replicas, token) = three("notify");
    let ports: Vec<u16> = replicas.iter().map(|(_, p)| *p).collect();
    let admin = std::fs::read_to_string(data.join("admin-token")).unwrap();
    let admin = [("X-Crabapple-Admin-Token", admin.trim())];
    let coherence = |p: u16| {
        http_with(p, "GET", "/crabapple/admin/status", &admin, None).json()["store"]["coherence"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let started = std::time::Instant::now();
    while !ports.iter().all(|p| coherence(*p) == "notifications") {
        assert!(
            started.elapsed().as_secs() < 20,
            "replicas never relied on notifications"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let made = http(
        ports[0],
        "POST",
        "/v1/bundleIds",
        Some(&token),
        Some(&bundle_id("com.replica.notify")),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["data"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/bundleIds/{id}");
    for i in 0..60 {
        let (writer, reader) = (ports[i % 3], ports[(i + 1) % 3]);
        // The reader's cache holds the bundle ID as it is now.
        assert_eq!(http(reader, "GET", &path, Some(&token), None).status, 200);
        let name = format!("Replica {i}");
        let patch = json!({"data": {"type": "bundleIds", "id": id, "attributes": {"name": name}}});
        let r = http(writer, "PATCH", &path, Some(&token), Some(&patch));
        assert_eq!(r.status, 200, "{}", r.body);
        let got = http(reader, "GET", &path, Some(&token), None);
        assert_eq!(
            got.json()["data"]["attributes"]["name"],
            name.as_str(),
            "rename {i}"
        );
    }
    assert!(ports.iter().all(|p| coherence(*p) == "notifications"));
    // A CLI command is a process too: its commit is acknowledged by every replica before it
    // ends, so the next request anywhere sees the clock it moved.
    let offset = |p: u16| {
        http_with(p, "GET", "/crabapple/admin/status", &admin, None).json()["clock"]["offsetMs"]
            .as_i64()
            .unwrap()
    };
    let before = offset(ports[0]);
    let out = run(&["clock", "advance", "1d", "--database", &db], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in &ports {
        assert_eq!(offset(*p), before + 86_400_000, "replica {p}");
    }
    // A replica stopped by SIGTERM removes its registration on its way out (else writers would
    // wait for its acknowledgement until the registration ran out, up to 2 s later).
    let replicas_seen = |p: u16| {
        http_with(p, "GET", "/crabapple/admin/status", &admin, None).json()["store"]["replicas"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(replicas_seen(ports[0]), 3);
    let mut replicas = replicas;
    let (mut last, _) = replicas.pop().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &last.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = last.0.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(replicas_seen(ports[0]), 2);
    stop(replicas, &data);
}

/// apple-semantics.md §8.2: a bundle identifier is registered once. 50 clients racing across
/// three replicas: exactly one 201, every other one Apple's 409.
#[test]
fn issue12_fifty_parallel_creators_of_one_bundle_identifier_across_replicas_get_one_201() {
    let (data, _db, replicas, token) = three("race");
    let ports: Arc<Vec<u16>> = Arc::new(replicas.iter().map(|(_, p)| *p).collect());
    let token = Arc::new(token);
    let created = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let (ports, token, created) = (ports.clone(), token.clone(), created.clone());
            std::thread::spawn(move || {
                let a = http(
                    ports[i % 3],
                    "POST",
                    "/v1/bundleIds",
                    Some(&token),
                    Some(&bundle_id("com.replica.race")),
                );
                match a.status {
                    201 => {
                        created.fetch_add(1, Ordering::SeqCst);
                    }
                    409 => {
                        let e = &a.json()["errors"][0];
                        assert_eq!(e["code"], "ENTITY_ERROR.ATTRIBUTE.INVALID");
                        assert_eq!(
                            e["detail"],
                            "An App ID with Identifier 'com.replica.race' is not available. \
                             Please enter a different string."
                        );
                    }
                    s => panic!("{s}: {}", a.body),
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(created.load(Ordering::SeqCst), 1);
    let listed = http(
        ports[1],
        "GET",
        "/v1/bundleIds?filter[identifier]=com.replica.race",
        Some(&token),
        None,
    );
    assert_eq!(listed.json()["data"].as_array().unwrap().len(), 1);
    stop(replicas, &data);
}

/// kill -9 of one replica under write load: every write a client got a 201 for is there
/// afterwards; a client whose request died with the replica retries on the survivor.
#[test]
fn issue12_kill_9_of_a_replica_under_write_load_loses_no_acknowledged_write() {
    let data = scratch("kill");
    let db = database("kill");
    let (a, pa) = replica(&data, &db);
    let (b, pb) = replica(&data, &db);
    let token = Arc::new(token(&data, &db));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (token, acknowledged) = (token.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for n in 0..40 {
                    let ident = format!("com.replica.kill.w{w}n{n}");
                    // Alternate replicas; on a dead one (connection refused or cut), retry on
                    // the other.
                    let first = if n % 2 == 0 { pa } else { pb };
                    let mut answer = try_http(first, &token, &ident);
                    if answer.is_none() {
                        answer = try_http(pb, &token, &ident);
                    }
                    match answer {
                        Some((201, _)) | Some((409, _)) => {
                            acknowledged.lock().unwrap().push(ident);
                        }
                        Some((s, body)) => panic!("{s}: {body}"),
                        None => panic!("the survivor refused {ident}"),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut a = a;
    // SIGKILL: no shutdown, no flush.
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    for t in writers {
        t.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), 160);
    let have = |ident: &str| {
        let a = http(
            pb,
            "GET",
            &format!("/v1/bundleIds?filter[identifier]={ident}"),
            Some(&token),
            None,
        );
        a.json()["data"].as_array().unwrap().len() == 1
    };
    let missing: Vec<&String> = acknowledged.iter().filter(|i| !have(i)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    stop(vec![(b, pb)], &data);
}

/// A POST of a bundle ID, `None` when the replica is gone (refused or cut mid-request).
fn try_http(port: u16, token: &str, ident: &str) -> Option<(u16, String)> {
    let body = bundle_id(ident);
    std::panic::catch_unwind(|| {
        let a = http(port, "POST", "/v1/bundleIds", Some(token), Some(&body));
        (a.status, a.body)
    })
    .ok()
}

/// A PostgreSQL cluster of this test's own (scripts/pg.sh in its own directory and port), so
/// restarting it disturbs no other test; stopped and removed when dropped.
struct OwnCluster {
    dir: PathBuf,
    url: String,
}

impl OwnCluster {
    fn start(case: &str) -> OwnCluster {
        let dir = std::env::temp_dir().join(format!("crabapple-pg-{case}-{}", std::process::id()));
        let port = free_port();
        let out = pg_sh(&dir, &["start", &port.to_string()]);
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(url.starts_with("postgres://"), "scripts/pg.sh start: {url}");
        OwnCluster { dir, url }
    }

    fn restart(&self) {
        pg_sh(&self.dir, &["restart"]);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        pg_sh(&self.dir, &["stop"]);
    }
}

fn pg_sh(dir: &Path, args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg.sh");
    let out = Command::new(script)
        .args(args)
        .env("CRABAPPLE_PG_DIR", dir)
        .output()
        .expect("scripts/pg.sh runs");
    assert!(
        out.status.success(),
        "scripts/pg.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Issue 12 "restart the database → replicas reconnect without a restart": the database stops
/// (immediate shutdown, as a crash) and starts again; the same replica process answers reads and
/// writes again, and what was committed before is still there.
#[test]
fn issue12_a_restarted_database_is_reconnected_without_restarting_the_replica() {
    // Needs PostgreSQL like every test here (its own cluster, so the same binaries).
    let _ = database("restart");
    let cluster = OwnCluster::start("restart");
    let data = scratch("restart");
    let (child, port) = replica(&data, &cluster.url);
    let token = token(&data, &cluster.url);
    let made = http(
        port,
        "POST",
        "/v1/bundleIds",
        Some(&token),
        Some(&bundle_id("com.replica.before")),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    cluster.restart();
    // Connections the pool held died with the server; the next requests get fresh ones.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let after = loop {
        let a = http(
            port,
            "POST",
            "/v1/bundleIds",
            Some(&token),
            Some(&bundle_id("com.replica.after")),
        );
        if a.status == 201 || std::time::Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(after.status, 201, "{}", after.body);
    let before = http(
        port,
        "GET",
        "/v1/bundleIds?filter[identifier]=com.replica.before",
        Some(&token),
        None,
    );
    assert_eq!(before.json()["data"].as_array().unwrap().len(), 1);
    stop(vec![(child, port)], &data);
}

/// apple-semantics.md §1.6: a key's hourly quota is one budget whichever replica a request
/// lands on (issue 12: "rate limits per key as Apple's hourly quota across replicas").
#[test]
fn issue12_the_hourly_rate_limit_of_a_key_is_counted_across_replicas() {
    let data = scratch("quota");
    let db = database("quota");
    let start = |d: &Path| {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rate-limit",
                "5",
                "--database",
                &db,
            ])
            .arg("--data")
            .arg(d)
            .env_remove("CRABAPPLE_TEST_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let port = wait_ready(&mut child);
        (Replica(child), port)
    };
    let a = start(&data);
    let b = start(&data);
    let token = token(&data, &db);
    let mut seen = Vec::new();
    for i in 0..6 {
        let port = if i % 2 == 0 { a.1 } else { b.1 };
        let r = http(port, "GET", "/v1/apps?limit=1", Some(&token), None);
        seen.push((r.status, r.header("x-rate-limit").unwrap_or("").to_string()));
    }
    let expected: Vec<(u16, String)> = (0..6)
        .map(|i| match i {
            0..=4 => (200, format!("user-hour-lim:5;user-hour-rem:{};", 4 - i)),
            _ => (429, "user-hour-lim:5;user-hour-rem:0;".to_string()),
        })
        .collect();
    assert_eq!(seen, expected);
    let refused = http(b.1, "GET", "/v1/apps?limit=1", Some(&token), None);
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["errors"][0]["code"], "RATE_LIMIT_EXCEEDED");
    stop(vec![a, b], &data);
}

/// Issue 12 "`crabapple worlds create` → an isolated world on the shared instance": on a
/// PostgreSQL store a world is a schema of its own; both replicas serve it, its data stays out
/// of the default world, and deleting it makes its key Apple's 401 everywhere.
#[test]
fn issue12_a_world_on_the_shared_database_is_served_by_every_replica_and_isolated() {
    let data = scratch("worlds");
    let db = database("worlds");
    let (a, pa) = replica(&data, &db);
    let (b, pb) = replica(&data, &db);
    let default_token = token(&data, &db);
    let made = run(&["worlds", "create", "--json", "--database", &db], &data);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let world: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    let id = world["id"].as_str().unwrap().to_string();
    let out = run(&["--world", &id, "token", "--database", &db], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let world_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // Both replicas serve the world (they learn its key from the registry in the database).
    for p in [pa, pb] {
        let apps = http(p, "GET", "/v1/apps?limit=200", Some(&world_token), None);
        assert_eq!(apps.status, 200, "replica {p}: {}", apps.body);
    }
    let made = http(
        pb,
        "POST",
        "/v1/bundleIds",
        Some(&world_token),
        Some(&bundle_id("com.replica.world")),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id_b = made.json()["data"]["id"].as_str().unwrap().to_string();
    let seen = http(
        pa,
        "GET",
        &format!("/v1/bundleIds/{id_b}"),
        Some(&world_token),
        None,
    );
    assert_eq!(seen.status, 200, "{}", seen.body);
    // Not in the default world.
    let other = http(
        pa,
        "GET",
        "/v1/bundleIds?filter[identifier]=com.replica.world",
        Some(&default_token),
        None,
    );
    assert_eq!(other.json()["data"].as_array().unwrap().len(), 0);
    // Deleted: its key is 401 on both replicas.
    let gone = run(&["worlds", "delete", &id, "--database", &db], &data);
    assert!(
        gone.status.success(),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    for p in [pa, pb] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let status = loop {
            let s = http(p, "GET", "/v1/apps?limit=1", Some(&world_token), None).status;
            if s == 401 || std::time::Instant::now() > deadline {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(status, 401, "replica {p} after the world was deleted");
    }
    stop(vec![(a, pa), (b, pb)], &data);
}
