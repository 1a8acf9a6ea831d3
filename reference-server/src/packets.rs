//! The BITS_POST state machine: validation order, then one handler per packet.
//!
//! Validation follows MC-BUP §3.2.5.2.3: syntax (400), authorisation (401/403),
//! Content-Length (400 or 411), session lookup (500 BG_E_SESSION_NOT_FOUND),
//! the session's owner and destination (403, or 500 for another URL), then
//! the packet itself. Fragment rules are those of summary §4.2.

use std::net::SocketAddr;

use http::{HeaderMap, StatusCode, request::Parts};
use hyper::body::Incoming;

use crate::ack::{Ack, BG_E_TOO_LARGE, CONTEXT_SERVER, E_ACCESSDENIED};
use crate::auth::{self, Principal};
use crate::config::{CommitPoint, NotificationType, OverlapPolicy};
use crate::paths::UrlPath;
use crate::protocol::{self, ContentRange, PacketType};
use crate::quotas;
use crate::session::{self, Record, State};
use crate::shared::Shared;
use crate::storage::{self, BodyError, PublishError};

/// What the dispatcher logs about a packet.
#[derive(Debug, Default)]
pub struct Outcome {
    pub packet: Option<PacketType>,
    pub session: Option<String>,
}

/// Handles one BITS_POST request from `peer`.
pub async fn handle(
    shared: &Shared,
    parts: Parts,
    body: Incoming,
    peer: SocketAddr,
    log: &mut Outcome,
) -> Ack {
    let config = &shared.config;
    let headers = &parts.headers;
    // 1. Syntax.
    if parts.version != http::Version::HTTP_11 {
        return Ack::invalid();
    }
    if headers.values().any(|v| v.len() > config.max_header_value) {
        return Ack::invalid();
    }
    // One packet type: a repeated header is not a list field (RFC 2616 4.2, MC-BUP 2.2.1).
    if headers.get_all("BITS-Packet-Type").iter().count() > 1 {
        return Ack::invalid();
    }
    // Nor is a session id or a range: which of two would the client mean?
    // Refused, not the first taken (RFC 7230 §3.2.2: no repeated field that
    // is not a list; MC-BUP §3.2.5.2.3: 400 E_INVALIDARG).
    if ["BITS-Session-Id", "Content-Range"]
        .iter()
        .any(|name| headers.get_all(*name).iter().count() > 1)
    {
        return Ack::invalid();
    }
    let Some(kind) = header(headers, "BITS-Packet-Type").and_then(PacketType::parse) else {
        return Ack::invalid();
    };
    log.packet = Some(kind);
    if !shared.uploads_enabled(parts.uri.path()) {
        // BITSUploadEnabled off for this URL: 501 E_ACCESSDENIED (MC-BUP <22>).
        return Ack::error(StatusCode::NOT_IMPLEMENTED, E_ACCESSDENIED, CONTEXT_SERVER);
    }
    let raw_id = header(headers, "BITS-Session-Id");
    if kind.needs_session() && raw_id.is_none() {
        return Ack::invalid();
    }
    // 2. Authorisation, Ping included (MC-BUP §2.2.4). A packet of a session
    // is checked again against the session's destination once it is found.
    let user = match shared.auth.authenticate(&parts) {
        Ok(user) => user,
        Err(ack) => return ack,
    };
    if let Err(ack) = auth::authorise(user.as_ref(), parts.uri.path()) {
        return ack;
    }
    // 3. Content-Length must be present; only a Fragment may have a body.
    let Some(length) = header(headers, "Content-Length").and_then(protocol::content_length) else {
        let status = StatusCode::from_u16(config.missing_content_length_status)
            .unwrap_or(StatusCode::BAD_REQUEST);
        return Ack::error(status, crate::ack::E_INVALIDARG, CONTEXT_SERVER);
    };
    if kind != PacketType::Fragment && length != 0 {
        return Ack::invalid();
    }
    match kind {
        PacketType::Ping => Ack::ok(),
        // Boxed, like the other rare or large branches: the future of a request
        // waiting for a body permit is held by every such connection.
        PacketType::CreateSession => Box::pin(create(shared, &parts, user, peer, log)).await,
        _ => {
            // 4. The session must be active (tombstones answer Close and Cancel).
            let Some(id) = raw_id.and_then(session::normalise_id) else {
                return Ack::session_not_found();
            };
            let _guard = shared.sessions.lock(&id).await;
            let record = match shared.sessions.load(&id).await {
                Ok(Some(record)) => record,
                Ok(None) => return Ack::session_not_found(),
                Err(e) => return Ack::from_io(&e),
            };
            if record.state == State::Active
                && shared
                    .sessions
                    .is_expired(&record, shared.session_timeout())
                    .await
            {
                let _ = shared.sessions.remove(&id).await;
                return Ack::session_not_found();
            }
            log.session = Some(id);
            if let Err(ack) = belongs(shared, &record, user.as_ref(), parts.uri.path()) {
                return ack;
            }
            let echo = raw_id
                .filter(|_| config.echo_session_id)
                .map(str::to_string);
            let ack = match kind {
                PacketType::Fragment => fragment(shared, &parts, body, record, length).await,
                PacketType::CloseSession => Box::pin(close(shared, record)).await,
                _ => Box::pin(cancel(shared, record)).await,
            };
            match echo {
                Some(id)
                    if ack.status != StatusCode::INTERNAL_SERVER_ERROR
                        || ack.code() != Some(crate::ack::BG_E_SESSION_NOT_FOUND) =>
                {
                    ack.with("BITS-Session-Id", id)
                }
                _ => ack,
            }
        }
    }
}

/// A session belongs to the account that created it and to its destination
/// URL: MC-BUP §3.2.5.2.3 checks access "to the location provided through
/// the destination URL", the session's, so a user who may not upload there,
/// or who is not the session's owner, gets 403 E_ACCESSDENIED; a packet sent
/// to another URL names no session of that URL (a session is created "for
/// the destination URL", MC-BUP §1.3), 500 BG_E_SESSION_NOT_FOUND. Without
/// authentication the URL binding is all there is.
fn belongs(
    shared: &Shared,
    record: &Record,
    user: Option<&Principal>,
    path: &str,
) -> Result<(), Ack> {
    let destination = format!("/{}", record.destination);
    auth::authorise(user, &destination)?;
    if shared.auth.enabled() && record.user.as_deref() != user.map(|u| u.name.as_str()) {
        return Err(forbidden());
    }
    match UrlPath::parse(path) {
        Ok(sent) if sent.relative() == record.destination => Ok(()),
        _ => Err(Ack::session_not_found()),
    }
}

/// Create-Session: negotiate, check the destination, record the session.
async fn create(
    shared: &Shared,
    parts: &Parts,
    user: Option<Principal>,
    peer: SocketAddr,
    log: &mut Outcome,
) -> Ack {
    let config = &shared.config;
    let Some(protocol) =
        header(&parts.headers, "BITS-Supported-Protocols").and_then(protocol::negotiate)
    else {
        return Ack::invalid();
    };
    let path = match UrlPath::parse(parts.uri.path()) {
        Ok(path) if path.is_reserved() => return forbidden(),
        Ok(path) => path,
        Err(_) => return Ack::invalid(),
    };
    let existing = match path.check_links(&shared.root_dir).await {
        Ok(existing) => existing,
        Err(_) => return Ack::invalid(),
    };
    match existing {
        Some(meta) if meta.is_dir() => return Ack::invalid(),
        Some(_)
            if !config.allow_overwrites && config.notification_type == NotificationType::None =>
        {
            return shared.existing_destination();
        }
        _ => {}
    }
    if !config.create_directories && !path.parent_exists(&shared.root_dir) {
        return Ack::error(StatusCode::NOT_FOUND, 0x8007_0003, CONTEXT_SERVER);
    }
    let id = session::new_id();
    let user = user.map(|u| u.name);
    let client = quotas::client_address(peer.ip());
    let owner = quotas::owner(user.as_deref(), &client);
    if let Err(refusal) = shared
        .sessions
        .ledger
        .admit(config, &id, owner, client.clone())
    {
        tracing::info!(%peer, reason = %refusal, "Create-Session refused");
        return quotas::busy(quotas::SESSION_RETRY_AFTER);
    }
    let record = Record {
        id: id.clone(),
        destination: path.relative(),
        url: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        ),
        user,
        client: Some(client),
        total: None,
        state: State::Active,
        published: false,
        reply: None,
        updated: session::now(),
    };
    if let Err(e) = shared.sessions.create(&record).await {
        shared.sessions.ledger.forget(&id);
        return Ack::from_io(&e);
    }
    log.session = Some(id.clone());
    let mut ack = Ack::ok()
        .with("BITS-Protocol", protocol)
        .with("BITS-Session-Id", id)
        .with("Accept-Encoding", "identity");
    if let Some(host) = &config.host_id {
        ack = ack.with("BITS-Host-Id", host.clone());
        if config.host_id_fallback_timeout != 0 {
            ack = ack.with(
                "BITS-Host-Id-Fallback-Timeout",
                config.host_id_fallback_timeout.to_string(),
            );
        }
    }
    ack
}

/// Fragment: the rules of summary §4.2.
async fn fragment(
    shared: &Shared,
    parts: &Parts,
    body: Incoming,
    mut record: Record,
    length: u64,
) -> Ack {
    let config = &shared.config;
    let idle = shared.body_idle();
    let deadline = tokio::time::Instant::now() + shared.body_time(length);
    if record.state != State::Active {
        return reject(body, idle, Ack::session_not_found()).await;
    }
    let Some(range) = header(&parts.headers, "Content-Range").and_then(ContentRange::parse) else {
        return reject(body, idle, Ack::invalid()).await;
    };
    let encoding = header(&parts.headers, "Content-Encoding");
    if range.len() != length || encoding.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"))
    {
        return reject(body, idle, Ack::invalid()).await;
    }
    if range.total > config.max_upload_size {
        let ack = Ack::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            BG_E_TOO_LARGE,
            CONTEXT_SERVER,
        );
        return reject(body, idle, ack).await;
    }
    if record.total.is_some_and(|total| total != range.total) {
        return reject(body, idle, Ack::invalid()).await;
    }
    if length > config.max_fragment_size {
        // No HRESULT: the client reads BG_E_TOO_LARGE as fatal, 413 as "shrink".
        return reject(body, idle, Ack::status(StatusCode::PAYLOAD_TOO_LARGE)).await;
    }
    let expected = match shared.sessions.received(&record).await {
        Ok(expected) => expected,
        Err(e) => return reject(body, idle, Ack::from_io(&e)).await,
    };
    let out_of_sync = Ack::status(StatusCode::RANGE_NOT_SATISFIABLE)
        .with("BITS-Received-Content-Range", expected.to_string());
    if range.first > expected {
        return reject(body, idle, out_of_sync).await;
    }
    if range.first < expected && config.overlap == OverlapPolicy::Reject {
        return reject(body, idle, out_of_sync).await;
    }
    if range.last < expected {
        // Entirely old data: nothing to write. A replayed final fragment gets the same Ack.
        let drained = tokio::time::timeout_at(deadline, storage::drain(body, 1 << 20, idle));
        if drained.await.is_err() {
            return too_slow();
        }
        return if expected == range.total {
            Box::pin(complete(shared, &mut record, parts)).await
        } else {
            received(expected)
        };
    }
    if record.total.is_none() {
        record.total = Some(range.total);
        record.updated = session::now();
        if let Err(e) = shared.sessions.save(&record).await {
            return reject(body, idle, Ack::from_io(&e)).await;
        }
    }
    let skip = expected - range.first;
    let Some(_room) = shared
        .sessions
        .ledger
        .reserve(config.max_temporary_storage, length - skip)
    else {
        return reject(body, idle, quotas::storage_full()).await;
    };
    let (file, start) = match shared.sessions.entity(&record.id) {
        Ok(entity) => entity,
        Err(e) => return reject(body, idle, Ack::from_io(&e)).await,
    };
    // Unless told the new length, the table forgets the entity's (any error,
    // or this future dropped mid-body): the next access stats the file.
    let appending = shared.sessions.appending(&record.id);
    let appended = storage::append_body(body, skip, &file, start, &shared.bodies, idle);
    match tokio::time::timeout_at(deadline, appended).await {
        Ok(Ok(written)) if written == length - skip => {
            appending.done(start + written);
            // In a farm: durable, then the database's next byte (no-op on one node).
            let committed = shared
                .sessions
                .commit(&record.id, &file, start, start + written);
            if let Err(e) = committed.await {
                return Ack::from_io(&e);
            }
        }
        Ok(Ok(_) | Err(BodyError::Client(_))) => return Ack::invalid(),
        Ok(Err(BodyError::Storage(e))) => return Ack::from_io(&e),
        Err(_) => return too_slow(),
    }
    let next = range.last + 1;
    if next == range.total {
        Box::pin(complete(shared, &mut record, parts)).await
    } else {
        received(next)
    }
}

/// The upload is complete: notify the application, publish if it is time.
pub(crate) async fn complete(shared: &Shared, record: &mut Record, parts: &Parts) -> Ack {
    let total = record.total.unwrap_or(0);
    let mut ack = received(total);
    if shared.config.notification_type != NotificationType::None {
        let reply = match &record.reply {
            Some(reply) => reply.clone(),
            None => match Box::pin(crate::reply::notify(shared, record, &host(parts))).await {
                Ok(reply) => reply,
                Err(error) => return error.with("BITS-Received-Content-Range", total.to_string()),
            },
        };
        ack = ack.with("BITS-Reply-URL", reply.url.clone());
        if record.reply.is_none() {
            record.reply = Some(reply);
            record.updated = session::now();
            if let Err(e) = shared.sessions.save(record).await {
                return Ack::from_io(&e);
            }
        }
    }
    if shared.config.commit_point == CommitPoint::LastFragment
        && let Err(error) = publish(shared, record).await
    {
        return error;
    }
    ack
}

/// Publishes a complete upload once, if it should go to the destination.
pub(crate) async fn publish(shared: &Shared, record: &mut Record) -> Result<(), Ack> {
    let wanted = match shared.config.notification_type {
        NotificationType::None => true,
        _ => record.reply.as_ref().is_some_and(|r| r.copy_to_destination),
    };
    if record.published || !wanted {
        return Ok(());
    }
    let Ok(path) = UrlPath::parse(&format!("/{}", record.destination)) else {
        return Err(Ack::invalid());
    };
    let session = format!("{}/{}", crate::paths::SESSIONS_DIR, record.id);
    let config = &shared.config;
    match storage::publish(
        &shared.root_dir,
        &session,
        &path,
        config.allow_overwrites,
        config.create_directories,
    ) {
        Ok(()) => {}
        Err(PublishError::Exists) => return Err(shared.existing_destination()),
        Err(PublishError::BadDestination) => return Err(Ack::invalid()),
        // Out of space is 500 ERROR_DISK_FULL, context 0x5 (MC-BUP §2.2.1.2).
        Err(PublishError::Io(e)) => return Err(Ack::from_io(&e)),
    }
    storage::crash_point("publish-before-record");
    record.published = true;
    record.updated = session::now();
    shared
        .sessions
        .save(record)
        .await
        .map_err(|e| Ack::from_io(&e))
}

/// Close-Session: publish a complete upload, discard a partial one, keep a tombstone.
async fn close(shared: &Shared, mut record: Record) -> Ack {
    match record.state {
        // A retried Close after a lost Ack: answer as the first time (summary §4.5).
        State::Closed => return Ack::ok(),
        State::Cancelled => return Ack::session_not_found(),
        State::Active => {}
    }
    let complete = match shared.sessions.received(&record).await {
        Ok(received) => record.total.is_some_and(|total| total == received),
        Err(e) => return Ack::from_io(&e),
    };
    // A publish that fails keeps the session and its complete upload: the
    // client resends Close-Session on a 5xx other than BG_E_SESSION_NOT_FOUND
    // (ack-for-close-session.md), and once the cause is gone (space freed, the
    // file in the way removed) the retried Close publishes.
    if complete && let Err(error) = publish(shared, &mut record).await {
        return error;
    }
    match finish(shared, &mut record, State::Closed).await {
        Ok(()) => Ack::ok(),
        Err(e) => Ack::from_io(&e),
    }
}

/// Cancel-Session: drop the session's data; a published file is left alone.
/// A session already closed or cancelled is gone for Cancel (MC-BUP §3.2.5.2.3).
async fn cancel(shared: &Shared, mut record: Record) -> Ack {
    if record.state != State::Active {
        return Ack::session_not_found();
    }
    match finish(shared, &mut record, State::Cancelled).await {
        Ok(()) => Ack::ok(),
        Err(e) => Ack::from_io(&e),
    }
}

/// Ends a session: a tombstone when retries are remembered, nothing otherwise.
async fn finish(shared: &Shared, record: &mut Record, state: State) -> std::io::Result<()> {
    if shared.config.closed_session_retention == 0 {
        shared.sessions.remove(&record.id).await
    } else {
        shared.sessions.tombstone(record, state).await
    }
}

/// How long a refused fragment's body is drained at most: enough for the
/// connection to stay usable, not a slot held by a trickle.
const REFUSED_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers a refused fragment after draining a small body, so the connection stays usable.
async fn reject(body: Incoming, idle: std::time::Duration, ack: Ack) -> Ack {
    let drain = Box::pin(storage::drain(body, 1 << 20, idle));
    let _ = tokio::time::timeout(REFUSED_BODY_TIME, drain).await;
    ack
}

/// A body slower than `min_bytes_per_second`: the request ends (what arrived
/// is kept, the next Fragment resumes from it), and the client may come back.
fn too_slow() -> Ack {
    quotas::busy(quotas::SESSION_RETRY_AFTER)
}

fn received(next: u64) -> Ack {
    Ack::ok().with("BITS-Received-Content-Range", next.to_string())
}

fn forbidden() -> Ack {
    Ack::error(StatusCode::FORBIDDEN, E_ACCESSDENIED, CONTEXT_SERVER)
}

/// A header as trimmed text; `None` when absent or not visible ASCII.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `Host` of the request, used to build absolute URLs.
pub fn host(parts: &Parts) -> String {
    header(&parts.headers, "Host")
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string())
}
