//! The inspector (issue 13, "The inspector"; crates/server/src/ui/): who may open its pages
//! (the admin API's rules, crates/server/src/access.rs, plus a login form that sets a
//! `HttpOnly; SameSite=Strict` session cookie), the request log the middleware fills
//! (`GET /crabapple/admin/requests`), resending a notification, and what each page shows; and a
//! world's inspector (issue 12's isolated worlds, crates/server/src/worlds/front.rs) at
//! `/crabapple/worlds/{id}/crabapple/ui`, whose links, forms, redirects and session cookie stay
//! in the world.

mod common;

use common::{ADMIN_TOKEN, Resp, World, open_with, temp_dir};
use crabapple_server::access::{AdminAccess, session_value};
use crabapple_server::setup::WorldChoice;
use serde_json::{Value, json};

async fn world(token: Option<&str>) -> World {
    let listen: std::net::SocketAddr = "127.0.0.1:8686".parse().unwrap();
    let admin = AdminAccess {
        token: token.map(str::to_string),
        hosts: Some(AdminAccess::listener_hosts(listen, None, &[])),
    };
    open_with(temp_dir("inspector"), WorldChoice::Demo, 100_000, admin).await
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A case: name, headers, expected status and reason.
type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, Option<&'a str>);

const HOST: (&str, &str) = ("host", "127.0.0.1:8686");
const TOKEN: (&str, &str) = ("x-crabapple-admin-token", ADMIN_TOKEN);
const NO_TOKEN: &str = "the admin API needs its token: send 'x-crabapple-admin-token: <token>' \
    (printed by `crabapple serve`, kept in the data directory's admin-token file)";
const BAD_SESSION: &str = "the inspector's session is not valid for this server's admin token \
    (the token changed, or another data directory's): log in again at /crabapple/ui/login";
const WRONG_LOGIN: &str = "wrong admin token: use the one in the data directory's admin-token \
    file (printed by `crabapple admin-token`)";

#[tokio::test]
async fn issue13_inspector_pages_follow_the_admin_apis_access_rules() {
    let w = world(Some(ADMIN_TOKEN)).await;
    let session = format!("crabapple_session={}", session_value(ADMIN_TOKEN));
    let bad_host = "the admin API answers only to this listener's names (127.0.0.1, ::1, \
        localhost); Host 'evil.example' is not one of them (a DNS rebinding page, or a name to \
        add with --allow-host)";
    let cross_origin = "cross-origin request refused: the admin API does not serve web pages \
        of other sites (Origin 'http://evil.example')";
    let cross_site =
        "cross-site request refused: the admin API does not serve web pages of other sites";
    let rows: Vec<Row> = vec![
        ("no token", vec![HOST], 401, Some(NO_TOKEN)),
        ("token header", vec![HOST, TOKEN], 200, None),
        (
            "session cookie",
            vec![HOST, ("cookie", &session)],
            200,
            None,
        ),
        (
            "another server's session",
            vec![HOST, ("cookie", "crabapple_session=00ff")],
            401,
            Some(BAD_SESSION),
        ),
        (
            "DNS rebinding",
            vec![("host", "evil.example"), ("cookie", &session)],
            403,
            Some(bad_host),
        ),
        (
            "another site's page",
            vec![
                HOST,
                ("origin", "http://evil.example"),
                ("cookie", &session),
            ],
            403,
            Some(cross_origin),
        ),
        (
            "cross-site fetch",
            vec![HOST, ("sec-fetch-site", "cross-site"), ("cookie", &session)],
            403,
            Some(cross_site),
        ),
    ];
    for (name, headers, status, reason) in rows {
        for path in [
            "/crabapple/ui",
            "/crabapple/ui/clock",
            "/crabapple/ui/world",
        ] {
            let r = w.raw("GET", path, &headers, None).await;
            assert_eq!(r.status, status, "{name} {path}: {}", text(&r));
            assert_eq!(
                r.header("x-crabapple-reason").as_deref(),
                reason,
                "{name} {path}"
            );
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("text/html; charset=utf-8")
            );
            if let Some(why) = reason {
                assert!(text(&r).contains(&crabapple_server::ui::esc(why)), "{name}");
            }
            if status == 401 {
                assert!(
                    text(&r).contains("action=\"/crabapple/ui/login\""),
                    "{name}"
                );
            }
        }
    }
    // The admin API takes the session cookie like the token, with all its other rules.
    let r = w
        .raw(
            "GET",
            "/crabapple/admin/status",
            &[HOST, ("cookie", &session)],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = w
        .raw(
            "POST",
            "/crabapple/admin/clock/advance",
            &[HOST, ("cookie", &session)],
            Some(("text/plain", "{\"by\":\"1d\"}")),
        )
        .await;
    assert_eq!(r.status, 415, "a form post is never read as a command");
    let r = w
        .raw(
            "GET",
            "/crabapple/admin/status",
            &[HOST, ("cookie", "crabapple_session=00ff")],
            None,
        )
        .await;
    assert_eq!((r.status, r.json()), (401, json!({ "error": BAD_SESSION })));
    // Pages cannot be framed and run only their own script.
    let r = w.raw("GET", "/crabapple/ui", &[HOST, TOKEN], None).await;
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'self'; frame-ancestors 'none'")
    );
    // The login page and the assets need no token; the Host rule still holds.
    for (path, ct) in [
        ("/crabapple/ui/login", "text/html; charset=utf-8"),
        (
            "/crabapple/ui/assets/inspector.css",
            "text/css; charset=utf-8",
        ),
        (
            "/crabapple/ui/assets/inspector.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let r = w.raw("GET", path, &[HOST], None).await;
        assert_eq!(
            (r.status, r.header("content-type").as_deref()),
            (200, Some(ct)),
            "{path}"
        );
        let r = w.raw("GET", path, &[("host", "evil.example")], None).await;
        assert_eq!(r.status, 403, "{path}");
    }
}

#[tokio::test]
async fn issue13_login_sets_an_httponly_samesite_strict_cookie_not_the_token() {
    let w = world(Some(ADMIN_TOKEN)).await;
    let form = "application/x-www-form-urlencoded";
    let r = w
        .raw(
            "POST",
            "/crabapple/ui/login",
            &[HOST],
            Some((form, "token=guess")),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-crabapple-reason").as_deref(), Some(WRONG_LOGIN));
    assert!(r.header("set-cookie").is_none());
    let body = format!("token={ADMIN_TOKEN}");
    let r = w
        .raw("POST", "/crabapple/ui/login", &[HOST], Some((form, &body)))
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/crabapple/ui"));
    let cookie = r.header("set-cookie").unwrap();
    assert_eq!(
        cookie,
        format!(
            "crabapple_session={}; Path=/crabapple; HttpOnly; SameSite=Strict",
            session_value(ADMIN_TOKEN)
        )
    );
    assert!(!cookie.contains(ADMIN_TOKEN));
    // Logging in from another site's page is refused like any admin request.
    let r = w
        .raw(
            "POST",
            "/crabapple/ui/login",
            &[HOST, ("origin", "http://evil.example")],
            Some((form, &body)),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = w.raw("POST", "/crabapple/ui/logout", &[HOST], None).await;
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn issue13_without_an_admin_token_the_inspector_opens_on_loopback() {
    let w = world(None).await;
    let r = w.raw("GET", "/crabapple/ui", &[HOST], None).await;
    assert_eq!(r.status, 200);
    assert!(text(&r).contains("<table id=\"request-log\">"));
    let r = w.raw("GET", "/crabapple/ui/login", &[HOST], None).await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/crabapple/ui"))
    );
    let r = w
        .raw("GET", "/crabapple/ui", &[("host", "evil.example")], None)
        .await;
    assert_eq!(r.status, 403);
}

async fn log(w: &World, query: &str) -> Vec<Value> {
    let r = w
        .call(
            "GET",
            &format!("/crabapple/admin/requests{query}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn issue13_the_request_log_keeps_method_path_key_status_apples_code_and_the_reason() {
    let w = common::demo().await;
    let r = w
        .call("GET", "/v1/apps?limit=1", Some(&w.token), None)
        .await;
    assert_eq!(r.status, 200);
    let good = common::token_for(&w.dir, &w.key_id, Some(&w.issuer), &[]);
    let forged = format!("{}x", &good[..good.len() - 1]);
    let r = w.call("GET", "/v1/apps", Some(&forged), None).await;
    assert_eq!(r.status, 401);
    let reason = r.header("x-crabapple-reason").unwrap();
    // The App Store Server API's numeric code (apple-semantics.md §6).
    let r = w.call("GET", "/inApps/v1/nothing", None, None).await;
    assert_eq!(r.json()["errorCode"], json!(4040000));
    // The inspector's pages are not logged.
    w.call("GET", "/crabapple/ui", None, None).await;

    let all = log(&w, "").await;
    let paths: Vec<&str> = all.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/inApps/v1/nothing", "/v1/apps", "/v1/apps?limit=1"]
    );
    let ok = &all[2];
    assert_eq!(
        (
            ok["method"].clone(),
            ok["keyId"].clone(),
            ok["status"].clone(),
            ok["code"].clone()
        ),
        (json!("GET"), json!(w.key_id), json!(200), Value::Null)
    );
    let refused = &all[1];
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["code"], "NOT_AUTHORIZED");
    assert_eq!(refused["keyId"], json!(w.key_id));
    assert_eq!(
        refused["reason"].as_str().unwrap(),
        percent_decode(&reason),
        "the reason is stored decoded"
    );
    assert_eq!(all[0]["code"], "4040000");
    for e in &all {
        assert!(e["seq"].as_u64().unwrap() > 0);
        assert!(e["wallMs"].as_i64().unwrap() > 0);
        assert!(e["virtualMs"].as_i64().unwrap() >= e["wallMs"].as_i64().unwrap() - 1000);
        assert!(e["durationMs"].as_f64().unwrap() >= 0.0);
    }
    // Filters: status or class, path prefix, key; newer than a seq.
    assert_eq!(log(&w, "?status=4xx").await.len(), 2);
    assert_eq!(log(&w, "?status=401").await.len(), 1);
    assert_eq!(log(&w, "?path=/inApps/").await.len(), 1);
    assert_eq!(log(&w, &format!("?key={}", w.key_id)).await.len(), 2);
    let newest = all[0]["seq"].as_u64().unwrap();
    assert_eq!(log(&w, &format!("?after={newest}")).await.len(), 0);
    let r = w
        .call("GET", "/crabapple/admin/requests?status=abc", None, None)
        .await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({ "error": "status 'abc' is a status like 404 or a class like 4xx" })
        )
    );
    // The page shows the same rows.
    let page = text(&ui(&w, "/crabapple/ui?status=401").await);
    assert!(page.contains("NOT_AUTHORIZED"), "{page}");
    assert!(!page.contains("/inApps/v1/nothing"));
}

/// An inspector page, with the admin token.
async fn ui(w: &World, path: &str) -> Resp {
    w.raw("GET", path, &[TOKEN], None).await
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn issue13_a_notification_opens_decoded_and_resends_with_one_more_attempt() {
    let w = common::demo().await;
    let r = w
        .call(
            "POST",
            "/crabapple/admin/commerce/purchase",
            None,
            Some(json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "production", "customer": "inspector-1"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = w
        .call("GET", "/crabapple/admin/commerce/notifications", None, None)
        .await;
    let n = r.json()["data"][0].clone();
    let uuid = n["notificationUUID"].as_str().unwrap().to_string();
    let before = n["sendAttempts"].as_array().map_or(0, Vec::len);

    let page = text(&ui(&w, &format!("/crabapple/ui/notifications/{uuid}")).await);
    assert!(page.contains("<pre id=\"jws-header\""));
    assert!(
        page.contains("&quot;alg&quot;: &quot;ES256&quot;"),
        "{page}"
    );
    assert!(page.contains("&quot;notificationType&quot;: &quot;ONE_TIME_CHARGE&quot;"));
    assert!(page.contains("signedTransactionInfoDecoded"));

    let r = w
        .call(
            "POST",
            &format!("/crabapple/admin/commerce/notifications/{uuid}/resend"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let after = r.json()["sendAttempts"].as_array().unwrap().len();
    assert_eq!(after, before + 1);
    let r = w
        .call(
            "POST",
            "/crabapple/admin/commerce/notifications/nope/resend",
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({ "error": "no notification nope" }))
    );
    let r = ui(&w, "/crabapple/ui/notifications/nope").await;
    assert_eq!(
        (r.status, r.header("x-crabapple-reason").as_deref()),
        (404, Some("no notification nope"))
    );
    // The other views render with the event in them.
    for (path, needle) in [
        ("/crabapple/ui/notifications", "ONE_TIME_CHARGE"),
        ("/crabapple/ui/commerce", "com.crabapple.notes.handwriting"),
        // Apple's milliunits as a price.
        ("/crabapple/ui/commerce", "<td>2.99 USD</td>"),
        ("/crabapple/ui/world", "com.crabapple.notes"),
        ("/crabapple/ui/clock", "id=\"clock-now\""),
        ("/crabapple/ui/faults", "<table id=\"faults\">"),
        ("/crabapple/ui/reports", "<table id=\"report-files\">"),
        ("/crabapple/ui/analytics", "<h1>Analytics instances</h1>"),
    ] {
        let r = ui(&w, path).await;
        assert_eq!(r.status, 200, "{path}: {}", text(&r));
        assert!(text(&r).contains(needle), "{path} lacks {needle}");
    }
}

// ---------------------------------------------------------------- a world's inspector (issue 12)

/// A server's front (the default world and the worlds behind it, issue 12) with the admin API's
/// access rules of a listener on 127.0.0.1:8686, a world created through it, and its prefix.
struct Front {
    w: World,
    front: axum::Router,
    prefix: String,
}

impl Front {
    async fn new() -> Front {
        let w = world(Some(ADMIN_TOKEN)).await;
        let front = crabapple_server::front(&w.app);
        let mut f = Front {
            w,
            front,
            prefix: String::new(),
        };
        let r = f
            .send("POST", "/crabapple/admin/worlds", &[HOST, TOKEN], None)
            .await;
        assert_eq!(r.status, 201, "{}", text(&r));
        let id = r.json()["id"].as_str().unwrap().to_string();
        f.prefix = format!("{}{id}", crabapple_server::worlds::PATH_PREFIX);
        f
    }

    /// One request through the front; `body` is `(content type, text)`.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> Resp {
        let req = common::raw_request(method, uri, headers, body);
        common::send_to(self.front.clone(), req).await
    }

    /// The world's inspector page `path` (under `/crabapple/ui`) with the admin token: its HTML.
    async fn page(&self, path: &str) -> String {
        let uri = format!("{}/crabapple/ui{path}", self.prefix);
        let r = self.send("GET", &uri, &[HOST, TOKEN], None).await;
        assert_eq!(r.status, 200, "{uri}: {}", text(&r));
        text(&r)
    }

    /// The world's admin API, with the server's admin token.
    async fn world_admin(&self, method: &str, path: &str, body: Value) -> Resp {
        let uri = format!("{}/crabapple/admin{path}", self.prefix);
        let body = body.to_string();
        let json = body != "null";
        self.send(
            method,
            &uri,
            &[HOST, TOKEN],
            json.then_some(("application/json", body.as_str())),
        )
        .await
    }
}

/// Every URL a page names, in document order per attribute: `href`, `action`, `src`, and the
/// path of the script's `data-admin="METHOD PATH"` forms.
fn urls(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" href=\"", " action=\"", " src=\"", " data-admin=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            let url = match attr {
                " data-admin=\"" => value.split_once(' ').unwrap().1,
                _ => value,
            };
            out.push(url.to_string());
        }
    }
    out
}

/// The inspector's views as the navigation lists them, and the pages reached from them.
const VIEWS: [&str; 8] = [
    "",
    "/clock",
    "/notifications",
    "/commerce",
    "/reports",
    "/analytics",
    "/faults",
    "/world",
];

/// Asserts every URL of `page` (other than the skip link's `#main`) starts with `base`'s
/// inspector or admin API, and the script's admin API is `base`'s.
fn assert_urls_on(base: &str, page: &str, what: &str) {
    let all = urls(page);
    assert!(all.len() >= 12, "{what}: only {all:?}");
    for u in all.iter().filter(|u| *u != "#main") {
        assert!(
            u.starts_with(&format!("{base}/crabapple/ui"))
                || u.starts_with(&format!("{base}/crabapple/admin/")),
            "{what} names {u}, not under '{base}/crabapple'"
        );
    }
    assert!(
        page.contains(&format!("<body data-admin-api=\"{base}/crabapple/admin\">")),
        "{what}: the script's admin API"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_worlds_inspector_pages_link_only_to_the_world_and_the_default_keeps_its_urls() {
    let f = Front::new().await;
    let p = f.prefix.clone();
    // Something on every view: a purchase (a notification, a commerce event), an armed fault.
    let r = f
        .world_admin(
            "POST",
            "/commerce/purchase",
            json!({"bundleId": "com.crabapple.notes", "productId": "com.crabapple.notes.handwriting", "environment": "sandbox", "customer": "world-inspector"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = f
        .world_admin(
            "POST",
            "/faults",
            json!({"route": "GET /v1/nothing*", "kind": "status", "status": 503}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = f
        .world_admin("GET", "/commerce/notifications", Value::Null)
        .await;
    let uuid = r.json()["data"][0]["notificationUUID"]
        .as_str()
        .unwrap()
        .to_string();
    let one = format!("/notifications/{uuid}");
    let mut pages: Vec<&str> = VIEWS.to_vec();
    pages.push(&one);
    for view in &pages {
        let page = f.page(view).await;
        let uri = format!("{p}/crabapple/ui{view}");
        assert_urls_on(&p, &page, &uri);
        // The navigation's own entry for the view, and the world named in the header.
        let nav = format!("<a href=\"{uri}\" aria-current=\"page\">");
        assert!(
            view.starts_with("/notifications/") || page.contains(&nav),
            "{uri}"
        );
        assert!(page.contains("crabapple inspector · world <code>"), "{uri}");
    }
    // The links to a notification and the forms of the world's admin API, by name.
    let link = format!("<a href=\"{p}/crabapple/ui/notifications/{uuid}\">");
    assert!(f.page("/notifications").await.contains(&link));
    let resend =
        format!("data-admin=\"POST {p}/crabapple/admin/commerce/notifications/{uuid}/resend\"");
    assert!(f.page(&one).await.contains(&resend));
    let disarm = format!("data-admin=\"DELETE {p}/crabapple/admin/faults/f1\"");
    assert!(f.page("/faults").await.contains(&disarm));
    // The 401 page's login form and the refusal of a page that is not there.
    let r = f
        .send("GET", &format!("{p}/crabapple/ui/clock"), &[HOST], None)
        .await;
    assert_eq!(
        (r.status, r.header("x-crabapple-reason").as_deref()),
        (401, Some(NO_TOKEN))
    );
    assert_urls_on(&p, &text(&r), "the 401 page");
    assert!(text(&r).contains(&format!("action=\"{p}/crabapple/ui/login\"")));
    let r = f
        .send(
            "GET",
            &format!("{p}/crabapple/ui/notifications/nope"),
            &[HOST, TOKEN],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.header("x-crabapple-reason").as_deref()),
        (404, Some("no notification nope"))
    );
    assert_urls_on(&p, &text(&r), "the 404 page");
    // The assets are served under the prefix too.
    let r = f
        .send(
            "GET",
            &format!("{p}/crabapple/ui/assets/inspector.js"),
            &[HOST],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(text(&r).contains("document.body.dataset.adminApi"));

    // The default world's pages, through the same front, keep /crabapple/ui and /crabapple/admin.
    for view in VIEWS {
        let uri = format!("/crabapple/ui{view}");
        let r = f.send("GET", &uri, &[HOST, TOKEN], None).await;
        assert_eq!(r.status, 200, "{uri}: {}", text(&r));
        assert_urls_on("", &text(&r), &uri);
        assert!(!text(&r).contains("/crabapple/worlds/"), "{uri}");
        assert!(text(&r).contains("<p class=\"brand\">crabapple inspector</p>"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_logging_in_to_a_worlds_inspector_redirects_and_scopes_the_cookie_to_the_world() {
    let f = Front::new().await;
    let p = f.prefix.clone();
    let form = "application/x-www-form-urlencoded";
    let good = format!("token={ADMIN_TOKEN}");
    let login = format!("{p}/crabapple/ui/login");
    let r = f.send("GET", &login, &[HOST], None).await;
    assert_eq!(r.status, 200);
    assert_urls_on(&p, &text(&r), "the login page");
    let r = f
        .send("POST", &login, &[HOST], Some((form, "token=guess")))
        .await;
    assert_eq!(
        (r.status, r.header("x-crabapple-reason").as_deref()),
        (401, Some(WRONG_LOGIN))
    );
    assert!(text(&r).contains(&format!("action=\"{login}\"")));
    // The server's admin token logs in; the session is the world's: its pages and admin API.
    let r = f.send("POST", &login, &[HOST], Some((form, &good))).await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("{p}/crabapple/ui")))
    );
    assert_eq!(
        r.header("set-cookie").unwrap(),
        format!(
            "crabapple_session={}; Path={p}/crabapple; HttpOnly; SameSite=Strict",
            session_value(ADMIN_TOKEN)
        )
    );
    let session = format!("crabapple_session={}", session_value(ADMIN_TOKEN));
    for path in ["/crabapple/ui", "/crabapple/admin/requests"] {
        let uri = format!("{p}{path}");
        let r = f
            .send("GET", &uri, &[HOST, ("cookie", &session)], None)
            .await;
        assert_eq!(r.status, 200, "{uri}: {}", text(&r));
    }
    // A session of another token is sent to the world's login page, in the page and the API.
    let stale = BAD_SESSION.replace("/crabapple/ui/login", &login);
    for path in ["/crabapple/ui", "/crabapple/admin/requests"] {
        let uri = format!("{p}{path}");
        let r = f
            .send(
                "GET",
                &uri,
                &[HOST, ("cookie", "crabapple_session=00ff")],
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.header("x-crabapple-reason")),
            (401, Some(stale.clone())),
            "{uri}"
        );
    }
    // The other redirects: the trailing slash and logging out.
    let r = f
        .send("GET", &format!("{p}/crabapple/ui/"), &[HOST, TOKEN], None)
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("{p}/crabapple/ui")))
    );
    let r = f
        .send("POST", &format!("{p}/crabapple/ui/logout"), &[HOST], None)
        .await;
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some(format!("{p}/crabapple/ui/login")))
    );
    assert_eq!(
        r.header("set-cookie").unwrap(),
        format!("crabapple_session=; Path={p}/crabapple; HttpOnly; SameSite=Strict; Max-Age=0")
    );
    // The default world's login and redirects are unchanged.
    let r = f
        .send("POST", "/crabapple/ui/login", &[HOST], Some((form, &good)))
        .await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/crabapple/ui"))
    );
    assert!(
        r.header("set-cookie")
            .unwrap()
            .contains("; Path=/crabapple; ")
    );
    let r = f.send("GET", "/crabapple/ui/", &[HOST, TOKEN], None).await;
    assert_eq!(r.header("location").as_deref(), Some("/crabapple/ui"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_worlds_inspector_shows_its_worlds_clock_and_a_client_cannot_forge_the_prefix() {
    let f = Front::new().await;
    let p = f.prefix.clone();
    let r = f
        .world_admin("POST", "/clock/advance", json!({"by": "3d"}))
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let offset = |page: &str| {
        let from = page.find("<dd id=\"clock-offset\">").unwrap();
        page[from..].split(['>', '<']).nth(2).unwrap().to_string()
    };
    let world = f.page("/clock").await;
    let default = text(
        &f.send("GET", "/crabapple/ui/clock", &[HOST, TOKEN], None)
            .await,
    );
    assert!(offset(&world).starts_with("3d"), "{}", offset(&world));
    assert!(!offset(&default).starts_with("3d"), "{}", offset(&default));
    // The front drops a prefix header a client sends; a world's own router (no front) ignores
    // one that is not a world's prefix, so nothing a client sends reaches the page's URLs.
    let forged = [HOST, TOKEN, ("x-crabapple-world-prefix", &p[..])];
    let r = f.send("GET", "/crabapple/ui/clock", &forged, None).await;
    assert_urls_on("", &text(&r), "a forged prefix through the front");
    let r =
        f.w.raw(
            "GET",
            "/crabapple/ui/clock",
            &[HOST, TOKEN, ("x-crabapple-world-prefix", "\"><script>")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_urls_on("", &text(&r), "a prefix that is not a world's");
}
