//! Issue 8, "Full disk and other storage faults", the real thing: `crabapple serve` on a data
//! directory in a 16 MiB tmpfs, and the CLI on the same directory. A file fills the disk; every
//! write then answers an honest error (Apple's 500 `UNEXPECTED_ERROR` with the reason "storage
//! full: …", the CLI a one-line error) and nothing is acknowledged that a read does not show.
//! The file is deleted; without a restart, a POST then GET returns the resource, a PATCH then GET
//! shows the change, a CLI purchase is stored, seen by the server and notified once, and
//! `crabapple keys create` makes a key (on the full disk it failed and left no key file, and a
//! second `serve` stopped with one line saying the disk is full).
//! (The in-suite form without root: crates/server/tests/full_disk.rs.)
//!
//! Mounting needs root: run as another user, the test fails and says so.

mod common;

use common::{Answer, exit_of, http, run, serve, serve_with, wait_ready};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Apple's 500 detail (apple-semantics.md §1.5 error envelope).
const UNEXPECTED_DETAIL: &str = "An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/.";
/// A demo app and one of its consumables (crates/asc/world/demo.yaml).
const BUNDLE: &str = "com.crabapple.orchardquest";
const PRODUCT: &str = "com.crabapple.orchardquest.seeds.small";
/// At most this many writes before a full disk must have refused one.
const TRIES: usize = 50;

/// A tmpfs mounted for the test; unmounted (and the server stopped) when dropped.
struct Mount {
    dir: PathBuf,
    server: Option<Child>,
}

impl Mount {
    fn new(size: &str) -> Mount {
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        assert_eq!(
            String::from_utf8_lossy(&uid).trim(),
            "0",
            "this test mounts a tmpfs (size={size}) to fill a real disk: run it as root \
             (CI's .ci/run does), or run crates/server/tests/full_disk.rs for the form without root"
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("crabapple-full-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs on {} failed (root without CAP_SYS_ADMIN?): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Mount { dir, server: None }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Writes zeros to `file` until the file system has no space left; the bytes written.
fn fill(file: &Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
    let _ = f.sync_all();
    written
}

fn assert_full_asc(r: &Answer, what: &str) {
    assert_eq!(r.status, 500, "{what}: {}", r.body);
    let e = &r.json()["errors"][0];
    assert_eq!(e["code"], "UNEXPECTED_ERROR", "{what}");
    assert_eq!(e["title"], "An unexpected error occurred.", "{what}");
    assert_eq!(e["detail"], UNEXPECTED_DETAIL, "{what}");
    let reason = r.header("x-crabapple-reason").unwrap_or_default();
    assert!(
        reason.starts_with("storage full: ") && reason.contains("nothing was saved"),
        "{what}: reason {reason:?}"
    );
}

fn post_bundle(port: u16, token: &str, i: &str) -> Answer {
    http(
        port,
        "POST",
        "/v1/bundleIds",
        Some(token),
        Some(&bundle_doc(i)),
    )
}

fn get_bundle(port: u16, token: &str, id: &str) -> Answer {
    http(
        port,
        "GET",
        &format!("/v1/bundleIds/{id}"),
        Some(token),
        None,
    )
}

fn rename(port: u16, token: &str, id: &str, name: &str) -> Answer {
    let doc = rename_doc(id, name);
    http(
        port,
        "PATCH",
        &format!("/v1/bundleIds/{id}"),
        Some(token),
        Some(&doc),
    )
}

fn bundle_doc(i: &str) -> Value {
    json!({"data": {"type": "bundleIds", "attributes": {
        "name": format!("Full disk {i}"), "identifier": format!("com.example.tmpfs.{i}"), "platform": "IOS"}}})
}

fn rename_doc(id: &str, name: &str) -> Value {
    json!({"data": {"type": "bundleIds", "id": id, "attributes": {"name": name}}})
}

/// The admin token `serve` keeps in `data` (sent as a bearer token on admin paths).
fn admin_token(data: &Path) -> String {
    crabapple_server::access::read_token(data).expect("serve wrote the admin token")
}

/// Notifications in the outbox, as the admin API lists them.
fn outbox(port: u16, data: &Path) -> usize {
    let r = http(
        port,
        "GET",
        "/crabapple/admin/commerce/notifications?limit=100000",
        Some(&admin_token(data)),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["data"].as_array().unwrap().len()
}

/// `AuthKey_*.p8` files in the data directory.
fn key_files(data: &Path) -> usize {
    std::fs::read_dir(data)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("AuthKey_") && name.ends_with(".p8")
        })
        .count()
}

fn purchase(data: &Path, customer: &str) -> std::process::Output {
    run(
        &[
            "purchase",
            "--bundle-id",
            BUNDLE,
            "--product",
            PRODUCT,
            "--customer",
            customer,
            "--json",
        ],
        data,
    )
}

#[test]
fn a_full_tmpfs_refuses_writes_honestly_and_everything_works_again_when_space_returns() {
    let mut mount = Mount::new("16m");
    let data = mount.dir.join("data");
    // The server's log goes outside the full disk.
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crabapple-full-disk-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = serve_with(&data, log);
    let port = wait_ready(&mut server);
    mount.server = Some(server);
    let token = String::from_utf8(run(&["token"], &data).stdout).unwrap();
    let token = token.trim();

    let r = post_bundle(port, token, "before");
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let notified = outbox(port, &data);

    let filler = mount.dir.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0);

    // POST: refused within a few tries (an append to the WAL may still fit in a page the file
    // already has); each 201 before is readable, the refused one left nothing.
    let mut acknowledged = Vec::new();
    let (i, refused) = loop {
        assert!(
            acknowledged.len() < TRIES,
            "no POST refused on a full disk in {TRIES}"
        );
        let i = format!("full{}", acknowledged.len());
        let r = post_bundle(port, token, &i);
        if r.status != 201 {
            break (i, r);
        }
        acknowledged.push(r.json()["data"]["id"].as_str().unwrap().to_string());
    };
    assert_full_asc(&refused, "POST on a full disk");
    eprintln!(
        "filled {filled} bytes; {} POSTs acknowledged before the first refusal",
        acknowledged.len()
    );
    let path = format!("/v1/bundleIds?filter[identifier]=com.example.tmpfs.{i}");
    let r = http(port, "GET", &path, Some(token), None);
    assert_eq!(r.status, 200, "reads still work on a full disk: {}", r.body);
    assert_eq!(
        r.json()["data"],
        json!([]),
        "a refused POST left its resource"
    );
    for a in &acknowledged {
        let r = get_bundle(port, token, a);
        assert_eq!(r.status, 200, "an acknowledged POST is readable");
    }

    // PATCH: refused, and not applied.
    let r = rename(port, token, &id, "Renamed on a full disk");
    let shown = get_bundle(port, token, &id).json();
    if r.status == 200 {
        assert_eq!(
            shown["data"]["attributes"]["name"],
            "Renamed on a full disk"
        );
    } else {
        assert_full_asc(&r, "PATCH on a full disk");
        assert_eq!(shown["data"]["attributes"]["name"], "Full disk before");
    }

    // The CLI: one clear error line naming the cause, no notification left behind.
    let out = purchase(&data, "full");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a purchase on a full disk succeeded: {stderr}"
    );
    assert_ne!(out.status.code(), Some(101), "the CLI panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1
            && lines[0].starts_with("crabapple: ")
            && lines[0].contains("storage full: "),
        "one error line expected; stderr: {stderr}"
    );
    assert_eq!(
        outbox(port, &data),
        notified,
        "a refused purchase left a notification"
    );

    // A new API key: refused the same way, and no key file is left of a key that does not exist.
    let keys_before = key_files(&data);
    let out = run(&["keys", "create", "--role", "DEVELOPER"], &data);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "keys create on a full disk: {stderr}"
    );
    assert!(stderr.contains("storage full: "), "stderr: {stderr}");
    assert_eq!(key_files(&data), keys_before, "a refused key left its file");

    // A second server cannot start on the full disk (a start writes first): one clear line.
    let out = exit_of(serve(&data), "serve on a full disk");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "serve started on a full disk: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("crabapple: storage full: ") && last.contains("crabapple.db"),
        "stderr: {stderr}"
    );

    // Space returns: no restart.
    std::fs::remove_file(&filler).unwrap();
    let r = post_bundle(port, token, "after");
    assert_eq!(r.status, 201, "POST once space returned: {}", r.body);
    let new_id = r.json()["data"]["id"].as_str().unwrap().to_string();
    let r = get_bundle(port, token, &new_id);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = rename(port, token, &id, "Renamed once space returned");
    assert_eq!(r.status, 200, "PATCH once space returned: {}", r.body);
    let shown = get_bundle(port, token, &id).json();
    assert_eq!(
        shown["data"]["attributes"]["name"],
        "Renamed once space returned"
    );

    // The CLI writes again, the running server sees it, and it is notified once.
    let out = purchase(&data, "after");
    assert!(
        out.status.success(),
        "a purchase once space returned: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bought: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tid = bought["transactionId"].as_str().unwrap();
    let path = format!("/crabapple/admin/commerce/transactions/{tid}");
    let admin = admin_token(&data);
    assert_eq!(http(port, "GET", &path, Some(&admin), None).status, 200);
    assert_eq!(outbox(port, &data), notified + 1);

    let out = run(&["keys", "create", "--role", "DEVELOPER"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(key_files(&data), keys_before + 1);

    drop(mount);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(!log.contains("panicked at"), "the server panicked: {log}");
    let _ = std::fs::remove_file(&log_path);
}
