//! A small world for commerce tests: one app with every product type, a notification receiver.

use crabapple_storekit::ledger::LedgerTx;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use crabapple_store::Store;
use crabapple_storekit::commerce::engine::EventError;
use crabapple_storekit::commerce::events::{self, EventArgs};
use crabapple_storekit::{Commerce, Pki};
use serde_json::{Map, Value, json};

use crate::common::TempDir;

pub const BUNDLE: &str = "com.example.crabapple";
pub const APP_ID: i64 = 1_234_567_890;
pub const GROUP: &str = "20000001";
pub const GEMS: &str = "com.example.crabapple.gems";
pub const LIFETIME: &str = "com.example.crabapple.lifetime";
pub const PASS: &str = "com.example.crabapple.seasonpass";
pub const MONTHLY: &str = "com.example.crabapple.monthly";
pub const PREMIUM: &str = "com.example.crabapple.premium";
pub const YEARLY: &str = "com.example.crabapple.yearly";
pub const WEEKLY: &str = "com.example.crabapple.weekly";

pub struct World {
    pub dir: TempDir,
    pub store: Store,
    pub pki: Arc<Pki>,
    pub commerce: Arc<Commerce>,
}

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

impl World {
    pub async fn new() -> World {
        let dir = TempDir::new("commerce");
        let store = Store::open(&dir.path().join("crabapple.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let app = APP_ID.to_string();
        tx.put(
            "apps",
            &app,
            &attrs(json!({"bundleId": BUNDLE, "name": "Example"})),
        )
        .await
        .unwrap();
        // Family Sharing is on for the non-consumable and every subscription but WEEKLY.
        for (id, pid, ty, sharable) in [
            ("6400000001", GEMS, "CONSUMABLE", false),
            ("6400000002", LIFETIME, "NON_CONSUMABLE", true),
            ("6400000003", PASS, "NON_RENEWING_SUBSCRIPTION", false),
        ] {
            tx.put(
                "inAppPurchases",
                id,
                &attrs(
                    json!({"productId": pid, "inAppPurchaseType": ty, "name": pid, "familySharable": sharable}),
                ),
            )
            .await
            .unwrap();
            tx.link(("inAppPurchases", id), "app", ("apps", &app))
                .await
                .unwrap();
        }
        tx.put(
            "subscriptionGroups",
            GROUP,
            &attrs(json!({"referenceName": "Example Plus"})),
        )
        .await
        .unwrap();
        tx.link(("subscriptionGroups", GROUP), "app", ("apps", &app))
            .await
            .unwrap();
        for (id, pid, period, level) in [
            ("6500000001", MONTHLY, "ONE_MONTH", 2),
            ("6500000002", PREMIUM, "ONE_MONTH", 1),
            ("6500000003", YEARLY, "ONE_YEAR", 2),
            ("6500000004", WEEKLY, "ONE_WEEK", 3),
        ] {
            tx.put(
                "subscriptions",
                id,
                &attrs(json!({"productId": pid, "name": pid, "subscriptionPeriod": period, "groupLevel": level,
                              "familySharable": pid != WEEKLY})),
            )
            .await
            .unwrap();
            tx.link(
                ("subscriptions", id),
                "group",
                ("subscriptionGroups", GROUP),
            )
            .await
            .unwrap();
            tx.link(
                ("subscriptionGroups", GROUP),
                "subscriptions",
                ("subscriptions", id),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let pki = Arc::new(Pki::generate().unwrap());
        let commerce = Commerce::new(store.clone(), pki.clone());
        World {
            dir,
            store,
            pki,
            commerce,
        }
    }

    /// Simulates a process exit: everything but the data directory and the PKI is dropped.
    pub fn into_parts(self) -> (TempDir, Arc<Pki>) {
        (self.dir, self.pki)
    }

    pub async fn reopen(dir: TempDir, pki: Arc<Pki>) -> World {
        let store = Store::open(&dir.path().join("crabapple.db")).await.unwrap();
        let commerce = Commerce::new(store.clone(), pki.clone());
        World {
            dir,
            store,
            pki,
            commerce,
        }
    }

    pub async fn event(&self, name: &str, args: Value) -> Result<Value, EventError> {
        let a: EventArgs =
            serde_json::from_value(args).map_err(|e| EventError::bad(e.to_string()))?;
        events::apply(&self.commerce, name, a).await
    }

    /// Advances the virtual clock and runs everything due.
    pub async fn advance(&self, by_ms: i64) {
        let now = self.store.advance_clock(by_ms).await.unwrap();
        self.commerce.run_due(now).await.unwrap();
    }

    pub async fn run(&self) {
        self.commerce.run_due(self.store.now_ms()).await.unwrap();
    }

    pub async fn set_urls(&self, production: Option<&str>, sandbox: Option<&str>) {
        let mut tx = self.store.begin().await.unwrap();
        let changes = attrs(json!({
            "subscriptionStatusUrl": production,
            "subscriptionStatusUrlVersion": production.map(|_| "V2"),
            "subscriptionStatusUrlForSandbox": sandbox,
            "subscriptionStatusUrlVersionForSandbox": sandbox.map(|_| "V2"),
        }));
        tx.ledger_set_attributes("apps", &APP_ID.to_string(), &changes)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

pub const MODE_OK: u8 = 0;
pub const MODE_500: u8 = 1;
pub const MODE_SLOW: u8 = 2;

/// A notification receiver: answers 200, 500, or stalls (per `mode`), recording what it got.
pub struct Receiver {
    pub base: String,
    pub mode: Arc<AtomicU8>,
    pub received: Arc<Mutex<Vec<(String, String)>>>,
}

#[derive(Clone)]
struct RxState {
    mode: Arc<AtomicU8>,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

async fn receive(State(s): State<RxState>, uri: Uri, body: Bytes) -> StatusCode {
    let mode = s.mode.load(Ordering::SeqCst);
    if mode == MODE_SLOW {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let payload = v["signedPayload"].as_str().unwrap_or_default().to_string();
    s.received
        .lock()
        .unwrap()
        .push((uri.path().to_string(), payload));
    match mode {
        MODE_500 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let mode = Arc::new(AtomicU8::new(MODE_OK));
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = RxState {
            mode: mode.clone(),
            received: received.clone(),
        };
        let app = axum::Router::new()
            .route("/{*path}", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            base,
            mode,
            received,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }
}
