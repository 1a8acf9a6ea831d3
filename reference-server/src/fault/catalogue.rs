//! The fault catalogue: every planted bug by name, with the part of the protocol it
//! belongs to, what it breaks on the wire and the bug it imitates. A leaf: the
//! configuration names faults with it, and nothing here knows the server.

use serde::{Deserialize, Serialize};

/// The part of the protocol a fault belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    AckFraming,
    CreateSession,
    Fragment,
    LifeCycle,
    Validation,
    Configured,
}

impl Area {
    pub fn name(self) -> &'static str {
        match self {
            Area::AckFraming => "Ack framing",
            Area::CreateSession => "Create-Session",
            Area::Fragment => "Fragment",
            Area::LifeCycle => "session life cycle",
            Area::Validation => "request validation",
            Area::Configured => "configured features",
        }
    }
}

macro_rules! faults {
    ($($variant:ident = $name:literal, $area:ident, $breaks:literal, $what:literal;)*) => {
        /// A deliberate protocol bug (testing aid). The names are the `--fault` values.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
        pub enum Fault {
            $(#[doc = $what] #[serde(rename = $name)] #[value(name = $name)] $variant,)*
        }

        impl Fault {
            /// Every fault, in catalogue order.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),*];

            /// The `--fault` name.
            pub fn name(self) -> &'static str {
                match self { $(Fault::$variant => $name,)* }
            }

            pub fn area(self) -> Area {
                match self { $(Fault::$variant => Area::$area,)* }
            }

            /// What goes wrong on the wire: a header name, `status` or `body`.
            pub fn breaks(self) -> &'static str {
                match self { $(Fault::$variant => $breaks,)* }
            }

            /// The bug, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Fault::$variant => $what,)* }
            }
        }
    };
}

faults! {
    AckNoPacketType = "ack-no-packet-type", AckFraming, "BITS-Packet-Type",
        "Acks are sent without BITS-Packet-Type.";
    AckPacketTypeEcho = "ack-packet-type-echo", AckFraming, "BITS-Packet-Type",
        "The Ack's BITS-Packet-Type echoes the request's packet type instead of Ack.";
    AckChunked = "ack-chunked", AckFraming, "Content-Length",
        "Acks are streamed with chunked transfer coding, without Content-Length.";
    ErrorPageBody = "error-page-body", AckFraming, "body",
        "Error Acks carry an HTML error page as their body.";
    ErrorCodeDecimal = "error-code-decimal", AckFraming, "BITS-Error-Code",
        "The HRESULT is written in decimal instead of hexadecimal.";
    ErrorCodeMissing = "error-code-missing", AckFraming, "BITS-Error-Code",
        "Error Acks carry BITS-Error-Context but no error code header.";
    ErrorContextMissing = "error-context-missing", AckFraming, "BITS-Error-Context",
        "Error Acks carry the error code without BITS-Error-Context.";
    ErrorContextApplication = "error-context-application", AckFraming, "BITS-Error-Context",
        "Errors of the server itself are reported with context 0x7 (the server application).";
    ErrorOnSuccess = "error-on-success", AckFraming, "BITS-Error-Code",
        "Successful Acks carry an error code of 0 and context 0.";
    SessionIdEchoUnbraced = "session-id-echo-unbraced", AckFraming, "BITS-Session-Id",
        "Fragment, Close and Cancel Acks echo the session id without its braces.";
    SessionIdRepeats = "session-id-repeats", CreateSession, "BITS-Received-Content-Range",
        "Every session gets the same id (a generator re-seeded with a constant), so sessions overwrite each other.";
    SessionIdHeaderTypo = "session-id-header-typo", CreateSession, "BITS-Session-Id",
        "The Create-Session Ack names the session id header BITS-SessionId.";
    ProtocolNotOffered = "protocol-not-offered", CreateSession, "BITS-Protocol",
        "BITS-Protocol names a GUID the client never offered (a mistyped constant).";
    ProtocolFirstOffered = "protocol-first-offered", CreateSession, "BITS-Protocol",
        "BITS-Protocol is the client's first GUID, whether the server supports it or not.";
    ProtocolMismatchAccepted = "protocol-mismatch-accepted", CreateSession, "status",
        "The client's protocol list is not checked: a session is created without a GUID in common.";
    ProtocolCaseSensitive = "protocol-case-sensitive", CreateSession, "status",
        "Protocol GUIDs are compared case-sensitively, so an upper-case GUID is refused.";
    ProtocolListCommaOnly = "protocol-list-comma-only", CreateSession, "status",
        "Only commas separate the protocol list, so a space-separated list is refused.";
    HostIdWhenUnset = "host-id-when-unset", CreateSession, "BITS-Host-Id",
        "BITS-Host-Id is sent (the machine name) although no host id is configured.";
    AcceptEncodingMissing = "accept-encoding-missing", CreateSession, "Accept-Encoding",
        "The Create-Session Ack does not advertise Accept-Encoding: identity.";
    CreateRequiresContentName = "create-requires-content-name", CreateSession, "status",
        "Create-Session without Content-Name (sent only by old clients) is refused.";
    OverwriteIgnoresSetting = "overwrite-ignores-setting", CreateSession, "status",
        "An existing destination is accepted and overwritten although overwrites are off.";
    ContentEncodingIgnored = "content-encoding-ignored", Fragment, "status",
        "Content-Encoding is ignored: a body in an unsupported encoding is stored as the data.";
    GapAccepted = "gap-accepted", Fragment, "status",
        "A fragment that leaves a gap is accepted with 200 and appended at the end.";
    GapNoOffset = "gap-416-no-offset", Fragment, "BITS-Received-Content-Range",
        "The 416 for an out-of-sync fragment lacks BITS-Received-Content-Range.";
    ReceivedRangeOffByOne = "received-range-off-by-one", Fragment, "BITS-Received-Content-Range",
        "BITS-Received-Content-Range is the last byte received, not the next one expected.";
    ReceivedRangeMissing = "received-range-missing", Fragment, "BITS-Received-Content-Range",
        "The 200 Ack for a Fragment lacks BITS-Received-Content-Range.";
    OverlapOverwrites = "overlap-overwrites", Fragment, "body",
        "A fragment is written at its offset, overwriting bytes already stored.";
    OverlapAppended = "overlap-appended", Fragment, "BITS-Received-Content-Range",
        "A fragment that overlaps stored bytes is appended whole at the end.";
    TotalChangeAccepted = "total-change-accepted", Fragment, "status",
        "A Content-Range whose total differs from the session's is accepted.";
    RangeUnitCaseSensitive = "range-unit-case-sensitive", Fragment, "status",
        "Content-Range is parsed case-sensitively, so `Bytes` is refused.";
    ReplyUrlOnSimpleUpload = "reply-url-on-simple-upload", Fragment, "BITS-Reply-URL",
        "The last fragment's Ack of a simple upload carries BITS-Reply-URL (the upload URL).";
    DestinationWrittenDirectly = "destination-written-directly", Fragment, "status",
        "Fragments are written straight into the destination file, visible before the upload is complete.";
    CloseKeepsSession = "close-keeps-session", LifeCycle, "status",
        "Close-Session publishes the file but keeps the session alive.";
    CloseNoPublish = "close-no-publish", LifeCycle, "status",
        "Close-Session of a complete upload discards it instead of publishing it.";
    CancelKeepsSession = "cancel-keeps-session", LifeCycle, "status",
        "Cancel-Session is acknowledged but the session stays alive.";
    CancelPublishesPartial = "cancel-publishes-partial", LifeCycle, "status",
        "Cancel-Session of an incomplete upload publishes the partial file (the Close path).";
    UnknownSessionOk = "unknown-session-ok", LifeCycle, "status",
        "Close-Session and Cancel-Session of an unknown session are answered 200.";
    SessionNotFound404 = "session-not-found-404", LifeCycle, "status",
        "An unknown session is answered 404 instead of 500.";
    SessionNotFoundWrongCode = "session-not-found-wrong-code", LifeCycle, "BITS-Error-Code",
        "An unknown session is answered with E_FAIL instead of BG_E_SESSION_NOT_FOUND.";
    Http10Accepted = "http10-accepted", Validation, "status",
        "A BITS_POST over HTTP/1.0 is handled like one over HTTP/1.1.";
    DuplicatePacketTypeFirstWins = "duplicate-packet-type-first-wins", Validation, "status",
        "Of two BITS-Packet-Type headers, the first is used instead of the request being refused.";
    PacketTypeCaseSensitive = "packet-type-case-sensitive", Validation, "status",
        "Packet types are compared case-sensitively, so `PING` is refused.";
    UnknownPacketTypePing = "unknown-packet-type-ping", Validation, "status",
        "An unknown packet type is answered like a Ping (200).";
    MissingPacketTypePing = "missing-packet-type-ping", Validation, "status",
        "A BITS_POST without BITS-Packet-Type is answered like a Ping (200).";
    AckPacketAccepted = "ack-packet-accepted", Validation, "status",
        "A request of packet type Ack is answered 200.";
    MissingSessionIdOk = "missing-session-id-ok", Validation, "status",
        "Close-Session and Cancel-Session without BITS-Session-Id are answered 200.";
    ContentRangeOptional = "content-range-optional", Validation, "status",
        "A Fragment without Content-Range is appended at the next expected byte.";
    MissingContentLengthAccepted = "missing-content-length-accepted", Validation, "status",
        "A request without Content-Length is accepted.";
    UnknownBitsHeaderRejected = "unknown-bits-header-rejected", Validation, "status",
        "An unknown BITS-* header is refused with 400 instead of ignored.";
    BodilessBodyAccepted = "bodiless-body-accepted", Validation, "status",
        "A body on Ping, Create-Session, Close-Session or Cancel-Session is ignored instead of refused.";
    AuthNotEnforced = "auth-not-enforced", Configured, "status",
        "Requests without credentials are served although accounts are configured.";
    UserPathsIgnored = "user-paths-ignored", Configured, "status",
        "An authenticated user may upload outside the folders the account is limited to.";
    MaxUploadSizeIgnored = "max-upload-size-ignored", Configured, "status",
        "An upload larger than the configured maximum size is accepted.";
    DisabledFolderServed = "disabled-folder-served", Configured, "status",
        "BITS uploads are served in a folder where they are disabled.";
    HostIdMissing = "host-id-missing", Configured, "BITS-Host-Id",
        "The configured host id is not sent in the Create-Session Ack.";
    ReplyUrlMissing = "reply-url-missing", Configured, "BITS-Reply-URL",
        "In upload-reply mode the last fragment's Ack lacks BITS-Reply-URL.";
    ReplyUrlEarly = "reply-url-early", Configured, "BITS-Reply-URL",
        "In upload-reply mode every fragment's Ack carries BITS-Reply-URL, not only the last.";
}

impl Fault {
    /// Looks a fault up by its `--fault` name.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The faults a server was built with.
#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    pub fn new(faults: &[Fault]) -> Self {
        Faults(faults.to_vec())
    }

    /// True when `fault` is switched on.
    pub fn on(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|f| f.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(*fault));
            assert_eq!(fault.to_string(), fault.name());
        }
    }
}
