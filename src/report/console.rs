//! The console reporter: a libtest-like line per scenario as it ends, then the
//! failures in full, then the closing `N passed, N failed` line.

use super::findings::{Finding, root_causes};
use crate::report::render::{failure_text, step_text_of, verdict_word};
use crate::shared::outcome::{ScenarioOutcome, Totals, Verdict};
use std::io::Write;

/// Prints to stdout; colour only when asked (the CLI asks on a terminal).
#[derive(Debug, Clone, Copy)]
pub struct Console {
    pub color: bool,
    pub verbose: bool,
}

impl Console {
    pub fn started(&self, count: usize, target: &str) {
        println!(
            "running {count} scenario{} against {target}",
            if count == 1 { "" } else { "s" }
        );
    }

    /// `client-test`: what runs against what.
    pub fn started_client(&self, count: usize, command: &str) {
        println!(
            "running {count} client scenario{} against the client `{}` (a scripted BITS server on 127.0.0.1 answers it)",
            if count == 1 { "" } else { "s" },
            crate::report::render::printable(command)
        );
    }

    /// One line for a finished scenario (every exchange with `--verbose`).
    pub fn scenario_done(&self, outcome: &ScenarioOutcome) {
        let word = verdict_word(outcome.verdict);
        let word = match (self.color, outcome.verdict) {
            (true, Verdict::Pass) => format!("\x1b[32m{word:<5}\x1b[0m"),
            (true, Verdict::Fail | Verdict::Error) => format!("\x1b[31m{word:<5}\x1b[0m"),
            (true, Verdict::Skip | Verdict::Warn) => format!("\x1b[33m{word:<5}\x1b[0m"),
            (false, _) => format!("{word:<5}"),
        };
        let mut line = format!("{word} {} ({} ms)", outcome.name, outcome.duration_ms);
        if let Some(reason) = outcome
            .reason
            .as_ref()
            .filter(|_| outcome.verdict != Verdict::Fail)
        {
            line.push_str(&format!(": {}", crate::report::render::printable(reason)));
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        if self.verbose {
            for step in outcome.steps.iter().chain(&outcome.cleanup) {
                let _ = write!(
                    stdout,
                    "{}",
                    step_text_of(step, outcome.subject, self.color)
                );
                if let Some(response) = &step.response {
                    for (name, value) in &response.headers {
                        let _ = writeln!(
                            stdout,
                            "    < {}: {}",
                            crate::report::render::printable(name),
                            crate::report::render::printable(value)
                        );
                    }
                }
            }
        }
    }

    /// The failures in full, then the totals; the last line is `N passed, N failed`.
    pub fn finished(&self, outcomes: &[ScenarioOutcome], report_paths: &[String]) {
        let failures: Vec<_> = outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn))
            .filter(|o| o.baseline.is_none())
            .collect();
        let causes = root_causes(outcomes);
        if !causes.is_empty() {
            println!("\n{}", root_causes_head(&causes));
            for line in root_cause_lines(&causes, SHOWN_ROOT_CAUSES) {
                println!("{line}");
            }
        }
        if !failures.is_empty() {
            println!("\nfailures and warnings:\n");
            for outcome in &failures {
                match following(&causes, &outcome.name) {
                    Some(rank) => println!(
                        "{}: {}: follows from root cause {rank}\n",
                        verdict_word(outcome.verdict),
                        outcome.name
                    ),
                    None => println!(
                        "{}: {}",
                        verdict_word(outcome.verdict),
                        failure_text(outcome, self.color)
                    ),
                }
            }
        }
        // Per-step readings are folded by name; named ambiguities keep their topic.
        let mut counts: Vec<(String, usize)> = Vec::new();
        for row in super::summary::readings(outcomes) {
            let key = if row.topic.starts_with("step at ") {
                format!("reading {}", row.reading)
            } else {
                format!("{} -> {}", row.topic, row.reading)
            };
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += row.count,
                None => counts.push((key, row.count)),
            }
        }
        if !counts.is_empty() {
            let list: Vec<String> = counts.iter().map(|(k, n)| format!("{k} ({n}x)")).collect();
            let who = match outcomes.first().map(|o| o.subject) {
                Some(crate::shared::outcome::Subject::Client) => "client",
                _ => "target",
            };
            println!("readings the {who} followed: {}", list.join(", "));
        }
        let notes: Vec<String> = super::summary::notes(outcomes)
            .into_iter()
            .map(|(name, note)| format!("  {name}: {note}"))
            .collect();
        if !notes.is_empty() {
            println!("notes:");
            for note in &notes {
                println!("{note}");
            }
        }
        for path in report_paths {
            println!("report: {path}");
        }
        let t = Totals::of(outcomes);
        if t.errors > 0 {
            println!(
                "({} of the failures {}: the exchange itself failed)",
                t.errors,
                if t.errors == 1 {
                    "is an error"
                } else {
                    "are errors"
                }
            );
        }
        if t.baselined > 0 {
            println!(
                "{} known deviation{} (baseline): not counted as failures",
                t.baselined,
                if t.baselined == 1 { "" } else { "s" }
            );
        }
        for o in outcomes.iter().filter(|o| {
            o.baseline
                .as_ref()
                .is_some_and(|b| b.state == crate::shared::outcome::BaselineState::NowPasses)
        }) {
            println!("baseline: {} now passes: remove it from the baseline", o.id);
        }
        if t.warnings > 0 {
            println!(
                "{} SHOULD-level warning{} (failures with --strict)",
                t.warnings,
                if t.warnings == 1 { "" } else { "s" }
            );
        }
        println!("{}", last_line(&t));
    }
}

/// Root causes printed before the failures; the reports list them all.
const SHOWN_ROOT_CAUSES: usize = 8;

/// `root causes: 3 findings explain 59 failing scenarios, most first:`.
pub fn root_causes_head(causes: &[Finding]) -> String {
    let explained: usize = causes.iter().map(|f| f.scenarios.len()).sum();
    format!(
        "root causes: {} finding{} explain{} {explained} failing scenario{}, most first:",
        causes.len(),
        if causes.len() == 1 { "" } else { "s" },
        if causes.len() == 1 { "s" } else { "" },
        if explained == 1 { "" } else { "s" }
    )
}

/// One line per finding, at most `limit`, then how many more there are.
pub fn root_cause_lines(causes: &[Finding], limit: usize) -> Vec<String> {
    let mut lines: Vec<String> = causes
        .iter()
        .take(limit)
        .map(|f| {
            format!(
                "  {}. {} {}: {}",
                f.rank,
                verdict_word(f.verdict),
                f.count_text(),
                crate::report::render::printable(&f.finding)
            )
        })
        .collect();
    if causes.len() > limit {
        lines.push(format!(
            "  ... and {} more (report.md lists them all)",
            causes.len() - limit
        ));
    }
    lines
}

/// The rank of the finding `name` only follows from, if it does.
pub fn following(causes: &[Finding], name: &str) -> Option<usize> {
    causes
        .iter()
        .find(|f| f.following.iter().any(|n| n == name))
        .map(|f| f.rank)
}

/// The closing line of a run: `N passed, N failed[, N skipped]`.
pub fn last_line(t: &Totals) -> String {
    let mut last = format!(
        "{} passed, {} failed",
        t.passed + t.warnings,
        t.failed + t.errors
    );
    if t.skipped > 0 {
        last.push_str(&format!(", {} skipped", t.skipped));
    }
    last
}
