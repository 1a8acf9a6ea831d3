//! Validation of `expect` blocks: statuses, header checks, BITS error headers, bodies,
//! transport expectations and readings.

use super::Validator;
use super::parse::{is_token, parse_hex, split_range};
use crate::scenario::model::{self, ErrorSpec, HeaderCheck, ResponsePresence, Spanned};
use crate::scenario::plan::*;
use std::collections::HashSet;

impl Validator {
    pub(super) fn expect(&mut self, spanned: &Spanned<model::Expect>) -> ExpectPlan {
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
            requirement: None,
            requirement_for: Vec::new(),
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
                capability_absent: r.value.capability_absent.clone(),
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
        plan.requirement_for = self.requirement_for(e);
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

    /// `requirement_for`: each key must name a check this `expect` makes.
    fn requirement_for(&mut self, e: &model::Expect) -> Vec<(String, RequirementRef)> {
        let mut out = Vec::new();
        for (key, id) in &e.requirement_for {
            let check = key.to_ascii_lowercase();
            let made = match check.as_str() {
                "status" => e.status.is_some(),
                "error" => e.error.is_some(),
                "body" => e.body.is_some(),
                "response" => e.response.is_some(),
                "connection" => e.connection.is_some(),
                "version" => e.version.is_some(),
                "format" => e.format.is_some(),
                "readings" => !e.readings.is_empty(),
                _ => e.headers.keys().any(|h| h.eq_ignore_ascii_case(key)),
            };
            if !made {
                let checks = CHECK_KEYS
                    .iter()
                    .map(|k| (*k).to_owned())
                    .chain(e.headers.keys().cloned());
                let help =
                    super::did_you_mean(key, checks.collect::<Vec<_>>().iter().map(String::as_str));
                self.error(
                    id,
                    format!("`requirement_for` names `{key}`, which this `expect` does not check (a check is `status`, `error`, `body`, `response`, `connection`, `version`, `format`, `readings`, or a header under `headers`)"),
                    help,
                );
                continue;
            }
            if let Some(r) = self.requirement_ref(id) {
                out.push((check, r));
            }
        }
        out
    }

    /// A named requirement id, located; its level is looked up in the catalogue later.
    pub(super) fn requirement_ref(&mut self, id: &Spanned<String>) -> Option<RequirementRef> {
        let text = id.value.trim();
        if text.is_empty() || text.contains(char::is_whitespace) {
            self.error(
                id,
                format!(
                    "{:?} is not a requirement id (an `id` of scenarios/requirements.yaml)",
                    id.value
                ),
                None,
            );
            return None;
        }
        Some(RequirementRef {
            id: text.to_owned(),
            loc: self.loc(id),
            level: None,
        })
    }

    pub(super) fn header_checks(
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

    pub(super) fn error_spec(
        &mut self,
        spanned: &Spanned<ErrorSpec>,
    ) -> Option<Located<ErrorExpectation>> {
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
