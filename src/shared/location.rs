//! Source positions in scenario files, carried by every located error and mismatch.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A `file:line:column` position in a scenario file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
    /// For a position inside a reusable step (`scenarios/steps/`): the `use:` that
    /// brought it into the scenario, so both places are named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_at: Option<Box<Loc>>,
}

impl Loc {
    pub fn new(file: &Arc<str>, line: u64, column: u64) -> Self {
        Loc {
            file: Arc::clone(file),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            used_at: None,
        }
    }

    /// This position, reached through the `use:` at `site`.
    pub fn used_at(mut self, site: Loc) -> Self {
        self.used_at = Some(Box::new(site));
        self
    }

    /// The position serde-saphyr recorded for a spanned value.
    pub fn of<T>(file: &Arc<str>, spanned: &serde_saphyr::Spanned<T>) -> Self {
        Loc::new(file, spanned.referenced.line(), spanned.referenced.column())
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)?;
        if let Some(site) = &self.used_at {
            write!(f, " (used at {site})")?;
        }
        Ok(())
    }
}
