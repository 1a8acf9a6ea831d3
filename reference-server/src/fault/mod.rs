//! Fault injection, a testing aid: deliberate, realistic protocol bugs, so the bitspec
//! suite can prove it catches them (`bitspec selftest`). Nothing here runs unless a
//! fault is named with `--fault NAME` (repeatable) or `faults = [...]` in the config.
//!
//! Each [`Fault`] imitates what a real buggy server does, and declares what it breaks:
//! the header whose value goes wrong, `status`, or `body` (what a catching scenario's
//! failure must name). Most faults act around the normal handler ([`bits_post`]): a
//! request fault answers or rewrites the request before `packets.rs` sees it
//! (`request.rs`), an Ack fault edits the answer (`answer.rs`). The few that live
//! inside the handler (Close, Cancel, overlapping fragments, and the configured
//! features: authentication, maximum size, disabled folders, host id) ask
//! `Shared::has_fault`. A bug shows only under some configurations
//! ([`Fault::hidden_by`]).

mod answer;
mod request;

use std::net::SocketAddr;

use http::{Response, request::Parts};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use crate::ack::Body;
use crate::config::Config;
use crate::server::Shared;

pub(crate) use request::write_at;

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
    /// What a server configured as `config` lacks for the bug to show, or `None`
    /// when it can show: a bug in authentication needs accounts, one in the
    /// host id needs a host id (or none), one in publishing needs simple uploads.
    pub fn hidden_by(self, config: &Config) -> Option<&'static str> {
        use crate::config::{CommitPoint, NotificationType, OverlapPolicy};
        let simple = config.notification_type == NotificationType::None;
        let limited = config.users.iter().any(|u| !u.paths.is_empty());
        let hidden = |unmet: bool, needs: &'static str| unmet.then_some(needs);
        match self {
            Fault::HostIdWhenUnset => hidden(config.host_id.is_some(), "no host id"),
            Fault::HostIdMissing => hidden(config.host_id.is_none(), "a host id"),
            Fault::AuthNotEnforced => hidden(config.users.is_empty(), "accounts (users)"),
            Fault::UserPathsIgnored => hidden(!limited, "an account limited to some folders"),
            Fault::MaxUploadSizeIgnored => hidden(
                config.max_upload_size >= crate::config::IIS_MAX_UPLOAD_SIZE,
                "a maximum upload size",
            ),
            Fault::DisabledFolderServed => hidden(
                config.uploads_enabled && config.disabled_paths.is_empty(),
                "a folder with uploads disabled",
            ),
            Fault::ReplyUrlMissing | Fault::ReplyUrlEarly => hidden(simple, "upload-reply"),
            Fault::SessionIdEchoUnbraced => {
                hidden(!config.echo_session_id, "the session id echoed on Acks")
            }
            Fault::OverwriteIgnoresSetting => hidden(config.allow_overwrites, "overwrites off")
                .or_else(|| hidden(!simple, "simple uploads")),
            Fault::OverlapOverwrites => hidden(
                config.overlap == OverlapPolicy::Reject,
                "overlapping fragments trimmed (overlap = trim)",
            )
            .or_else(|| hidden(!simple, "simple uploads")),
            Fault::CloseNoPublish => hidden(
                config.commit_point == CommitPoint::LastFragment,
                "publishing at Close-Session (commit_point = close)",
            )
            .or_else(|| hidden(!simple, "simple uploads")),
            // The uploaded file is published at its URL (and read back there) only
            // in simple uploads.
            Fault::ReplyUrlOnSimpleUpload
            | Fault::DestinationWrittenDirectly
            | Fault::CancelPublishesPartial => hidden(!simple, "simple uploads"),
            _ => None,
        }
    }

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

impl Shared {
    /// True when `fault` is switched on (always false in normal use).
    pub(crate) fn has_fault(&self, fault: Fault) -> bool {
        self.config.faults.contains(&fault)
    }
}

/// The configuration a server with these faults behaves as (faults that amount to a
/// missing check of a setting).
pub(crate) fn adjusted(mut config: Config) -> Config {
    if config.faults.contains(&Fault::OverwriteIgnoresSetting) {
        config.allow_overwrites = true;
    }
    config
}

/// A BITS_POST on a server with faults: request faults, the normal handler, Ack faults.
pub(crate) async fn bits_post(
    shared: &Shared,
    mut parts: Parts,
    body: Incoming,
    peer: SocketAddr,
) -> Response<Body> {
    let seen = request::Seen::of(&parts);
    let mut outcome = crate::packets::Outcome::default();
    let ack = match request::before(shared, &seen, &mut parts).await {
        Some(ack) => ack,
        None => crate::packets::handle(shared, parts, body, peer, &mut outcome).await,
    };
    let ack = answer::edit_ack(shared, &seen, ack).await;
    tracing::info!(
        %peer,
        path = %seen.path,
        packet = %seen.packet.as_deref().unwrap_or("-"),
        status = ack.status.as_u16(),
        faults = ?shared.config.faults,
        "BITS packet (faults on)"
    );
    let response = ack.into_response(shared.config.error_header);
    answer::edit_response(shared, &seen, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_named_in_toml_and_off_by_default() {
        assert!(Config::default().faults.is_empty());
        let config = Config::from_toml(
            "faults = [\"gap-accepted\", \"ack-chunked\"]",
            std::path::Path::new("t.toml"),
        )
        .expect("valid");
        assert_eq!(config.faults, [Fault::GapAccepted, Fault::AckChunked]);
        let bad = Config::from_toml(
            "faults = [\"no-such-fault\"]",
            std::path::Path::new("t.toml"),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(*fault));
            assert_eq!(fault.to_string(), fault.name());
        }
    }

    #[test]
    fn setting_faults_change_the_configuration_only_when_on() {
        let plain = adjusted(Config::default());
        assert!(!plain.allow_overwrites);
        let faulty = adjusted(Config {
            faults: vec![Fault::OverwriteIgnoresSetting],
            ..Config::default()
        });
        assert!(faulty.allow_overwrites);
    }
}
