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
    Var(String, Filter),
}

/// What to do with a variable's value before inserting it: `${name|resolve}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Filter {
    /// The value as it is.
    None,
    /// The value as a URL reference, resolved against `${upload_url}` the way the
    /// Windows client resolves a `BITS-Reply-URL` (summary §10.18): `\` becomes `/`,
    /// `{` and `}` are percent-encoded, and a relative path is taken from the upload
    /// URL's directory.
    Resolve,
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
                let (name, filter) = match inner[..end].split_once('|') {
                    Some((name, "resolve")) => (name.trim(), Filter::Resolve),
                    Some((_, other)) => {
                        return Err(format!("unknown filter `|{other}` (known: `|resolve`)"));
                    }
                    None => (inner[..end].trim(), Filter::None),
                };
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(format!(
                        "`${{{}}}` is not a valid variable name (letters, digits, `_`, `-`)",
                        name
                    ));
                }
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(name.to_owned(), filter));
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
            Part::Var(name, _) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Renders against `vars`; fails naming the first variable that is not set.
    pub fn render(&self, vars: &Vars) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(name, filter) => match vars.get(name) {
                    Some(value) if *filter == Filter::Resolve => {
                        let base = vars.get("upload_url").map(String::as_str).unwrap_or("");
                        out.push_str(&resolve_reference(base, value));
                    }
                    Some(value) => out.push_str(value),
                    None => return Err(format!("variable `${{{name}}}` is not set")),
                },
            }
        }
        Ok(out)
    }
}

/// Replaces `${name}` by its value for each `name` in `values`, before parsing: the
/// parameters of a reusable step, filled in when a scenario uses it. Other variables,
/// filters and `$${` escapes are left as they are.
pub fn fill_params(text: &str, values: &Vars) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            out.push_str("$${");
            rest = escaped;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|inner| inner.split_once('}'))
            .and_then(|(name, tail)| Some((values.get(name.trim())?, tail)))
        {
            out.push_str(name);
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Resolves `reference` against `base` as the Windows BITS client does with a
/// reply URL: backslashes are path separators and braces are percent-encoded.
pub fn resolve_reference(base: &str, reference: &str) -> String {
    let reference = reference
        .trim()
        .replace('\\', "/")
        .replace('{', "%7B")
        .replace('}', "%7D");
    if reference.contains("://") {
        return reference;
    }
    let (origin, path) = match base.find("://").map(|i| i + 3) {
        Some(start) => match base[start..].find('/') {
            Some(slash) => (&base[..start + slash], &base[start + slash..]),
            None => (base, "/"),
        },
        None => ("", base),
    };
    if let Some(absolute) = reference.strip_prefix('/') {
        return format!("{origin}/{absolute}");
    }
    let directory = path.rfind('/').map(|i| &path[..=i]).unwrap_or("/");
    format!("{origin}{directory}{reference}")
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
    fn resolve_follows_the_windows_client() {
        let base = "http://h:81/vdir/up.bin";
        assert_eq!(
            resolve_reference(base, "BITS-Sessions\\Replies\\{AB}\\responsefile.bin"),
            "http://h:81/vdir/BITS-Sessions/Replies/%7BAB%7D/responsefile.bin"
        );
        assert_eq!(resolve_reference(base, "/r/x"), "http://h:81/r/x");
        assert_eq!(resolve_reference(base, "http://o/x"), "http://o/x");
        let mut vars = vars();
        vars.insert("upload_url".into(), base.into());
        vars.insert("reply".into(), "a\\b".into());
        let t = Template::parse("${reply|resolve}").expect("valid");
        assert_eq!(t.render(&vars).expect("set"), "http://h:81/vdir/a/b");
        assert!(Template::parse("${reply|upper}").is_err());
    }

    #[test]
    fn rejects_unterminated_and_empty_references() {
        assert!(Template::parse("${session").is_err());
        assert!(Template::parse("${}").is_err());
        assert!(Template::parse("${a b}").is_err());
    }

    #[test]
    fn fill_params_replaces_only_the_parameters() {
        let mut params = Vars::new();
        params.insert("next".into(), "1000".into());
        assert_eq!(
            fill_params("${next}-${session} $${next} ${next|resolve} $", &params),
            "1000-${session} $${next} ${next|resolve} $"
        );
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
