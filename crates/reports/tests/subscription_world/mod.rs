//! A world for the subscription report tests: one app with a subscription group (monthly and
//! yearly plans), two offer codes with a custom code each, commerce events on a fixed virtual
//! day in production.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crabapple_reports::subscription::{SubscriptionReport, render};
use crabapple_store::Store;
use crabapple_storekit::commerce::events::{self, EventArgs};
use crabapple_storekit::{Commerce, Pki};
use jiff::civil::Date;
use serde_json::{Map, Value, json};

pub const BUNDLE: &str = "com.example.notes";
pub const APP_ID: &str = "1490553127";
pub const GROUP: &str = "20934512";
pub const MONTHLY: &str = "com.example.notes.pro.monthly";
pub const MONTHLY_ID: &str = "6449081301";
pub const YEARLY: &str = "com.example.notes.pro.yearly";
pub const YEARLY_ID: &str = "6449081302";

/// The reporting day of every event: Tuesday 15 January 2030, events at 10:00 Pacific (PST).
pub const DAY: Date = jiff::civil::date(2030, 1, 15);
const DAY_10AM_PST_MS: i64 = 1_894_730_400_000;

pub struct World {
    dir: PathBuf,
    pub store: Store,
    pub commerce: Arc<Commerce>,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

impl World {
    pub async fn new() -> World {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "crabapple-subreports-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("crabapple.db")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.put(
            "apps",
            APP_ID,
            &attrs(json!({"bundleId": BUNDLE, "name": "Crabapple Notes"})),
        )
        .await
        .unwrap();
        tx.put(
            "subscriptionGroups",
            GROUP,
            &attrs(json!({"referenceName": "Notes Pro"})),
        )
        .await
        .unwrap();
        tx.link(("subscriptionGroups", GROUP), "app", ("apps", APP_ID))
            .await
            .unwrap();
        for (id, pid, name, period, level) in [
            (MONTHLY_ID, MONTHLY, "Notes Pro Monthly", "ONE_MONTH", 1),
            (YEARLY_ID, YEARLY, "Notes Pro Yearly", "ONE_YEAR", 1),
        ] {
            tx.put(
                "subscriptions",
                id,
                &attrs(
                    json!({"productId": pid, "name": name, "subscriptionPeriod": period,
                              "groupLevel": level}),
                ),
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
        // Two offer codes, each with a custom code (forum post 6's names).
        for (offer, sub, name, custom, code) in [
            ("OC1", MONTHLY_ID, "Holiday Promos", "CC1", "BLACKFRIDAY30"),
            ("OC2", YEARLY_ID, "Spring Promos", "CC2", "MOTHERSDAY30"),
        ] {
            tx.put(
                "subscriptionOfferCodes",
                offer,
                &attrs(
                    json!({"name": name, "offerMode": "PAY_AS_YOU_GO", "duration": "ONE_MONTH",
                              "numberOfPeriods": 1, "active": true}),
                ),
            )
            .await
            .unwrap();
            tx.link(
                ("subscriptionOfferCodes", offer),
                "subscription",
                ("subscriptions", sub),
            )
            .await
            .unwrap();
            tx.put(
                "subscriptionOfferCodeCustomCodes",
                custom,
                &attrs(json!({"customCode": code, "numberOfCodes": 100, "active": true})),
            )
            .await
            .unwrap();
            tx.link(
                ("subscriptionOfferCodeCustomCodes", custom),
                "offerCode",
                ("subscriptionOfferCodes", offer),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        // The virtual clock only moves forward: from now to the fixed day.
        let now = store.now_ms();
        assert!(now < DAY_10AM_PST_MS, "the test day is in the future");
        store.advance_clock(DAY_10AM_PST_MS - now).await.unwrap();
        let commerce = Commerce::new(store.clone(), Arc::new(Pki::generate().unwrap()));
        World {
            dir,
            store,
            commerce,
        }
    }

    /// The day's events, in this order: alice starts a free trial, bob redeems BLACKFRIDAY30 and
    /// carol MOTHERSDAY30, dave subscribes and renews, erin subscribes and turns auto-renew off,
    /// frank subscribes and his renewal fails (billing retry), gina subscribes and is refunded.
    pub async fn day_of_events() -> World {
        let w = World::new().await;
        w.buy("alice", MONTHLY, Some(json!({"type": "introductory"})))
            .await;
        w.buy(
            "bob",
            MONTHLY,
            Some(json!({"type": "offer-code", "id": "BLACKFRIDAY30"})),
        )
        .await;
        w.buy(
            "carol",
            YEARLY,
            Some(json!({"type": "offer-code", "id": "MOTHERSDAY30"})),
        )
        .await;
        let dave = w.buy("dave", MONTHLY, None).await;
        w.event("renew", json!({"transactionId": dave})).await;
        let erin = w.buy("erin", MONTHLY, None).await;
        w.event(
            "expire",
            json!({"transactionId": erin, "reason": "voluntary"}),
        )
        .await;
        let frank = w.buy("frank", MONTHLY, None).await;
        w.event("fail-renewal", json!({"transactionId": frank, "now": true}))
            .await;
        let gina = w.buy("gina", MONTHLY, None).await;
        w.event("refund", json!({"transactionId": gina})).await;
        w
    }

    /// Adds an App Store Connect resource (e.g. a promotional offer).
    pub async fn put(&self, rtype: &str, id: &str, attributes: Value) {
        let mut tx = self.store.begin().await.unwrap();
        tx.put(rtype, id, &attrs(attributes)).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// A commerce event (the admin API's arguments), in production.
    pub async fn event(&self, name: &str, mut args: Value) -> Value {
        args.as_object_mut()
            .unwrap()
            .entry("environment")
            .or_insert(json!("production"));
        let a: EventArgs = serde_json::from_value(args.clone()).unwrap();
        events::apply(&self.commerce, name, a)
            .await
            .unwrap_or_else(|e| panic!("{name} {args}: {e}"))
    }

    /// A customer's purchase of `product` (with `offer` if any); the transaction id.
    pub async fn buy(&self, customer: &str, product: &str, offer: Option<Value>) -> String {
        let mut args = json!({"bundleId": BUNDLE, "productId": product, "customer": customer});
        if let Some(o) = offer {
            args["offer"] = o;
        }
        tx_id(&self.event("purchase", args).await)
    }

    pub async fn report(
        &self,
        report: SubscriptionReport,
        version: &str,
        day: Date,
    ) -> Option<String> {
        render(&self.store, report, version, day).await.unwrap()
    }
}

pub fn tx_id(v: &Value) -> String {
    v["transactionId"].as_str().unwrap().to_string()
}

/// The lines of a TSV text after its header.
pub fn rows(text: &str) -> Vec<&str> {
    text.lines().skip(1).collect()
}
