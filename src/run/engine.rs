//! Stage 3 of the pipeline: run scenarios against a target.
//!
//! A scenario's steps run in order on one keep-alive connection; scenarios run
//! concurrently up to `jobs`. Every step has a timeout. A session that a scenario
//! opened and did not close gets a Cancel-Session at the end, whatever the verdict.

use super::transport::{Connection, OutgoingRequest};
use crate::check::check_response;
use crate::outcome::{Mismatch, ScenarioOutcome, StepOutcome, Verdict};
use crate::scenario::model::ConnectionMode;
use crate::scenario::plan::{BodyExpectation, Scenario, StepPlan};
use crate::scenario::template::Vars;
use crate::upload_data;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The BITS 1.5 upload protocol GUID, the only one the documents define.
pub const BITS_15_UPLOAD_PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

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
}

impl RunOptions {
    pub fn new(target: &str) -> RunOptions {
        RunOptions {
            target: normalise_target(target),
            step_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            jobs: 4,
            run_nonce: run_nonce(),
        }
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

/// Runs every scenario, `options.jobs` at a time, calling `on_done` as each ends.
/// The outcomes come back in the order of `scenarios`.
pub async fn run_all(
    scenarios: &[Scenario],
    options: &RunOptions,
    on_done: &(dyn Fn(&ScenarioOutcome) + Sync),
) -> Vec<ScenarioOutcome> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(options.jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let scenario = scenario.clone();
        let options = options.clone();
        let semaphore = Arc::clone(&semaphore);
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (index, run_scenario(&scenario, &options).await)
        });
    }
    let mut outcomes: Vec<Option<ScenarioOutcome>> = vec![None; scenarios.len()];
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((index, outcome)) => {
                on_done(&outcome);
                outcomes[index] = Some(outcome);
            }
            Err(e) => {
                // A panic inside a scenario task is a harness bug; keep the run going.
                let _ = e;
            }
        }
    }
    outcomes
        .into_iter()
        .zip(scenarios)
        .map(|(o, s)| o.unwrap_or_else(|| crashed(s)))
        .collect()
}

fn crashed(scenario: &Scenario) -> ScenarioOutcome {
    let mut outcome = empty_outcome(scenario, String::new());
    outcome.verdict = Verdict::Error;
    outcome.reason = Some(
        "the harness crashed while running this scenario (a bug in bitspec; please report it)"
            .into(),
    );
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
        cleanup: Vec::new(),
        duration_ms: 0,
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

    let mut vars = Vars::new();
    vars.insert("upload_url".into(), upload_url);
    vars.insert("target".into(), options.target.clone());
    vars.insert("protocol".into(), BITS_15_UPLOAD_PROTOCOL.into());
    vars.insert("scenario_id".into(), scenario.id.clone());
    if let Some(file) = scenario.upload {
        vars.insert("file_size".into(), file.size.to_string());
        vars.insert("last_byte".into(), file.size.saturating_sub(1).to_string());
    }
    for (name, template) in &scenario.vars {
        match template.render(&vars) {
            Ok(value) => vars.insert(name.clone(), value),
            Err(e) => {
                outcome.verdict = Verdict::Error;
                outcome.reason = Some(format!("variable `{name}`: {e}"));
                return outcome;
            }
        };
    }

    let mut connection = match Connection::open(options.connect_timeout) {
        Ok(c) => c,
        Err(e) => {
            outcome.verdict = Verdict::Error;
            outcome.reason = Some(e);
            return outcome;
        }
    };
    let mut open_sessions: Vec<String> = Vec::new();

    for step in &scenario.steps {
        if step.connection == ConnectionMode::New {
            match Connection::open(options.connect_timeout) {
                Ok(c) => connection = c,
                Err(e) => {
                    outcome.verdict = Verdict::Error;
                    outcome.reason = Some(e);
                    break;
                }
            }
        }
        let result = run_step(step, scenario, &connection, &mut vars, options).await;
        track_sessions(step, &result, &mut open_sessions);
        let verdict = if result.error.is_some() {
            Verdict::Error
        } else if !result.mismatches.is_empty() {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        if verdict == Verdict::Error {
            outcome.reason = result
                .error
                .as_ref()
                .map(|e| format!("step {} ({}): {e}", step.number, step.label));
        }
        outcome.steps.push(result);
        if verdict != Verdict::Pass {
            outcome.verdict = verdict;
            break;
        }
    }

    for session in open_sessions {
        outcome
            .cleanup
            .push(cancel_session(&session, &connection, &vars, options).await);
    }
    outcome.duration_ms = millis(started.elapsed());
    outcome
}

/// Renders, sends and checks one step; captures go into `vars`.
async fn run_step(
    step: &StepPlan,
    scenario: &Scenario,
    connection: &Connection,
    vars: &mut Vars,
    options: &RunOptions,
) -> StepOutcome {
    let started = Instant::now();
    let mut result = StepOutcome {
        number: step.number,
        label: step.label.clone(),
        loc: step.loc.clone(),
        request: OutgoingRequest {
            method: step.method.clone(),
            url: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
        .record(),
        response: None,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error: None,
        elapsed_ms: 0,
    };
    let request = match build_request(step, scenario, vars) {
        Ok(r) => r,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.request = request.record();
    let compare_with = match step.expect.body.as_ref().map(|b| &b.value) {
        Some(BodyExpectation::File) => scenario.upload,
        _ => None,
    };
    let timeout = step.timeout.unwrap_or(options.step_timeout);
    match connection.exchange(&request, timeout, compare_with).await {
        Ok((response, body)) => {
            let (mut mismatches, readings) = check_response(&step.expect, &response, &body, vars);
            mismatches.extend(capture(step, &response, vars));
            result.mismatches = mismatches;
            result.readings = readings;
            result.response = Some(response);
        }
        Err(e) => result.error = Some(e),
    }
    result.elapsed_ms = millis(started.elapsed());
    result
}

/// The request a step describes: defaults, then the generated fragment, then the
/// scenario's own headers (which win), minus the omitted ones.
pub fn build_request(
    step: &StepPlan,
    scenario: &Scenario,
    vars: &Vars,
) -> Result<OutgoingRequest, String> {
    let url = step.url.render(vars)?;
    let body = if let (Some(range), Some(file)) = (step.range, scenario.upload) {
        upload_data::range(step.seed.unwrap_or(file.seed), range.first, range.last)
    } else if let Some(body) = &step.body {
        body.render(vars)?.into_bytes()
    } else {
        Vec::new()
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(packet) = &step.packet {
        headers.push(("BITS-Packet-Type".into(), packet.clone()));
    }
    if let (Some(range), Some(file)) = (step.range, scenario.upload) {
        let total = step.total.unwrap_or(file.size);
        headers.push((
            "Content-Range".into(),
            format!("bytes {}-{}/{total}", range.first, range.last),
        ));
    }
    headers.push(("Content-Length".into(), body.len().to_string()));
    for (name, template) in &step.headers {
        let value = template.render(vars)?;
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(existing) => existing.1 = value,
            None => headers.push((name.clone(), value)),
        }
    }
    headers.retain(|(n, _)| !step.omit.iter().any(|o| o.eq_ignore_ascii_case(n)));
    Ok(OutgoingRequest {
        method: step.method.clone(),
        url,
        headers,
        body,
    })
}

fn capture(
    step: &StepPlan,
    response: &crate::outcome::RecordedResponse,
    vars: &mut Vars,
) -> Vec<Mismatch> {
    let mut missing = Vec::new();
    for (header, var) in &step.captures {
        match response.header(header) {
            Some(value) => {
                vars.insert(var.clone(), value.trim().to_owned());
            }
            None => missing.push(Mismatch {
                kind: "capture",
                header: Some(header.clone()),
                expected: format!("present (captured into ${{{var}}})"),
                actual: None,
                expected_line: Some("<any value>".into()),
                loc: step.loc.clone(),
            }),
        }
    }
    missing
}

fn is_packet(step: &StepPlan, name: &str) -> bool {
    step.packet
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(name))
}

/// Remembers sessions a Create-Session opened; forgets those a Close or Cancel ended.
fn track_sessions(step: &StepPlan, result: &StepOutcome, open: &mut Vec<String>) {
    let Some(response) = &result.response else {
        return;
    };
    let success = (200..300).contains(&response.status);
    if is_packet(step, "Create-Session")
        && success
        && let Some(id) = response.header("BITS-Session-Id")
    {
        open.push(id.trim().to_owned());
    }
    if (is_packet(step, "Close-Session") || is_packet(step, "Cancel-Session")) && success {
        let sent = result
            .request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("BITS-Session-Id"))
            .map(|(_, v)| v.trim());
        if let Some(sent) = sent {
            open.retain(|s| !s.eq_ignore_ascii_case(sent));
        }
    }
}

/// The always-run cleanup: a Cancel-Session for a session the steps left open.
async fn cancel_session(
    session: &str,
    connection: &Connection,
    vars: &Vars,
    options: &RunOptions,
) -> StepOutcome {
    let started = Instant::now();
    let url = vars.get("upload_url").cloned().unwrap_or_default();
    let request = OutgoingRequest {
        method: "BITS_POST".into(),
        url,
        headers: vec![
            ("BITS-Packet-Type".into(), "Cancel-Session".into()),
            ("BITS-Session-Id".into(), session.to_owned()),
            ("Content-Length".into(), "0".into()),
        ],
        body: Vec::new(),
    };
    let (response, error) = match connection
        .exchange(&request, options.step_timeout, None)
        .await
    {
        Ok((response, _)) => (Some(response), None),
        Err(e) => (None, Some(e)),
    };
    StepOutcome {
        number: 0,
        label: "cleanup: Cancel-Session".into(),
        loc: crate::location::Loc::new(&Arc::from(""), 0, 0),
        request: request.record(),
        response,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error,
        elapsed_ms: millis(started.elapsed()),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Checks that the target accepts TCP connections, so an unreachable target is
/// reported once (exit code 3) rather than as every scenario erroring.
pub async fn probe_target(target: &str, timeout: Duration) -> Result<(), String> {
    let rest = target
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| format!("target {target:?} is not an http:// URL"))?;
    if !target.to_ascii_lowercase().starts_with("http://") {
        return Err(format!(
            "target {target:?}: only http:// targets are supported"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority
        .rsplit_once('@')
        .map(|(_, a)| a)
        .unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("target {target:?} has no host"));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        && !authority.ends_with(']');
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("cannot connect to {address}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to {address}: no answer within {:.1}s",
            timeout.as_secs_f64()
        )),
    }
}
