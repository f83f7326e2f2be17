//! Upload Message, Delete Message, Get Message List; Delete Image of an image in use.

use crabapple_storekit::messaging_store::MessageRow;
use crabapple_storekit::messaging_store::MessagingTx;
use serde_json::{Value, json};

use crate::{Api, assert_apple_error, uuid};

fn path(id: &str) -> String {
    format!("/sandbox/inApps/v1/messaging/message/{id}")
}

fn text(n: usize) -> String {
    "é".repeat(n)
}

#[tokio::test]
async fn upload_message_lists_pending_review_then_deletes() {
    let api = Api::start().await;
    let id = uuid();
    let body = json!({"header": "Before you go", "body": "Stay for 50% off your next month."});
    let r = api.put_json(&path(&id), &body).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let list = api.get("/sandbox/inApps/v1/messaging/message/list").await;
    assert_eq!(
        list.json,
        json!({"messageIdentifiers": [{"messageIdentifier": id, "messageState": "PENDING"}]})
    );
    // 409 MessageAlreadyExistsError.
    assert_apple_error(&api.put_json(&path(&id), &body).await, 409, 4_090_001);
    assert_eq!(api.delete(&path(&id)).await.status, 200);
    // 404 MessageNotFoundError.
    assert_apple_error(&api.delete(&path(&id)).await, 404, 4_040_015);
    let list = api.get("/sandbox/inApps/v1/messaging/message/list").await;
    assert_eq!(list.json, json!({"messageIdentifiers": []}));
}

#[tokio::test]
async fn message_with_image_and_bullet_points_keeps_its_images_from_deletion() {
    let api = Api::start().await;
    let (image, bullet, id) = (uuid(), uuid(), uuid());
    api.image(&image, false).await;
    api.image(&bullet, true).await;
    let body = json!({
        "header": "Header", "body": "Body", "headerPosition": "ABOVE_IMAGE",
        "image": {"imageIdentifier": image, "altText": "A picture"},
        "bulletPoints": [{"text": "Offline mode", "imageIdentifier": bullet, "altText": "icon"}],
    });
    assert_eq!(api.put_json(&path(&id), &body).await.status, 200);
    // Delete Image: "you need to delete the message before you can delete the image"
    // → 403 ImageInUseError 4030019.
    for img in [&image, &bullet] {
        let r = api
            .delete(&format!("/sandbox/inApps/v1/messaging/image/{img}"))
            .await;
        assert_apple_error(&r, 403, 4_030_019);
    }
    assert_eq!(api.delete(&path(&id)).await.status, 200);
    for img in [&image, &bullet] {
        let r = api
            .delete(&format!("/sandbox/inApps/v1/messaging/image/{img}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

#[tokio::test]
async fn text_limits_count_characters() {
    // header ≤ 66, body ≤ 144, altText ≤ 150, bullet text ≤ 66 (UploadMessageRequestBody,
    // UploadMessageImage, BulletPoint): characters, not bytes ("é" is two bytes).
    let api = Api::start().await;
    let (image, bullet) = (uuid(), uuid());
    api.image(&image, false).await;
    api.image(&bullet, true).await;
    let ok = json!({
        "header": text(66), "body": text(144),
        "image": {"imageIdentifier": image, "altText": text(150)},
        "bulletPoints": [{"text": text(66), "imageIdentifier": bullet, "altText": text(150)}],
    });
    let r = api.put_json(&path(&uuid()), &ok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let with = |pointer: &str, v: Value| {
        let mut b = ok.clone();
        *b.pointer_mut(pointer).unwrap() = v;
        b
    };
    for (pointer, n, code) in [
        ("/header", 67, 4_000_162),
        ("/body", 145, 4_000_163),
        ("/image/altText", 151, 4_000_175),
        ("/bulletPoints/0/altText", 151, 4_000_175),
        ("/bulletPoints/0/text", 67, 4_000_219),
    ] {
        let r = api
            .put_json(&path(&uuid()), &with(pointer, json!(text(n))))
            .await;
        assert_apple_error(&r, 400, code);
    }
}

#[tokio::test]
async fn message_structure_errors() {
    let api = Api::start().await;
    let (image, bullet) = (uuid(), uuid());
    api.image(&image, false).await;
    api.image(&bullet, true).await;
    let bp = json!({"text": "t", "imageIdentifier": bullet, "altText": "a"});
    let cases = [
        // BadRequestAboveImageRequiresAnImageError 4000224.
        (
            json!({"header": "h", "body": "b", "headerPosition": "ABOVE_IMAGE"}),
            400,
            4_000_224,
        ),
        // BadRequestTooManyBulletPointsError 4000218: more than 5 (Apple's Python library's
        // `max_len(5)` on bulletPoints).
        (
            json!({"header": "h", "body": "b", "bulletPoints": [bp, bp, bp, bp, bp, bp]}),
            400,
            4_000_218,
        ),
        // Missing required fields, wrong types: GeneralBadRequest 4000000.
        (json!({"body": "b"}), 400, 4_000_000),
        (json!({"header": "h"}), 400, 4_000_000),
        (json!({"header": 1, "body": "b"}), 400, 4_000_000),
        (
            json!({"header": "h", "body": "b", "headerPosition": "BELOW"}),
            400,
            4_000_000,
        ),
        (
            json!({"header": "h", "body": "b", "bulletPoints": {}}),
            400,
            4_000_000,
        ),
        (
            json!({"header": "h", "body": "b", "image": {"imageIdentifier": image}}),
            400,
            4_000_000,
        ),
        // An image that doesn't exist: 404 ImageNotFoundError.
        (
            json!({"header": "h", "body": "b", "image": {"imageIdentifier": uuid(), "altText": "a"}}),
            404,
            4_040_014,
        ),
        // A bullet-point image as the message image (and the reverse): BadRequestImageSizeError.
        (
            json!({"header": "h", "body": "b", "image": {"imageIdentifier": bullet, "altText": "a"}}),
            400,
            4_000_216,
        ),
        (
            json!({"header": "h", "body": "b", "bulletPoints": [{"text": "t", "imageIdentifier": image, "altText": "a"}]}),
            400,
            4_000_216,
        ),
    ];
    for (body, status, code) in cases {
        let r = api.put_json(&path(&uuid()), &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert_apple_error(&r, status, code);
    }
    // Five bullet points are fine.
    let five = json!({"header": "h", "body": "b", "bulletPoints": [bp, bp, bp, bp, bp]});
    assert_eq!(api.put_json(&path(&uuid()), &five).await.status, 200);
    // Not JSON, and a bad identifier.
    let r = api
        .call(
            "PUT",
            &path(&uuid()),
            Some(("application/json", b"[1]".to_vec())),
            true,
        )
        .await;
    assert_apple_error(&r, 400, 4_000_000);
    let r = api
        .put_json(&path("ABC"), &json!({"header": "h", "body": "b"}))
        .await;
    assert_apple_error(&r, 400, 4_000_000);
    assert_apple_error(&api.delete(&path("ABC")).await, 400, 4_000_000);
}

#[tokio::test]
async fn the_2001st_message_is_maximum_number_of_messages_reached() {
    // 403 MaximumNumberOfMessagesReachedError 4030016 (crabapple's limit: 2,000 per app).
    let api = Api::start().await;
    let app = crate::world::APP_ID.to_string();
    let mut tx = api.world.store.begin().await.unwrap();
    for i in 0..2000 {
        let row = MessageRow {
            message_identifier: format!("00000000-0000-4000-8000-{i:012}"),
            message_state: "APPROVED".into(),
            body: json!({"header": "h", "body": "b"}),
            created_ms: i,
        };
        assert!(
            tx.messaging_insert_message(&app, "Sandbox", &row, &[])
                .await
                .unwrap()
        );
    }
    tx.commit().await.unwrap();
    let r = api
        .put_json(&path(&uuid()), &json!({"header": "h", "body": "b"}))
        .await;
    assert_apple_error(&r, 403, 4_030_016);
}
