//! One keep-alive HTTP/1.1 connection of the upload client, and the Acks it reads.
//!
//! The bytes go over the runner's [`Stream`] (plain TCP or TLS with the runner's
//! certificate checks) and hyper's connection-level client, as in `bitspec bench`.
//! Each exchange is bounded by the two timers of MC-BUP §3.1.2: the request must
//! be sent within the request timeout, and the answer must come within the
//! response timeout after that.

use crate::raw::request::Endpoint;
use crate::run::{Stream, TlsClient};
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Bytes handed to the connection per body frame.
const CHUNK: usize = 64 * 1024;

/// The two timers of MC-BUP §3.1.2, and the TCP connect bound.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Upload Request Timeout (§3.1.2.1): sending one request.
    pub request: Duration,
    /// Upload Response Timeout (§3.1.2.2): receiving its response.
    pub response: Duration,
}

/// Why an exchange did not produce an answer: all of them are transient.
#[derive(Debug, Clone)]
pub enum TransportError {
    /// No TCP connection (or TLS handshake) to the host.
    Connect(String),
    /// The connection broke, or a timer ran out (ERROR_TRANSPORT, ERROR_TIMEOUT).
    Exchange(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Connect(m) | TransportError::Exchange(m) => f.write_str(m),
        }
    }
}

/// A response as the client reads it: status and headers (the body is drained).
#[derive(Debug, Clone)]
pub struct Ack {
    pub status: u16,
    pub headers: HeaderMap,
}

impl Ack {
    /// A header's value, trimmed; `None` when absent or not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    /// Whether this is a BITS Ack (`BITS-Packet-Type: Ack`, any case).
    pub fn is_ack(&self) -> bool {
        self.header("BITS-Packet-Type")
            .is_some_and(|t| t.eq_ignore_ascii_case("ack"))
    }

    /// The HRESULT of `BITS-Error` (MC-BUP) or `BITS-Error-Code` (MSDN), read as hex
    /// with or without `0x`/`x`.
    pub fn bits_error(&self) -> Option<u32> {
        let text = self
            .header("BITS-Error")
            .or_else(|| self.header("BITS-Error-Code"))?;
        let hex = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .or_else(|| text.strip_prefix('x'))
            .unwrap_or(text);
        u32::from_str_radix(hex, 16).ok()
    }

    /// `BITS-Received-Content-Range`, the next offset the server expects.
    pub fn received(&self) -> Option<u64> {
        self.header("BITS-Received-Content-Range")
            .and_then(|v| v.parse().ok())
    }

    /// A one-line description for messages: `500 (BITS-Error 0x8020001F)`.
    pub fn describe(&self) -> String {
        match self.bits_error() {
            Some(code) => format!("{} (BITS-Error 0x{code:08X})", self.status),
            None => self.status.to_string(),
        }
    }
}

/// A fragment body (or none) that records when its last byte was handed over, so
/// the request timer can stop and the response timer start.
struct TrackedBody {
    data: Bytes,
    sent: Arc<Mutex<Option<Instant>>>,
}

impl TrackedBody {
    fn mark_sent(&self) {
        let mut slot = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(Instant::now);
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            self.mark_sent();
            return Poll::Ready(None);
        }
        let len = self.data.len().min(CHUNK);
        let chunk = self.data.split_to(len);
        if self.data.is_empty() {
            self.mark_sent();
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.len() as u64)
    }
}

/// One keep-alive connection to one host.
pub struct Conn {
    sender: SendRequest<TrackedBody>,
    authority: String,
    timeouts: Timeouts,
    /// NTLM or Negotiate authenticated this connection (see [`super::auth`]).
    pub authenticated: bool,
}

impl Conn {
    /// Connects (and, for https, runs the TLS handshake with `tls`).
    pub async fn open(
        endpoint: &Endpoint,
        tls: &TlsClient,
        timeouts: Timeouts,
    ) -> Result<Conn, TransportError> {
        let tls = endpoint.tls.as_deref().map(|name| (tls, name));
        let stream = Stream::open(&endpoint.address, tls, timeouts.connect)
            .await
            .map_err(TransportError::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError::Connect(format!("HTTP handshake failed: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            authority: endpoint.authority.clone(),
            timeouts,
            authenticated: false,
        })
    }

    /// Sends one request and reads its answer's head; the body goes to `sink`
    /// (a reply download) or is drained (an Ack).
    pub async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: Bytes,
        sink: Option<&mut tokio::fs::File>,
    ) -> Result<Ack, TransportError> {
        let sent = Arc::new(Mutex::new(None));
        let mut request = Request::builder()
            .method(method)
            .uri(target)
            .header(http::header::HOST, self.authority.as_str())
            .header(
                http::header::USER_AGENT,
                concat!("bitspec-upload/", env!("CARGO_PKG_VERSION")),
            );
        if method != "GET" {
            request = request.header(http::header::CONTENT_LENGTH, body.len());
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(TrackedBody {
                data: body,
                sent: Arc::clone(&sent),
            })
            .map_err(|e| TransportError::Exchange(format!("cannot build the request: {e}")))?;
        let started = Instant::now();
        let sender = &mut self.sender;
        let answer = async {
            sender
                .ready()
                .await
                .map_err(|e| format!("connection lost: {e}"))?;
            sender
                .send_request(request)
                .await
                .map_err(|e| format!("exchange failed: {e}"))
        };
        tokio::pin!(answer);
        let timeouts = self.timeouts;
        let response = loop {
            match tokio::time::timeout(Duration::from_millis(100), &mut answer).await {
                Ok(result) => break result.map_err(TransportError::Exchange)?,
                Err(_) => {
                    let sent_at = *sent.lock().unwrap_or_else(|e| e.into_inner());
                    match sent_at {
                        None if started.elapsed() > timeouts.request => {
                            return Err(TransportError::Exchange(format!(
                                "the request was not sent within {:.0}s (Upload Request Timeout)",
                                timeouts.request.as_secs_f64()
                            )));
                        }
                        Some(at) if at.elapsed() > timeouts.response => {
                            return Err(TransportError::Exchange(format!(
                                "no answer within {:.0}s (Upload Response Timeout)",
                                timeouts.response.as_secs_f64()
                            )));
                        }
                        _ => {}
                    }
                }
            }
        };
        let (parts, mut body) = response.into_parts();
        let drain = async {
            let mut sink = sink;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("the answer's body broke off: {e}"))?;
                if let (Ok(data), Some(file)) = (frame.into_data(), sink.as_mut()) {
                    file.write_all(&data)
                        .await
                        .map_err(|e| format!("cannot write the reply: {e}"))?;
                }
            }
            Ok::<_, String>(())
        };
        tokio::time::timeout(timeouts.response, drain)
            .await
            .map_err(|_| TransportError::Exchange("the answer's body did not end".into()))?
            .map_err(TransportError::Exchange)?;
        Ok(Ack {
            status: parts.status.as_u16(),
            headers: parts.headers,
        })
    }
}
