//! Issue 12's CI job, with the real binary: `crabapple worlds create` beside a running server,
//! its key's token served at once (the server reads the registry the CLI wrote), `--world` on the
//! other commands, `worlds export` → `worlds create --seed`, and `worlds delete` after which the
//! token is Apple's 401.

mod common;

use common::{http, run, serve, wait_ready};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn scratch() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crabapple-worlds-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn stdout(args: &[&str], data: &Path) -> String {
    let out = run(args, data);
    assert!(
        out.status.success(),
        "crabapple {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_ci_job_creates_a_world_uses_it_exports_it_and_deletes_it() {
    let data = scratch();
    let mut server = serve(&data);
    let port = wait_ready(&mut server);
    let created: serde_json::Value = serde_json::from_str(&stdout(
        &["worlds", "create", "--name", "ci-1", "--json"],
        &data,
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "ci-1");
    assert_eq!(
        created["baseUrl"],
        format!("http://127.0.0.1:8686/crabapple/worlds/{id}")
    );
    let token = stdout(&["token", "--world", &id], &data).trim().to_string();
    let prefixed = format!("/crabapple/worlds/{id}/v1/apps");
    for path in ["/v1/apps", prefixed.as_str()] {
        let r = http(port, "GET", path, Some(&token), None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let default_token = stdout(&["token"], &data).trim().to_string();
    let r = http(port, "GET", &prefixed, Some(&default_token), None);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["errors"][0]["code"], "NOT_AUTHORIZED");
    // --world: the world's clock moves, the default world's does not.
    stdout(&["clock", "advance", "3d", "--world", &id], &data);
    assert!(stdout(&["clock", "show", "--world", &id], &data).contains("(offset 259200000 ms)"));
    assert!(stdout(&["clock", "show"], &data).contains("(offset 0 ms)"));
    // Export → create.
    let file = data.with_extension("world.yaml");
    stdout(
        &["worlds", "export", &id, "--out", file.to_str().unwrap()],
        &data,
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(&format!("# crabapple world export: ci-1 ({id})\n")));
    assert!(text.contains("offsetMs: 259200000"));
    let copy = stdout(
        &[
            "worlds",
            "create",
            "--seed",
            file.to_str().unwrap(),
            "--name",
            "copy",
        ],
        &data,
    );
    assert!(copy.starts_with("world "), "{copy}");
    let list = stdout(&["worlds", "list"], &data);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains("  ci-1  ") && list.contains("  copy  "),
        "{list}"
    );
    // Delete: the server lets the world go within a second; its token is then Apple's 401.
    assert_eq!(
        stdout(&["worlds", "delete", &id], &data),
        format!("deleted world {id}\n")
    );
    let start = Instant::now();
    loop {
        let r = http(port, "GET", "/v1/apps", Some(&token), None);
        if r.status == 401 {
            assert_eq!(r.json()["errors"][0]["code"], "NOT_AUTHORIZED");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still {} after a delete",
            r.status
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = http(port, "GET", &prefixed, Some(&token), None);
    assert_eq!(r.status, 404);
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&data);
}
