//! Reading and parsing scenario files: the one place that names the YAML crate.

use super::error::{ScenarioError, did_you_mean};
use super::model::ScenarioDoc;
use crate::shared::location::Loc;
use std::path::Path;
use std::sync::Arc;

/// A parsed scenario file with the text it came from.
#[derive(Debug)]
pub struct LoadedFile {
    /// The path as shown in messages.
    pub file: Arc<str>,
    pub source: Arc<str>,
    pub doc: ScenarioDoc,
}

/// Files larger than this are not scenarios (protects against pointing at a disk image).
const MAX_SCENARIO_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and parses one scenario file.
pub fn load_file(path: &Path) -> Result<LoadedFile, ScenarioError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let size = std::fs::metadata(path)
        .map_err(|e| ScenarioError::new(format!("cannot read {file}: {e}"), None))?
        .len();
    if size > MAX_SCENARIO_BYTES {
        return Err(ScenarioError::new(
            format!("{file} is {size} bytes; a scenario file may be at most {MAX_SCENARIO_BYTES}"),
            None,
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::new(format!("cannot read {file}: {e}"), None))?;
    parse_str(file, Arc::from(text))
}

/// Parses scenario text; `file` names it in errors.
pub fn parse_str(file: Arc<str>, source: Arc<str>) -> Result<LoadedFile, ScenarioError> {
    let options = serde_saphyr::options! { with_snippet: false };
    match serde_saphyr::from_str_with_options::<ScenarioDoc>(&source, options) {
        Ok(doc) => Ok(LoadedFile { file, source, doc }),
        Err(err) => Err(yaml_error(&file, &source, &err)),
    }
}

/// Reads and parses any YAML file of the project (profile, baseline, catalogue) with
/// the same located errors and did-you-mean as scenarios. `what` names the kind of
/// file in messages ("profile", "baseline").
pub fn load_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, ScenarioError> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::new(format!("cannot read {what} {file}: {e}"), None))?;
    parse_yaml(file, Arc::from(text), what)
}

/// [`load_yaml`] of text already in memory (the suite embedded in the binary).
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: Arc<str>,
    source: Arc<str>,
    what: &str,
) -> Result<T, ScenarioError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(&source, options).map_err(|e| {
        let mut error = yaml_error(&file, &source, &e);
        error.message = format!("{what}: {}", error.message);
        error
    })
}

pub(super) fn yaml_error(
    file: &Arc<str>,
    source: &Arc<str>,
    err: &serde_saphyr::Error,
) -> ScenarioError {
    let loc = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Loc::new(file, l.line(), l.column()));
    let full = err.to_string();
    // serde-saphyr appends " at line L, column C"; the location is shown separately.
    let message = match full.rfind(" at line ") {
        Some(pos) if loc.is_some() => full[..pos].to_owned(),
        _ => full,
    };
    let help = suggestion(&message);
    ScenarioError::new(message, loc)
        .with_help(help)
        .with_source(source)
}

/// A did-you-mean for serde's "unknown field `x`, expected one of a, b" messages.
fn suggestion(message: &str) -> Option<String> {
    let (word, expected) = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.strip_prefix(prefix)?;
            let end = rest.find('`')?;
            Some((&rest[..end], &rest[end..]))
        })?;
    let list = expected
        .split_once("expected one of ")
        .map(|(_, l)| l)
        .or_else(|| expected.split_once("expected ").map(|(_, l)| l))?;
    let candidates = list.split(',').map(|c| c.trim().trim_matches('`'));
    did_you_mean(word, candidates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LoadedFile, ScenarioError> {
        parse_str(Arc::from("t.yaml"), Arc::from(text))
    }

    const MINIMAL: &str = "id: x\ntitle: t\nspec: ping.md\nlevel: must\nsteps:\n  - packet: Ping\n    expect:\n      status: 200\n";

    #[test]
    fn parses_a_minimal_scenario() {
        let loaded = parse(MINIMAL).expect("valid");
        assert_eq!(loaded.doc.id.value, "x");
        assert_eq!(loaded.doc.steps.len(), 1);
    }

    #[test]
    fn unknown_key_is_located_with_a_suggestion() {
        let err = parse(&MINIMAL.replace("    expect", "    rnge: 1\n    expect")).unwrap_err();
        assert!(
            err.message
                .starts_with("unknown field `rnge`, expected one of name, packet, method"),
            "{}",
            err.message
        );
        let loc = err.loc.expect("located");
        assert_eq!((loc.line, loc.column), (7, 5));
        assert_eq!(err.help.as_deref(), Some("did you mean `range`?"));
    }

    #[test]
    fn unknown_header_check_suggests_a_variant() {
        let text = MINIMAL.replace(
            "status: 200",
            "status: 200\n      headers:\n        X: absnt",
        );
        let err = parse(&text).unwrap_err();
        assert_eq!(err.help.as_deref(), Some("did you mean `absent`?"));
        assert_eq!(err.loc.map(|l| l.line), Some(10));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("id: [unclosed\n").unwrap_err();
        assert!(err.loc.is_some(), "{err}");
    }
}
