//! The self-test's reports: a line per fault on the console, and a "Self-test"
//! section added to `report.md`, `report.html`, `results.json` and `junit.xml` (whose
//! scenarios are the control run).

use super::markdown::text;
use crate::shared::selftest::{FaultResult, FaultState, Score, Selftest};
use std::fmt::Write;

/// How many scenario names a table cell lists before "and N more".
const LISTED: usize = 3;

/// One console line for a fault that has been run.
pub fn fault_line(r: &FaultResult) -> String {
    let state = match r.state() {
        FaultState::Error(_) => "ERROR ",
        FaultState::Named => "named ",
        FaultState::NotNamed => "caught",
        FaultState::Missed => "MISSED",
    };
    let detail = match r.state() {
        FaultState::Error(e) => e.to_owned(),
        _ => format!(
            "{} scenario(s) failed, {} name {}",
            r.caught_by.len(),
            r.named_by.len(),
            r.breaks
        ),
    };
    format!("{state} {:<32} {detail}", r.fault)
}

/// The score in one line.
pub fn score_line(score: &Score) -> String {
    format!(
        "mutation score: {:.1} % ({} of {} faults caught by a failure that names what they break; {} caught)",
        score.percent, score.named, score.faults, score.caught
    )
}

/// Scenario names, the first few and a count of the rest.
pub fn listed(names: &[String]) -> String {
    let mut shown = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        let _ = write!(shown, " and {} more", names.len() - LISTED);
    }
    shown
}

/// The Markdown section: score, then a row per fault.
pub fn markdown(selftest: &Selftest) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Self-test: mutation score\n");
    let _ = writeln!(
        md,
        "**{}** — profile {}, {} scenarios against the reference server once per fault (strict), {:.0} s.\n",
        text(&score_line(&selftest.score)),
        text(&selftest.profile),
        selftest.scenarios,
        selftest.duration_ms as f64 / 1000.0
    );
    if !selftest.control_failures.is_empty() {
        let _ = writeln!(
            md,
            "The control run (no fault) failed: {}. These scenarios are left out of every fault's results, and the self-test fails until the control run passes.\n",
            text(&selftest.control_failures.join(", "))
        );
    }
    let _ = writeln!(
        md,
        "| Fault | Area | Breaks | Caught by | Named by |\n|---|---|---|---:|---|"
    );
    for r in &selftest.faults {
        let named = match r.state() {
            FaultState::Error(e) => format!("error: {}", text(e)),
            FaultState::Named => text(&listed(&r.named_by)),
            FaultState::NotNamed => "**not named**".into(),
            FaultState::Missed => "**not caught**".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            text(&r.fault),
            text(&r.area),
            text(&r.breaks),
            r.caught_by.len(),
            named
        );
    }
    md.push('\n');
    md
}
