//! Reusable steps: the files of `scenarios/steps/`, each one step that scenarios use by
//! name (`use: open-session`), with parameters and overridable expectations.
//!
//! Not to be confused with [`super::template`], the `${name}` text templates. A reusable
//! step is parsed through a YAML `!include`, so every value in it carries a non-zero
//! source id: validation tells the reusable step's positions from the scenario's and
//! locates each at its own file, with the `use:` that brought it in.

use super::error::ScenarioError;
use super::load::yaml_error;
use super::model::{ParamSpec, ReusableStepDoc, Spanned, Step};
use crate::shared::location::Loc;
use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder of reusable steps inside a scenario directory.
pub const STEPS_DIR: &str = "steps";

/// Files larger than this are not reusable steps.
const MAX_STEP_FILE_BYTES: u64 = 256 * 1024;

/// One reusable step, parsed.
#[derive(Debug)]
pub struct ReusableStep {
    /// The name scenarios use: the file stem.
    pub name: String,
    /// The path as shown in messages.
    pub file: Arc<str>,
    pub source: Arc<str>,
    pub params: IndexMap<String, ParamSpec>,
    /// The step; every location in it has a non-zero source id.
    pub step: Spanned<Step>,
}

/// The reusable steps a scenario may use, by name.
#[derive(Debug, Default)]
pub struct StepLibrary {
    steps: Vec<ReusableStep>,
}

impl StepLibrary {
    /// Loads `scenario_dir/steps/*.yaml`; no folder is an empty library. A file that does
    /// not parse is an error and is left out.
    pub fn load_dir(scenario_dir: &Path) -> (StepLibrary, Vec<ScenarioError>) {
        let mut library = StepLibrary::default();
        let mut errors = Vec::new();
        let files = match find_step_files(scenario_dir) {
            Ok(files) => files,
            Err(e) => return (library, vec![e]),
        };
        for path in files {
            match read_step_file(&path) {
                Ok((file, text)) => {
                    let name = stem(&path);
                    if let Err(e) = library.add(&name, file, text) {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        (library, errors)
    }

    /// Parses one reusable step from text and adds it under `name`.
    pub fn add(
        &mut self,
        name: &str,
        file: Arc<str>,
        source: Arc<str>,
    ) -> Result<(), ScenarioError> {
        let doc = parse_reusable(&file, &source)?;
        if doc.step.referenced.source_id() == scenario_source_id() {
            // Validation tells the two apart by this id; the parser must keep giving
            // included text its own.
            return Err(ScenarioError::new(
                format!(
                    "{file}: cannot tell this step's positions from a scenario's (the YAML parser gave both source id {})",
                    scenario_source_id()
                ),
                None,
            ));
        }
        if let Some(uses) = &doc.step.value.uses {
            let loc = Loc::new(&file, uses.referenced.line(), uses.referenced.column());
            return Err(ScenarioError::new(
                "a reusable step cannot `use` another one: write the step out",
                Some(loc),
            )
            .with_source(&source));
        }
        if let Some((key, value)) = doc.step.value.with.first() {
            let loc = Loc::new(&file, value.referenced.line(), value.referenced.column());
            return Err(ScenarioError::new(
                format!("`with: {{ {key}: ... }}` belongs at the use site; declare parameters under `params`"),
                Some(loc),
            )
            .with_source(&source));
        }
        self.steps.retain(|s| s.name != name);
        self.steps.push(ReusableStep {
            name: name.to_owned(),
            file,
            source,
            params: doc.params,
            step: doc.step,
        });
        self.steps.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ReusableStep> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The names of the reusable steps, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| s.name.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Parses a reusable step as the target of a YAML `!include`, so that every location in
/// it carries a non-zero source id (the scenario's own values have source id 0).
fn parse_reusable(file: &Arc<str>, source: &Arc<str>) -> Result<ReusableStepDoc, ScenarioError> {
    let text = source.to_string();
    let name = file.to_string();
    let options = serde_saphyr::options! { with_snippet: false }.with_include_resolver(
        move |request: serde_saphyr::IncludeRequest<'_>| {
            Ok(serde_saphyr::ResolvedInclude::new(
                request.spec,
                name.clone(),
                serde_saphyr::InputSource::from_string(text.clone()),
            ))
        },
    );
    serde_saphyr::from_str_with_options::<ReusableStepDoc>("!include step\n", options)
        .map_err(|e| yaml_error(file, source, &e))
}

/// The source id the parser gives the values of a scenario file (parsed without includes).
fn scenario_source_id() -> u32 {
    serde_saphyr::from_str::<Spanned<u8>>("1\n")
        .map(|v| v.referenced.source_id())
        .unwrap_or(0)
}

/// Every `.yaml` file of `scenario_dir/steps/`, sorted; none when there is no such folder.
pub fn find_step_files(scenario_dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let dir = scenario_dir.join(STEPS_DIR);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let read =
        |e: std::io::Error| ScenarioError::new(format!("cannot read {}: {e}", dir.display()), None);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if yaml && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_step_file(path: &Path) -> Result<(Arc<str>, Arc<str>), ScenarioError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let size = std::fs::metadata(path)
        .map_err(|e| ScenarioError::new(format!("cannot read {file}: {e}"), None))?
        .len();
    if size > MAX_STEP_FILE_BYTES {
        return Err(ScenarioError::new(
            format!("{file} is {size} bytes; a reusable step may be at most {MAX_STEP_FILE_BYTES}"),
            None,
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::new(format!("cannot read {file}: {e}"), None))?;
    Ok((file, Arc::from(text)))
}

/// The scenario directory a loose scenario file belongs to: the nearest folder above it
/// that has a `steps/` folder.
pub fn scenario_root(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|dir| dir.join(STEPS_DIR).is_dir())
        .map(Path::to_path_buf)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(text: &str) -> Result<StepLibrary, ScenarioError> {
        let mut library = StepLibrary::default();
        library.add("s", Arc::from("steps/s.yaml"), Arc::from(text))?;
        Ok(library)
    }

    #[test]
    fn values_of_a_reusable_step_have_a_source_id() {
        let lib =
            library("params: { next: {} }\nstep:\n  packet: Ping\n  expect: { status: 200 }\n")
                .expect("parses");
        let step = &lib.get("s").expect("named by stem").step;
        let packet = step.value.packet.as_ref().expect("packet");
        assert_ne!(packet.referenced.source_id(), scenario_source_id());
        assert_eq!(packet.referenced.line(), 3);
        assert!(lib.get("other").is_none());
    }

    #[test]
    fn mistakes_are_located_in_the_step_file() {
        let err = library("step:\n  packet: Ping\n  expct: {}\n").unwrap_err();
        let loc = err.loc.expect("located");
        assert_eq!((&*loc.file, loc.line, loc.column), ("steps/s.yaml", 3, 3));
        assert_eq!(err.help.as_deref(), Some("did you mean `expect`?"));
        let err = library("step:\n  use: other\n").unwrap_err();
        assert!(err.message.contains("cannot `use`"), "{err}");
    }
}
