//! The one rendering of a failure, used by the console, libtest-mimic and the
//! JUnit body: where the broken expectation is written, the request sent, the
//! status line received, and a unified diff of expected versus actual headers.

pub use crate::shared::outcome::mismatch_line;
use crate::shared::outcome::{
    Mismatch, RecordedRequest, RecordedResponse, ScenarioOutcome, StepOutcome, Subject, Verdict,
};
use similar::{ChangeTag, TextDiff};
use std::fmt::Write;

/// The full explanation of a failed or errored scenario (empty for pass and skip).
pub fn failure_text(outcome: &ScenarioOutcome, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} [{}] ({}) {}",
        outcome.name,
        outcome.id,
        outcome.level.as_str(),
        outcome.title
    );
    let _ = writeln!(out, "  spec: {}", outcome.spec);
    if let Some(reason) = &outcome.reason {
        let _ = writeln!(out, "  reason: {}", printable(reason));
    }
    match outcome.subject {
        Subject::Server => {
            if let Some(step) = outcome.failing_step() {
                out.push_str(&step_text(step, color));
            }
        }
        // A client's misses are spread over its requests: every one is shown.
        Subject::Client => {
            for step in outcome.steps.iter().filter(|s| !s.mismatches.is_empty()) {
                out.push_str(&client_step_text(step, color));
            }
        }
    }
    out
}

/// One step as its subject reads: a server run's exchange, or a client's request
/// with the scripted answer and the diff of the request expected versus sent.
pub fn step_text_of(step: &StepOutcome, subject: Subject, color: bool) -> String {
    match subject {
        Subject::Server => step_text(step, color),
        Subject::Client => client_step_text(step, color),
    }
}

fn client_step_text(step: &StepOutcome, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  request {} ({})", step.number, step.label);
    let _ = writeln!(out, "  the client sent:");
    let _ = writeln!(
        out,
        "    {} {}",
        printable(&step.request.method),
        printable(&step.request.url)
    );
    for (name, value) in &step.request.headers {
        let _ = writeln!(out, "    {}: {}", printable(name), printable(value));
    }
    if step.request.body_len > 0 {
        let _ = writeln!(out, "    ({} body bytes)", step.request.body_len);
    }
    match &step.response {
        Some(response) => {
            let _ = writeln!(
                out,
                "  the scripted server answered: {}",
                printable(&response.status_line())
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  the scripted server answered: nothing (it dropped the connection)"
            );
        }
    }
    if !step.mismatches.is_empty() {
        let _ = writeln!(out, "  mismatches:");
        for m in &step.mismatches {
            let _ = writeln!(out, "    {}: {}", m.loc, mismatch_line(m));
        }
    }
    if step.mismatches.iter().any(|m| m.header.is_some()) {
        let _ = writeln!(out, "  request diff (- expected, + sent):");
        out.push_str(&request_diff(&step.request, &step.mismatches, color));
    }
    out
}

/// The request the client sent and what it should have been, as a unified diff.
pub fn request_diff(request: &RecordedRequest, mismatches: &[Mismatch], color: bool) -> String {
    let first = format!("{} {}", request.method, request.url);
    let actual = block(&first, &request.headers);
    let expected = block(&first, &expected_lines(&request.headers, mismatches));
    unified(&expected, &actual, color)
}

/// One step's request, response and mismatches with the header diff.
pub fn step_text(step: &StepOutcome, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  step {} ({}) at {}",
        step.number, step.label, step.loc
    );
    let _ = writeln!(out, "  sent:");
    let _ = writeln!(out, "    {} {}", step.request.method, step.request.url);
    for (name, value) in &step.request.headers {
        let _ = writeln!(out, "    {}: {}", printable(name), printable(value));
    }
    if step.request.body_len > 0 {
        let _ = writeln!(out, "    ({} body bytes)", step.request.body_len);
    }
    match &step.response {
        Some(response) => {
            let _ = writeln!(out, "  received: {}", printable(&response.status_line()));
        }
        None => {
            let _ = writeln!(out, "  received: nothing");
        }
    }
    if let Some(error) = &step.error {
        let _ = writeln!(out, "  error: {error}");
    }
    if !step.mismatches.is_empty() {
        let _ = writeln!(out, "  mismatches:");
        for m in &step.mismatches {
            let _ = writeln!(out, "    {}: {}", m.loc, mismatch_line(m));
        }
    }
    if let Some(response) = &step.response
        && !step.mismatches.is_empty()
    {
        let _ = writeln!(out, "  header diff (- expected, + actual):");
        out.push_str(&header_diff(response, &step.mismatches, color));
    }
    out
}

/// The actual status line and headers, and what they should have been, as a unified diff.
pub fn header_diff(response: &RecordedResponse, mismatches: &[Mismatch], color: bool) -> String {
    let actual = header_block(response);
    let expected = expected_block(response, mismatches);
    unified(&expected, &actual, color)
}

/// `expected` versus `actual`, line by line, `-` and `+` marked (and coloured).
fn unified(expected: &str, actual: &str, color: bool) -> String {
    let diff = TextDiff::from_lines(expected, actual);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let (sign, start, end) = match change.tag() {
            ChangeTag::Delete => ("-", "\x1b[31m", "\x1b[0m"),
            ChangeTag::Insert => ("+", "\x1b[32m", "\x1b[0m"),
            ChangeTag::Equal => (" ", "", ""),
        };
        let line = change.value().trim_end_matches('\n');
        if color && !start.is_empty() {
            let _ = writeln!(out, "    {start}{sign}{line}{end}");
        } else {
            let _ = writeln!(out, "    {sign}{line}");
        }
    }
    out
}

fn header_block(response: &RecordedResponse) -> String {
    let mut block = format!("{}\n", printable(&response.status_line()));
    for (name, value) in &response.headers {
        let _ = writeln!(block, "{}: {}", printable(name), printable(value));
    }
    block
}

fn expected_block(response: &RecordedResponse, mismatches: &[Mismatch]) -> String {
    let status_line = match mismatches.iter().find(|m| m.kind == "status") {
        Some(m) => format!("{} {}", response.version, m.expected),
        None => printable(&response.status_line()).into_owned(),
    };
    block(&status_line, &expected_lines(&response.headers, mismatches))
}

/// `headers` with each mismatched header's line as the expectation wants it.
fn expected_lines(headers: &[(String, String)], mismatches: &[Mismatch]) -> Vec<(String, String)> {
    let mut lines: Vec<(String, String)> = headers.to_vec();
    for m in mismatches {
        let Some(header) = &m.header else { continue };
        let position = lines
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(header));
        lines.retain(|(n, _)| !n.eq_ignore_ascii_case(header));
        if let Some(value) = &m.expected_line {
            // The sender's spelling of the name when it sent the header, so the diff
            // shows only the value change.
            let name = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(header))
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| crate::run::canonical_header_name(header));
            let at = position.unwrap_or(lines.len()).min(lines.len());
            lines.insert(at, (name, value.clone()));
        }
    }
    lines
}

/// A first line and header lines, made printable.
fn block(first: &str, headers: &[(String, String)]) -> String {
    let mut block = format!("{}\n", printable(first));
    for (name, value) in headers {
        let _ = writeln!(block, "{}: {}", printable(name), printable(value));
    }
    block
}

/// Text from the server made safe for a terminal: control characters (escape
/// sequences could retitle or repaint it) are shown as `\u{..}` instead.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// `PASS`, `FAIL`, ... as shown in progress lines.
pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "ok",
        Verdict::Fail => "FAIL",
        Verdict::Warn => "WARN",
        Verdict::Skip => "skip",
        Verdict::Error => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::location::Loc;
    use std::sync::Arc;

    #[test]
    fn server_text_cannot_reach_the_terminal_as_escape_sequences() {
        assert_eq!(
            printable("a\x1b]0;pwned\x07b\tc"),
            "a\\u{1b}]0;pwned\\u{7}b\tc"
        );
        let response = RecordedResponse::new(200, &[("X-Evil", "\x1b[2J")]);
        let diff = header_diff(&response, &[], false);
        assert!(!diff.contains('\x1b'), "{diff:?}");
    }

    #[test]
    fn diff_shows_the_missing_header_at_the_expectation() {
        let mut response =
            RecordedResponse::new(200, &[("BITS-Packet-Type", "Ack"), ("Content-Length", "0")]);
        response.reason = "OK".into();
        let mismatch = Mismatch {
            kind: "header",
            header: Some("bits-received-content-range".into()),
            expected: "\"1024\"".into(),
            actual: None,
            expected_line: Some("1024".into()),
            loc: Loc::new(&Arc::from("f.yaml"), 12, 9),
            graded: None,
        };
        let diff = header_diff(&response, std::slice::from_ref(&mismatch), false);
        assert_eq!(
            diff,
            "     HTTP/1.1 200 OK\n     BITS-Packet-Type: Ack\n     Content-Length: 0\n    -BITS-Received-Content-Range: 1024\n"
        );
        assert_eq!(
            mismatch_line(&mismatch),
            "header bits-received-content-range: expected \"1024\", got nothing (header absent)"
        );
    }
}
