//! Semantic checks on a parsed scenario, producing the runnable [`Scenario`].
//!
//! Everything that can be known before talking to a server is checked here, each
//! mistake with its location: undefined variables, captures used before they are set,
//! malformed ranges, bad regexes, invalid header names.

use super::error::{ScenarioError, did_you_mean};
use super::load::LoadedFile;
use super::model::{self, ConnectionMode, ErrorSpec, HeaderCheck, ResponsePresence, Spanned};
use super::plan::*;
use super::template::Template;
use crate::location::Loc;
use crate::profile::{CAPABILITIES, PROFILE_VAR_CAPABILITIES};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The `capture` key that captures the response body instead of a header.
pub const BODY_CAPTURE: &str = "$body";

/// Variables every scenario has, whatever the target.
pub const BUILTIN_VARS: &[&str] = &["upload_url", "target", "protocol", "scenario_id"];
/// Variables that exist when the scenario declares a `file`.
pub const FILE_VARS: &[&str] = &["file_size", "last_byte"];
/// Variables that exist in the lines and body of a `raw` request.
pub const RAW_VARS: &[&str] = &["host", "upload_path", "content_length"];
/// Default number of random fragments of a `generate` step.
const DEFAULT_GENERATED_FRAGMENTS: u32 = 12;

/// Builds the runnable scenario, or every mistake found in it.
pub fn validate(
    loaded: LoadedFile,
    path: &Path,
    group: &str,
    name: &str,
) -> Result<Scenario, Vec<ScenarioError>> {
    let mut v = Validator {
        file: Arc::clone(&loaded.file),
        source: Arc::clone(&loaded.source),
        errors: Vec::new(),
        known: HashSet::new(),
        later_captures: HashSet::new(),
        needs_capability: Vec::new(),
    };
    let doc = loaded.doc;

    let id = doc.id.value.trim().to_owned();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        v.error(
            &doc.id,
            format!("id {id:?} must be non-empty and use only letters, digits, `-`, `_` and `.`"),
            None,
        );
    }
    v.known.extend(BUILTIN_VARS.iter().map(|s| s.to_string()));

    let upload = doc.file.as_ref().map(|f| UploadFile {
        size: f.size.value,
        seed: f.seed,
    });
    if let Some(spec) = &doc.file {
        if spec.size.value == 0 {
            v.error(&spec.size, "the upload file must have at least 1 byte (a Content-Range cannot describe an empty file)".into(), None);
        }
        v.known.extend(FILE_VARS.iter().map(|s| s.to_string()));
    }
    let requires = v.capabilities(&doc.requires);
    // Profile values exist only where the profile has the capability that defines them.
    for (var, capability) in PROFILE_VAR_CAPABILITIES {
        if requires.iter().any(|r| r == capability) {
            v.known.insert((*var).to_owned());
        } else {
            v.needs_capability.push((*var, *capability));
        }
    }

    let mut vars = Vec::new();
    for (name, value) in &doc.vars {
        let loc = v.loc(value);
        if let Some(t) = v.template(&value.value, &loc) {
            vars.push((name.clone(), t));
        }
        v.known.insert(name.clone());
    }

    // Names captured anywhere, to say "captured later" instead of "undefined".
    for step in &doc.steps {
        v.later_captures
            .extend(step.value.capture.values().map(|s| s.value.clone()));
    }

    if doc.steps.is_empty() {
        v.errors.push(
            ScenarioError::new(
                "a scenario needs at least one step",
                Some(Loc::of(&v.file, &doc.id)),
            )
            .with_source(&v.source),
        );
    }
    let mut steps = Vec::new();
    for (index, step) in doc.steps.iter().enumerate() {
        if let Some(plan) = v.step(index + 1, step, upload.is_some()) {
            steps.push(plan);
        }
    }

    if !v.errors.is_empty() {
        return Err(v.errors);
    }
    Ok(Scenario {
        id,
        name: name.to_owned(),
        group: group.to_owned(),
        path: path.to_path_buf(),
        file: loaded.file,
        title: doc.title,
        spec: doc.spec,
        level: doc.level,
        tags: doc.tags,
        requirements: doc.requirements,
        requires,
        description: doc.description,
        upload,
        vars,
        steps,
    })
}

struct Validator {
    file: Arc<str>,
    source: Arc<str>,
    errors: Vec<ScenarioError>,
    /// Variables defined so far (built-ins, vars, earlier captures).
    known: HashSet<String>,
    later_captures: HashSet<String>,
    /// Profile variables the scenario may not use without requiring their capability.
    needs_capability: Vec<(&'static str, &'static str)>,
}

impl Validator {
    fn loc<T>(&self, s: &Spanned<T>) -> Loc {
        Loc::of(&self.file, s)
    }

    fn error<T>(&mut self, at: &Spanned<T>, message: String, help: Option<String>) {
        let loc = self.loc(at);
        self.error_at(loc, message, help);
    }

    fn error_at(&mut self, loc: Loc, message: String, help: Option<String>) {
        self.errors.push(
            ScenarioError::new(message, Some(loc))
                .with_help(help)
                .with_source(&self.source),
        );
    }

    /// Parses a template and checks that its variables are defined at this point.
    fn template(&mut self, text: &str, loc: &Loc) -> Option<Template> {
        let template = match Template::parse(text) {
            Ok(t) => t,
            Err(message) => {
                self.error_at(loc.clone(), message, None);
                return None;
            }
        };
        let undefined: Vec<String> = template
            .variables()
            .filter(|name| !self.known.contains(*name))
            .map(str::to_owned)
            .collect();
        for name in undefined {
            if self.later_captures.contains(&name) {
                self.error_at(
                    loc.clone(),
                    format!("`${{{name}}}` is used before the step that captures it"),
                    None,
                );
            } else if let Some((_, capability)) =
                self.needs_capability.iter().find(|(v, _)| *v == name)
            {
                self.error_at(loc.clone(), format!("`${{{name}}}` comes from the target profile: add `requires: [{capability}]` to the scenario"), None);
            } else if FILE_VARS.contains(&name.as_str()) {
                self.error_at(
                    loc.clone(),
                    format!("`${{{name}}}` needs a `file:` in the scenario"),
                    None,
                );
            } else {
                let help = did_you_mean(&name, self.known.iter().map(String::as_str));
                self.error_at(
                    loc.clone(),
                    format!("undefined variable `${{{name}}}`"),
                    help,
                );
            }
        }
        Some(template)
    }

    fn step(
        &mut self,
        number: usize,
        spanned: &Spanned<model::Step>,
        has_file: bool,
    ) -> Option<StepPlan> {
        let errors_before = self.errors.len();
        let step = &spanned.value;
        let loc = self.loc(spanned);
        if let Some(generate) = &step.generate {
            return self.generate_step(number, step, generate, loc, has_file);
        }

        let packet = step.packet.as_ref().map(|p| {
            if p.value.trim().is_empty() || !is_token(&p.value) {
                self.error(
                    p,
                    format!(
                        "packet type {:?} is not a valid header value token",
                        p.value
                    ),
                    None,
                );
            }
            p.value.clone()
        });
        let method = match &step.method {
            Some(m) if is_token(&m.value) => m.value.clone(),
            Some(m) => {
                self.error(
                    m,
                    format!("method {:?} is not a valid HTTP method token", m.value),
                    None,
                );
                String::new()
            }
            None => "BITS_POST".to_owned(),
        };
        let url = match &step.url {
            Some(u) => {
                let l = self.loc(u);
                self.template(&u.value, &l)
            }
            None => {
                Some(Template::parse("${upload_url}").unwrap_or_else(|_| Template::literal("")))
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &step.headers {
            let l = self.loc(value);
            if !is_token(name) {
                self.error_at(
                    l.clone(),
                    format!("{name:?} is not a valid header name"),
                    None,
                );
            }
            if value.value.contains(['\r', '\n']) {
                self.error_at(
                    l.clone(),
                    format!("the value of header {name} contains a line break"),
                    None,
                );
            }
            if let Some(t) = self.template(&value.value, &l) {
                headers.push((name.clone(), t));
            }
        }
        let omit = step
            .omit
            .iter()
            .map(|o| o.value.to_ascii_lowercase())
            .collect();

        let range = step.range.as_ref().and_then(|r| {
            let parsed = if r.value.contains("${") {
                self.templated_range(r)
            } else {
                parse_range(&r.value)
                    .map(RangePlan::Fixed)
                    .map_err(|m| self.error(r, m, None))
                    .ok()
            };
            if parsed.is_some() && !has_file {
                self.error(
                    r,
                    "`range` needs a `file:` in the scenario to take bytes from".into(),
                    None,
                );
            }
            parsed
        });
        if step.range.is_none() && (step.total.is_some() || step.seed.is_some()) {
            self.error_at(
                loc.clone(),
                "`total` and `seed` only apply to a step with a `range`".into(),
                None,
            );
        }
        let body = match &step.body {
            Some(b) if step.range.is_some() => {
                self.error(
                    b,
                    "a step has either a `range` or a `body`, not both".into(),
                    None,
                );
                None
            }
            Some(b) => {
                let l = self.loc(b);
                self.template(&b.value, &l)
            }
            None => None,
        };
        let timeout = self.timeout(step.timeout, &loc);

        let delay = step.delay.as_ref().and_then(|d| {
            let l = self.loc(d);
            let template = self.template(&d.value.0, &l)?;
            if template.variables().next().is_none() && parse_seconds(&d.value.0).is_err() {
                self.error_at(
                    l,
                    format!(
                        "delay {:?} must be a number of seconds from 0 to 3600",
                        d.value.0
                    ),
                    None,
                );
                return None;
            }
            Some(template)
        });

        let raw = step.raw.as_ref().and_then(|raw| self.raw(step, raw, &loc));
        let fault = step.fault.as_ref().and_then(|f| self.fault(f, &loc));

        let requires = self.capabilities(&step.requires);
        let expect = match &step.expect {
            Some(e) => self.expect(e),
            None => {
                self.error_at(loc.clone(), "a step needs an `expect`".into(), None);
                ExpectPlan::default()
            }
        };

        let mut captures = Vec::new();
        for (header, var) in &step.capture {
            if header != BODY_CAPTURE && !is_token(header) {
                self.error(var, format!("{header:?} is not a valid header name"), None);
            }
            let name = var.value.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.error(
                    var,
                    format!("{name:?} is not a valid variable name (letters, digits, `_`, `-`)"),
                    None,
                );
            }
            if BUILTIN_VARS.contains(&name) || FILE_VARS.contains(&name) {
                self.error(
                    var,
                    format!("`{name}` is a built-in variable and cannot be captured into"),
                    None,
                );
            }
            captures.push((header.clone(), name.to_owned(), self.loc(var)));
        }
        // Captures become visible to the following steps only.
        self.known.extend(captures.iter().map(|(_, v, _)| v.clone()));

        if self.errors.len() > errors_before {
            return None;
        }
        let label = step
            .name
            .clone()
            .or_else(|| packet.clone())
            .unwrap_or_else(|| method.clone());
        Some(StepPlan {
            number,
            label,
            loc,
            packet,
            method,
            url: url?,
            headers,
            omit,
            range,
            total: step.total,
            seed: step.seed,
            body,
            connection: step.connection.unwrap_or(ConnectionMode::Same),
            raw,
            fault,
            generate: None,
            timeout,
            delay,
            requires,
            expect,
            captures,
        })
    }

    /// `${a}-${b}`: two numeric templates, resolved when the step runs.
    fn templated_range(&mut self, r: &Spanned<String>) -> Option<RangePlan> {
        let loc = self.loc(r);
        let Some((a, b)) = split_range(&r.value) else {
            self.error(
                r,
                format!(
                    "range {:?} must be `first-last`, e.g. `${{resume}}-${{last_byte}}`",
                    r.value
                ),
                None,
            );
            return None;
        };
        let first = self.template(a, &loc)?;
        let last = self.template(b, &loc)?;
        Some(RangePlan::Templated { first, last })
    }

    fn raw(&mut self, step: &model::Step, raw: &model::RawRequest, loc: &Loc) -> Option<RawPlan> {
        let clashes: Vec<&str> = [
            ("packet", step.packet.is_some()),
            ("method", step.method.is_some()),
            ("headers", !step.headers.is_empty()),
            ("omit", !step.omit.is_empty()),
            ("body", step.body.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        if !clashes.is_empty() {
            self.error_at(
                loc.clone(),
                format!(
                    "a `raw` step writes its own bytes: drop {}",
                    clashes
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            );
        }
        if raw.lines.is_empty() {
            self.error_at(
                loc.clone(),
                "`raw.lines` needs at least the request line".into(),
                None,
            );
        }
        if raw.body.is_some() && step.range.is_some() {
            self.error_at(
                loc.clone(),
                "a raw step has either `raw.body` or a `range`, not both".into(),
                None,
            );
        }
        let mut added: Vec<String> = RAW_VARS.iter().map(|v| v.to_string()).collect();
        if step.range.is_some() {
            added.push("content_range".into());
        }
        let added: Vec<String> = added
            .into_iter()
            .filter(|v| self.known.insert(v.clone()))
            .collect();
        let mut lines = Vec::new();
        for line in &raw.lines {
            let l = self.loc(line);
            if line.value.contains(['\r', '\n']) {
                self.error(
                    line,
                    "a raw line holds no line break: `eol` adds them".into(),
                    None,
                );
            }
            lines.extend(self.template(&line.value, &l));
        }
        let body = raw.body.as_ref().and_then(|b| {
            let l = self.loc(b);
            self.template(&b.value, &l)
        });
        for v in added {
            self.known.remove(&v);
        }
        (lines.len() == raw.lines.len()).then(|| RawPlan {
            lines,
            eol: raw.eol.unwrap_or(model::Eol::Crlf),
            end_head: raw.end_head.unwrap_or(true),
            body,
            half_close: raw.half_close,
            credentials: raw.credentials.unwrap_or(true),
        })
    }

    fn fault(&mut self, fault: &model::Fault, loc: &Loc) -> Option<model::Fault> {
        let breaks = [
            fault.cut_after_request_bytes.is_some(),
            fault.cut_after_body_bytes.is_some(),
            fault.drop_response,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if breaks > 1 {
            self.error_at(loc.clone(), "a fault cuts the request or drops the response, not both: choose one of `cut_after_request_bytes`, `cut_after_body_bytes`, `drop_response`".into(), None);
            return None;
        }
        if breaks == 0 && fault.delay_ms.is_none() {
            self.error_at(loc.clone(), "an empty `fault` does nothing: give `cut_after_request_bytes`, `cut_after_body_bytes`, `drop_response` or `delay_ms`".into(), None);
            return None;
        }
        Some(fault.clone())
    }

    fn generate_step(
        &mut self,
        number: usize,
        step: &model::Step,
        generate: &model::Generate,
        loc: Loc,
        has_file: bool,
    ) -> Option<StepPlan> {
        let others = [
            ("packet", step.packet.is_some()),
            ("method", step.method.is_some()),
            ("url", step.url.is_some()),
            ("headers", !step.headers.is_empty()),
            ("omit", !step.omit.is_empty()),
            ("range", step.range.is_some()),
            ("body", step.body.is_some()),
            ("raw", step.raw.is_some()),
            ("fault", step.fault.is_some()),
            ("expect", step.expect.is_some()),
            ("capture", !step.capture.is_empty()),
        ];
        let clashes: Vec<String> = others
            .iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| format!("`{k}`"))
            .collect();
        if !clashes.is_empty() {
            self.error_at(loc.clone(), format!("a `generate` step runs a whole upload and checks it against the model: drop {}", clashes.join(", ")), None);
        }
        if !has_file {
            self.error_at(
                loc.clone(),
                "a `generate` step needs a `file:` in the scenario".into(),
                None,
            );
            return None;
        }
        let fragments = generate.fragments.unwrap_or(DEFAULT_GENERATED_FRAGMENTS);
        if fragments == 0 || fragments > 1000 {
            self.error_at(
                loc.clone(),
                format!("`fragments: {fragments}` must be between 1 and 1000"),
                None,
            );
        }
        if generate.max_fragment == Some(0) {
            self.error_at(
                loc.clone(),
                "`max_fragment` must be at least 1".into(),
                None,
            );
        }
        let requires = self.capabilities(&step.requires);
        let timeout = self.timeout(step.timeout, &loc);
        if let Some(d) = &step.delay {
            self.error(
                d,
                "`delay` does not apply to a `generate` step (it runs a whole upload)".into(),
                None,
            );
        }
        let delay = None;
        if !clashes.is_empty()
            || fragments == 0
            || fragments > 1000
            || generate.max_fragment == Some(0)
        {
            return None;
        }
        Some(StepPlan {
            number,
            label: step
                .name
                .clone()
                .unwrap_or_else(|| format!("generated schedule (seed {})", generate.seed)),
            loc,
            packet: None,
            method: "BITS_POST".into(),
            url: Template::parse("${upload_url}").unwrap_or_else(|_| Template::literal("")),
            headers: Vec::new(),
            omit: Vec::new(),
            range: None,
            total: None,
            seed: None,
            body: None,
            connection: step.connection.unwrap_or(ConnectionMode::Same),
            raw: None,
            fault: None,
            generate: Some(GeneratePlan {
                seed: generate.seed,
                fragments,
                max_fragment: generate.max_fragment.unwrap_or(0),
                shrink: generate.shrink.unwrap_or(true),
            }),
            timeout,
            delay,
            requires,
            expect: ExpectPlan::default(),
            captures: Vec::new(),
        })
    }

    fn expect(&mut self, spanned: &Spanned<model::Expect>) -> ExpectPlan {
        let e = &spanned.value;
        let mut plan = ExpectPlan {
            loc: Some(self.loc(spanned)),
            status: e.status.as_ref().map(|s| Located {
                value: s.value.0.clone(),
                loc: self.loc(s),
            }),
            headers: self.header_checks(&e.headers),
            error: e.error.as_ref().and_then(|s| self.error_spec(s)),
            body: None,
            response: e.response.as_ref().map(|r| Located {
                value: r.value,
                loc: self.loc(r),
            }),
            connection: e.connection.as_ref().map(|c| Located {
                value: c.value,
                loc: self.loc(c),
            }),
            version: e.version.as_ref().map(|v| Located {
                value: v.value.0.clone(),
                loc: self.loc(v),
            }),
            strict_format: e.format.as_ref().map(|f| self.loc(f)),
            readings: Vec::new(),
        };
        if let Some(r) = &e.response
            && r.value == ResponsePresence::None
            && (e.status.is_some()
                || !e.headers.is_empty()
                || e.error.is_some()
                || e.body.is_some()
                || e.version.is_some())
        {
            self.error(r, "`response: none` leaves nothing to check: drop `status`, `headers`, `error`, `body` and `version`".into(), None);
        }
        if let Some(b) = &e.body {
            let loc = self.loc(b);
            let value = match &b.value {
                model::BodyCheck::Empty => Some(BodyExpectation::Empty),
                model::BodyCheck::File => Some(BodyExpectation::File),
                model::BodyCheck::Equals(text) => {
                    self.template(text, &loc).map(BodyExpectation::Equals)
                }
                model::BodyCheck::Contains(text) => {
                    self.template(text, &loc).map(BodyExpectation::Contains)
                }
                model::BodyCheck::Matches(pattern) => match regex::Regex::new(pattern) {
                    Ok(re) => Some(BodyExpectation::Matches(re)),
                    Err(e) => {
                        self.error_at(
                            loc.clone(),
                            format!("invalid regular expression: {e}"),
                            None,
                        );
                        None
                    }
                },
            };
            plan.body = value.map(|value| Located { value, loc });
        }
        let mut names = HashSet::new();
        for r in &e.readings {
            let loc = self.loc(r);
            if !names.insert(r.value.reading.clone()) {
                self.error_at(
                    loc.clone(),
                    format!("reading `{}` is listed twice", r.value.reading),
                    None,
                );
            }
            let reading = ReadingPlan {
                name: r.value.reading.clone(),
                cite: r.value.cite.clone(),
                note: r.value.note.clone(),
                loc,
                status: r.value.status.as_ref().map(|s| Located {
                    value: s.value.0.clone(),
                    loc: self.loc(s),
                }),
                headers: self.header_checks(&r.value.headers),
                error: r.value.error.as_ref().and_then(|s| self.error_spec(s)),
                response: r.value.response.as_ref().map(|x| Located {
                    value: x.value,
                    loc: self.loc(x),
                }),
                connection: r.value.connection.as_ref().map(|x| Located {
                    value: x.value,
                    loc: self.loc(x),
                }),
            };
            if let Some(x) = &r.value.response
                && x.value == ResponsePresence::None
                && (r.value.status.is_some()
                    || !r.value.headers.is_empty()
                    || r.value.error.is_some())
            {
                self.error(x, "`response: none` leaves nothing to check: drop `status`, `headers` and `error`".into(), None);
            }
            let checks_nothing = reading.status.is_none()
                && reading.headers.is_empty()
                && reading.error.is_none()
                && reading.response.is_none()
                && reading.connection.is_none()
                && r.value.headers.is_empty();
            if checks_nothing {
                self.error_at(
                    reading.loc.clone(),
                    format!("reading `{}` checks nothing, so it would always hold: give it a `status`, `headers`, `error`, `response` or `connection`", reading.name),
                    None,
                );
            }
            plan.readings.push(reading);
        }
        let checks_nothing = plan.status.is_none()
            && plan.headers.is_empty()
            && e.headers.is_empty()
            && plan.error.is_none()
            && e.error.is_none()
            && plan.body.is_none()
            && e.body.is_none()
            && plan.response.is_none()
            && plan.connection.is_none()
            && plan.version.is_none()
            && plan.strict_format.is_none()
            && e.readings.is_empty();
        if checks_nothing {
            self.error(spanned, "this `expect` checks nothing, so the step could never fail: add a `status`, `headers`, `error`, `body`, `response`, `connection`, `version`, `format` or `readings`".into(), None);
        }
        if plan.readings.len() == 1 {
            let loc = plan.readings[0].loc.clone();
            self.error_at(
                loc,
                "`readings` lists alternatives: give at least two".into(),
                None,
            );
        }
        plan
    }

    /// A step timeout: more than 0 and at most an hour.
    fn timeout(&mut self, seconds: Option<f64>, loc: &Loc) -> Option<Duration> {
        match seconds {
            Some(t) if t.is_finite() && t > 0.0 && t <= 3600.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                self.error_at(
                    loc.clone(),
                    format!("timeout {t} must be between 0 and 3600 seconds"),
                    None,
                );
                None
            }
            None => None,
        }
    }

    fn capabilities(&mut self, names: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for name in names {
            if CAPABILITIES.contains(&name.value.as_str()) {
                out.push(name.value.clone());
            } else {
                let help = did_you_mean(&name.value, CAPABILITIES.iter().copied());
                self.error(
                    name,
                    format!(
                        "unknown capability `{}` (known: {})",
                        name.value,
                        CAPABILITIES.join(", ")
                    ),
                    help,
                );
            }
        }
        out
    }

    fn header_checks(
        &mut self,
        checks: &indexmap::IndexMap<String, Spanned<HeaderCheck>>,
    ) -> Vec<HeaderExpectation> {
        let mut out = Vec::new();
        for (name, check) in checks {
            let loc = self.loc(check);
            if !is_token(name) {
                self.error_at(
                    loc.clone(),
                    format!("{name:?} is not a valid header name"),
                    None,
                );
                continue;
            }
            let matcher = match &check.value {
                HeaderCheck::Present => Some(HeaderMatch::Present),
                HeaderCheck::Absent => Some(HeaderMatch::Absent),
                HeaderCheck::Equals(t) => self.template(t, &loc).map(HeaderMatch::Equals),
                HeaderCheck::EqualsIgnoreCase(t) => {
                    self.template(t, &loc).map(HeaderMatch::EqualsIgnoreCase)
                }
                HeaderCheck::AbsentOrEquals(t) => {
                    self.template(t, &loc).map(HeaderMatch::AbsentOrEquals)
                }
                HeaderCheck::OneOf(values) => {
                    let parsed: Vec<_> = values
                        .iter()
                        .filter_map(|t| self.template(t, &loc))
                        .collect();
                    (parsed.len() == values.len()).then_some(HeaderMatch::OneOf(parsed))
                }
                HeaderCheck::Matches(pattern) => match regex::Regex::new(pattern) {
                    Ok(re) => Some(HeaderMatch::Matches(re)),
                    Err(e) => {
                        self.error_at(
                            loc.clone(),
                            format!("invalid regular expression: {e}"),
                            None,
                        );
                        None
                    }
                },
                HeaderCheck::Between(text) => match split_range(text) {
                    Some((a, b)) => {
                        let first = self.template(a, &loc);
                        let last = self.template(b, &loc);
                        first.zip(last).map(|(a, b)| HeaderMatch::Between(a, b))
                    }
                    None => {
                        self.error_at(
                            loc.clone(),
                            format!("between {text:?} must be `first-last`, e.g. `1000-1500`"),
                            None,
                        );
                        None
                    }
                },
                HeaderCheck::Hex(text) => match parse_hex(text) {
                    Some(n) => Some(HeaderMatch::Hex(n)),
                    None => {
                        self.error_at(
                            loc.clone(),
                            format!("{text:?} is not a hexadecimal number"),
                            None,
                        );
                        None
                    }
                },
            };
            if let Some(check) = matcher {
                out.push(HeaderExpectation {
                    name: name.clone(),
                    check,
                    loc,
                });
            }
        }
        out
    }

    fn error_spec(&mut self, spanned: &Spanned<ErrorSpec>) -> Option<Located<ErrorExpectation>> {
        let loc = self.loc(spanned);
        let value = match &spanned.value {
            ErrorSpec::None => ErrorExpectation::None,
            ErrorSpec::Is { code, context } => {
                let mut parse = |text: &Option<String>, what: &str| -> Result<Option<u64>, ()> {
                    match text {
                        None => Ok(None),
                        Some(t) => parse_hex(t).map(Some).ok_or_else(|| {
                            self.error_at(
                                loc.clone(),
                                format!("error {what} {t:?} is not a hexadecimal number"),
                                None,
                            );
                        }),
                    }
                };
                let code = parse(code, "code");
                let context = parse(context, "context");
                ErrorExpectation::Is {
                    code: code.ok()?,
                    context: context.ok()?,
                }
            }
        };
        Some(Located { value, loc })
    }
}

/// An HTTP token (RFC 9110 `tchar`s).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A delay in seconds, from 0 to 3600.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "delay {text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}

/// The largest fragment a step may send: its bytes are generated in memory.
pub const MAX_RANGE_BYTES: u64 = 64 << 20;

/// `first-last`, zero-based and inclusive.
pub fn parse_range(text: &str) -> Result<ByteRange, String> {
    let bad =
        || format!("range {text:?} must be `first-last` (zero-based, inclusive), e.g. `0-1023`");
    let (a, b) = text.trim().split_once('-').ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if last < first {
        return Err(format!("range {text:?} ends before it starts"));
    }
    if last - first >= MAX_RANGE_BYTES {
        return Err(format!(
            "range {text:?} is over {} MiB: a step's body is held in memory (load a server with `bitspec bench`)",
            MAX_RANGE_BYTES >> 20
        ));
    }
    Ok(ByteRange { first, last })
}

/// Splits `first-last` at the dash outside any `${...}` (variable names may hold dashes).
pub fn split_range(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' if text[..i].ends_with('$') => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '-' if depth == 0 => {
                let (a, b) = (text[..i].trim(), text[i + 1..].trim());
                return (!a.is_empty() && !b.is_empty()).then_some((a, b));
            }
            _ => {}
        }
    }
    None
}

/// A hexadecimal number with or without `0x`, any case (`0x5`, `8020001F`).
pub fn parse_hex(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::super::load::parse_str;
    use super::*;

    fn check(text: &str) -> Result<Scenario, Vec<ScenarioError>> {
        let loaded = parse_str(Arc::from("t.yaml"), Arc::from(text)).expect("parses");
        validate(loaded, Path::new("t.yaml"), "ping", "ping::t")
    }

    const HEAD: &str = "id: x\ntitle: t\nspec: s\nlevel: must\n";

    #[test]
    fn capture_used_before_it_is_set() {
        let text = format!(
            "{HEAD}steps:\n  - packet: Fragment\n    headers: {{ BITS-Session-Id: \"${{session}}\" }}\n    expect: {{ status: 200 }}\n  - packet: Create-Session\n    expect: {{ status: 200 }}\n    capture: {{ BITS-Session-Id: session }}\n"
        );
        let errors = check(&text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            "`${session}` is used before the step that captures it"
        );
        assert_eq!(errors[0].loc.as_ref().map(|l| l.line), Some(7));
    }

    #[test]
    fn undefined_variable_suggests_a_builtin() {
        let text = format!(
            "{HEAD}steps:\n  - packet: Ping\n    url: \"${{uplod_url}}\"\n    expect: {{ status: 200 }}\n"
        );
        let errors = check(&text).unwrap_err();
        assert_eq!(errors[0].message, "undefined variable `${uplod_url}`");
        assert_eq!(
            errors[0].help.as_deref(),
            Some("did you mean `upload_url`?")
        );
    }

    #[test]
    fn range_needs_a_file_and_a_valid_shape() {
        let text = format!(
            "{HEAD}steps:\n  - packet: Fragment\n    range: 10-2\n    expect: {{ status: 200 }}\n  - packet: Fragment\n    range: 0-9\n    expect: {{ status: 200 }}\n"
        );
        let errors = check(&text).unwrap_err();
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "range \"10-2\" ends before it starts",
                "`range` needs a `file:` in the scenario to take bytes from"
            ]
        );
    }

    #[test]
    fn valid_scenario_builds_a_plan() {
        let text = format!(
            "{HEAD}file: {{ size: 10 }}\nsteps:\n  - packet: Create-Session\n    headers: {{ BITS-Supported-Protocols: \"${{protocol}}\" }}\n    expect:\n      status: [200, 201]\n      error: {{ code: 0x8020001F, context: \"0x5\" }}\n      headers: {{ BITS-Protocol: {{ hex: \"0X1f\" }} }}\n    capture: {{ BITS-Session-Id: session }}\n  - packet: Fragment\n    headers: {{ BITS-Session-Id: \"${{session}}\" }}\n    range: 0-${{last}}\n    expect: {{ status: 200 }}\n"
        );
        // `${last}` is not defined (ranges may use variables, but defined ones): one error.
        let errors = check(&text).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let plan = check(&text.replace("0-${last}", "0-9")).expect("valid");
        assert_eq!(
            plan.steps[0]
                .expect
                .status
                .as_ref()
                .map(|s| s.value.clone()),
            Some(vec![200, 201])
        );
        match &plan.steps[0].expect.error.as_ref().map(|e| &e.value) {
            Some(ErrorExpectation::Is { code, context }) => {
                assert_eq!((*code, *context), (Some(0x8020001F), Some(5)))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            plan.steps[1].range,
            Some(RangePlan::Fixed(ByteRange { first: 0, last: 9 }))
        );
    }

    #[test]
    fn checks_that_can_never_fail_are_refused() {
        let empty = format!("{HEAD}steps:\n  - packet: Ping\n    expect: {{}}\n");
        let errors = check(&empty).unwrap_err();
        assert!(
            errors[0]
                .message
                .starts_with("this `expect` checks nothing"),
            "{errors:?}"
        );
        let reading = format!(
            "{HEAD}steps:\n  - packet: Ping\n    expect:\n      readings:\n        - {{ reading: a, cite: x }}\n        - {{ reading: b, cite: y, status: 200 }}\n"
        );
        let errors = check(&reading).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].message.starts_with("reading `a` checks nothing"),
            "{errors:?}"
        );
    }

    #[test]
    fn oversized_ranges_and_misplaced_vars_are_located() {
        let big = format!(
            "{HEAD}file: {{ size: 100000000000 }}\nsteps:\n  - packet: Fragment\n    range: 0-99999999999\n    expect: {{ status: 200 }}\n"
        );
        let errors = check(&big).unwrap_err();
        assert!(errors[0].message.contains("is over 64 MiB"), "{errors:?}");
        let vars = format!(
            "{HEAD}vars:\n  a: \"${{nope}}\"\nsteps:\n  - packet: Ping\n    expect: {{ status: 200 }}\n"
        );
        let errors = check(&vars).unwrap_err();
        assert_eq!(
            errors[0].loc.as_ref().map(|l| (l.line, l.column)),
            Some((6, 6)),
            "{errors:?}"
        );
    }

    #[test]
    fn hex_accepts_every_spelling() {
        for t in [
            "0x8020001F",
            "0x8020001f",
            "8020001F",
            "0X8020001F",
            " 0x8020001F ",
        ] {
            assert_eq!(parse_hex(t), Some(0x8020001F), "{t}");
        }
        assert_eq!(parse_hex("0x"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
