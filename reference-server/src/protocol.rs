//! Parsing the pieces of a BITS request: packet type, protocol list, Content-Range.
//!
//! Pure functions, so the wire rules are unit-tested without a socket.

/// The BITS 1.5 upload protocol, the only one defined (MC-BUP §1.7.1).
pub const UPLOAD_PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// The request packets (MC-BUP §2.2.1.2). Matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Ping,
    CreateSession,
    Fragment,
    CloseSession,
    CancelSession,
}

impl PacketType {
    /// Parses a `BITS-Packet-Type` value in any case.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        [
            ("Ping", Self::Ping),
            ("Create-Session", Self::CreateSession),
            ("Fragment", Self::Fragment),
            ("Close-Session", Self::CloseSession),
            ("Cancel-Session", Self::CancelSession),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, kind)| kind)
    }

    /// The wire spelling, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ping => "Ping",
            Self::CreateSession => "Create-Session",
            Self::Fragment => "Fragment",
            Self::CloseSession => "Close-Session",
            Self::CancelSession => "Cancel-Session",
        }
    }

    /// Every packet but Ping and Create-Session names an existing session.
    pub fn needs_session(self) -> bool {
        !matches!(self, Self::Ping | Self::CreateSession)
    }
}

/// Picks the client's most preferred protocol we support, in the client's spelling.
/// The list may be separated by spaces or commas (MC-BUP §2.2.2.2).
pub fn negotiate(supported: &str) -> Option<&str> {
    supported
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|guid| !guid.is_empty())
        .take(100)
        .find(|guid| guid.eq_ignore_ascii_case(UPLOAD_PROTOCOL))
}

/// A parsed `Content-Range: bytes first-last/total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: u64,
}

impl ContentRange {
    /// Parses the RFC 2616 §14.16 form; `last < first` or `last >= total` is invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let (unit, rest) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (range, total) = rest.trim().split_once('/')?;
        let (first, last) = range.trim().split_once('-')?;
        let range = Self {
            first: number(first)?,
            last: number(last)?,
            total: number(total)?,
        };
        (range.first <= range.last && range.last < range.total).then_some(range)
    }

    /// Number of bytes the range covers.
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A decimal number made of ASCII digits only (`u64::from_str` would accept `+`).
fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses a `Content-Length` value strictly.
pub fn content_length(value: &str) -> Option<u64> {
    number(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_types_ignore_case() {
        assert_eq!(PacketType::parse("FRAGMENT"), Some(PacketType::Fragment));
        assert_eq!(
            PacketType::parse("create-session"),
            Some(PacketType::CreateSession)
        );
        assert_eq!(PacketType::parse("Ack"), None);
        assert_eq!(PacketType::parse(""), None);
    }

    #[test]
    fn negotiation_takes_spaces_commas_and_any_case() {
        let ours = "{7DF0354D-249B-430F-820D-3D2A9BEF4931}";
        assert_eq!(
            negotiate(&format!("{{00000000-0000-0000-0000-000000000000}},{ours}")),
            Some(ours)
        );
        assert_eq!(negotiate(&format!("{{1}} {ours}")), Some(ours));
        assert_eq!(negotiate("{00000000-0000-0000-0000-000000000000}"), None);
        assert_eq!(negotiate(""), None);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            ContentRange::parse("bytes 0-4891/4892"),
            Some(ContentRange {
                first: 0,
                last: 4891,
                total: 4892
            })
        );
        assert!(ContentRange::parse("Bytes 5-5/6").is_some());
        for bad in [
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes 0-1/*",
            "bytes=0-1/2",
            "bytes -1-2/3",
            "bytes +0-1/2",
            "items 0-1/2",
            "bytes 0-1",
            "",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }
}
