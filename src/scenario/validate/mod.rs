//! Semantic checks on a parsed scenario, producing the runnable [`Scenario`].
//!
//! Everything that can be known before talking to a server is checked here, each
//! mistake with its location: undefined variables, captures used before they are set,
//! malformed ranges, bad regexes, invalid header names.

use super::error::{ScenarioError, did_you_mean};
use super::library::StepLibrary;
use super::load::LoadedFile;
use super::model::{self, ConnectionMode, Spanned};
use super::plan::*;
use super::template::{Template, Vars};
use crate::scenario::profile::{CAPABILITIES, PROFILE_VAR_CAPABILITIES};
use crate::shared::location::Loc;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod expect;
mod nodes;
mod parse;
mod reuse;
mod special;
mod validator;

use validator::Validator;

pub use nodes::check_nodes_against_profile;
use parse::is_token;
pub use parse::{MAX_RANGE_BYTES, parse_hex, parse_range, parse_seconds, split_range};

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
/// A `body_file` is held in memory, like a `range`.
const MAX_BODY_FILE_BYTES: u64 = 256 << 20;
/// A generated schedule uploads its whole file, so the file stays test-sized.
const MAX_GENERATED_FILE_BYTES: u64 = 1 << 30;

/// Builds the runnable scenario, or every mistake found in it (a scenario that uses no
/// reusable step; see [`validate_with`]).
pub fn validate(
    loaded: LoadedFile,
    path: &Path,
    group: &str,
    name: &str,
) -> Result<Scenario, Vec<ScenarioError>> {
    validate_with(loaded, path, group, name, &StepLibrary::default())
}

/// Builds the runnable scenario, its `use:` steps taken from `library`, or every mistake
/// found in it.
pub fn validate_with(
    loaded: LoadedFile,
    path: &Path,
    group: &str,
    name: &str,
    library: &StepLibrary,
) -> Result<Scenario, Vec<ScenarioError>> {
    let mut v = Validator {
        file: Arc::clone(&loaded.file),
        source: Arc::clone(&loaded.source),
        errors: Vec::new(),
        known: HashSet::new(),
        later_captures: HashSet::new(),
        needs_capability: Vec::new(),
        origin: None,
        params: Vars::new(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let doc = loaded.doc;
    // Steps that `use` a reusable step, merged with it first: the checks below see the
    // step that will run.
    let expanded: Vec<reuse::Expanded> = doc
        .steps
        .iter()
        .filter_map(|step| v.expand(step, library))
        .collect();
    let complete = expanded.len() == doc.steps.len();

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
        let generates = expanded.iter().any(|s| s.step.value.generate.is_some());
        if generates && spec.size.value > MAX_GENERATED_FILE_BYTES {
            v.error(
                &spec.size,
                format!(
                    "a `generate` step uploads the whole file: keep it at most {} GiB (load a server with `bitspec bench`)",
                    MAX_GENERATED_FILE_BYTES >> 30
                ),
                None,
            );
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
    for step in &expanded {
        v.later_captures
            .extend(step.step.value.capture.values().map(|s| s.value.clone()));
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
    for (index, step) in expanded.into_iter().enumerate() {
        v.origin = step.origin;
        v.params = step.params;
        if let Some(plan) = v.step(index + 1, &step.step, upload.is_some()) {
            steps.push(plan);
        }
        v.origin = None;
        v.params = Vars::new();
    }

    if !v.errors.is_empty() || !complete {
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

impl Validator {
    /// Parses a template and checks that its variables are defined at this point.
    fn template(&mut self, text: &str, loc: &Loc) -> Option<Template> {
        let text = &self.fill(text);
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
        if let Some(stop) = &step.stop_node {
            return self.stop_step(number, step, stop, loc);
        }
        let node = step.node.as_ref().and_then(|n| self.node(n));

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
            let text = self.fill(&r.value);
            let parsed = if text.contains("${") {
                self.templated_range(r)
            } else {
                parse_range(&text)
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
        let body_bytes = step
            .body_file
            .as_ref()
            .and_then(|f| self.body_file(f, step));
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
        let mut expect = match &step.expect {
            Some(e) => self.expect(e),
            None => {
                self.error_at(loc.clone(), "a step needs an `expect`".into(), None);
                ExpectPlan::default()
            }
        };
        expect.requirement = step
            .requirement
            .as_ref()
            .and_then(|r| self.requirement_ref(r));

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
        self.known
            .extend(captures.iter().map(|(_, v, _)| v.clone()));

        if self.errors.len() > errors_before || (step.node.is_some() && node.is_none()) {
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
            node,
            stop_node: None,
            headers,
            omit,
            range,
            total: step.total,
            seed: step.seed,
            body,
            body_bytes,
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

    /// The bytes of a step's `body_file`, a plain relative path inside the scenario's
    /// folder (no `..`, so a scenario cannot read what lies outside its own tree).
    fn body_file(&mut self, file: &Spanned<String>, step: &model::Step) -> Option<Arc<[u8]>> {
        if step.range.is_some() || step.body.is_some() || step.raw.is_some() {
            self.error(
                file,
                "`body_file` excludes `range`, `body` and `raw`".into(),
                None,
            );
            return None;
        }
        let relative = Path::new(&file.value);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            self.error(
                file,
                format!(
                    "body_file {:?} must be a relative path inside the scenario's folder",
                    file.value
                ),
                None,
            );
            return None;
        }
        let full = self.dir.join(relative);
        match std::fs::metadata(&full).and_then(|m| {
            if m.len() > MAX_BODY_FILE_BYTES {
                Err(std::io::Error::other(format!(
                    "it is over {} MiB",
                    MAX_BODY_FILE_BYTES >> 20
                )))
            } else {
                std::fs::read(&full)
            }
        }) {
            Ok(bytes) => Some(bytes.into()),
            Err(e) => {
                self.error(
                    file,
                    format!("cannot read body_file {}: {e}", full.display()),
                    None,
                );
                None
            }
        }
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
    fn a_body_file_stays_inside_the_scenario_folder_and_must_exist() {
        let text = format!(
            "{HEAD}steps:\n  - packet: Fragment\n    body_file: ../secret\n    expect: {{ status: 200 }}\n  - packet: Fragment\n    body_file: missing.bin\n    expect: {{ status: 200 }}\n"
        );
        let errors = check(&text).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0]
                .message
                .contains("relative path inside the scenario's folder")
        );
        assert!(
            errors[1]
                .message
                .starts_with("cannot read body_file missing.bin")
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
