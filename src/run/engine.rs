//! Stage 3 of the pipeline: run scenarios against a target.
//!
//! A scenario's steps run in order on one keep-alive connection (reopened when the
//! server closes it, replaced where a step says so); scenarios run concurrently up to `jobs`. Every step has a timeout. A session that a scenario
//! opened and did not close gets a Cancel-Session at the end, whatever the verdict.

use super::nodes::NodeConnections;
use super::options::{BITS_15_UPLOAD_PROTOCOL, RunOptions, millis};
use super::step::{cancel_session, run_step, track_sessions};
use crate::scenario::model::Level;
use crate::scenario::plan::{RequirementRef, Scenario, StepPlan};
use crate::scenario::template::Vars;
use crate::shared::outcome::{Graded, ScenarioOutcome, StepOutcome, Verdict};
use std::sync::Arc;
use std::time::Instant;

/// Runs every scenario, `options.jobs` at a time, calling `on_done` as each ends.
/// The outcomes come back in the order of `scenarios`.
pub async fn run_all(
    scenarios: &[Scenario],
    options: &RunOptions,
    on_done: &(dyn Fn(&ScenarioOutcome) + Sync),
) -> Vec<ScenarioOutcome> {
    // A scenario that stops a farm node runs alone once the others are done: the
    // node it stops is one the others may be using.
    let exclusive = |s: &Scenario| s.stops_nodes() && options.profile.is_farm();
    let (alone, together): (Vec<usize>, Vec<usize>) =
        (0..scenarios.len()).partition(|&i| exclusive(&scenarios[i]));
    let mut outcomes: Vec<Option<ScenarioOutcome>> = vec![None; scenarios.len()];
    run_batch(
        scenarios,
        &together,
        options.jobs.max(1),
        options,
        on_done,
        &mut outcomes,
    )
    .await;
    for index in alone {
        run_batch(scenarios, &[index], 1, options, on_done, &mut outcomes).await;
    }
    outcomes
        .into_iter()
        .zip(scenarios)
        .map(|(o, s)| o.unwrap_or_else(|| crashed(s, "its task ended without a result")))
        .collect()
}

/// Runs the scenarios at `indexes`, `jobs` at a time, into `outcomes`.
async fn run_batch(
    scenarios: &[Scenario],
    indexes: &[usize],
    jobs: usize,
    options: &RunOptions,
    on_done: &(dyn Fn(&ScenarioOutcome) + Sync),
    outcomes: &mut [Option<ScenarioOutcome>],
) {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    let mut task_index = std::collections::HashMap::new();
    for &index in indexes {
        let scenario = scenarios[index].clone();
        let options = options.clone();
        let semaphore = Arc::clone(&semaphore);
        let handle = set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (index, run_scenario(&scenario, &options).await)
        });
        task_index.insert(handle.id(), index);
    }
    while let Some(joined) = set.join_next().await {
        let (index, outcome) = match joined {
            Ok(done) => done,
            // A panic inside a scenario task is a harness bug: report it on that
            // scenario, with the panic's message, and keep the run going.
            Err(e) => {
                let Some(&index) = task_index.get(&e.id()) else {
                    continue;
                };
                (index, crashed(&scenarios[index], &panic_message(e)))
            }
        };
        on_done(&outcome);
        outcomes[index] = Some(outcome);
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(e) => e.to_string(),
    }
}

fn crashed(scenario: &Scenario, why: &str) -> ScenarioOutcome {
    let mut outcome = empty_outcome(scenario, String::new());
    outcome.verdict = Verdict::Error;
    outcome.reason = Some(format!(
        "the harness crashed while running this scenario ({why}); this is a bug in bitspec, please report it"
    ));
    outcome
}

fn empty_outcome(scenario: &Scenario, upload_url: String) -> ScenarioOutcome {
    ScenarioOutcome {
        id: scenario.id.clone(),
        name: scenario.name.clone(),
        group: scenario.group.clone(),
        file: scenario.file.to_string(),
        title: scenario.title.clone(),
        spec: scenario.spec.clone(),
        level: scenario.level,
        tags: scenario.tags.clone(),
        requirements: scenario.requirements.clone(),
        verdict: Verdict::Pass,
        reason: None,
        upload_url,
        steps: Vec::new(),
        notes: Vec::new(),
        baseline: None,
        cleanup: Vec::new(),
        duration_ms: 0,
        subject: crate::shared::outcome::Subject::Server,
    }
}

/// Runs one scenario to its verdict.
pub async fn run_scenario(scenario: &Scenario, options: &RunOptions) -> ScenarioOutcome {
    let started = Instant::now();
    let upload_url = format!(
        "{}bitspec-{}-{}.bin",
        options.target, scenario.id, options.run_nonce
    );
    let mut outcome = empty_outcome(scenario, upload_url.clone());
    if let Some(stopped) = options.liveness.stopped() {
        outcome.verdict = Verdict::Skip;
        outcome.reason = Some(stopped.not_run());
        return outcome;
    }
    if let Some(reason) = super::nodes::farm_skip_reason(scenario, &options.profile) {
        outcome.verdict = Verdict::Skip;
        outcome.reason = Some(reason);
        return outcome;
    }

    if let Some(missing) = options.profile.lacks(&scenario.requires) {
        outcome.verdict = Verdict::Skip;
        outcome.reason = Some(format!(
            "needs capability `{missing}`, which target profile `{}` does not declare",
            options.profile.name
        ));
        return outcome;
    }

    let mut vars = match scenario_vars(scenario, options, upload_url) {
        Ok(vars) => vars,
        Err(e) => {
            outcome.verdict = Verdict::Error;
            outcome.reason = Some(e);
            return outcome;
        }
    };
    let mut connections = NodeConnections::new(options);
    let mut open_sessions: Vec<String> = Vec::new();
    // The node each open session was created on (0: the target), and the nodes stopped.
    let mut session_nodes: Vec<(String, usize)> = Vec::new();
    let mut stopped_nodes: Vec<usize> = Vec::new();

    for step in &scenario.steps {
        if let Some(missing) = options.profile.lacks(&step.requires) {
            outcome.notes.push(format!(
                "step {} ({}) not run: needs capability `{missing}`, which target profile `{}` does not declare; what it checks is not verified",
                step.number, step.label, options.profile.name
            ));
            continue;
        }
        let node = super::nodes::resolve_node(step, &vars, &options.profile);
        let mut result = match (step.generate, step.stop_node.as_ref(), node) {
            (Some(plan), _, _) => {
                let (result, notes) =
                    super::generate::run_generated(step, plan, scenario, &vars, options).await;
                outcome.notes.extend(notes);
                result
            }
            (None, Some(stop), _) => {
                stopped_nodes.push(stop.value);
                super::nodes::stop_node(step, stop.value, &vars, options).await
            }
            (None, None, Ok(node)) => {
                let saved = super::nodes::point_at_node(&mut vars, options, node);
                let result =
                    run_step(step, scenario, connections.get(node), &mut vars, options).await;
                super::nodes::restore(&mut vars, saved);
                remember_session_nodes(&result, node, &mut session_nodes);
                result
            }
            (None, None, Err(e)) => super::nodes::unresolved_node(step, e),
        };
        grade_mismatches(step, scenario.level, &mut result);
        track_sessions(&result, &mut open_sessions);
        outcome.notes.extend(reading_notes(step, &result));
        let absent = capability_absent(step, &result);
        let stop = if let Some(error) = &result.error {
            outcome.verdict = Verdict::Error;
            outcome.reason = Some(format!("step {} ({}): {error}", step.number, step.label));
            true
        } else if !result.mismatches.is_empty() {
            outcome.verdict = step_verdict(&result, options.strict);
            if outcome.verdict == Verdict::Pass {
                outcome.notes.push(format!(
                    "optional (MAY) behaviour differs at step {} ({}): {}",
                    step.number,
                    step.label,
                    result
                        .mismatches
                        .iter()
                        .map(crate::shared::outcome::mismatch_line)
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            true
        } else {
            false
        };
        outcome.steps.push(result);
        if stop {
            break;
        }
        if let Some(reason) = absent {
            outcome.verdict = Verdict::Skip;
            outcome.reason = Some(reason);
            break;
        }
    }

    for session in open_sessions {
        // Cancelled where it was created, or through the target if that node is down.
        let node = session_nodes
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(&session))
            .map_or(0, |(_, n)| *n);
        let node = if stopped_nodes.contains(&node) {
            0
        } else {
            node
        };
        let saved = super::nodes::point_at_node(&mut vars, options, node);
        outcome
            .cleanup
            .push(cancel_session(&session, connections.get(node), &vars, options).await);
        super::nodes::restore(&mut vars, saved);
    }
    for node in stopped_nodes {
        if let Some(started) = super::nodes::start_node(node, options).await {
            outcome.cleanup.push(started);
        }
    }
    outcome.duration_ms = millis(started.elapsed());
    outcome
}

/// The reason the scenario stops as skipped, when the reading the target followed at
/// this step says an optional capability is absent (and the step otherwise passed).
fn capability_absent(step: &StepPlan, result: &StepOutcome) -> Option<String> {
    if result.error.is_some() || !result.mismatches.is_empty() {
        return None;
    }
    result.readings.iter().find_map(|chosen| {
        let plan = step
            .expect
            .readings
            .iter()
            .find(|p| p.name == chosen.reading)?;
        let why = plan.capability_absent.as_ref()?;
        Some(format!(
            "capability absent: {why} (step {} ({}), reading `{}`)",
            step.number, step.label, plan.name
        ))
    })
}

/// Records on which node (0: the target) a Create-Session opened its session.
fn remember_session_nodes(result: &StepOutcome, node: usize, sessions: &mut Vec<(String, usize)>) {
    let mut opened = Vec::new();
    track_sessions(result, &mut opened);
    sessions.extend(opened.into_iter().map(|s| (s, node)));
}

/// The verdict a mismatch earns at a requirement level: MUST fails, SHOULD warns
/// (fails with `--strict`), MAY is only noted.
pub fn grade(level: Level, strict: bool) -> Verdict {
    match level {
        Level::Must => Verdict::Fail,
        Level::Should if strict => Verdict::Fail,
        Level::Should => Verdict::Warn,
        Level::May => Verdict::Pass,
    }
}

/// Grades every mismatch the checks left ungraded: at the step's requirement (a
/// generated schedule's model check), else at the scenario's level.
fn grade_mismatches(step: &StepPlan, scenario_level: Level, result: &mut StepOutcome) {
    let fallback = match &step.expect.requirement {
        Some(RequirementRef {
            id,
            level: Some(level),
            ..
        }) => Graded {
            requirement: Some(id.clone()),
            level: *level,
        },
        _ => Graded {
            requirement: None,
            level: scenario_level,
        },
    };
    for m in &mut result.mismatches {
        m.graded.get_or_insert_with(|| fallback.clone());
    }
}

/// The verdict of a step with mismatches: the worst its mismatches earn at their levels.
fn step_verdict(result: &StepOutcome, strict: bool) -> Verdict {
    let verdicts = result
        .mismatches
        .iter()
        .filter_map(|m| m.graded.as_ref())
        .map(|g| grade(g.level, strict));
    let mut worst = Verdict::Pass;
    for v in verdicts {
        match (v, worst) {
            (Verdict::Fail, _) => worst = Verdict::Fail,
            (Verdict::Warn, Verdict::Pass) => worst = Verdict::Warn,
            _ => {}
        }
    }
    worst
}

/// Notes attached to the readings the target chose at this step.
fn reading_notes(step: &StepPlan, result: &StepOutcome) -> Vec<String> {
    let chosen = result.readings.iter().map(|r| r.reading.as_str());
    let plans = &step.expect.readings;
    chosen
        .filter_map(|name| plans.iter().find(|p| p.name == name))
        .filter_map(|p| {
            p.note.as_ref().map(|n| {
                format!(
                    "step {} ({}), reading `{}`: {n}",
                    step.number, step.label, p.name
                )
            })
        })
        .collect()
}

/// Built-ins, profile values, then the scenario's own variables.
fn scenario_vars(
    scenario: &Scenario,
    options: &RunOptions,
    upload_url: String,
) -> Result<Vars, String> {
    let mut vars = Vars::new();
    vars.insert("upload_url".into(), upload_url);
    vars.insert("target".into(), options.target.clone());
    vars.insert("protocol".into(), BITS_15_UPLOAD_PROTOCOL.into());
    vars.insert("scenario_id".into(), scenario.id.clone());
    if let Some(file) = scenario.upload {
        vars.insert("file_size".into(), file.size.to_string());
        vars.insert("last_byte".into(), file.size.saturating_sub(1).to_string());
    }
    for (name, value) in &options.profile.vars {
        vars.insert(name.clone(), value.clone());
    }
    for (name, template) in &scenario.vars {
        let value = template
            .render(&vars)
            .map_err(|e| format!("variable `{name}`: {e}"))?;
        vars.insert(name.clone(), value);
    }
    Ok(vars)
}
