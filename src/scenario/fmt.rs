//! `bitspec fmt`: scenario files in canonical form, without losing a comment.
//!
//! The canonical form is: the `yaml-language-server` schema line first; top-level keys
//! in the documented order (each key keeps the comments written above it); LF line
//! ends; no trailing whitespace; no more than one blank line in a row; one final
//! newline. Formatting works on the text, so comments and quoting survive, and it is
//! checked: the formatted text must parse to the same data as the original.

use crate::scenario::library::STEPS_DIR;
use std::path::Path;

/// Top-level keys in canonical order; unknown keys (an error anyway) keep their place at the end.
const KEY_ORDER: &[&str] = &[
    "id",
    "title",
    "spec",
    "level",
    "tags",
    "requirements",
    "requires",
    "description",
    "file",
    "vars",
    "steps",
];

/// Top-level keys of a reusable step file (`scenarios/steps/`) in canonical order.
const STEP_KEY_ORDER: &[&str] = &["about", "params", "step"];

const SCHEMA_PREFIX: &str = "# yaml-language-server: $schema=";

/// The canonical text of the file at `path` inside the scenario directory `dir`: a
/// scenario, or a reusable step when it sits in `dir/steps/`. A missing schema line
/// points at the matching schema in `schema/` beside `dir`.
pub fn format_path(path: &Path, dir: &Path, text: &str) -> Result<String, String> {
    let relative = path.parent().and_then(|p| p.strip_prefix(dir).ok());
    let reusable = relative.is_some_and(|r| r == Path::new(STEPS_DIR));
    let schema = if reusable {
        "step.schema.json"
    } else {
        "scenario.schema.json"
    };
    let schema_path = relative.map(|r| {
        format!(
            "{}schema/{schema}",
            "../".repeat(r.components().count() + 1)
        )
    });
    if reusable {
        format_with(text, schema_path.as_deref(), STEP_KEY_ORDER)
    } else {
        format_scenario(text, schema_path.as_deref())
    }
}

/// The canonical text of a scenario file. `schema_path` is inserted as the schema line
/// when the file has none. Fails (with why) when the text is not YAML or formatting
/// would change its meaning.
pub fn format_scenario(text: &str, schema_path: Option<&str>) -> Result<String, String> {
    format_with(text, schema_path, KEY_ORDER)
}

/// The canonical text with the top-level keys in `key_order`.
fn format_with(
    text: &str,
    schema_path: Option<&str>,
    key_order: &[&str],
) -> Result<String, String> {
    let original: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let normalised = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalised.lines().map(str::trim_end).collect();

    // Split into a header (comments before the first key) and top-level blocks.
    let mut header: Vec<&str> = Vec::new();
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for line in lines {
        let top_level_key =
            !line.is_empty() && !line.starts_with([' ', '#', '-']) && line.contains(':');
        if top_level_key {
            let key = line.split(':').next().unwrap_or("").trim().to_owned();
            let mut block = std::mem::take(&mut pending);
            block.push(line);
            blocks.push((key, block));
        } else if line.starts_with('#') || line.is_empty() {
            // Comments and blank lines attach to the next key; inside a block they stay
            // with it unless a top-level key follows them directly.
            pending.push(line);
        } else {
            match blocks.last_mut() {
                Some((_, block)) => {
                    block.append(&mut pending);
                    block.push(line);
                }
                None => header.append(&mut pending),
            }
        }
    }
    if blocks.is_empty() {
        header.append(&mut pending);
    }
    let trailing = pending;

    // The schema line goes first; other header comments follow it.
    let mut schema_line = header
        .iter()
        .find(|l| l.starts_with(SCHEMA_PREFIX))
        .map(|l| l.to_string());
    header.retain(|l| !l.starts_with(SCHEMA_PREFIX));
    if let Some((_, first)) = blocks.first_mut()
        && let Some(pos) = first.iter().position(|l| l.starts_with(SCHEMA_PREFIX))
    {
        schema_line.get_or_insert_with(|| first[pos].to_string());
        first.remove(pos);
    }
    if schema_line.is_none() {
        schema_line = schema_path.map(|p| format!("{SCHEMA_PREFIX}{p}"));
    }

    let rank = |key: &str| {
        key_order
            .iter()
            .position(|k| *k == key)
            .unwrap_or(key_order.len())
    };
    blocks.sort_by_key(|(key, _)| rank(key));

    let mut out: Vec<String> = Vec::new();
    out.extend(schema_line);
    out.extend(header.iter().map(|l| l.to_string()));
    for (_, block) in &blocks {
        out.extend(block.iter().map(|l| l.to_string()));
    }
    out.extend(trailing.iter().map(|l| l.to_string()));

    // Blank lines: none at the start or end, never two in a row.
    let mut text_out = String::new();
    let mut previous_blank = true;
    for line in &out {
        let blank = line.is_empty();
        if blank && previous_blank {
            continue;
        }
        text_out.push_str(line);
        text_out.push('\n');
        previous_blank = blank;
    }
    while text_out.ends_with("\n\n") {
        text_out.pop();
    }

    let formatted: serde_json::Value = serde_saphyr::from_str(&text_out)
        .map_err(|e| format!("formatting would break the file ({e}); please report this"))?;
    if formatted != original {
        return Err(
            "formatting would change the file's meaning; left unchanged (please report this)"
                .into(),
        );
    }
    Ok(text_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_keys_and_keeps_comments() {
        let text = "steps:\n  - packet: Ping   \n    expect: { status: 200 }\n\n\n# the level\nlevel: must\r\nid: x\ntitle: t\nspec: s\n";
        let formatted =
            format_scenario(text, Some("../../schema/scenario.schema.json")).expect("formats");
        assert_eq!(
            formatted,
            "# yaml-language-server: $schema=../../schema/scenario.schema.json\nid: x\ntitle: t\nspec: s\n\n# the level\nlevel: must\nsteps:\n  - packet: Ping\n    expect: { status: 200 }\n"
        );
        assert_eq!(
            format_scenario(&formatted, None).expect("idempotent"),
            formatted
        );
    }

    #[test]
    fn keeps_an_existing_schema_line_and_block_scalars() {
        let text = "# yaml-language-server: $schema=x.json\nid: x\ndescription: |\n  line one\n\n  line three\ntitle: t\n";
        let formatted = format_scenario(text, Some("other.json")).expect("formats");
        assert!(formatted.starts_with("# yaml-language-server: $schema=x.json\nid: x\ntitle: t\ndescription: |\n  line one\n\n  line three\n"), "{formatted}");
    }

    #[test]
    fn reusable_steps_get_their_key_order_and_schema() {
        let text = "step:\n  packet: Ping\n  expect: { status: 200 }\nabout: a ping\n";
        let dir = Path::new("scenarios");
        let formatted = format_path(&dir.join("steps/ping.yaml"), dir, text).expect("formats");
        assert_eq!(
            formatted,
            "# yaml-language-server: $schema=../../schema/step.schema.json\nabout: a ping\nstep:\n  packet: Ping\n  expect: { status: 200 }\n"
        );
        let scenario = format_path(&dir.join("ping/x.yaml"), dir, "id: x\n").expect("formats");
        assert!(
            scenario.contains("schema/scenario.schema.json"),
            "{scenario}"
        );
    }

    #[test]
    fn refuses_invalid_yaml() {
        assert!(format_scenario("id: [x\n", None).is_err());
    }
}
