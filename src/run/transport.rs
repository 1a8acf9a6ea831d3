//! The connection a scenario's steps share, and the bytes each step sends.
//!
//! Requests go out as bytes over bitspec's own TCP connections ([`super::wire`]), both
//! those built from a step's keys and raw ones, so both give the same recorded exchange
//! and the harness decides what is sent, which connection carries it and when it closes.

use super::liveness::{Liveness, Stopped};
use super::options::{DEFAULT_IDLE_GRACE, Role, RunOptions};
use super::tls::TlsClient;
use super::wire::{Exchange, Wire};
use crate::auth::windows::{Account, Handshake};
use crate::raw::request;
use crate::run::proxy::FaultProxy;
use crate::scenario::model::Fault;
use crate::scenario::plan::UploadFile;
use crate::scenario::profile::{HANDSHAKE_PRIMARY, HANDSHAKE_RESTRICTED, WindowsAccounts};
use crate::shared::outcome::{RecordedRequest, RecordedResponse};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A request built from a step's keys.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutgoingRequest {
    pub fn record(&self) -> RecordedRequest {
        RecordedRequest::new(
            self.method.clone(),
            self.url.clone(),
            self.headers.clone(),
            self.body.len() as u64,
        )
    }

    /// The bytes on the wire: Host and User-Agent are added unless the step set
    /// them (or omitted them, which `omit` records by leaving them out of `headers`).
    pub fn to_wire(&self, omit: &[String]) -> Result<WireRequest, String> {
        let endpoint = request::endpoint(&self.url)?;
        let mut headers = Vec::new();
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let omitted = |name: &str| omit.iter().any(|o| o.eq_ignore_ascii_case(name));
        if !has("Host") && !omitted("Host") {
            headers.push(("Host".to_owned(), endpoint.authority.clone()));
        }
        if !has("User-Agent") && !omitted("User-Agent") {
            headers.push((
                "User-Agent".to_owned(),
                concat!("bitspec/", env!("CARGO_PKG_VERSION")).to_owned(),
            ));
        }
        headers.extend(self.headers.iter().cloned());
        // The NTLM stand-in is shown in the report but never sent: the connection
        // runs the handshake instead.
        let handshake = headers.iter().find_map(|(name, value)| {
            if !name.eq_ignore_ascii_case("Authorization") {
                return None;
            }
            match value.as_str() {
                HANDSHAKE_PRIMARY => Some(Role::Primary),
                HANDSHAKE_RESTRICTED => Some(Role::Restricted),
                _ => None,
            }
        });
        let record_headers = headers.clone();
        if handshake.is_some() {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case("Authorization"));
        }
        for (name, value) in &headers {
            if value.contains(['\r', '\n']) {
                return Err(format!("the value of header {name} contains a line break"));
            }
        }
        let bytes = request::serialize(&self.method, &endpoint.target, &headers, &self.body);
        Ok(WireRequest {
            address: endpoint.address,
            tls: endpoint.tls,
            record: RecordedRequest::new(
                self.method.clone(),
                self.url.clone(),
                record_headers,
                self.body.len() as u64,
            ),
            bytes,
            method: self.method.clone(),
            half_close: false,
            silence_expected: false,
            handshake,
            host: endpoint.authority,
            target: endpoint.target,
            raw: false,
        })
    }
}

/// Bytes ready to send, where to, and how they are shown in the report.
#[derive(Debug, Clone)]
pub struct WireRequest {
    /// `host:port`.
    pub address: String,
    /// The TLS server name for an https URL.
    pub tls: Option<String>,
    pub bytes: Vec<u8>,
    /// The method, which decides whether the response has a body (HEAD).
    pub method: String,
    pub half_close: bool,
    /// The step accepts no answer: its timeout is not the target going silent.
    pub silence_expected: bool,
    pub record: RecordedRequest,
    /// Authenticate the connection as this account (NTLM, Negotiate) first.
    pub handshake: Option<Role>,
    /// `host[:port]` and the request target, for the handshake's Ping.
    pub host: String,
    pub target: String,
    /// Raw bytes from the scenario: the handshake ends before them, on a Ping.
    pub raw: bool,
}

/// The connection of one scenario: reused while the server keeps it open, replaced
/// when it closes, when a step asks for a new one or goes through the fault proxy.
#[derive(Debug)]
pub struct Connection {
    wire: Option<Wire>,
    connect_timeout: Duration,
    tls: TlsClient,
    /// NTLM or Negotiate accounts, when the profile has them.
    accounts: Option<WindowsAccounts>,
    idle_grace: Duration,
    /// The run this connection belongs to learns from every exchange whether the
    /// target still answers, and abandons the exchange once it stopped.
    liveness: Option<Arc<Liveness>>,
}

impl Connection {
    pub fn new(connect_timeout: Duration, tls: TlsClient) -> Connection {
        Connection {
            wire: None,
            connect_timeout,
            tls,
            accounts: None,
            idle_grace: DEFAULT_IDLE_GRACE,
            liveness: None,
        }
    }

    /// A connection of a run: its timeouts, TLS client, accounts, idle grace and liveness.
    pub fn for_run(options: &RunOptions) -> Connection {
        Connection {
            idle_grace: options.idle_grace,
            liveness: Some(Arc::clone(&options.liveness)),
            ..Connection::new(options.connect_timeout, options.tls.clone())
                .with_accounts(options.profile.windows.clone())
        }
    }

    /// Authenticates connections with these accounts where requests ask for it.
    pub fn with_accounts(mut self, accounts: Option<WindowsAccounts>) -> Connection {
        self.accounts = accounts;
        self
    }

    /// Forgets the current connection (closing it); the next exchange opens another.
    pub fn close(&mut self) {
        self.wire = None;
    }

    /// Sends `request` and reads its response within `timeout`; with `fault`, through
    /// a fault proxy on a connection of its own, closed afterwards. `watch_close`
    /// says how long to wait after the response to learn whether the server closes.
    pub async fn exchange(
        &mut self,
        request: &WireRequest,
        timeout: Duration,
        compare_with: Option<UploadFile>,
        fault: Option<&Fault>,
        watch_close: WatchClose,
    ) -> Exchange {
        let Some(liveness) = self.liveness.clone() else {
            return self
                .exchange_alone(request, timeout, compare_with, fault, watch_close)
                .await;
        };
        if let Some(stopped) = liveness.stopped() {
            return failed(abandoned(&stopped));
        }
        let done = tokio::select! {
            exchange = self.exchange_alone(request, timeout, compare_with, fault, watch_close) => Ok(exchange),
            stopped = liveness.until_stopped() => Err(stopped),
        };
        match done {
            Ok(exchange) => {
                if exchange.response.is_some() {
                    liveness.answered();
                } else if exchange.observed.timed_out && !request.silence_expected {
                    liveness.timed_out(exchange.observed.failure.as_deref().unwrap_or("timeout"));
                }
                exchange
            }
            Err(stopped) => {
                // Cut off mid-exchange: the connection's state is unknown.
                self.wire = None;
                failed(abandoned(&stopped))
            }
        }
    }

    /// [`Connection::exchange`] without the run's liveness.
    async fn exchange_alone(
        &mut self,
        request: &WireRequest,
        timeout: Duration,
        compare_with: Option<UploadFile>,
        fault: Option<&Fault>,
        watch_close: WatchClose,
    ) -> Exchange {
        let deadline = Instant::now() + timeout;
        let mut proxy = None;
        if let Some(fault) = fault {
            self.wire = None;
            let tls = request.tls.as_deref().map(|name| (&self.tls, name));
            // A handshake goes first on the proxy's connection, untouched by the fault.
            let armed = request.handshake.is_none() || self.accounts.is_none();
            match FaultProxy::start_armed(
                &request.address,
                tls,
                fault.clone(),
                self.connect_timeout,
                armed,
            )
            .await
            {
                Ok(p) => proxy = Some(p),
                Err(e) => return failed(e),
            }
        }
        let address = proxy
            .as_ref()
            .map_or_else(|| request.address.clone(), |p| p.address());
        // NTLM authenticates the connection: a request for another account, or
        // for none, needs a connection of its own.
        let reuse = self.wire.as_mut().is_some_and(|w| {
            w.address == address
                && w.tls == request.tls
                && (w.authenticated.is_none() || w.authenticated == request.handshake)
                && w.is_usable()
        });
        if !reuse {
            // Through the fault proxy the harness speaks plain HTTP: the proxy does TLS.
            let tls = match (&proxy, request.tls.as_deref()) {
                (None, Some(name)) => Some((&self.tls, name)),
                _ => None,
            };
            match Wire::connect(&address, tls, self.connect_timeout).await {
                Ok(mut w) => {
                    w.idle_grace = self.idle_grace;
                    self.wire = Some(w);
                }
                Err(e) => {
                    self.wire = None;
                    let mut exchange = failed(e);
                    // A connection attempt nobody answers is silence too.
                    exchange.observed.timed_out = exchange
                        .observed
                        .failure
                        .as_deref()
                        .is_some_and(|f| f.contains("no answer within"));
                    return exchange;
                }
            }
        }
        let Some(wire) = self.wire.as_mut() else {
            return failed("no connection".into());
        };
        let mut exchange = match self.accounts.as_ref().zip(request.handshake) {
            Some((accounts, role)) => {
                let account = match role {
                    Role::Primary => Some(&accounts.primary),
                    Role::Restricted => accounts.restricted.as_ref(),
                };
                let Some(account) = account else {
                    return failed("the profile has no restricted_credentials".into());
                };
                let arm = || {
                    if let Some(p) = &proxy {
                        p.arm();
                    }
                };
                authenticated_exchange(wire, account, role, request, deadline, compare_with, &arm)
                    .await
            }
            None => {
                wire.exchange(
                    &request.bytes,
                    &request.method,
                    request.half_close,
                    deadline,
                    compare_with,
                )
                .await
            }
        };
        if exchange.response.is_some() && exchange.observed.closed == Some(false) {
            let until = match watch_close {
                WatchClose::No => None,
                WatchClose::Grace => Some((Instant::now() + OPEN_GRACE).min(deadline)),
                WatchClose::UntilDeadline => Some(deadline),
            };
            if let Some(until) = until {
                exchange.observed.closed = Some(wire.watch_close(until).await);
            }
        }
        // A connection the fault proxy cut, half-closed, or left mid-response is spent.
        if proxy.is_some() || request.half_close || exchange.response.is_none() {
            self.wire = None;
        }
        exchange
    }
}

/// `request` on `wire` as `account`: the handshake first, unless the connection is
/// already this account's (then once more if the server challenges anyway).
async fn authenticated_exchange(
    wire: &mut Wire,
    account: &Account,
    role: Role,
    request: &WireRequest,
    deadline: Instant,
    compare_with: Option<UploadFile>,
    arm_fault: &(dyn Fn() + Sync),
) -> Exchange {
    async fn send(
        wire: &mut Wire,
        bytes: &[u8],
        request: &WireRequest,
        deadline: Instant,
        compare_with: Option<UploadFile>,
    ) -> Exchange {
        wire.exchange(
            bytes,
            &request.method,
            request.half_close,
            deadline,
            compare_with,
        )
        .await
    }
    if wire.authenticated == Some(role) {
        arm_fault();
        let exchange = send(wire, &request.bytes, request, deadline, compare_with).await;
        if exchange.response.as_ref().is_none_or(|r| r.status != 401) || !wire.is_usable() {
            return exchange;
        }
        wire.authenticated = None;
    }
    let (mut handshake, negotiate) = match Handshake::start(account) {
        Ok(started) => started,
        Err(e) => return failed(e),
    };
    // Round 1: a Ping carries the Negotiate message, so the challenge costs the
    // request nothing (its body is not sent twice) and no packet is processed twice.
    let probe = ping(request, &negotiate);
    let challenge = wire
        .exchange(&probe, "BITS_POST", false, deadline, None)
        .await;
    let authenticate = match &challenge.response {
        Some(r) if r.status == 401 => match handshake.answer(&www_authenticate(r)) {
            Ok(value) => value,
            Err(e) => return failed(e),
        },
        Some(r) => {
            return failed(format!(
                "the target answered the {} handshake's first message with {} instead of a 401 challenge",
                handshake.scheme().name(),
                r.status_line()
            ));
        }
        None => return challenge,
    };
    // Round 2: the request itself carries the Authenticate message (a raw
    // request's bytes stay as written: a second Ping does, then they follow).
    let mut exchange = if request.raw {
        let done = wire
            .exchange(
                &ping(request, &authenticate),
                "BITS_POST",
                false,
                deadline,
                None,
            )
            .await;
        match &done.response {
            Some(r) if r.status != 401 && wire.is_usable() => {
                wire.authenticated = Some(role);
                arm_fault();
                return send(wire, &request.bytes, request, deadline, compare_with).await;
            }
            _ => return done,
        }
    } else {
        arm_fault();
        send(
            wire,
            &with_authorization(&request.bytes, &authenticate),
            request,
            deadline,
            compare_with,
        )
        .await
    };
    if let Some(response) = &exchange.response
        && response.status != 401
    {
        wire.authenticated = Some(role);
        // Negotiate's last token (SPNEGO's mechListMIC) proves the server knew the
        // password too; a wrong one is a failure of the exchange.
        if let Some(token) = handshake.token_in(&www_authenticate(response))
            && let Err(e) = handshake.finish(token)
        {
            exchange.observed.failure = Some(e);
        }
    }
    exchange
}

/// A Ping to the request's URL with this `Authorization` value.
fn ping(request: &WireRequest, authorization: &str) -> Vec<u8> {
    let headers = [
        ("Host".to_owned(), request.host.clone()),
        (
            "User-Agent".to_owned(),
            concat!("bitspec/", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
        ("Authorization".to_owned(), authorization.to_owned()),
        ("BITS-Packet-Type".to_owned(), "Ping".to_owned()),
        ("Content-Length".to_owned(), "0".to_owned()),
    ];
    request::serialize("BITS_POST", &request.target, &headers, &[])
}

/// `bytes` with an `Authorization` line after the request line.
fn with_authorization(bytes: &[u8], authorization: &str) -> Vec<u8> {
    let at = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(format!("Authorization: {authorization}\r\n").as_bytes());
    out.extend_from_slice(&bytes[at..]);
    out
}

fn www_authenticate(response: &RecordedResponse) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, value)| value.as_str())
        .collect()
}

fn abandoned(stopped: &Stopped) -> String {
    format!(
        "abandoned: the target stopped answering at {}",
        stopped.time()
    )
}

/// How long a connection must stay open after a response to count as kept open.
const OPEN_GRACE: Duration = Duration::from_millis(500);

/// Whether to watch for the server closing the connection after its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchClose {
    No,
    /// Half a second: enough to see an immediate close.
    Grace,
    /// Until the step's timeout: the server must close by then.
    UntilDeadline,
}

fn failed(why: String) -> Exchange {
    let mut e = Exchange::default();
    e.observed.failure = Some(why);
    e
}

/// `bits-received-content-range` -> `BITS-Received-Content-Range`, for readable reports.
pub fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            if part.eq_ignore_ascii_case("bits") {
                "BITS".to_owned()
            } else {
                let mut chars = part.chars();
                match chars.next() {
                    Some(first) => {
                        first.to_ascii_uppercase().to_string()
                            + &chars.as_str().to_ascii_lowercase()
                    }
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::canonical_header_name;

    #[test]
    fn header_names_are_shown_in_the_usual_case() {
        assert_eq!(
            canonical_header_name("bits-received-content-range"),
            "BITS-Received-Content-Range"
        );
        assert_eq!(canonical_header_name("content-length"), "Content-Length");
    }
}
