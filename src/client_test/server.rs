//! The scripted BITS server of `bitspec client-test`: a plain correct upload server
//! in memory (one file per session, 416 on a gap, Close keeps the bytes) that answers
//! the requests a scenario's `script` names its own way, and logs every request.

use super::model::{Answer, Packet, Script, Trigger};
use base64::Engine;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the server saw it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seen {
    pub connection: u64,
    /// Milliseconds from the server's start to the request's arrival.
    pub at_ms: u64,
    /// Whether it carried an Authorization header.
    pub authorization: bool,
    /// Its `BITS-Supported-Protocols` (a Create-Session).
    pub protocols: Option<String>,
    /// The session id the answer issued (a Create-Session Ack).
    pub issued: Option<String>,
    /// The answer's status; `None` when no Ack was sent (the connection was dropped).
    pub status: Option<u16>,
    /// The answer's `BITS-Received-Content-Range`.
    pub acked: Option<u64>,
    /// The body (a Fragment's bytes), kept for the judge only.
    #[serde(skip)]
    pub body: Bytes,
    /// `None` for a request that is no BITS packet (`get` for a GET).
    pub packet: Option<&'static str>,
    pub session: Option<String>,
    /// Content-Range as (first, last, total).
    pub range: Option<(u64, u64, u64)>,
    pub body_len: u64,
    pub host: String,
    /// `METHOD /path`, for the reports.
    pub request_line: String,
    /// Every request header as received, for the reports.
    pub headers: Vec<(String, String)>,
    /// The status and headers answered (`None`: no answer, the connection was dropped).
    pub answered: Option<(u16, Vec<(String, String)>)>,
}

impl Seen {
    /// The host name of its Host header, without the port.
    pub fn host_name(&self) -> &str {
        self.host
            .rsplit_once(':')
            .map_or(self.host.as_str(), |(h, _)| h)
    }
}

/// Whether `seen` is a request `trigger` counts (its type, host and finality).
pub fn matches(trigger: &Trigger, seen: &Seen) -> bool {
    trigger.packet.is_none_or(|p| seen.packet == Some(p.name()))
        && trigger
            .host
            .as_ref()
            .is_none_or(|h| seen.host_name().eq_ignore_ascii_case(h))
        && (!trigger.final_fragment
            || (seen.packet == Some("fragment")
                && seen
                    .range
                    .is_some_and(|(_, last, total)| last.checked_add(1) == Some(total))))
}

/// The server's standing rules, beyond the per-request script.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub script: Vec<Script>,
    /// 413 to any Fragment body larger than this.
    pub max_fragment: Option<u64>,
    /// `Basic` credentials (`USER:PASSWORD`) every request must carry.
    pub credentials: Option<String>,
    /// Serve a reply on GET (upload-reply).
    pub upload_reply: bool,
}

#[derive(Default)]
struct State {
    rules: Rules,
    /// Per script entry: how many requests matched its trigger so far.
    matched: Vec<u32>,
    log: Vec<Seen>,
    sessions: HashMap<String, Vec<u8>>,
    closed: Option<Vec<u8>>,
    next_session: u32,
    /// The client's process group, for `interrupt`.
    client: Option<u32>,
}

/// A running scripted server; dropping it stops it.
pub struct ScriptedServer {
    pub address: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    pub async fn start(rules: Rules) -> Result<ScriptedServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("scripted server: cannot listen: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("scripted server: {e}"))?
            .to_string();
        let state = Arc::new(Mutex::new(State {
            matched: vec![0; rules.script.len()],
            rules,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            for connection in 0u64.. {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move {
                            let response = answer(&state, connection, started, request).await;
                            record_answer(&state, connection, response.as_ref().ok());
                            response
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(ScriptedServer {
            address,
            state,
            task,
        })
    }

    /// The client's process (group) id, for answers that interrupt it.
    pub fn set_client(&self, id: u32) {
        if let Ok(mut state) = self.state.lock() {
            state.client = Some(id);
        }
    }

    /// The requests so far, in order.
    pub fn log(&self) -> Vec<Seen> {
        self.state.lock().map(|s| s.log.clone()).unwrap_or_default()
    }

    /// The bytes of the last closed session.
    pub fn closed(&self) -> Option<Vec<u8>> {
        self.state.lock().ok().and_then(|s| s.closed.clone())
    }
}

/// Notes the answer on the connection's last request (HTTP/1.1 answers in order).
fn record_answer(state: &Mutex<State>, connection: u64, response: Option<&Response<Full<Bytes>>>) {
    let (Ok(mut state), Some(response)) = (state.lock(), response) else {
        return;
    };
    if let Some(seen) = state
        .log
        .iter_mut()
        .rev()
        .find(|s| s.connection == connection)
    {
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        seen.answered = Some((response.status().as_u16(), headers));
    }
}

fn content_range(value: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some((
        first.trim().parse().ok()?,
        last.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// An Ack with `status` and extra headers.
fn ack(status: u16, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut response = Response::builder()
        .status(status)
        .header("BITS-Packet-Type", "Ack")
        .header("Content-Length", "0");
    for (name, value) in headers {
        response = response.header(*name, value.as_str());
    }
    response
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The body served for an upload-reply's reply.
pub const REPLY_BODY: &[u8] = b"bitspec client-test reply\n";

/// What the server decided for one request.
struct Decision {
    status: u16,
    headers: Vec<(&'static str, String)>,
    /// No Ack: close the connection (after processing, for a lost Ack).
    drop: bool,
    delay: Duration,
    body: Bytes,
    /// SIGINT to this process group before answering.
    interrupt: Option<u32>,
}

impl Decision {
    fn ack(status: u16, headers: Vec<(&'static str, String)>) -> Self {
        Decision {
            status,
            headers,
            drop: false,
            delay: Duration::ZERO,
            body: Bytes::new(),
            interrupt: None,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &'static str, value: String) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value));
    }
}

async fn answer(
    state: &Mutex<State>,
    connection: u64,
    started: Instant,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, String> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let text = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    let packet = if parts.method == http::Method::GET {
        Some(Packet::Get)
    } else {
        text("BITS-Packet-Type").and_then(|t| Packet::parse(&t))
    };
    let seen = Seen {
        connection,
        at_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        authorization: parts.headers.contains_key(http::header::AUTHORIZATION),
        protocols: text("BITS-Supported-Protocols"),
        issued: None,
        status: None,
        acked: None,
        body: body.clone(),
        packet: packet.map(Packet::name),
        session: text("BITS-Session-Id"),
        range: text("Content-Range").and_then(|r| content_range(&r)),
        body_len: body.len() as u64,
        host: text("Host").unwrap_or_default(),
        request_line: format!("{} {}", parts.method, parts.uri),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        answered: None,
    };
    let decision = {
        let mut state = state.lock().map_err(|_| "poisoned".to_owned())?;
        let decision = decide(&mut state, packet, &seen, text("Authorization"));
        let mut seen = seen;
        if !decision.drop {
            seen.status = Some(decision.status);
            seen.acked = decision
                .header("BITS-Received-Content-Range")
                .and_then(|v| v.parse().ok());
        }
        if packet == Some(Packet::CreateSession) && decision.status == 200 {
            seen.issued = decision.header("BITS-Session-Id").map(str::to_owned);
        }
        state.log.push(seen);
        decision
    };
    if let Some(group) = decision.interrupt {
        tokio::task::spawn_blocking(move || super::process::signal_group(group, "INT"))
            .await
            .map_err(|e| e.to_string())?;
    }
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if decision.drop {
        return Err("scripted drop".into());
    }
    let mut response = ack(decision.status, &decision.headers);
    if !decision.body.is_empty() {
        response.headers_mut().remove("BITS-Packet-Type");
        response.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(decision.body.len()),
        );
        *response.body_mut() = Full::new(decision.body);
    }
    Ok(response)
}

/// The scripted answer for this request, if any: counts it for every trigger it matches.
fn scripted(state: &mut State, seen: &Seen) -> Option<Answer> {
    let mut chosen = None;
    for (i, script) in state.rules.script.iter().enumerate() {
        if !matches(&script.on, seen) {
            continue;
        }
        state.matched[i] += 1;
        let count = state.matched[i];
        if chosen.is_none() && count >= script.on.nth && count - script.on.nth < script.times {
            chosen = Some(script.answer.clone());
        }
    }
    chosen
}

fn decide(
    state: &mut State,
    packet: Option<Packet>,
    seen: &Seen,
    authorization: Option<String>,
) -> Decision {
    let Some(packet) = packet else {
        return Decision::ack(400, vec![("BITS-Error-Code", "0x80070057".into())]);
    };
    let script = scripted(state, seen);
    let challenge = || {
        Decision::ack(
            401,
            vec![("WWW-Authenticate", "Basic realm=\"bitspec\"".to_owned())],
        )
    };
    if let Some(answer) = script.as_ref().filter(|a| a.replaces_processing()) {
        let mut decision = if answer.drop {
            Decision {
                drop: true,
                ..Decision::ack(200, Vec::new())
            }
        } else if packet == Packet::CreateSession && answer.status.unwrap_or(200) == 200 {
            process(state, packet, seen)
        } else if answer.status == Some(401) {
            challenge()
        } else {
            let mut headers = Vec::new();
            if let Some(error) = &answer.error {
                headers.push(("BITS-Error-Code", error.clone()));
                headers.push(("BITS-Error-Context", "0x5".to_owned()));
            }
            if let Some(received) = answer.received {
                headers.push(("BITS-Received-Content-Range", received.to_string()));
            }
            if let Some(id) = &seen.session {
                headers.push(("BITS-Session-Id", id.clone()));
            }
            Decision::ack(answer.status.unwrap_or(200), headers)
        };
        decorate(&mut decision, answer);
        decision.interrupt = state.client.filter(|_| answer.interrupt);
        return decision;
    }
    if let Some(credentials) = &state.rules.credentials {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        if authorization.as_deref() != Some(expected.as_str()) {
            return challenge();
        }
    }
    let client = state.client;
    let mut decision = match state.rules.max_fragment {
        Some(max) if packet == Packet::Fragment && seen.body_len > max => {
            Decision::ack(413, Vec::new())
        }
        _ => process(state, packet, seen),
    };
    if let Some(answer) = &script {
        decorate(&mut decision, answer);
        decision.interrupt = client.filter(|_| answer.interrupt);
    }
    decision
}

/// Adds what a decorating answer asks for to a processed request's answer.
fn decorate(decision: &mut Decision, answer: &Answer) {
    if let Some(host) = &answer.host_id {
        decision.set("BITS-Host-Id", host.clone());
    }
    if let Some(secs) = answer.fallback_timeout {
        decision.set("BITS-Host-Id-Fallback-Timeout", secs.to_string());
    }
    if let Some(protocol) = &answer.protocol {
        decision.set("BITS-Protocol", protocol.clone());
    }
    if let Some(url) = &answer.reply_url {
        decision.set("BITS-Reply-URL", url.clone());
    }
    decision.drop |= answer.lost_ack;
    decision.delay = Duration::from_millis(answer.delay_ms);
}

/// What a plain correct upload server answers (one file per session, 416 on a gap,
/// Close keeps the bytes).
fn process(state: &mut State, packet: Packet, seen: &Seen) -> Decision {
    let not_found = || {
        Decision::ack(
            500,
            vec![
                ("BITS-Error-Code", "0x8020001F".into()),
                ("BITS-Error-Context", "0x5".into()),
            ],
        )
    };
    let id = seen.session.clone().unwrap_or_default();
    match packet {
        Packet::CreateSession => {
            state.next_session += 1;
            let id = format!("{{00000000-0000-0000-0000-{:012}}}", state.next_session);
            state.sessions.insert(id.clone(), Vec::new());
            Decision::ack(
                200,
                vec![
                    ("BITS-Session-Id", id),
                    ("BITS-Protocol", crate::run::BITS_15_UPLOAD_PROTOCOL.into()),
                ],
            )
        }
        Packet::Ping => Decision::ack(200, Vec::new()),
        Packet::Get if state.rules.upload_reply => Decision {
            body: Bytes::from_static(REPLY_BODY),
            ..Decision::ack(200, Vec::new())
        },
        Packet::Get => Decision::ack(404, Vec::new()),
        Packet::Fragment => {
            let Some(data) = state.sessions.get_mut(&id) else {
                return not_found();
            };
            let expected = data.len() as u64;
            match seen.range {
                Some((first, last, _))
                    if first == expected
                        && last.checked_add(1).and_then(|end| end.checked_sub(first))
                            == Some(seen.body_len) =>
                {
                    data.extend_from_slice(&seen.body);
                    let received = data.len().to_string();
                    Decision::ack(
                        200,
                        vec![
                            ("BITS-Session-Id", id),
                            ("BITS-Received-Content-Range", received),
                        ],
                    )
                }
                Some(_) => Decision::ack(
                    416,
                    vec![
                        ("BITS-Session-Id", id),
                        ("BITS-Received-Content-Range", expected.to_string()),
                    ],
                ),
                None => Decision::ack(400, vec![("BITS-Error-Code", "0x80070057".into())]),
            }
        }
        Packet::CloseSession => match state.sessions.remove(&id) {
            Some(data) => {
                state.closed = Some(data);
                Decision::ack(200, vec![("BITS-Session-Id", id)])
            }
            None => not_found(),
        },
        Packet::CancelSession => match state.sessions.remove(&id) {
            Some(_) => Decision::ack(200, vec![("BITS-Session-Id", id)]),
            None => not_found(),
        },
    }
}
