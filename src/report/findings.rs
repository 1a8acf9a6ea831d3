//! Root causes: failing scenarios grouped by their distinct finding (what the Ack
//! broke and what came instead), ranked by how many scenarios each explains, so a
//! server author sees in ten lines what to fix first. A scenario whose Create-Session
//! (a step it only needs to get going) hit a finding follows from it: what the
//! scenario checks was never reached.

use crate::report::render::mismatch_line;
use crate::shared::outcome::{Mismatch, ScenarioOutcome, StepOutcome, Verdict};
use serde::Serialize;

/// One distinct finding and the scenarios it explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// 1 for the finding that explains the most scenarios.
    pub rank: usize,
    /// What was broken and what came instead, in one line.
    pub finding: String,
    /// `fail` when an expectation broke, `error` when the exchange itself failed.
    pub verdict: Verdict,
    /// Every scenario it explains (test names), those it broke directly first.
    pub scenarios: Vec<String>,
    /// The scenarios among them that only follow from it: their Create-Session
    /// step hit it, so what they check was not reached.
    pub following: Vec<String>,
}

impl Finding {
    /// Scenarios it broke directly (not only following from it).
    pub fn direct(&self) -> usize {
        self.scenarios.len() - self.following.len()
    }

    /// `12 scenarios (9 only follow from it)`.
    pub fn count_text(&self) -> String {
        let n = self.scenarios.len();
        let mut text = format!("{n} scenario{}", if n == 1 { "" } else { "s" });
        if !self.following.is_empty() {
            text.push_str(&format!(
                " ({} only follow{} from it: their Create-Session hit it)",
                self.following.len(),
                if self.following.len() == 1 { "s" } else { "" }
            ));
        }
        text
    }
}

/// The findings of failed and errored scenarios (baselined ones left out), most
/// scenarios first; ties in the order the findings first appear.
pub fn root_causes(outcomes: &[ScenarioOutcome]) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for o in outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail | Verdict::Error))
        .filter(|o| o.baseline.is_none())
    {
        let (finding, following) = finding_of(o);
        let at = match found.iter().position(|f| f.finding == finding) {
            Some(at) => at,
            None => {
                found.push(Finding {
                    rank: 0,
                    finding,
                    verdict: o.verdict,
                    scenarios: Vec::new(),
                    following: Vec::new(),
                });
                found.len() - 1
            }
        };
        let f = &mut found[at];
        if o.verdict == Verdict::Fail {
            f.verdict = Verdict::Fail;
        }
        f.scenarios.push(o.name.clone());
        if following {
            f.following.push(o.name.clone());
        }
    }
    for f in &mut found {
        let following = f.following.clone();
        f.scenarios.sort_by_key(|s| following.contains(s));
    }
    // A stable sort keeps first appearance among equals.
    found.sort_by_key(|f| std::cmp::Reverse(f.scenarios.len()));
    for (i, f) in found.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    found
}

/// The finding of a scenario that failed or errored, and whether it only follows
/// from it (its failing step was a Create-Session it needed to get going).
pub fn finding_of(o: &ScenarioOutcome) -> (String, bool) {
    let Some(step) = o.failing_step() else {
        let reason = o.reason.as_deref().unwrap_or("no reason given");
        return (
            format!("the scenario could not run: {}", normalise(reason)),
            false,
        );
    };
    let packet = packet_of(step);
    let following = packet.eq_ignore_ascii_case("Create-Session")
        && !o.group.eq_ignore_ascii_case("create-session");
    let observed = observed(step);
    // A property of every Ack (its framing, its number format) is one finding.
    if observed.starts_with("an Ack without") || observed.contains("in decimal, not hexadecimal") {
        return (format!("every kind of Ack: {observed}"), following);
    }
    (format!("{packet}: {observed}"), following)
}

/// The BITS packet a step sent (its method when it sent none, or several).
fn packet_of(step: &StepOutcome) -> String {
    let mut types = step
        .request
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("BITS-Packet-Type"))
        .map(|(_, v)| v.trim());
    match (types.next(), types.next()) {
        (Some(one), None) => canonical_packet(one),
        (None, _) => format!("{} without BITS-Packet-Type", step.request.method),
        (Some(_), Some(_)) => format!("{} with BITS-Packet-Type twice", step.request.method),
    }
}

/// `fragment` -> `Fragment`, `CREATE-SESSION` -> `Create-Session`.
fn canonical_packet(name: &str) -> String {
    const KNOWN: [&str; 5] = [
        "Ping",
        "Create-Session",
        "Fragment",
        "Close-Session",
        "Cancel-Session",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| format!("packet type {name:?}"), |k| (*k).to_owned())
}

/// What the step saw instead of what it expected. An Ack without Content-Length is
/// one finding whatever else is wrong with it; a status is reported with the error
/// code that came with it; otherwise the first broken expectation.
fn observed(step: &StepOutcome) -> String {
    if let Some(error) = &step.error {
        return format!("the exchange failed: {}", normalise(error));
    }
    let m = &step.mismatches;
    if m.iter().any(|m| m.kind == crate::shared::outcome::FRAMING) {
        return "an Ack without Content-Length on a connection kept open (MUST: every Ack carries Content-Length)".into();
    }
    if let Some(header) = m.iter().find_map(decimal_hresult) {
        return format!("{header} carries the expected HRESULT in decimal, not hexadecimal");
    }
    let status_and_error: Vec<&Mismatch> = m
        .iter()
        .filter(|m| m.kind == "status" || m.kind == "error")
        .collect();
    if status_and_error.is_empty()
        && let Some(first) = m.first()
        && let (Some(header), None, "header" | "capture") =
            (&first.header, &first.actual, first.kind)
    {
        // However the expectation was written (present, a pattern, a capture).
        return format!(
            "header {} absent",
            crate::run::canonical_header_name(header)
        );
    }
    let chosen: Vec<&Mismatch> = if status_and_error.is_empty() {
        m.iter().take(1).collect()
    } else {
        status_and_error
    };
    chosen
        .iter()
        .map(|m| normalise(&mismatch_line(m)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The header of an error mismatch whose value is the expected HRESULT spelled in
/// decimal: one finding on every Ack, whatever the code.
fn decimal_hresult(m: &Mismatch) -> Option<String> {
    if m.kind != "error" {
        return None;
    }
    let actual: u64 = m.actual.as_deref()?.trim().parse().ok()?;
    let hex = m
        .expected
        .split_whitespace()
        .find_map(|w| w.strip_prefix("0x"))?;
    let expected = u64::from_str_radix(hex, 16).ok()?;
    (actual == expected).then(|| {
        format!(
            "error header {}",
            m.header.as_deref().unwrap_or("BITS-Error-Code")
        )
    })
}

/// The text with what differs from scenario to scenario (GUIDs, upload URLs,
/// durations) replaced, so the same finding reads the same everywhere.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(len) = guid_len(rest) {
            out.push_str("{guid}");
            rest = &rest[len..];
        } else if rest.starts_with("http://") || rest.starts_with("https://") {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == ')')
                .unwrap_or(rest.len());
            out.push_str("<url>");
            rest = &rest[end..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The length of a GUID (braced or not) at the start of `s`.
fn guid_len(s: &str) -> Option<usize> {
    let braced = s.starts_with('{');
    let body = if braced { &s[1..] } else { s };
    let groups = [8, 4, 4, 4, 12];
    let mut at = 0;
    for (i, n) in groups.iter().enumerate() {
        let part = body.get(at..at + n)?;
        if !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        at += n;
        if i < 4 {
            if body.as_bytes().get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
    }
    if braced {
        (body.as_bytes().get(at) == Some(&b'}')).then_some(at + 2)
    } else {
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_differs_between_scenarios_is_normalised_away() {
        assert_eq!(
            normalise("expected \"{00000000-0000-4000-8000-000000000002}\" at http://h:1/x.bin)"),
            "expected \"{guid}\" at <url>)"
        );
        assert_eq!(normalise("0x8020001F"), "0x8020001F");
    }
}
