//! What a generated run sent and how it failed: the data the runner, the shrinker
//! and the reproduction share.

use super::schedule::Frag;
use crate::shared::outcome::{RecordedRequest, RecordedResponse};

/// Seed mixed into the file's seed for the bytes of a fragment that is old data, so a
/// server that overwrites what it already has is caught by the final comparison.
pub const ALT_SEED: u64 = 0x5EED_F0DD_DA7A_0001;

/// One exchange of a run, as the reproduction needs it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub what: Packet,
    /// The offset the server expected before this exchange (fragments only).
    pub expected: u64,
}

/// The packets a generated run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    Create,
    /// A fragment; `alt` when its bytes came from the other seed (old data).
    Fragment {
        frag: Frag,
        alt: bool,
    },
    Close,
    Get,
}

/// Why a run failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The exchange that failed, an index into the run's `sent`.
    pub at: usize,
    /// Expected versus actual, one line each.
    pub expected: String,
    pub actual: String,
    /// The exchange itself failed (no response): an error, not a model mismatch.
    pub transport: bool,
    pub request: RecordedRequest,
    pub response: Option<RecordedResponse>,
}

/// What one run of a schedule did.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub sent: Vec<Sent>,
    pub failure: Option<Failure>,
    /// How the server answered the fragments the documents leave open.
    pub readings: Vec<String>,
}
