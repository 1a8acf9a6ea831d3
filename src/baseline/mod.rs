//! Baselines: a target's known deviations (scenario id and reason). Their failures are
//! reported as expected, so CI can live with them and still catch new ones; a
//! baselined scenario that now passes is flagged so the baseline can be pruned.

use crate::report::render::mismatch_line;
use crate::scenario::error::ScenarioError;
use crate::shared::outcome::{BaselineMark, BaselineState, ScenarioOutcome, Verdict};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Free text: which target this baseline describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub deviations: Vec<Deviation>,
}

/// One known deviation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// The scenario id.
    pub id: String,
    /// Why the target deviates (and, ideally, who tracks the fix).
    pub reason: String,
}

impl Baseline {
    /// Reads a baseline file; errors are located.
    pub fn load(path: &Path) -> Result<Baseline, ScenarioError> {
        crate::scenario::load::load_yaml(path, "baseline")
    }

    fn reason(&self, id: &str) -> Option<&str> {
        self.deviations
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.reason.as_str())
    }

    /// Ids listed in the baseline that no outcome has (renamed or deleted scenarios).
    pub fn stale_ids(&self, outcomes: &[ScenarioOutcome]) -> Vec<String> {
        self.deviations
            .iter()
            .filter(|d| !outcomes.iter().any(|o| o.id == d.id))
            .map(|d| d.id.clone())
            .collect()
    }
}

/// Marks each outcome the baseline lists: an expected failure, or one that now passes.
pub fn apply(outcomes: &mut [ScenarioOutcome], baseline: &Baseline) {
    for outcome in outcomes {
        let Some(reason) = baseline.reason(&outcome.id) else {
            continue;
        };
        let state = match outcome.verdict {
            Verdict::Fail | Verdict::Error | Verdict::Warn => BaselineState::ExpectedFailure,
            Verdict::Pass => BaselineState::NowPasses,
            Verdict::Skip => continue,
        };
        outcome.baseline = Some(BaselineMark {
            reason: reason.to_owned(),
            state,
        });
    }
}

/// The baseline that accepts the current deviations: reasons kept from `previous`,
/// new entries explained by their first mismatch.
pub fn updated(outcomes: &[ScenarioOutcome], previous: Option<&Baseline>) -> Baseline {
    let mut deviations: Vec<Deviation> = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn))
        .map(|o| {
            let reason = previous
                .and_then(|b| b.reason(&o.id))
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    let first = o
                        .failing_step()
                        .and_then(|s| {
                            s.mismatches
                                .first()
                                .map(mismatch_line)
                                .or_else(|| s.error.clone())
                        })
                        .or_else(|| o.reason.clone())
                        .unwrap_or_else(|| o.verdict.as_str().to_owned());
                    format!("new deviation: {first}")
                });
            Deviation {
                id: o.id.clone(),
                reason,
            }
        })
        .collect();
    deviations.sort_by(|a, b| a.id.cmp(&b.id));
    Baseline {
        target: previous.and_then(|b| b.target.clone()),
        deviations,
    }
}

/// Writes `baseline` to `path` as YAML.
pub fn write(path: &Path, baseline: &Baseline) -> Result<(), String> {
    let body = serde_saphyr::to_string(baseline)
        .map_err(|e| format!("cannot encode the baseline: {e}"))?;
    let text = format!(
        "# bitspec baseline: known deviations of a target (scenario id and reason).\n# Written by `bitspec run --update-baseline`; edit the reasons freely.\n{body}"
    );
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
