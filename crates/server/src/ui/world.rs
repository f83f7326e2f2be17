//! The inspector's world views: the apps (with their notification URLs), the API keys with
//! their kind and roles (an individual key has its user's roles), the users; and the armed
//! faults: faults on demand (`GET /crabapple/admin/faults`: route, kind, what is left of its
//! count, how often it matched and fired) and the analytics faults
//! (`GET /crabapple/admin/analytics/faults`: kind, what it applies to, its dates or rate), each
//! with a button that disarms it.

use super::{Base, esc, frame, html, internal, json_block, table};
use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

fn attr<'v>(r: &'v crabapple_store::Resource, k: &str) -> &'v str {
    r.attributes
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(super) async fn all(app: &App, rtype: &str) -> anyhow::Result<Vec<crabapple_store::Resource>> {
    let q = crabapple_store::ListQuery {
        rtype: rtype.into(),
        limit: 1000,
        ..Default::default()
    };
    Ok(app.store().list(&q).await?.0)
}

pub async fn page(State(app): State<Arc<App>>, base: Base) -> Response {
    let (apps, users, keys) = match async {
        Ok::<_, anyhow::Error>((
            all(&app, "apps").await?,
            all(&app, "users").await?,
            crate::keys::list(app.store(), &app.config.data_dir).await?,
        ))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return internal(&base, e),
    };
    let app_rows: Vec<Vec<String>> = apps
        .iter()
        .map(|a| {
            vec![
                format!("<code>{}</code>", esc(&a.id)),
                esc(attr(a, "name")),
                format!("<code>{}</code>", esc(attr(a, "bundleId"))),
                esc(attr(a, "sku")),
                esc(attr(a, "subscriptionStatusUrl")),
                esc(attr(a, "subscriptionStatusUrlForSandbox")),
            ]
        })
        .collect();
    let key_rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let roles = app
                .key(&k.key_id)
                .map(|live| live.roles)
                .unwrap_or_else(|| k.roles.clone());
            vec![
                format!("<code>{}</code>", esc(&k.key_id)),
                esc(&k.name),
                esc(&k.kind),
                esc(&roles.join(", ")),
                esc(k.user_id.as_deref().unwrap_or_default()),
                format!("<code>{}</code>", esc(&k.issuer_id)),
                if k.revoked { "revoked" } else { "active" }.into(),
            ]
        })
        .collect();
    let user_rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let roles = u
                .attributes
                .get("roles")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![
                format!("<code>{}</code>", esc(&u.id)),
                esc(&format!("{} {}", attr(u, "firstName"), attr(u, "lastName"))),
                esc(attr(u, "username")),
                esc(&roles),
            ]
        })
        .collect();
    let main = format!(
        "<h1>Apps, keys and roles</h1>{}{}{}",
        table(
            "apps",
            "Apps",
            &[
                "ID",
                "Name",
                "Bundle ID",
                "SKU",
                "Notification URL",
                "Sandbox notification URL"
            ],
            &app_rows
        ),
        table(
            "keys",
            "API keys",
            &["Key ID", "Name", "Kind", "Roles", "User", "Issuer", "State"],
            &key_rows
        ),
        table(
            "users",
            "Users",
            &["ID", "Name", "Username", "Roles"],
            &user_rows
        ),
    );
    html(
        StatusCode::OK,
        frame(&base, "Apps, keys and roles", Some("/world"), &main),
    )
}

/// A button that disarms fault `id` with `DELETE {path}/{id}`.
fn disarm(path: &str, id: &str) -> String {
    format!(
        "<form data-admin=\"DELETE {path}/{id}\"><button type=\"submit\" \
         aria-label=\"Disarm fault {id}\">Disarm</button></form>"
    )
}

/// The non-empty `parts`, space-separated.
fn joined<const N: usize>(parts: [String; N]) -> String {
    parts
        .into_iter()
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A serialized fault's field `k` as escaped text (empty when absent).
fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => esc(s),
        Some(other) => esc(&other.to_string()),
    }
}

pub async fn faults(State(app): State<Arc<App>>, base: Base) -> Response {
    let (http, list) = match async {
        Ok::<_, anyhow::Error>((
            crate::faults::load(app.store()).await?,
            crabapple_reports::analytics::faults::load(app.store()).await?,
        ))
    }
    .await
    {
        Ok(x) => x,
        Err(e) => return internal(&base, e),
    };
    let http_rows: Vec<Vec<String>> = http
        .iter()
        .map(|f| {
            let v = serde_json::to_value(f).unwrap_or_default();
            let s = |k: &str| field(&v, k);
            let only = joined([s("entity"), s("keyId")]);
            let what = joined([s("status"), s("latencyMs"), s("retryAfter")]);
            let count = match s("count") {
                c if c.is_empty() => "every match".to_string(),
                c => c,
            };
            vec![
                format!("<code>{}</code>", s("id")),
                format!("<code>{}</code>", s("route")),
                s("kind"),
                what,
                only,
                count,
                s("probability"),
                s("matched"),
                s("fired"),
                disarm(&base.admin("/faults"), &s("id")),
            ]
        })
        .collect();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            let v = serde_json::to_value(f).unwrap_or_default();
            let s = |k: &str| field(&v, k);
            let applies = joined([s("app"), s("report")]);
            let when = joined([s("dates"), s("from"), s("to"), s("rate"), s("delayHours")]);
            vec![
                format!("<code>{}</code>", s("id")),
                s("kind"),
                applies,
                when,
                disarm(&base.admin("/analytics/faults"), &s("id")),
            ]
        })
        .collect();
    let main = format!(
        "<h1>Armed faults</h1><p id=\"result\" role=\"status\" aria-live=\"polite\"></p>\
         <h2>Faults on demand</h2><p>Armed with <code>POST /crabapple/admin/faults</code>, \
         <code>crabapple faults</code>, a seed file or the form below; every faulted answer says \
         so in <code>X-Crabapple-Reason</code> (see the request log).</p>\
         <form id=\"arm\" class=\"filters\" data-admin=\"POST {arm}\" aria-label=\"Arm a fault\">\
         <p><label for=\"route\">Route</label> <input id=\"route\" name=\"route\" required placeholder=\"GET /v1/apps*\"></p>\
         <p><label for=\"kind\">Kind</label> <select id=\"kind\" name=\"kind\"><option>status</option>\
         <option>latency</option><option>drop</option><option>truncate</option>\
         <option>notificationTimeout</option></select></p>\
         <p><label for=\"status\">Status</label> <input id=\"status\" name=\"status\" type=\"number\" placeholder=\"503\"></p>\
         <p><label for=\"latencyMs\">Latency (ms)</label> <input id=\"latencyMs\" name=\"latencyMs\" type=\"number\"></p>\
         <p><label for=\"count\">Hits</label> <input id=\"count\" name=\"count\" type=\"number\" placeholder=\"every match\"></p>\
         <p><button type=\"submit\">Arm</button></p></form>{}\
         <h2>Analytics faults</h2><p><code>/crabapple/admin/analytics/faults</code>: missing \
         days, late or empty instances, partial snapshots.</p>{}{}",
        table(
            "faults",
            "Armed faults on demand",
            &[
                "ID",
                "Route",
                "Kind",
                "Status, latency, Retry-After",
                "Only entity or key",
                "Hits left",
                "Probability",
                "Matched",
                "Fired",
                "Action"
            ],
            &http_rows
        ),
        table(
            "analytics-faults",
            "Armed analytics faults",
            &["ID", "Kind", "Applies to", "Dates, rate or delay", "Action"],
            &rows
        ),
        json_block(
            "faults-json",
            "As JSON",
            &serde_json::json!({ "faults": http, "analytics": list })
        ),
        arm = base.admin("/faults"),
    );
    html(
        StatusCode::OK,
        frame(&base, "Faults", Some("/faults"), &main),
    )
}
