//! Storage faults (issue 8, "Full disk and other storage faults"): what crabapple says and does
//! when SQLite or the file system refuses a write — a full disk (`SQLITE_FULL`, 13, or `ENOSPC`),
//! an I/O error (`SQLITE_IOERR`, 10, with any extended code: a failed write, commit, fsync or WAL
//! append), a database that turned read-only (`SQLITE_READONLY`, 8).
//!
//! - [`StorageFault::of`] finds such a fault in an error's chain; [`error_reason`] is the one
//!   text every API family puts in its reason header for an internal error ("storage full: …").
//! - [`writer_is_clean`] runs when the single writer connection goes back to its pool. SQLite
//!   rolls a whole transaction back by itself when a statement or the COMMIT fails with one of
//!   these errors, and sqlx then still counts the transaction as open: the next `BEGIN
//!   IMMEDIATE` failed for ever ("attempted to call begin_with at non-zero transaction depth"),
//!   and a connection that really kept a transaction open would keep the write lock from every
//!   other process. Such a connection is closed (SQLite rolls back whatever it held) and the pool
//!   opens a fresh one, so writes work again as soon as space returns, without a restart.

use std::fmt;

use sqlx::Connection;

/// What kind of storage refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// No space left: `SQLITE_FULL` (13), `ENOSPC`, `EDQUOT`.
    Full,
    /// `SQLITE_IOERR` (10) and its extended codes.
    Io,
    /// `SQLITE_READONLY` (8) and its extended codes.
    ReadOnly,
}

/// A storage fault found in an error: its kind and the underlying message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFault {
    pub kind: FaultKind,
    /// SQLite's (extended) result code, when SQLite reported it.
    pub sqlite_code: Option<i32>,
    /// The lowest-level message (SQLite's or the operating system's).
    pub message: String,
}

impl StorageFault {
    /// The storage fault in `e`'s chain of causes, if any.
    pub fn of(e: &anyhow::Error) -> Option<StorageFault> {
        e.chain().find_map(|cause| {
            if let Some(sqlx) = cause.downcast_ref::<sqlx::Error>() {
                return Self::of_sqlx(sqlx);
            }
            cause.downcast_ref::<std::io::Error>().and_then(Self::of_io)
        })
    }

    fn of_sqlx(e: &sqlx::Error) -> Option<StorageFault> {
        match e {
            sqlx::Error::Io(io) => Self::of_io(io),
            sqlx::Error::Database(db) => {
                let code: i32 = db.code()?.parse().ok()?;
                // Extended codes keep the primary code in their low byte (SQLite's result codes).
                let kind = match code & 0xff {
                    13 => FaultKind::Full,
                    10 => FaultKind::Io,
                    8 => FaultKind::ReadOnly,
                    _ => return None,
                };
                Some(StorageFault {
                    kind,
                    sqlite_code: Some(code),
                    message: db.message().to_string(),
                })
            }
            _ => None,
        }
    }

    fn of_io(e: &std::io::Error) -> Option<StorageFault> {
        let full = e.kind() == std::io::ErrorKind::StorageFull
            || e.kind() == std::io::ErrorKind::QuotaExceeded
            || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT));
        full.then(|| StorageFault {
            kind: FaultKind::Full,
            sqlite_code: None,
            message: e.to_string(),
        })
    }
}

impl fmt::Display for StorageFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, advice) = match self.kind {
            FaultKind::Full => (
                "storage full",
                "free space where the data directory is, then try again (a running server needs no restart)",
            ),
            FaultKind::Io => (
                "storage I/O error",
                "check the disk that holds the data directory, then try again",
            ),
            FaultKind::ReadOnly => (
                "storage read-only",
                "make the data directory and its database writable, then try again",
            ),
        };
        write!(f, "{what}: {}", self.message)?;
        if let Some(code) = self.sqlite_code {
            write!(f, " (SQLite result code {code})")?;
        }
        write!(f, "; nothing was saved - {advice}")
    }
}

/// The reason an internal error is reported with: a storage fault in plain words, or the whole
/// chain of causes.
pub fn error_reason(e: &anyhow::Error) -> String {
    match StorageFault::of(e) {
        Some(f) => f.to_string(),
        None => format!("{e:#}"),
    }
}

/// Whether the writer connection may go back to the pool: SQLite and sqlx agree that no
/// transaction is open. SQLite is asked with a `BEGIN`, which it refuses inside a transaction
/// (and which is rolled back at once otherwise); the `ROLLBACK` a dropped transaction queued on
/// the connection runs first.
pub(crate) async fn writer_is_clean(conn: &mut crate::db::DbConn) -> bool {
    use sqlx::Executor;
    let autocommit = match conn.execute("BEGIN").await {
        Ok(_) => conn.execute("ROLLBACK").await.is_ok(),
        Err(_) => false,
    };
    let clean = autocommit && !conn.is_in_transaction();
    if !autocommit {
        tracing::warn!(
            "a failed write left the writer connection inside its transaction: it is closed \
             (SQLite rolls back what it held), the next write opens a fresh one"
        );
    } else if !clean {
        // SQLite rolled the transaction back itself; only sqlx still counts it.
        tracing::debug!("the writer connection's transaction count is stale: opening a fresh one");
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::resources::tests::store;
    use serde_json::{Map, Value, json};

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// What SQLite does by itself when a COMMIT (or a statement) fails with SQLITE_FULL or
    /// SQLITE_IOERR: it rolls the whole transaction back, while sqlx still counts it open.
    async fn sqlite_rolls_back(tx: &mut crate::Tx) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut *tx.tx)
            .await
            .unwrap();
    }

    /// Before: every later write failed with "attempted to call begin_with at non-zero
    /// transaction depth" until a restart.
    #[tokio::test]
    async fn a_commit_sqlite_rolled_back_leaves_the_writer_usable() {
        let (store, dir) = store().await;
        let mut tx = store.begin().await.unwrap();
        tx.put("bundleIds", "A", &attrs(json!({"name": "a"})))
            .await
            .unwrap();
        sqlite_rolls_back(&mut tx).await;
        let e = tx.commit().await.unwrap_err();
        assert!(
            format!("{e:#}").contains("committing a write transaction"),
            "{e:#}"
        );
        assert!(store.get("bundleIds", "A").await.unwrap().is_none());
        for id in ["B", "C"] {
            let mut tx = store.begin().await.unwrap();
            tx.put("bundleIds", id, &attrs(json!({"name": id})))
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert!(store.get("bundleIds", id).await.unwrap().is_some());
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A writer connection whose transaction SQLite kept open (sqlx lost count of it) is closed
    /// when it goes back to the pool: its write lock is freed for other processes (the CLI
    /// stayed locked out before) and this store's next write begins normally.
    #[tokio::test]
    async fn a_writer_left_inside_a_transaction_is_closed_and_frees_the_lock() {
        let (store, dir) = store().await;
        let mut conn = store.writer.acquire().await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        // Another process on the same file.
        let other = Store::open(&dir.join("db.sqlite")).await.unwrap();
        let started = std::time::Instant::now();
        for (s, id) in [(&other, "other"), (&store, "this")] {
            let mut tx = s.begin().await.unwrap();
            tx.put("bundleIds", id, &attrs(json!({"name": id})))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
        assert!(store.get("bundleIds", "other").await.unwrap().is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A failed COMMIT empties the cache of what the transaction touched: here a write that ran
    /// after SQLite's own rollback landed outside the transaction, and a cached copy from
    /// before would have stayed behind the database.
    #[tokio::test]
    async fn a_failed_commit_invalidates_what_the_transaction_touched() {
        let (store, dir) = store().await;
        let mut tx = store.begin().await.unwrap();
        tx.put("apps", "X", &attrs(json!({"name": "v1"})))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let cached = store.get("apps", "X").await.unwrap().unwrap();
        assert_eq!(cached.attributes["name"], "v1");
        let mut tx = store.begin().await.unwrap();
        sqlite_rolls_back(&mut tx).await;
        tx.put("apps", "X", &attrs(json!({"name": "v2"})))
            .await
            .unwrap();
        assert!(tx.commit().await.is_err());
        let now = store.get("apps", "X").await.unwrap().unwrap();
        let on_disk: String =
            sqlx::query_scalar("SELECT attributes FROM resources WHERE type = 'apps' AND id = 'X'")
                .fetch_one(store.reader())
                .await
                .unwrap();
        assert_eq!(
            now.attributes,
            attrs(serde_json::from_str(&on_disk).unwrap())
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A real SQLITE_FULL (the database capped at its current size): the error is a storage
    /// fault, nothing of the transaction is kept, and once the cap is lifted writes work again.
    #[tokio::test]
    async fn a_full_database_is_a_storage_fault_and_recovers() {
        let (store, dir) = store().await;
        let pages = store.page_count().await.unwrap();
        store.limit_pages_for_tests(Some(pages)).await.unwrap();
        let big = "x".repeat(64 * 1024);
        let mut refused = None;
        for i in 0..50 {
            let mut tx = store.begin().await.unwrap();
            let r = async {
                tx.put(
                    "bundleIds",
                    &format!("F{i}"),
                    &attrs(json!({ "name": big })),
                )
                .await?;
                tx.commit().await
            }
            .await;
            if let Err(e) = r {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("a write refused within 50 of 64 KB");
        let fault = StorageFault::of(&e).unwrap_or_else(|| panic!("not a fault: {e:#}"));
        assert_eq!(fault.kind, FaultKind::Full);
        assert_eq!(fault.sqlite_code, Some(13));
        assert!(
            error_reason(&e).starts_with(
                "storage full: database or disk is full (SQLite result code 13); nothing was saved"
            ),
            "{}",
            error_reason(&e)
        );
        assert!(
            store
                .get("bundleIds", &format!("F{i}"))
                .await
                .unwrap()
                .is_none()
        );
        store.limit_pages_for_tests(None).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.put("bundleIds", "after", &attrs(json!({ "name": big })))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(store.get("bundleIds", "after").await.unwrap().is_some());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn enospc_is_storage_full() {
        let e = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::ENOSPC))
            .context("writing AuthKey_X.p8");
        let f = StorageFault::of(&e).unwrap();
        assert_eq!(f.kind, FaultKind::Full);
        assert!(error_reason(&e).starts_with("storage full: "), "{e:#}");
    }

    /// SQLite's error as sqlx reports it, with result code `code`.
    #[derive(Debug)]
    struct Sqlite(i32, &'static str);

    impl fmt::Display for Sqlite {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "(code: {}) {}", self.0, self.1)
        }
    }

    impl std::error::Error for Sqlite {}

    impl sqlx::error::DatabaseError for Sqlite {
        fn message(&self) -> &str {
            self.1
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.to_string().into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn sqlite(code: i32, message: &'static str) -> anyhow::Error {
        anyhow::Error::from(sqlx::Error::Database(Box::new(Sqlite(code, message))))
            .context("committing a write transaction")
    }

    /// SQLITE_IOERR and its extended codes (778 IOERR_WRITE, 1290 IOERR_DIR_FSYNC, 4874
    /// IOERR_SHMSIZE): a storage I/O error; SQLITE_FULL with or without an extended code.
    #[test]
    fn sqlite_result_codes_name_the_fault() {
        for (code, kind) in [
            (13, FaultKind::Full),
            (10, FaultKind::Io),
            (778, FaultKind::Io),
            (1290, FaultKind::Io),
            (4874, FaultKind::Io),
            (8, FaultKind::ReadOnly),
            (1032, FaultKind::ReadOnly),
        ] {
            let f = StorageFault::of(&sqlite(code, "disk I/O error")).unwrap();
            assert_eq!((f.kind, f.sqlite_code), (kind, Some(code)));
        }
        assert_eq!(
            error_reason(&sqlite(778, "disk I/O error")),
            "storage I/O error: disk I/O error (SQLite result code 778); nothing was saved - \
             check the disk that holds the data directory, then try again"
        );
        // A constraint (19), a lock (5) or a damaged file (11) is not a storage fault.
        for code in [19, 5, 517, 11] {
            assert_eq!(StorageFault::of(&sqlite(code, "other")), None, "{code}");
        }
    }

    #[test]
    fn other_errors_keep_their_chain() {
        let e = anyhow::anyhow!("no such thing").context("looking");
        assert_eq!(StorageFault::of(&e), None);
        assert_eq!(error_reason(&e), "looking: no such thing");
    }
}
