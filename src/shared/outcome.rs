//! Results as plain data: what each scenario and step did and why it failed.
//! Produced by the runner and the checks, consumed by reporters; nothing here prints.

use crate::shared::level::Level;
use crate::shared::location::Loc;
use serde::Serialize;

/// How a scenario ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// The target answered, and an answer broke a MUST expectation (or any, with `--strict`).
    Fail,
    /// An answer broke a SHOULD expectation: reported, but not a failure unless `--strict`.
    Warn,
    /// Not run (for example, a requirement the target lacks).
    Skip,
    /// The exchange itself failed: connection refused, timeout, unparseable response.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Skip => "skip",
            Verdict::Error => "error",
        }
    }
}

/// The result of one scenario.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ScenarioOutcome {
    pub id: String,
    pub name: String,
    pub group: String,
    pub file: String,
    pub title: String,
    pub spec: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub requirements: Vec<String>,
    pub verdict: Verdict,
    /// One line saying why, for `error` and `skip`.
    pub reason: Option<String>,
    pub upload_url: String,
    pub steps: Vec<StepOutcome>,
    /// Informational findings: MAY-level differences, notes attached to the reading
    /// the target chose, checks that could not be made on this target.
    pub notes: Vec<String>,
    /// Set when a baseline lists this scenario as a known deviation.
    pub baseline: Option<BaselineMark>,
    /// The Cancel-Session sent after the steps to release a session left open.
    pub cleanup: Vec<StepOutcome>,
    pub duration_ms: u64,
    /// What was tested: a server (the requests are bitspec's, the answers the
    /// target's) or a client (the requests are the client's, the answers scripted).
    #[serde(default)]
    pub subject: Subject,
}

/// The party under test in an outcome.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    #[default]
    Server,
    Client,
}

impl ScenarioOutcome {
    /// The first step that failed or errored.
    pub fn failing_step(&self) -> Option<&StepOutcome> {
        // Steps not sent (missing capability) have neither mismatches nor errors.
        self.steps
            .iter()
            .find(|s| !s.mismatches.is_empty() || s.error.is_some())
    }

    /// Every reading an ambiguous expectation resolved to, as (step, reading).
    pub fn readings(&self) -> impl Iterator<Item = (usize, &ReadingChoice)> {
        self.steps
            .iter()
            .flat_map(|s| s.readings.iter().map(move |r| (s.number, r)))
    }
}

/// One request/response exchange and its checks.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StepOutcome {
    pub number: usize,
    pub label: String,
    pub loc: Loc,
    pub request: RecordedRequest,
    pub response: Option<RecordedResponse>,
    pub mismatches: Vec<Mismatch>,
    /// Which legal reading the target followed, where the step had alternatives
    /// or tolerated a choice (error header name).
    pub readings: Vec<ReadingChoice>,
    /// Why the exchange itself failed (no response, timeout, ...).
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// What was sent.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
}

/// What a report shows of a `Basic` credential: reports are CI artefacts that many
/// people read, and a Basic value is the password itself, merely base64-encoded.
pub const BASIC_NOT_RECORDED: &str = "Basic (credentials not recorded)";

impl RecordedRequest {
    /// The request as reports may show it: `Authorization` / `Proxy-Authorization`
    /// values of the `Basic` scheme are replaced by [`BASIC_NOT_RECORDED`].
    pub fn new(method: String, url: String, headers: Vec<(String, String)>, body_len: u64) -> Self {
        let headers = headers
            .into_iter()
            .map(|(name, value)| {
                let credential = name.eq_ignore_ascii_case("authorization")
                    || name.eq_ignore_ascii_case("proxy-authorization");
                let basic = value
                    .trim_start()
                    .get(..6)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "));
                if credential && basic {
                    (name, BASIC_NOT_RECORDED.to_owned())
                } else {
                    (name, value)
                }
            })
            .collect();
        RecordedRequest {
            method,
            url,
            headers,
            body_len,
        }
    }
}

/// What came back.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RecordedResponse {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body_len: u64,
    /// The first bytes of the body, lossily decoded, for reports.
    pub body_preview: String,
    /// Where the response breaks RFC 2616 section 6 message syntax (it was read anyway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub format_deviations: Vec<String>,
}

impl RecordedResponse {
    /// A response with this status and these headers and no body (tests, doubles).
    pub fn new(status: u16, headers: &[(&str, &str)]) -> RecordedResponse {
        RecordedResponse {
            version: "HTTP/1.1".into(),
            status,
            reason: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body_len: 0,
            body_preview: String::new(),
            format_deviations: Vec::new(),
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status line as on the wire.
    pub fn status_line(&self) -> String {
        format!("{} {} {}", self.version, self.status, self.reason)
            .trim_end()
            .to_owned()
    }
}

/// The [`Mismatch::kind`] of a client expectation: its `expected` is the whole
/// sentence (what the client should have done and what it did).
pub const CLIENT_MISMATCH: &str = "client";

/// One broken expectation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Mismatch {
    /// `status`, `header`, `error`, `body`, or `reading`.
    pub kind: &'static str,
    /// The header concerned, for header and error mismatches.
    pub header: Option<String>,
    /// The expectation, in words (`equals "0"`, `one of 200, 201`, `absent`).
    pub expected: String,
    /// What the target sent (`None`: nothing, e.g. the header was missing).
    pub actual: Option<String>,
    /// For header mismatches: the value the header line should carry in the
    /// expected header block of the diff (`None`: the line should not be there).
    pub expected_line: Option<String>,
    /// Where the expectation is written.
    pub loc: Loc,
    /// The requirement and level this mismatch is graded at; `None` until graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graded: Option<Graded>,
}

/// The level a mismatch counts at, and the requirement that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Graded {
    /// The catalogue id the expectation (or its step) names; `None`: it names none,
    /// and the scenario's level applies.
    pub requirement: Option<String>,
    pub level: Level,
}

/// A reading chosen by the target for one ambiguity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReadingChoice {
    /// What was ambiguous (`error header name`, or the step's reading set).
    pub topic: String,
    /// The reading the target followed.
    pub reading: String,
    pub cite: String,
}

/// What a baseline says of an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct BaselineMark {
    pub reason: String,
    pub state: BaselineState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineState {
    /// It failed, as the baseline expects: not counted as a failure.
    ExpectedFailure,
    /// It passed although the baseline lists it: the entry can be pruned.
    NowPasses,
}

/// Counts over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Failures (and warnings) a baseline expects; not in `failed`, `errors` or `warnings`.
    pub baselined: usize,
    /// Baselined scenarios that passed.
    pub now_passing: usize,
}

impl Totals {
    pub fn of(outcomes: &[ScenarioOutcome]) -> Totals {
        let mut t = Totals::default();
        for o in outcomes {
            match o.baseline.as_ref().map(|b| b.state) {
                Some(BaselineState::ExpectedFailure) => {
                    t.baselined += 1;
                    continue;
                }
                Some(BaselineState::NowPasses) => t.now_passing += 1,
                None => {}
            }
            match o.verdict {
                Verdict::Pass => t.passed += 1,
                Verdict::Fail => t.failed += 1,
                Verdict::Skip => t.skipped += 1,
                Verdict::Error => t.errors += 1,
                Verdict::Warn => t.warnings += 1,
            }
        }
        t
    }
}

/// The kind of the mismatch an Ack without Content-Length earns (`check_framing`):
/// graded at MUST level, whatever the scenario's level.
pub const FRAMING: &str = "framing";

/// `header BITS-Received-Content-Range: expected "0", got "3072"`.
pub fn mismatch_line(m: &Mismatch) -> String {
    if m.kind == CLIENT_MISMATCH {
        return with_grade(m.expected.clone(), m);
    }
    let subject = match (&m.header, m.kind) {
        (Some(h), "error") => format!("error header {h}"),
        (Some(h), "capture") => format!("capture of header {h}"),
        (Some(h), _) => format!("header {h}"),
        (None, kind) => kind.to_owned(),
    };
    let actual = match &m.actual {
        Some(a) => format!("{a:?}"),
        None => "nothing (header absent)".to_owned(),
    };
    let actual = if m.kind == "status" || m.kind == "body" || m.kind == FRAMING {
        m.actual.clone().unwrap_or_default()
    } else {
        actual
    };
    with_grade(
        format!("{subject}: expected {}, got {actual}", m.expected),
        m,
    )
}

/// `line [MUST id]` when the mismatch is graded at a named requirement.
fn with_grade(line: String, m: &Mismatch) -> String {
    match &m.graded {
        Some(Graded {
            requirement: Some(id),
            level,
        }) => format!("{line} [{} {id}]", level.as_str().to_ascii_uppercase()),
        _ => line,
    }
}
