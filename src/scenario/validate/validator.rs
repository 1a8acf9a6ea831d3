//! The state of validating one scenario file, and how its errors are located (in the
//! scenario, or in the reusable step a `use:` brought in).

use crate::scenario::error::ScenarioError;
use crate::scenario::model::Spanned;
use crate::scenario::template::{Vars, fill_params};
use crate::shared::location::Loc;
use std::collections::HashSet;
use std::sync::Arc;

pub(super) struct Validator {
    pub(super) file: Arc<str>,
    pub(super) source: Arc<str>,
    pub(super) errors: Vec<ScenarioError>,
    /// Variables defined so far (built-ins, vars, earlier captures).
    pub(super) known: HashSet<String>,
    pub(super) later_captures: HashSet<String>,
    /// Profile variables the scenario may not use without requiring their capability.
    pub(super) needs_capability: Vec<(&'static str, &'static str)>,
    /// While validating a step that `use`s a reusable step: where that one is written.
    pub(super) origin: Option<Origin>,
    /// The parameters of the used reusable step, filled in before anything is parsed.
    pub(super) params: Vars,
    /// The scenario's folder, against which `body_file` is read.
    pub(super) dir: std::path::PathBuf,
}

/// The file a used reusable step was written in, and the `use:` that brought it in.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    /// The source id the parser gave every value of the reusable step.
    pub source_id: u32,
    pub file: Arc<str>,
    pub source: Arc<str>,
    pub site: Loc,
}

impl Validator {
    /// Where a value is written: in the scenario, or (by its source id) in the reusable
    /// step of the current step, reached through its `use:`.
    pub(super) fn loc<T>(&self, s: &Spanned<T>) -> Loc {
        match &self.origin {
            Some(origin) if s.referenced.source_id() == origin.source_id => {
                Loc::of(&origin.file, s).used_at(origin.site.clone())
            }
            _ => Loc::of(&self.file, s),
        }
    }

    /// The text with the current step's parameters filled in.
    pub(super) fn fill(&self, text: &str) -> String {
        if self.params.is_empty() {
            text.to_owned()
        } else {
            fill_params(text, &self.params)
        }
    }

    pub(super) fn error<T>(&mut self, at: &Spanned<T>, message: String, help: Option<String>) {
        let loc = self.loc(at);
        self.error_at(loc, message, help);
    }

    pub(super) fn error_at(&mut self, loc: Loc, message: String, help: Option<String>) {
        let source = match &self.origin {
            Some(origin) if loc.used_at.is_some() && loc.file == origin.file => &origin.source,
            _ => &self.source,
        };
        self.errors.push(
            ScenarioError::new(message, Some(loc))
                .with_help(help)
                .with_source(source),
        );
    }
}
