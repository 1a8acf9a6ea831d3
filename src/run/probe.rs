//! Is the target there at all? One TCP connect before the run.

use std::time::Duration;

/// Checks that the target accepts TCP connections, so an unreachable target is
/// reported once (exit code 3) rather than as every scenario erroring.
pub async fn probe_target(target: &str, timeout: Duration) -> Result<(), String> {
    let rest = target
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| format!("target {target:?} is not an http:// URL"))?;
    if !target.to_ascii_lowercase().starts_with("http://") {
        return Err(format!(
            "target {target:?}: only http:// targets are supported"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map(|(_, a)| a)
        .unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("target {target:?} has no host"));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        && !authority.ends_with(']');
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect to {address}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to {address}: no answer within {:.1}s",
            timeout.as_secs_f64()
        )),
    }
}
