//! Stage 5: reporters. The only code that prints or writes results.
//!
//! Every run writes every file format ([`write_all`]), so CI can pick whichever it
//! reads without the run having to know.

pub mod console;
pub mod findings;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod matrix;
pub mod output;
pub mod progress;
pub mod selftest;
pub mod summary;

pub use console::Console;

use crate::outcome::ScenarioOutcome;
use crate::requirements::{Catalogue, CoverageEntry, coverage};
use crate::scenario::load_suite;
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

/// Coverage of the catalogue in `dir` by every scenario there, with the verdicts of
/// `outcomes`; `None` when there is no (valid) catalogue. The whole suite, not only
/// the selection, so a filtered run does not report everything else as uncovered.
pub fn suite_coverage(dir: &Path, outcomes: &[ScenarioOutcome]) -> Option<Vec<CoverageEntry>> {
    let catalogue = Catalogue::load_from(dir).ok().flatten()?;
    let suite = load_suite(dir);
    let verdicts: HashMap<String, _> = outcomes.iter().map(|o| (o.id.clone(), o.verdict)).collect();
    Some(coverage(&catalogue, &suite.scenarios, &verdicts))
}

/// Writes results.json, junit.xml, report.md and report.html into `dir`. Returns the
/// paths written and a message for each file that could not be.
pub fn write_all(dir: &Path, report: &RunReport) -> (Vec<String>, Vec<String>) {
    let mut written = Vec::new();
    let mut problems = Vec::new();
    let mut keep = |result: Result<String, String>| match result {
        Ok(path) => written.push(path),
        Err(e) => problems.push(e),
    };
    keep(json::write(dir, report.outcomes, report.target));
    keep(junit::to_xml(report).and_then(|text| write_atomic(dir, "junit.xml", &text)));
    keep(write_atomic(dir, "report.md", &markdown::render(report)));
    keep(write_atomic(dir, "report.html", &html::render(report)));
    (written, problems)
}

/// Writes `dir/name` beside and renames, so a reader never sees half a report.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create report directory {}: {e}", dir.display()))?;
    let path = dir.join(name);
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, text)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}
