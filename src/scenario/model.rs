//! The scenario file format, as serde types.
//!
//! This is the single source of truth for what a scenario YAML file may contain.
//! Every struct rejects unknown keys; values that errors later point at are
//! wrapped in [`Spanned`] so a mismatch can name its `file:line:column`.
//! No `untagged` or `flatten`: both lose locations and blur error messages.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

pub use serde_saphyr::Spanned;

/// One scenario file: metadata, an optional generated upload file, and steps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "bitspec scenario")]
pub struct ScenarioDoc {
    /// Stable identifier, unique across the suite (kebab-case by convention).
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// One line saying what the scenario checks.
    pub title: String,
    /// The cited document and section, e.g. `MC-BUP 3.2.5.2.6` or `ack-for-fragment.md`.
    pub spec: String,
    /// How binding the checked requirement is.
    pub level: Level,
    /// Free-form labels for selection (`--tag`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Ids of the entries of `scenarios/requirements.yaml` this scenario checks.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Target capabilities this scenario needs (see `profiles/`); without them it is skipped.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub requires: Vec<Spanned<String>>,
    /// Longer explanation, shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// The upload file this scenario works on, generated deterministically.
    #[serde(default)]
    pub file: Option<UploadFileSpec>,
    /// Scenario-level variables, usable as `${name}` in every step.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub vars: IndexMap<String, Spanned<String>>,
    /// The packet exchanges, run in order on one keep-alive connection.
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
}

pub use crate::shared::level::Level;

/// A deterministic pseudo-random file: the same size and seed give the same bytes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadFileSpec {
    /// Size in bytes (at least 1: a zero-byte upload cannot be expressed in a Content-Range).
    #[schemars(with = "u64")]
    pub size: Spanned<u64>,
    /// Seed of the byte generator.
    #[serde(default)]
    pub seed: u64,
}

/// One request and what its response must look like.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Human label shown in reports; defaults to the packet type or method.
    #[serde(default)]
    pub name: Option<String>,
    /// BITS packet type, sent as `BITS-Packet-Type` (any spelling is sent verbatim).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub packet: Option<Spanned<String>>,
    /// HTTP method; default `BITS_POST`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    /// Request URL; default `${upload_url}`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// Headers to add (or to override the defaults with).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub headers: IndexMap<String, Spanned<String>>,
    /// Default headers to leave out (`BITS-Packet-Type`, `Content-Length`, ...).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub omit: Vec<Spanned<String>>,
    /// A byte range of the upload file, `first-last` (inclusive, zero-based):
    /// fills Content-Range, Content-Length and the body.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub range: Option<Spanned<String>>,
    /// Overrides the total in Content-Range (default: the upload file's size).
    #[serde(default)]
    pub total: Option<u64>,
    /// Generates the range's bytes with this seed instead of the file's: same
    /// offsets, different content (to detect overwrites).
    #[serde(default)]
    pub seed: Option<u64>,
    /// A literal request body (templated).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// A request body read from this file (relative to the scenario's folder), sent
    /// byte for byte: what `bitspec record` writes for a body that is no generated file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body_file: Option<Spanned<String>>,
    /// The farm node this step goes to: its 1-based index in the profile's `nodes`, or a
    /// template resolved when the step runs to an index or to a node's `host_id`
    /// (`"${host}"` after capturing BITS-Host-Id). Default: the target. Each node has
    /// its own keep-alive connection. A scenario with `node:` steps is skipped against a
    /// profile that names no farm nodes.
    #[serde(default)]
    #[schemars(with = "Option<ScalarText>")]
    pub node: Option<Spanned<ScalarText>>,
    /// Instead of a request: run the profile's `stop` command for this node (1-based),
    /// to see what the farm does when a node dies. The scenario is skipped when the
    /// profile gives no `stop` for that node; such scenarios run last, one at a time.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub stop_node: Option<Spanned<u32>>,
    /// `new` opens a fresh TCP connection for this step and those after it;
    /// `close-after` closes the connection once this step is done.
    #[serde(default)]
    pub connection: Option<ConnectionMode>,
    /// Send these exact bytes instead of a request built from the keys above.
    #[serde(default)]
    pub raw: Option<RawRequest>,
    /// Send this step through the built-in fault proxy, which breaks the exchange.
    #[serde(default)]
    pub fault: Option<Fault>,
    /// A seeded, generated fragment schedule checked against a model of the protocol
    /// (a whole upload: Create-Session, the fragments, Close-Session, GET).
    #[serde(default)]
    pub generate: Option<Generate>,
    /// Per-step timeout in seconds (default: the run's step timeout).
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Seconds to wait before sending this step (to let a session time out, say): a
    /// number, or a template such as `"${session_timeout}"` read at run time.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub delay: Option<Spanned<NumberText>>,
    /// Target capabilities this step needs; without them the step is not sent and the
    /// outcome notes what could not be verified (e.g. content without `get-uploads`).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub requires: Vec<Spanned<String>>,
    /// The id (in `scenarios/requirements.yaml`) of the requirement this step's
    /// expectations check. A mismatch is graded at that requirement's level (must fails,
    /// should warns, may is noted), not at the scenario's; `expect.requirement_for`
    /// names another requirement for a single check.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub requirement: Option<Spanned<String>>,
    /// What the response must look like (every step but `generate` has one).
    #[serde(default)]
    #[schemars(with = "Option<Expect>")]
    pub expect: Option<Spanned<Expect>>,
    /// Response header -> variable name, usable as `${name}` in later steps; the key
    /// `$body` captures the response body (as text, up to 64 KiB).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub capture: IndexMap<String, Spanned<String>>,
    /// A reusable step of `scenarios/steps/` (its file stem) this step is built from:
    /// the keys written here override the reusable step's, `with` fills its parameters,
    /// and `expect` adds or replaces single checks (`without` drops some).
    #[serde(default, rename = "use")]
    #[schemars(with = "Option<String>")]
    pub uses: Option<Spanned<String>>,
    /// Parameter values of the reusable step named by `use` (parameter -> value).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ScalarText>")]
    pub with: IndexMap<String, Spanned<ScalarText>>,
}

impl Step {
    /// The request-shaping keys this step sets, in a fixed order: special steps
    /// (`generate`, `stop_node`) refuse the ones they cannot honour.
    pub fn keys_set(&self) -> Vec<&'static str> {
        [
            ("packet", self.packet.is_some()),
            ("method", self.method.is_some()),
            ("url", self.url.is_some()),
            ("headers", !self.headers.is_empty()),
            ("omit", !self.omit.is_empty()),
            ("range", self.range.is_some()),
            ("body", self.body.is_some()),
            ("body_file", self.body_file.is_some()),
            ("raw", self.raw.is_some()),
            ("fault", self.fault.is_some()),
            ("generate", self.generate.is_some()),
            ("expect", self.expect.is_some()),
            ("capture", !self.capture.is_empty()),
            ("node", self.node.is_some()),
            ("connection", self.connection.is_some()),
            ("requirement", self.requirement.is_some()),
            ("stop_node", self.stop_node.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }

    /// The keys of [`Step::keys_set`] not in `allowed`, quoted for a message.
    pub fn clashing_keys(&self, allowed: &[&str]) -> Vec<String> {
        self.keys_set()
            .into_iter()
            .filter(|key| !allowed.contains(key))
            .map(|key| format!("`{key}`"))
            .collect()
    }
}

/// Which TCP connection a step is sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// The scenario's keep-alive connection (the default).
    Same,
    /// A new connection, kept for the following steps.
    New,
    /// The current connection (or a new one if it is closed), closed after this step.
    CloseAfter,
}

/// A request written as bytes. Lines are templates (`${name}`), each sent followed by
/// `eol`; a blank line ends the head unless `end_head: false`; then the body: `body`,
/// or the step's `range` of the upload file. Nothing is added (no Host, no Content-Length)
/// but the profile's credentials, as a line after the request line, unless `credentials: false`.
/// Built-ins for raw lines: `${host}` (the target's `host:port`), `${upload_path}`
/// (the path of `${upload_url}`), `${content_length}` (the body's length) and, with a
/// `range`, `${content_range}` (`bytes first-last/total`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// Request line and header lines, without line ends.
    #[schemars(with = "Vec<String>")]
    pub lines: Vec<Spanned<String>>,
    /// Line end: `crlf` (default) or `lf` (bare LF, to test a lenient server).
    #[serde(default)]
    pub eol: Option<Eol>,
    /// Send the blank line that ends the head (default true).
    #[serde(default)]
    pub end_head: Option<bool>,
    /// A literal body (templated); exclusive with the step's `range`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// Shut down the sending side after the bytes, so the server reads end-of-file.
    #[serde(default)]
    pub half_close: bool,
    /// Add the profile's Authorization line (default true; a line that sets it wins).
    #[serde(default)]
    pub credentials: Option<bool>,
}

/// Line ends of a raw request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Eol {
    Crlf,
    Lf,
}

/// What the fault proxy does to this step's exchange. The step is sent on its own
/// connection through the proxy; later steps use a new direct connection.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Forward this many request bytes (head included), then cut both connections.
    #[serde(default)]
    pub cut_after_request_bytes: Option<u64>,
    /// Forward the request head and this many body bytes, then cut both connections.
    #[serde(default)]
    pub cut_after_body_bytes: Option<u64>,
    /// Hold the response this many milliseconds before forwarding it.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Let the request reach the server, discard its response and close the connection.
    #[serde(default)]
    pub drop_response: bool,
}

/// A generated fragment schedule (see docs/scenario-format.md, "Generated schedules").
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// Seed of the schedule; the same seed gives the same schedule.
    pub seed: u64,
    /// Random fragments before the upload is completed in order (default 12).
    #[serde(default)]
    pub fragments: Option<u32>,
    /// Largest fragment in bytes (default a quarter of the file; at most the file and 64 MiB).
    #[serde(default)]
    pub max_fragment: Option<u64>,
    /// Shrink a failing schedule to a minimal one (default true).
    #[serde(default)]
    pub shrink: Option<bool>,
}

/// Expectations on one response.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A status or a list of acceptable statuses.
    #[serde(default)]
    #[schemars(with = "Option<StatusSpec>")]
    pub status: Option<Spanned<StatusSpec>>,
    /// Per-header checks; names are case-insensitive.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, HeaderCheck>")]
    pub headers: IndexMap<String, Spanned<HeaderCheck>>,
    /// The BITS error headers: `none`, or a code and context, matched under
    /// either header name (`BITS-Error-Code` or `BITS-Error`) and any hex spelling.
    #[serde(default)]
    #[schemars(with = "Option<ErrorSpec>")]
    pub error: Option<Spanned<ErrorSpec>>,
    /// The response body.
    #[serde(default)]
    #[schemars(with = "Option<BodyCheck>")]
    pub body: Option<Spanned<BodyCheck>>,
    /// `present` (the server must answer) or `none` (it must not: it closes the
    /// connection, or stays silent until the step's timeout). Without it a response is
    /// assumed, and a missing one is an error rather than a failure.
    #[serde(default)]
    #[schemars(with = "Option<ResponsePresence>")]
    pub response: Option<Spanned<ResponsePresence>>,
    /// The connection after the exchange: `closed` by the server within the step's
    /// timeout, or still `open` (not closed within half a second of the response).
    #[serde(default)]
    #[schemars(with = "Option<ConnectionState>")]
    pub connection: Option<Spanned<ConnectionState>>,
    /// Acceptable HTTP versions of the response (default `HTTP/1.1`, MC-BUP 2.2.1;
    /// another version is then an error, not a failure).
    #[serde(default)]
    #[schemars(with = "Option<VersionSpec>")]
    pub version: Option<Spanned<VersionSpec>>,
    /// `strict`: the response must follow the message syntax of RFC 2616 section 6
    /// exactly (CRLF line ends, a complete status line, no folding); the transport
    /// otherwise reads such responses leniently.
    #[serde(default)]
    #[schemars(with = "Option<FormatCheck>")]
    pub format: Option<Spanned<FormatCheck>>,
    /// Alternative legal readings of an ambiguous requirement; at least one
    /// must hold. The outcome records which one the target followed.
    #[serde(default)]
    #[schemars(with = "Vec<Reading>")]
    pub readings: Vec<Spanned<Reading>>,
    /// The requirement each check verifies, where it is not the step's `requirement`:
    /// check -> requirement id. A check is `status`, `error`, `body`, `response`,
    /// `connection`, `version`, `format`, `readings`, or a header name under `headers`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub requirement_for: IndexMap<String, Spanned<String>>,
    /// In a step that `use`s a reusable step: checks of the reusable step to drop
    /// (`status`, `error`, ..., or a header name), as `requirement_for` names them.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub without: Vec<Spanned<String>>,
}

/// How closely a response must follow the HTTP message syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FormatCheck {
    Strict,
}

/// Whether a response must come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResponsePresence {
    Present,
    None,
}

/// The state of the connection after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    Open,
    Closed,
}

/// One HTTP version (`HTTP/1.1`) or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSpec(pub Vec<String>);

impl<'de> Deserialize<'de> for VersionSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionVisitor;
        impl<'de> Visitor<'de> for VersionVisitor {
            type Value = VersionSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an HTTP version such as \"HTTP/1.1\", or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VersionSpec, E> {
                Ok(VersionSpec(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<VersionSpec, A::Error> {
                let mut versions = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    versions.push(v);
                }
                if versions.is_empty() {
                    return Err(de::Error::custom("the list of versions is empty"));
                }
                Ok(VersionSpec(versions))
            }
        }
        deserializer.deserialize_any(VersionVisitor)
    }
}

impl JsonSchema for VersionSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VersionSpec".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An HTTP version (`HTTP/1.1`) or a non-empty list of acceptable versions.",
            "oneOf": [
                { "type": "string" },
                { "type": "array", "minItems": 1, "items": { "type": "string" } }
            ]
        })
    }
}

/// One named, cited reading of an ambiguity.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// Short name, e.g. `msdn` or `mc-bup`.
    pub reading: String,
    /// Where this reading comes from.
    pub cite: String,
    /// An informational finding recorded when the target follows this reading
    /// (e.g. "Windows clients are known to reject 201 on Create-Session").
    #[serde(default)]
    pub note: Option<String>,
    /// When the target follows this reading, an optional capability the scenario is
    /// about is absent (a farm that pins sessions to a node, say): the scenario stops
    /// here and is reported as skipped with this reason, never failed.
    #[serde(default)]
    pub capability_absent: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<StatusSpec>")]
    pub status: Option<Spanned<StatusSpec>>,
    #[serde(default)]
    #[schemars(with = "IndexMap<String, HeaderCheck>")]
    pub headers: IndexMap<String, Spanned<HeaderCheck>>,
    #[serde(default)]
    #[schemars(with = "Option<ErrorSpec>")]
    pub error: Option<Spanned<ErrorSpec>>,
    /// `present` or `none`, as in `expect`.
    #[serde(default)]
    #[schemars(with = "Option<ResponsePresence>")]
    pub response: Option<Spanned<ResponsePresence>>,
    /// `open` or `closed`, as in `expect`.
    #[serde(default)]
    #[schemars(with = "Option<ConnectionState>")]
    pub connection: Option<Spanned<ConnectionState>>,
}

/// One or several acceptable HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec(pub Vec<u16>);

impl<'de> Deserialize<'de> for StatusSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = StatusSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an HTTP status (100-599) or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusSpec, E> {
                Ok(StatusSpec(vec![status_code(v)?]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusSpec, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("a status cannot be negative"))?;
                self.visit_u64(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StatusSpec, A::Error> {
                let mut codes = Vec::new();
                while let Some(v) = seq.next_element::<u64>()? {
                    codes.push(status_code(v)?);
                }
                if codes.is_empty() {
                    return Err(de::Error::custom("the list of statuses is empty"));
                }
                Ok(StatusSpec(codes))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

fn status_code<E: de::Error>(v: u64) -> Result<u16, E> {
    match u16::try_from(v) {
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        _ => Err(E::custom(format!("{v} is not an HTTP status (100-599)"))),
    }
}

/// A check on one response header. Values are templated (`${name}`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HeaderCheck {
    /// The header is there, whatever its value.
    Present,
    /// The header is not there.
    Absent,
    /// Exactly this value (surrounding whitespace ignored).
    Equals(String),
    /// This value, ignoring ASCII case (BITS tokens, GUIDs).
    EqualsIgnoreCase(String),
    /// The value matches this regular expression (anchor it yourself).
    Matches(String),
    /// One of these values, ignoring ASCII case.
    OneOf(Vec<String>),
    /// Absent, or present with exactly this value ignoring case (e.g. an echoed session id).
    AbsentOrEquals(String),
    /// The same number as this hexadecimal value, with or without `0x`, in any case.
    Hex(String),
    /// A decimal number within `first-last` (inclusive; templated, e.g. `"1000-${cut}"`).
    Between(String),
}

/// Expectation on the BITS error headers.
#[derive(Debug, Clone)]
pub enum ErrorSpec {
    /// Neither `BITS-Error-Code`, `BITS-Error` nor `BITS-Error-Context`.
    None,
    /// An error code and/or context, compared as numbers.
    Is {
        code: Option<String>,
        context: Option<String>,
    },
}

impl<'de> Deserialize<'de> for ErrorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ErrorVisitor;
        impl<'de> Visitor<'de> for ErrorVisitor {
            type Value = ErrorSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`none` or a map with `code` and/or `context`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ErrorSpec, E> {
                if v == "none" {
                    Ok(ErrorSpec::None)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ErrorSpec, A::Error> {
                let (mut code, mut context) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "code" => code = Some(map.next_value::<HexText>()?.0),
                        "context" => context = Some(map.next_value::<HexText>()?.0),
                        other => return Err(de::Error::unknown_field(other, &["code", "context"])),
                    }
                }
                if code.is_none() && context.is_none() {
                    return Err(de::Error::custom("give `code`, `context` or both"));
                }
                Ok(ErrorSpec::Is { code, context })
            }
        }
        deserializer.deserialize_any(ErrorVisitor)
    }
}

/// A hexadecimal number written as a string (`"0x5"`) or, by YAML, already a number.
struct HexText(String);

impl<'de> Deserialize<'de> for HexText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = HexText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a hexadecimal number such as \"0x8020001F\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HexText, E> {
                Ok(HexText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HexText, E> {
                Ok(HexText(format!("{v:#x}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HexText, E> {
                Ok(HexText(format!("{v:#x}")))
            }
        }
        deserializer.deserialize_any(HexVisitor)
    }
}

/// A scalar written as a string, a number or a boolean, kept as text (a parameter value).
#[derive(Debug, Clone)]
pub struct ScalarText(pub String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl JsonSchema for ScalarText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ScalarText".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A value written as a string, a number or a boolean.",
            "type": ["string", "number", "boolean"]
        })
    }
}

/// A file of `scenarios/steps/`: one reusable step, used by its file stem (`use: open-session`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "bitspec reusable step")]
pub struct ReusableStepDoc {
    /// What the step does and checks, for authors.
    #[serde(default)]
    pub about: Option<String>,
    /// Parameters, used as `${name}` anywhere in `step` and given by `with:` at the use site.
    #[serde(default)]
    pub params: IndexMap<String, ParamSpec>,
    /// The step, written as in a scenario (but without `use`).
    #[schemars(with = "Step")]
    pub step: Spanned<Step>,
}

/// One parameter of a reusable step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// What the value means.
    #[serde(default)]
    pub about: Option<String>,
    /// The value when `with` does not give one; without it the parameter must be given.
    #[serde(default)]
    #[schemars(with = "Option<ScalarText>")]
    pub default: Option<Spanned<ScalarText>>,
}

/// A number written as a number or as a (templated) string.
#[derive(Debug, Clone)]
pub struct NumberText(pub String);

impl<'de> Deserialize<'de> for NumberText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = NumberText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds, or a template such as \"${session_timeout}\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberText, E> {
                Ok(NumberText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// Expectation on the response body.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BodyCheck {
    /// No body bytes at all.
    Empty,
    /// Exactly the scenario's upload file.
    File,
    /// Exactly this text (templated).
    Equals(String),
    /// The body, as text, contains this text (templated).
    Contains(String),
    /// The body, as text, matches this regular expression (bodies up to 64 KiB; use
    /// `(?s)` to let `.` cross lines).
    Matches(String),
}

// Hand-written schemas for the types with hand-written deserializers.

impl JsonSchema for StatusSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusSpec".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An HTTP status (100-599) or a non-empty list of acceptable statuses.",
            "oneOf": [
                { "type": "integer", "minimum": 100, "maximum": 599 },
                { "type": "array", "minItems": 1, "items": { "type": "integer", "minimum": 100, "maximum": 599 } }
            ]
        })
    }
}

impl JsonSchema for ErrorSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorSpec".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let hex = serde_json::json!({ "type": ["string", "integer"], "description": "A hexadecimal number such as 0x8020001F" });
        schemars::json_schema!({
            "description": "`none` (no BITS error headers), or the expected error code and/or context, matched under BITS-Error-Code or BITS-Error in any hexadecimal spelling.",
            "oneOf": [
                { "const": "none" },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "minProperties": 1,
                    "properties": { "code": hex, "context": hex }
                }
            ]
        })
    }
}
