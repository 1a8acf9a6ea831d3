//! One step: render the request, send it, check the response, apply captures;
//! and the sessions a scenario leaves open, cancelled at the end.

use super::engine::{RunOptions, millis};
use super::transport::{Connection, OutgoingRequest};
use crate::check::check_response;
use crate::outcome::{Mismatch, StepOutcome};
use crate::scenario::plan::{BodyExpectation, Scenario, StepPlan};
use crate::scenario::template::Vars;
use crate::upload_data;
use std::sync::Arc;
use std::time::Instant;

/// Renders, sends and checks one step; captures go into `vars`.
pub(super) async fn run_step(
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
    let request = match build_request(step, scenario, vars, &options.default_headers()) {
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
/// `defaults` (such as Authorization) come first and can be overridden or omitted too.
pub fn build_request(
    step: &StepPlan,
    scenario: &Scenario,
    vars: &Vars,
    defaults: &[(String, String)],
) -> Result<OutgoingRequest, String> {
    let url = step.url.render(vars)?;
    let body = if let (Some(range), Some(file)) = (step.range, scenario.upload) {
        upload_data::range(step.seed.unwrap_or(file.seed), range.first, range.last)
    } else if let Some(body) = &step.body {
        body.render(vars)?.into_bytes()
    } else {
        Vec::new()
    };
    let mut headers: Vec<(String, String)> = defaults.to_vec();
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
pub(super) fn track_sessions(step: &StepPlan, result: &StepOutcome, open: &mut Vec<String>) {
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
pub(super) async fn cancel_session(
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
        headers: options
            .default_headers()
            .into_iter()
            .chain([
                ("BITS-Packet-Type".into(), "Cancel-Session".into()),
                ("BITS-Session-Id".into(), session.to_owned()),
                ("Content-Length".into(), "0".into()),
            ])
            .collect(),
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
