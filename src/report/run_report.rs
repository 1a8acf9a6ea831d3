//! What the file reporters are given: a run's outcomes and its context.

use crate::scenario::load_suite;
use crate::scenario::requirements::{Catalogue, CoverageEntry, coverage};
use crate::shared::outcome::{ScenarioOutcome, Subject};
use std::collections::HashMap;
use std::path::Path;

/// What the file reports describe: the outcomes and the run's context.
#[derive(Debug, Clone, Copy)]
pub struct RunReport<'a> {
    pub outcomes: &'a [ScenarioOutcome],
    /// The target as shown to people (URL, and whether it is the bundled server).
    pub target: &'a str,
    pub profile: &'a str,
    pub profile_description: &'a str,
    /// `--strict`: SHOULD-level mismatches count as failures.
    pub strict: bool,
    /// Requirements coverage of the whole suite, with this run's verdicts (`None`: no catalogue).
    pub coverage: Option<&'a [CoverageEntry]>,
}

impl RunReport<'_> {
    /// What the run tested: a client (`client-test`) or a server.
    pub fn subject(&self) -> Subject {
        self.outcomes.first().map_or(Subject::Server, |o| o.subject)
    }

    /// The heading of the reports.
    pub fn title(&self) -> &'static str {
        match self.subject() {
            Subject::Server => "bitspec conformance report",
            Subject::Client => "bitspec client conformance report",
        }
    }

    /// What `target` is: the server's URL, or the client command.
    pub fn target_label(&self) -> &'static str {
        match self.subject() {
            Subject::Server => "Target",
            Subject::Client => "Client under test",
        }
    }

    /// Who followed the readings.
    pub fn who(&self) -> &'static str {
        match self.subject() {
            Subject::Server => "target",
            Subject::Client => "client",
        }
    }
}

/// Coverage of the catalogue in `dir` by every scenario there, with the verdicts of
/// `outcomes`; `None` when there is no (valid) catalogue. The whole suite, not only
/// the selection, so a filtered run does not report everything else as uncovered.
pub fn suite_coverage(dir: &Path, outcomes: &[ScenarioOutcome]) -> Option<Vec<CoverageEntry>> {
    let catalogue = Catalogue::load_from(dir).ok().flatten()?;
    let suite = load_suite(dir);
    let verdicts: HashMap<String, _> = outcomes.iter().map(|o| (o.id.clone(), o.verdict)).collect();
    Some(coverage(&catalogue, &suite.scenarios, &verdicts))
}
