//! Ack faults: the answer the handler built, edited as the buggy server would send it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;

use super::catalogue::{Fault, Faults};
use super::request::{Seen, active, link_destination};
use crate::ack::{Ack, BG_E_SESSION_NOT_FOUND, Body, E_FAIL};
use crate::config::{ErrorHeader, NotificationType};
use crate::protocol::PacketType;
use crate::shared::Shared;

/// What `protocol-not-offered` answers: the 1.5 GUID with its last digit mistyped.
const MISTYPED_PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4930}";
/// What `session-id-repeats` gives every session.
const REPEATED_ID: &str = "{0DDBA11C-0000-4000-8000-000000000001}";
/// What `host-id-when-unset` sends.
const MACHINE_NAME: &str = "localhost";

/// Applies the faults that change the Ack's status, error or headers.
pub(super) async fn edit_ack(shared: &Shared, faults: &Faults, seen: &Seen, mut ack: Ack) -> Ack {
    let on = |f| faults.on(f);
    let ok = ack.status.is_success();
    let kept_alive = match seen.kind {
        Some(PacketType::CloseSession) => on(Fault::CloseKeepsSession),
        Some(PacketType::CancelSession) => on(Fault::CancelKeepsSession),
        _ => false,
    };
    if kept_alive && ok && shared.config.echo_session_id && session_id(&ack).is_none() {
        // Answered as a Ping (`request.rs`): the Ack is the one Close or Cancel gives.
        if let Some(id) = &seen.session {
            ack = ack.with("BITS-Session-Id", id.clone());
        }
    }
    if ack.code() == Some(BG_E_SESSION_NOT_FOUND) {
        let ends = matches!(
            seen.kind,
            Some(PacketType::CloseSession | PacketType::CancelSession)
        );
        if ends && on(Fault::UnknownSessionOk) {
            ack = Ack::ok();
        }
        if on(Fault::SessionNotFound404) {
            ack.status = StatusCode::NOT_FOUND;
        }
        if on(Fault::SessionNotFoundWrongCode) {
            ack.error = ack.error.map(|(_, context)| (E_FAIL, context));
        }
    }
    match seen.kind {
        Some(PacketType::CreateSession) if ok => ack = created(shared, faults, seen, ack).await,
        Some(PacketType::Fragment) => {
            if ok && on(Fault::ReceivedRangeMissing) {
                remove(&mut ack, "BITS-Received-Content-Range");
            }
            if ack.status == StatusCode::RANGE_NOT_SATISFIABLE && on(Fault::GapNoOffset) {
                remove(&mut ack, "BITS-Received-Content-Range");
            }
            let last = seen.range.is_some_and(|r| r.last + 1 == r.total);
            if ok
                && last
                && on(Fault::ReplyUrlOnSimpleUpload)
                && shared.config.notification_type == NotificationType::None
            {
                ack = ack.with("BITS-Reply-URL", seen.path.clone());
            }
            let reply = shared.config.notification_type != NotificationType::None;
            if ok && reply && last && on(Fault::ReplyUrlMissing) {
                remove(&mut ack, "BITS-Reply-URL");
            }
            if ok && reply && !last && on(Fault::ReplyUrlEarly) {
                // The URL the reply will have: the upload's own, as some servers send.
                ack = ack.with("BITS-Reply-URL", seen.path.clone());
            }
        }
        _ => {}
    }
    for (name, value) in &mut ack.headers {
        if *name == "BITS-Received-Content-Range"
            && on(Fault::ReceivedRangeOffByOne)
            && let Some(n) = value.parse::<u64>().ok().filter(|n| *n > 0)
        {
            *value = (n - 1).to_string();
        }
        if *name == "BITS-Session-Id"
            && seen.kind.is_some_and(PacketType::needs_session)
            && on(Fault::SessionIdEchoUnbraced)
        {
            *value = value.trim_matches(['{', '}']).to_string();
        }
    }
    ack
}

/// Faults of a successful Create-Session Ack.
async fn created(shared: &Shared, faults: &Faults, seen: &Seen, mut ack: Ack) -> Ack {
    let on = |f| faults.on(f);
    if on(Fault::SessionIdRepeats) {
        ack = repeat_id(shared, ack).await;
    }
    if on(Fault::DestinationWrittenDirectly) {
        write_directly(shared, &ack).await;
    }
    for (name, value) in &mut ack.headers {
        if *name == "BITS-Protocol" && on(Fault::ProtocolNotOffered) {
            *value = MISTYPED_PROTOCOL.to_string();
        }
        if *name == "BITS-Protocol" && on(Fault::ProtocolFirstOffered) {
            let first = seen.protocols.as_deref().and_then(|list| {
                list.split(|c: char| c == ',' || c.is_ascii_whitespace())
                    .find(|g| !g.is_empty())
            });
            if let Some(first) = first {
                *value = first.to_string();
            }
        }
        if *name == "BITS-Session-Id" && on(Fault::SessionIdHeaderTypo) {
            *name = "BITS-SessionId";
        }
    }
    if on(Fault::AcceptEncodingMissing) {
        remove(&mut ack, "Accept-Encoding");
    }
    if on(Fault::HostIdMissing) {
        remove(&mut ack, "BITS-Host-Id");
        remove(&mut ack, "BITS-Host-Id-Fallback-Timeout");
    }
    if on(Fault::HostIdWhenUnset) && shared.config.host_id.is_none() {
        ack = ack.with("BITS-Host-Id", MACHINE_NAME);
    }
    ack
}

fn session_id(ack: &Ack) -> Option<String> {
    ack.headers
        .iter()
        .find(|(name, _)| *name == "BITS-Session-Id")
        .map(|(_, value)| value.clone())
}

fn remove(ack: &mut Ack, header: &str) {
    ack.headers.retain(|(name, _)| *name != header);
}

/// `session-id-repeats`: the new session takes the one id, replacing whichever
/// session had it.
async fn repeat_id(shared: &Shared, mut ack: Ack) -> Ack {
    let Some(real) = session_id(&ack) else {
        return ack;
    };
    let Ok(Some(mut record)) = shared.sessions.load(&real).await else {
        return ack;
    };
    let _guard = shared.sessions.lock(REPEATED_ID).await;
    let (Some(from), Some(to)) = (
        shared
            .sessions
            .data_path(&real)
            .parent()
            .map(ToOwned::to_owned),
        shared
            .sessions
            .data_path(REPEATED_ID)
            .parent()
            .map(ToOwned::to_owned),
    ) else {
        return ack;
    };
    let _ = shared.sessions.remove(REPEATED_ID).await;
    shared.sessions.forget_entity(&real);
    if tokio::fs::rename(&from, &to).await.is_err() {
        return ack;
    }
    record.id = REPEATED_ID.to_string();
    if shared.sessions.save(&record).await.is_err() {
        return ack;
    }
    for (name, value) in &mut ack.headers {
        if *name == "BITS-Session-Id" {
            *value = REPEATED_ID.to_string();
        }
    }
    ack
}

/// `destination-written-directly`: the destination is a second name of the session's
/// entity, so every byte appended shows there at once.
async fn write_directly(shared: &Shared, ack: &Ack) {
    let Some(id) = session_id(ack) else { return };
    if let Some((record, _)) = active(shared, &id).await {
        link_destination(shared, &record).await;
    }
}

/// Applies the faults of the Ack's wire form: header spelling, body, framing.
pub(super) fn edit_response(
    shared: &Shared,
    faults: &Faults,
    seen: &Seen,
    mut response: Response<Body>,
) -> Response<Body> {
    let on = |f| faults.on(f);
    let status = response.status();
    let headers = response.headers_mut();
    if on(Fault::AckNoPacketType) {
        headers.remove("BITS-Packet-Type");
    }
    if on(Fault::AckPacketTypeEcho)
        && let Some(value) = seen.packet.as_deref().and_then(|p| p.parse().ok())
    {
        headers.insert("BITS-Packet-Type", value);
    }
    for name in ["BITS-Error-Code", "BITS-Error"] {
        if on(Fault::ErrorCodeMissing) {
            headers.remove(name);
        }
        if on(Fault::ErrorCodeDecimal) {
            decimal(headers, name);
        }
    }
    if on(Fault::ErrorContextMissing) {
        headers.remove("BITS-Error-Context");
    }
    if on(Fault::ErrorContextApplication) && headers.contains_key("BITS-Error-Context") {
        headers.insert("BITS-Error-Context", HeaderValue::from_static("0x7"));
    }
    if on(Fault::ErrorOnSuccess) && status.is_success() {
        let name = match shared.config.error_header {
            ErrorHeader::BitsError => "BITS-Error",
            _ => "BITS-Error-Code",
        };
        headers.insert(name, HeaderValue::from_static("0x00000000"));
        headers.insert("BITS-Error-Context", HeaderValue::from_static("0x0"));
    }
    let page = (on(Fault::ErrorPageBody) && status.as_u16() >= 400)
        .then(|| Bytes::from(format!("<html><body><h1>{status}</h1></body></html>\r\n")));
    if on(Fault::AckChunked) {
        headers.remove(http::header::CONTENT_LENGTH);
        *response.body_mut() = Unsized(page).boxed();
    } else if let Some(page) = page {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(page.len()));
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/html"),
        );
        *response.body_mut() = Full::new(page).map_err(|never| match never {}).boxed();
    }
    response
}

/// Rewrites a hexadecimal HRESULT header in decimal.
fn decimal(headers: &mut HeaderMap, name: &'static str) {
    let code = headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok());
    if let Some(code) = code {
        headers.insert(name, HeaderValue::from(code));
    }
}

/// A body of unknown length, so hyper frames it with chunked transfer coding.
struct Unsized(Option<Bytes>);

impl hyper::body::Body for Unsized {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }
}
