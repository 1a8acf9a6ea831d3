//! One step: render the request, send it, check the response, apply captures;
//! and the sessions a scenario leaves open, cancelled at the end.

use super::options::{RunOptions, millis};
use super::transport::{Connection, OutgoingRequest, WatchClose, WireRequest};
use crate::raw::request;
use crate::scenario::model::{ConnectionMode, ConnectionState, Eol, ResponsePresence};
use crate::scenario::plan::{BodyExpectation, ExpectPlan, Scenario, StepPlan};
use crate::scenario::template::Vars;
use crate::scenario::validate::BODY_CAPTURE;
use crate::shared::outcome::{Mismatch, RecordedRequest, StepOutcome};
use crate::shared::upload_data;
use std::sync::Arc;
use std::time::Instant;

/// Renders, sends and checks one step; captures go into `vars`.
pub(super) async fn run_step(
    step: &StepPlan,
    scenario: &Scenario,
    connection: &mut Connection,
    vars: &mut Vars,
    options: &RunOptions,
) -> StepOutcome {
    let delay = step.delay.as_ref().map(|d| {
        d.render(vars)
            .and_then(|text| crate::scenario::validate::parse_seconds(&text))
    });
    if let Some(Ok(delay)) = delay {
        tokio::time::sleep(delay).await;
    }
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
    if let Some(Err(e)) = delay {
        result.error = Some(e);
        return result;
    }
    let request = match wire_request(step, scenario, vars, options) {
        Ok(r) => WireRequest {
            silence_expected: step.expect.allows_no_response(),
            ..r
        },
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.request = request.record.clone();
    let compare_with = match step.expect.body.as_ref().map(|b| &b.value) {
        Some(BodyExpectation::File) => scenario.upload,
        _ => None,
    };
    let timeout = step.timeout.unwrap_or(options.step_timeout);
    if step.connection == ConnectionMode::New {
        connection.close();
    }
    let exchange = connection
        .exchange(
            &request,
            timeout,
            compare_with,
            step.fault.as_ref(),
            watch_close(&step.expect),
        )
        .await;
    if step.connection == ConnectionMode::CloseAfter {
        connection.close();
    }
    let expect = &step.expect;
    let explicit_present = expect
        .response
        .as_ref()
        .is_some_and(|r| r.value == ResponsePresence::Present);
    match &exchange.response {
        None if !(expect.allows_no_response() || explicit_present) => {
            result.error = exchange
                .observed
                .failure
                .clone()
                .or_else(|| Some("no response".into()));
        }
        Some(response)
            if expect.version.is_none() && !response.version.eq_ignore_ascii_case("HTTP/1.1") =>
        {
            result.error = Some(format!(
                "the target answered {} where BITS messages are HTTP/1.1 (MC-BUP 2.2.1); a step may accept it with `version:`",
                response.status_line()
            ));
            result.response = exchange.response.clone();
        }
        _ => {
            let (mut mismatches, readings) = options.judge.exchange(
                expect,
                exchange.response.as_ref(),
                &exchange.body,
                &exchange.observed,
                vars,
            );
            if let Some(response) = &exchange.response {
                let framing =
                    options
                        .judge
                        .framing(&request.record, response, &exchange.observed, &step.loc);
                if let (None, Some(detail)) = (&framing, &exchange.observed.undelimited) {
                    // No MUST names Content-Length for this answer: the exchange failed.
                    result.error = Some(format!(
                        "{}: the body has no delimiter: {detail}",
                        response.status_line()
                    ));
                }
                if let Some(framing) = framing {
                    // The framing failure says it with the transport detail.
                    mismatches.retain(|m| {
                        !(m.actual.is_none()
                            && m.header
                                .as_deref()
                                .is_some_and(|h| h.eq_ignore_ascii_case("Content-Length")))
                    });
                    mismatches.push(framing);
                }
                mismatches.extend(capture(step, response, exchange.body.text.as_deref(), vars));
            }
            result.mismatches = mismatches;
            result.readings = readings;
            result.response = exchange.response;
        }
    }
    result.elapsed_ms = millis(started.elapsed());
    result
}

/// How long to watch the connection after the response, from what the step expects.
fn watch_close(expect: &ExpectPlan) -> WatchClose {
    let states = expect
        .connection
        .iter()
        .chain(expect.readings.iter().filter_map(|r| r.connection.as_ref()))
        .map(|c| c.value);
    let mut watch = WatchClose::No;
    for state in states {
        watch = match state {
            ConnectionState::Closed => WatchClose::UntilDeadline,
            ConnectionState::Open if watch == WatchClose::No => WatchClose::Grace,
            ConnectionState::Open => watch,
        };
    }
    watch
}

/// The bytes a step sends: its raw lines, or the request its keys describe.
fn wire_request(
    step: &StepPlan,
    scenario: &Scenario,
    vars: &Vars,
    options: &RunOptions,
) -> Result<WireRequest, String> {
    let Some(raw) = &step.raw else {
        let request = build_request(step, scenario, vars, &options.default_headers())?;
        return request.to_wire(&step.omit);
    };
    let url = step.url.render(vars)?;
    let endpoint = request::endpoint(&url)?;
    let upload = request::endpoint(vars.get("upload_url").map_or("", String::as_str))?;
    let mut vars = vars.clone();
    let body = match (&raw.body, &step.range, scenario.upload) {
        (Some(body), _, _) => body.render(&vars)?.into_bytes(),
        (None, Some(range), Some(file)) => {
            let range = range.resolve(&vars, file.size)?;
            let total = step.total.unwrap_or(file.size);
            vars.insert(
                "content_range".into(),
                format!("bytes {}-{}/{total}", range.first, range.last),
            );
            upload_data::range(step.seed.unwrap_or(file.seed), range.first, range.last)
        }
        _ => Vec::new(),
    };
    vars.insert("host".into(), endpoint.authority.clone());
    vars.insert("upload_path".into(), upload.target);
    vars.insert("content_length".into(), body.len().to_string());
    let mut lines = raw
        .lines
        .iter()
        .map(|l| l.render(&vars))
        .collect::<Result<Vec<_>, _>>()?;
    // NTLM and Negotiate authenticate the connection before the raw bytes.
    let handshake = (raw.credentials && options.profile.windows.is_some())
        .then_some(super::options::Role::Primary);
    if raw.credentials && handshake.is_none() {
        // The profile's credentials, so raw steps run on targets that need them too.
        let sets = |name: &str| {
            lines.iter().skip(1).any(|l| {
                l.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            })
        };
        let defaults: Vec<String> = options
            .default_headers()
            .into_iter()
            .filter(|(n, _)| !sets(n))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        let at = lines.len().min(1);
        lines.splice(at..at, defaults);
    }
    let eol = match raw.eol {
        Eol::Crlf => request::Eol::Crlf,
        Eol::Lf => request::Eol::Lf,
    };
    let bytes = request::assemble(&lines, eol, raw.end_head, &body);
    let (method, target, headers) = request::describe(&bytes);
    Ok(WireRequest {
        address: endpoint.address,
        tls: endpoint.tls,
        record: RecordedRequest::new(method.clone(), target, headers, body.len() as u64),
        bytes,
        method,
        half_close: raw.half_close,
        handshake,
        host: endpoint.authority,
        target: endpoint.target,
        raw: true,
        silence_expected: false,
    })
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
    let range = match (&step.range, scenario.upload) {
        (Some(range), Some(file)) => Some((range.resolve(vars, file.size)?, file)),
        _ => None,
    };
    let body = if let Some((range, file)) = range {
        upload_data::range(step.seed.unwrap_or(file.seed), range.first, range.last)
    } else if let Some(body) = &step.body {
        body.render(vars)?.into_bytes()
    } else if let Some(bytes) = &step.body_bytes {
        bytes.to_vec()
    } else {
        Vec::new()
    };
    let mut headers: Vec<(String, String)> = defaults.to_vec();
    if let Some(packet) = &step.packet {
        headers.push(("BITS-Packet-Type".into(), packet.clone()));
    }
    if let Some((range, file)) = range {
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

/// `$body` captures the body (as text, bodies up to 64 KiB); any other key a header.
fn capture(
    step: &StepPlan,
    response: &crate::shared::outcome::RecordedResponse,
    body: Option<&str>,
    vars: &mut Vars,
) -> Vec<Mismatch> {
    let mut missing = Vec::new();
    for (header, var, loc) in &step.captures {
        let value = if header == BODY_CAPTURE {
            body
        } else {
            response.header(header)
        };
        match value {
            // A body is kept exactly; a header value without its surrounding blanks.
            Some(value) if header == BODY_CAPTURE => {
                vars.insert(var.clone(), value.to_owned());
            }
            Some(value) => {
                vars.insert(var.clone(), value.trim().to_owned());
            }
            None => missing.push(Mismatch {
                kind: "capture",
                header: Some(header.clone()),
                expected: format!("present (captured into ${{{var}}})"),
                actual: None,
                expected_line: Some("<any value>".into()),
                loc: loc.clone(),
                graded: None,
            }),
        }
    }
    missing
}

/// Whether the request sent was this packet type (from its header, so raw steps count).
fn is_packet(result: &StepOutcome, name: &str) -> bool {
    let mut types = result
        .request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("BITS-Packet-Type"));
    let first = types.next();
    types.next().is_none() && first.is_some_and(|(_, v)| v.trim().eq_ignore_ascii_case(name))
}

/// Remembers sessions a Create-Session opened; forgets those a Close or Cancel ended.
pub(super) fn track_sessions(result: &StepOutcome, open: &mut Vec<String>) {
    let Some(response) = &result.response else {
        return;
    };
    let success = (200..300).contains(&response.status);
    if is_packet(result, "Create-Session")
        && success
        && let Some(id) = response.header("BITS-Session-Id")
    {
        open.push(id.trim().to_owned());
    }
    if (is_packet(result, "Close-Session") || is_packet(result, "Cancel-Session")) && success {
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
    connection: &mut Connection,
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
    let (response, error) = match request.to_wire(&[]) {
        Ok(wire) => {
            let exchange = connection
                .exchange(&wire, options.step_timeout, None, None, WatchClose::No)
                .await;
            (exchange.response, exchange.observed.failure)
        }
        Err(e) => (None, Some(e)),
    };
    StepOutcome {
        number: 0,
        label: "cleanup: Cancel-Session".into(),
        loc: crate::shared::location::Loc::new(&Arc::from(""), 0, 0),
        request: request.record(),
        response,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error,
        elapsed_ms: millis(started.elapsed()),
    }
}
