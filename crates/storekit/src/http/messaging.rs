//! Apple's Retention Messaging API (`/inApps/v1/messaging/...`, also under `/sandbox`): images,
//! messages and default messages. The Get Retention Message endpoint's URL and the performance
//! test are in [`super::realtime`]. Same In-App Purchase key auth as the rest of the App Store
//! Server API ([`super::api`]); no rate limit is applied (Apple publishes none for this API).
//!
//! Rules (developer.apple.com/documentation/retentionmessaging, error numbers from `APIError` in
//! Apple's `@apple/app-store-server-library` 3.1.0):
//! - Upload Image: "Format: PNG", "Doesn't have transparency", full size "the width must be 3840
//!   pixels, and the height can be between 160 to 2160 pixels", "The maximum number of images
//!   you can configure for each app is 2000" (`MaximumNumberOfImagesReachedError`), an existing
//!   identifier is `409 ImageAlreadyExistsError`; images start `PENDING`.
//! - States (`imageState`, `messageState`): `PENDING`, `APPROVED`, `REJECTED` as Apple's Java
//!   and Python libraries spell them (`ImageState.PENDING`); Apple's Node library 3.1.0 spells
//!   the first `PENDING_REVIEW`. Every library accepts any string, so crabapple follows the two
//!   that agree.
//! - Upload Message: header ≤ 66, body ≤ 144, alt text ≤ 150, bullet-point text ≤ 66 characters
//!   (`UploadMessageRequestBody`, `BulletPoint`, `UploadMessageImage`); `ABOVE_IMAGE` needs an
//!   image (`BadRequestAboveImageRequiresAnImageError`); at most 5 bullet points
//!   (`BadRequestTooManyBulletPointsError`; the `max_len(5)` of Apple's Python library model).
//! - Delete Image: "When you include an image in a message, you need to delete the message before
//!   you can delete the image" (`ImageInUseError`); not idempotent (`ImageNotFoundError`).
//! - Configure Default Message: the message and its image must be `APPROVED`
//!   (`MessageNotApprovedError`, `ImageNotApprovedError`), product id and locale valid.
//!
//! crabapple's choices where Apple's text is silent: a bullet-point image is a square of 32 to
//! 1,024 pixels; at most 2,000 messages per app; identifiers that aren't lowercase UUIDs are
//! `4000000 GeneralBadRequest`; images and messages are kept per environment;
//! review states change through the admin API
//! (`PUT /crabapple/admin/commerce/messaging/{bundleId}/{environment}/{images|messages}/{id}`).

use crate::ledger::LedgerStore;
use crate::messaging_store::{MessagingStore, MessagingTx};
use std::sync::Arc;

use crate::messaging_store::{ImageRow, MessageRow, Reviewed};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, put};
use serde_json::{Value, json};

use super::Host;
use super::api::{Call, Cx, body_json, single};
use super::error::{Answer, Refusal, ok};
use crate::commerce::Env;
use crate::commerce::catalog::{self, ProductKind};
use crate::models::ApiError;
use crate::png;

/// Upload Image: "The maximum number of images you can configure for each app is 2000."
pub const MAX_IMAGES: i64 = 2000;
/// crabapple's limit (Apple documents `MaximumNumberOfMessagesReachedError`, not the number).
pub const MAX_MESSAGES: i64 = 2000;
/// `BadRequestTooManyBulletPointsError` past 5: Apple's Python library 3.1.2 validates
/// `UploadMessageRequestBody.bulletPoints` with `max_len(5)` (the docs' text gives no number).
pub const MAX_BULLET_POINTS: usize = 5;
/// `header` and `BulletPoint.text`: "Maximum length: 66 characters".
pub const MAX_HEADER: usize = 66;
/// `body`: "Maximum length: 144 characters".
pub const MAX_BODY: usize = 144;
/// `altText`: "Maximum length: 150 characters".
pub const MAX_ALT_TEXT: usize = 150;
/// Full size: "the width must be 3840 pixels, and the height can be between 160 to 2160 pixels".
pub const FULL_SIZE_WIDTH: u32 = 3840;
pub const FULL_SIZE_HEIGHTS: std::ops::RangeInclusive<u32> = 160..=2160;
/// crabapple's bullet-point size (Apple's page gives none in the text we could read): square.
pub const BULLET_POINT_SIDES: std::ops::RangeInclusive<u32> = 32..=1024;
/// Largest PNG body accepted (a 3840 × 2160 RGB PNG is at most ~25 MB uncompressed).
pub const MAX_PNG_BYTES: usize = 32 * 1024 * 1024;

pub fn routes<H: Host>() -> Vec<(&'static str, MethodRouter<Arc<H>>)> {
    vec![
        (
            "/inApps/v1/messaging/image/{id}",
            put(upload_image::<H>)
                .delete(delete_image::<H>)
                .layer(DefaultBodyLimit::max(MAX_PNG_BYTES)),
        ),
        ("/inApps/v1/messaging/image/list", get(image_list::<H>)),
        (
            "/inApps/v1/messaging/message/{id}",
            put(upload_message::<H>).delete(delete_message::<H>),
        ),
        ("/inApps/v1/messaging/message/list", get(message_list::<H>)),
        (
            "/inApps/v1/messaging/default/{product}/{locale}",
            put(configure_default::<H>)
                .delete(delete_default::<H>)
                .get(get_default::<H>),
        ),
    ]
}

/// The review-state admin route (not under `/sandbox`).
pub fn admin_routes<H: Host>() -> Router<Arc<H>> {
    Router::new().route(
        "/crabapple/admin/commerce/messaging/{bundle}/{environment}/{kind}/{id}",
        put(set_state::<H>),
    )
}

/// An identifier Apple accepts: "A UUID … Must be lowercase."
pub(super) fn is_lower_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

fn bad_identifier(what: &str, id: &str) -> Refusal {
    Refusal::api(
        ApiError::GeneralBadRequest,
        format!("{what} '{id}' is not a lowercase UUID"),
    )
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The request context, once `id` is known to be a lowercase UUID (else `GeneralBadRequest`
/// naming `what`): the start of every endpoint that names an image or a message.
async fn begin_with<H: Host>(call: Call<H>, what: &str, id: &str) -> Result<Cx<H>, Refusal> {
    let cx = call.begin(None).await?;
    if !is_lower_uuid(id) {
        return Err(bad_identifier(what, id));
    }
    Ok(cx)
}

/// `Ok(())` when the change was made (`done`), else `refusal` (an insert that met an existing
/// identifier, a delete that found nothing).
fn ensure(done: bool, refusal: impl FnOnce() -> Refusal) -> Result<(), Refusal> {
    if done { Ok(()) } else { Err(refusal()) }
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/// Checks a PNG against the rules for `size`; the decoded width and height.
fn check_image(bytes: &[u8], size: &str) -> Result<(u32, u32), Refusal> {
    let info = png::inspect(bytes)
        .map_err(|e| Refusal::api(ApiError::InvalidImage, format!("not a valid PNG: {e}")))?;
    if info.has_transparency {
        return Err(Refusal::api(
            ApiError::InvalidImage,
            "the PNG has transparency (an alpha channel or tRNS); Upload Image: \"Doesn't have transparency\"",
        ));
    }
    let (w, h) = (info.width, info.height);
    let fits = match size {
        "FULL_SIZE" => w == FULL_SIZE_WIDTH && FULL_SIZE_HEIGHTS.contains(&h),
        _ => w == h && BULLET_POINT_SIDES.contains(&w),
    };
    if !fits {
        let rule = match size {
            "FULL_SIZE" => "FULL_SIZE images are 3840 wide and 160 to 2160 high".to_string(),
            _ => format!(
                "BULLET_POINT images are square, {} to {} pixels (crabapple)",
                BULLET_POINT_SIDES.start(),
                BULLET_POINT_SIDES.end()
            ),
        };
        return Err(Refusal::api(
            ApiError::InvalidImage,
            format!("{w}×{h}: {rule}"),
        ));
    }
    Ok((w, h))
}

/// PUT /inApps/v1/messaging/image/{imageIdentifier}?imageSize=
async fn upload_image<H: Host>(call: Call<H>, Path(id): Path<String>, body: Bytes) -> Answer {
    let cx = begin_with(call, "imageIdentifier", &id).await?;
    let q = cx.query();
    let size = match single(&q, "imageSize") {
        None => "FULL_SIZE",
        Some(s @ ("FULL_SIZE" | "BULLET_POINT")) => s,
        Some(other) => {
            return Err(Refusal::api(
                ApiError::BadRequestImageSize,
                format!("imageSize '{other}' is not FULL_SIZE or BULLET_POINT"),
            ));
        }
    };
    let size = size.to_string();
    let checked = {
        let size = size.clone();
        tokio::task::spawn_blocking(move || check_image(&body, &size).map(|wh| (wh, body))).await
    };
    let ((w, hgt), body) = checked.map_err(Refusal::internal)??;
    let row = ImageRow {
        image_identifier: id.clone(),
        image_size: size,
        image_state: "PENDING".into(),
        width: i64::from(w),
        height: i64::from(hgt),
        created_ms: cx.now(),
    };
    let (app, env) = cx.scope();
    cx.in_tx(async |tx| {
        if tx.messaging_image(app, env, &id).await?.is_some() {
            return Err(already(ApiError::ImageAlreadyExists, "image", &id));
        }
        if tx.messaging_image_count(app, env).await? >= MAX_IMAGES {
            return Err(Refusal::api(
                ApiError::MaximumNumberOfImagesReached,
                format!("{MAX_IMAGES} images already (Upload Image)"),
            ));
        }
        let inserted = tx.messaging_insert_image(app, env, &row, &body).await?;
        ensure(inserted, || {
            already(ApiError::ImageAlreadyExists, "image", &id)
        })
    })
    .await
}

fn already(e: ApiError, what: &str, id: &str) -> Refusal {
    Refusal::api(e, format!("the {what} identifier {id} already exists"))
}

/// DELETE /inApps/v1/messaging/image/{imageIdentifier}
async fn delete_image<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = begin_with(call, "imageIdentifier", &id).await?;
    let (app, env) = cx.scope();
    cx.in_tx(async |tx| {
        if tx.messaging_image(app, env, &id).await?.is_none() {
            return Err(Refusal::api(
                ApiError::ImageNotFound,
                format!("no image {id} in {env}"),
            ));
        }
        if tx.messaging_image_in_use(app, env, &id).await? {
            return Err(Refusal::api(
                ApiError::ImageInUse,
                format!("image {id} is part of a message: delete the message first"),
            ));
        }
        tx.messaging_delete_image(app, env, &id).await?;
        Ok(())
    })
    .await
}

/// GET /inApps/v1/messaging/image/list
async fn image_list<H: Host>(call: Call<H>) -> Answer {
    let cx = call.begin(None).await?;
    let (app, env) = cx.scope();
    let rows = cx.store().messaging_images(app, env).await?;
    listing(&rows, "imageIdentifiers", |r| {
        json!({
            "imageIdentifier": r.image_identifier,
            "imageState": r.image_state,
            "imageSize": r.image_size,
        })
    })
}

/// A list response `{key: [item(row), …]}`.
fn listing<T>(rows: &[T], key: &str, item: impl Fn(&T) -> Value) -> Answer {
    ok(&json!({ key: rows.iter().map(item).collect::<Vec<_>>() }))
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// A required string field of a request object.
fn text<'a>(v: &'a Value, key: &str, within: &str) -> Result<&'a str, Refusal> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| {
        Refusal::api(
            ApiError::GeneralBadRequest,
            format!("{within}{key} is required (a string)"),
        )
    })
}

fn alt_text(v: &Value, within: &str) -> Result<(), Refusal> {
    let alt = text(v, "altText", within)?;
    if chars(alt) > MAX_ALT_TEXT {
        return Err(Refusal::api(
            ApiError::AltTextTooLong,
            format!(
                "{within}altText has {} characters; at most {MAX_ALT_TEXT}",
                chars(alt)
            ),
        ));
    }
    Ok(())
}

/// Checks an `UploadMessageRequestBody`; the images it references, each with the size it
/// must have.
fn check_message(b: &Value) -> Result<Vec<(String, &'static str)>, Refusal> {
    let header = text(b, "header", "")?;
    let body = text(b, "body", "")?;
    if chars(header) > MAX_HEADER {
        return Err(Refusal::api(
            ApiError::HeaderTooLong,
            format!(
                "header has {} characters; at most {MAX_HEADER}",
                chars(header)
            ),
        ));
    }
    if chars(body) > MAX_BODY {
        return Err(Refusal::api(
            ApiError::BodyTooLong,
            format!("body has {} characters; at most {MAX_BODY}", chars(body)),
        ));
    }
    let mut images = Vec::new();
    let image = b.get("image").filter(|v| !v.is_null());
    if let Some(img) = image {
        let id = text(img, "imageIdentifier", "image.")?;
        alt_text(img, "image.")?;
        images.push((id.to_string(), "FULL_SIZE"));
    }
    match b.get("headerPosition").filter(|v| !v.is_null()) {
        None => {}
        Some(Value::String(p)) if p == "ABOVE_BODY" => {}
        Some(Value::String(p)) if p == "ABOVE_IMAGE" && image.is_some() => {}
        Some(Value::String(p)) if p == "ABOVE_IMAGE" => {
            return Err(Refusal::api(
                ApiError::BadRequestAboveImageRequiresAnImage,
                "headerPosition ABOVE_IMAGE needs an image",
            ));
        }
        Some(other) => {
            return Err(Refusal::api(
                ApiError::GeneralBadRequest,
                format!("headerPosition {other} is not ABOVE_BODY or ABOVE_IMAGE"),
            ));
        }
    }
    let bullets = match b.get("bulletPoints") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => &a[..],
        Some(_) => {
            return Err(Refusal::api(
                ApiError::GeneralBadRequest,
                "bulletPoints is not an array",
            ));
        }
    };
    if bullets.len() > MAX_BULLET_POINTS {
        return Err(Refusal::api(
            ApiError::BadRequestTooManyBulletPoints,
            format!(
                "{} bullet points; at most {MAX_BULLET_POINTS}",
                bullets.len()
            ),
        ));
    }
    for (i, bp) in bullets.iter().enumerate() {
        let within = format!("bulletPoints[{i}].");
        let t = text(bp, "text", &within)?;
        if chars(t) > MAX_HEADER {
            return Err(Refusal::api(
                ApiError::BadRequestBulletPointTextTooLong,
                format!(
                    "{within}text has {} characters; at most {MAX_HEADER}",
                    chars(t)
                ),
            ));
        }
        let id = text(bp, "imageIdentifier", &within)?;
        alt_text(bp, &within)?;
        images.push((id.to_string(), "BULLET_POINT"));
    }
    Ok(images)
}

/// PUT /inApps/v1/messaging/message/{messageIdentifier}
async fn upload_message<H: Host>(call: Call<H>, Path(id): Path<String>, body: Bytes) -> Answer {
    let cx = begin_with(call, "messageIdentifier", &id).await?;
    let b = body_json(&body)?;
    let images = check_message(&b)?;
    let row = MessageRow {
        message_identifier: id.clone(),
        message_state: "PENDING".into(),
        body: b,
        created_ms: cx.now(),
    };
    let (app, env) = cx.scope();
    cx.in_tx(async |tx| {
        if tx.messaging_message(app, env, &id).await?.is_some() {
            return Err(already(ApiError::MessageAlreadyExists, "message", &id));
        }
        if tx.messaging_message_count(app, env).await? >= MAX_MESSAGES {
            return Err(Refusal::api(
                ApiError::MaximumNumberOfMessagesReached,
                format!("{MAX_MESSAGES} messages already (crabapple's limit)"),
            ));
        }
        for (image, size) in &images {
            match tx.messaging_image(app, env, image).await? {
                None => {
                    return Err(Refusal::api(
                        ApiError::ImageNotFound,
                        format!("no image {image} in {env}"),
                    ));
                }
                Some(i) if i.image_size != *size => {
                    return Err(Refusal::api(
                        ApiError::BadRequestImageSize,
                        format!("image {image} is {}; this place needs {size}", i.image_size),
                    ));
                }
                Some(_) => {}
            }
        }
        let ids: Vec<String> = images.into_iter().map(|(i, _)| i).collect();
        let inserted = tx.messaging_insert_message(app, env, &row, &ids).await?;
        ensure(inserted, || {
            already(ApiError::MessageAlreadyExists, "message", &id)
        })
    })
    .await
}

/// DELETE /inApps/v1/messaging/message/{messageIdentifier}
async fn delete_message<H: Host>(call: Call<H>, Path(id): Path<String>) -> Answer {
    let cx = begin_with(call, "messageIdentifier", &id).await?;
    let (app, env) = cx.scope();
    cx.in_tx(async |tx| {
        let gone = tx.messaging_delete_message(app, env, &id).await?;
        ensure(gone, || message_not_found(&cx, &id))
    })
    .await
}

fn message_not_found<H>(cx: &Cx<H>, id: &str) -> Refusal {
    Refusal::api(
        ApiError::MessageNotFound,
        format!("no message {id} in {}", cx.env.as_str()),
    )
}

/// GET /inApps/v1/messaging/message/list
async fn message_list<H: Host>(call: Call<H>) -> Answer {
    let cx = call.begin(None).await?;
    let (app, env) = cx.scope();
    let rows = cx.store().messaging_messages(app, env).await?;
    listing(
        &rows,
        "messageIdentifiers",
        |r| json!({"messageIdentifier": r.message_identifier, "messageState": r.message_state}),
    )
}

// ---------------------------------------------------------------------------------------------
// Default messages
// ---------------------------------------------------------------------------------------------

/// A locale as `language[-Script][-REGION]` (`en`, `en-US`, `zh-Hans`, `zh-Hant-TW`, `es-419`).
pub(super) fn is_locale(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang = parts.next().unwrap_or_default();
    if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    let script = |p: &str| {
        p.len() == 4
            && p.as_bytes()[0].is_ascii_uppercase()
            && p.bytes().skip(1).all(|b| b.is_ascii_lowercase())
    };
    let region = |p: &str| {
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_uppercase()))
            || (p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match rest.as_slice() {
        [] => true,
        [a] => script(a) || region(a),
        [a, b] => script(a) && region(b),
        _ => false,
    }
}

/// The request context once the product (an auto-renewable subscription of the app) and the
/// locale are checked: the start of every default-message endpoint.
async fn default_target<H: Host>(
    call: Call<H>,
    product: &str,
    locale: &str,
) -> Result<Cx<H>, Refusal> {
    let cx = call.begin(None).await?;
    let subscription: anyhow::Result<bool> = async {
        // A read inside a write transaction that is dropped (rolled back).
        let mut tx = cx.store().begin().await?;
        let p = catalog::resolve_product(&mut tx, &cx.app, product).await?;
        Ok(p.is_some_and(|p| p.kind == ProductKind::AutoRenewable))
    }
    .await;
    if !subscription? {
        return Err(Refusal::api(
            ApiError::InvalidProductId,
            format!(
                "'{product}' is not an auto-renewable subscription of {}",
                cx.app.bundle_id
            ),
        ));
    }
    if !is_locale(locale) {
        return Err(Refusal::api(
            ApiError::InvalidLocale,
            format!("'{locale}' is not a locale (language[-Script][-REGION], e.g. en-US)"),
        ));
    }
    Ok(cx)
}

/// PUT /inApps/v1/messaging/default/{productId}/{locale}
async fn configure_default<H: Host>(
    call: Call<H>,
    Path((product, locale)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let cx = default_target(call, &product, &locale).await?;
    let b = body_json(&body)?;
    let id = text(&b, "messageIdentifier", "")?;
    let (app, env) = cx.scope();
    let message = cx
        .store()
        .messaging_message(app, env, id)
        .await?
        .ok_or_else(|| message_not_found(&cx, id))?;
    if message.message_state != "APPROVED" {
        return Err(Refusal::api(
            ApiError::MessageNotApproved,
            format!("message {id} is {}", message.message_state),
        ));
    }
    cx.in_tx(async |tx| {
        for image in message_images(&message.body) {
            let state = tx
                .messaging_image(app, env, &image)
                .await?
                .map(|i| i.image_state);
            if state.as_deref() != Some("APPROVED") {
                return Err(Refusal::api(
                    ApiError::ImageNotApproved,
                    format!("image {image} of message {id} is not APPROVED"),
                ));
            }
        }
        tx.messaging_put_default(app, env, &product, &locale, id)
            .await?;
        Ok(())
    })
    .await
}

/// The image identifiers a stored message shows.
fn message_images(body: &Value) -> Vec<String> {
    let main = body["image"]["imageIdentifier"].as_str();
    let bullets = body["bulletPoints"].as_array().into_iter().flatten();
    main.into_iter()
        .chain(bullets.filter_map(|b| b["imageIdentifier"].as_str()))
        .map(str::to_string)
        .collect()
}

/// DELETE /inApps/v1/messaging/default/{productId}/{locale}
async fn delete_default<H: Host>(
    call: Call<H>,
    Path((product, locale)): Path<(String, String)>,
) -> Answer {
    let cx = default_target(call, &product, &locale).await?;
    let (app, env) = cx.scope();
    cx.in_tx(async |tx| {
        let gone = tx
            .messaging_delete_default(app, env, &product, &locale)
            .await?;
        ensure(gone, || default_not_found(&product, &locale))
    })
    .await
}

fn default_not_found(product: &str, locale: &str) -> Refusal {
    Refusal::api(
        ApiError::DefaultMessageNotFound,
        format!("no default message for {product} in {locale}"),
    )
}

/// GET /inApps/v1/messaging/default/{productId}/{locale}
async fn get_default<H: Host>(
    call: Call<H>,
    Path((product, locale)): Path<(String, String)>,
) -> Answer {
    let cx = default_target(call, &product, &locale).await?;
    let (app, env) = cx.scope();
    let id = cx
        .store()
        .messaging_default(app, env, &product, &locale)
        .await?
        .ok_or_else(|| default_not_found(&product, &locale))?;
    ok(&json!({ "messageIdentifier": id }))
}

// ---------------------------------------------------------------------------------------------
// Review (admin)
// ---------------------------------------------------------------------------------------------

/// PUT /crabapple/admin/commerce/messaging/{bundleId}/{environment}/{images|messages}/{id}
/// `{"state": "APPROVED" | "REJECTED" | "PENDING"}`: App Review's decision.
async fn set_state<H: Host>(
    State(h): State<Arc<H>>,
    Path((bundle, environment, kind, id)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Answer {
    let what = match kind.as_str() {
        "images" => Reviewed::Image,
        "messages" => Reviewed::Message,
        _ => {
            return Err(Refusal::admin(
                StatusCode::NOT_FOUND,
                format!("'{kind}': images or messages"),
            ));
        }
    };
    let Some(env) = Env::parse(&environment) else {
        return Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            format!("'{environment}': Production or Sandbox"),
        ));
    };
    let state = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["state"].as_str().map(str::to_string));
    let Some(state @ ("APPROVED" | "REJECTED" | "PENDING")) = state.as_deref() else {
        return Err(Refusal::admin(
            StatusCode::BAD_REQUEST,
            "body: {\"state\": \"APPROVED\" | \"REJECTED\" | \"PENDING\"}",
        ));
    };
    let store = &h.commerce().store;
    let Some(app) = store.ledger_app_by_bundle(&bundle).await? else {
        return Err(Refusal::admin(
            StatusCode::NOT_FOUND,
            format!("no app {bundle}"),
        ));
    };
    let mut tx = store.begin().await?;
    let found = tx
        .messaging_set_state(what, &app.id, env.as_str(), &id, state)
        .await?;
    tx.commit().await?;
    if !found {
        return Err(Refusal::admin(
            StatusCode::NOT_FOUND,
            format!("no {kind} {id}"),
        ));
    }
    ok(&json!({ "state": state }))
}
