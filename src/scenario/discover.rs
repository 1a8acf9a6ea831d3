//! Finding scenario files under a directory and loading them as one suite.

use super::error::ScenarioError;
use super::library::{STEPS_DIR, StepLibrary, scenario_root};
use super::load::load_file;
use super::model::Level;
use super::plan::Scenario;
use super::requirements::Catalogue;
use super::validate::validate_with;
use crate::shared::location::Loc;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Files under `scenarios/` that hold data rather than scenarios.
const NOT_SCENARIOS: &[&str] = &["requirements.yaml"];

/// A scenario file as (path, group, test name).
pub type ScenarioFile = (PathBuf, String, String);

/// Every scenario file below `dir`, sorted, as (path, group, test name).
pub fn find_scenario_files(dir: &Path) -> Result<Vec<(PathBuf, String, String)>, ScenarioError> {
    let mut found = Vec::new();
    walk(dir, dir, &mut found).map_err(|e| {
        ScenarioError::new(
            format!("cannot read scenario directory {}: {e}", dir.display()),
            None,
        )
    })?;
    found.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
    Ok(found)
}

/// Whether a file below a scenario directory is a scenario: YAML, not hidden, not
/// one of the data files.
/// Top-level folders of a suite that hold no scenarios: `client/` holds client
/// scenarios (`bitspec client-test`, another format), `steps/` reusable steps.
pub fn is_not_scenario_folder(name: &str) -> bool {
    name == "client" || name == STEPS_DIR
}

pub fn is_scenario_file(path: &Path) -> bool {
    let is_yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    is_yaml && !NOT_SCENARIOS.contains(&file_name.as_str()) && !file_name.starts_with('.')
}

fn walk(
    root: &Path,
    dir: &Path,
    found: &mut Vec<(PathBuf, String, String)>,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if dir == root && is_not_scenario_folder(&entry.file_name().to_string_lossy()) {
                continue;
            }
            walk(root, &path, found)?;
            continue;
        }
        if !is_scenario_file(&path) {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let group: Vec<String> = relative
            .parent()
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let group = if group.is_empty() {
            "scenarios".to_owned()
        } else {
            group.join("::")
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{group}::{stem}");
        found.push((path, group, name));
    }
    Ok(())
}

/// The result of loading a directory: the valid scenarios and every error.
#[derive(Debug, Default)]
pub struct Suite {
    pub scenarios: Vec<Scenario>,
    pub errors: Vec<ScenarioError>,
}

/// Loads and validates every scenario below `dir`; duplicate ids are errors.
pub fn load_suite(dir: &Path) -> Suite {
    let files = match find_scenario_files(dir) {
        Ok(files) => files,
        Err(e) => {
            return Suite {
                scenarios: Vec::new(),
                errors: vec![e],
            };
        }
    };
    let (library, errors) = StepLibrary::load_dir(dir);
    let mut suite = load_files_with(files, &library);
    suite.errors.splice(0..0, errors);
    check_suite_citations(dir, &mut suite);
    suite
}

/// Loads and validates the given files (path, group, name), each with the reusable steps
/// of the scenario directory it sits in (see [`scenario_root`]).
pub fn load_files(files: Vec<(PathBuf, String, String)>) -> Suite {
    let mut suite = Suite::default();
    // Files grouped by their scenario directory, each group with its own reusable steps.
    let mut libraries: Vec<(Option<PathBuf>, Vec<ScenarioFile>)> = Vec::new();
    for file in files {
        let root = scenario_root(&file.0);
        match libraries.iter_mut().find(|(r, _)| *r == root) {
            Some((_, group)) => group.push(file),
            None => libraries.push((root, vec![file])),
        }
    }
    for (root, files) in libraries {
        let (library, errors) = match &root {
            Some(dir) => StepLibrary::load_dir(dir),
            None => (StepLibrary::default(), Vec::new()),
        };
        suite.errors.extend(errors);
        let part = load_files_with(files, &library);
        suite.scenarios.extend(part.scenarios);
        suite.errors.extend(part.errors);
    }
    suite
}

/// Loads and validates the given files (path, group, name) with these reusable steps.
pub fn load_files_with(files: Vec<(PathBuf, String, String)>, library: &StepLibrary) -> Suite {
    let mut suite = Suite::default();
    // Every parsed file's id, valid or not, so a duplicate is reported even when one
    // of the two files has other mistakes.
    let mut first_seen: HashMap<String, Loc> = HashMap::new();
    for (path, group, name) in files {
        match load_file(&path) {
            Ok(loaded) => {
                let id = loaded.doc.id.value.trim().to_owned();
                let loc = Loc::of(&loaded.file, &loaded.doc.id);
                match first_seen.get(&id) {
                    Some(previous) => suite.errors.push(
                        ScenarioError::new(
                            format!("duplicate scenario id `{id}` (first used at {previous})"),
                            Some(loc),
                        )
                        .with_source(&loaded.source),
                    ),
                    None => {
                        first_seen.insert(id, loc);
                    }
                }
                match validate_with(loaded, &path, &group, &name, library) {
                    Ok(scenario) => suite.scenarios.push(scenario),
                    Err(errors) => suite.errors.extend(errors),
                }
            }
            Err(e) => suite.errors.push(e),
        }
    }
    suite
}

/// Which scenarios to run. Each kind of criterion narrows the selection; several
/// values of one kind widen it (any of them).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Test name or id contains this text, or matches it as a glob (`fragment::0*`).
    pub filters: Vec<String>,
    /// Exact scenario ids.
    pub ids: Vec<String>,
    /// Tags (any case).
    pub tags: Vec<String>,
    /// Requirement ids cited by the scenario.
    pub requirements: Vec<String>,
    /// Packet types: the scenario's folder (`fragment`, `create-session`, ...).
    pub packets: Vec<String>,
    /// Requirement levels.
    pub levels: Vec<Level>,
}

impl Selection {
    pub fn matches(&self, scenario: &Scenario) -> bool {
        fn any<T>(wanted: &[T], test: impl Fn(&T) -> bool) -> bool {
            wanted.is_empty() || wanted.iter().any(test)
        }
        any(&self.filters, |f| {
            text_matches(f, &scenario.name) || text_matches(f, &scenario.id)
        }) && any(&self.ids, |id| *id == scenario.id)
            && any(&self.tags, |t| {
                scenario.tags.iter().any(|s| s.eq_ignore_ascii_case(t))
            })
            && any(&self.requirements, |r| scenario.requirements.contains(r))
            && any(&self.packets, |p| scenario.group.eq_ignore_ascii_case(p))
            && any(&self.levels, |l| *l == scenario.level)
    }
}

/// Substring match, or a glob match when the filter has glob characters.
fn text_matches(filter: &str, text: &str) -> bool {
    if filter.contains(['*', '?', '[']) {
        glob::Pattern::new(filter).is_ok_and(|p| p.matches(text))
    } else {
        text.contains(filter)
    }
}

/// Checks every scenario's citations against the catalogue beside them, adding errors to
/// the suite, and gives each requirement an expectation names its catalogue level.
/// Without a catalogue, an expectation that names a requirement is an error.
pub fn check_suite_citations(dir: &Path, suite: &mut Suite) {
    match Catalogue::load_from(dir) {
        Ok(Some(catalogue)) => {
            let errors = catalogue.check_citations(&suite.scenarios);
            suite.errors.extend(errors);
            let errors = catalogue.resolve_levels(&mut suite.scenarios);
            suite.errors.extend(errors);
        }
        Ok(None) => {
            let errors = Catalogue::default().resolve_levels(&mut suite.scenarios);
            suite.errors.extend(errors);
        }
        Err(e) => suite.errors.push(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_substrings_or_globs() {
        assert!(text_matches("gap", "fragment::002-gap-416"));
        assert!(text_matches("fragment::00*", "fragment::002-gap-416"));
        assert!(!text_matches("ping::*", "fragment::002-gap-416"));
        assert!(!text_matches("fragment::1*", "fragment::002-gap-416"));
    }
}
