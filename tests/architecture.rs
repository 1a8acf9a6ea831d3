//! The architecture, checked: `cargo test --test architecture`.
//!
//! Reads every `.rs` file under a crate's `src/`, builds the file-level graph of the
//! paths each file names inside the crate (`use crate::..`, `super::..`, `self::..`,
//! child modules, and inline paths such as `crate::report::write_all(..)`), and asserts
//! that the graph has no cycle and that the layers only point down:
//! shared data < scenario < run < check < report < features < cli, and nothing imports
//! the cli.
//!
//! How paths count: `mod x;` is containment, not a dependency. A `pub use` is a façade,
//! not a dependency of the file that writes it; a path that goes through a re-export
//! resolves to the file that defines the item. (A `pub use` of something outside the
//! file's own module tree is a dependency like any `use`.) A `use` of a whole module is only an
//! alias; the paths written through it are what count. Comments and string literals
//! are skipped, so doc links do not count either.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Rust source without comments, string/char literals and lifetimes, as identifiers,
/// `::` and single punctuation characters. Good enough for paths; not a Rust parser.
fn tokenize(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let mut j = start;
            while at(j) == '#' {
                j += 1;
            }
            at(j) == '"' && (j > start || at(start) == '"')
        } {
            // raw string r"..", r#".."#, br#".."#
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == 'b' && at(i + 1) == '"' {
            i = skip_string(&chars, i + 2);
        } else if c == 'b' && at(i + 1) == '\'' {
            i = skip_char(&chars, i + 2);
        } else if c == '\'' {
            // a char literal ('x', '\n', '\u{..}') or a lifetime ('a)
            if at(i + 1) == '\\' || at(i + 2) == '\'' {
                i = skip_char(&chars, i + 1);
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // r#ident
            if word == "r" && at(i) == '#' && (at(i + 1).is_alphabetic() || at(i + 1) == '_') {
                continue;
            }
            out.push(Token::Ident(word));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric()
                || at(i) == '_'
                || at(i) == '.' && at(i + 1).is_ascii_digit()
            {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Token::PathSep);
            i += 2;
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

fn skip_char(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '\'' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

// ---------------------------------------------------------------- one file

/// A module path inside the crate: `[]` is the crate root, `["run", "engine"]` is
/// `crate::run::engine`.
type ModPath = Vec<String>;

/// A path as written, made absolute where its start says how (`crate`, `super`, `self`);
/// `Relative` paths start with a name that is resolved against the writing module.
#[derive(Debug, Clone)]
struct Written {
    /// The (possibly inline) module the path was written in.
    scope: ModPath,
    segments: Vec<String>,
    /// A `use` line (as opposed to a path in code).
    is_use: bool,
    /// A `pub use` (any visibility): a re-export.
    is_pub_use: bool,
    /// `use path::*`
    glob: bool,
    /// `use path as alias` (or the last segment).
    alias: Option<String>,
}

#[derive(Debug, Default)]
struct FileFacts {
    /// Inline `mod name { .. }` blocks, as module paths.
    inline_modules: Vec<ModPath>,
    /// Names of items defined in the file (any depth; over-inclusive is harmless).
    items: BTreeSet<String>,
    paths: Vec<Written>,
}

fn file_facts(module: &ModPath, tokens: &[Token]) -> FileFacts {
    let mut facts = FileFacts::default();
    // Inline module scopes: (module path, brace depth at which the block was opened).
    let mut scopes: Vec<(ModPath, usize)> = vec![(module.clone(), 0)];
    let mut depth = 0usize;
    let mut pending_inline: Option<String> = None;
    let mut i = 0;
    let ident = |i: usize| match tokens.get(i) {
        Some(Token::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    while i < tokens.len() {
        let scope = scopes.last().map(|s| s.0.clone()).unwrap_or_default();
        match &tokens[i] {
            Token::Punct('{') => {
                depth += 1;
                if let Some(name) = pending_inline.take() {
                    let mut path = scope.clone();
                    path.push(name);
                    facts.inline_modules.push(path.clone());
                    scopes.push((path, depth));
                }
                i += 1;
            }
            Token::Punct('}') => {
                if scopes.len() > 1 && scopes.last().map(|s| s.1) == Some(depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Token::Punct('$') => {
                // `$crate::..` in a macro: skip the `crate`.
                i += 2;
            }
            Token::Ident(word) if word == "mod" => {
                if let Some(name) = ident(i + 1) {
                    if tokens.get(i + 2) == Some(&Token::Punct('{')) {
                        pending_inline = Some(name.to_string());
                    }
                    facts.items.insert(name.to_string());
                }
                i += 2;
            }
            Token::Ident(word)
                if matches!(
                    word.as_str(),
                    "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
                ) =>
            {
                if let Some(name) = ident(i + 1) {
                    facts.items.insert(name.to_string());
                }
                i += 1;
            }
            Token::Ident(word) if word == "macro_rules" => {
                if let Some(name) = ident(i + 2) {
                    facts.items.insert(name.to_string());
                }
                i += 1;
            }
            Token::Ident(word) if word == "use" => {
                let is_pub = use_is_pub(tokens, i);
                let mut trees = Vec::new();
                let end = parse_use_tree(tokens, i + 1, Vec::new(), &mut trees);
                for (segments, glob, alias) in trees {
                    facts.paths.push(Written {
                        scope: scope.clone(),
                        segments,
                        is_use: true,
                        is_pub_use: is_pub,
                        glob,
                        alias,
                    });
                }
                i = end;
            }
            Token::Ident(first) if tokens.get(i + 1) == Some(&Token::PathSep) => {
                // An inline path: `a::b::c`. Only paths that can name this crate matter;
                // the resolver drops the others (std, other crates, `Type::method`).
                let preceded_by_sep = i > 0 && tokens[i - 1] == Token::PathSep;
                let mut segments = vec![first.clone()];
                let mut j = i + 1;
                while tokens.get(j) == Some(&Token::PathSep) {
                    match ident(j + 1) {
                        Some(s) => {
                            segments.push(s.to_string());
                            j += 2;
                        }
                        None => break, // `::<` or `::{`
                    }
                }
                if !preceded_by_sep && first != "Self" {
                    facts.paths.push(Written {
                        scope: scope.clone(),
                        segments,
                        is_use: false,
                        is_pub_use: false,
                        glob: false,
                        alias: None,
                    });
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    facts
}

/// Whether the `use` at `i` is preceded by a visibility (`pub`, `pub(crate)`, ...).
fn use_is_pub(tokens: &[Token], i: usize) -> bool {
    let mut j = i;
    if j >= 1 && tokens[j - 1] == Token::Punct(')') {
        while j > 0 && tokens[j - 1] != Token::Punct('(') {
            j -= 1;
        }
        j = j.saturating_sub(1);
    }
    j >= 1 && tokens[j - 1] == Token::Ident("pub".into())
}

/// Parses a use tree starting at `i` with the segments in `prefix`; pushes every leaf
/// `(segments, is_glob, alias)` and returns the index after the tree (after `;` at top).
fn parse_use_tree(
    tokens: &[Token],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, bool, Option<String>)>,
) -> usize {
    let mut segments = prefix;
    if tokens.get(i) == Some(&Token::PathSep) {
        i += 1; // leading `::`
    }
    loop {
        match tokens.get(i) {
            Some(Token::Ident(s)) => {
                segments.push(s.clone());
                i += 1;
                if tokens.get(i) == Some(&Token::PathSep) {
                    i += 1;
                    continue;
                }
                let mut alias = segments.last().cloned();
                if tokens.get(i) == Some(&Token::Ident("as".into())) {
                    alias = match tokens.get(i + 1) {
                        Some(Token::Ident(a)) if a != "_" => Some(a.clone()),
                        _ => None,
                    };
                    i += 2;
                }
                if segments.last().map(String::as_str) == Some("self") {
                    segments.pop();
                    if alias.as_deref() == Some("self") {
                        alias = segments.last().cloned();
                    }
                }
                out.push((segments, false, alias));
                break;
            }
            Some(Token::Punct('*')) => {
                out.push((segments, true, None));
                i += 1;
                break;
            }
            Some(Token::Punct('{')) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some(Token::Punct('}')) => {
                            i += 1;
                            break;
                        }
                        Some(Token::Punct(',')) => i += 1,
                        None => return i,
                        _ => i = parse_use_tree(tokens, i, segments.clone(), out),
                    }
                }
                break;
            }
            _ => break,
        }
    }
    // Move past the end of this tree (`,` and `}` belong to the caller).
    while let Some(t) = tokens.get(i) {
        match t {
            Token::Punct(';') => return i + 1,
            Token::Punct(',') | Token::Punct('}') => return i,
            _ => i += 1,
        }
    }
    i
}

// ---------------------------------------------------------------- the crate

/// One crate's source, read from its `src/` directory.
struct Crate {
    /// Module path -> file (relative to the source dir). Inline modules map to their file.
    modules: BTreeMap<ModPath, PathBuf>,
    /// File -> facts.
    facts: BTreeMap<PathBuf, FileFacts>,
    /// File -> its module path (as a file).
    module_of: BTreeMap<PathBuf, ModPath>,
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `run/engine.rs` -> `[run, engine]`, `run/mod.rs` -> `[run]`, `lib.rs` -> `[]`.
/// `main.rs` is a crate of its own (it names the library by its crate name, which the
/// resolver does not follow), so it is left out.
fn module_path(relative: &Path) -> Option<ModPath> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.is_empty() && stem == "main" {
        return None;
    }
    if !(parts.is_empty() && stem == "lib") && stem != "mod" {
        parts.push(stem.to_string());
    }
    Some(parts)
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rs_files(src, &mut files);
        assert!(!files.is_empty(), "no .rs files under {}", src.display());
        let mut krate = Crate {
            modules: BTreeMap::new(),
            facts: BTreeMap::new(),
            module_of: BTreeMap::new(),
        };
        for file in files {
            let relative = file.strip_prefix(src).expect("under src").to_path_buf();
            let Some(module) = module_path(&relative) else {
                continue;
            };
            let text = std::fs::read_to_string(&file).expect("readable source");
            let facts = file_facts(&module, &tokenize(&text));
            krate.modules.insert(module.clone(), relative.clone());
            for inline in &facts.inline_modules {
                krate.modules.insert(inline.clone(), relative.clone());
            }
            krate.module_of.insert(relative.clone(), module);
            krate.facts.insert(relative, facts);
        }
        krate
    }

    /// The `pub use` re-exports of module `module`: name -> absolute target path, and the
    /// glob re-exports.
    fn reexports(&self, module: &ModPath) -> (HashMap<String, ModPath>, Vec<ModPath>) {
        let mut named = HashMap::new();
        let mut globs = Vec::new();
        let Some(file) = self.modules.get(module) else {
            return (named, globs);
        };
        for written in &self.facts[file].paths {
            if !written.is_pub_use || &written.scope != module {
                continue;
            }
            let Some(absolute) = self.absolute(&written.scope, &written.segments) else {
                continue;
            };
            if written.glob {
                globs.push(absolute);
            } else if let Some(alias) = &written.alias {
                named.insert(alias.clone(), absolute);
            }
        }
        (named, globs)
    }

    /// Makes a written path absolute (from the crate root), or `None` when it names
    /// something outside the crate.
    fn absolute(&self, scope: &ModPath, segments: &[String]) -> Option<ModPath> {
        let first = segments.first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => scope.clone(),
            "super" => {
                let mut base = scope.clone();
                base.pop()?;
                base
            }
            _ => {
                // A child module of the scope (2018 paths), else not ours.
                let mut child = scope.clone();
                child.push(first.clone());
                if self.modules.contains_key(&child) {
                    let mut path = scope.clone();
                    path.extend(segments.iter().cloned());
                    return Some(path);
                }
                return None;
            }
        };
        let mut rest = &segments[1..];
        while rest.first().map(String::as_str) == Some("super") {
            base.pop()?;
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what the absolute path names, following re-exports; and
    /// whether the path ends at a module (not an item).
    fn resolve(&self, path: &[String], hops: usize) -> Option<(PathBuf, bool)> {
        if hops > 16 {
            return None;
        }
        let mut current: ModPath = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let mut child = current.clone();
            child.push(segment.clone());
            if self.modules.contains_key(&child) {
                current = child;
                continue;
            }
            let file = self.modules.get(&current)?;
            if self.facts[file].items.contains(segment) {
                return Some((file.clone(), false));
            }
            let (named, globs) = self.reexports(&current);
            if let Some(target) = named.get(segment) {
                let mut next = target.clone();
                next.extend(path[i + 1..].iter().cloned());
                return self.resolve(&next, hops + 1);
            }
            for glob in globs {
                let mut next = glob.clone();
                next.extend(path[i..].iter().cloned());
                if let Some(found) = self.resolve(&next, hops + 1)
                    && found.0 != *self.modules.get(&glob)?
                {
                    return Some(found);
                }
            }
            return Some((file.clone(), false));
        }
        Some((self.modules.get(&current)?.clone(), true))
    }

    /// File -> the files it depends on.
    fn graph(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for (file, facts) in &self.facts {
            let edges = graph.entry(file.clone()).or_default();
            // Modules imported whole (`use crate::report;`): the alias is a path start.
            let mut aliases: HashMap<String, ModPath> = HashMap::new();
            for written in facts.paths.iter().filter(|w| w.is_use && !w.glob) {
                if let (Some(alias), Some(absolute)) = (
                    &written.alias,
                    self.absolute(&written.scope, &written.segments),
                ) && self.modules.contains_key(&absolute)
                {
                    aliases.insert(alias.clone(), absolute);
                }
            }
            for written in &facts.paths {
                let absolute = match self.absolute(&written.scope, &written.segments) {
                    Some(path) => path,
                    None if !written.is_use => match aliases.get(&written.segments[0]) {
                        Some(module) => {
                            let mut path = module.clone();
                            path.extend(written.segments[1..].iter().cloned());
                            path
                        }
                        None => continue,
                    },
                    None => continue,
                };
                // Re-exporting what a child module defines is a façade (users of it
                // resolve to the definer); re-exporting anything else is a dependency.
                if written.is_pub_use && absolute.starts_with(&written.scope) {
                    continue;
                }
                let Some((target, is_module)) = self.resolve(&absolute, 0) else {
                    continue;
                };
                // `use crate::report;` alone is an alias; `use super::*` is a dependency.
                if written.is_use && is_module && !written.glob {
                    continue;
                }
                if &target != file {
                    edges.insert(target);
                }
            }
        }
        graph
    }
}

/// The file-level dependency graph of the crate whose sources are in `src`.
pub fn dependency_graph(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    Crate::read(src).graph()
}

/// One cycle of the graph, as the files along it (first file repeated at the end).
pub fn find_cycle(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        marks: &mut HashMap<PathBuf, Mark>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = stack.iter().position(|n| n == node)?;
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// Panics with the cycle's files when the crate under `src` has a file-level cycle.
pub fn assert_no_cycle(src: &Path) {
    let graph = dependency_graph(src);
    if let Some(cycle) = find_cycle(&graph) {
        let shown: Vec<String> = cycle.iter().map(|f| f.display().to_string()).collect();
        panic!(
            "import cycle in {}:\n  {}",
            src.display(),
            shown.join("\n  -> ")
        );
    }
}

// ---------------------------------------------------------------- the tests

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "a tool: cargo test --test architecture -- --ignored print_graph --nocapture"]
fn print_graph() {
    let graph = dependency_graph(&root().join("src"));
    for (file, deps) in &graph {
        for dep in deps {
            println!("{} -> {}", file.display(), dep.display());
        }
    }
}

#[test]
fn bitspec_src_has_no_import_cycle() {
    assert_no_cycle(&root().join("src"));
}

/// The layers of `src/`, bottom first; a file may use its own layer and those below.
/// Inside a layer, `STAGES` is ordered too: a stage uses only the stages before it.
const SHARED: &[&str] = &["shared", "raw", "auth"];
const STAGES: &[&str] = &["scenario", "run", "check", "report"];
const COMMAND_SUPPORT: &[&str] = &["options"];
const FEATURES: &[&str] = &[
    "baseline",
    "bench",
    "client_test",
    "harness",
    "matrix",
    "record",
    "schema",
    "selftest",
    "upload",
];
const CLI: &str = "cli";

/// `(layer, position among the stages)` of the top-level folder `top`.
fn rank(top: &str) -> Option<(usize, usize)> {
    if SHARED.contains(&top) {
        Some((0, 0))
    } else if let Some(i) = STAGES.iter().position(|s| *s == top) {
        Some((1, i))
    } else if COMMAND_SUPPORT.contains(&top) {
        Some((2, 0))
    } else if FEATURES.contains(&top) {
        Some((3, 0))
    } else if top == CLI {
        Some((4, 0))
    } else {
        None
    }
}

fn top_folder(file: &Path) -> String {
    file.iter()
        .next()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn every_file_of_src_is_in_a_known_folder() {
    let graph = dependency_graph(&root().join("src"));
    let unknown: Vec<String> = graph
        .keys()
        .filter(|f| f.as_path() != Path::new("lib.rs"))
        .filter(|f| rank(&top_folder(f)).is_none())
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        unknown.is_empty(),
        "files outside the known folders (put them in a stage or feature folder and \
         give that folder a layer in tests/architecture.rs): {unknown:?}"
    );
}

#[test]
fn stages_only_use_earlier_stages_and_nothing_uses_the_cli() {
    let graph = dependency_graph(&root().join("src"));
    let mut wrong = Vec::new();
    for (file, deps) in &graph {
        let Some(from) = rank(&top_folder(file)) else {
            continue;
        };
        for dep in deps {
            let Some(to) = rank(&top_folder(dep)) else {
                continue;
            };
            let upward = to.0 > from.0 || (to.0 == 1 && from.0 == 1 && to.1 > from.1);
            if upward {
                wrong.push(format!("{} -> {}", file.display(), dep.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "layering broken (shared < scenario < run < check < report < options < features < cli):\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
#[ignore = "reference-server/src has import cycles until #18 item 2 (faults-seam) lands; that branch enables this test"]
fn reference_server_src_has_no_import_cycle() {
    assert_no_cycle(&root().join("reference-server/src"));
}
