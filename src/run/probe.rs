//! Is the target there at all? One TCP connect (and TLS handshake) before the run.

use super::tls::TlsClient;
use super::wire::Wire;
use crate::raw::request;
use std::time::Duration;

/// Checks that the target accepts connections (and, for https, that its
/// certificate is trusted), so an unreachable target is reported once (exit
/// code 3) rather than as every scenario erroring.
pub async fn probe_target(target: &str, tls: &TlsClient, timeout: Duration) -> Result<(), String> {
    let endpoint = request::endpoint(target).map_err(|e| format!("target {target:?}: {e}"))?;
    let tls = endpoint.tls.as_deref().map(|name| (tls, name));
    Wire::connect(&endpoint.address, tls, timeout)
        .await
        .map(drop)
}
