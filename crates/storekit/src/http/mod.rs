//! HTTP surface of the storekit room: Apple's App Store Server API (`/inApps/v1`, `/inApps/v2`,
//! and the same under `/sandbox/inApps/...`) with the Retention Messaging API
//! (`/inApps/v1/messaging/...`), and crabapple's commerce admin API
//! (`/crabapple/admin/commerce/...`).
//!
//! The server mounts [`router`] for any state that implements [`Host`] (the server's `App`).
//!
//! Modules: `api` (route table, request context, shared helpers), `transactions`,
//! `subscriptions`, `consumption`, `notifications` (the endpoints), `messaging` and
//! `realtime` (Retention Messaging), `admin` (commerce admin API), and `error`: every
//! refusal is a [`Refusal`] with one conversion into Apple's error documents (the server's own
//! admin API uses it too).
//!
//! Environment: the `/sandbox` path prefix, or the request's host name —
//! `api.storekit-sandbox.apple.com` / `api.storekit-sandbox.itunes.apple.com` are the sandbox,
//! everything else (`api.storekit.apple.com`, `api.storekit.itunes.apple.com`, 127.0.0.1, …)
//! production (apple-semantics.md §6).

mod admin;
mod api;
mod consumption;
mod error;
mod messaging;
mod notifications;
mod realtime;
mod subscriptions;
mod transactions;

pub use error::{Answer, Refusal};
pub use messaging::MAX_PNG_BYTES;

use std::sync::Arc;

use axum::Router;
use crabapple_auth::{ApiKey, Verifier};

use crate::commerce::Commerce;

/// What the storekit routes need from the server's state.
pub trait Host: Send + Sync + 'static {
    fn commerce(&self) -> &Arc<Commerce>;
    /// The token verifier (shared with the App Store Connect API for its cache).
    fn verifier(&self) -> &Verifier;
    /// An API key by key id (revoked ones too, so the reason can say "revoked").
    fn api_key(&self, key_id: &str) -> Option<ApiKey>;
    /// Makes sure a key created a moment ago (by the CLI or the admin API) is known before the
    /// token is verified.
    fn ensure_key(
        &self,
        _authorization: Option<&str>,
    ) -> impl std::future::Future<Output = ()> + Send {
        async {}
    }
}

/// The App Store Server API and the commerce admin API.
pub fn router<H: Host>() -> Router<Arc<H>> {
    api::routes::<H>()
        .merge(admin::routes::<H>())
        .merge(messaging::admin_routes::<H>())
        .merge(realtime::admin_routes::<H>())
}
