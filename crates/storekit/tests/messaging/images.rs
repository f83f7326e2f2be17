//! Upload Image, Delete Image, Get Image List.

use crabapple_storekit::messaging_store::ImageRow;
use crabapple_storekit::messaging_store::MessagingTx;
use crabapple_storekit::png::{encode_solid, push_chunk};
use serde_json::json;

use crate::{Api, assert_apple_error, uuid};

const RGB: u8 = 2;
const RGBA: u8 = 6;
const BLUE: [u8; 4] = [0, 64, 255, 255];

fn path(id: &str) -> String {
    format!("/sandbox/inApps/v1/messaging/image/{id}")
}

#[tokio::test]
async fn upload_image_lists_pending_review_then_deletes_not_idempotently() {
    let api = Api::start().await;
    let (full, bullet) = (uuid(), uuid());
    let r = api
        .put_png(&path(&full), encode_solid(3840, 160, RGB, BLUE))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let r = api
        .put_png(
            &format!("{}?imageSize=BULLET_POINT", path(&bullet)),
            encode_solid(64, 64, RGB, BLUE),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = api.get("/sandbox/inApps/v1/messaging/image/list").await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json,
        json!({"imageIdentifiers": [
            {"imageIdentifier": full, "imageState": "PENDING", "imageSize": "FULL_SIZE"},
            {"imageIdentifier": bullet, "imageState": "PENDING", "imageSize": "BULLET_POINT"},
        ]})
    );
    // Images are per environment: production has none.
    let prod = api.get("/inApps/v1/messaging/image/list").await;
    assert_eq!(prod.json, json!({"imageIdentifiers": []}));
    // Upload Image: 409 ImageAlreadyExistsError for an existing identifier.
    let again = api
        .put_png(&path(&full), encode_solid(3840, 160, RGB, BLUE))
        .await;
    assert_apple_error(&again, 409, 4_090_000);
    let r = api.delete(&path(&full)).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    // Delete Image: "This endpoint isn't idempotent" → 404 ImageNotFoundError.
    assert_apple_error(&api.delete(&path(&full)).await, 404, 4_040_014);
    let list = api.get("/sandbox/inApps/v1/messaging/image/list").await;
    assert_eq!(list.json["imageIdentifiers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn full_size_images_are_3840_wide_and_160_to_2160_high() {
    // Upload Image: "the width must be 3840 pixels, and the height can be between 160 to 2160".
    let api = Api::start().await;
    for (w, h, status) in [
        (3840, 160, 200),
        (3840, 2160, 200),
        (3840, 159, 400),
        (3840, 2161, 400),
        (3839, 160, 400),
        (3841, 400, 400),
        (1920, 1080, 400),
    ] {
        let r = api
            .put_png(&path(&uuid()), encode_solid(w, h, RGB, BLUE))
            .await;
        if status == 200 {
            assert_eq!(r.status, 200, "{w}×{h}: {}", r.text);
        } else {
            assert_apple_error(&r, 400, 4_000_161);
        }
    }
}

#[tokio::test]
async fn bullet_point_images_are_squares_of_32_to_1024() {
    // crabapple's rule (Apple's bullet-point size isn't in the text we could read).
    let api = Api::start().await;
    let q = "?imageSize=BULLET_POINT";
    for (w, h, good) in [
        (32, 32, true),
        (1024, 1024, true),
        (31, 31, false),
        (1025, 1025, false),
        (64, 32, false),
        (3840, 160, false),
    ] {
        let r = api
            .put_png(
                &format!("{}{q}", path(&uuid())),
                encode_solid(w, h, RGB, BLUE),
            )
            .await;
        if good {
            assert_eq!(r.status, 200, "{w}×{h}: {}", r.text);
        } else {
            assert_apple_error(&r, 400, 4_000_161);
        }
    }
}

#[tokio::test]
async fn images_with_transparency_or_not_png_are_invalid_image_errors() {
    // Upload Image: "Format: PNG", "Doesn't have transparency" → 400 InvalidImageError 4000161.
    let api = Api::start().await;
    let opaque = encode_solid(3840, 160, RGB, BLUE);
    let mut with_trns = opaque[..33].to_vec();
    push_chunk(&mut with_trns, b"tRNS", &[0, 0, 0, 64, 0, 255]);
    with_trns.extend_from_slice(&opaque[33..]);
    let mut bad_crc = opaque.clone();
    bad_crc[20] ^= 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("RGBA", encode_solid(3840, 160, RGBA, [0, 0, 0, 255])),
        ("tRNS", with_trns),
        (
            "JPEG",
            vec![0xff, 0xd8, 0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F'],
        ),
        ("empty", Vec::new()),
        ("truncated", opaque[..opaque.len() / 2].to_vec()),
        ("bad CRC", bad_crc),
    ];
    for (what, png) in cases {
        let r = api.put_png(&path(&uuid()), png).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_apple_error(&r, 400, 4_000_161);
    }
}

#[tokio::test]
async fn image_size_must_be_full_size_or_bullet_point() {
    // BadRequestImageSizeError 4000216.
    let api = Api::start().await;
    let r = api
        .put_png(
            &format!("{}?imageSize=HUGE", path(&uuid())),
            encode_solid(3840, 160, RGB, BLUE),
        )
        .await;
    assert_apple_error(&r, 400, 4_000_216);
}

#[tokio::test]
async fn image_identifiers_are_lowercase_uuids() {
    // "A UUID you provide … Must be lowercase." → 400 GeneralBadRequest 4000000 (crabapple's code).
    let api = Api::start().await;
    let upper = uuid().to_uppercase();
    for id in [upper.as_str(), "not-a-uuid"] {
        let r = api
            .put_png(&path(id), encode_solid(3840, 160, RGB, BLUE))
            .await;
        assert_apple_error(&r, 400, 4_000_000);
        assert_apple_error(&api.delete(&path(id)).await, 400, 4_000_000);
    }
}

#[tokio::test]
async fn the_2001st_image_is_maximum_number_of_images_reached() {
    // Upload Image: "The maximum number of images you can configure for each app is 2000"
    // → 403 MaximumNumberOfImagesReachedError 4030014.
    let api = Api::start().await;
    let store = &api.world.store;
    let app = crate::world::APP_ID.to_string();
    let mut tx = store.begin().await.unwrap();
    for i in 0..2000 {
        let row = ImageRow {
            image_identifier: format!("00000000-0000-4000-8000-{i:012}"),
            image_size: "BULLET_POINT".into(),
            image_state: "APPROVED".into(),
            width: 32,
            height: 32,
            created_ms: i,
        };
        assert!(
            tx.messaging_insert_image(&app, "Sandbox", &row, b"png")
                .await
                .unwrap()
        );
    }
    tx.commit().await.unwrap();
    let r = api
        .put_png(&path(&uuid()), encode_solid(3840, 160, RGB, BLUE))
        .await;
    assert_apple_error(&r, 403, 4_030_014);
    // Production counts separately.
    let r = api
        .put_png(
            &format!("/inApps/v1/messaging/image/{}", uuid()),
            encode_solid(3840, 160, RGB, BLUE),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
