//! Located scenario errors: what is wrong, where (file:line:column), and how to fix it.

use crate::shared::location::Loc;
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};
use std::fmt;
use std::sync::Arc;

/// One mistake in a scenario file. Rendered with the offending line and a caret
/// by [`ScenarioError::render`], or on one line by `Display`.
#[derive(Debug, Clone)]
pub struct ScenarioError {
    /// What is wrong, starting lowercase ("unknown field `rnge`").
    pub message: String,
    /// Where, when known.
    pub loc: Option<Loc>,
    /// A suggestion, such as a did-you-mean.
    pub help: Option<String>,
    /// The file's text, to show the offending line.
    source: Option<Arc<str>>,
}

impl ScenarioError {
    pub fn new(message: impl Into<String>, loc: Option<Loc>) -> Self {
        ScenarioError {
            message: message.into(),
            loc,
            help: None,
            source: None,
        }
    }

    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn with_source(mut self, source: &Arc<str>) -> Self {
        self.source = Some(Arc::clone(source));
        self
    }

    /// The multi-line form with a source snippet, for consoles (`color` for a terminal).
    pub fn render(&self, color: bool) -> String {
        let (Some(loc), Some(source)) = (&self.loc, &self.source) else {
            return format!("error: {self}");
        };
        let diagnostic = Located {
            message: &self.message,
            help: self.help.as_deref(),
            source: NamedSource::new(&loc.file, source.to_string()),
            span: span_at(source, loc.line, loc.column),
        };
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let mut out = String::new();
        let handler = GraphicalReportHandler::new_themed(theme).with_links(false);
        if handler.render_report(&mut out, &diagnostic).is_err() {
            return format!("error: {self}");
        }
        format!("error: {loc}\n{out}")
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// The byte span of the token starting at `line:column` (1-based, column in characters).
fn span_at(source: &str, line: u32, column: u32) -> SourceSpan {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1) as usize)
        .map(str::len)
        .sum();
    let line_text = source[line_start.min(source.len())..]
        .lines()
        .next()
        .unwrap_or("");
    let col_offset: usize = line_text
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(char::len_utf8)
        .sum();
    let token_len = line_text[col_offset.min(line_text.len())..]
        .find([' ', ':', ',', ']', '}', '\t'])
        .unwrap_or(line_text.len().saturating_sub(col_offset))
        .max(1);
    (line_start + col_offset, token_len).into()
}

#[derive(Debug)]
struct Located<'a> {
    message: &'a str,
    help: Option<&'a str>,
    source: NamedSource<String>,
    span: SourceSpan,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Located<'_> {}

impl Diagnostic for Located<'_> {
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help.map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(Some("here".into()), self.span),
        )))
    }
}

/// "did you mean `x`?" for the closest candidate, when it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(distance, c)| *distance <= (c.len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_key() {
        assert_eq!(
            did_you_mean("rnge", ["range", "body"]).as_deref(),
            Some("did you mean `range`?")
        );
        assert_eq!(did_you_mean("zzzzzz", ["range", "body"]), None);
    }

    #[test]
    fn renders_file_line_column_and_the_line() {
        let source: Arc<str> = Arc::from("id: x\nsteps:\n  - rnge: 1\n");
        let file: Arc<str> = Arc::from("a.yaml");
        let err = ScenarioError::new("unknown field `rnge`", Some(Loc::new(&file, 3, 5)))
            .with_help(Some("did you mean `range`?".into()))
            .with_source(&source);
        assert_eq!(
            err.to_string(),
            "a.yaml:3:5: unknown field `rnge` (did you mean `range`?)"
        );
        let text = err.render(false);
        assert!(text.contains("a.yaml:3:5"), "{text}");
        assert!(text.contains("- rnge: 1"), "{text}");
        assert!(text.contains("did you mean `range`?"), "{text}");
    }
}
