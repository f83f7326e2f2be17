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

/// A replica: `serve` on `data` with the store in `db`; its port once ready.
fn replica(data: &Path, db: &str) -> (Child, u16) {
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
    (child, port)
}

fn token(data: &Path, db: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "--database", db, "--data"])
        .arg(data)
        .env_remove("CRABAPPLE_TEST_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Three replicas started at once on a new database: one creates the world, all serve it.
fn three(case: &str) -> (PathBuf, String, Vec<(Child, u16)>, String) {
    let data = scratch(case);
    let db = database(case);
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let (d, u) = (data.clone(), db.clone());
            std::thread::spawn(move || replica(&d, &u))
        })
        .collect();
    let replicas: Vec<(Child, u16)> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let token = token(&data, &db);
    (data, db, replicas, token)
}

fn stop(replicas: Vec<(Child, u16)>, data: &Path) {
    for (mut c, _) in replicas {
        let _ = c.kill();
        let _ = c.wait();
    }
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
    a.kill().unwrap();
    a.wait().unwrap();
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
