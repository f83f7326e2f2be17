//! The ceiling for the load benchmark (scripts/bench.sh): a bare hyper server that answers every
//! request with one fixed response and does nothing else.
//!
//! `hello ADDR` answers "hello". `hello ADDR BODY HEADERS` answers the bytes of the file BODY
//! with the response headers of the file HEADERS (a `curl -D` dump: its status line and its
//! `Name: value` lines; `content-length`, `date` and hop-by-hop headers are hyper's to write), so
//! the ceiling sends exactly what crabapple sends for the same request.
//! `cargo run --release -p crabapple-server --example hello -- 127.0.0.1:18700 body.json head.txt`

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;

/// What every request gets.
struct Canned {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Status and headers of a `curl -D` dump (the last response in it, if curl followed any).
fn parse_head(text: &str) -> (StatusCode, HeaderMap) {
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in text.lines().map(str::trim_end) {
        if line.starts_with("HTTP/") {
            status = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(StatusCode::OK);
            headers.clear();
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "content-length" | "date" | "connection" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(n, v);
        }
    }
    (status, headers)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18700".into());
    let canned = match (args.next(), args.next()) {
        (Some(body), Some(head)) => {
            let (status, headers) = parse_head(&std::fs::read_to_string(head)?);
            Canned {
                status,
                headers,
                body: Bytes::from(std::fs::read(body)?),
            }
        }
        _ => Canned {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"hello"),
        },
    };
    let canned = Arc::new(canned);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let canned = canned.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |_req: Request<hyper::body::Incoming>| {
                let mut resp = Response::new(Full::new(canned.body.clone()));
                *resp.status_mut() = canned.status;
                *resp.headers_mut() = canned.headers.clone();
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
