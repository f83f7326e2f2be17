//! Issue 8 (secrets): a data directory crabapple creates is 0700, and the database, every
//! `AuthKey_*.p8` and the PKI's private keys are 0600 — never readable by other users.

mod common;

use common::*;
use crabapple_server::setup::WorldChoice;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn secrets_are_created_owner_only() {
    // SQLite's own behaviour (its database file), also when the suite runs on PostgreSQL.
    crabapple_server::setup::use_embedded();
    let dir = temp_dir("secrets").join("data");
    let w = open(dir.clone(), WorldChoice::Empty, 100).await;
    assert_eq!(mode(&dir), 0o700, "data directory");
    for f in ["crabapple.db", "crabapple.db-wal", "crabapple.db-shm"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    let key = dir.join(format!("AuthKey_{}.p8", w.key_id));
    assert_eq!(mode(&key), 0o600, "{}", key.display());
    let mut private_keys = 0;
    for entry in walk(&dir) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".key") || name.contains("key.pem") || name.ends_with(".p8") {
            assert_eq!(mode(&entry), 0o600, "{}", entry.display());
            private_keys += 1;
        }
    }
    assert!(
        private_keys >= 2,
        "the Admin key and the PKI's keys were checked"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
