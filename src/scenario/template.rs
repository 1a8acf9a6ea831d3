//! `${name}` templates, parsed once at validation time and rendered per run.
//!
//! BITS values are full of `{GUID}` braces, so the syntax is `${name}`; `$${` is a
//! literal `${`. Any other `$` is literal.

use indexmap::IndexMap;
use serde::Serialize;

/// A parsed template: literal text and variable references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
enum Part {
    Text(String),
    Var(String),
}

/// Variable name -> value, for rendering.
pub type Vars = IndexMap<String, String>;

impl Template {
    /// Parses `text`; fails with a message on an unterminated or empty `${`.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(escaped) = after.strip_prefix("${") {
                literal.push_str("${");
                rest = escaped;
            } else if let Some(inner) = after.strip_prefix('{') {
                let end = inner
                    .find('}')
                    .ok_or_else(|| format!("unterminated `${{` in {text:?}"))?;
                let name = inner[..end].trim();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "`${{{}}}` is not a valid variable name (letters, digits, `_`, `-`)",
                        &inner[..end]
                    ));
                }
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(name.to_owned()));
                rest = &inner[end + 1..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// A template that is only literal text.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            parts: vec![Part::Text(text.into())],
        }
    }

    /// The variable names this template uses, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Renders against `vars`; fails naming the first variable that is not set.
    pub fn render(&self, vars: &Vars) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(name) => match vars.get(name) {
                    Some(value) => out.push_str(value),
                    None => return Err(format!("variable `${{{name}}}` is not set")),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert("session".into(), "{ABC}".into());
        v
    }

    #[test]
    fn renders_variables_between_guid_braces() {
        let t = Template::parse("id={${session}} $5 $${x}").expect("valid");
        assert_eq!(t.render(&vars()).expect("set"), "id={{ABC}} $5 ${x}");
        assert_eq!(t.variables().collect::<Vec<_>>(), ["session"]);
    }

    #[test]
    fn rejects_unterminated_and_empty_references() {
        assert!(Template::parse("${session").is_err());
        assert!(Template::parse("${}").is_err());
        assert!(Template::parse("${a b}").is_err());
    }

    #[test]
    fn render_names_the_missing_variable() {
        let t = Template::parse("${nope}").expect("valid");
        assert_eq!(
            t.render(&vars()).unwrap_err(),
            "variable `${nope}` is not set"
        );
    }
}
