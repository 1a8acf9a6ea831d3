//! The load client: one hyper HTTP/1 connection per session, kept alive for all
//! of its packets, with bodies streamed from the generator.
//!
//! hyper's connection-level client is used instead of reqwest: no pool, no
//! redirect or proxy logic, one task per connection, and the request body is an
//! [`http_body::Body`] the connection pulls chunk by chunk.

use super::body::{FileRange, Finished};
use crate::run::{Stream, TlsClient};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

type ReqBody = Either<Empty<Bytes>, FileRange>;

/// Where uploads go: a host to connect to and a path prefix for upload URLs.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` for the TCP connection and the `Host` header.
    pub authority: String,
    /// The target's path, ending with `/`.
    pub base_path: String,
    /// For https: the TLS server name and the client that checks its certificate.
    pub tls: Option<(String, TlsClient)>,
}

impl Endpoint {
    /// Parses an `http://` or `https://` base URL, as the runner does.
    pub fn parse(url: &str, tls: &TlsClient) -> Result<Endpoint, String> {
        let endpoint = crate::raw::request::endpoint(url)?;
        let path = endpoint.target.split('?').next().unwrap_or("/");
        Ok(Endpoint {
            authority: endpoint.address,
            base_path: format!("{}/", path.trim_end_matches('/')),
            tls: endpoint.tls.map(|name| (name, tls.clone())),
        })
    }
}

/// hyper's HTTP/1 client on `stream`, its connection driven by a task of its own.
async fn handshake<S>(stream: S) -> Result<SendRequest<ReqBody>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<ReqBody>,
    host: String,
    timeout: Duration,
    /// Sent with every packet (HTTP Basic).
    authorization: Option<String>,
}

/// An Ack as the bench needs it.
pub struct Ack {
    pub status: StatusCode,
    pub session_id: Option<String>,
    pub received: Option<u64>,
    /// From the last request byte handed to the connection to the response head.
    pub latency: Duration,
}

impl Conn {
    pub async fn open(endpoint: &Endpoint, timeout: Duration) -> Result<Conn, String> {
        // Acks are tiny and latency is measured: Stream::open disables Nagle.
        let tls = endpoint
            .tls
            .as_ref()
            .map(|(name, client)| (client, name.as_str()));
        let stream = Stream::open(&endpoint.authority, tls, timeout).await?;
        let sender = handshake(stream).await?;
        Ok(Conn {
            sender,
            host: endpoint.authority.clone(),
            timeout,
            authorization: None,
        })
    }

    /// Sends `value` as `Authorization` with every packet (HTTP Basic).
    pub fn set_authorization(&mut self, value: String) {
        self.authorization = Some(value);
    }

    /// Authenticates the connection as `account` (NTLM, Negotiate) with two
    /// Pings to `path`, as the Windows client does; later packets need no header.
    pub async fn authenticate(
        &mut self,
        path: &str,
        account: &crate::auth::windows::Account,
    ) -> Result<(), String> {
        let (mut handshake, negotiate) = crate::auth::windows::Handshake::start(account)?;
        let (status, challenge) = self.ping(path, &negotiate).await?;
        if status != StatusCode::UNAUTHORIZED {
            return Err(format!(
                "the server answered the {} handshake with {status}, not a 401 challenge",
                handshake.scheme().name()
            ));
        }
        let values: Vec<&str> = challenge.iter().map(String::as_str).collect();
        let authenticate = handshake.answer(&values)?;
        let (status, _) = self.ping(path, &authenticate).await?;
        if status != StatusCode::OK {
            return Err(format!(
                "{} authentication failed: the Ping got {status}",
                handshake.scheme().name()
            ));
        }
        Ok(())
    }

    /// A Ping with this `Authorization`: the status and `WWW-Authenticate` values.
    async fn ping(
        &mut self,
        path: &str,
        authorization: &str,
    ) -> Result<(StatusCode, Vec<String>), String> {
        let request = Request::builder()
            .method("BITS_POST")
            .uri(path)
            .header(http::header::HOST, self.host.as_str())
            .header(http::header::CONTENT_LENGTH, 0)
            .header(http::header::USER_AGENT, "bitspec-bench")
            .header(http::header::AUTHORIZATION, authorization)
            .header("BITS-Packet-Type", "Ping")
            .body(Either::Left(Empty::new()))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let exchange = async {
            self.sender
                .ready()
                .await
                .map_err(|e| format!("connection lost: {e}"))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| format!("exchange failed: {e}"))?;
            let (parts, body) = response.into_parts();
            body.collect()
                .await
                .map_err(|e| format!("the answer's body broke off: {e}"))?;
            let challenge = parts
                .headers
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            Ok::<_, String>((parts.status, challenge))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {:.0}s", self.timeout.as_secs_f64()))?
    }

    /// Sends one BITS packet; `body` is `(seed, first, end)` of the file for a Fragment.
    pub async fn packet(
        &mut self,
        path: &str,
        headers: &[(&str, String)],
        body: Option<(u64, u64, u64)>,
    ) -> Result<Ack, String> {
        let finished = Finished::default();
        let (len, body) = match body {
            Some((seed, first, end)) => (
                end - first,
                Either::Right(FileRange::new(seed, first, end, finished.clone())),
            ),
            None => (0, Either::Left(Empty::new())),
        };
        let mut request = Request::builder()
            .method("BITS_POST")
            .uri(path)
            .header(http::header::HOST, self.host.as_str())
            .header(http::header::CONTENT_LENGTH, len)
            .header(http::header::USER_AGENT, "bitspec-bench");
        if let Some(value) = &self.authorization {
            request = request.header(http::header::AUTHORIZATION, value.as_str());
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(body)
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let sent = Instant::now();
        let exchange = async {
            self.sender
                .ready()
                .await
                .map_err(|e| format!("connection lost: {e}"))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| format!("exchange failed: {e}"))?;
            let head_at = Instant::now();
            let ack = read_ack(response, head_at).await?;
            Ok::<_, String>((ack, head_at))
        };
        let (mut ack, head_at) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no Ack within {:.0}s", self.timeout.as_secs_f64()))??;
        let body_done = finished.lock().map(|f| f.unwrap_or(sent)).unwrap_or(sent);
        ack.latency = head_at.saturating_duration_since(body_done.max(sent));
        Ok(ack)
    }
}

/// Reads the headers the bench uses and drains the (normally empty) body.
async fn read_ack(response: Response<Incoming>, head_at: Instant) -> Result<Ack, String> {
    let (parts, body) = response.into_parts();
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    let ack = Ack {
        status: parts.status,
        session_id: text("BITS-Session-Id"),
        received: text("BITS-Received-Content-Range").and_then(|v| v.parse().ok()),
        latency: head_at.elapsed(),
    };
    body.collect()
        .await
        .map_err(|e| format!("the Ack body broke off: {e}"))?;
    Ok(ack)
}
