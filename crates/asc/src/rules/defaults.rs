//! Attributes Apple sets itself when a resource is created: creation dates, initial states.

use super::{date, rfc3339};
use crabapple_jsonapi::{BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use serde_json::{Value, json};

pub struct Defaults;

/// `(type, attribute, value)` Apple gives a new resource the client did not send a value for:
/// JSON text, or `@now` (the virtual clock), `@next` (one more than the parent's existing
/// children of the type: versions, build runs, group levels), `@unset` (Apple answers `null`,
/// where initial.rs's generic rules would fill something). Plain values are applied here, first
/// (also to resources made through the admin API); the `@` ones and everything the table does not
/// name by initial.rs, after every other family.
pub const INITIAL: &[(&str, &str, &str)] = &[
    (
        "appStoreVersions",
        "appStoreState",
        "\"PREPARE_FOR_SUBMISSION\"",
    ),
    (
        "appStoreVersions",
        "appVersionState",
        "\"PREPARE_FOR_SUBMISSION\"",
    ),
    ("appStoreVersions", "releaseType", "\"AFTER_APPROVAL\""),
    ("inAppPurchases", "state", "\"MISSING_METADATA\""),
    ("subscriptions", "state", "\"MISSING_METADATA\""),
    ("devices", "status", "\"ENABLED\""),
    ("profiles", "profileState", "\"ACTIVE\""),
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
    ("builds", "processingState", "\"PROCESSING\""),
    ("builds", "expired", "false"),
    ("analyticsReportRequests", "stoppedDueToInactivity", "false"),
    // A version is made to be downloadable; review type APP_STORE (NOTARIZATION is for
    // alternative distribution on macOS only).
    ("appStoreVersions", "downloadable", "true"),
    ("appStoreVersions", "reviewType", "\"APP_STORE\""),
    // A developer's response goes out after Apple's check: PENDING_PUBLISH, then PUBLISHED.
    ("customerReviewResponses", "state", "\"PENDING_PUBLISH\""),
    // A promotion starts unsubmitted, as the in-app purchase it promotes.
    ("promotedPurchases", "state", "\"PREPARE_FOR_SUBMISSION\""),
    // A (re)delivery is queued: PENDING until the endpoint answers.
    ("webhookDeliveries", "deliveryState", "\"PENDING\""),
    // A build run started through the API: manual, pending, numbered per workflow, no issues.
    ("ciBuildRuns", "executionProgress", "\"PENDING\""),
    // An outcome, not a lifecycle: none until the run completes.
    ("ciBuildRuns", "completionStatus", "@unset"),
    ("ciBuildRuns", "startReason", "\"MANUAL\""),
    ("ciBuildRuns", "number", "@next"),
    (
        "ciBuildRuns",
        "issueCounts",
        r#"{"analyzerWarnings":0,"errors":0,"testFailures":0,"warnings":0}"#,
    ),
    // App Clip experiences open the clip unless told VIEW or PLAY.
    ("appClipDefaultExperiences", "action", "\"OPEN\""),
    ("appClipAdvancedExperiences", "action", "\"OPEN\""),
    ("appEvents", "priority", "\"NORMAL\""),
    ("gameCenterLeaderboards", "visibility", "\"SHOW_FOR_ALL\""),
    // Offer codes and their codes are active when made (deactivated with `active: false`).
    ("inAppPurchaseOfferCodes", "active", "true"),
    ("subscriptionOfferCodes", "active", "true"),
    ("inAppPurchaseOfferCodeCustomCodes", "active", "true"),
    ("subscriptionOfferCodeCustomCodes", "active", "true"),
    ("inAppPurchaseOfferCodeOneTimeUseCodes", "active", "true"),
    ("subscriptionOfferCodeOneTimeUseCodes", "active", "true"),
    (
        "inAppPurchaseOfferCodeOneTimeUseCodes",
        "environment",
        "\"PRODUCTION\"",
    ),
    (
        "subscriptionOfferCodeOneTimeUseCodes",
        "environment",
        "\"PRODUCTION\"",
    ),
    // No codes generated yet.
    ("inAppPurchaseOfferCodes", "productionCodeCount", "0"),
    ("inAppPurchaseOfferCodes", "sandboxCodeCount", "0"),
    ("subscriptionOfferCodes", "productionCodeCount", "0"),
    ("subscriptionOfferCodes", "sandboxCodeCount", "0"),
    ("subscriptionOfferCodes", "totalNumberOfCodes", "0"),
    // Offer codes are for auto-renewable subscriptions: they renew unless told otherwise.
    ("subscriptionOfferCodes", "autoRenewEnabled", "true"),
    ("winBackOffers", "promotionIntent", "\"NOT_PROMOTED\""),
    ("backgroundAssets", "usedBytes", "0"),
    ("appStoreVersionPhasedReleases", "totalPauseDuration", "0"),
    // GameKit's default context of a score.
    ("gameCenterLeaderboardEntrySubmissions", "context", "\"0\""),
    // Submissions are submitted when made.
    ("betaAppReviewSubmissions", "submittedDate", "@now"),
    (
        "gameCenterLeaderboardEntrySubmissions",
        "submittedDate",
        "@now",
    ),
    (
        "gameCenterPlayerAchievementSubmissions",
        "submittedDate",
        "@now",
    ),
    // A new subscription ranks below the group's existing ones (level 1 is the highest).
    ("subscriptions", "groupLevel", "@next"),
    // A declaration or submission is for the platform of the app; iOS unless told.
    ("appEncryptionDeclarations", "platform", "\"IOS\""),
    ("reviewSubmissions", "platform", "\"IOS\""),
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
                if *t == w.rtype
                    && !v.starts_with('@')
                    && !w.attributes.contains_key(*a)
                    && let Ok(val) = serde_json::from_str::<Value>(v)
                {
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
