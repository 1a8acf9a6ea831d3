//! The self-test's results as plain data: produced by [`crate::selftest`], written by
//! the reporters (`results.json` has a `selftest` section of this shape).

use crate::shared::outcome::ScenarioOutcome;
use serde::Serialize;

/// What one fault did to the suite.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FaultResult {
    /// The `--fault` name.
    pub fault: String,
    pub area: String,
    /// What the fault breaks: a header name, `status` or `body`.
    pub breaks: String,
    pub description: String,
    /// Scenarios that failed or errored against the faulty server.
    pub caught_by: Vec<String>,
    /// Those of `caught_by` with a mismatch that names `breaks`.
    pub named_by: Vec<String>,
    /// Why the suite could not run (the server did not start).
    pub error: Option<String>,
    pub duration_ms: u64,
}

impl FaultResult {
    pub fn caught(&self) -> bool {
        !self.caught_by.is_empty()
    }

    pub fn named(&self) -> bool {
        !self.named_by.is_empty()
    }

    /// What the fault's run came to, the one classification every report uses.
    pub fn state(&self) -> FaultState<'_> {
        match &self.error {
            Some(e) => FaultState::Error(e),
            None if self.named() => FaultState::Named,
            None if self.caught() => FaultState::NotNamed,
            None => FaultState::Missed,
        }
    }
}

/// What a fault's run came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultState<'a> {
    /// Its server could not be run; the reason.
    Error(&'a str),
    /// A failure named what the fault breaks.
    Named,
    /// Scenarios failed, none naming what it breaks.
    NotNamed,
    /// No scenario failed.
    Missed,
}

/// The mutation score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Score {
    pub faults: usize,
    /// Faults some scenario failed on.
    pub caught: usize,
    /// Faults some failure named (header or status): the score's numerator.
    pub named: usize,
    /// `named / faults` in percent.
    pub percent: f64,
}

impl Score {
    pub fn of(results: &[FaultResult]) -> Score {
        let named = results.iter().filter(|r| r.named()).count();
        Score {
            faults: results.len(),
            caught: results.iter().filter(|r| r.caught()).count(),
            named,
            percent: if results.is_empty() {
                0.0
            } else {
                100.0 * named as f64 / results.len() as f64
            },
        }
    }

    /// Every fault caught by a failure that names what it breaks.
    pub fn is_perfect(&self) -> bool {
        self.faults > 0 && self.named == self.faults
    }
}

/// The `selftest` section of `results.json`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Selftest {
    pub profile: String,
    /// Scenarios run against each server.
    pub scenarios: usize,
    /// Scenarios that failed against the server without faults (must be none).
    pub control_failures: Vec<String>,
    pub score: Score,
    pub faults: Vec<FaultResult>,
    pub duration_ms: u64,
}

impl Selftest {
    /// The control run passed and every fault was caught by a failure naming it.
    pub fn passed(&self) -> bool {
        self.control_failures.is_empty() && self.score.is_perfect()
    }
}

/// A whole self-test: the control run's outcomes and the fault results.
pub struct SelftestRun {
    pub control: Vec<ScenarioOutcome>,
    pub target: String,
    pub summary: Selftest,
}
