//! Request faults: answer instead of the handler, or rewrite the request it sees so it
//! behaves as the buggy server would (a check skipped, an offset ignored, a session
//! kept alive), sometimes doing to the session's storage what the bug does first.

use http::{HeaderMap, HeaderValue, request::Parts};

use super::catalogue::{Fault, Faults};
use crate::ack::Ack;
use crate::packets::header;
use crate::paths::UrlPath;
use crate::protocol::{ContentRange, PacketType, UPLOAD_PROTOCOL};
use crate::session::{self, Record, State};
use crate::shared::Shared;

/// What the Ack faults need to know about the request.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub path: String,
    /// `BITS-Packet-Type` as sent.
    pub packet: Option<String>,
    pub kind: Option<PacketType>,
    /// `BITS-Session-Id` as sent.
    pub session: Option<String>,
    pub range: Option<ContentRange>,
    pub protocols: Option<String>,
}

impl Seen {
    pub fn of(parts: &Parts) -> Seen {
        let headers = &parts.headers;
        let packet = header(headers, "BITS-Packet-Type").map(str::to_string);
        Seen {
            path: parts.uri.path().to_string(),
            kind: packet.as_deref().and_then(PacketType::parse),
            packet,
            session: header(headers, "BITS-Session-Id").map(str::to_string),
            range: header(headers, "Content-Range").and_then(ContentRange::parse),
            protocols: header(headers, "BITS-Supported-Protocols").map(str::to_string),
        }
    }
}

/// The packet names as Windows spells them.
const CANONICAL: [&str; 5] = [
    "Ping",
    "Create-Session",
    "Fragment",
    "Close-Session",
    "Cancel-Session",
];

/// BITS headers a strict server knows; any other `BITS-*` header is refused.
const KNOWN_BITS_HEADERS: [&str; 3] = [
    "bits-packet-type",
    "bits-session-id",
    "bits-supported-protocols",
];

/// Applies the request faults: `Some` is the answer, given without the handler.
pub(super) async fn before(
    shared: &Shared,
    faults: &Faults,
    seen: &Seen,
    parts: &mut Parts,
) -> Option<Ack> {
    let on = |f| faults.on(f);
    if on(Fault::Http10Accepted) && parts.version == http::Version::HTTP_10 {
        parts.version = http::Version::HTTP_11;
    }
    let headers = &mut parts.headers;
    if on(Fault::DuplicatePacketTypeFirstWins)
        && let Some(first) = headers.get("BITS-Packet-Type").cloned()
    {
        headers.insert("BITS-Packet-Type", first);
    }
    match seen.packet.as_deref() {
        None if on(Fault::MissingPacketTypePing) => return Some(Ack::ok()),
        Some(p) if p.trim().eq_ignore_ascii_case("Ack") && on(Fault::AckPacketAccepted) => {
            return Some(Ack::ok());
        }
        Some(_) if seen.kind.is_none() && on(Fault::UnknownPacketTypePing) => {
            return Some(Ack::ok());
        }
        Some(p) if on(Fault::PacketTypeCaseSensitive) && !CANONICAL.contains(&p.trim()) => {
            return Some(Ack::invalid());
        }
        _ => {}
    }
    if on(Fault::UnknownBitsHeaderRejected)
        && headers.keys().any(|name| {
            let name = name.as_str();
            name.starts_with("bits-") && !KNOWN_BITS_HEADERS.contains(&name)
        })
    {
        return Some(Ack::invalid());
    }
    let kind = seen.kind?;
    let ends = matches!(kind, PacketType::CloseSession | PacketType::CancelSession);
    if ends && seen.session.is_none() && on(Fault::MissingSessionIdOk) {
        return Some(Ack::ok());
    }
    let length = header(headers, "Content-Length");
    if kind != PacketType::Fragment
        && ((length.is_none() && on(Fault::MissingContentLengthAccepted))
            || (length.is_some_and(|l| l.trim() != "0") && on(Fault::BodilessBodyAccepted)))
    {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    match kind {
        PacketType::CreateSession => create(faults, seen, headers),
        PacketType::Fragment => fragment(shared, faults, seen, headers).await,
        PacketType::CloseSession => close(shared, faults, seen, headers).await,
        PacketType::CancelSession => {
            if on(Fault::CancelPublishesPartial) {
                let (record, _) = active(shared, seen.session.as_deref()?).await?;
                link_destination(shared, &record).await;
            }
            if on(Fault::CancelKeepsSession)
                && let Some((record, _)) = active(shared, seen.session.as_deref()?).await
                && sent_to(seen, &record)
            {
                // Acknowledged, and nothing else done: answered as a Ping (the session
                // id echo is put back on the Ack, `answer.rs`).
                headers.insert("BITS-Packet-Type", HeaderValue::from_static("Ping"));
            }
            None
        }
        PacketType::Ping => None,
    }
}

/// Close-Session faults: a destination written directly, a complete upload
/// discarded, a session kept alive.
async fn close(
    shared: &Shared,
    faults: &Faults,
    seen: &Seen,
    headers: &mut HeaderMap,
) -> Option<Ack> {
    let on = |f| faults.on(f);
    let id = session::normalise_id(seen.session.as_deref()?)?;
    let _guard = shared.sessions.lock(&id).await;
    let (mut record, expected) = active(shared, &id).await?;
    let complete = record.total == Some(expected);
    if on(Fault::DestinationWrittenDirectly) && complete {
        // The destination is the entity itself: unlink it so Close can publish a
        // complete upload; a partial one stays where it was written.
        let _ = tokio::fs::remove_file(destination(shared, &record)).await;
    }
    if on(Fault::CloseNoPublish) && complete {
        // The upload is thrown away first, so Close finds nothing to publish.
        let data = shared.sessions.data_path(&record.id);
        shared.sessions.forget_entity(&record.id);
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&data) {
            let _ = file.set_len(0);
        }
    }
    if on(Fault::CloseKeepsSession) && sent_to(seen, &record) {
        // Published as Close would, and then answered as a Ping: the session stays.
        if complete && let Err(ack) = crate::packets::publish(shared, &mut record).await {
            return Some(ack);
        }
        headers.insert("BITS-Packet-Type", HeaderValue::from_static("Ping"));
    }
    None
}

fn create(faults: &Faults, seen: &Seen, headers: &mut HeaderMap) -> Option<Ack> {
    let on = |f| faults.on(f);
    if on(Fault::CreateRequiresContentName) && !headers.contains_key("Content-Name") {
        return Some(Ack::invalid());
    }
    let list = seen.protocols.as_deref().unwrap_or("");
    let any_separator = |c: char| c == ',' || c.is_ascii_whitespace();
    let refused = (on(Fault::ProtocolCaseSensitive)
        && !list.split(any_separator).any(|g| g == UPLOAD_PROTOCOL))
        || (on(Fault::ProtocolListCommaOnly)
            && !list
                .split(',')
                .any(|g| g.trim().eq_ignore_ascii_case(UPLOAD_PROTOCOL)));
    if refused {
        headers.remove("BITS-Supported-Protocols");
    } else if on(Fault::ProtocolMismatchAccepted) {
        // The list is never read: every session speaks BITS 1.5.
        headers.insert(
            "BITS-Supported-Protocols",
            HeaderValue::from_static(UPLOAD_PROTOCOL),
        );
    }
    None
}

async fn fragment(
    shared: &Shared,
    faults: &Faults,
    seen: &Seen,
    headers: &mut HeaderMap,
) -> Option<Ack> {
    let on = |f| faults.on(f);
    if on(Fault::RangeUnitCaseSensitive)
        && header(headers, "Content-Range").is_some_and(|r| !r.trim_start().starts_with("bytes "))
    {
        headers.remove("Content-Range");
        return None;
    }
    if on(Fault::ContentEncodingIgnored) {
        headers.remove("Content-Encoding");
    }
    let (record, expected) = active(shared, seen.session.as_deref()?).await?;
    if on(Fault::ContentRangeOptional) && !headers.contains_key("Content-Range") {
        let length = header(headers, "Content-Length").and_then(|l| l.trim().parse::<u64>().ok());
        if let Some(length) = length.filter(|l| *l > 0) {
            // The length is the client's: a range past u64::MAX is a bad request.
            let Some(last) = appended_last(expected, length) else {
                return Some(Ack::invalid());
            };
            let Some(total) = record.total.or(last.checked_add(1)) else {
                return Some(Ack::invalid());
            };
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {expected}-{last}/{total}")) {
                headers.insert("Content-Range", value);
            }
        }
        return None;
    }
    let range = seen.range?;
    let mut wanted = range;
    // A server that ignores the first offset appends every body at the end.
    if (range.first > expected && on(Fault::GapAccepted))
        || (range.first < expected && on(Fault::OverlapAppended))
    {
        wanted.first = expected;
        let Some(last) = appended_last(expected, range.len()) else {
            return Some(Ack::invalid());
        };
        wanted.last = last;
    }
    if let Some(total) = record.total.filter(|_| on(Fault::TotalChangeAccepted)) {
        wanted.total = total;
    }
    if wanted != range {
        let text = format!("bytes {}-{}/{}", wanted.first, wanted.last, wanted.total);
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.insert("Content-Range", value);
        }
    }
    None
}

/// Whether the packet was sent to the session's URL (a Ping does not check it, so a
/// packet answered as one is checked here).
fn sent_to(seen: &Seen, record: &Record) -> bool {
    UrlPath::parse(&seen.path).is_ok_and(|path| path.relative() == record.destination)
}

/// The last byte of `length` bytes written from `first`; `None` past u64::MAX.
pub(super) fn appended_last(first: u64, length: u64) -> Option<u64> {
    first.checked_add(length.checked_sub(1)?)
}

/// An active session and its next expected byte.
pub(super) async fn active(shared: &Shared, raw_id: &str) -> Option<(Record, u64)> {
    let id = session::normalise_id(raw_id)?;
    let record = shared.sessions.load(&id).await.ok()??;
    if record.state != State::Active {
        return None;
    }
    let expected = shared.sessions.received(&record).await.ok()?;
    Some((record, expected))
}

/// The session's destination as a plain path (the bugs of this layer follow links
/// the real server never follows).
pub(super) fn destination(shared: &Shared, record: &Record) -> std::path::PathBuf {
    let root =
        std::fs::canonicalize(&shared.config.root).unwrap_or_else(|_| shared.config.root.clone());
    root.join(&record.destination)
}

/// Gives the session's entity a second name at its destination (creating folders), so
/// the partial upload shows there.
pub(super) async fn link_destination(shared: &Shared, record: &Record) {
    let dest = destination(shared, record);
    if let Some(parent) = dest.parent() {
        let _ = tokio::fs::create_dir_all(parent).await;
    }
    let _ = tokio::fs::hard_link(shared.sessions.data_path(&record.id), &dest).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_ranges_end_at_u64_max_at_most() {
        assert_eq!(appended_last(10, 5), Some(14));
        assert_eq!(appended_last(1, u64::MAX), Some(u64::MAX));
        assert_eq!(appended_last(2, u64::MAX), None);
        assert_eq!(appended_last(0, 0), None);
    }
}
