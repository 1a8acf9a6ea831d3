//! The requirements catalogue (`scenarios/requirements.yaml`): one entry per testable
//! server-side MUST, SHOULD and MAY, which scenarios cite by id. Used to reject a
//! scenario citing an unknown id and to compute coverage.

use crate::scenario::Scenario;
use crate::scenario::error::{ScenarioError, did_you_mean};
use crate::scenario::model::Level;
use crate::shared::location::Loc;
use crate::shared::outcome::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The file name of the catalogue inside the scenario directory.
pub const CATALOGUE_FILE: &str = "requirements.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueDoc {
    requirements: Vec<Requirement>,
}

/// One requirement, quoted from its source.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub level: Level,
    pub source: String,
    pub section: String,
    pub packet: String,
    pub text: String,
    pub observable: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub needs: Vec<String>,
    #[serde(default)]
    pub ambiguity: Option<u32>,
    #[serde(default)]
    pub conflicts_with: Vec<String>,
    /// Whose behaviour the sentence governs; `server` when not written.
    #[serde(default)]
    pub party: Party,
}

/// Whose behaviour a requirement governs. Only a server requirement can make a server
/// fail: a rule on how a client builds its request does not make a server that
/// tolerates a broken one non-conformant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Party {
    /// What the server answers or does.
    #[default]
    Server,
    /// What a client sends or does.
    Client,
}

/// The loaded catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub requirements: Vec<Requirement>,
}

impl Catalogue {
    /// Loads `dir/requirements.yaml`; `Ok(None)` when there is none.
    pub fn load_from(dir: &Path) -> Result<Option<Catalogue>, ScenarioError> {
        let path = dir.join(CATALOGUE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let doc: CatalogueDoc = crate::scenario::load::load_yaml(&path, "requirements catalogue")?;
        Ok(Some(Catalogue {
            requirements: doc.requirements,
        }))
    }

    /// Parses catalogue text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Catalogue, ScenarioError> {
        let doc: CatalogueDoc = crate::scenario::load::parse_yaml(
            std::sync::Arc::from(file),
            std::sync::Arc::from(text),
            "requirements catalogue",
        )?;
        Ok(Catalogue {
            requirements: doc.requirements,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// An error for every id a scenario cites that the catalogue does not have.
    pub fn check_citations(&self, scenarios: &[Scenario]) -> Vec<ScenarioError> {
        let known: HashMap<&str, ()> = self
            .requirements
            .iter()
            .map(|r| (r.id.as_str(), ()))
            .collect();
        let mut errors = Vec::new();
        for s in scenarios {
            for id in &s.requirements {
                if !known.contains_key(id.as_str()) {
                    let help = did_you_mean(id, self.requirements.iter().map(|r| r.id.as_str()));
                    errors.push(
                        ScenarioError::new(
                            format!("requirement `{id}` is not in {CATALOGUE_FILE}"),
                            Some(Loc::new(&s.file, 1, 1)),
                        )
                        .with_help(help),
                    );
                }
            }
        }
        errors
    }
}

impl Catalogue {
    /// Sets the level of every requirement an expectation or step names; an error, at
    /// the id, for each id the catalogue does not have.
    pub fn resolve_levels(&self, scenarios: &mut [Scenario]) -> Vec<ScenarioError> {
        let mut errors = Vec::new();
        for s in scenarios.iter_mut() {
            let source = std::fs::read_to_string(&s.path).ok().map(Arc::<str>::from);
            for step in &mut s.steps {
                for named in step.expect.requirements_mut() {
                    match self.get(&named.id) {
                        Some(r) => named.level = Some(r.level),
                        None => {
                            let help = did_you_mean(
                                &named.id,
                                self.requirements.iter().map(|r| r.id.as_str()),
                            );
                            let mut e = ScenarioError::new(
                                format!("requirement `{}` is not in {CATALOGUE_FILE}", named.id),
                                Some(named.loc.clone()),
                            )
                            .with_help(help);
                            // A requirement written in a reusable step shows that file's line.
                            let source = if named.loc.file == s.file {
                                source.clone()
                            } else {
                                std::fs::read_to_string(&*named.loc.file)
                                    .ok()
                                    .map(Arc::<str>::from)
                            };
                            if let Some(source) = &source {
                                e = e.with_source(source);
                            }
                            errors.push(e);
                        }
                    }
                }
            }
        }
        errors
    }
}

/// Coverage of one requirement.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageEntry {
    pub requirement: Requirement,
    /// (scenario test name, verdict if known)
    pub scenarios: Vec<(String, Option<Verdict>)>,
}

impl CoverageEntry {
    pub fn status(&self) -> &'static str {
        if !self.scenarios.is_empty() {
            "covered"
        } else if !self.requirement.observable {
            "not observable"
        } else {
            "uncovered"
        }
    }
}

/// For each requirement, the scenarios that cite it and, when `verdicts` has them, how they ended.
pub fn coverage(
    catalogue: &Catalogue,
    scenarios: &[Scenario],
    verdicts: &HashMap<String, Verdict>,
) -> Vec<CoverageEntry> {
    catalogue
        .requirements
        .iter()
        .map(|r| CoverageEntry {
            requirement: r.clone(),
            scenarios: scenarios
                .iter()
                .filter(|s| s.requirements.contains(&r.id))
                .map(|s| (s.name.clone(), verdicts.get(&s.id).copied()))
                .collect(),
        })
        .collect()
}

/// Counts for a summary line.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CoverageTotals {
    pub requirements: usize,
    pub covered: usize,
    pub not_observable: usize,
    pub uncovered: usize,
}

pub fn coverage_totals(entries: &[CoverageEntry]) -> CoverageTotals {
    let mut t = CoverageTotals {
        requirements: entries.len(),
        ..CoverageTotals::default()
    };
    for e in entries {
        match e.status() {
            "covered" => t.covered += 1,
            "not observable" => t.not_observable += 1,
            _ => t.uncovered += 1,
        }
    }
    t
}
