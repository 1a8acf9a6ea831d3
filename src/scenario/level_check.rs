//! The level audit of `bitspec check`: an expectation may fail a server at MUST level
//! only when it names a MUST-level *server* requirement of the catalogue, that is a
//! sentence that governs what the server answers to that input. An expectation that
//! names no requirement is graded at its scenario's level, so in a MUST scenario it
//! must name one; a client-side rule never grades a server.

use crate::scenario::ScenarioError;
use crate::scenario::model::Level;
use crate::scenario::plan::{ExpectPlan, Scenario, StepPlan};
use crate::scenario::requirements::{Catalogue, Party};
use crate::shared::location::Loc;
use std::sync::Arc;

/// One error per step whose MUST-level checks name no requirement, and one per named
/// requirement that cannot grade them (a client rule, or a MUST check below MUST).
pub fn check_levels(catalogue: &Catalogue, scenarios: &[Scenario]) -> Vec<ScenarioError> {
    let mut errors = Vec::new();
    for s in scenarios {
        let source = std::fs::read_to_string(&s.path).ok().map(Arc::<str>::from);
        let mut push = |message: String, loc: Loc, help: Option<String>| {
            // A check written in a reusable step shows that file's line.
            let source = if loc.file == s.file {
                source.clone()
            } else {
                std::fs::read_to_string(&*loc.file)
                    .ok()
                    .map(Arc::<str>::from)
            };
            let mut e = ScenarioError::new(message, Some(loc)).with_help(help);
            if let Some(source) = &source {
                e = e.with_source(source);
            }
            errors.push(e);
        };
        for step in &s.steps {
            let mut unnamed = Vec::new();
            for (check, loc) in checks(step) {
                match step.expect.requirement_of(&check) {
                    None if s.level == Level::Must => unnamed.push((check, loc)),
                    None => {}
                    Some(named) => {
                        let Some(r) = catalogue.get(&named.id) else {
                            continue; // reported by the citation check
                        };
                        if r.party == Party::Client {
                            push(
                                format!(
                                    "step {} checks `{check}` against `{}`, a rule on what the client sends: it cannot make a server fail",
                                    step.number, r.id
                                ),
                                named.loc.clone(),
                                Some("name the server requirement that governs the answer to this request (for a broken request, usually mcbup-3.2.5.2.3-syntax-400), or none and lower the level".into()),
                            );
                        }
                    }
                }
            }
            if let Some((_, loc)) = unnamed.first() {
                let names: Vec<String> = unnamed.iter().map(|(c, _)| format!("`{c}`")).collect();
                push(
                    format!(
                        "step {} of this MUST scenario grades {} at MUST level, but names no MUST-level server requirement that governs the answer",
                        step.number,
                        names.join(", ")
                    ),
                    loc.clone(),
                    Some("add `requirement: <id>` to the step (and `requirement_for:` in `expect` for a check that verifies another), or give the scenario the level the documents support".into()),
                );
            }
        }
    }
    errors
}

/// The checks a step makes, as (check key, where it is written).
fn checks(step: &StepPlan) -> Vec<(String, Loc)> {
    if step.generate.is_some() {
        return vec![("generate".into(), step.loc.clone())];
    }
    let e: &ExpectPlan = &step.expect;
    let mut out = Vec::new();
    let mut add = |key: &str, loc: Option<&Loc>| {
        if let Some(loc) = loc {
            out.push((key.to_owned(), loc.clone()));
        }
    };
    add("response", e.response.as_ref().map(|x| &x.loc));
    add("connection", e.connection.as_ref().map(|x| &x.loc));
    add("version", e.version.as_ref().map(|x| &x.loc));
    add("format", e.strict_format.as_ref());
    add("status", e.status.as_ref().map(|x| &x.loc));
    add("error", e.error.as_ref().map(|x| &x.loc));
    for h in &e.headers {
        out.push((h.name.clone(), h.loc.clone()));
    }
    if let Some(b) = &e.body {
        out.push(("body".into(), b.loc.clone()));
    }
    if let Some(r) = e.readings.first() {
        out.push(("readings".into(), r.loc.clone()));
    }
    out
}

/// The level audit of a loaded suite against the catalogue in `dir`, errors added to it.
pub fn check_suite_levels(dir: &std::path::Path, suite: &mut crate::scenario::Suite) {
    if let Ok(Some(catalogue)) = Catalogue::load_from(dir) {
        let errors = check_levels(&catalogue, &suite.scenarios);
        suite.errors.extend(errors);
    }
}

/// One expectation of a client scenario, as the level audit sees it.
#[derive(Debug, Clone)]
pub struct ClientCheck<'a> {
    /// The catalogue id it names.
    pub requirement: &'a str,
    /// Its own `level:`, when it sets one.
    pub level: Option<Level>,
    /// Where the requirement is named.
    pub loc: Loc,
    pub source: &'a Arc<str>,
}

/// The level audit of client scenarios: a client expectation is graded at the level of
/// the client requirement it names (or lower, with `level:`), so it must name a
/// `party: client` rule, and a MUST-level expectation a MUST-level one.
pub fn check_client_levels(catalogue: &Catalogue, checks: &[ClientCheck]) -> Vec<ScenarioError> {
    let mut errors = Vec::new();
    for check in checks {
        let Some(r) = catalogue.get(check.requirement) else {
            continue; // reported by the citation check
        };
        let problem = if r.party != Party::Client {
            Some((
                format!(
                    "this client expectation names `{}`, a rule on what the server answers: it cannot make a client fail",
                    r.id
                ),
                "name the client requirement (`party: client` in the catalogue) that governs what the client sends next".to_owned(),
            ))
        } else if check.level.is_some_and(|l| rank(l) > rank(r.level)) {
            let level = check.level.map_or("must", Level::as_str);
            Some((
                format!(
                    "this expectation is graded at {} level, but `{}` is a {} requirement",
                    level.to_ascii_uppercase(),
                    r.id,
                    r.level.as_str().to_ascii_uppercase()
                ),
                format!(
                    "a {} verdict needs a {} in the documents: lower `level:` to `{}`, or name a requirement of that level",
                    level.to_ascii_uppercase(),
                    level.to_ascii_uppercase(),
                    r.level.as_str()
                ),
            ))
        } else {
            None
        };
        if let Some((message, help)) = problem {
            errors.push(
                ScenarioError::new(message, Some(check.loc.clone()))
                    .with_help(Some(help))
                    .with_source(check.source),
            );
        }
    }
    errors
}

/// MUST > SHOULD > MAY.
fn rank(level: Level) -> u8 {
    match level {
        Level::Must => 2,
        Level::Should => 1,
        Level::May => 0,
    }
}
