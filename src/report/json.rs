//! `results.json`: every outcome, as data, for machines. The layout is versioned by
//! `schema_version`; fields are only ever added within one version.

use super::findings::{Finding, root_causes};
use crate::shared::outcome::{ScenarioOutcome, Subject, Totals};
use crate::shared::selftest::Selftest;
use serde::Serialize;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

/// The top level of `results.json`.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(title = "bitspec results")]
struct Results<'a> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    /// What `target` names: a server (its URL), or a client (`client-test`: its command).
    subject: Subject,
    target: &'a str,
    totals: Totals,
    /// Failed and errored scenarios grouped by distinct finding, most scenarios first.
    root_causes: Vec<Finding>,
    scenarios: &'a [ScenarioOutcome],
    /// Only from `bitspec selftest`: the mutation score and what each fault did
    /// (`scenarios` are then the control run, without faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    selftest: Option<&'a Selftest>,
}

/// The JSON text of a run.
pub fn to_json(outcomes: &[ScenarioOutcome], target: &str) -> Result<String, serde_json::Error> {
    encode(outcomes, target, None)
}

/// The JSON text of a self-test: the control run and the `selftest` section.
pub fn selftest_json(
    outcomes: &[ScenarioOutcome],
    target: &str,
    selftest: &Selftest,
) -> Result<String, serde_json::Error> {
    encode(outcomes, target, Some(selftest))
}

fn encode(
    outcomes: &[ScenarioOutcome],
    target: &str,
    selftest: Option<&Selftest>,
) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&Results {
        schema_version: SCHEMA_VERSION,
        tool: "bitspec",
        version: env!("CARGO_PKG_VERSION"),
        subject: outcomes.first().map_or(Subject::Server, |o| o.subject),
        target,
        totals: Totals::of(outcomes),
        root_causes: root_causes(outcomes),
        scenarios: outcomes,
        selftest,
    })
}

/// Writes the JSON report, creating the directory; returns the path written.
pub fn write(dir: &Path, outcomes: &[ScenarioOutcome], target: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create report directory {}: {e}", dir.display()))?;
    let path = dir.join("results.json");
    let text = to_json(outcomes, target).map_err(|e| format!("cannot encode results: {e}"))?;
    // Write beside and rename, so a reader never sees half a report.
    let partial = dir.join(".results.json.partial");
    std::fs::write(&partial, text)
        .map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// The JSON Schema of `results.json`.
pub fn results_schema() -> schemars::Schema {
    schemars::schema_for!(Results<'static>)
}
