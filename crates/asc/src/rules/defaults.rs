//! Attributes Apple sets itself when a resource is created: creation dates, initial states.

use super::{date, rfc3339};
use crabapple_jsonapi::{BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use serde_json::{Value, json};

pub struct Defaults;

/// `(type, attribute, initial value)` Apple gives a new resource (states from the spec's enums;
/// the first state of each lifecycle).
const INITIAL: &[(&str, &str, &str)] = &[
    (
        "appStoreVersions",
        "appStoreState",
        "PREPARE_FOR_SUBMISSION",
    ),
    (
        "appStoreVersions",
        "appVersionState",
        "PREPARE_FOR_SUBMISSION",
    ),
    ("appStoreVersions", "releaseType", "AFTER_APPROVAL"),
    ("inAppPurchases", "state", "MISSING_METADATA"),
    ("subscriptions", "state", "MISSING_METADATA"),
    ("devices", "status", "ENABLED"),
    ("profiles", "profileState", "ACTIVE"),
    // Asked when the app is created; "no" unless answered (asconnect's App model requires it).
    ("apps", "isOrEverWasMadeForKids", "false"),
    ("betaGroups", "publicLinkEnabled", "false"),
    // Groups made through the API are external groups (internal ones come from App Store Connect).
    ("betaGroups", "isInternalGroup", "false"),
    ("betaGroups", "hasAccessToAllBuilds", "false"),
    ("betaGroups", "publicLinkLimitEnabled", "false"),
    ("betaGroups", "feedbackEnabled", "false"),
    (
        "betaGroups",
        "iosBuildsAvailableForAppleSiliconMac",
        "false",
    ),
    ("betaGroups", "iosBuildsAvailableForAppleVision", "false"),
    // A new build is processed first (Build.processingState: PROCESSING → VALID | INVALID | FAILED).
    ("builds", "processingState", "PROCESSING"),
    ("builds", "expired", "false"),
    ("analyticsReportRequests", "stoppedDueToInactivity", "false"),
];

impl Family for Defaults {
    fn name(&self) -> &'static str {
        "defaults"
    }

    fn before_write<'a>(
        &'a self,
        engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), crabapple_jsonapi::AscError>> {
        Box::pin(async move {
            if w.existing.is_some() {
                return Ok(());
            }
            let now = tx.now_ms();
            let rt = engine.manifest.resources.get(&w.rtype);
            let has = |a: &str| rt.is_some_and(|r| r.attributes.contains_key(a));
            for a in ["createdDate", "addedDate", "uploadedDate"] {
                if has(a) && !w.attributes.contains_key(a) {
                    w.attributes.insert(a.into(), json!(rfc3339(now)));
                }
            }
            for (t, a, v) in INITIAL {
                if *t == w.rtype && !w.attributes.contains_key(*a) {
                    let val = match *v {
                        "false" => Value::Bool(false),
                        "true" => Value::Bool(true),
                        s => json!(s),
                    };
                    w.attributes.insert((*a).into(), val);
                }
            }
            if w.rtype == "userInvitations" && !w.attributes.contains_key("expirationDate") {
                // Invitations expire; Apple does not document after how long — 30 days here.
                w.attributes.insert(
                    "expirationDate".into(),
                    json!(rfc3339(now + 30 * 86_400_000)),
                );
            }
            if w.rtype == "builds" && !w.attributes.contains_key("expirationDate") {
                // TestFlight builds expire 90 days after upload.
                let uploaded = w
                    .attributes
                    .get("uploadedDate")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                    .map_or(now, |t| t.as_millisecond());
                w.attributes.insert(
                    "expirationDate".into(),
                    json!(rfc3339(uploaded + 90 * 86_400_000)),
                );
            }
            if w.rtype == "devices" && !w.attributes.contains_key("deviceClass") {
                // Apple classifies a registered device; without a model, by its platform.
                let class = match w.attributes.get("platform").and_then(Value::as_str) {
                    Some("MAC_OS") => "MAC",
                    _ => "IPHONE",
                };
                w.attributes.insert("deviceClass".into(), json!(class));
            }
            if w.rtype == "profiles" {
                w.attributes
                    .entry("uuid")
                    .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
                w.attributes
                    .entry("expirationDate")
                    .or_insert_with(|| json!(rfc3339(now + 365 * 86_400_000)));
            }
            let _ = date;
            Ok(())
        })
    }
}
