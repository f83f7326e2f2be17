//! Issue 8 (hostile or careless requests): property tests for the parsers a request meets —
//! query string, `filter[…]`/`fields[…]`/`limit`/`sort`, JSON:API request documents, JWTs — and an
//! HTTP-level fuzz: mutated requests sent over TCP to an in-process server. None may panic or
//! answer 5xx; a refusal is Apple's 4xx with Apple's error body. `scripts/soak.sh` runs the
//! HTTP fuzz for longer (`CRABAPPLE_FUZZ_REQUESTS`).

mod common;

use common::*;
use crabapple_auth::RequestTarget;
use crabapple_server::limits::ListenLimits;
use proptest::prelude::*;
use serde_json::Value;
use std::time::Duration;

/// One runtime for the proptest targets (the demo world's store lives on it).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

/// A refusal of the App Store Connect API: 4xx with `{"errors":[{status, code, …}]}`.
fn assert_apple_4xx(r: &Resp, what: &str) {
    assert!(
        r.status < 500,
        "{what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.status >= 400 && r.status != 406 {
        let v = r.json();
        assert_eq!(
            v["errors"][0]["status"],
            r.status.to_string(),
            "{what}: {v}"
        );
        assert!(
            v["errors"][0]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{what}: {v}"
        );
    }
}

/// Query strings: raw bytes, then pairs with the parameter names Apple's operations take.
fn query_string() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("limit".to_string()),
        Just("cursor".to_string()),
        Just("sort".to_string()),
        Just("include".to_string()),
        Just("exists[x]".to_string()),
        "filter\\[[a-zA-Z.%\\[\\]]{0,20}\\]",
        "fields\\[[a-zA-Z]{0,12}\\]",
        "limit\\[[a-zA-Z]{0,12}\\]",
        ".{0,12}",
    ];
    let value = prop_oneof!["[-0-9]{0,25}", "[a-zA-Z0-9,.%+_=-]{0,40}", ".{0,30}"];
    prop_oneof![
        ".{0,200}",
        proptest::collection::vec((name, value), 0..8).prop_map(|pairs| pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// The query parsers (percent-decoding, then each operation's parameters) never panic, and
    /// refuse with 400 `PARAMETER_ERROR…`.
    #[test]
    fn the_query_and_filter_parsers_refuse_with_apples_400(q in query_string()) {
        let manifest = crabapple_spec::Manifest::get();
        let pairs = crabapple_http::parse_query(Some(&q));
        for id in ["apps_getCollection", "bundleIds_getCollection", "apps_getInstance", "apps_builds_getToManyRelated"] {
            let op = manifest.operations.iter().find(|o| o.id == id).unwrap();
            if let Err(e) = crabapple_jsonapi::query::parse(op, &pairs) {
                prop_assert_eq!(e.status, 400, "{} {}: {:?}", id, q, e.detail);
                prop_assert!(e.code.starts_with("PARAMETER_ERROR"), "{} {}: {}", id, q, e.code);
            }
        }
    }

    /// Bearer tokens, random and mutated from a valid one: the verifier never panics and never
    /// accepts what it should not (a mutated token is refused, or is the same token).
    #[test]
    fn the_jwt_parser_refuses_what_it_cannot_read(junk in ".{0,300}", at in 0usize..400, with in any::<char>()) {
        let w = world();
        let now = now_secs();
        let target = RequestTarget { method: "GET", path: "/v1/apps", query: &[] };
        let lookup = |kid: &str| w.app.key(kid);
        let verify = |h: &str| w.app.verifier.verify_asc(Some(h), &target, now, &lookup);
        let garbage = format!("Bearer {junk}");
        prop_assert!(verify(&garbage).is_err());
        let mut mutated: Vec<char> = w.token.chars().collect();
        let i = at % mutated.len();
        mutated[i] = with;
        let mutated: String = mutated.into_iter().collect();
        // A flipped character may leave base64url's padding bits or a signature byte the
        // verifier ignores; anything it accepts must still be the key's own token.
        let header = format!("Bearer {mutated}");
        if verify(&header).is_ok() {
            prop_assert_eq!(mutated.split('.').count(), 3);
        }
    }

    /// JSON:API request documents — any bytes, and valid documents with members removed,
    /// retyped or replaced — are Apple's 4xx or a success, never a 5xx.
    #[test]
    fn json_api_bodies_are_a_success_or_apples_4xx(doc in json_api_doc(), raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let w = world();
        runtime().block_on(async {
            for (method, uri) in [("POST", "/v1/bundleIds"), ("POST", "/v1/betaGroups"), ("PATCH", "/v1/apps/1")] {
                let r = w.call(method, uri, Some(&w.token), Some(doc.clone())).await;
                assert_apple_4xx(&r, &format!("{method} {uri} {doc}"));
                let req = axum::http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("authorization", format!("Bearer {}", w.token))
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(raw.clone()))
                    .unwrap();
                let r = w.send(req).await;
                assert_apple_4xx(&r, &format!("{method} {uri} {raw:?}"));
            }
        });
    }
}

/// A JSON value of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A bundle ID document with one member replaced by any JSON value (or removed).
fn json_api_doc() -> impl Strategy<Value = Value> {
    let pointer = prop_oneof![
        Just(""),
        Just("/data"),
        Just("/data/type"),
        Just("/data/id"),
        Just("/data/attributes"),
        Just("/data/attributes/name"),
        Just("/data/attributes/identifier"),
        Just("/data/attributes/platform"),
        Just("/data/relationships"),
    ];
    (pointer, proptest::option::of(json_value())).prop_map(|(ptr, v)| {
        let mut doc = serde_json::json!({"data": {"type": "bundleIds", "attributes": {
            "name": "Fuzz", "identifier": "com.fuzz.app", "platform": "IOS"}}});
        if ptr.is_empty() {
            return v.unwrap_or(Value::Null);
        }
        let (parent, key) = ptr.rsplit_once('/').unwrap();
        if let Some(Value::Object(o)) = doc.pointer_mut(if parent.is_empty() { "" } else { parent })
        {
            match v {
                Some(v) => o.insert(key.to_string(), v),
                None => o.remove(key),
            };
        }
        doc
    })
}

/// One demo world for the whole process (proptest calls each case many times).
fn world() -> &'static World {
    static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    W.get_or_init(|| runtime().block_on(demo()))
}

/// A small xorshift generator: the HTTP fuzz is reproducible from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Seed requests, each mutated: bytes flipped, inserted, deleted, or a run repeated.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut r = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(r.len());
        match rng.below(5) {
            0 => r[i] = rng.next() as u8,
            1 => r.insert(i, rng.next() as u8),
            2 => {
                r.remove(i);
            }
            3 => {
                let tokens: [&[u8]; 8] = [b"%", b"\r\n", b"[", b"]", b"=", b"&", b"\"", b"%FF"];
                let t = tokens[rng.below(tokens.len())];
                r.splice(i..i, t.iter().copied());
            }
            _ => {
                let end = (i + 1 + rng.below(16)).min(r.len());
                let run = r[i..end].to_vec();
                for _ in 0..rng.below(64) {
                    r.splice(i..i, run.iter().copied());
                }
            }
        }
        if r.is_empty() {
            r.push(b'G');
        }
    }
    r
}

/// Sends `bytes` on a new connection and reads the status line (0: closed without an answer).
async fn send_raw(addr: std::net::SocketAddr, bytes: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    std::str::from_utf8(&out[..out.len().min(12)])
        .ok()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The HTTP-level fuzz: `CRABAPPLE_FUZZ_REQUESTS` (default 2000) mutated requests against an
/// in-process server on loopback (or `CRABAPPLE_FUZZ_ADDR` with `CRABAPPLE_FUZZ_TOKEN`). No
/// answer is a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_http_requests_never_get_a_5xx() {
    let w = demo().await;
    // `scripts/soak.sh` points the fuzz at a running `crabapple serve` instead.
    let (addr, token) = match std::env::var("CRABAPPLE_FUZZ_ADDR") {
        Ok(a) => (
            a.parse().expect("CRABAPPLE_FUZZ_ADDR is host:port"),
            std::env::var("CRABAPPLE_FUZZ_TOKEN").expect("CRABAPPLE_FUZZ_TOKEN with the address"),
        ),
        Err(_) => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let limits = ListenLimits {
                header_read_timeout: Duration::from_secs(2),
                per_peer: 256,
            };
            tokio::spawn(crabapple_server::serve_with(
                w.app.clone(),
                listener,
                limits,
            ));
            (addr, w.token.clone())
        }
    };
    let n: usize = std::env::var("CRABAPPLE_FUZZ_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let auth = format!("authorization: Bearer {token}\r\n");
    let body = r#"{"data":{"type":"bundleIds","attributes":{"name":"Fuzz","identifier":"com.fuzz.http","platform":"IOS"}}}"#;
    let seeds: Vec<String> = vec![
        format!("GET /v1/apps?limit=5&filter[bundleId]=a,b&fields[apps]=name&sort=-name HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n"),
        format!("GET /v1/apps/1/builds?include=app&limit[individualTesters]=2 HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n"),
        format!("POST /v1/bundleIds HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()),
        format!("PATCH /v1/bundleIds/X HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len()),
        "GET /inApps/v1/history/1000000000000001?sort=DESCENDING&productType=AUTO_RENEWABLE HTTP/1.1\r\nhost: x\r\nauthorization: Bearer a.b.c\r\nconnection: close\r\n\r\n".to_string(),
        "GET /v1/salesReports?filter[frequency]=DAILY&filter[reportType]=SALES HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_string(),
    ];
    // `CRABAPPLE_FUZZ_SEED` varies the requests (soak.sh rounds); the suite's are fixed.
    let seed: u64 = std::env::var("CRABAPPLE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut fivexx = Vec::new();
    for i in 0..n {
        let seed = seeds[i % seeds.len()].as_bytes();
        let req = mutate(&mut rng, seed);
        let status = send_raw(addr, &req).await;
        *statuses.entry(status).or_default() += 1;
        if status >= 500 {
            fivexx.push(String::from_utf8_lossy(&req).to_string());
        }
    }
    eprintln!("{n} mutated requests: {statuses:?}");
    assert!(
        fivexx.is_empty(),
        "{} 5xx, first: {:?}",
        fivexx.len(),
        fivexx.first()
    );
    // The server still answers a plain request afterwards.
    let ok = format!("GET /v1/apps HTTP/1.1\r\nhost: x\r\n{auth}connection: close\r\n\r\n");
    assert_eq!(send_raw(addr, ok.as_bytes()).await, 200);
}

/// Found by the JSON:API fuzz above on PostgreSQL (issue 12), whose text cannot hold U+0000:
/// a NUL in an attribute or a related id is Apple's 409 on every backend, and a filter value
/// holding one matches nothing (200, empty) instead of failing the query.
#[tokio::test]
async fn a_nul_character_is_refused_in_bodies_and_matches_nothing_in_filters() {
    let w = demo().await;
    let doc = serde_json::json!({"data": {"type": "bundleIds", "attributes": {
        "name": "nul\u{0}name", "identifier": "com.crabapple.nul", "platform": "IOS"}}});
    let r = w
        .call("POST", "/v1/bundleIds", Some(&w.token), Some(doc))
        .await;
    assert_eq!(r.status, 409);
    let e = &r.json()["errors"][0];
    assert_eq!(e["code"], "ENTITY_ERROR.ATTRIBUTE.INVALID");
    assert_eq!(
        e["detail"],
        "The attribute 'name' has an invalid value: it contains the character U+0000 (NUL)"
    );
    assert_eq!(e["source"]["pointer"], "/data/attributes/name");
    for uri in [
        "/v1/apps?filter[bundleId]=%00",
        "/v1/apps?filter[id]=%00",
        "/v1/apps?filter[bundleId]=com.x%00,%00",
    ] {
        let r = w.get(uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["data"], serde_json::json!([]), "{uri}");
    }
}
