//! The front of a server with worlds: every request is handed to one world's router.
//!
//! - `/crabapple/worlds/{id}/…` goes to world `id` with the prefix taken off: a world's base URL
//!   is `http://HOST/crabapple/worlds/{id}`, so its Apple APIs, admin API
//!   (`…/crabapple/admin/…`, the server's admin token), inspector, upload and segment URLs all
//!   live under it. An id the registry does not know is a 404.
//! - Any other request whose bearer token's header names (`kid`, read without verifying) an API
//!   key of a world goes to that world: its clients may also use the server's own base URL.
//! - Everything else goes to the default world, which answers a token it does not know with
//!   Apple's 401. So a token is only ever verified by the world that owns its key: world A's
//!   token is 401 in world B.
//!
//! A world's responses build their links on the prefixed base ([`PREFIX_HEADER`], read by
//! `wire::base_url`). Worlds open on their first request and stay open; the admin API's
//! `/crabapple/admin/worlds` (guarded like the rest of the admin API) creates, lists, deletes
//! and exports them.

use super::{NewWorld, PATH_PREFIX, WorldInfo};
use crate::App;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crabapple_storekit::http::{Answer, Refusal};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::OnceCell;
use tower::ServiceExt;

/// Set by the front on a request it hands to a world (and removed from every incoming one):
/// the path prefix of the world's base URL, which links are built on.
pub const PREFIX_HEADER: &str = "x-crabapple-world-prefix";

/// A world kept open.
pub struct Opened {
    pub app: Arc<App>,
    router: Router,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Commits to the world's store since the refresher last looked ([`Worlds::refresh`]).
    commits: Mutex<crabapple_store::CommitWaiter>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Opened {
    fn new(app: Arc<App>) -> Arc<Opened> {
        // The world's notifications, renewals and retries run like the default world's.
        let tasks = vec![app.commerce.spawn()];
        Arc::new(Opened {
            router: crate::router(app.clone()),
            commits: Mutex::new(app.store().commit_waiter()),
            app,
            tasks,
        })
    }
}

/// The registry as this process last read it.
#[derive(Default)]
struct Index {
    worlds: HashMap<String, WorldInfo>,
    by_key: HashMap<String, String>,
}

type Slot = Arc<OnceCell<Arc<Opened>>>;

/// The worlds of a running server.
pub struct Worlds {
    default: Arc<App>,
    default_router: Router,
    index: RwLock<Index>,
    open: Mutex<HashMap<String, Slot>>,
    /// Names (kids, world ids) not found after a re-read, and when: not re-read again for a
    /// second (a flood of made-up kids must not become a flood of reads).
    misses: Mutex<HashMap<String, i64>>,
}

impl Worlds {
    pub fn new(default: Arc<App>) -> Arc<Worlds> {
        Arc::new(Worlds {
            default_router: crate::router(default.clone()),
            default,
            index: RwLock::new(Index::default()),
            open: Mutex::new(HashMap::new()),
            misses: Mutex::new(HashMap::new()),
        })
    }

    fn data_dir(&self) -> &std::path::Path {
        &self.default.config.data_dir
    }

    /// Re-reads the registry; closes the open worlds it no longer lists.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let list = super::registry(self.default.store()).await?;
        let mut index = Index::default();
        for w in list {
            for k in &w.key_ids {
                index.by_key.insert(k.clone(), w.id.clone());
            }
            index.worlds.insert(w.id.clone(), w);
        }
        let closed: Vec<Slot> = {
            let mut open = self.open.lock().expect("open worlds");
            let gone: Vec<String> = open
                .keys()
                .filter(|id| !index.worlds.contains_key(*id))
                .cloned()
                .collect();
            gone.iter().filter_map(|id| open.remove(id)).collect()
        };
        *self.index.write().expect("worlds index") = index;
        drop(closed);
        Ok(())
    }

    /// Looks `name` up with `find`, re-reading the registry once when it is not there (another
    /// process may have just created it), unless that was tried less than a second ago.
    async fn lookup<T>(&self, name: &str, find: impl Fn(&Index) -> Option<T>) -> Option<T> {
        if let Some(found) = find(&*self.index.read().ok()?) {
            return Some(found);
        }
        let now = self.default.store().clock.wall_ms();
        {
            let mut misses = self.misses.lock().ok()?;
            if misses.get(name).is_some_and(|t| now - t < 1000) {
                return None;
            }
            if misses.len() > 1024 {
                misses.clear();
            }
            misses.insert(name.to_string(), now);
        }
        if let Err(e) = self.reload().await {
            tracing::warn!("reading the worlds registry: {e:#}");
        }
        let index = self.index.read().ok()?;
        find(&index)
    }

    /// The world owning API key `kid`, if a world does.
    async fn world_of_key(&self, kid: &str) -> Option<String> {
        if self.default.knows_key(kid) {
            return None;
        }
        self.lookup(kid, |i| i.by_key.get(kid).cloned()).await
    }

    /// World `id`, opened on first use; `None` when the registry does not list it.
    pub async fn world(&self, id: &str) -> anyhow::Result<Option<Arc<Opened>>> {
        if self
            .lookup(id, |i| i.worlds.contains_key(id).then_some(()))
            .await
            .is_none()
        {
            return Ok(None);
        }
        let slot = self
            .open
            .lock()
            .expect("open worlds")
            .entry(id.to_string())
            .or_default()
            .clone();
        if slot.get().is_none() && !super::store_exists(self.data_dir(), id) {
            // Deleted by another process a moment ago: the registry says so too.
            self.reload().await?;
            return Ok(None);
        }
        let opened = slot
            .get_or_try_init(|| async {
                let app = super::open_app(&self.default.config, self.data_dir(), id).await?;
                anyhow::Ok(Opened::new(app))
            })
            .await?;
        Ok(Some(opened.clone()))
    }

    /// Every second: the registry, and each open world's keys and clock when something was
    /// committed to it (another process may have changed them), its new keys recorded in the
    /// registry.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let worlds = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(w) = worlds.upgrade() else { return };
                if let Err(e) = w.refresh().await {
                    tracing::warn!("refreshing the worlds: {e:#}");
                }
            }
        })
    }

    async fn refresh(&self) -> anyhow::Result<()> {
        self.reload().await?;
        let open: Vec<(String, Arc<Opened>)> = self
            .open
            .lock()
            .expect("open worlds")
            .iter()
            .filter_map(|(id, s)| s.get().map(|o| (id.clone(), o.clone())))
            .collect();
        let mut changed = false;
        for (id, o) in open {
            // Keys and the clock change only by a commit: an idle world is not asked (issue
            // 12: a hundred open worlds cost 2-3 statements a second each).
            let committed = o
                .commits
                .lock()
                .expect("commits")
                .committed_since(o.app.store());
            if committed {
                o.app.reload_keys().await?;
                o.app.store().reload_clock().await?;
            }
            let mut keys: Vec<String> = o.app.keys.read().expect("keys").keys().cloned().collect();
            keys.sort();
            let known = self
                .index
                .read()
                .expect("worlds index")
                .worlds
                .get(&id)
                .map(|w| {
                    let mut k = w.key_ids.clone();
                    k.sort();
                    k
                });
            if known.is_some_and(|k| k != keys) {
                super::set_keys(self.default.store(), &id, keys).await?;
                changed = true;
            }
        }
        if changed {
            self.reload().await?;
        }
        Ok(())
    }

    /// Hands `req` to world `id` as `path_and_query`.
    async fn forward(
        &self,
        opened: Arc<Opened>,
        id: &str,
        path_and_query: Option<&str>,
        mut req: Request,
    ) -> Response {
        if let Some(pq) = path_and_query {
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = pq.parse().ok();
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{PATH_PREFIX}{id}")) {
            req.headers_mut().insert(PREFIX_HEADER, v);
        }
        let key_change =
            req.method() == Method::POST && req.uri().path().starts_with("/crabapple/admin/keys");
        let resp = match opened.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if key_change && resp.status().is_success() {
            // A key made through the world's admin API serves the world from now on.
            if let Err(e) = super::sync_keys(self.default.store(), opened.app.store(), id).await {
                tracing::warn!("recording world {id}'s keys: {e:#}");
            }
            let _ = self.reload().await;
        }
        resp
    }

    /// A world just created joins the open ones.
    fn adopt(&self, info: &WorldInfo, app: Arc<App>) {
        let slot: Slot = Arc::new(OnceCell::new_with(Some(Opened::new(app))));
        self.open
            .lock()
            .expect("open worlds")
            .insert(info.id.clone(), slot);
        let mut index = self.index.write().expect("worlds index");
        for k in &info.key_ids {
            index.by_key.insert(k.clone(), info.id.clone());
        }
        index.worlds.insert(info.id.clone(), info.clone());
    }

    /// Closes and deletes world `id`.
    pub async fn delete(&self, id: &str) -> anyhow::Result<bool> {
        let slot = self.open.lock().expect("open worlds").remove(id);
        drop(slot);
        let done = super::delete(self.default.store(), self.data_dir(), id).await?;
        self.reload().await?;
        Ok(done)
    }
}

/// What a listener serves (the same answers as [`router`]): the worlds admin API through the
/// router, every other request handed to [`dispatch`] directly — not through a router whose
/// route table it would miss (a route lookup, a boxed service clone and a future per request).
#[derive(Clone)]
pub struct Front {
    worlds: Arc<Worlds>,
    admin: Router,
}

impl Front {
    pub fn new(worlds: Arc<Worlds>) -> Front {
        Front {
            admin: router(worlds.clone()),
            worlds,
        }
    }

    pub async fn serve(&self, req: Request) -> Response {
        if req.uri().path().starts_with("/crabapple/admin/worlds") {
            match self.admin.clone().oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        } else {
            dispatch(State(self.worlds.clone()), req).await
        }
    }
}

/// The front's router: the worlds admin API, then [`dispatch`] for everything else.
pub fn router(worlds: Arc<Worlds>) -> Router {
    Router::new()
        .route("/crabapple/admin/worlds", get(list).post(create))
        .route(
            "/crabapple/admin/worlds/{id}",
            axum::routing::delete(delete),
        )
        .route("/crabapple/admin/worlds/{id}/export", get(export))
        .route_layer(DefaultBodyLimit::max(crate::limits::MAX_ADMIN_BODY))
        .route_layer(axum::middleware::from_fn_with_state(worlds.clone(), guard))
        .fallback(dispatch)
        .with_state(worlds)
}

/// The admin API's access rules ([`crate::access`]) for `/crabapple/admin/worlds…`.
async fn guard(State(w): State<Arc<Worlds>>, req: Request, next: Next) -> Response {
    if let Some((status, message)) = crate::access::refusal(&w.default.config.admin, &req) {
        return Refusal::admin(status, message).into_response();
    }
    next.run(req).await
}

/// Routes one request (see the module's documentation).
async fn dispatch(State(w): State<Arc<Worlds>>, mut req: Request) -> Response {
    req.headers_mut().remove(PREFIX_HEADER);
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(PATH_PREFIX) {
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let id = id.to_string();
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let pq = format!("/{tail}{query}");
        return match w.world(&id).await {
            Ok(Some(o)) => w.forward(o, &id, Some(&pq), req).await,
            Ok(None) => Refusal::admin(
                StatusCode::NOT_FOUND,
                format!("no world '{id}' on this server (GET /crabapple/admin/worlds lists them)"),
            )
            .into_response(),
            Err(e) => {
                Refusal::admin_internal(e.context(format!("opening world {id}"))).into_response()
            }
        };
    }
    let kid = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::token_kid);
    if let Some(kid) = kid
        && let Some(id) = w.world_of_key(&kid).await
    {
        match w.world(&id).await {
            Ok(Some(o)) => return w.forward(o, &id, None, req).await,
            Ok(None) => {}
            Err(e) => {
                return Refusal::admin_internal(e.context(format!("opening world {id}")))
                    .into_response();
            }
        }
    }
    match w.default_router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// A world as the admin API shows it: its registry entry and base URL.
fn shown(info: &WorldInfo, headers: &HeaderMap, w: &Worlds) -> Value {
    let base = crate::wire::host_url(headers, w.default.config.public_url.as_deref());
    let mut v = json!(info);
    v["baseUrl"] = json!(format!("{base}{PATH_PREFIX}{}", info.id));
    v
}

async fn list(State(w): State<Arc<Worlds>>, headers: HeaderMap) -> Answer {
    w.reload().await.map_err(Refusal::admin_internal)?;
    let mut all: Vec<WorldInfo> = w
        .index
        .read()
        .expect("worlds index")
        .worlds
        .values()
        .cloned()
        .collect();
    all.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    let shown: Vec<Value> = all.iter().map(|i| shown(i, &headers, &w)).collect();
    Ok(axum::Json(json!(shown)).into_response())
}

/// `POST /crabapple/admin/worlds`: no body for the demo world, or `{"name": …, "seed": …}`
/// with the seed as YAML (or JSON) text or as a JSON object.
async fn create(State(w): State<Arc<Worlds>>, headers: HeaderMap, body: Bytes) -> Answer {
    let started = std::time::Instant::now();
    let bad = |m: String| Refusal::admin(StatusCode::BAD_REQUEST, m);
    let new = if body.iter().all(u8::is_ascii_whitespace) {
        NewWorld::default()
    } else {
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let name = match v.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(bad("'name' is a string".into())),
        };
        let seed = match v.get("seed") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(o @ Value::Object(_)) => {
                Some(serde_json::to_string(o).map_err(|e| bad(format!("seed: {e}")))?)
            }
            Some(_) => {
                return Err(bad(
                    "'seed' is the seed file's text (YAML or JSON) or a JSON object".into(),
                ));
            }
        };
        NewWorld { name, seed }
    };
    let created = super::create(w.default.store(), &w.default.config, w.data_dir(), new)
        .await
        .map_err(|e| {
            if crabapple_store::StorageFault::of(&e).is_some() {
                Refusal::admin_internal(e)
            } else {
                bad(format!("{e:#}"))
            }
        })?;
    w.adopt(&created.info, created.app.clone());
    let mut v = shown(&created.info, &headers, &w);
    v["issuerId"] = json!(created.key.issuer_id);
    v["keyId"] = json!(created.key.key_id);
    v["keyPath"] = json!(created.key.key_path);
    v["resources"] = json!(created.resources);
    v["elapsedMs"] = json!(started.elapsed().as_millis() as u64);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn no_world(id: &str) -> Refusal {
    Refusal::admin(StatusCode::NOT_FOUND, format!("no world '{id}'"))
}

async fn delete(State(w): State<Arc<Worlds>>, Path(id): Path<String>) -> Answer {
    match w.delete(&id).await.map_err(Refusal::admin_internal)? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(no_world(&id)),
    }
}

async fn export(State(w): State<Arc<Worlds>>, Path(id): Path<String>) -> Answer {
    let opened = w
        .world(&id)
        .await
        .map_err(Refusal::admin_internal)?
        .ok_or_else(|| no_world(&id))?;
    let title = w
        .index
        .read()
        .expect("worlds index")
        .worlds
        .get(&id)
        .map(|i| format!("{} ({id})", i.name))
        .unwrap_or_else(|| id.clone());
    let yaml = super::export::seed_yaml(&opened.app, &title)
        .await
        .map_err(Refusal::admin_internal)?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], yaml).into_response())
}
