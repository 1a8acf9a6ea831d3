//! Graded verdicts of client runs, as the same plain data server runs produce
//! ([`ScenarioOutcome`]), so every reporter serves both. Each request the client sent
//! is a step (its answer the scripted server's); each broken expectation is a
//! mismatch on the request it judged, graded at the level of the client requirement
//! it names: a MUST miss fails, a SHOULD miss warns (fails with `--strict`), a MAY
//! miss is a note. Where the documents allow either behaviour (a Ping on a new
//! connection before going on), the behaviour seen is reported as a reading.

use super::model::{Expectation, Packet};
use super::server::Seen;
use super::validate::{LoadedClient, level_of};
use crate::run::canonical_header_name;
use crate::scenario::model::Level;
use crate::scenario::requirements::Catalogue;
use crate::shared::outcome::{
    CLIENT_MISMATCH, Graded, Mismatch, ReadingChoice, RecordedRequest, RecordedResponse,
    ScenarioOutcome, StepOutcome, Subject, Verdict,
};

/// The requirement a complete upload is judged by (the client closes the session).
pub const CLOSE_WHEN_COMPLETE: &str = "mcbup-2.2.8-client-close-when-complete";

/// What one run of the client left behind.
#[derive(Debug, Clone)]
pub struct ClientRun<'a> {
    pub log: &'a [Seen],
    /// The bytes of the session the client closed, if it closed one.
    pub closed: Option<&'a [u8]>,
    /// The file the client was given.
    pub file: &'a [u8],
    pub exit_code: Option<i32>,
    /// Why the client gave no exit code (killed at the timeout, or could not start).
    pub no_exit: Option<String>,
    pub upload_url: String,
    pub duration_ms: u64,
}

/// The verdict on one client scenario.
pub fn outcome(
    loaded: &LoadedClient,
    catalogue: &Catalogue,
    run: &ClientRun,
    strict: bool,
) -> ScenarioOutcome {
    let scenario = &loaded.scenario;
    let mut steps: Vec<StepOutcome> = run
        .log
        .iter()
        .enumerate()
        .map(|(i, seen)| step(loaded, i, seen))
        .collect();
    let mut notes = Vec::new();
    let mut misses: Vec<(Option<usize>, Mismatch)> = Vec::new();
    for (index, e) in scenario.expect.iter().enumerate() {
        let judged = judged(run.log, e);
        if let (Some(at), Some(reading)) = (judged, ping_reading(run.log, e)) {
            steps[at].readings.push(reading);
        }
        let Err(message) = super::expect::check(run.log, e) else {
            continue;
        };
        let level = level_of(catalogue, e);
        let cite = citation(catalogue, &e.requirement);
        if level == Level::May {
            notes.push(format!("MAY {}: {message} ({cite})", e.requirement));
            continue;
        }
        let (header, expected_line, actual) = judged
            .map(|j| differing_header(run.log, e, j))
            .unwrap_or_default();
        misses.push((
            judged,
            Mismatch {
                kind: CLIENT_MISMATCH,
                header,
                expected: format!("{message} ({cite})"),
                actual,
                expected_line,
                loc: loaded.expect_loc(index),
                graded: Some(Graded {
                    requirement: Some(e.requirement.clone()),
                    level,
                }),
            },
        ));
    }
    for (message, graded) in end_checks(loaded, catalogue, run) {
        misses.push((
            None,
            Mismatch {
                kind: CLIENT_MISMATCH,
                header: None,
                expected: message,
                actual: None,
                expected_line: None,
                loc: crate::shared::location::Loc::new(&loaded.file, 1, 1),
                graded: Some(graded),
            },
        ));
    }
    let mut unattached = Vec::new();
    for (at, miss) in misses {
        match at.or(steps.len().checked_sub(1)) {
            Some(at) => steps[at].mismatches.push(miss),
            None => unattached.push(miss),
        }
    }
    let mut verdict = worst(
        steps.iter().flat_map(|s| &s.mismatches).chain(&unattached),
        strict,
    );
    let mut reason = None;
    if let Some(why) = &run.no_exit {
        verdict = Verdict::Error;
        reason = Some(why.clone());
    } else if steps.is_empty() {
        reason = Some("the client sent no request at all".into());
        verdict = Verdict::Fail;
    }
    ScenarioOutcome {
        id: scenario.id.clone(),
        name: scenario.id.clone(),
        group: "client".into(),
        file: loaded.file.to_string(),
        title: scenario.title.clone(),
        spec: scenario
            .requirements()
            .iter()
            .map(|id| citation(catalogue, id))
            .collect::<Vec<_>>()
            .join("; "),
        level: scenario
            .expect
            .iter()
            .map(|e| level_of(catalogue, e))
            .max_by_key(|l| rank(*l))
            .unwrap_or(Level::Must),
        tags: vec!["client".into()],
        requirements: scenario
            .requirements()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        verdict,
        reason,
        upload_url: run.upload_url.clone(),
        steps,
        notes,
        baseline: None,
        cleanup: Vec::new(),
        duration_ms: run.duration_ms,
        subject: Subject::Client,
    }
}

fn rank(level: Level) -> u8 {
    match level {
        Level::Must => 2,
        Level::Should => 1,
        Level::May => 0,
    }
}

/// The worst verdict the misses earn at their levels.
fn worst<'a>(misses: impl Iterator<Item = &'a Mismatch>, strict: bool) -> Verdict {
    let mut worst = Verdict::Pass;
    for m in misses {
        let level = m.graded.as_ref().map_or(Level::Must, |g| g.level);
        match (crate::run::grade(level, strict), worst) {
            (Verdict::Fail, _) => worst = Verdict::Fail,
            (Verdict::Warn, Verdict::Pass) => worst = Verdict::Warn,
            _ => {}
        }
    }
    worst
}

/// The whole-upload checks: the file arrived and was closed, and the client's exit
/// status says what happened.
fn end_checks(
    loaded: &LoadedClient,
    catalogue: &Catalogue,
    run: &ClientRun,
) -> Vec<(String, Graded)> {
    let scenario = &loaded.scenario;
    let mut out = Vec::new();
    if run.no_exit.is_some() {
        return out;
    }
    if scenario.completes {
        if run.closed != Some(run.file) {
            let graded = match catalogue.get(CLOSE_WHEN_COMPLETE) {
                Some(r) => Graded {
                    requirement: Some(r.id.clone()),
                    level: r.level,
                },
                None => Graded {
                    requirement: None,
                    level: Level::Must,
                },
            };
            out.push((
                format!(
                    "the whole file, uploaded and closed ({} bytes); received and closed: {} ({})",
                    run.file.len(),
                    run.closed.map_or("nothing".to_owned(), |c| format!(
                        "{} bytes that differ",
                        c.len()
                    )),
                    citation(catalogue, CLOSE_WHEN_COMPLETE)
                ),
                graded,
            ));
        }
        // The documents say nothing of exit codes: a client that uploaded everything and
        // then reports failure misleads its caller, which is a warning.
        if run.closed == Some(run.file) && run.exit_code != Some(0) {
            out.push((
                format!(
                    "the upload completed, but the client exited with {}, not 0",
                    exit_text(run.exit_code)
                ),
                Graded {
                    requirement: None,
                    level: Level::Should,
                },
            ));
        }
    } else if run.exit_code == Some(0) {
        // The upload was refused: the rule is the scenario's own (report the error
        // to the higher layer), at its level.
        let graded = scenario.expect.first().map_or(
            Graded {
                requirement: None,
                level: Level::Must,
            },
            |e| Graded {
                requirement: Some(e.requirement.clone()),
                level: level_of(catalogue, e),
            },
        );
        out.push((
            "the client to report the failure (a non-zero exit), but it exited with 0".into(),
            graded,
        ));
    }
    out
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or("no code (killed by a signal)".into(), |c| c.to_string())
}

/// `MC-BUP 3.1.5.2.4` for MC-BUP, `file.md (Section)` for the Win32 pages.
pub fn citation(catalogue: &Catalogue, id: &str) -> String {
    match catalogue.get(id) {
        Some(r) if r.source.contains("MC-BUP") => format!("MC-BUP {}", r.section),
        Some(r) => format!("{} ({})", r.source, r.section),
        None => id.to_owned(),
    }
}

/// The index of the request an expectation judges: the first after its trigger
/// (a Ping opening a new connection passed over, as the check does).
pub fn judged(log: &[Seen], e: &Expectation) -> Option<usize> {
    let i = super::expect::position(log, e.after)?;
    let skip_pings = !e.none && e.next != Some(Packet::Ping);
    (i + 1..log.len()).find(|&j| !(skip_pings && log[j].packet == Some("ping")))
}

/// A client may Ping on a new connection before it goes on, or not (MC-BUP 2.2.4
/// says SHOULD, and only where connection-oriented authentication is expected): when
/// the request judged came on a new connection, which the client did.
fn ping_reading(log: &[Seen], e: &Expectation) -> Option<ReadingChoice> {
    if e.none || e.next == Some(Packet::Ping) {
        return None;
    }
    let i = super::expect::position(log, e.after)?;
    let j = judged(log, e)?;
    let new_connection = log[i + 1..=j]
        .iter()
        .any(|s| s.connection != log[i].connection);
    if !new_connection {
        return None;
    }
    let pinged = log[i + 1..j].iter().any(|s| s.packet == Some("ping"));
    Some(ReadingChoice {
        topic: format!(
            "Ping on the new connection after {} #{}",
            e.after.packet.name(),
            e.after.nth
        ),
        reading: if pinged {
            "pinged first"
        } else {
            "went on without a Ping"
        }
        .into(),
        cite: "MC-BUP 2.2.4 (SHOULD, where connection-oriented authentication is expected)".into(),
    })
}

/// For the diff: the request header an expectation is about, the value it should
/// have had, and the value it had.
fn differing_header(
    log: &[Seen],
    e: &Expectation,
    judged: usize,
) -> (Option<String>, Option<String>, Option<String>) {
    let seen = &log[judged];
    let value = |name: &str| {
        seen.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let with = |name: &str, expected: String| (Some(name.to_owned()), Some(expected), value(name));
    if e.none {
        return (None, None, seen.packet.map(str::to_owned));
    }
    if let Some(packet) = e.next
        && seen.packet != Some(packet.name())
    {
        return with("BITS-Packet-Type", wire_name(packet));
    }
    if let Some(first) = e.first
        && seen.range.map(|r| r.0) != Some(first)
    {
        let (last, total) = match seen.range {
            Some((f, l, t)) => (first + (l - f.min(l)), t.to_string()),
            None => (first + seen.body_len.saturating_sub(1), "*".into()),
        };
        return with("Content-Range", format!("bytes {first}-{last}/{total}"));
    }
    let before = super::expect::position(log, e.after).map_or(0, |i| log[i].body_len);
    if e.smaller && seen.body_len >= before {
        return with(
            "Content-Length",
            format!("fewer than {before} (the Fragment answered 413 had {before})"),
        );
    }
    if let Some(host) = &e.host {
        let port = seen.host.rsplit_once(':').map(|(_, p)| p);
        let expected = port.map_or(host.clone(), |p| format!("{host}:{p}"));
        if !seen.host.eq_ignore_ascii_case(&expected) {
            return with("Host", expected);
        }
    }
    (None, None, None)
}

/// `Create-Session` as `BITS-Packet-Type` spells it.
fn wire_name(packet: Packet) -> String {
    packet
        .name()
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// One request the client sent, and what the scripted server answered.
fn step(loaded: &LoadedClient, index: usize, seen: &Seen) -> StepOutcome {
    let headers = seen
        .headers
        .iter()
        .map(|(n, v)| (canonical_header_name(n), v.clone()))
        .collect();
    let (method, url) = seen
        .request_line
        .split_once(' ')
        .map_or(("?".to_owned(), String::new()), |(m, u)| {
            (m.to_owned(), u.to_owned())
        });
    let response = seen.answered.as_ref().map(|(status, headers)| {
        let mut r = RecordedResponse::new(*status, &[]);
        r.reason = http::StatusCode::from_u16(*status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or_default()
            .to_owned();
        r.headers = headers
            .iter()
            .map(|(n, v)| (canonical_header_name(n), v.clone()))
            .collect();
        r
    });
    StepOutcome {
        number: index + 1,
        label: format!(
            "{} on connection {}",
            seen.packet.map_or("a non-BITS request".to_owned(), |p| {
                Packet::parse(p).map_or(p.to_owned(), wire_name)
            }),
            seen.connection + 1
        ),
        loc: crate::shared::location::Loc::new(&loaded.file, 1, 1),
        request: RecordedRequest::new(method, url, headers, seen.body_len),
        response,
        mismatches: Vec::new(),
        readings: Vec::new(),
        error: None,
        elapsed_ms: 0,
    }
}
