//! The built-in fault proxy: a TCP relay between the harness and the target that breaks
//! one exchange on purpose, so scenarios can test what BITS exists for: resuming an
//! interrupted upload.
//!
//! One proxy serves one connection (one step): it can cut both connections after N
//! request bytes (or N body bytes after the head), hold the response for a while, or
//! let the request through and drop the response. It listens on 127.0.0.1 only and
//! ends with its [`FaultProxy`] handle. For an https target the proxy is the TLS
//! client: the harness speaks plain HTTP to it, so the fault falls on the same bytes
//! of the request or response as over plain HTTP, and the target sees a TLS
//! connection cut (without `close_notify`) at that point.

use crate::raw::request::find_head_end;
use crate::run::{Stream, TlsClient};
use crate::scenario::model::Fault;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long the proxy waits for the harness to connect.
const CONNECT_WAIT: Duration = Duration::from_secs(30);

/// A running proxy; dropping it stops it and closes its connections.
#[derive(Debug)]
pub struct FaultProxy {
    address: String,
    task: JoinHandle<()>,
    /// Until set, bytes pass untouched: an NTLM handshake's first round goes
    /// through before the fault falls on the step's own request.
    armed: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Connects to `upstream` (with TLS for the server name in `tls`) within
    /// `connect_timeout`, then listens on an ephemeral 127.0.0.1 port and relays the
    /// one connection it accepts there. A target that cannot be reached, or whose
    /// TLS handshake fails, is an error here, with its cause, not a silent close.
    pub async fn start(
        upstream: &str,
        tls: Option<(&TlsClient, &str)>,
        fault: Fault,
        connect_timeout: Duration,
    ) -> Result<FaultProxy, String> {
        Self::start_armed(upstream, tls, fault, connect_timeout, true).await
    }

    /// [`FaultProxy::start`], with the fault held back until [`FaultProxy::arm`]
    /// when `armed` is false.
    pub async fn start_armed(
        upstream: &str,
        tls: Option<(&TlsClient, &str)>,
        fault: Fault,
        connect_timeout: Duration,
        armed: bool,
    ) -> Result<FaultProxy, String> {
        let armed = Arc::new(AtomicBool::new(armed));
        let relay_armed = Arc::clone(&armed);
        let server = Stream::open(upstream, tls, connect_timeout).await?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("fault proxy: cannot listen: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("fault proxy: {e}"))?
            .to_string();
        let task = tokio::spawn(async move {
            let Ok(Ok((client, _))) = tokio::time::timeout(CONNECT_WAIT, listener.accept()).await
            else {
                return;
            };
            relay(client, server, &fault, &relay_armed).await;
        });
        Ok(FaultProxy {
            address,
            task,
            armed,
        })
    }

    /// From now on the fault applies, counting request bytes from here. Call it
    /// between exchanges, when the last response has been read whole.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// `127.0.0.1:port`, to connect to instead of the target.
    pub fn address(&self) -> String {
        self.address.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The fault proxy for a client that opens many connections (`bitspec upload`):
/// connection `n` (from 0) gets the fault `plan(n)` and its own upstream connection.
/// Dropping it stops every relay.
pub struct FaultGate {
    address: String,
    task: JoinHandle<()>,
}

/// The fault of each connection a [`FaultGate`] accepts, by its index.
pub type FaultPlan = Box<dyn Fn(u64) -> Fault + Send + Sync>;

impl FaultGate {
    /// Listens on an ephemeral 127.0.0.1 port; each accepted connection is relayed
    /// to `upstream` (a connection that cannot be made closes the client's).
    pub async fn start(
        upstream: String,
        tls: Option<(TlsClient, String)>,
        plan: FaultPlan,
        connect_timeout: Duration,
    ) -> Result<FaultGate, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("fault proxy: cannot listen: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("fault proxy: {e}"))?
            .to_string();
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            for n in 0u64.. {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let fault = plan(n);
                let (upstream, tls) = (upstream.clone(), tls.clone());
                relays.spawn(async move {
                    let tls = tls.as_ref().map(|(c, name)| (c, name.as_str()));
                    if let Ok(server) = Stream::open(&upstream, tls, connect_timeout).await {
                        relay(client, server, &fault, &AtomicBool::new(true)).await;
                    }
                });
                while relays.try_join_next().is_some() {}
            }
        });
        Ok(FaultGate { address, task })
    }

    /// `127.0.0.1:port`, to connect to instead of the target.
    pub fn address(&self) -> String {
        self.address.clone()
    }
}

impl Drop for FaultGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays both ways until either side closes or the fault ends the exchange; returning
/// drops (closes) both connections.
async fn relay<S>(mut client: TcpStream, mut server: S, fault: &Fault, armed: &AtomicBool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let mut forwarded: u64 = 0;
    // Request bytes seen, kept only until the head's end is found.
    let mut head: Vec<u8> = Vec::new();
    let mut limit = fault.cut_after_request_bytes;
    let mut delayed = false;
    let mut client_done = false;
    loop {
        tokio::select! {
            read = client.read(&mut up), if !client_done => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        // The harness half-closed: pass that on, keep relaying the answer.
                        client_done = true;
                        let _ = server.shutdown().await;
                        continue;
                    }
                    Ok(n) => n,
                };
                let chunk = &up[..n];
                if !armed.load(Ordering::SeqCst) {
                    if server.write_all(chunk).await.is_err() || server.flush().await.is_err() {
                        return;
                    }
                    continue;
                }
                if let (Some(body_bytes), None) = (fault.cut_after_body_bytes, limit) {
                    if head.len() < 64 * 1024 {
                        head.extend_from_slice(chunk);
                    }
                    if let Some(end) = find_head_end(&head) {
                        // Saturating: a huge `cut_after_body_bytes` means "never".
                        limit = Some((end as u64).saturating_add(body_bytes));
                    }
                }
                let allowed = match limit {
                    Some(limit) => usize::try_from(limit.saturating_sub(forwarded)).unwrap_or(usize::MAX).min(n),
                    None => n,
                };
                // Flushed at once: TLS would keep the tail of the request back.
                let sent = async {
                    server.write_all(&chunk[..allowed]).await?;
                    server.flush().await
                };
                if sent.await.is_err() {
                    return;
                }
                forwarded += allowed as u64;
                if limit.is_some_and(|l| forwarded >= l) {
                    // The cut: both connections end here, mid-request.
                    let _ = server.flush().await;
                    return;
                }
            }
            read = server.read(&mut down) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if !armed.load(Ordering::SeqCst) {
                    if client.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                    continue;
                }
                if fault.drop_response {
                    // The server has answered: the harness never sees it.
                    return;
                }
                if let (Some(ms), false) = (fault.delay_ms, delayed) {
                    delayed = true;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                if client.write_all(&down[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"BITS_POST /f HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    #[tokio::test]
    async fn a_cut_beyond_u64_max_lets_the_whole_exchange_through() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = listener.local_addr().expect("address").to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut got = vec![0u8; REQUEST.len()];
            s.read_exact(&mut got).await.expect("the whole request");
            s.write_all(ANSWER).await.expect("answer");
            got
        });
        let fault = Fault {
            cut_after_body_bytes: Some(u64::MAX),
            ..Fault::default()
        };
        let proxy = FaultProxy::start(&upstream, None, fault, Duration::from_secs(5))
            .await
            .expect("proxy");
        let mut client = TcpStream::connect(proxy.address()).await.expect("connect");
        client.write_all(REQUEST).await.expect("send");
        let mut answer = vec![0u8; ANSWER.len()];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut answer))
            .await
            .expect("in time")
            .expect("the answer is relayed");
        assert_eq!(answer, ANSWER);
        assert_eq!(server.await.expect("upstream"), REQUEST);
    }

    /// An NTLM handshake's first round crosses a disarmed proxy whole; once armed,
    /// the cut falls on the next request, counted from its first byte.
    #[tokio::test]
    async fn a_disarmed_proxy_relays_until_armed_then_cuts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let upstream = listener.local_addr().expect("address").to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut first = vec![0u8; REQUEST.len()];
            s.read_exact(&mut first)
                .await
                .expect("the first request whole");
            s.write_all(ANSWER).await.expect("answer");
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
            (first, rest)
        });
        let fault = Fault {
            cut_after_request_bytes: Some(5),
            ..Fault::default()
        };
        let proxy = FaultProxy::start_armed(&upstream, None, fault, Duration::from_secs(5), false)
            .await
            .expect("proxy");
        let mut client = TcpStream::connect(proxy.address()).await.expect("connect");
        client.write_all(REQUEST).await.expect("send");
        let mut answer = vec![0u8; ANSWER.len()];
        tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut answer))
            .await
            .expect("in time")
            .expect("the answer is relayed");
        proxy.arm();
        client.write_all(REQUEST).await.expect("send again");
        let (first, rest) = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("in time")
            .expect("upstream");
        assert_eq!(first, REQUEST);
        assert_eq!(
            rest,
            &REQUEST[..5],
            "the armed fault cuts the second request"
        );
    }
}
