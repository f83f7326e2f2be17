//! Configure / Get / Delete Default Message.

use serde_json::json;

use crate::world::{GEMS, MONTHLY, YEARLY};
use crate::{Api, assert_apple_error, uuid};

fn path(product: &str, locale: &str) -> String {
    format!("/sandbox/inApps/v1/messaging/default/{product}/{locale}")
}

async fn message(api: &Api, image: Option<&str>) -> String {
    let id = uuid();
    let mut body = json!({"header": "Don't go", "body": "Here's a month on us."});
    if let Some(img) = image {
        body["image"] = json!({"imageIdentifier": img, "altText": "a gift"});
    }
    let r = api
        .put_json(&format!("/sandbox/inApps/v1/messaging/message/{id}"), &body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    id
}

#[tokio::test]
async fn default_message_needs_approved_message_and_image() {
    // Configure Default Message: "If either the message or the image isn't in an APPROVED
    // state, the request fails" → 403 MessageNotApprovedError / ImageNotApprovedError.
    let api = Api::start().await;
    let image = uuid();
    api.image(&image, false).await;
    let id = message(&api, Some(&image)).await;
    let put = |id: &str| json!({"messageIdentifier": id});
    assert_apple_error(
        &api.put_json(&path(MONTHLY, "en-US"), &put(&id)).await,
        403,
        4_030_017,
    );
    api.review("messages", &id, "APPROVED").await;
    assert_apple_error(
        &api.put_json(&path(MONTHLY, "en-US"), &put(&id)).await,
        403,
        4_030_018,
    );
    api.review("images", &image, "REJECTED").await;
    let list = api.get("/sandbox/inApps/v1/messaging/image/list").await;
    assert_eq!(list.json["imageIdentifiers"][0]["imageState"], "REJECTED");
    assert_apple_error(
        &api.put_json(&path(MONTHLY, "en-US"), &put(&id)).await,
        403,
        4_030_018,
    );
    api.review("images", &image, "APPROVED").await;
    let r = api.put_json(&path(MONTHLY, "en-US"), &put(&id)).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let got = api.get(&path(MONTHLY, "en-US")).await;
    assert_eq!(
        (got.status, got.json.clone()),
        (200, json!({"messageIdentifier": id}))
    );
    // "To replace a default message, call this endpoint again with a different message
    // identifier."
    let other = message(&api, None).await;
    api.review("messages", &other, "APPROVED").await;
    assert_eq!(
        api.put_json(&path(MONTHLY, "en-US"), &put(&other))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&path(MONTHLY, "en-US")).await.json,
        json!({"messageIdentifier": other})
    );
    // Another locale of the same product has none: 404 DefaultMessageNotFoundError.
    assert_apple_error(&api.get(&path(MONTHLY, "fr-FR")).await, 404, 4_040_020);
    assert_eq!(api.delete(&path(MONTHLY, "en-US")).await.status, 200);
    assert_apple_error(&api.get(&path(MONTHLY, "en-US")).await, 404, 4_040_020);
    assert_apple_error(&api.delete(&path(MONTHLY, "en-US")).await, 404, 4_040_020);
}

#[tokio::test]
async fn default_message_errors() {
    let api = Api::start().await;
    let id = message(&api, None).await;
    api.review("messages", &id, "APPROVED").await;
    let body = json!({"messageIdentifier": id});
    for locale in ["en", "en-US", "zh-Hans", "zh-Hant-TW", "es-419"] {
        let r = api.put_json(&path(YEARLY, locale), &body).await;
        assert_eq!(r.status, 200, "{locale}: {}", r.text);
    }
    // InvalidProductIdError (4000023): not an auto-renewable subscription of the app.
    for product in [GEMS, "com.example.nothing"] {
        for r in [
            api.put_json(&path(product, "en-US"), &body).await,
            api.get(&path(product, "en-US")).await,
            api.delete(&path(product, "en-US")).await,
        ] {
            assert_apple_error(&r, 400, 4_000_023);
        }
    }
    // InvalidLocaleError 4000164.
    for locale in ["english", "en_US", "EN-us", "en-US-x", "e"] {
        let r = api.put_json(&path(MONTHLY, locale), &body).await;
        assert_apple_error(&r, 400, 4_000_164);
    }
    // MessageNotFoundError 404; a missing messageIdentifier is GeneralBadRequest.
    let r = api
        .put_json(
            &path(MONTHLY, "en-US"),
            &json!({"messageIdentifier": uuid()}),
        )
        .await;
    assert_apple_error(&r, 404, 4_040_015);
    let r = api.put_json(&path(MONTHLY, "en-US"), &json!({})).await;
    assert_apple_error(&r, 400, 4_000_000);
    // Deleting the message removes the defaults that named it.
    let msg = format!("/sandbox/inApps/v1/messaging/message/{id}");
    assert_eq!(api.delete(&msg).await.status, 200);
    assert_apple_error(&api.get(&path(YEARLY, "en-US")).await, 404, 4_040_020);
}

#[tokio::test]
async fn review_admin_route_errors() {
    // crabapple's admin route (no Apple counterpart): plain JSON errors.
    let api = Api::start().await;
    let put = |path: String, body: &'static str| {
        let api = &api;
        async move {
            api.call(
                "PUT",
                &path,
                Some(("application/json", body.as_bytes().to_vec())),
                false,
            )
            .await
        }
    };
    let base = format!("/crabapple/admin/commerce/messaging/{}", crate::BUNDLE);
    let id = uuid();
    for (path, body, status) in [
        (
            format!("{base}/sandbox/pictures/{id}"),
            r#"{"state":"APPROVED"}"#,
            404,
        ),
        (
            format!("{base}/staging/images/{id}"),
            r#"{"state":"APPROVED"}"#,
            400,
        ),
        (
            format!("{base}/sandbox/images/{id}"),
            r#"{"state":"OK"}"#,
            400,
        ),
        (
            format!("{base}/sandbox/images/{id}"),
            r#"{"state":"APPROVED"}"#,
            404,
        ),
        (
            format!("/crabapple/admin/commerce/messaging/com.nope/sandbox/images/{id}"),
            r#"{"state":"APPROVED"}"#,
            404,
        ),
    ] {
        let r = put(path.clone(), body).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert!(r.json["error"].is_string(), "{path}: {}", r.text);
    }
}
