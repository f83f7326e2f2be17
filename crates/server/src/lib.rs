//! The server room: axum wiring. One listener answers Apple's App Store Connect API (`/v1`, `/v2`,
//! `/v3`), crabapple's admin API (`/crabapple/admin/…`, outside Apple's namespace), analytics
//! segment downloads (`/crabapple/analytics/segments/…`, pre-signed, no Authorization), asset
//! upload parts and images (`/crabapple/uploads/…`, `/crabapple/images/…`, [`uploads`]), the
//! App Store Server API (`/inApps`), and the inspector's pages (`/crabapple/ui`, [`ui`]). A
//! request travels one straight line:
//! route → auth → rate limit → role → family rule or generic engine → store → renderer.
//! In front of it all, [`front`] hands each request to its world ([`worlds`]): the data
//! directory's own (the default) or an isolated one.

// Apple's error document is returned by value on purpose: errors are the cold path.
#![allow(clippy::result_large_err)]

pub mod access;
pub mod admin;
pub mod analytics_admin;
mod answers;
pub mod asc;
pub mod build_delivery;
pub mod builds_admin;
pub mod faults;
mod fresh;
pub mod history;
pub mod keys;
pub mod limits;
pub mod listen;
pub mod proxy;
pub mod review_admin;
pub mod segments;
pub mod settings;
pub mod setup;
pub mod tls;
pub mod ui;
pub mod uploads;
mod wire;
pub mod worlds;

use crabapple_auth::{ApiKey, KeyKind, RateLimiter, Verifier};
use crabapple_jsonapi::Engine;
use crabapple_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// How a server runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Base URL for links when clients reach crabapple through a proxy; otherwise links use the
    /// scheme and host of each request.
    pub public_url: Option<String>,
    /// Requests per key per rolling hour (Apple observed 3600, apple-semantics.md §1.6).
    pub rate_limit: u64,
    /// The world `POST /crabapple/admin/reset` reloads.
    pub world: setup::WorldChoice,
    /// Who may use the admin API ([`access`]).
    pub admin: access::AdminAccess,
    /// Whether notification and real-time URLs may point at link-local and cloud metadata
    /// addresses (refused by default, issue 8).
    pub allow_link_local_urls: bool,
}

/// Shared state of a running server.
pub struct App {
    pub engine: Engine,
    pub config: Config,
    pub verifier: Verifier,
    pub limiter: RateLimiter,
    /// Keys by key id, refreshed from the store every second and after every key change.
    pub keys: RwLock<HashMap<String, ApiKey>>,
    /// When `CRABAPPLE_RECORD_OPS` names a file, each served operation is appended to it as
    /// `operationId<TAB>User-Agent` (the test suite uses it to know what real clients exercised).
    pub recorder: Option<std::sync::Mutex<std::fs::File>>,
    /// The commerce ledger, App Store Server API and notification delivery (storekit room).
    pub commerce: Arc<crabapple_storekit::Commerce>,
    /// The last requests, for the inspector ([`ui::requests`]).
    pub requests: ui::requests::RequestLog,
    /// Faults on demand ([`faults`]).
    pub faults: faults::Armed,
    key_reload: tokio::sync::Mutex<()>,
    /// The looks at other processes' commits, shared by waiting requests ([`fresh`]).
    looks: fresh::Looks,
    /// Answers of repeated reads, kept while the store has not changed ([`answers`]).
    answers: answers::Answers,
    unknown_kids: std::sync::Mutex<HashMap<String, i64>>,
    /// The worlds this app fronts as the default world ([`App::worlds`]).
    worlds: std::sync::OnceLock<Arc<worlds::front::Worlds>>,
}

/// The `kid` of a bearer token's header, without verifying anything. A request asks twice (the
/// request log, then the key check) and a client sends one token for many requests, so each
/// thread remembers the last header it decoded.
pub(crate) fn token_kid(authorization: &str) -> Option<String> {
    thread_local! {
        static LAST: std::cell::RefCell<(String, Option<String>)> = Default::default();
    }
    let token = authorization.strip_prefix("Bearer ")?.trim();
    let header = token.split('.').next()?;
    LAST.with_borrow_mut(|(seen, kid)| {
        if seen != header {
            *kid = header_kid(header);
            header.clone_into(seen);
        }
        kid.clone()
    })
}

/// The `kid` of a JWT header (base64url JSON).
fn header_kid(header: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    // Only `kid` is read; the header's other members are skipped, not built.
    #[derive(serde::Deserialize)]
    struct Header {
        kid: Option<serde_json::Value>,
    }
    let h: Header = serde_json::from_slice(&bytes).ok()?;
    match h.kid? {
        serde_json::Value::String(kid) => Some(kid),
        _ => None,
    }
}

impl App {
    pub async fn new(store: Store, config: Config) -> anyhow::Result<Arc<App>> {
        let commerce = crabapple_storekit::Commerce::open(store.clone(), &config.data_dir).await?;
        commerce
            .egress
            .allow_link_local(config.allow_link_local_urls);
        let engine = Engine::new(
            store,
            crabapple_asc::families_signing_with(Some(commerce.pki().clone())),
        );
        let app = Arc::new(App {
            engine,
            commerce,
            limiter: RateLimiter::new(config.rate_limit),
            requests: ui::requests::RequestLog::default(),
            verifier: Verifier::default(),
            keys: RwLock::new(HashMap::new()),
            faults: faults::Armed::default(),
            key_reload: tokio::sync::Mutex::new(()),
            looks: fresh::Looks::default(),
            answers: answers::Answers::default(),
            unknown_kids: std::sync::Mutex::new(HashMap::new()),
            worlds: std::sync::OnceLock::new(),
            recorder: std::env::var_os("CRABAPPLE_RECORD_OPS").and_then(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .ok()
                    .map(std::sync::Mutex::new)
            }),
            config,
        });
        app.reload_keys().await?;
        faults::reload(&app).await?;
        Ok(app)
    }

    pub fn store(&self) -> &Store {
        &self.engine.store
    }

    /// The worlds of the server this app is the default world of ([`worlds`]).
    pub fn worlds(self: &Arc<Self>) -> Arc<worlds::front::Worlds> {
        self.worlds
            .get_or_init(|| worlds::front::Worlds::new(self.clone()))
            .clone()
    }

    /// When a token names a key this process does not know yet (created a moment ago by the CLI
    /// or the admin API), re-reads the keys before it is verified.
    pub async fn ensure_key(&self, authorization: Option<&str>) {
        let Some(kid) = authorization.and_then(token_kid) else {
            return;
        };
        let known = || self.keys.read().is_ok_and(|k| k.contains_key(&kid));
        if known() {
            return;
        }
        // A reload in flight (another request's with the same new key, or the periodic one) is
        // waited for: requests that arrive together with a new key are all verified after it,
        // not refused while the first one reloads.
        let one_at_a_time = self.key_reload.lock().await;
        if known() {
            return;
        }
        // A kid still unknown after a reload is not looked up again for a second (a flood of
        // made-up kids must not turn into a flood of reloads).
        let now = self.store().clock.wall_ms();
        if let Ok(mut tried) = self.unknown_kids.lock() {
            if tried.get(&kid).is_some_and(|t| now - t < 1000) {
                return;
            }
            if tried.len() > 1024 {
                tried.clear();
            }
            tried.insert(kid, now);
        }
        if let Err(e) = self.reload_keys_locked(one_at_a_time).await {
            tracing::warn!("reloading keys: {e:#}");
        }
    }

    /// Re-reads API keys (and, for individual keys, their user's current roles). Reloads are
    /// serialized, so a slow one that started before a key was added cannot overwrite a newer one.
    pub async fn reload_keys(&self) -> anyhow::Result<()> {
        self.reload_keys_locked(self.key_reload.lock().await).await
    }

    async fn reload_keys_locked(
        &self,
        _one_at_a_time: tokio::sync::MutexGuard<'_, ()>,
    ) -> anyhow::Result<()> {
        let mut map = HashMap::new();
        for k in self.store().keys().await? {
            let kind = match k.kind.as_str() {
                "individual" => KeyKind::Individual,
                "inAppPurchase" => KeyKind::InAppPurchase,
                _ => KeyKind::Team,
            };
            let mut roles = k.roles.clone();
            if let (KeyKind::Individual, Some(uid)) = (kind, &k.user_id)
                && let Some(user) = self.store().get("users", uid).await?
                && let Some(r) = user.attributes.get("roles").and_then(|r| r.as_array())
            {
                roles = r
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect();
            }
            map.insert(
                k.key_id.clone(),
                ApiKey {
                    key_id: k.key_id,
                    issuer_id: k.issuer_id,
                    kind,
                    roles,
                    user_id: k.user_id,
                    public_key_der: k.public_key,
                    revoked: k.revoked,
                    name: k.name,
                },
            );
        }
        *self.keys.write().expect("keys lock") = map;
        Ok(())
    }

    /// Appends `operationId<TAB>User-Agent` to the recording file, if any.
    pub fn record(&self, op_id: &str, headers: &axum::http::HeaderMap) {
        if let Some(f) = &self.recorder
            && let Ok(mut f) = f.lock()
        {
            use std::io::Write;
            let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok());
            let ua = user_agent.unwrap_or("-").replace(['\t', '\n'], " ");
            let _ = writeln!(f, "{op_id}\t{ua}");
        }
    }

    /// How many answers of repeated reads were served kept ([`answers`]): for tests.
    #[doc(hidden)]
    pub fn answers_served(&self) -> u64 {
        self.answers.served()
    }

    /// Whether `key_id` is one of this world's keys (no copy of it made).
    pub fn knows_key(&self, key_id: &str) -> bool {
        self.keys.read().is_ok_and(|k| k.contains_key(key_id))
    }

    pub fn key(&self, key_id: &str) -> Option<ApiKey> {
        self.keys.read().ok()?.get(key_id).cloned()
    }
}

impl crabapple_storekit::Host for App {
    fn commerce(&self) -> &Arc<crabapple_storekit::Commerce> {
        &self.commerce
    }
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
    fn api_key(&self, key_id: &str) -> Option<ApiKey> {
        self.key(key_id)
    }
    fn ensure_key(
        &self,
        authorization: Option<&str>,
    ) -> impl std::future::Future<Output = ()> + Send {
        let authorization = authorization.map(str::to_string);
        async move { App::ensure_key(self, authorization.as_deref()).await }
    }
}

/// The axum router for a running app.
pub fn router(app: Arc<App>) -> axum::Router {
    admin::routes()
        .merge(analytics_admin::routes())
        .merge(faults::routes())
        .merge(review_admin::routes())
        .route(history::PATH, axum::routing::get(history::version))
        .merge(ui::routes(app.clone()))
        .merge(builds_admin::routes())
        .route(
            "/crabapple/analytics/segments/{file}",
            axum::routing::get(segments::download),
        )
        .route(
            "/crabapple/uploads/{rtype}/{id}/{part}",
            axum::routing::put(uploads::put_part),
        )
        .route(
            "/crabapple/images/{file}/{size}",
            axum::routing::get(uploads::get_image),
        )
        .merge(crabapple_storekit::router::<App>())
        .fallback(asc::handle)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            front_door,
        ))
        .with_state(app)
}

/// What a listener serves: the default world's [`router`] behind the front that hands requests
/// to the other worlds ([`worlds::front`]).
pub fn front(app: &Arc<App>) -> axum::Router {
    worlds::front::router(app.worlds())
}

/// What the listeners serve: the [`front`]'s answers, requests outside the worlds admin API
/// handed on without its router ([`worlds::front::Front`]).
fn listened(app: &Arc<App>) -> worlds::front::Front {
    worlds::front::Front::new(app.worlds())
}

/// What every request passes before its route, in one middleware (one layer each cost a boxed
/// service clone and a future per request: ~2 % of a cached GET's CPU apiece), in this order:
/// the request log sees every answer, refusals included ([`ui::requests::record`], issue 13);
/// an oversized request is refused before anything else runs ([`limits::guard`]); the admin
/// API's access rules ([`access::refused`]); what other processes committed is seen
/// ([`see_other_writers`]); an armed fault applies ([`faults::inject`]).
async fn front_door(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let app = &app;
    ui::requests::record(app, req, |req| {
        limits::guard(req, |req| async move {
            if let Some(refused) = access::refused(app, &req) {
                return refused;
            }
            see_other_writers(app).await;
            faults::inject(app, req, |req| next.run(req)).await
        })
    })
    .await
}

/// Before every request: what another process (a `crabapple` CLI command, a replica) committed
/// before the request arrived is visible to it — the resource cache and the clock are refreshed
/// when the database changed ([`crabapple_store::Store::see_other_writers`]) — and the timeline
/// entries the virtual clock reached are applied.
async fn see_other_writers(app: &App) {
    // One look serves every request that arrived before it began ([`fresh`]); none is needed
    // when nothing was committed since the last one (the usual case under load).
    // The look is boxed: only one request in a queue takes it, and every other one's future
    // stays small.
    if !app.store().nothing_committed_since_last_look() {
        app.looks
            .see(|| {
                Box::pin(async {
                    match app.store().see_other_writers().await {
                        // Faults armed by the CLI (or a reset) are picked up.
                        Ok(true) => {
                            if let Err(e) = faults::reload(app).await {
                                tracing::warn!("re-reading the armed faults: {e:#}");
                            }
                            // A replica's commerce settings (the admin API's) are everyone's.
                            if let Err(e) = app.commerce.reload_settings().await {
                                tracing::warn!("re-reading the commerce settings: {e:#}");
                            }
                        }
                        Ok(false) => {}
                        // The cache was emptied; the request reads the database.
                        Err(e) => tracing::warn!("checking for other writers: {e:#}"),
                    }
                })
            })
            .await;
    }
    // What the virtual clock reached since (a build processed, a review decided) is applied
    // before the request reads it.
    if let Err(e) = app.engine.run_timeline().await {
        tracing::warn!("applying the timeline: {e:#}");
    }
}

/// Serves until the process ends, with the default [`limits::ListenLimits`].
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    if let Some(n) = limits::raise_fd_limit() {
        tracing::debug!("open files limit: {n}");
    }
    serve_with(app, listener, limits::ListenLimits::default()).await
}

/// Serves HTTPS on `https` and the proxy for Apple's hosts on `proxy` (either may be absent)
/// beside [`serve`]'s plain listener, with the data directory's CA ([`tls`]). The CA's PEM.
pub fn spawn_tls(
    app: &Arc<App>,
    https: Option<tokio::net::TcpListener>,
    proxy: Option<tokio::net::TcpListener>,
) -> anyhow::Result<String> {
    let t = tls::load(&app.config.data_dir)?;
    let limits = limits::ListenLimits::default();
    if let Some(l) = https {
        let acceptor = Some(t.acceptor.clone());
        tokio::spawn(listen::accept_loop(l, listened(app), limits, acceptor));
    }
    if let Some(l) = proxy {
        tokio::spawn(proxy::proxy_loop(l, listened(app), limits, t.acceptor));
    }
    Ok(t.ca_pem)
}

/// Serves until the process ends (the default world and the others, [`front`]); refreshes keys
/// every second.
pub async fn serve_with(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    listen: limits::ListenLimits,
) -> anyhow::Result<()> {
    let refresher = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(e) = refresher.reload_keys().await {
                tracing::warn!("reloading keys: {e:#}");
            }
            // `crabapple clock advance` from another process moves the persisted offset.
            if let Err(e) = refresher.store().reload_clock().await {
                tracing::warn!("reloading the clock: {e:#}");
            }
        }
    });
    app.commerce.spawn();
    app.worlds().spawn_refresher();
    listen::accept_loop(listener, listened(&app), listen, None).await
}
