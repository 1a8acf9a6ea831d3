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
        }
    }
}

/// The `nth` (from 1) request of type `packet` the server receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub packet: Packet,
    #[serde(default = "first")]
    pub nth: u32,
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
}

/// One scripted deviation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub on: Trigger,
    pub answer: Answer,
}

/// What the request right after `after` must be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub after: Trigger,
    /// Its packet type.
    #[serde(default)]
    pub next: Option<Packet>,
    /// Its Content-Range must start here (a Fragment).
    #[serde(default)]
    pub first: Option<u64>,
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
}

fn yes() -> bool {
    true
}

impl ClientScenario {
    /// Every requirement the scenario checks.
    pub fn requirements(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.expect.iter().map(|e| e.requirement.as_str()).collect();
        ids.dedup();
        ids
    }
}
