//! kill -9 of a real `crabapple serve` between an event and its delivery loses nothing: the
//! notification is committed with the event, the interrupted attempt's lease dies with the
//! process, and the next server delivers it (at-least-once).
//!
//! Needs the `crabapple` binary: `CRABAPPLE_BIN`, or `target/debug/crabapple` of this
//! workspace (build it with `cargo build -p crabapple`; `scripts/test.sh` does). Without one
//! the test fails with that instruction: it never passes without running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TempDir;
use crate::world::{MODE_OK, MODE_SLOW, Receiver};

pub(crate) fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CRABAPPLE_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let p = target.join("debug").join("crabapple");
    assert!(
        p.is_file(),
        "no crabapple binary at {} (set CRABAPPLE_BIN or run `cargo build -p crabapple`)",
        p.display()
    );
    p
}

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    /// The admin API's token (`crabapple serve` writes it to the data directory).
    pub(crate) token: String,
}

/// The admin token `crabapple serve` keeps in `data`, once it has written it.
pub(crate) fn admin_token(data: &Path) -> Option<String> {
    let t = std::fs::read_to_string(data.join("admin-token")).ok()?;
    Some(t.trim().to_string()).filter(|t| !t.is_empty())
}

impl Server {
    pub(crate) async fn start(bin: &Path, data: &Path) -> Server {
        Self::start_on(bin, data, None).await
    }

    /// `serve` with its store in `database` (a PostgreSQL URL) when given, else in `data`.
    pub(crate) async fn start_on(bin: &Path, data: &Path, database: Option<&str>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(bin);
        if let Some(db) = database {
            cmd.args(["--database", db]);
        }
        let child = cmd
            .env_remove("CRABAPPLE_TEST_DATABASE_URL")
            .args(["serve", "--empty", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("CRABAPPLE_APPLE_TEST_PKI")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn crabapple serve");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let token = loop {
            if let Some(token) = admin_token(data)
                && reqwest::Client::new()
                    .get(format!("{base}/crabapple/admin/status"))
                    .header("x-crabapple-admin-token", &token)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            {
                break token;
            }
            assert!(Instant::now() < deadline, "crabapple serve did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Server { child, base, token }
    }

    /// Creates an app with one consumable whose notifications go to `rx`; returns the app id.
    pub(crate) async fn app_with_consumable(
        &self,
        bundle_id: &str,
        product_id: &str,
        rx: &Receiver,
    ) -> String {
        let app = self
            .admin("POST", "/resources/apps", json!({"attributes": {"bundleId": bundle_id, "name": "Example", "sku": bundle_id, "primaryLocale": "en-US"}}))
            .await;
        let app_id = app["data"]["id"].as_str().unwrap().to_string();
        self.admin(
            "POST",
            "/resources/inAppPurchases",
            json!({"attributes": {"productId": product_id, "name": "Gems", "inAppPurchaseType": "CONSUMABLE"},
                   "relationships": {"apps": [app_id]}}),
        )
        .await;
        self.admin(
            "PUT",
            &format!("/commerce/apps/{bundle_id}/notification-urls"),
            json!({"sandbox": rx.url("sandbox"), "production": rx.url("prod")}),
        )
        .await;
        app_id
    }

    /// SIGKILL: no destructor, no graceful shutdown.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) async fn admin(&self, method: &str, path: &str, body: Value) -> Value {
        let c = reqwest::Client::new();
        let r = c
            .request(
                method.parse().unwrap(),
                format!("{}/crabapple/admin{path}", self.base),
            )
            .header("x-crabapple-admin-token", &self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    async fn notification(&self, uuid: &str) -> Value {
        let list = self
            .admin("GET", "/commerce/notifications?limit=1000", json!(null))
            .await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["notificationUUID"] == uuid)
            .cloned()
            .unwrap_or_else(|| panic!("notification {uuid} is gone"))
    }

    pub(crate) async fn wait_delivered(&self, uuid: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n = self.notification(uuid).await;
            if n["state"] == "delivered" {
                return n;
            }
            assert!(Instant::now() < deadline, "not delivered: {n}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn kill_9_between_event_and_delivery_loses_nothing() {
    let bin = binary();
    let dir = TempDir::new("kill9");
    let rx = Receiver::start().await;
    let s = Server::start(&bin, dir.path()).await;
    s.app_with_consumable("com.example.kill9", "com.example.kill9.gems", &rx)
        .await;
    s.admin(
        "PUT",
        "/commerce/settings",
        json!({"deliveryTimeoutMs": 10_000}),
    )
    .await;

    // 1. The server dies mid-POST: the receiver stalls, the attempt is in flight (leased).
    rx.mode.store(MODE_SLOW, Ordering::SeqCst);
    let p = s
        .admin("POST", "/commerce/purchase", json!({"bundleId": "com.example.kill9", "productId": "com.example.kill9.gems", "environment": "production"}))
        .await;
    let uuid = p["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let n = s.notification(&uuid).await;
    assert_eq!(n["state"], "pending", "the attempt is still in flight: {n}");
    assert_eq!(n["sendAttempts"], json!([]));
    s.kill9();

    rx.mode.store(MODE_OK, Ordering::SeqCst);
    let s = Server::start(&bin, dir.path()).await;
    let n = s.wait_delivered(&uuid).await;
    assert_eq!(n["sendAttempts"].as_array().unwrap().len(), 1, "{n}");
    assert_eq!(n["sendAttempts"][0]["sendAttemptResult"], "SUCCESS");

    // 2. The event happens while no server runs (the CLI writes the outbox); the next start
    //    delivers it.
    s.kill9();
    let out = Command::new(&bin)
        .env_remove("CRABAPPLE_TEST_DATABASE_URL")
        .args([
            "purchase",
            "--json",
            "--bundle-id",
            "com.example.kill9",
            "--product",
            "com.example.kill9.gems",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let uuid2 = v["notifications"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(v["notifications"][0]["state"], "pending");
    let s = Server::start(&bin, dir.path()).await;
    s.wait_delivered(&uuid2).await;

    let got = rx.received.lock().unwrap().clone();
    for u in [&uuid, &uuid2] {
        let n = s.notification(u).await;
        let payload = n["signedPayload"].as_str().unwrap();
        assert!(
            got.iter().any(|(_, p)| p == payload),
            "the receiver got {u}"
        );
    }
    s.kill9();
}
