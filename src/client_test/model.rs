//! Client scenarios (`scenarios/client/*.yaml`): what the scripted server answers
//! differently from a plain correct server, and what the client must send next.

use serde::Deserialize;

/// A BITS packet type as a client sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packet {
    CreateSession,
    Ping,
    Fragment,
    CloseSession,
    CancelSession,
    /// Not a BITS packet: an HTTP GET, the download of an upload-reply's reply.
    Get,
}

impl Packet {
    /// From a `BITS-Packet-Type` value (any case).
    pub fn parse(text: &str) -> Option<Packet> {
        match text.trim().to_ascii_lowercase().as_str() {
            "create-session" => Some(Packet::CreateSession),
            "ping" => Some(Packet::Ping),
            "fragment" => Some(Packet::Fragment),
            "close-session" => Some(Packet::CloseSession),
            "cancel-session" => Some(Packet::CancelSession),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Packet::CreateSession => "create-session",
            Packet::Ping => "ping",
            Packet::Fragment => "fragment",
            Packet::CloseSession => "close-session",
            Packet::CancelSession => "cancel-session",
            Packet::Get => "get",
        }
    }
}

/// The `nth` (from 1) request the server receives that matches: of type `packet`
/// (any type when absent), sent to `host` (any host when absent), and with
/// `final: true` only Fragments whose Content-Range ends at the file's last byte.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    #[serde(default)]
    pub packet: Option<Packet>,
    #[serde(default = "first")]
    pub nth: u32,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default, rename = "final")]
    pub final_fragment: bool,
}

impl Trigger {
    /// For messages: `fragment #2`, `request #1 to localhost`, `final fragment #1`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{}{} #{}",
            if self.final_fragment { "final " } else { "" },
            self.packet.map_or("request", Packet::name),
            self.nth
        );
        if let Some(host) = &self.host {
            text.push_str(&format!(" to {host}"));
        }
        text
    }
}

fn first() -> u32 {
    1
}

/// How the scripted server answers the triggering request instead of normally.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// HTTP status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// `BITS-Received-Content-Range` to send (a Fragment answer).
    #[serde(default)]
    pub received: Option<u64>,
    /// `BITS-Error-Code` to send, e.g. `0x8020001F`.
    #[serde(default)]
    pub error: Option<String>,
    /// Close the connection without answering; the request is not processed.
    #[serde(default)]
    pub drop: bool,
    /// `BITS-Host-Id` on a Create-Session answer.
    #[serde(default)]
    pub host_id: Option<String>,
    /// `BITS-Host-Id-Fallback-Timeout` (seconds) on a Create-Session answer.
    #[serde(default)]
    pub fallback_timeout: Option<u64>,
    /// `BITS-Protocol` on a Create-Session answer instead of the one the client offered.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `BITS-Reply-URL` on the answer (upload-reply).
    #[serde(default)]
    pub reply_url: Option<String>,
    /// Process the request (store a Fragment's bytes), then close the connection
    /// without the Ack: the client cannot know the server has the bytes.
    #[serde(default)]
    pub lost_ack: bool,
    /// Milliseconds to wait before answering (the request is processed first).
    #[serde(default)]
    pub delay_ms: u64,
    /// Interrupt the client as a user pressing Ctrl-C would (SIGINT to its process
    /// group) when this request arrives; the request is answered as usual.
    #[serde(default)]
    pub interrupt: bool,
}

impl Answer {
    /// Whether the answer replaces the server's own processing (a scripted status,
    /// error or offset, or a drop); otherwise the request is processed as usual and
    /// the answer only decorated (headers added, delayed, its Ack lost).
    pub fn replaces_processing(&self) -> bool {
        self.status.is_some() || self.received.is_some() || self.error.is_some() || self.drop
    }
}

/// One scripted deviation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub on: Trigger,
    /// How many matching requests in a row get this answer, from the `nth` (default 1).
    #[serde(default = "one")]
    pub times: u32,
    pub answer: Answer,
}

fn one() -> u32 {
    1
}

/// A check over every request of the run rather than the one after a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// Every Fragment has a Content-Range `bytes FIRST-LAST/TOTAL` whose length is its
    /// body's, TOTAL the file's size, and its bytes are the file's bytes there.
    ContentRange,
    /// Every Fragment starts at the offset the server last acknowledged to the client
    /// (`BITS-Received-Content-Range` of the last Ack it received; 0 after a
    /// Create-Session): nothing skipped, nothing resent that the server confirmed.
    AcknowledgedOffset,
    /// Every Fragment, Close-Session and Cancel-Session carries the session id of the
    /// last Create-Session Ack.
    SessionId,
    /// Every Create-Session carries a non-empty `BITS-Supported-Protocols`.
    SupportedProtocols,
    /// Close-Session is sent only once the server acknowledged the whole file.
    CloseWhenComplete,
    /// A Fragment answered 413 is followed (if at all) by a Fragment with fewer bytes
    /// at the same offset.
    #[serde(rename = "shrink-after-413")]
    ShrinkAfter413,
}

impl Invariant {
    pub fn name(self) -> &'static str {
        match self {
            Invariant::ContentRange => "content-range",
            Invariant::AcknowledgedOffset => "acknowledged-offset",
            Invariant::SessionId => "session-id",
            Invariant::SupportedProtocols => "supported-protocols",
            Invariant::CloseWhenComplete => "close-when-complete",
            Invariant::ShrinkAfter413 => "shrink-after-413",
        }
    }
}

/// How the client process must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// Exit status 0.
    Success,
    /// A non-zero exit status, by itself (not killed at the time limit).
    Failure,
}

/// One check, naming the requirement it checks. Most are about the request right
/// after the one `after` names (Pings opening a new connection skipped unless `next:
/// ping`), or with `to_host`/`later` the first later one to that host / of that type;
/// `never` is about every later request; `every`, `min_fragment` and `exit` are
/// about the whole run and take no `after`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    #[serde(default)]
    pub after: Option<Trigger>,
    /// Its packet type.
    #[serde(default)]
    pub next: Option<Packet>,
    /// Its Content-Range must start here (a Fragment).
    #[serde(default)]
    pub first: Option<u64>,
    /// Judge the first later request sent to this host instead of the next one.
    #[serde(default)]
    pub to_host: Option<String>,
    /// Judge the first later request of this type instead of the next one.
    #[serde(default)]
    pub later: Option<Packet>,
    /// It must arrive at most this many milliseconds after the trigger arrived.
    #[serde(default)]
    pub within_ms: Option<u64>,
    /// It must arrive at least this many milliseconds after the trigger arrived.
    #[serde(default)]
    pub not_before_ms: Option<u64>,
    /// It must come on another TCP connection than the trigger.
    #[serde(default)]
    pub new_connection: bool,
    /// It must carry the trigger's BITS-Session-Id (the same session, not a new one).
    #[serde(default)]
    pub same_session: bool,
    /// It must carry an Authorization header.
    #[serde(default)]
    pub authorization: bool,
    /// No request of this type may follow the trigger.
    #[serde(default)]
    pub never: Option<Packet>,
    /// A check over every request of the run.
    #[serde(default)]
    pub every: Option<Invariant>,
    /// No Fragment shorter than this many bytes, except one ending the file.
    #[serde(default)]
    pub min_fragment: Option<u64>,
    /// How the client must exit.
    #[serde(default)]
    pub exit: Option<Exit>,
    /// Its body must be shorter than the triggering Fragment's.
    #[serde(default)]
    pub smaller: bool,
    /// Its Host header must name this host (the port is not compared).
    #[serde(default)]
    pub host: Option<String>,
    /// There must be no further request at all: the client stopped.
    #[serde(default)]
    pub none: bool,
    /// The requirement this expectation checks (catalogue id, a `party: client` rule).
    pub requirement: String,
    /// The level a miss counts at when lower than the requirement's (where the
    /// documents leave the behaviour open); by default the requirement's level.
    #[serde(default)]
    pub level: Option<crate::scenario::model::Level>,
}

/// A client scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientScenario {
    pub id: String,
    pub title: String,
    /// Size of the generated file the client uploads.
    pub file_size: u64,
    #[serde(default)]
    pub script: Vec<Script>,
    pub expect: Vec<Expectation>,
    /// The upload must end with the whole file received and closed (default true).
    #[serde(default = "yes")]
    pub completes: bool,
    /// The server answers 413 to any Fragment body larger than this many bytes.
    #[serde(default)]
    pub max_fragment: Option<u64>,
    /// Basic credentials `USER:PASSWORD` the server demands (401 without them); the
    /// client gets them in `BITSPEC_USER`.
    #[serde(default)]
    pub credentials: Option<String>,
    /// Seconds the client is told to wait for an Ack (`BITSPEC_RESPONSE_TIMEOUT`), for
    /// scenarios that delay one beyond it.
    #[serde(default)]
    pub response_timeout: Option<f64>,
    /// An upload-reply job: the client is told where to save the reply
    /// (`BITSPEC_REPLY_FILE`), and the server serves it on GET.
    #[serde(default)]
    pub upload_reply: bool,
}

fn yes() -> bool {
    true
}

impl ClientScenario {
    /// Every requirement the scenario checks.
    pub fn requirements(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for e in &self.expect {
            if !ids.contains(&e.requirement.as_str()) {
                ids.push(&e.requirement);
            }
        }
        ids
    }

    /// What is wrong with the shape of the script and the expectations, as (list,
    /// index, message) with list `script` or `expect`: the combinations serde cannot
    /// refuse by itself.
    pub fn shape_errors(&self) -> Vec<(&'static str, usize, String)> {
        let script = self.script.iter().enumerate().filter_map(|(i, s)| {
            let message = if s.on.nth == 0 || s.times == 0 {
                Some("`nth` and `times` count from 1".to_owned())
            } else {
                s.on.shape_error()
            };
            message.map(|m| ("script", i, m))
        });
        let expect = self.expect.iter().enumerate().filter_map(|(i, e)| {
            e.shape_error()
                .or_else(|| e.after.as_ref().and_then(Trigger::shape_error))
                .map(|m| ("expect", i, m))
        });
        script.chain(expect).collect()
    }
}

impl Trigger {
    fn shape_error(&self) -> Option<String> {
        if self.nth == 0 {
            return Some("`nth` counts from 1".into());
        }
        (self.final_fragment && self.packet.is_some_and(|p| p != Packet::Fragment))
            .then(|| "`final: true` names a Fragment: drop `packet` or make it `fragment`".into())
    }
}

impl Expectation {
    fn about_next(&self) -> bool {
        self.next.is_some()
            || self.first.is_some()
            || self.smaller
            || self.host.is_some()
            || self.within_ms.is_some()
            || self.not_before_ms.is_some()
            || self.new_connection
            || self.same_session
            || self.authorization
    }

    fn shape_error(&self) -> Option<String> {
        let whole_run = [
            self.every.is_some(),
            self.min_fragment.is_some(),
            self.exit.is_some(),
        ];
        let whole_run_kinds = whole_run.iter().filter(|k| **k).count();
        if whole_run_kinds > 1 {
            return Some("give one of `every`, `min_fragment` and `exit` per expectation".into());
        }
        if whole_run_kinds == 1 {
            return (self.after.is_some()
                || self.about_next()
                || self.none
                || self.never.is_some())
            .then(|| {
                "`every`, `min_fragment` and `exit` judge the whole run: \
                     they take no `after` and no check of a next request"
                    .to_owned()
            });
        }
        if self.after.is_none() {
            return Some(
                "`after` is missing: name the request this expectation follows \
                 (or use `every`, `min_fragment` or `exit`)"
                    .into(),
            );
        }
        if self.to_host.is_some() && self.later.is_some() {
            return Some("give `to_host` or `later`, not both".into());
        }
        if (self.none || self.never.is_some())
            && (self.about_next() || self.to_host.is_some() || self.later.is_some())
        {
            return Some(
                "`none` and `never` say what does not follow: they take no check of a next request"
                    .into(),
            );
        }
        if !self.none
            && self.never.is_none()
            && !self.about_next()
            && self.to_host.is_none()
            && self.later.is_none()
        {
            return Some(
                "the expectation checks nothing: add `next`, `first`, `none`, `never`...".into(),
            );
        }
        None
    }
}
