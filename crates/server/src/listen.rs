//! The listeners: plain HTTP and HTTPS with crabapple's certificate ([`crate::tls`]); the proxy
//! ([`crate::proxy`]) hands its tunnels to the same connection server. Every connection counts
//! against its peer IP's limit and must send its request head within the header timeout
//! ([`ListenLimits`]).

use crate::faults::DropConnection;
use crate::limits::{ListenLimits, MAX_HEAD_BUFFER, Peers};
use crate::worlds::front::Front;
use axum::body::Body;
use axum::http::{HeaderValue, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// hyper's connection server for HTTP/1.1 and HTTP/2, configured once per listener.
pub(crate) type Conn = hyper_util::server::conn::auto::Builder<TokioExecutor>;

pub(crate) fn conn_builder(limits: &ListenLimits) -> Arc<Conn> {
    let mut builder = Conn::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BUFFER)
        // A client that shuts its write side after the request still gets the answer.
        .half_close(true);
    builder.http2().timer(TokioTimer::new());
    Arc::new(builder)
}

/// Serves the requests of one connection. Over TLS (`https`) each request is marked
/// `x-forwarded-proto: https` (crabapple is the TLS terminator; a client's own value is
/// replaced), so links and `Location` use the scheme the client used; an HTTP/2 request's
/// `:authority` becomes its `Host`.
pub(crate) async fn serve_connection<I>(conn: &Conn, front: Front, io: I, https: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let mut req = req.map(Body::new);
        mark(&mut req, https);
        let front = front.clone();
        async move {
            let resp = front.serve(req).await;
            // An injected fault (crate::faults): the connection closes without an answer.
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok(resp)
        }
    });
    if let Err(e) = conn
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
    {
        tracing::debug!("connection: {e}");
    }
}

fn mark(req: &mut Request<Body>, https: bool) {
    if !req.headers().contains_key("host")
        && let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert("host", v);
    }
    if https {
        req.headers_mut()
            .insert("x-forwarded-proto", HeaderValue::from_static("https"));
    }
}

/// Accepts connections until the listener fails, each within its peer's limit, and spawns
/// `serve(stream, peer)` for it (the peer's slot is held until that returns).
pub(crate) async fn accept_each<F, Fut>(
    listener: tokio::net::TcpListener,
    limits: &ListenLimits,
    serve: F,
) -> anyhow::Result<()>
where
    F: Fn(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let peers = Peers::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            // Out of file descriptors (or a connection reset before accept): wait, go on.
            Err(e) => {
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = peers.admit(peer.ip(), limits.per_peer) else {
            tracing::debug!("{peer}: over {} connections, closed", limits.per_peer);
            continue;
        };
        let served = serve(stream, peer);
        tokio::spawn(async move {
            let _slot = slot;
            served.await
        });
    }
}

/// Accepts connections until the listener fails; with `tls`, each completes a TLS handshake
/// (within the header timeout) first.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Front,
    limits: ListenLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> anyhow::Result<()> {
    let conn = conn_builder(&limits);
    let handshake = limits.header_read_timeout;
    accept_each(listener, &limits, |stream, peer| {
        let (router, conn, tls) = (router.clone(), conn.clone(), tls.clone());
        async move {
            match tls {
                None => serve_connection(&conn, router, stream, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_connection(&conn, router, s, true).await,
                        Ok(Err(e)) => tracing::debug!("{peer}: TLS handshake: {e}"),
                        Err(_) => tracing::debug!("{peer}: TLS handshake timed out"),
                    }
                }
            }
        }
    })
    .await
}

/// Why a connection was closed without an answer (an injected fault).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}
