//! The proxy for clients that hard-code Apple's hosts (issue 13): `HTTPS_PROXY=http://HOST:PORT`.
//! A `CONNECT` to one of Apple's API hosts ([`crate::tls::APPLE_HOSTS`], port 443) is answered
//! `200` and the tunnel is served by crabapple itself, TLS terminated with crabapple's
//! certificate; the host the client named then chooses the API and environment as Apple's do
//! (`api.storekit-sandbox.*` is the sandbox Server API). Every other host, and every request
//! that is not a `CONNECT`, is refused with a message saying why: crabapple never reaches the
//! internet.

use crate::limits::ListenLimits;
use crate::listen::{Conn, accept_each, conn_builder, serve_connection};
use crate::tls::APPLE_HOSTS;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The header that says why crabapple answered as it did.
const REASON: &str = "x-crabapple-reason";

/// Why a proxy request is refused, or `None` when it is a CONNECT crabapple serves.
pub fn refusal(method: &Method, authority: Option<(&str, Option<u16>)>) -> Option<String> {
    let hosts = APPLE_HOSTS.join(", ");
    if method != Method::CONNECT {
        return Some(format!(
            "crabapple's proxy only tunnels HTTPS (CONNECT) to Apple's API hosts ({hosts}); \
             send plain requests to crabapple's own address"
        ));
    }
    let Some((host, port)) = authority else {
        return Some("CONNECT without a host:port".to_string());
    };
    let host = host.to_ascii_lowercase();
    if !APPLE_HOSTS.contains(&host.as_str()) {
        return Some(format!(
            "crabapple's proxy serves only Apple's API hosts ({hosts}) and never connects to the \
             internet: {host} refused"
        ));
    }
    if port.unwrap_or(443) != 443 {
        return Some(format!(
            "Apple serves {host} on port 443 only: port {} refused",
            port.unwrap_or_default()
        ));
    }
    None
}

/// Accepts proxy connections until the listener fails.
pub async fn proxy_loop(
    listener: tokio::net::TcpListener,
    router: crate::worlds::front::Front,
    limits: ListenLimits,
    tls: tokio_rustls::TlsAcceptor,
) -> anyhow::Result<()> {
    let inner = conn_builder(&limits);
    let timeout = limits.header_read_timeout;
    accept_each(listener, &limits, |stream, peer| {
        let (router, inner, tls) = (router.clone(), inner.clone(), tls.clone());
        async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let answer = tunnel(req, router.clone(), inner.clone(), tls.clone(), timeout);
                async move { Ok::<_, Infallible>(answer) }
            });
            let r = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(e) = r {
                tracing::debug!("{peer}: proxy connection: {e}");
            }
        }
    })
    .await
}

/// Answers one proxy request: `200` and the tunnel served in the background, or a refusal.
fn tunnel(
    req: Request<hyper::body::Incoming>,
    router: crate::worlds::front::Front,
    inner: Arc<Conn>,
    tls: tokio_rustls::TlsAcceptor,
    handshake: Duration,
) -> Response<Body> {
    let authority = req
        .uri()
        .authority()
        .map(|a| (a.host().to_string(), a.port_u16()));
    if let Some(why) = refusal(
        req.method(),
        authority.as_ref().map(|(h, p)| (h.as_str(), *p)),
    ) {
        tracing::info!("proxy: {} {}: {why}", req.method(), req.uri());
        let mut r = Response::new(Body::from(format!("{why}\n")));
        *r.status_mut() = StatusCode::FORBIDDEN;
        r.headers_mut()
            .insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
        if let Ok(v) = why.parse() {
            r.headers_mut().insert(REASON, v);
        }
        return r;
    }
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => return tracing::debug!("proxy: upgrade: {e}"),
        };
        match tokio::time::timeout(handshake, tls.accept(TokioIo::new(upgraded))).await {
            Ok(Ok(s)) => serve_connection(&inner, router, s, true).await,
            Ok(Err(e)) => tracing::debug!("proxy: TLS handshake: {e}"),
            Err(_) => tracing::debug!("proxy: TLS handshake timed out"),
        }
    });
    Response::new(Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connects_to_apples_hosts_on_443_are_served() {
        let c = Method::CONNECT;
        assert_eq!(
            refusal(&c, Some(("api.appstoreconnect.apple.com", Some(443)))),
            None
        );
        assert_eq!(
            refusal(&c, Some(("API.StoreKit-Sandbox.Apple.com", None))),
            None
        );
        assert_eq!(
            refusal(&c, Some(("example.com", Some(443)))).unwrap(),
            "crabapple's proxy serves only Apple's API hosts (api.appstoreconnect.apple.com, \
             api.storekit.itunes.apple.com, api.storekit-sandbox.itunes.apple.com, \
             api.storekit.apple.com, api.storekit-sandbox.apple.com) and never connects to the \
             internet: example.com refused"
        );
        assert_eq!(
            refusal(&c, Some(("api.storekit.apple.com", Some(8443)))).unwrap(),
            "Apple serves api.storekit.apple.com on port 443 only: port 8443 refused"
        );
        assert!(
            refusal(&Method::GET, Some(("api.storekit.apple.com", None)))
                .unwrap()
                .starts_with("crabapple's proxy only tunnels HTTPS (CONNECT)")
        );
    }
}
