//! How the client reacts to a non-success answer: MC-BUP §3.1.5.2.1 and §3.1.5.1.7,
//! the Close/Cancel retry rule of ack-for-close-session.md, and, for the statuses
//! the documents leave to "the higher-layer protocol", the transient/fatal split of
//! handling-server-application-errors.md.

use super::conn::Ack;

pub const BG_E_SESSION_NOT_FOUND: u32 = 0x8020_001F;
pub const BG_E_TOO_LARGE: u32 = 0x8020_0020;
pub const E_INVALIDARG: u32 = 0x8007_0057;
pub const E_ACCESSDENIED: u32 = 0x8007_0005;

/// What to do about one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// Success.
    Proceed,
    /// BG_E_SESSION_NOT_FOUND: start again with Create-Session (not for Cancel).
    Restart,
    /// 413 on a Fragment: smaller fragments (§3.1.5.2.4).
    Shrink,
    /// Worth trying again (5xx, 408): a new attempt, later.
    Transient(String),
    /// Running again will not help (403, 501, BG_E_TOO_LARGE, E_INVALIDARG, 4xx...).
    Fatal(String),
}

/// The reaction to `ack`, the answer to a `packet` (`Create-Session`, `Ping`,
/// `Fragment`, `Close-Session`, `Cancel-Session`). 401 is handled before this (the
/// credentials are sent once); a 401 here means they were refused.
pub fn react(packet: &str, ack: &Ack) -> Reaction {
    let success = ack.status == 200 || (ack.status == 201 && packet == "Create-Session");
    if success && ack.is_ack() {
        return Reaction::Proceed;
    }
    let what = format!("{packet} answered {}", ack.describe());
    if success {
        return Reaction::Fatal(format!(
            "{what} without BITS-Packet-Type: Ack: not a BITS server (BG_E_INVALID_SERVER_RESPONSE)"
        ));
    }
    let error = ack.bits_error();
    if error == Some(BG_E_SESSION_NOT_FOUND) && packet != "Cancel-Session" {
        return Reaction::Restart;
    }
    if ack.status == 413 && packet == "Fragment" {
        return Reaction::Shrink;
    }
    let fatal = |why: &str| Reaction::Fatal(format!("{what}: {why}"));
    match (ack.status, error) {
        (401, _) => fatal("the credentials were refused (ERROR_AUTH_REQUIRED; pass --user)"),
        (407, _) => fatal("proxy authentication required: not supported"),
        // Cancel is not retried on an unknown session (ack-for-cancel-session.md).
        (_, Some(BG_E_SESSION_NOT_FOUND)) => fatal("the server no longer knows the session"),
        (403, _) => fatal("access denied to the destination URL"),
        (501, Some(E_ACCESSDENIED)) => fatal("uploads are not enabled for this virtual directory"),
        (_, Some(BG_E_TOO_LARGE)) => fatal("the file is larger than the server accepts"),
        (_, Some(E_INVALIDARG)) => fatal("the server calls the request invalid"),
        (408, _) => Reaction::Transient(what),
        (400..=499, _) => fatal("the server refuses the request"),
        (501 | 505, _) => fatal("the server does not support this request"),
        (500..=599, _) => Reaction::Transient(what),
        _ => fatal("unexpected status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(status: u16, error: Option<&str>) -> Ack {
        let mut headers = http::HeaderMap::new();
        headers.insert("BITS-Packet-Type", http::HeaderValue::from_static("Ack"));
        if let Some(e) = error {
            headers.insert(
                "BITS-Error-Code",
                http::HeaderValue::from_str(e).expect("header"),
            );
        }
        Ack { status, headers }
    }

    #[test]
    fn the_documented_reactions() {
        assert_eq!(react("Fragment", &ack(200, None)), Reaction::Proceed);
        assert_eq!(
            react("Fragment", &ack(500, Some("0x8020001F"))),
            Reaction::Restart
        );
        assert_eq!(
            react("Close-Session", &ack(500, Some("x8020001f"))),
            Reaction::Restart
        );
        assert!(matches!(
            react("Cancel-Session", &ack(500, Some("0x8020001F"))),
            Reaction::Fatal(_)
        ));
        assert!(matches!(
            react("Cancel-Session", &ack(500, None)),
            Reaction::Transient(_)
        ));
        assert_eq!(react("Fragment", &ack(413, None)), Reaction::Shrink);
        assert!(matches!(
            react("Close-Session", &ack(503, None)),
            Reaction::Transient(_)
        ));
        for (status, error) in [
            (403, Some("0x80070005")),
            (501, Some("0x80070005")),
            (500, Some("0x80200020")),
            (400, Some("0x80070057")),
            (404, None),
        ] {
            assert!(
                matches!(react("Fragment", &ack(status, error)), Reaction::Fatal(_)),
                "{status} {error:?}"
            );
        }
    }

    #[test]
    fn a_200_that_is_not_an_ack_is_fatal() {
        let plain = Ack {
            status: 200,
            headers: http::HeaderMap::new(),
        };
        assert!(matches!(react("Ping", &plain), Reaction::Fatal(_)));
    }
}
