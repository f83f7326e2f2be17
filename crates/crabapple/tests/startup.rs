//! Storage faults at start-up (issue 8, "keep what already works"): a data directory created by a
//! real first start is damaged (garbage, truncated or zero-length database, garbage WAL, missing
//! PKI files, a directory where writing fails) and `crabapple serve`, `crabapple keys list` and
//! `crabapple purchase` are run on it. Each either stops with one clear error line naming the
//! file and what to do, or (for what SQLite repairs by itself) starts and serves; none panics.

mod common;

use common::{BIN, EMBEDDED_ONLY, exit_of, run, serve, wait_ready};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A fresh temporary path for `case` (removed first).
fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crabapple-startup-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&dir);
    dir
}

/// A data directory made by a real first start, the server then stopped and its WAL written
/// back into crabapple.db (as SQLite does when the last connection closes), so damage to the
/// database file does not depend on how far SQLite had checkpointed when the server stopped.
fn real_data_dir(case: &str) -> PathBuf {
    let dir = scratch(case);
    let mut child = serve(&dir);
    wait_ready(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    checkpoint(&db(&dir));
    dir
}

fn checkpoint(db: &Path) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", db.display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

/// The command failed cleanly: non-zero exit (not a panic's 101), no panic message, and stderr
/// is one `crabapple: ` line containing every one of `needles`. Returns that line.
fn assert_clear_error(out: &Output, what: &str, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what} succeeded; stderr: {stderr}");
    assert_ne!(out.status.code(), Some(101), "{what} panicked: {stderr}");
    assert!(!stderr.contains("panicked at"), "{what} panicked: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one error line expected: {stderr}");
    assert!(lines[0].starts_with("crabapple: "), "{what}: {stderr}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "{what}: no {needle:?} in {stderr}"
        );
    }
    lines[0].to_string()
}

/// Runs `serve` and `purchase` on a damaged directory: each fails cleanly.
fn assert_all_fail(data: &Path, needles: &[&str]) {
    let out = exit_of(serve(data), "serve");
    assert_clear_error(&out, "serve", needles);
    let out = run(
        &[
            "purchase",
            "--bundle-id",
            "com.example.none",
            "--product",
            "none",
        ],
        data,
    );
    assert_clear_error(&out, "purchase", needles);
}

/// Starts serve on `data` and gets an HTTP answer from it; then `keys list` works too.
fn assert_serves(data: &Path) {
    let mut child = serve(data);
    let port = wait_ready(&mut child);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /v1/apps HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked at"), "serve panicked: {stderr}");
    // No token: Apple's 401 NOT_AUTHORIZED, which proves the server answers.
    assert!(answer.starts_with("HTTP/1.1 401"), "answer: {answer}");
    assert_keys_list_works(data);
}

/// `keys list` reads the store only, so the PKI's state does not matter to it.
fn assert_keys_list_works(data: &Path) {
    let out = run(&["keys", "list"], data);
    assert!(out.status.success(), "keys list: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("team"));
}

fn db(data: &Path) -> PathBuf {
    data.join("crabapple.db")
}

/// Not random, so a failure reproduces: bytes no SQLite header starts with.
fn garbage(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8 ^ 0x5a).collect()
}

const DAMAGED_HINT: &str = "is damaged (not a readable SQLite database): restore it from a backup";

#[test]
fn garbage_database_is_a_clear_error() {
    let data = real_data_dir("garbage-db");
    std::fs::write(db(&data), garbage(64 * 1024)).unwrap();
    let path = db(&data).display().to_string();
    assert_all_fail(&data, &[&path, DAMAGED_HINT, "file is not a database"]);
    let out = run(&["keys", "list"], &data);
    assert_clear_error(&out, "keys list", &[&path, DAMAGED_HINT]);
    std::fs::remove_dir_all(&data).unwrap();
}

/// The database file cut to half its length. (Had the WAL still held the lost pages, SQLite
/// would read them from there and serve.)
#[test]
fn truncated_database_is_a_clear_error() {
    let data = real_data_dir("truncated-db");
    let len = std::fs::metadata(db(&data)).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(db(&data))
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let path = db(&data).display().to_string();
    assert_all_fail(&data, &[&path, DAMAGED_HINT, "malformed"]);
    let out = run(&["keys", "list"], &data);
    assert_clear_error(&out, "keys list", &[&path, DAMAGED_HINT]);
    std::fs::remove_dir_all(&data).unwrap();
}

/// SQLite takes a zero-length file for a new, empty database: serve starts afresh on it.
#[test]
fn zero_length_database_starts_and_serves() {
    let data = real_data_dir("zero-db");
    std::fs::write(db(&data), b"").unwrap();
    assert_serves(&data);
    std::fs::remove_dir_all(&data).unwrap();
}

/// SQLite checks each WAL frame's checksum and ignores a WAL that fails it.
#[test]
fn garbage_wal_starts_and_serves() {
    let data = real_data_dir("garbage-wal");
    std::fs::write(data.join("crabapple.db-wal"), garbage(64 * 1024)).unwrap();
    assert_serves(&data);
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn missing_leaf_key_is_a_clear_error() {
    let data = real_data_dir("no-leaf-key");
    std::fs::remove_file(data.join("pki/leaf.key")).unwrap();
    let pki = data.join("pki").display().to_string();
    assert_all_fail(&data, &[&pki, "missing leaf.key", "restore the files"]);
    assert_keys_list_works(&data);
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn missing_root_certificate_is_a_clear_error() {
    let data = real_data_dir("no-root-pem");
    std::fs::remove_file(data.join("pki/root.pem")).unwrap();
    let pki = data.join("pki").display().to_string();
    assert_all_fail(&data, &[&pki, "missing root.pem", "restore the files"]);
    assert_keys_list_works(&data);
    std::fs::remove_dir_all(&data).unwrap();
}

/// A data directory that cannot be created, even by root: /proc takes no new entries.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_data_directory_is_a_clear_error() {
    let data = PathBuf::from(format!("/proc/crabapple-startup-{}", std::process::id()));
    let out = exit_of(serve(&data), "serve");
    let path = data.display().to_string();
    assert_clear_error(
        &out,
        "serve",
        &["creating the data directory", &path, "writable path"],
    );
}

/// A `--data` path that is a regular file.
#[test]
fn data_path_that_is_a_file_is_a_clear_error() {
    let data = scratch("file");
    std::fs::write(&data, b"not a directory").unwrap();
    let out = exit_of(serve(&data), "serve");
    let path = data.display().to_string();
    assert_clear_error(
        &out,
        "serve",
        &["creating the data directory", &path, "writable path"],
    );
    let out = run(&["keys", "list"], &data);
    assert_clear_error(&out, "keys list", &[&path, "run `crabapple serve"]);
    std::fs::remove_file(&data).unwrap();
}

/// A data directory made read-only after its first start. Root writes through read-only modes,
/// so when the tests run as root the directory is handed to `nobody` and crabapple runs as that
/// user (`setpriv`), for whom 0500/0400 really are read-only.
#[cfg(unix)]
#[test]
fn read_only_data_directory_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let data = real_data_dir("read-only");
    let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if as_root {
        let chown = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&data)
            .status();
        assert!(
            chown.unwrap().success(),
            "chown the data directory to nobody"
        );
    }
    // The checkpoint removed the -wal and -shm files; SQLite cannot create them again here.
    mode(&db(&data), 0o400).unwrap();
    mode(&data, 0o500).unwrap();
    let mut command = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env_remove(EMBEDDED_ONLY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crabapple starts");
    let out = exit_of(child, "serve");
    mode(&data, 0o700).unwrap();
    let path = db(&data).display().to_string();
    assert_clear_error(
        &out,
        "serve",
        &[&path, "cannot be written", "writable by this user"],
    );
    std::fs::remove_dir_all(&data).unwrap();
}
