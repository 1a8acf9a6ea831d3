//! Where and how a run goes, and what the runner is handed from outside: the judge
//! of each exchange (the check stage implements [`Judge`], so `run` never imports
//! `check`, the stage after it).

use super::liveness::Liveness;
use super::tls::TlsClient;
use crate::scenario::plan::ExpectPlan;
use crate::scenario::profile::Profile;
use crate::scenario::template::Vars;
use crate::shared::location::Loc;
use crate::shared::observation::{BodyObservation, TransportObservation};
use crate::shared::outcome::{Mismatch, ReadingChoice, RecordedRequest, RecordedResponse};
use std::sync::Arc;
use std::time::Duration;

/// Judges one exchange against the step's expectations, for the runner: it needs the
/// verdict of each step before it sends the next (captures, stop at a failure).
pub trait Judge: std::fmt::Debug + Send + Sync {
    /// Every broken expectation of the response (or of its absence) and the readings
    /// the target chose.
    fn exchange(
        &self,
        plan: &ExpectPlan,
        response: Option<&RecordedResponse>,
        body: &BodyObservation,
        observed: &TransportObservation,
        vars: &Vars,
    ) -> (Vec<Mismatch>, Vec<ReadingChoice>);
    /// The mismatch a body without a delimiter earns, when a MUST names it.
    fn framing(
        &self,
        request: &RecordedRequest,
        response: &RecordedResponse,
        observed: &TransportObservation,
        loc: &Loc,
    ) -> Option<Mismatch>;
}

/// The BITS 1.5 upload protocol GUID, the only one the documents define.
pub const BITS_15_UPLOAD_PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// A step's time when its scenario sets none: the README says why 30 s.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The target base URL; scenario upload URLs are made directly under it.
    pub target: String,
    pub step_timeout: Duration,
    pub connect_timeout: Duration,
    /// Scenarios run at once.
    pub jobs: usize,
    /// Makes upload URLs unique to this run.
    pub run_nonce: String,
    /// What the target is configured to do.
    pub profile: Arc<Profile>,
    /// SHOULD mismatches fail instead of warning.
    pub strict: bool,
    /// How https targets' certificates are checked.
    pub tls: TlsClient,
    /// How long a body with no delimiter may pause on an open connection before it
    /// is judged (see [`DEFAULT_IDLE_GRACE`]).
    pub idle_grace: Duration,
    /// Whether the target still answers: shared by every scenario of the run (clones
    /// of these options share it; [`RunOptions::new`] makes a fresh one).
    pub liveness: Arc<Liveness>,
    /// Judges each exchange against its expectations.
    pub judge: Arc<dyn Judge>,
}

impl RunOptions {
    /// Options for `target`, judged by `judge` (the check stage's: `check::judge()`).
    pub fn new(target: &str, judge: Arc<dyn Judge>) -> RunOptions {
        RunOptions {
            judge,
            target: normalise_target(target),
            step_timeout: DEFAULT_STEP_TIMEOUT,
            connect_timeout: Duration::from_secs(5),
            jobs: 4,
            run_nonce: run_nonce(),
            profile: Arc::new(Profile::minimal()),
            strict: false,
            tls: TlsClient::default(),
            idle_grace: DEFAULT_IDLE_GRACE,
            liveness: Arc::new(Liveness::default()),
        }
    }

    /// Headers every request carries: the profile's credentials, as HTTP Basic,
    /// or (NTLM, Negotiate) a stand-in the connection replaces by a handshake.
    pub fn default_headers(&self) -> Vec<(String, String)> {
        if self.profile.windows.is_some() {
            return vec![(
                "Authorization".into(),
                crate::scenario::profile::HANDSHAKE_PRIMARY.into(),
            )];
        }
        match &self.profile.credentials {
            Some(c) => vec![(
                "Authorization".into(),
                crate::scenario::profile::basic_authorization(c),
            )],
            None => Vec::new(),
        }
    }

    /// Uses `profile`, whose URL prefix extends the target.
    pub fn with_profile(mut self, profile: Profile) -> RunOptions {
        if !profile.url_prefix.is_empty() {
            self.target = normalise_target(&format!(
                "{}{}",
                self.target,
                profile.url_prefix.trim_start_matches('/')
            ));
        }
        self.profile = Arc::new(profile);
        self
    }
}

/// The base URL with exactly one trailing slash, so `${target}name` is under it.
pub fn normalise_target(target: &str) -> String {
    format!("{}/", target.trim().trim_end_matches('/'))
}

/// A short value unique enough to keep two runs' uploads apart.
pub fn run_nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}",
        (nanos as u64) ^ (u64::from(std::process::id()) << 40)
    )
}

/// Which of the profile's NTLM or Negotiate accounts a request speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Restricted,
}

/// How long a body without Content-Length or chunking may pause, on a connection the
/// server keeps open, before it is judged: a second (`--idle-grace`).
pub const DEFAULT_IDLE_GRACE: Duration = Duration::from_secs(1);

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
