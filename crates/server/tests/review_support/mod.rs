//! What the review and release tests (review.rs, release.rs) share (issue 11): the demo world's
//! versions they drive and the requests a client makes to submit one.

#![allow(dead_code)]

use crate::common::{Resp, World};
use serde_json::{Value, json};

/// Crabapple Notes (demo world) and its versions.
pub const NOTES: &str = "1476097583";
pub const NOTES_240: &str = "24952dc7-6602-5daa-90e3-e6aceb8d0c53";
pub const NOTES_230: &str = "efe5e5ca-26d2-58b3-8c68-6f76ada8fa1a";
pub const NOTES_240_EN: &str = "0cfcaa3e-b640-549f-ba14-1180a9e9ae77";
/// Crabapple Cinema 1.1.0: PENDING_DEVELOPER_RELEASE (MANUAL).
pub const CINEMA_110: &str = "a5f756ff-ac99-52e7-a682-aa1fc65adc14";
/// Orchard Quest 1.9.0: WAITING_FOR_REVIEW (seeded, with its submission).
pub const ORCHARD_190: &str = "0bd124bc-167c-5762-92f3-db070213306f";

impl World {
    pub async fn api(&self, method: &str, uri: &str, body: Value) -> Resp {
        self.call(method, uri, Some(&self.token.clone()), Some(body))
            .await
    }

    pub async fn advance(&self, by: &str) {
        let r = self
            .call(
                "POST",
                "/crabapple/admin/clock/advance",
                None,
                Some(json!({"by": by})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    pub async fn patch_version(&self, attributes: Value) -> Resp {
        self.api(
            "PATCH",
            &format!("/v1/appStoreVersions/{NOTES_240}"),
            json!({"data": {"type": "appStoreVersions", "id": NOTES_240, "attributes": attributes}}),
        )
        .await
    }

    pub async fn version_state(&self, id: &str) -> (String, String) {
        let v = self.get(&format!("/v1/appStoreVersions/{id}")).await.json();
        let a = &v["data"]["attributes"];
        (
            a["appVersionState"].as_str().unwrap_or_default().into(),
            a["appStoreState"].as_str().unwrap_or_default().into(),
        )
    }

    pub async fn attribute(&self, path: &str, name: &str) -> Value {
        self.get(path).await.json()["data"]["attributes"][name].clone()
    }

    /// A screenshot set of `display` with one screenshot (a reservation: counted whatever its
    /// delivery state) on localization `loc`.
    pub async fn screenshot(&self, loc: &str, display: &str) {
        let set = self
            .api(
                "POST",
                "/v1/appScreenshotSets",
                json!({"data": {"type": "appScreenshotSets",
                    "attributes": {"screenshotDisplayType": display},
                    "relationships": {"appStoreVersionLocalization": {"data": {"type": "appStoreVersionLocalizations", "id": loc}}}}}),
            )
            .await;
        assert_eq!(set.status, 201, "{}", String::from_utf8_lossy(&set.body));
        let set_id = set.json()["data"]["id"].as_str().unwrap().to_string();
        let shot = self
            .api(
                "POST",
                "/v1/appScreenshots",
                json!({"data": {"type": "appScreenshots",
                    "attributes": {"fileName": "home.png", "fileSize": 2048},
                    "relationships": {"appScreenshotSet": {"data": {"type": "appScreenshotSets", "id": set_id}}}}}),
            )
            .await;
        assert_eq!(shot.status, 201, "{}", String::from_utf8_lossy(&shot.body));
    }

    pub async fn new_submission(&self, app: &str, platform: &str) -> String {
        let r = self
            .api(
                "POST",
                "/v1/reviewSubmissions",
                json!({"data": {"type": "reviewSubmissions", "attributes": {"platform": platform},
                    "relationships": {"app": {"data": {"type": "apps", "id": app}}}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["data"]["attributes"]["state"], "READY_FOR_REVIEW");
        r.json()["data"]["id"].as_str().unwrap().to_string()
    }

    pub async fn add_item(&self, submission: &str, version: &str) -> Resp {
        self.api(
            "POST",
            "/v1/reviewSubmissionItems",
            json!({"data": {"type": "reviewSubmissionItems", "relationships": {
                "reviewSubmission": {"data": {"type": "reviewSubmissions", "id": submission}},
                "appStoreVersion": {"data": {"type": "appStoreVersions", "id": version}}}}}),
        )
        .await
    }

    /// `PATCH /crabapple/admin/review/settings` with `patch`.
    pub async fn review_settings(&self, patch: Value) -> Resp {
        self.call(
            "PATCH",
            "/crabapple/admin/review/settings",
            None,
            Some(patch),
        )
        .await
    }

    /// The reviewer on command: `POST /crabapple/admin/appStoreVersions/{id}/reject`.
    pub async fn reject_now(&self, version: &str, reason: &str) -> Resp {
        let r = self
            .call(
                "POST",
                &format!("/crabapple/admin/appStoreVersions/{version}/reject"),
                None,
                Some(json!({"reason": reason})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r
    }

    pub async fn patch_submission(&self, id: &str, attributes: Value) -> Resp {
        self.api(
            "PATCH",
            &format!("/v1/reviewSubmissions/{id}"),
            json!({"data": {"type": "reviewSubmissions", "id": id, "attributes": attributes}}),
        )
        .await
    }

    /// Notes 2.4.0 submitted for review (screenshots added): the submission's id.
    pub async fn submit_notes(&self) -> String {
        self.screenshot(NOTES_240_EN, "APP_IPHONE_67").await;
        let sub = self.new_submission(NOTES, "IOS").await;
        let item = self.add_item(&sub, NOTES_240).await;
        assert_eq!(item.status, 201, "{}", String::from_utf8_lossy(&item.body));
        let r = self
            .patch_submission(&sub, json!({"submitted": true}))
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        sub
    }
}

pub fn error(r: &Resp) -> Value {
    r.json()["errors"][0].clone()
}
