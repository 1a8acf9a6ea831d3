//! Is the target there at all? One TCP connect (and TLS handshake), then a Ping,
//! before the run.

use super::tls::TlsClient;
use super::wire::Wire;
use crate::raw::request;
use std::time::Duration;
use tokio::time::Instant;

/// How long the opening Ping may take. A Ping has no body and opens no session: a
/// server that cannot answer one in this time, over any network, has stopped
/// answering, and waiting for every scenario's timeout would only repeat that.
pub const PING_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the probe found the target unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// No connection (or an untrusted certificate): exit code 3.
    Unreachable(String),
    /// Connected, but the Ping got no answer before [`PING_ANSWER_TIMEOUT`].
    Silent(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Unreachable(why) | ProbeError::Silent(why) => f.write_str(why),
        }
    }
}

/// Checks that the target accepts connections (and, for https, that its
/// certificate is trusted), so an unreachable target is reported once (exit
/// code 3) rather than as every scenario erroring.
pub async fn probe_target(target: &str, tls: &TlsClient, timeout: Duration) -> Result<(), String> {
    probe(target, tls, timeout, PING_ANSWER_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}

/// [`probe_target`], then a Ping to the target URL that must get an answer (any
/// answer: a 401 or a 404 is one) within `answer_timeout`.
pub async fn probe(
    target: &str,
    tls: &TlsClient,
    connect_timeout: Duration,
    answer_timeout: Duration,
) -> Result<(), ProbeError> {
    let endpoint = request::endpoint(target)
        .map_err(|e| ProbeError::Unreachable(format!("target {target:?}: {e}")))?;
    let tls = endpoint.tls.as_deref().map(|name| (tls, name));
    let mut wire = Wire::connect(&endpoint.address, tls, connect_timeout)
        .await
        .map_err(ProbeError::Unreachable)?;
    let ping = format!(
        "BITS_POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bitspec/{}\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n",
        endpoint.target,
        endpoint.authority,
        env!("CARGO_PKG_VERSION")
    );
    let exchange = wire
        .exchange(
            ping.as_bytes(),
            "BITS_POST",
            false,
            Instant::now() + answer_timeout,
            None,
        )
        .await;
    if exchange.observed.timed_out {
        let why = exchange.observed.failure.unwrap_or_default();
        return Err(ProbeError::Silent(format!(
            "the opening Ping to {target}: {why}"
        )));
    }
    Ok(())
}
