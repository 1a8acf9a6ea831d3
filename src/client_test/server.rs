//! The scripted BITS server of `bitspec client-test`: a plain correct upload server
//! in memory (one file per session, 416 on a gap, Close keeps the bytes) that answers
//! the requests a scenario's `script` names its own way, and logs every request.

use super::model::{Answer, Packet, Script};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as the server saw it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seen {
    pub connection: u64,
    /// `None` for a request that is no BITS packet.
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

#[derive(Default)]
struct State {
    script: Vec<Script>,
    counts: HashMap<&'static str, u32>,
    log: Vec<Seen>,
    sessions: HashMap<String, Vec<u8>>,
    closed: Option<Vec<u8>>,
    next_session: u32,
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
    pub async fn start(script: Vec<Script>) -> Result<ScriptedServer, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("scripted server: cannot listen: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("scripted server: {e}"))?
            .to_string();
        let state = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
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
                            let response = answer(&state, connection, request).await;
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

async fn answer(
    state: &Mutex<State>,
    connection: u64,
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
    let packet = text("BITS-Packet-Type").and_then(|t| Packet::parse(&t));
    let session = text("BITS-Session-Id");
    let range = text("Content-Range").and_then(|r| content_range(&r));
    let mut state = state.lock().map_err(|_| "poisoned".to_owned())?;
    state.log.push(Seen {
        connection,
        packet: packet.map(Packet::name),
        session: session.clone(),
        range,
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
    });
    let Some(packet) = packet else {
        return Ok(ack(400, &[("BITS-Error-Code", "0x80070057".into())]));
    };
    let count = {
        let n = state.counts.entry(packet.name()).or_insert(0);
        *n += 1;
        *n
    };
    let scripted: Option<Answer> = state
        .script
        .iter()
        .find(|s| s.on.packet == packet && s.on.nth == count)
        .map(|s| s.answer.clone());
    if let Some(scripted) = scripted {
        if scripted.drop {
            return Err("scripted drop".into());
        }
        let mut headers = vec![("BITS-Error-Context", "0x5".to_owned())];
        headers.retain(|_| scripted.error.is_some());
        if let Some(error) = &scripted.error {
            headers.push(("BITS-Error-Code", error.clone()));
        }
        if let Some(received) = scripted.received {
            headers.push(("BITS-Received-Content-Range", received.to_string()));
        }
        if let Some(id) = &session {
            headers.push(("BITS-Session-Id", id.clone()));
        }
        if packet == Packet::CreateSession && scripted.status.unwrap_or(200) == 200 {
            state.next_session += 1;
            let id = format!("{{00000000-0000-0000-0000-{:012}}}", state.next_session);
            state.sessions.insert(id.clone(), Vec::new());
            headers.push(("BITS-Session-Id", id));
            headers.push(("BITS-Protocol", crate::run::BITS_15_UPLOAD_PROTOCOL.into()));
            if let Some(host) = &scripted.host_id {
                headers.push(("BITS-Host-Id", host.clone()));
            }
        }
        return Ok(ack(scripted.status.unwrap_or(200), &headers));
    }
    let not_found = || {
        ack(
            500,
            &[
                ("BITS-Error-Code", "0x8020001F".into()),
                ("BITS-Error-Context", "0x5".into()),
            ],
        )
    };
    Ok(match packet {
        Packet::CreateSession => {
            state.next_session += 1;
            let id = format!("{{00000000-0000-0000-0000-{:012}}}", state.next_session);
            state.sessions.insert(id.clone(), Vec::new());
            ack(
                200,
                &[
                    ("BITS-Session-Id", id),
                    ("BITS-Protocol", crate::run::BITS_15_UPLOAD_PROTOCOL.into()),
                ],
            )
        }
        Packet::Ping => ack(200, &[]),
        Packet::Fragment => {
            let id = session.unwrap_or_default();
            let Some(data) = state.sessions.get_mut(&id) else {
                return Ok(not_found());
            };
            let expected = data.len() as u64;
            match range {
                Some((first, last, _))
                    if first == expected && last + 1 - first == body.len() as u64 =>
                {
                    data.extend_from_slice(&body);
                    let received = data.len().to_string();
                    ack(
                        200,
                        &[
                            ("BITS-Session-Id", id),
                            ("BITS-Received-Content-Range", received),
                        ],
                    )
                }
                Some(_) => ack(
                    416,
                    &[
                        ("BITS-Session-Id", id),
                        ("BITS-Received-Content-Range", expected.to_string()),
                    ],
                ),
                None => ack(400, &[("BITS-Error-Code", "0x80070057".into())]),
            }
        }
        Packet::CloseSession => {
            let id = session.unwrap_or_default();
            match state.sessions.remove(&id) {
                Some(data) => {
                    state.closed = Some(data);
                    ack(200, &[("BITS-Session-Id", id)])
                }
                None => not_found(),
            }
        }
        Packet::CancelSession => {
            let id = session.unwrap_or_default();
            match state.sessions.remove(&id) {
                Some(_) => ack(200, &[("BITS-Session-Id", id)]),
                None => not_found(),
            }
        }
    })
}
