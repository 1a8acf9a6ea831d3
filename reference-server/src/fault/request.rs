//! Request faults: answer instead of the handler, or rewrite the request it sees so it
//! behaves as the buggy server would (a check skipped, an offset ignored).

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, request::Parts};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::Fault;
use crate::ack::Ack;
use crate::packets::header;
use crate::protocol::{ContentRange, PacketType, UPLOAD_PROTOCOL};
use crate::server::Shared;
use crate::session::{self, Record, State};

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
pub(super) async fn before(shared: &Shared, seen: &Seen, parts: &mut Parts) -> Option<Ack> {
    let on = |f| shared.has_fault(f);
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
        PacketType::CreateSession => create(shared, seen, headers),
        PacketType::Fragment => fragment(shared, seen, headers).await,
        PacketType::CloseSession if on(Fault::DestinationWrittenDirectly) => {
            // The destination is the entity itself: unlink it so Close can publish a
            // complete upload; a partial one stays where it was written.
            let (record, expected) = active(shared, seen.session.as_deref()?).await?;
            if record.total == Some(expected) {
                let _ = tokio::fs::remove_file(shared.root.join(&record.destination)).await;
            }
            None
        }
        PacketType::CancelSession if on(Fault::CancelPublishesPartial) => {
            let (record, _) = active(shared, seen.session.as_deref()?).await?;
            link_destination(shared, &record).await;
            None
        }
        _ => None,
    }
}

fn create(shared: &Shared, seen: &Seen, headers: &mut HeaderMap) -> Option<Ack> {
    let on = |f| shared.has_fault(f);
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

async fn fragment(shared: &Shared, seen: &Seen, headers: &mut HeaderMap) -> Option<Ack> {
    let on = |f| shared.has_fault(f);
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

/// The last byte of `length` bytes written from `first`; `None` past u64::MAX.
fn appended_last(first: u64, length: u64) -> Option<u64> {
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

/// `overlap-overwrites`: writes a fragment at its own offset (a positional write),
/// replacing stored bytes. Returns the next expected byte.
pub(crate) async fn write_at(
    mut body: Incoming,
    first: u64,
    data: &Path,
    idle: Duration,
) -> Result<u64, Ack> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(data)
        .await
        .map_err(|e| Ack::from_io(&e))?;
    let stored = file.metadata().await.map_err(|e| Ack::from_io(&e))?.len();
    file.seek(SeekFrom::Start(first))
        .await
        .map_err(|e| Ack::from_io(&e))?;
    let mut end = first;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            _ => return Err(Ack::invalid()),
        };
        if let Ok(data) = frame.into_data() {
            file.write_all(&data).await.map_err(|e| Ack::from_io(&e))?;
            end += data.len() as u64;
        }
    }
    file.flush().await.map_err(|e| Ack::from_io(&e))?;
    Ok(stored.max(end))
}

/// Gives the session's entity a second name at its destination (creating folders), so
/// the partial upload shows there.
pub(super) async fn link_destination(shared: &Shared, record: &Record) {
    let dest = shared.root.join(&record.destination);
    if let Some(parent) = dest.parent() {
        let _ = tokio::fs::create_dir_all(parent).await;
    }
    let _ = tokio::fs::hard_link(shared.sessions.data_path(&record.id), &dest).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    /// Sends one BITS_POST head (and `body`), returns the status of the answer, or 0
    /// when the connection ends without one.
    async fn post(conn: &mut TcpStream, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let mut head = String::from("BITS_POST /up/file.bin HTTP/1.1\r\nHost: t\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if conn.write_all(head.as_bytes()).await.is_err() || conn.write_all(body).await.is_err() {
            return (0, String::new());
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => return (0, String::from_utf8_lossy(&got).into_owned()),
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    /// A session with its first ten bytes written, on a server with `fault`.
    async fn ten_bytes_in(
        fault: Fault,
    ) -> (crate::RunningServer, TcpStream, String, tempfile::TempDir) {
        let root = tempfile::tempdir().expect("tempdir");
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            root: root.path().to_path_buf(),
            faults: vec![fault],
            ..Config::default()
        };
        let server = crate::spawn(config).await.expect("server");
        let mut conn = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        let (status, text) = post(
            &mut conn,
            &[
                ("BITS-Packet-Type", "Create-Session"),
                ("BITS-Supported-Protocols", UPLOAD_PROTOCOL),
                ("Content-Length", "0"),
            ],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let session = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("BITS-Session-Id:")
                    .or_else(|| l.strip_prefix("bits-session-id:"))
            })
            .expect("a session id")
            .trim()
            .to_string();
        let (status, text) = post(
            &mut conn,
            &[
                ("BITS-Packet-Type", "Fragment"),
                ("BITS-Session-Id", &session),
                ("Content-Range", "bytes 0-9/100"),
                ("Content-Length", "10"),
            ],
            b"0123456789",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        (server, conn, session, root)
    }

    #[tokio::test]
    async fn a_length_past_u64_max_without_content_range_is_a_bad_request() {
        let (server, mut conn, session, _root) = ten_bytes_in(Fault::ContentRangeOptional).await;
        let (status, text) = post(
            &mut conn,
            &[
                ("BITS-Packet-Type", "Fragment"),
                ("BITS-Session-Id", &session),
                ("Content-Length", "18446744073709551613"),
            ],
            b"",
        )
        .await;
        assert_eq!(status, 400, "{text}");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn an_overlap_appended_past_u64_max_is_a_bad_request() {
        let (server, mut conn, session, _root) = ten_bytes_in(Fault::OverlapAppended).await;
        let (status, text) = post(
            &mut conn,
            &[
                ("BITS-Packet-Type", "Fragment"),
                ("BITS-Session-Id", &session),
                (
                    "Content-Range",
                    "bytes 0-18446744073709551613/18446744073709551615",
                ),
                ("Content-Length", "18446744073709551613"),
            ],
            b"",
        )
        .await;
        assert_eq!(status, 400, "{text}");
        server.shutdown().await;
    }

    #[test]
    fn appended_ranges_end_at_u64_max_at_most() {
        assert_eq!(appended_last(10, 5), Some(14));
        assert_eq!(appended_last(1, u64::MAX), Some(u64::MAX));
        assert_eq!(appended_last(2, u64::MAX), None);
        assert_eq!(appended_last(0, 0), None);
    }
}
