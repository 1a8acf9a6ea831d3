//! Loading and validating client scenarios the way server scenarios are: every error
//! located `file:line:column` with a did-you-mean, requirement ids checked against the
//! catalogue, and each expectation given the level it is graded at.

use super::model::{ClientScenario, Expectation};
use crate::scenario::ScenarioError;
use crate::scenario::error::did_you_mean;
use crate::scenario::level_check::{ClientCheck, check_client_levels};
use crate::scenario::load::parse_yaml;
use crate::scenario::model::Level;
use crate::scenario::requirements::{CATALOGUE_FILE, Catalogue, Party};
use crate::shared::location::Loc;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of client scenarios inside a scenario directory.
pub const CLIENT_DIR: &str = "client";

/// A client scenario with where its parts are written.
#[derive(Debug, Clone)]
pub struct LoadedClient {
    pub path: PathBuf,
    /// The path as shown in messages.
    pub file: Arc<str>,
    pub source: Arc<str>,
    pub scenario: ClientScenario,
    /// Per expectation (same order): where it is written and where its requirement is.
    pub expect_locs: Vec<(Loc, Loc)>,
}

impl LoadedClient {
    /// Where expectation `index` is written (the file's start when unknown).
    pub fn expect_loc(&self, index: usize) -> Loc {
        self.expect_locs
            .get(index)
            .map(|(at, _)| at.clone())
            .unwrap_or_else(|| Loc::new(&self.file, 1, 1))
    }
}

/// The positions only: a lenient second reading of the same text.
#[derive(Deserialize)]
struct Positions {
    #[serde(default)]
    expect: Vec<Spanned<ExpectPositions>>,
}

#[derive(Deserialize)]
struct ExpectPositions {
    #[serde(default)]
    requirement: Option<Spanned<String>>,
}

/// Parses one client scenario; `file` names it in errors.
pub fn parse(path: &Path, file: Arc<str>, source: Arc<str>) -> Result<LoadedClient, ScenarioError> {
    let scenario: ClientScenario =
        parse_yaml(Arc::clone(&file), Arc::clone(&source), "client scenario")?;
    let positions: Positions =
        parse_yaml(Arc::clone(&file), Arc::clone(&source), "client scenario")?;
    let expect_locs = positions
        .expect
        .iter()
        .map(|e| {
            let at = Loc::of(&file, e);
            let requirement = e
                .value
                .requirement
                .as_ref()
                .map_or_else(|| at.clone(), |r| Loc::of(&file, r));
            (at, requirement)
        })
        .collect();
    Ok(LoadedClient {
        path: path.to_path_buf(),
        file,
        source,
        scenario,
        expect_locs,
    })
}

/// Reads and parses one client scenario file.
pub fn load_file(path: &Path) -> Result<LoadedClient, ScenarioError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::new(format!("cannot read {file}: {e}"), None))?;
    parse(path, file, Arc::from(text))
}

/// The `.yaml` files of a directory, sorted by name.
pub fn find_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ScenarioError::new(format!("cannot read {}: {e}", dir.display()), None))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every client scenario of `files`, validated against the catalogue in
/// `catalogue_dir`: the scenarios that loaded, and every error found.
pub fn load_and_check(
    files: &[PathBuf],
    catalogue_dir: &Path,
) -> (Vec<LoadedClient>, Vec<ScenarioError>) {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match load_file(path) {
            Ok(l) => loaded.push(l),
            Err(e) => errors.push(e),
        }
    }
    for (i, l) in loaded.iter().enumerate() {
        if let Some(other) = loaded[..i].iter().find(|o| o.scenario.id == l.scenario.id) {
            errors.push(
                ScenarioError::new(
                    format!(
                        "duplicate client scenario id `{}` (also used by {})",
                        l.scenario.id, other.file
                    ),
                    Some(Loc::new(&l.file, 1, 1)),
                )
                .with_source(&l.source),
            );
        }
    }
    match Catalogue::load_from(catalogue_dir) {
        Ok(Some(catalogue)) => {
            errors.extend(check_citations(&catalogue, &loaded));
            let checks: Vec<ClientCheck> = loaded
                .iter()
                .flat_map(|l| {
                    l.scenario
                        .expect
                        .iter()
                        .zip(&l.expect_locs)
                        .map(|(e, (_, at))| ClientCheck {
                            requirement: &e.requirement,
                            level: e.level,
                            loc: at.clone(),
                            source: &l.source,
                        })
                })
                .collect();
            errors.extend(check_client_levels(&catalogue, &checks));
        }
        Ok(None) => errors.push(ScenarioError::new(
            format!(
                "no {CATALOGUE_FILE} in {}: client scenarios cite client requirements from it",
                catalogue_dir.display()
            ),
            None,
        )),
        Err(e) => errors.push(e),
    }
    (loaded, errors)
}

/// An error for every requirement id the catalogue does not have, with a did-you-mean
/// among the client requirements.
fn check_citations(catalogue: &Catalogue, loaded: &[LoadedClient]) -> Vec<ScenarioError> {
    let client_ids = || {
        catalogue
            .requirements
            .iter()
            .filter(|r| r.party == Party::Client)
            .map(|r| r.id.as_str())
    };
    let mut errors = Vec::new();
    for l in loaded {
        for (e, (_, at)) in l.scenario.expect.iter().zip(&l.expect_locs) {
            if catalogue.get(&e.requirement).is_none() {
                errors.push(
                    ScenarioError::new(
                        format!("requirement `{}` is not in {CATALOGUE_FILE}", e.requirement),
                        Some(at.clone()),
                    )
                    .with_help(did_you_mean(&e.requirement, client_ids()))
                    .with_source(&l.source),
                );
            }
        }
    }
    errors
}

/// The level a miss of `e` counts at: its own `level:` if given, else its requirement's
/// (MUST when the requirement is unknown: validation has reported that already).
pub fn level_of(catalogue: &Catalogue, e: &Expectation) -> Level {
    e.level.unwrap_or_else(|| {
        catalogue
            .get(&e.requirement)
            .map_or(Level::Must, |r| r.level)
    })
}

/// The catalogue for client scenarios in `dir`: beside them, else in the folder above
/// (the suite layout is `scenarios/client/` with `scenarios/requirements.yaml`).
pub fn catalogue_dir(dir: &Path) -> PathBuf {
    if dir.join(CATALOGUE_FILE).is_file() {
        return dir.to_path_buf();
    }
    match dir.parent() {
        Some(parent) if parent.join(CATALOGUE_FILE).is_file() => parent.to_path_buf(),
        Some(parent) if parent.as_os_str().is_empty() => PathBuf::from("."),
        Some(parent) => parent.to_path_buf(),
        None => dir.to_path_buf(),
    }
}

/// Whether a path `bitspec check` is given holds client scenarios: a folder named
/// `client`, or a file in one (the suite layout, `scenarios/client/`).
pub fn is_client_path(path: &Path) -> bool {
    let name = |p: Option<&Path>| p.and_then(Path::file_name).is_some_and(|n| n == CLIENT_DIR);
    if path.is_dir() {
        name(Some(path))
    } else {
        name(path.parent())
    }
}

/// `bitspec check` of client scenarios: every file of `paths` (a folder stands for its
/// `.yaml` files), each against the catalogue of its suite (`fallback` when none is
/// found beside it). The number of files checked and every error.
pub fn check_paths(paths: &[PathBuf], fallback: &Path) -> (usize, Vec<ScenarioError>) {
    let mut count = 0;
    let mut errors = Vec::new();
    // Grouped by folder, so duplicate ids are found within a suite.
    let mut folders: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for path in paths {
        let (folder, files) = if path.is_dir() {
            match find_files(path) {
                Ok(files) => (path.clone(), files),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        } else {
            let folder = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
            (folder, vec![path.clone()])
        };
        match folders.iter_mut().find(|(f, _)| *f == folder) {
            Some((_, known)) => known.extend(files),
            None => folders.push((folder, files)),
        }
    }
    for (folder, files) in folders {
        let dir = catalogue_dir(&folder);
        let dir = if dir.join(CATALOGUE_FILE).is_file() {
            dir
        } else {
            fallback.to_path_buf()
        };
        count += files.len();
        errors.extend(load_and_check(&files, &dir).1);
    }
    (count, errors)
}

/// The paths `bitspec check` was given, as (client scenario paths, the others); with
/// none given, the suite's `client/` folder and nothing else.
pub fn split_paths(paths: &[PathBuf], suite_dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    if paths.is_empty() {
        let client = suite_dir.join(CLIENT_DIR);
        return (
            client.is_dir().then_some(client).into_iter().collect(),
            Vec::new(),
        );
    }
    paths.iter().cloned().partition(|p| is_client_path(p))
}
