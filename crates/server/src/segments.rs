//! Analytics report segment downloads (reports-formats.md §4.1): the pre-signed `url` of an
//! `analyticsReportSegments` resource points here, outside Apple's namespace, and is fetched
//! without an Authorization header. The signature, expiry and bytes are crabapple-reports'
//! [`crabapple_reports::analytics::segment`]; this module only puts them on the wire.

use crate::App;
use crate::wire::parse_query;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Response, Uri, header};
use std::sync::Arc;

pub async fn download(
    State(app): State<Arc<App>>,
    Path(file): Path<String>,
    uri: Uri,
) -> Response<Body> {
    let query = parse_query(uri.query());
    let store = app.store();
    let now = store.clock.now_ms();
    let d = match crabapple_reports::analytics::segment::download(store, &file, &query, now).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("analytics segment {file}: {e:#}");
            crabapple_reports::analytics::segment::Download {
                status: 500,
                content_type: "application/xml",
                body: b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>".to_vec(),
                reason: None,
            }
        }
    };
    let mut resp = Response::builder()
        .status(d.status)
        .header(header::CONTENT_TYPE, d.content_type)
        .header(header::CONTENT_LENGTH, d.body.len());
    if let Some(why) = d.reason {
        resp = resp.header(
            crabapple_http::REASON_HEADER,
            crabapple_http::encode_header_text(&why),
        );
    }
    resp.body(Body::from(d.body)).expect("a valid response")
}
