//! `generate` steps: a seeded schedule of fragments (in order, duplicates, overlaps,
//! gaps, old data) sent as one whole upload, every Ack checked against the model in
//! [`schedule`], then the final bytes. A failing schedule is shrunk to a minimal one and
//! printed as a YAML scenario that reproduces it ([`repro`]).

pub mod model;
pub mod repro;
pub mod schedule;

use model::{ALT_SEED, Failure, Packet, Run, Sent};

use crate::run::{
    BITS_15_UPLOAD_PROTOCOL, Connection, OutgoingRequest, RunOptions, WatchClose, millis,
};
use crate::scenario::plan::{GeneratePlan, Scenario, StepPlan, UploadFile};
use crate::scenario::template::Vars;
use crate::shared::outcome::{Mismatch, RecordedRequest, RecordedResponse, StepOutcome};
use crate::shared::upload_data;
use schedule::{Frag, LegalAck, Shape, legal_acks};
use std::time::{Duration, Instant};

/// At most this many runs are spent shrinking a failure.
const MAX_SHRINK_RUNS: usize = 300;
/// Nor more time than this.
const SHRINK_BUDGET: Duration = Duration::from_secs(90);
/// Runs a `generate` step: the schedule, then, on failure, the shrinking.
pub async fn run_generated(
    step: &StepPlan,
    plan: GeneratePlan,
    scenario: &Scenario,
    vars: &Vars,
    options: &RunOptions,
) -> (StepOutcome, Vec<String>) {
    let started = Instant::now();
    let mut outcome = StepOutcome {
        number: step.number,
        label: step.label.clone(),
        loc: step.loc.clone(),
        request: RecordedRequest {
            method: "BITS_POST".into(),
            url: String::new(),
            headers: Vec::new(),
            body_len: 0,
        },
        response: None,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error: None,
        elapsed_ms: 0,
    };
    let Some(file) = scenario.upload else {
        outcome.error = Some("a `generate` step needs the scenario's `file`".into());
        return (outcome, Vec::new());
    };
    let target_url = format!(
        "{}.gen{}",
        vars.get("upload_url").map_or("", String::as_str),
        step.number
    );
    // Clamped to the file and to a fragment that fits in memory.
    let shape = Shape::new(file.size, plan.max_fragment);
    let schedule = schedule::generate(plan.seed, plan.fragments, shape);
    let target = Target {
        url: target_url,
        file,
        shape,
        options,
        timeout: step.timeout.unwrap_or(options.step_timeout),
    };
    let first = target.run(&schedule, 0).await;
    let Some(failure) = first.failure.clone() else {
        let mut notes = vec![format!(
            "step {} ({}): {} generated fragments and the completion matched the model",
            step.number,
            step.label,
            schedule.len()
        )];
        if !first.readings.is_empty() {
            notes.push(format!(
                "step {} ({}): readings chosen: {}",
                step.number,
                step.label,
                summarise(&first.readings)
            ));
        }
        outcome.elapsed_ms = millis(started.elapsed());
        return (outcome, notes);
    };
    // Only a failure inside the schedule shrinks (not a refused Create-Session).
    let (minimal, run, runs) = if plan.shrink && !failure.transport && failure.at > 0 {
        shrink(&target, schedule.clone(), first).await
    } else {
        (schedule.clone(), first, 0)
    };
    let failure = run.failure.clone().unwrap_or(failure);
    outcome.request = failure.request.clone();
    outcome.response = failure.response.clone();
    if failure.transport {
        outcome.error = Some(format!(
            "generated exchange {}: {}",
            failure.at + 1,
            failure.actual
        ));
    } else {
        outcome.mismatches.push(Mismatch {
            kind: "model",
            header: None,
            expected: failure.expected.clone(),
            actual: Some(failure.actual.clone()),
            expected_line: None,
            loc: step.loc.clone(),
            graded: None,
        });
    }
    let yaml = repro::scenario_yaml(
        scenario,
        plan.seed,
        schedule.len(),
        &minimal,
        &run,
        options.profile.has("get-uploads"),
    );
    let note = format!(
        "step {} ({}): schedule of seed {} failed; shrunk in {runs} runs from {} to {} fragments. This scenario reproduces it:\n{yaml}",
        step.number,
        step.label,
        plan.seed,
        schedule.len(),
        minimal.len()
    );
    outcome.elapsed_ms = millis(started.elapsed());
    (outcome, vec![note])
}

/// Greedy shrinking: take the first smaller schedule that still fails, until none does.
async fn shrink(
    target: &Target<'_>,
    mut current: Vec<Frag>,
    mut run: Run,
) -> (Vec<Frag>, Run, usize) {
    let started = Instant::now();
    let mut runs = 0;
    'outer: loop {
        for candidate in schedule::shrink_candidates(&current) {
            if runs >= MAX_SHRINK_RUNS || started.elapsed() > SHRINK_BUDGET {
                break 'outer;
            }
            runs += 1;
            let attempt = target.run(&candidate, runs).await;
            if attempt.failure.as_ref().is_some_and(|f| !f.transport) {
                current = candidate;
                run = attempt;
                continue 'outer;
            }
        }
        break;
    }
    (current, run, runs)
}

fn summarise(readings: &[String]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in readings {
        match counts.iter_mut().find(|(n, _)| n == r) {
            Some((_, c)) => *c += 1,
            None => counts.push((r.clone(), 1)),
        }
    }
    counts
        .iter()
        .map(|(n, c)| format!("{n} x{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything a run needs to talk to the target.
struct Target<'a> {
    /// Each run uploads to this URL plus the run's number.
    url: String,
    file: UploadFile,
    shape: Shape,
    options: &'a RunOptions,
    timeout: Duration,
}

impl Target<'_> {
    /// One whole upload of `schedule` on a fresh URL; the session is cancelled if it fails.
    async fn run(&self, schedule: &[Frag], attempt: usize) -> Run {
        let url = format!("{}-{attempt}", self.url);
        let mut conn = Connection::for_run(self.options);
        let mut run = Run::default();
        let session = match self.create(&mut conn, &url, &mut run).await {
            Some(s) => s,
            None => return run,
        };
        let total = self.file.size;
        let mut expected = 0u64;
        let mut index = 0;
        let mut budget = (total / self.shape.max_fragment.max(1)).saturating_add(4);
        loop {
            let frag = match schedule.get(index) {
                Some(f) => *f,
                None if expected < total && budget > 0 => {
                    budget -= 1;
                    Frag {
                        first: expected,
                        last: expected
                            .saturating_add(self.shape.max_fragment.max(1) - 1)
                            .min(total - 1),
                    }
                }
                None => break,
            };
            index += 1;
            match self
                .fragment(&mut conn, &url, &session, frag, expected, &mut run)
                .await
            {
                Some(next) => expected = next,
                None => {
                    self.cancel(&mut conn, &url, &session).await;
                    return run;
                }
            }
        }
        if expected < total {
            run.failure = Some(Failure {
                at: run.sent.len().saturating_sub(1),
                expected: format!("the upload to progress to {total} bytes"),
                actual: format!("stuck at {expected}"),
                transport: false,
                request: RecordedRequest {
                    method: "BITS_POST".into(),
                    url: url.clone(),
                    headers: Vec::new(),
                    body_len: 0,
                },
                response: None,
            });
            self.cancel(&mut conn, &url, &session).await;
            return run;
        }
        let close = self.request(&url, "Close-Session", Some(&session), Vec::new());
        run.sent.push(Sent {
            what: Packet::Close,
            expected,
        });
        let (response, _, why) = self.send(&mut conn, &close, None).await;
        if let Some(f) = check_status(&run, &close, response, why, &[200], "Close-Session: 200") {
            run.failure = Some(f);
            self.cancel(&mut conn, &url, &session).await;
            return run;
        }
        if self.options.profile.has("get-uploads") {
            let get = OutgoingRequest {
                method: "GET".into(),
                url: url.clone(),
                headers: self.options.default_headers(),
                body: Vec::new(),
            };
            run.sent.push(Sent {
                what: Packet::Get,
                expected,
            });
            let (response, body, why) = self.send(&mut conn, &get, Some(self.file)).await;
            if let Some(f) = check_status(&run, &get, response.clone(), why, &[200], "GET: 200") {
                run.failure = Some(f);
            } else if let Some(Err(diff)) = body.matches_file {
                run.failure = Some(Failure {
                    at: run.sent.len() - 1,
                    expected: "the published file equals the bytes of the upload, byte for byte"
                        .into(),
                    actual: diff,
                    transport: false,
                    request: get.record(),
                    response,
                });
            }
        }
        run
    }

    async fn create(&self, conn: &mut Connection, url: &str, run: &mut Run) -> Option<String> {
        let mut create = self.request(url, "Create-Session", None, Vec::new());
        create.headers.push((
            "BITS-Supported-Protocols".into(),
            BITS_15_UPLOAD_PROTOCOL.into(),
        ));
        run.sent.push(Sent {
            what: Packet::Create,
            expected: 0,
        });
        let (response, _, why) = self.send(conn, &create, None).await;
        if let Some(f) = check_status(
            run,
            &create,
            response.clone(),
            why,
            &[200, 201],
            "Create-Session: 200 or 201 with BITS-Session-Id",
        ) {
            run.failure = Some(f);
            return None;
        }
        let session = response
            .as_ref()
            .and_then(|r| r.header("BITS-Session-Id"))
            .map(|s| s.trim().to_owned());
        if session.is_none() {
            run.failure = Some(Failure {
                at: 0,
                expected: "Create-Session Ack with BITS-Session-Id".into(),
                actual: "no BITS-Session-Id".into(),
                transport: false,
                request: create.record(),
                response,
            });
        }
        session
    }

    /// Sends one fragment; the next expected offset, or `None` with `run.failure` set.
    async fn fragment(
        &self,
        conn: &mut Connection,
        url: &str,
        session: &str,
        frag: Frag,
        expected: u64,
        run: &mut Run,
    ) -> Option<u64> {
        let alt = frag.last < expected;
        let seed = if alt {
            self.file.seed ^ ALT_SEED
        } else {
            self.file.seed
        };
        let body = upload_data::range(seed, frag.first, frag.last);
        let mut request = self.request(url, "Fragment", Some(session), body);
        request.headers.push((
            "Content-Range".into(),
            format!("bytes {}-{}/{}", frag.first, frag.last, self.file.size),
        ));
        run.sent.push(Sent {
            what: Packet::Fragment { frag, alt },
            expected,
        });
        let legal = legal_acks(expected, frag);
        let (response, _, why) = self.send(conn, &request, None).await;
        let words = legal
            .iter()
            .map(LegalAck::to_string)
            .collect::<Vec<_>>()
            .join(", or ");
        let Some(r) = response else {
            run.failure = Some(Failure {
                at: run.sent.len() - 1,
                expected: words,
                actual: why.unwrap_or_default(),
                transport: true,
                request: request.record(),
                response: None,
            });
            return None;
        };
        let received = r
            .header("BITS-Received-Content-Range")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let chosen = legal
            .iter()
            .find(|a| a.status == r.status && Some(a.received) == received);
        match chosen {
            Some(ack) => {
                if legal.len() > 1 {
                    let kind = if frag.last < expected {
                        "old data"
                    } else {
                        "overlap"
                    };
                    run.readings.push(format!("{kind} -> {}", ack.status));
                }
                Some(ack.received)
            }
            None => {
                let actual = format!(
                    "{} with BITS-Received-Content-Range {} (fragment {}-{}, server expected {expected})",
                    r.status,
                    r.header("BITS-Received-Content-Range").unwrap_or("absent"),
                    frag.first,
                    frag.last
                );
                run.failure = Some(Failure {
                    at: run.sent.len() - 1,
                    expected: words,
                    actual,
                    transport: false,
                    request: request.record(),
                    response: Some(r),
                });
                None
            }
        }
    }

    async fn cancel(&self, conn: &mut Connection, url: &str, session: &str) {
        let cancel = self.request(url, "Cancel-Session", Some(session), Vec::new());
        let _ = self.send(conn, &cancel, None).await;
    }

    fn request(
        &self,
        url: &str,
        packet: &str,
        session: Option<&str>,
        body: Vec<u8>,
    ) -> OutgoingRequest {
        let mut headers = self.options.default_headers();
        headers.push(("BITS-Packet-Type".into(), packet.into()));
        if let Some(s) = session {
            headers.push(("BITS-Session-Id".into(), s.into()));
        }
        headers.push(("Content-Length".into(), body.len().to_string()));
        OutgoingRequest {
            method: "BITS_POST".into(),
            url: url.into(),
            headers,
            body,
        }
    }

    async fn send(
        &self,
        conn: &mut Connection,
        request: &OutgoingRequest,
        compare_with: Option<UploadFile>,
    ) -> (
        Option<RecordedResponse>,
        crate::shared::observation::BodyObservation,
        Option<String>,
    ) {
        let wire = match request.to_wire(&[]) {
            Ok(w) => w,
            Err(e) => return (None, Default::default(), Some(e)),
        };
        let exchange = conn
            .exchange(&wire, self.timeout, compare_with, None, WatchClose::No)
            .await;
        match exchange.response {
            // As in ordinary steps, another HTTP version is an error, not a finding.
            Some(r) if !r.version.eq_ignore_ascii_case("HTTP/1.1") => (
                None,
                exchange.body,
                Some(format!(
                    "the target answered {} where BITS messages are HTTP/1.1 (MC-BUP 2.2.1)",
                    r.status_line()
                )),
            ),
            response => (response, exchange.body, exchange.observed.failure),
        }
    }
}

fn check_status(
    run: &Run,
    request: &OutgoingRequest,
    response: Option<RecordedResponse>,
    why: Option<String>,
    statuses: &[u16],
    expected: &str,
) -> Option<Failure> {
    let at = run.sent.len().saturating_sub(1);
    match response {
        None => Some(Failure {
            at,
            expected: expected.into(),
            actual: why.unwrap_or_default(),
            transport: true,
            request: request.record(),
            response: None,
        }),
        Some(r) if !statuses.contains(&r.status) => Some(Failure {
            at,
            expected: expected.into(),
            actual: r.status_line(),
            transport: false,
            request: request.record(),
            response: Some(r),
        }),
        Some(_) => None,
    }
}
