//! One TCP connection to the target (TLS over it for https): write a request's bytes,
//! read one response with the lenient parser, and notice when the server closes. Every read is bounded by the
//! step's deadline and by size caps, so no target can hang the run or fill its memory.

use super::tls::TlsClient;
use crate::raw::response::{self, ChunkedDecoder, Framing, ResponseHead, parse_head, preview};
use crate::scenario::plan::UploadFile;
use crate::shared::observation::{BodyObservation, TransportObservation};
use crate::shared::outcome::RecordedResponse;
use crate::shared::upload_data::StreamComparer;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bodies up to this size are kept as text for `body: { equals }` and reports.
const KEPT_BODY_BYTES: usize = 64 * 1024;
/// Shown in reports.
const PREVIEW_BYTES: usize = 512;
/// A body delimited by the connection's end is read up to this size, then given up on.
const MAX_UNTIL_CLOSE_BYTES: u64 = 256 * 1024 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// What one exchange produced.
#[derive(Debug, Default)]
pub struct Exchange {
    pub response: Option<RecordedResponse>,
    pub body: BodyObservation,
    pub observed: TransportObservation,
}

/// A connected socket and the bytes read from it but not yet used.
#[derive(Debug)]
pub struct Wire {
    stream: Stream,
    pub address: String,
    /// The TLS server name, for an https connection.
    pub tls: Option<String>,
    buf: Vec<u8>,
    /// The server closed its side (or reset the connection).
    eof: bool,
    /// The last response said the connection ends after it.
    done: bool,
    /// The account an NTLM or Negotiate handshake authenticated this connection as.
    pub authenticated: Option<super::options::Role>,
    /// How long a body with no delimiter may pause, on a connection the server keeps
    /// open, before it is judged ([`super::options::DEFAULT_IDLE_GRACE`]).
    pub idle_grace: Duration,
}

/// How a read ended.
enum Read {
    Data,
    Eof,
    Reset(String),
    Timeout,
}

impl Wire {
    /// Connects within `timeout`; with `tls` (the server name), then runs the TLS
    /// handshake within the same time again.
    pub async fn connect(
        address: &str,
        tls: Option<(&TlsClient, &str)>,
        timeout: Duration,
    ) -> Result<Wire, String> {
        let stream = Stream::open(address, tls, timeout).await?;
        Ok(Wire {
            stream,
            address: address.to_owned(),
            tls: tls.map(|(_, name)| name.to_owned()),
            buf: Vec::new(),
            eof: false,
            done: false,
            authenticated: None,
            idle_grace: super::options::DEFAULT_IDLE_GRACE,
        })
    }

    /// Still usable for another request: not closed by either side, as far as can be
    /// told without blocking. Over TLS, records that carry no data (session tickets)
    /// are consumed and do not count.
    pub fn is_usable(&mut self) -> bool {
        if self.eof || self.done {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut buf = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        // Ready with no byte: closed; with a byte: a confused server, start afresh.
        matches!(
            Pin::new(&mut self.stream).poll_read(&mut cx, &mut buf),
            Poll::Pending
        )
    }

    /// Sends `bytes`, then reads one response to a `method` request before `deadline`.
    /// A body with no delimiter (no Content-Length, not chunked) on a connection the
    /// server keeps open is judged once no byte came for `self.idle_grace`, not at the deadline.
    pub async fn exchange(
        &mut self,
        bytes: &[u8],
        method: &str,
        half_close: bool,
        deadline: Instant,
        compare_with: Option<UploadFile>,
    ) -> Exchange {
        self.buf.clear();
        let started = Instant::now();
        // A write error is not the end: the server may have answered early (413, 400).
        // TLS keeps the tail of a write in its buffer until flushed.
        let send = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        let write_error = match tokio::time::timeout_at(deadline, send).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("the target did not accept the request bytes in time".to_owned()),
        };
        if half_close {
            // Over TLS this sends what is still buffered, then close_notify: bounded.
            let _ = tokio::time::timeout_at(deadline, self.stream.shutdown()).await;
        }
        let mut exchange = Exchange::default();
        let head = match self.read_head(deadline, started).await {
            Ok(head) => head,
            Err(failure) => {
                let failure = match write_error {
                    Some(w) if is_silence_text(&failure) => {
                        format!("{failure} (sending failed: {w})")
                    }
                    _ => failure,
                };
                exchange.observed.timed_out = is_timeout(&failure);
                exchange.observed.failure = Some(failure);
                exchange.observed.closed = Some(self.eof);
                return exchange;
            }
        };
        let read = self
            .read_body(&head, method, deadline, compare_with, self.idle_grace)
            .await;
        match read {
            Ok(body) => {
                exchange.response = Some(record(&head, body.len, &body.kept));
                exchange.body = body.observation;
                exchange.observed.undelimited = body.undelimited;
            }
            Err(failure) => {
                exchange.observed.failure =
                    Some(format!("{} {}: {failure}", head.version, head.status));
            }
        }
        if head.closes_connection() {
            self.done = true;
        }
        exchange.observed.closed = Some(self.eof);
        exchange
    }

    /// Waits until `deadline` for the server to close; true if it did.
    pub async fn watch_close(&mut self, deadline: Instant) -> bool {
        while !self.eof {
            match self.read_more(deadline).await {
                Read::Data => {
                    // Bytes after a complete response: keep reading, they are not ours.
                    self.buf.clear();
                }
                Read::Eof | Read::Reset(_) => return true,
                Read::Timeout => return false,
            }
        }
        true
    }

    async fn read_more(&mut self, deadline: Instant) -> Read {
        let mut chunk = vec![0u8; READ_CHUNK];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Read::Timeout,
            Ok(Ok(0)) => {
                self.eof = true;
                Read::Eof
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Read::Data
            }
            Ok(Err(e)) => {
                self.eof = true;
                Read::Reset(e.to_string())
            }
        }
    }

    async fn read_head(
        &mut self,
        deadline: Instant,
        started: Instant,
    ) -> Result<ResponseHead, String> {
        loop {
            match parse_head(&self.buf)? {
                Some(head) if head.is_interim() => {
                    self.buf.drain(..head.len);
                    continue;
                }
                Some(head) => {
                    self.buf.drain(..head.len);
                    return Ok(head);
                }
                None => {}
            }
            let read = self.read_more(deadline).await;
            let waited = started.elapsed().as_secs_f64();
            match read {
                Read::Data => {}
                Read::Eof if self.buf.is_empty() => {
                    return Err("the target closed the connection without answering".into());
                }
                Read::Reset(e) if self.buf.is_empty() => {
                    return Err(format!(
                        "the target reset the connection without answering ({e})"
                    ));
                }
                Read::Eof | Read::Reset(_) => {
                    return Err(format!(
                        "the response broke off inside its head after {} bytes: {}",
                        self.buf.len(),
                        preview(&self.buf)
                    ));
                }
                Read::Timeout if self.buf.is_empty() => {
                    return Err(format!(
                        "no response within {waited:.1}s (the connection is still open)"
                    ));
                }
                Read::Timeout => {
                    return Err(format!(
                        "the response head was still incomplete after {waited:.1}s ({} bytes: {})",
                        self.buf.len(),
                        preview(&self.buf)
                    ));
                }
            }
        }
    }

    /// Reads the body.
    async fn read_body(
        &mut self,
        head: &ResponseHead,
        method: &str,
        deadline: Instant,
        compare_with: Option<UploadFile>,
        idle_grace: Duration,
    ) -> Result<ReadBody, String> {
        let framing = response::framing(head, method)?;
        let mut sink = BodySink::new(compare_with);
        let mut undelimited = None;
        match framing {
            Framing::Empty => {}
            Framing::Length(total) => {
                while sink.len < total {
                    if self.buf.is_empty() {
                        self.fill(deadline, || {
                            format!("the body broke off after {} of {total} bytes", sink.len)
                        })
                        .await?;
                    }
                    let take = usize::try_from(total - sink.len)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    sink.push(&self.buf[..take]);
                    self.buf.drain(..take);
                }
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                while !decoder.is_done() {
                    if self.buf.is_empty() {
                        self.fill(deadline, || {
                            format!("the chunked body broke off after {} bytes", sink.len)
                        })
                        .await?;
                    }
                    let used = decoder.feed(&self.buf, &mut |b| sink.push(b))?;
                    self.buf.drain(..used);
                    if sink.len > MAX_UNTIL_CLOSE_BYTES {
                        return Err(format!(
                            "the chunked body exceeds {} MiB",
                            MAX_UNTIL_CLOSE_BYTES >> 20
                        ));
                    }
                }
            }
            Framing::UntilClose => {
                self.done = true;
                let mut idle_until = Instant::now() + idle_grace;
                loop {
                    sink.push(&self.buf);
                    self.buf.clear();
                    if sink.len > MAX_UNTIL_CLOSE_BYTES {
                        return Err(format!(
                            "the body, delimited by the connection's end, exceeds {} MiB",
                            MAX_UNTIL_CLOSE_BYTES >> 20
                        ));
                    }
                    match self.read_more(idle_until.min(deadline)).await {
                        Read::Data => idle_until = Instant::now() + idle_grace,
                        Read::Eof | Read::Reset(_) => break,
                        // Judged now: a server that neither delimits its body nor
                        // closes would otherwise cost every such step its timeout.
                        Read::Timeout => {
                            undelimited = Some(format!(
                                "no Content-Length, not chunked, and the connection was still open {:.1}s after the last byte ({} body bytes read)",
                                idle_grace.as_secs_f64(),
                                sink.len
                            ));
                            break;
                        }
                    }
                }
            }
        }
        let (observation, len, kept) = sink.finish();
        Ok(ReadBody {
            observation,
            len,
            kept,
            undelimited,
        })
    }

    /// Reads more bytes, or fails with `broke_off()` on close and a timeout message.
    async fn fill(
        &mut self,
        deadline: Instant,
        broke_off: impl Fn() -> String,
    ) -> Result<(), String> {
        match self.read_more(deadline).await {
            Read::Data => Ok(()),
            Read::Eof | Read::Reset(_) => Err(broke_off()),
            Read::Timeout => Err(format!(
                "{} at the step's timeout",
                broke_off().replace("broke off", "stalled")
            )),
        }
    }
}

fn is_silence_text(failure: &str) -> bool {
    crate::shared::observation::is_silence(failure)
}

/// A failure that is the deadline passing with the connection open (nothing, or
/// not enough, came): what "the target stopped answering" is made of.
fn is_timeout(failure: &str) -> bool {
    failure.starts_with("no response within")
        || failure.starts_with("the response head was still incomplete")
}

/// A body as read: what the checks see, its length, its first bytes, and why it
/// was judged before its end when it had no delimiter.
struct ReadBody {
    observation: BodyObservation,
    len: u64,
    kept: Vec<u8>,
    undelimited: Option<String>,
}

/// Collects a body: its length, its first bytes, its comparison with the upload file.
struct BodySink {
    len: u64,
    kept: Vec<u8>,
    comparer: Option<StreamComparer>,
}

impl BodySink {
    fn new(compare_with: Option<UploadFile>) -> BodySink {
        BodySink {
            len: 0,
            kept: Vec::new(),
            comparer: compare_with.map(|f| StreamComparer::new(f.seed, f.size)),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.kept.len() < KEPT_BODY_BYTES {
            let room = KEPT_BODY_BYTES - self.kept.len();
            self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        if let Some(c) = self.comparer.as_mut() {
            c.update(bytes);
        }
    }

    fn finish(self) -> (BodyObservation, u64, Vec<u8>) {
        // Bytes that are not UTF-8 show as U+FFFD, so a binary body never equals a text.
        let text = (self.len as usize <= KEPT_BODY_BYTES)
            .then(|| String::from_utf8_lossy(&self.kept).into_owned());
        let observation = BodyObservation {
            len: self.len,
            text,
            matches_file: self.comparer.map(StreamComparer::finish),
        };
        (observation, self.len, self.kept)
    }
}

fn record(head: &ResponseHead, body_len: u64, kept: &[u8]) -> RecordedResponse {
    RecordedResponse {
        version: head.version.clone(),
        status: head.status,
        reason: head.reason.clone(),
        // Names as the server sent them: the reports show the wire.
        headers: head.headers.clone(),
        body_len,
        body_preview: String::from_utf8_lossy(&kept[..kept.len().min(PREVIEW_BYTES)]).into_owned(),
        format_deviations: head.deviations.clone(),
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// Connects to `address` within `timeout`, then, with `tls` (the client and
    /// the server name), runs the handshake within the same time again.
    pub async fn open(
        address: &str,
        tls: Option<(&TlsClient, &str)>,
        timeout: Duration,
    ) -> Result<Stream, String> {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(format!("cannot connect to {address}: {e}")),
            Err(_) => {
                return Err(format!(
                    "cannot connect to {address}: no answer within {:.1}s",
                    timeout.as_secs_f64()
                ));
            }
        };
        let _ = tcp.set_nodelay(true);
        Ok(match tls {
            None => Stream::Plain(tcp),
            Some((client, name)) => {
                Stream::Tls(Box::new(client.connect(tcp, name, timeout).await?))
            }
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{TlsClient, TlsOptions};

    const PING: &[u8] =
        b"BITS_POST /x HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n";

    /// The reference server over HTTPS and a client trusting its certificate.
    async fn https_server() -> (bitspec_server::RunningServer, TlsClient, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).expect("write");
        std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write");
        let server = bitspec_server::spawn(bitspec_server::Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            root: dir.path().join("root"),
            workers: 1,
            tls_certificate: Some(cert.clone()),
            tls_key: Some(key),
            ..bitspec_server::Config::default()
        })
        .await
        .expect("server");
        let client = TlsClient::new(TlsOptions {
            ca_certs: vec![cert],
            insecure: false,
        })
        .expect("client");
        (server, client, dir)
    }

    #[tokio::test]
    async fn a_tls_connection_is_reused_across_requests_until_the_server_closes_it() {
        let (server, client, _dir) = https_server().await;
        let address = server.local_addr().to_string();
        let timeout = Duration::from_secs(10);
        let mut wire = Wire::connect(&address, Some((&client, "127.0.0.1")), timeout)
            .await
            .expect("handshake");
        // TLS 1.3 session tickets arrive after the handshake, before any request:
        // bytes on the socket that are not data, so the connection stays usable.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(wire.is_usable(), "a fresh TLS connection counts as usable");
        for _ in 0..3 {
            let deadline = Instant::now() + timeout;
            let exchange = wire
                .exchange(PING, "BITS_POST", false, deadline, None)
                .await;
            let status = exchange.response.map(|r| r.status);
            assert_eq!(status, Some(200), "{:?}", exchange.observed.failure);
            assert!(wire.is_usable(), "an open TLS connection counts as usable");
        }
        server.shutdown().await;
        let closed = Instant::now() + timeout;
        while wire.is_usable() && Instant::now() < closed {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !wire.is_usable(),
            "a connection the server closed is not reused"
        );
    }
}
