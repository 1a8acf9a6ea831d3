//! No file of `src/` imports, directly or through others, a file that imports it:
//! the server reads from the door (`lib.rs`, `server.rs`) down to the leaves
//! (`config.rs`, `fault/catalogue.rs`). An edge is any `crate::`, `super::`,
//! `self::` or child-module path outside comments, resolved to the file that
//! defines its longest prefix; `mod` declarations are not edges.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `dir`, by its path relative to `dir` (`/`-separated).
fn sources(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(dir).expect("under dir");
                let name = relative.to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("read");
                files.insert(name, text);
            }
        }
    }
    files
}

/// The module path of a file: `fault/mod.rs` is `[fault]`, `lib.rs` is `[]`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file defining the longest prefix of `path`.
fn resolve(files: &BTreeMap<String, String>, path: &[String]) -> Option<String> {
    (0..=path.len()).rev().find_map(|n| {
        let base = path[..n].join("/");
        let candidates = if n == 0 {
            vec!["lib.rs".to_string()]
        } else {
            vec![format!("{base}.rs"), format!("{base}/mod.rs")]
        };
        candidates.into_iter().find(|c| files.contains_key(c))
    })
}

/// The code of `text` without its comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths in `code` that start with `head::` (a word boundary before `head`),
/// as their segments after `head`; a `{a, b::c}` group gives one path per item.
fn paths_after(code: &str, head: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let pattern = format!("{head}::");
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(found) = code[from..].find(&pattern) {
        let at = from + found;
        from = at + pattern.len();
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue;
        }
        let rest = &code[from..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let base: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if rest[end..].starts_with('{') {
            let group = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |i| end + i)];
            for item in group.split(',') {
                let item = item.split(" as ").next().unwrap_or("").trim();
                if !item.is_empty() && item != "self" {
                    let mut path = base.clone();
                    path.extend(item.split("::").map(str::to_string));
                    out.push(path);
                }
            }
        }
        // `super::*` in a test module names its own file: no edge.
        if !base.is_empty() {
            out.push(base);
        }
    }
    out
}

/// The file-level import graph of `dir`.
fn import_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = sources(dir);
    let mut graph = BTreeMap::new();
    for (file, text) in &files {
        let module = module_of(file);
        let code = code(text);
        let mut imports: Vec<Vec<String>> = Vec::new();
        for (head, base) in [
            ("crate", Vec::new()),
            ("super", module[..module.len().saturating_sub(1)].to_vec()),
            ("self", module.clone()),
        ] {
            for mut path in paths_after(&code, head) {
                let mut at = base.clone();
                while path.first().is_some_and(|s| s == "super") {
                    path.remove(0);
                    at.pop();
                }
                at.extend(path);
                imports.push(at);
            }
        }
        for line in code.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let Some(at) = words.iter().position(|w| *w == "mod")
                && let Some(child) = words.get(at + 1).and_then(|w| w.strip_suffix(';'))
            {
                for path in paths_after(&code, child) {
                    let mut full = module.clone();
                    full.push(child.to_string());
                    full.extend(path);
                    imports.push(full);
                }
            }
        }
        let edges = imports
            .iter()
            .filter_map(|path| resolve(&files, path))
            .filter(|target| target != file)
            .collect();
        graph.insert(file.clone(), edges);
    }
    graph
}

/// A cycle of the graph (its files in order), if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        file: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(file.to_string(), Mark::Open);
        stack.push(file.to_string());
        for next in graph.get(file).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|f| f == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(next, graph, marks, stack) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(file.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for file in graph.keys() {
        if marks.get(file).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(cycle) = visit(file, graph, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_server_s_files_import_each_other_in_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = import_graph(&src);
    assert!(graph.len() > 20, "the server's files: {:?}", graph.keys());
    assert!(
        graph["server.rs"].contains("packets.rs") && graph["packets.rs"].contains("shared.rs"),
        "the graph sees imports: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("lib.rs", "mod a;\nmod b;\nmod c;\n");
    write("a.rs", "use crate::b::Thing;\n");
    write("b/mod.rs", "mod inner;\npub use inner::Thing;\n");
    write(
        "b/inner.rs",
        "// crate::a is only named in a comment\npub struct Thing;\n",
    );
    write("c.rs", "use super::b::{self, inner::Thing};\n");
    assert_eq!(find_cycle(&import_graph(dir.path())), None);
    write("b/inner.rs", "pub struct Thing(crate::a::Other);\n");
    let cycle = find_cycle(&import_graph(dir.path())).expect("a cycle");
    assert!(cycle.contains(&"a.rs".to_string()), "{cycle:?}");
    assert!(cycle.contains(&"b/inner.rs".to_string()), "{cycle:?}");
}
