//! Issue 8 (hostile or careless requests): text that reaches a header is encoded, so control
//! characters and non-ASCII in a path never turn into a 500.

mod common;

use common::*;
use crabapple_server::limits::ListenLimits;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn control_characters_in_a_path_are_a_4xx_with_an_encoded_reason() {
    let w = demo().await;
    for (uri, admin) in [
        ("/crabapple/admin/resources/x/%00", true),
        (
            "/crabapple/admin/resources/apps/%0D%0AX-Injected:%201",
            true,
        ),
        ("/v1/apps/%00%0A%E2%80%94", false),
        ("/v1/apps/caf%C3%A9", false),
    ] {
        let token = (!admin).then(|| w.token.clone());
        let r = w.call("GET", uri, token.as_deref(), None).await;
        assert!(
            (400..500).contains(&r.status),
            "{uri}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let reason = r.header("x-crabapple-reason").expect("a reason");
        assert!(
            reason.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{reason}"
        );
        assert!(r.headers.get("x-injected").is_none());
    }
    // The reason decodes back to the words, non-ASCII included.
    let r = w
        .call("GET", "/v1/apps/caf%C3%A9", Some(&w.token.clone()), None)
        .await;
    let reason = r.header("x-crabapple-reason").unwrap();
    assert!(reason.contains("caf%C3%A9"), "{reason}");
}

/// A crabapple listening on a loopback port of its own, with `limits`.
async fn listen(w: &World, limits: ListenLimits) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(crabapple_server::serve_with(
        w.app.clone(),
        listener,
        limits,
    ));
    addr
}

/// Sends `head` (and `body`) on a new connection from `from`, reads the answer until the server
/// closes it: (status, body). Status 0 when the connection closed without an answer.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

/// App Store Connect's error document with `status`, `code` and `detail`.
fn assert_asc_error((got, body): (u16, &str), status: u16, code: &str, detail: &str) {
    assert_eq!(got, status, "{body}");
    let v: Value = serde_json::from_str(body).unwrap();
    let e = &v["errors"][0];
    assert_eq!(e["status"], status.to_string());
    assert_eq!(
        (e["code"].as_str(), e["detail"].as_str()),
        (Some(code), Some(detail))
    );
}

fn head(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n{extra}\r\n")
}

/// Issue 8: a header line over 64 KiB is 431 with the error body of the API the path belongs to
/// (App Store Connect's `{"errors":[…]}`, the Server API's `{"errorCode","errorMessage"}`).
#[tokio::test]
async fn a_header_line_over_64_kib_is_431_with_apples_error_body() {
    let w = demo().await;
    let addr = listen(&w, ListenLimits::default()).await;
    let long = format!("x-long: {}\r\n", "a".repeat(70 * 1024));
    let (status, body) = raw(addr, &head("GET", "/v1/apps", &long), b"").await;
    assert_asc_error(
        (status, &body),
        431,
        "HEADER_TOO_LARGE",
        "The header 'x-long' is 71680 bytes long; the limit for a header line is 65536 bytes",
    );
    let path = "/inApps/v1/history/1";
    let (status, body) = raw(addr, &head("GET", path, &long), b"").await;
    assert_eq!(status, 431, "{body}");
    assert_eq!(
        body,
        r#"{"errorCode":4000000,"errorMessage":"Bad request."}"#
    );
    // A line under the limit is no concern of the guard (401: no token).
    let short = format!("x-long: {}\r\n", "a".repeat(60 * 1024));
    assert_eq!(
        raw(addr, &head("GET", "/v1/apps", &short), b"").await.0,
        401
    );
}

/// Issue 8: a body over its route's limit is 413 — from `Content-Length` before a byte of it is
/// read, or while a chunked body is read. JSON routes take 1 MiB; the Retention Messaging image
/// upload keeps its PNG limit.
#[tokio::test]
async fn a_body_over_the_routes_limit_is_413_with_apples_error_body() {
    let w = demo().await;
    let addr = listen(&w, ListenLimits::default()).await;
    let declared = |n: usize| format!("content-type: application/json\r\ncontent-length: {n}\r\n");
    // 100 MB announced, none sent: answered at once.
    let (status, body) = raw(
        addr,
        &head("POST", "/v1/bundleIds", &declared(100 << 20)),
        b"",
    )
    .await;
    assert_asc_error(
        (status, &body),
        413,
        "ENTITY_TOO_LARGE",
        "The request body is 104857600 bytes; the limit for this request is 1048576 bytes",
    );
    let path = "/inApps/v1/transactions/consumption/1";
    let (status, body) = raw(addr, &head("PUT", path, &declared(2 << 20)), b"").await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body,
        r#"{"errorCode":4000000,"errorMessage":"Bad request."}"#
    );
    // The image upload takes 2 MiB (then refuses for want of a token), not 40 MiB.
    let image = "/inApps/v1/messaging/image/3f1c1e0e-0000-4000-8000-000000000001";
    let png = vec![0u8; 2 << 20];
    let (status, _) = raw(addr, &head("PUT", image, &declared(png.len())), &png).await;
    assert_eq!(status, 401);
    assert_eq!(
        raw(addr, &head("PUT", image, &declared(40 << 20)), b"")
            .await
            .0,
        413
    );
    // A chunked body with no length is cut off at the limit.
    let chunk = format!("80000\r\n{}\r\n", " ".repeat(0x80000));
    let chunked = chunk.repeat(3) + "0\r\n\r\n";
    let te = "transfer-encoding: chunked\r\n";
    let (status, body) = raw(addr, &head("POST", "/v1/bundleIds", te), chunked.as_bytes()).await;
    assert_asc_error(
        (status, &body),
        413,
        "ENTITY_TOO_LARGE",
        "The request body is more than 1048576 bytes; the limit for this request is 1048576 bytes",
    );
}

/// Issue 8 (slowloris): 276 connections from one peer that never finish their request head (one
/// more than a 256-descriptor process could hold) do not lock a real client out: the peer holds
/// at most `per_peer` connections (the rest are closed on accept), the ones it holds are closed
/// after the header-read timeout, and a client from another address is answered meanwhile.
#[tokio::test]
async fn half_sent_requests_from_one_peer_do_not_lock_real_clients_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = demo().await;
    let limits = ListenLimits {
        header_read_timeout: Duration::from_secs(2),
        per_peer: 32,
    };
    let addr = listen(&w, limits).await;
    let started = std::time::Instant::now();
    let mut attack = Vec::new();
    for _ in 0..276 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(b"GET /v1/apps HTTP/1.1\r\nhost: x\r\n").await;
        attack.push(s);
    }
    // A real client on another loopback address is answered at once, several times.
    for _ in 0..5 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut s = sock.connect(addr).await.unwrap();
        s.write_all(head("GET", "/v1/apps", "").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut out))
            .await
            .expect("a real client is answered within a second")
            .unwrap();
        assert!(
            out.starts_with(b"HTTP/1.1 401"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    // Beyond the cap, closed at once; the peer's held connections are closed by the timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closed_at_once = attack
        .iter()
        .filter(|s| match s.try_read(&mut [0u8; 512]) {
            Ok(n) => n == 0,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        })
        .count();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(closed_at_once, 276 - 32);
    for s in &mut attack {
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
        let n = read
            .expect("closed by the header-read timeout")
            .unwrap_or(0);
        // hyper answers a timed-out head with nothing or a bare 408.
        assert!(n == 0 || buf.starts_with(b"HTTP/1.1 408"), "{n}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}
