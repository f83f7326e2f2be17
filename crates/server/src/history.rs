//! crabapple's extension `GET /crabapple/v1/appStoreVersions/{id}/history`: the transitions of a
//! version, its review submissions and its phased release, each with its virtual time
//! (crabapple-asc's `rules::review::history`). Apple has no such endpoint (forum post 17); this
//! one takes the same token as the App Store Connect API (401 and 429 as Apple's, §1.1–1.6) and
//! answers its errors in Apple's error document.

use crate::App;
use crate::asc::authenticate;
use crate::wire::{error, parse_query, reply};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response, Uri};
use crabapple_jsonapi::Reply;
use std::sync::Arc;

pub const PATH: &str = "/crabapple/v1/appStoreVersions/{id}/history";

pub async fn version(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    let query = parse_query(uri.query());
    let (_, rate_header) = match authenticate(&app, &headers, "GET", uri.path(), &query).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    match crabapple_asc::rules::review::history::of_version(app.store(), &id).await {
        Ok(doc) => reply(Reply::json(200, &doc), &rate_header),
        Err(e) => error(e, &rate_header),
    }
}
