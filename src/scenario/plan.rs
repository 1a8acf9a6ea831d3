//! Validated scenarios: what the runner executes. Built by `validate` from the YAML model,
//! with templates parsed, regexes compiled and every expectation carrying its location.

use super::model::{ConnectionMode, ConnectionState, Eol, Fault, Level, ResponsePresence};
use super::template::Template;
use crate::shared::location::Loc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    /// Test name, `<packet-type>::<file-stem>`.
    pub name: String,
    /// The folder the file sits in (the packet type it is about).
    pub group: String,
    pub path: PathBuf,
    pub file: Arc<str>,
    pub title: String,
    pub spec: String,
    pub level: Level,
    pub tags: Vec<String>,
    pub requirements: Vec<String>,
    /// Capabilities the target profile must have.
    pub requires: Vec<String>,
    pub description: Option<String>,
    pub upload: Option<UploadFile>,
    pub vars: Vec<(String, Template)>,
    pub steps: Vec<StepPlan>,
}

/// The deterministic upload file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadFile {
    pub size: u64,
    pub seed: u64,
}

/// An inclusive byte range `first-last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

/// One request and its checks.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// 1-based position in the scenario.
    pub number: usize,
    pub label: String,
    pub loc: Loc,
    pub packet: Option<String>,
    pub method: String,
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    /// Lowercased names of default headers not to send.
    pub omit: Vec<String>,
    pub range: Option<RangePlan>,
    pub total: Option<u64>,
    pub seed: Option<u64>,
    pub body: Option<Template>,
    /// The bytes of `body_file`, read when the scenario is validated.
    pub body_bytes: Option<Arc<[u8]>>,
    /// The farm node this step is sent to; `None`: the target.
    pub node: Option<NodePlan>,
    /// A step that stops this farm node (1-based) instead of sending a request.
    pub stop_node: Option<Located<usize>>,
    pub connection: ConnectionMode,
    /// Exact bytes to send instead of a built request.
    pub raw: Option<RawPlan>,
    /// What the fault proxy does to this exchange.
    pub fault: Option<Fault>,
    /// A generated schedule instead of one request.
    pub generate: Option<GeneratePlan>,
    pub timeout: Option<Duration>,
    /// Seconds to wait before sending, rendered and read at run time.
    pub delay: Option<Template>,
    /// Capabilities this step needs.
    pub requires: Vec<String>,
    pub expect: ExpectPlan,
    /// (response header, variable name)
    /// (response header or `$body`, variable name, where the capture is written)
    pub captures: Vec<(String, String, Loc)>,
}

/// Which farm node a step goes to.
#[derive(Debug, Clone)]
pub enum NodePlan {
    /// `node: 2`: the profile's second node.
    Index(Located<usize>),
    /// `node: "${host}"`: a 1-based index or a node's host id, known when the step runs.
    Resolved(Located<Template>),
}

impl Scenario {
    /// The literal node indexes the steps name (`node: N`, `stop_node: N`), with where.
    pub fn node_indexes(&self) -> impl Iterator<Item = &Located<usize>> {
        self.steps.iter().flat_map(|s| {
            let sent = match &s.node {
                Some(NodePlan::Index(n)) => Some(n),
                _ => None,
            };
            sent.into_iter().chain(s.stop_node.as_ref())
        })
    }

    /// Whether any step goes to a farm node (so the target must be a farm).
    pub fn uses_nodes(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.node.is_some() || s.stop_node.is_some())
    }

    /// Whether a step stops a node: such scenarios run alone, after the others.
    pub fn stops_nodes(&self) -> bool {
        self.steps.iter().any(|s| s.stop_node.is_some())
    }
}

/// The checks on one response.
#[derive(Debug, Clone, Default)]
pub struct ExpectPlan {
    pub loc: Option<Loc>,
    pub status: Option<Located<Vec<u16>>>,
    pub headers: Vec<HeaderExpectation>,
    pub error: Option<Located<ErrorExpectation>>,
    pub body: Option<Located<BodyExpectation>>,
    pub response: Option<Located<ResponsePresence>>,
    pub connection: Option<Located<ConnectionState>>,
    /// Acceptable response versions; `None` means HTTP/1.1, enforced as an error.
    pub version: Option<Located<Vec<String>>>,
    /// Where `format: strict` is written, when it is.
    pub strict_format: Option<Loc>,
    pub readings: Vec<ReadingPlan>,
    /// The step's `requirement`: what every check is graded at unless `requirement_for` names another.
    pub requirement: Option<RequirementRef>,
    /// (check key, lowercased: `status`, `error`, ..., or a header name; its requirement)
    pub requirement_for: Vec<(String, RequirementRef)>,
}

/// A requirement an expectation names, with its level once the catalogue is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementRef {
    pub id: String,
    pub loc: Loc,
    /// Filled from `scenarios/requirements.yaml` after validation; `None` before.
    pub level: Option<Level>,
}

/// The checks `requirement_for` may name besides header names.
pub const CHECK_KEYS: &[&str] = &[
    "status",
    "error",
    "body",
    "response",
    "connection",
    "version",
    "format",
    "readings",
];

impl ExpectPlan {
    /// The requirement a check (`status`, a header name, ...) is graded at: its own, else the step's.
    pub fn requirement_of(&self, check: &str) -> Option<&RequirementRef> {
        self.requirement_for
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(check))
            .map(|(_, r)| r)
            .or(self.requirement.as_ref())
    }

    /// Every requirement named in this step, the step's and the per-check ones.
    pub fn requirements_mut(&mut self) -> impl Iterator<Item = &mut RequirementRef> {
        self.requirement
            .iter_mut()
            .chain(self.requirement_for.iter_mut().map(|(_, r)| r))
    }

    /// True when the step (or one of its readings) allows the server not to answer.
    pub fn allows_no_response(&self) -> bool {
        let none = |r: &Option<Located<ResponsePresence>>| {
            r.as_ref()
                .is_some_and(|r| r.value == ResponsePresence::None)
        };
        none(&self.response) || self.readings.iter().any(|r| none(&r.response))
    }
}

/// A fragment range: numbers, or templates resolved when the step runs
/// (`${resume}-${last_byte}`, to send the rest from where the server says it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangePlan {
    Fixed(ByteRange),
    Templated { first: Template, last: Template },
}

impl RangePlan {
    /// The byte range, once the variables are known; `file_size` bounds it.
    pub fn resolve(
        &self,
        vars: &super::template::Vars,
        file_size: u64,
    ) -> Result<ByteRange, String> {
        let range = match self {
            RangePlan::Fixed(r) => *r,
            RangePlan::Templated { first, last } => {
                let number = |t: &Template| -> Result<u64, String> {
                    let text = t.render(vars)?;
                    text.trim()
                        .parse()
                        .map_err(|_| format!("range bound {text:?} is not a decimal number"))
                };
                ByteRange {
                    first: number(first)?,
                    last: number(last)?,
                }
            }
        };
        if range.last < range.first {
            return Err(format!(
                "range {}-{} ends before it starts",
                range.first, range.last
            ));
        }
        if range.last >= file_size {
            return Err(format!(
                "range {}-{} goes past the end of the {file_size}-byte upload file",
                range.first, range.last
            ));
        }
        Ok(range)
    }
}

/// A raw request, validated.
#[derive(Debug, Clone)]
pub struct RawPlan {
    pub lines: Vec<Template>,
    pub eol: Eol,
    pub end_head: bool,
    pub body: Option<Template>,
    pub half_close: bool,
    /// Insert the profile's default headers after the request line.
    pub credentials: bool,
}

/// A generated schedule, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratePlan {
    pub seed: u64,
    pub fragments: u32,
    pub max_fragment: u64,
    pub shrink: bool,
}

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

/// A check on one header, by case-insensitive name.
#[derive(Debug, Clone)]
pub struct HeaderExpectation {
    pub name: String,
    pub check: HeaderMatch,
    pub loc: Loc,
}

/// The header predicates.
#[derive(Debug, Clone)]
pub enum HeaderMatch {
    Present,
    Absent,
    Equals(Template),
    EqualsIgnoreCase(Template),
    Matches(regex::Regex),
    OneOf(Vec<Template>),
    AbsentOrEquals(Template),
    Hex(u64),
    /// A decimal number in an inclusive range, both bounds templated.
    Between(Template, Template),
}

/// The BITS error headers.
#[derive(Debug, Clone)]
pub enum ErrorExpectation {
    None,
    Is {
        code: Option<u64>,
        context: Option<u64>,
    },
}

/// The response body.
#[derive(Debug, Clone)]
pub enum BodyExpectation {
    Empty,
    File,
    Equals(Template),
    Contains(Template),
    Matches(regex::Regex),
}

/// One legal reading of an ambiguity.
#[derive(Debug, Clone)]
pub struct ReadingPlan {
    pub name: String,
    pub cite: String,
    pub note: Option<String>,
    /// The reason a scenario stops as skipped when the target follows this reading.
    pub capability_absent: Option<String>,
    pub loc: Loc,
    pub status: Option<Located<Vec<u16>>>,
    pub headers: Vec<HeaderExpectation>,
    pub error: Option<Located<ErrorExpectation>>,
    pub response: Option<Located<ResponsePresence>>,
    pub connection: Option<Located<ConnectionState>>,
}
