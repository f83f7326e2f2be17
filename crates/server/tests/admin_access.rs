//! Who may use the admin API (issue 8, "The admin API and secrets"; crates/server/src/access.rs):
//! each row is a request and the exact answer. Before issue 8 every row answered 200 (or ran the
//! command): no token, any `Host`, any `Origin`, a cross-site `text/plain` post.

mod common;

use common::{ADMIN_TOKEN, World, open_with, temp_dir};
use crabapple_server::access::AdminAccess;
use crabapple_server::setup::WorldChoice;
use crabapple_storekit::ledger::LedgerStore;
use serde_json::{Value, json};

async fn world(token: Option<&str>) -> World {
    let listen: std::net::SocketAddr = "127.0.0.1:8686".parse().unwrap();
    let admin = AdminAccess {
        token: token.map(str::to_string),
        hosts: Some(AdminAccess::listener_hosts(
            listen,
            Some("https://crabapple.ci.internal"),
            &["builder".to_string()],
        )),
    };
    open_with(temp_dir("access"), WorldChoice::Demo, 100_000, admin).await
}

/// One request: method, uri, headers, body with its content type.
async fn send(
    w: &World,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> (u16, Value, Option<String>) {
    let r = w.raw(method, uri, headers, body).await;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v, r.header("x-crabapple-reason"))
}

/// A case: name, headers, expected status and `error` text.
type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, Option<&'a str>);

const HOST: (&str, &str) = ("host", "127.0.0.1:8686");
const TOKEN: (&str, &str) = ("x-crabapple-admin-token", ADMIN_TOKEN);
const NO_TOKEN: &str = "the admin API needs its token: send 'x-crabapple-admin-token: <token>' \
    (printed by `crabapple serve`, kept in the data directory's admin-token file)";
const WRONG_TOKEN: &str = "wrong admin token: use the one in the data directory's admin-token \
    file (printed by `crabapple serve`)";
const HOSTS: &str = "127.0.0.1, ::1, builder, crabapple.ci.internal, localhost";

#[tokio::test]
async fn issue8_admin_requests_need_the_token_and_a_listener_host() {
    let w = world(Some(ADMIN_TOKEN)).await;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let bad_host = format!(
        "the admin API answers only to this listener's names ({HOSTS}); Host 'evil.example' \
         is not one of them (a DNS rebinding page, or a name to add with --allow-host)"
    );
    let cross_origin = "cross-origin request refused: the admin API does not serve web pages \
        of other sites (Origin 'http://evil.example')";
    let cross_site =
        "cross-site request refused: the admin API does not serve web pages of other sites";
    let rows: Vec<Row> = vec![
        ("no token", vec![HOST], 401, Some(NO_TOKEN)),
        (
            "wrong token",
            vec![HOST, ("x-crabapple-admin-token", "guess")],
            401,
            Some(WRONG_TOKEN),
        ),
        (
            "a JWT is not the admin token",
            vec![HOST, ("authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.x")],
            401,
            Some(WRONG_TOKEN),
        ),
        ("token header", vec![HOST, TOKEN], 200, None),
        (
            "token as bearer",
            vec![HOST, ("authorization", &bearer)],
            200,
            None,
        ),
        (
            "localhost",
            vec![("host", "LOCALHOST:8686"), TOKEN],
            200,
            None,
        ),
        (
            "ipv6 loopback",
            vec![("host", "[::1]:8686"), TOKEN],
            200,
            None,
        ),
        (
            "public url host",
            vec![("host", "crabapple.ci.internal"), TOKEN],
            200,
            None,
        ),
        (
            "--allow-host",
            vec![("host", "builder:8686"), TOKEN],
            200,
            None,
        ),
        (
            "DNS rebinding: a foreign Host",
            vec![("host", "evil.example:8686"), TOKEN],
            403,
            Some(&bad_host),
        ),
        (
            "cross-origin page",
            vec![HOST, TOKEN, ("origin", "http://evil.example")],
            403,
            Some(cross_origin),
        ),
        (
            "same-origin page",
            vec![HOST, TOKEN, ("origin", "http://localhost:8686")],
            200,
            None,
        ),
        (
            "Sec-Fetch-Site cross-site",
            vec![HOST, TOKEN, ("sec-fetch-site", "cross-site")],
            403,
            Some(cross_site),
        ),
    ];
    for (name, headers, status, error) in rows {
        let (got, body, reason) = send(&w, "GET", "/crabapple/admin/status", &headers, None).await;
        assert_eq!(got, status, "{name}: {body}");
        if let Some(e) = error {
            assert_eq!(body, json!({ "error": e }), "{name}");
            assert!(reason.is_some(), "{name}: a reason header");
        }
    }
}

#[tokio::test]
async fn issue8_apples_apis_keep_any_host_the_admin_check_is_the_admin_apis_only() {
    let w = world(Some(ADMIN_TOKEN)).await;
    let bearer = format!("Bearer {}", w.token);
    // A client behind a proxy (or crabapple as api.appstoreconnect.apple.com, issue 13).
    let (status, _, _) = send(
        &w,
        "GET",
        "/v1/apps?limit=1",
        &[
            ("host", "api.appstoreconnect.apple.com"),
            ("authorization", &bearer),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn issue8_a_cross_site_text_plain_post_neither_resets_the_world_nor_buys() {
    // Without a token (the loopback opt-out), a web page's simple request is still refused.
    let w = world(None).await;
    let before = w.app.store().type_counts().await.unwrap();
    let ledger = w.app.store().ledger_fingerprint().await.unwrap();
    let origin = ("origin", "http://evil.example");
    let purchase = r#"{"bundleId":"com.crabapple.orchardquest","productId":"com.crabapple.orchardquest.seeds.small"}"#;
    for (uri, body) in [
        ("/crabapple/admin/reset", "{}"),
        ("/crabapple/admin/commerce/purchase", purchase),
    ] {
        let (status, v, _) =
            send(&w, "POST", uri, &[HOST, origin], Some(("text/plain", body))).await;
        assert_eq!(status, 403, "{uri}: {v}");
        // Without an Origin (an old browser, a form from a file): the content type refuses it.
        let (status, v, _) = send(&w, "POST", uri, &[HOST], Some(("text/plain", body))).await;
        assert_eq!(status, 415, "{uri}: {v}");
        assert_eq!(
            v,
            json!({"error": "the admin API reads JSON bodies only: send 'Content-Type: application/json'"})
        );
    }
    assert_eq!(w.app.store().type_counts().await.unwrap(), before);
    assert_eq!(w.app.store().ledger_fingerprint().await.unwrap(), ledger);
    // The same request from the user's own tools (no Origin, JSON) works.
    let (status, v, _) = send(
        &w,
        "POST",
        "/crabapple/admin/reset",
        &[HOST],
        Some(("application/json", "{}")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
}
