//! HTTP glue: the accept loop, per-connection limits, method dispatch, logs.
//!
//! hyper's HTTP/1 server is used directly (no router): BITS has one endpoint
//! per URL and a custom method, and the odd requests a conformance target must
//! survive (HTTP/1.0, no Content-Length, huge headers, stalled bodies) are
//! handled here or in `packets.rs`, not by framework defaults.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::ack::{Ack, Body};
use crate::auth::Authenticated;
use crate::download;
use crate::packets::{self, Outcome};
use crate::quotas;
use crate::shared::Shared;
use crate::wide_reads::{MAX_HEAD, WIDE_BUFFER};
use crate::windows_auth::ConnectionAuth;

/// Most header fields in a request head (hyper's default, named so it is
/// documented): more get 431 and the connection closes. A BITS client sends
/// about ten; IIS has no count, only its 16 KB head, which [`MAX_HEAD`] keeps.
pub(crate) const MAX_HEADERS: usize = 100;

/// Serves one connection until the client closes it; once `stop` changes,
/// lets the request in flight finish and closes. With HTTPS, the handshake
/// comes first, bounded by the header read timeout like a request head.
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    // Acks are small and answer a request at once: never hold them back.
    let _ = stream.set_nodelay(true);
    let table = Arc::clone(&shared);
    let limit = shared.config.max_connections_per_address;
    let Some(_counted) = table.connections.enter(peer.ip(), limit) else {
        tracing::debug!(%peer, "over max_connections_per_address: refused");
        Box::pin(refuse(stream, shared.tls.is_some())).await;
        return;
    };
    match shared.tls.clone() {
        None => serve_http(stream, peer, shared, stop).await,
        // Boxed: a TLS connection's state is several KiB, and every task is
        // sized for its largest branch; inline, it added about 4 KiB to every
        // plain connection (1,000 connections peaked 3-6 MB higher).
        Some(tls) => Box::pin(serve_https(stream, tls, peer, shared, stop)).await,
    }
}

/// Answers a connection over its address's quota at once, without waiting for
/// its request: 503 with `Retry-After`, then close. The answer goes out
/// before the request is read, so the close waits a moment for the request to
/// arrive (closing on unread bytes would reset the connection and could
/// destroy the answer). Over TLS the connection is closed without an answer,
/// which would cost a handshake.
async fn refuse(mut stream: TcpStream, tls: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if tls {
        return;
    }
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        quotas::CONNECTION_RETRY_AFTER
    );
    if stream.write_all(answer.as_bytes()).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// How long a refused connection is read from before it is closed.
const REFUSAL_LINGER: Duration = Duration::from_millis(250);

/// The TLS handshake, bounded by the header read timeout, then HTTP over it.
async fn serve_https(
    stream: TcpStream,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let header_timeout = shared.header_timeout();
    let acceptor = TlsAcceptor::from(tls);
    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_http(stream, peer, shared, stop).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// hyper's HTTP/1 server on `stream`, plain or TLS.
async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = shared.header_timeout();
    let licence = shared.wide.try_take();
    let buffer = if licence.is_some() {
        WIDE_BUFFER
    } else {
        MAX_HEAD
    };
    // NTLM authenticates the connection: its handshake state lives as long as it.
    let windows = Arc::new(ConnectionAuth::default());
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        let windows = Arc::clone(&windows);
        async move { Ok::<_, Infallible>(route(&shared, req, peer, &windows).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(buffer)
        .max_header_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
    drop(licence);
}

/// Runs the connection's NTLM or Negotiate handshake round, if any, then
/// dispatches the request with the user it authenticated.
async fn route(
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
    connection: &ConnectionAuth,
) -> Response<Body> {
    use crate::windows_auth::Outcome;
    let (mut parts, body) = req.into_parts();
    let reply = match shared.windows.authenticate(connection, &parts.headers) {
        Outcome::NotWindows => None,
        Outcome::Continue(token) => {
            tracing::info!(%peer, path = %parts.uri.path(), "authentication challenge");
            let ack = Ack::status(StatusCode::UNAUTHORIZED).with("WWW-Authenticate", token);
            return ack.into_response(shared.config.error_header);
        }
        Outcome::Rejected => {
            tracing::info!(%peer, path = %parts.uri.path(), "authentication failed");
            return shared
                .auth
                .challenge()
                .into_response(shared.config.error_header);
        }
        Outcome::User { name, reply } => {
            parts.extensions.insert(Authenticated(name));
            reply
        }
    };
    let mut response = Box::pin(dispatch(shared, parts, body, peer)).await;
    if let Some(value) = reply.and_then(|r| http::HeaderValue::from_str(&r).ok()) {
        response
            .headers_mut()
            .append(http::header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Dispatches one request on its method and logs it.
async fn dispatch(
    shared: &Shared,
    parts: http::request::Parts,
    body: Incoming,
    peer: SocketAddr,
) -> Response<Body> {
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    if method.as_str() == "BITS_POST" {
        // The one seam: a server built with a packet layer (the fault
        // catalogue, a testing aid) hands it the packet instead.
        if let Some(layer) = &shared.layer {
            return layer.bits_post(shared, parts, body, peer).await;
        }
        let mut outcome = Outcome::default();
        let ack = packets::handle(shared, parts, body, peer, &mut outcome).await;
        // A session id and its URL are all it takes to continue an anonymous
        // session: INFO logs name it by a prefix, DEBUG in full.
        let session = outcome.session.as_deref().unwrap_or("-");
        tracing::debug!(%peer, %session, "session of the packet");
        tracing::info!(
            %peer,
            %path,
            packet = %outcome.packet.map_or("-", |p| p.name()),
            session = %crate::session::short(session),
            status = ack.status.as_u16(),
            code = %ack.code().map_or_else(|| "-".to_string(), |c| format!("0x{c:08X}")),
            "BITS packet"
        );
        return ack.into_response(shared.config.error_header);
    }
    let response = if method == Method::GET || method == Method::HEAD {
        Box::pin(download::serve(shared, &parts)).await
    } else {
        let mut response = download::status(StatusCode::METHOD_NOT_ALLOWED);
        response.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("BITS_POST, GET, HEAD"),
        );
        response
    };
    // A reply's URL names its session (`/BITS-Sessions/Replies/{GUID}/...`).
    let path = crate::session::redact(&path);
    tracing::info!(%peer, %method, %path, status = response.status().as_u16(), "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A connection's task holds this future for the connection's whole life,
    /// so its size is memory per connection (a thousand connections: a
    /// thousand of them). It once grew by the TLS branch inline.
    #[tokio::test]
    async fn a_plain_connection_s_task_stays_small() {
        let root = tempfile::tempdir().expect("tempdir");
        let config = Config {
            root: root.path().to_path_buf(),
            ..Config::default()
        };
        let shared = Arc::new(Shared::new(config).expect("shared"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let _client = TcpStream::connect(address).await.expect("connect");
        let (stream, peer) = listener.accept().await.expect("accept");
        let (_stop, stopped) = watch::channel(false);
        let connection = serve_connection(stream, peer, shared, stopped);
        let size = std::mem::size_of_val(&connection);
        assert!(size <= 2048, "serve_connection's future is {size} bytes");
    }
}
