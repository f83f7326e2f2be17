//! The App Store Connect API listener: every request to `/v1`, `/v2`, `/v3` (and any unknown path)
//! goes through here in one straight line — auth (401) → rate limit (429) → route (404/405/403)
//! → role (403) → the engine — and leaves with Apple's headers.

use crate::App;
use crate::wire::{base_url, error, header, parse_query, reply};
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{Request as HttpRequest, Response};
use crabapple_auth::{BODY_RULE_OPERATIONS, RequestTarget, check_role, check_role_with_body};
use crabapple_jsonapi::{AscError, Request};
use crabapple_spec::OpKind;
use std::sync::Arc;

pub async fn handle(State(app): State<Arc<App>>, req: HttpRequest<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().map(str::to_string);
    let method = parts.method.as_str().to_string();
    let query = parse_query(raw_query.as_deref());
    let headers = &parts.headers;

    if !(path.starts_with("/v1/") || path.starts_with("/v2/") || path.starts_with("/v3/")) {
        return error(AscError::path_error(&path).reason("crabapple answers Apple's App Store Connect API under /v1, /v2 and /v3, its admin API under /crabapple/admin"), &[]);
    }

    let (principal, rate_header) = match authenticate(&app, headers, &method, &path, &query).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };

    // 404 / 405 / 403 from the spec's paths and methods (§1.5).
    let engine = &app.engine;
    let Some(found) = engine.router.find(&path) else {
        return error(
            AscError::path_error(&path).reason("no path of Apple's spec matches"),
            &rate_header,
        );
    };
    let op_index = found
        .operations
        .iter()
        .copied()
        .find(|&i| engine.op(i).method == method);
    let Some(op_index) = op_index else {
        return error(not_allowed(&app, found.template, &method), &rate_header);
    };
    let op = engine.op(op_index);
    app.record(&op.id, headers);

    // 403: the key's roles (§1.2, §1.7).
    if let Err(e) = check_role(&principal, &method, &op.path) {
        return error(AscError::forbidden(e.reason), &rate_header);
    }

    let base = base_url(headers, app.config.public_url.as_deref());
    let accept = header(headers, "accept");
    // A read only the stored resources decide, asked before with nothing changed since: its
    // kept answer ([`crate::answers`]). The change number is read after this request's look at
    // other processes' commits, before the reads.
    let keep = (app.answers.enabled() && engine.reads_only_the_store(op_index)).then(|| {
        let key = crate::answers::key(
            op_index,
            found.id.as_deref(),
            raw_query.as_deref(),
            &base,
            &principal.key.key_id,
            accept.as_deref(),
        );
        (key, app.store().changes())
    });
    if let Some((key, changes)) = &keep
        && let Some(kept) = app.answers.get(key, *changes)
    {
        return kept.response(&rate_header);
    }
    let body = match to_bytes(body, crate::limits::MAX_JSON_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return error(
                AscError::entity_invalid("The request entity is too large or unreadable"),
                &rate_header,
            );
        }
    };
    // 403 for role rules that read the body (§1.7 [DEV] external beta groups).
    // Only the operations such a rule names pay for parsing the body here.
    if BODY_RULE_OPERATIONS.contains(&op.id.as_str())
        && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Err(e) = check_role_with_body(&principal, &op.id, &doc)
    {
        return error(AscError::forbidden_unable(e.reason), &rate_header);
    }
    let request = Request {
        op: op_index,
        id: found.id.as_deref().map(crabapple_http::decode_path_segment),
        query,
        raw_query,
        body,
        base,
        path,
        accept,
        content_type: header(headers, "content-type"),
    };
    match engine.handle(&request).await {
        Ok(r) => {
            if r.status == 201 && op.id == "subscriptionPrices_createInstance" {
                Box::pin(price_change_created(&app, &r.body)).await;
            }
            match keep {
                Some((key, changes)) if r.status == 200 => {
                    app.answers.put(key, changes, &r).response(&rate_header)
                }
                _ => reply(r, &rate_header),
            }
        }
        Err(e) => error(e, &rate_header),
    }
}

/// A known path without this method: Apple's 403 "does not allow" for JSON:API operations the
/// resource lacks, 405 for methods that are no operation at all (§1.5).
fn not_allowed(app: &App, template: &str, method: &str) -> AscError {
    let engine = &app.engine;
    let segs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let wanted = match (segs.len(), method) {
        (2, "GET") => Some(OpKind::GetCollection),
        (2, "POST") => Some(OpKind::CreateInstance),
        (3, "GET") => Some(OpKind::GetInstance),
        (3, "PATCH") => Some(OpKind::UpdateInstance),
        (3, "DELETE") => Some(OpKind::DeleteInstance),
        _ => None,
    };
    let allowed_methods: Vec<String> = engine
        .router
        .find(template)
        .map(|m| {
            m.operations
                .iter()
                .map(|&i| engine.op(i).method.clone())
                .collect()
        })
        .unwrap_or_default();
    let Some(wanted) = wanted else {
        return AscError::method_not_allowed(method, template, &allowed_methods);
    };
    // Operations of this resource on its collection and instance paths.
    let collection = format!("/{}/{}", segs[0], segs[1]);
    let instance = format!("{collection}/{{id}}");
    let mut allowed: Vec<&str> = engine
        .manifest
        .operations
        .iter()
        .filter(|o| o.path == collection || o.path == instance)
        .map(|o| o.kind.apple_name())
        .collect();
    // Apple lists them in this order ("GET_INSTANCE, CREATE, DELETE", fastlane#19788).
    const ORDER: [&str; 5] = [
        "GET_COLLECTION",
        "GET_INSTANCE",
        "CREATE",
        "UPDATE",
        "DELETE",
    ];
    allowed.sort_by_key(|a| ORDER.iter().position(|o| o == a));
    allowed.dedup();
    let resource = engine
        .manifest
        .operations
        .iter()
        .find(|o| o.path == collection || o.path == instance)
        .and_then(|o| o.resource.clone())
        .unwrap_or_else(|| segs[1].to_string());
    AscError::operation_not_allowed(&resource, wanted.apple_name(), &allowed).reason(format!(
        "Apple's spec has no {method} on {template}; {} are the operations it has",
        allowed.join(", ")
    ))
}

/// A subscription price change reaches the subscribers it concerns (storekit's
/// `event/price_change.rs`: PRICE_INCREASE notices, apple-semantics.md §5, §7). The price is
/// already stored; a failure here is logged, not Apple's answer.
async fn price_change_created(app: &App, body: &[u8]) {
    let id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|d| d["data"]["id"].as_str().map(str::to_string));
    if let Some(id) = id
        && let Err(e) = app.commerce.price_change_created(&id).await
    {
        tracing::warn!(subscription_price = %id, "announcing the price change: {e:#}");
    }
}

/// Apple's token rules (401, §1.1–1.4: the key, its user for an individual key) and the rate
/// limit (429, §1.6) for a request — every App Store Connect request and crabapple's
/// extensions under `/crabapple/v1` (the version history). The principal and the
/// `X-Rate-Limit` header every response carries, or the error response.
pub(crate) async fn authenticate(
    app: &App,
    headers: &axum::http::HeaderMap,
    method: &str,
    path: &str,
    query: &[(String, String)],
) -> Result<(crabapple_auth::Principal, Vec<(String, String)>), Response<Body>> {
    // 401: Apple's JWT rules (apple-semantics.md §1.1–1.4). Tokens carry real time.
    let now_ms = app.store().clock.wall_ms();
    let authz = header(headers, "authorization");
    app.ensure_key(authz.as_deref()).await;
    let target = RequestTarget {
        method,
        path,
        query,
    };
    let principal =
        match app
            .verifier
            .verify_asc(authz.as_deref(), &target, now_ms / 1000, &|kid: &str| {
                app.key(kid)
            }) {
            Ok(p) => p,
            Err(e) => {
                let err = match e.invalid_scope {
                    Some(entry) => AscError::invalid_scope(&entry).reason(e.reason),
                    None => AscError::not_authorized(e.reason),
                };
                return Err(error(err, &[]));
            }
        };

    // §1.2: an individual key "is tied to the apps and permissions of the user": its roles are
    // the user's as they are now, and a deleted user's key has none (issue 8).
    let mut principal = principal;
    if principal.key.kind == crabapple_auth::KeyKind::Individual
        && let Some(uid) = principal.key.user_id.clone()
    {
        match app.store().get("users", &uid).await {
            Ok(Some(user)) => {
                if let Some(roles) = user.attributes.get("roles").and_then(|r| r.as_array()) {
                    principal.key.roles = roles
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect();
                }
            }
            Ok(None) => {
                return Err(error(
                    AscError::not_authorized(format!(
                        "individual key {} belongs to user {uid}, who was deleted: an individual key has the access of its user, so it has none (§1.2)",
                        principal.key.key_id
                    )),
                    &[],
                ));
            }
            Err(e) => return Err(error(AscError::from(e), &[])),
        }
    }

    // 429 and X-Rate-Limit on every response (§1.6).
    let rate = match hit_shared_quota(app, &principal.key.key_id, now_ms).await {
        Ok(Some(rate)) => rate,
        Ok(None) => app.limiter.hit(&principal.key.key_id, now_ms),
        Err(e) => return Err(error(AscError::internal(format!("{e:#}")), &[])),
    };
    let rate_header = vec![("X-Rate-Limit".to_string(), rate.header_value())];
    if !rate.allowed {
        return Err(error(
            AscError::rate_limited(format!(
                "key {} made {} requests in the past hour (limit {})",
                principal.key.key_id, rate.limit, rate.limit
            )),
            &rate_header,
        ));
    }

    Ok((principal, rate_header))
}

/// The hourly quota of a key counted in the database when replicas share it (PostgreSQL,
/// issue 12: "rate limits per key as Apple's hourly quota across replicas"); `None` on SQLite,
/// whose one server counts in memory ([`crabapple_auth::RateLimiter`]).
async fn hit_shared_quota(
    app: &App,
    key_id: &str,
    now_ms: i64,
) -> anyhow::Result<Option<crabapple_auth::RateStatus>> {
    if app.store().dialect() != crabapple_store::Dialect::Postgres {
        return Ok(None);
    }
    let limit = app.limiter.limit();
    let q = app
        .store()
        .quota_hit(key_id, limit as i64, crabapple_auth::HOUR_MS, now_ms)
        .await?;
    Ok(Some(crabapple_auth::RateStatus {
        limit,
        remaining: q.remaining.max(0) as u64,
        allowed: q.allowed,
        retry_after_ms: q.retry_at_ms,
    }))
}
