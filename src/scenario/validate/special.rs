//! Validation of the special step kinds: raw requests, templated ranges, fault-proxy
//! settings and generated schedules.

use super::Validator;
use super::parse::split_range;
use super::{DEFAULT_GENERATED_FRAGMENTS, RAW_VARS};
use crate::scenario::model::ConnectionMode;
use crate::scenario::model::{self, Spanned};
use crate::scenario::plan::*;
use crate::scenario::template::Template;
use crate::shared::location::Loc;

impl Validator {
    /// `${a}-${b}`: two numeric templates, resolved when the step runs.
    pub(super) fn templated_range(&mut self, r: &Spanned<String>) -> Option<RangePlan> {
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

    pub(super) fn raw(
        &mut self,
        step: &model::Step,
        raw: &model::RawRequest,
        loc: &Loc,
    ) -> Option<RawPlan> {
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

    pub(super) fn fault(&mut self, fault: &model::Fault, loc: &Loc) -> Option<model::Fault> {
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

    pub(super) fn generate_step(
        &mut self,
        number: usize,
        step: &model::Step,
        generate: &model::Generate,
        loc: Loc,
        has_file: bool,
    ) -> Option<StepPlan> {
        let clashes = step.clashing_keys(&["generate", "body_file", "connection", "requirement"]);
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
            body_bytes: None,
            node: None,
            stop_node: None,
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
            expect: ExpectPlan {
                requirement: step
                    .requirement
                    .as_ref()
                    .and_then(|r| self.requirement_ref(r)),
                ..ExpectPlan::default()
            },
            captures: Vec::new(),
        })
    }
}
