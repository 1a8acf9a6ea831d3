//! The suite the `bitspec` binary carries (scenarios, the requirements catalogue,
//! the profiles), so an installed binary runs from any directory.
//!
//! The binary embeds `scenarios/` and `profiles/` (`include_dir` in `main.rs`, kept
//! out of the library so test binaries do not carry it; `build.rs` rebuilds it when a
//! file is added or removed) and hands them over with [`install`].
//! Loaders, reports and diffs point at files by path (`file:line:column`), so the
//! suite is written out once per content into the user's cache directory,
//! `$XDG_CACHE_HOME/bitspec/suite-VERSION-HASH/` (default `~/.cache/bitspec/`), and
//! read from there; a directory of that name is only ever complete (written beside,
//! then renamed).
//!
//! Lookup: `--scenarios DIR` when given; else `./scenarios` when the current
//! directory has one (a checkout); else the embedded suite. Profiles likewise:
//! `./profiles`, else the embedded ones.

use crate::scenario::discover::is_scenario_file;
use include_dir::Dir;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The embedded directories.
#[derive(Debug, Clone, Copy)]
pub struct Shipped {
    pub scenarios: &'static Dir<'static>,
    pub profiles: &'static Dir<'static>,
}

static SHIPPED: OnceLock<Shipped> = OnceLock::new();
static EXTRACTED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Makes the binary's embedded suite the fallback for every lookup; once, at start.
pub fn install(shipped: Shipped) {
    let _ = SHIPPED.set(shipped);
}

/// The embedded suite, when the running binary installed one.
pub fn embedded() -> Option<Shipped> {
    SHIPPED.get().copied()
}

/// What the embedded suite holds, for `--version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub scenarios: usize,
    pub requirements: usize,
    pub profiles: usize,
}

impl Shipped {
    /// Scenario files, catalogue entries and profiles, counted in memory.
    pub fn counts(&self) -> Counts {
        let requirements = self
            .scenarios
            .get_file(crate::scenario::requirements::CATALOGUE_FILE)
            .and_then(|f| f.contents_utf8())
            .and_then(|text| {
                crate::scenario::requirements::Catalogue::parse("requirements.yaml", text).ok()
            })
            .map_or(0, |c| c.requirements.len());
        let profiles = self
            .profiles
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "yaml"))
            .count();
        Counts {
            scenarios: files(self.scenarios)
                .filter(|f| is_scenario_file(f.path()))
                .filter(|f| {
                    !f.path().components().next().is_some_and(|top| {
                        crate::scenario::discover::is_not_scenario_folder(
                            &top.as_os_str().to_string_lossy(),
                        )
                    })
                })
                .count(),
            requirements,
            profiles,
        }
    }

    /// A digest of every path and content: the name of the cache directory.
    fn digest(&self) -> u64 {
        // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (prefix, dir) in [("scenarios", self.scenarios), ("profiles", self.profiles)] {
            for file in files(dir) {
                eat(prefix.as_bytes());
                eat(file.path().to_string_lossy().as_bytes());
                eat(&[0]);
                eat(file.contents());
                eat(&[0]);
            }
        }
        hash
    }
}

/// Every file below `dir`, depth first.
fn files(dir: &'static Dir<'static>) -> impl Iterator<Item = &'static include_dir::File<'static>> {
    let mut stack = vec![dir];
    let mut out = Vec::new();
    while let Some(d) = stack.pop() {
        out.extend(d.files());
        stack.extend(d.dirs());
    }
    out.into_iter()
}

/// `--version`: the suite's version and what it holds.
pub fn version_line() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match embedded() {
        Some(s) => {
            let c = s.counts();
            format!(
                "{version} (suite {version}: {} scenarios, {} requirements, {} profiles)",
                c.scenarios, c.requirements, c.profiles
            )
        }
        None => version.to_owned(),
    }
}

/// Where the embedded suite is written: `$XDG_CACHE_HOME/bitspec`, else `~/.cache/bitspec`.
fn cache_base() -> Result<PathBuf, String> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").and_then(absolute) {
        return Ok(dir.join("bitspec"));
    }
    if let Some(home) = std::env::var_os("HOME").and_then(absolute) {
        return Ok(home.join(".cache").join("bitspec"));
    }
    Err("neither XDG_CACHE_HOME nor HOME is set".into())
}

/// The directory holding the embedded `scenarios/` and `profiles/`, written on first
/// use; `None` when the binary embeds nothing.
pub fn suite_root() -> Option<Result<PathBuf, String>> {
    let shipped = embedded()?;
    Some(EXTRACTED.get_or_init(|| extract(shipped)).clone())
}

fn extract(shipped: Shipped) -> Result<PathBuf, String> {
    let base = cache_base()?;
    let name = format!(
        "suite-{}-{:016x}",
        env!("CARGO_PKG_VERSION"),
        shipped.digest()
    );
    let root = base.join(name);
    if root.is_dir() {
        return Ok(root);
    }
    let problem = |e: std::io::Error| {
        format!(
            "cannot write the embedded suite to {}: {e} (use --scenarios DIR)",
            base.display()
        )
    };
    std::fs::create_dir_all(&base).map_err(problem)?;
    let staging = tempfile::Builder::new()
        .prefix(".suite-")
        .tempdir_in(&base)
        .map_err(problem)?;
    for (prefix, dir) in [
        ("scenarios", shipped.scenarios),
        ("profiles", shipped.profiles),
    ] {
        write_tree(&staging.path().join(prefix), dir).map_err(problem)?;
    }
    match std::fs::rename(staging.path(), &root) {
        Ok(()) => {
            // Already moved: nothing left for the guard to remove.
            let _ = staging.keep();
            Ok(root)
        }
        // Another bitspec wrote the same suite meanwhile; the guard removes ours.
        Err(_) if root.is_dir() => Ok(root),
        Err(e) => Err(problem(e)),
    }
}

fn write_tree(target: &Path, dir: &'static Dir<'static>) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    for file in files(dir) {
        let path = target.join(file.path());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, file.contents())?;
    }
    Ok(())
}

/// `given` as it is, unless it is the default `scenarios` and the current directory
/// has none: then the embedded suite's (written out on first use).
pub fn scenario_dir(given: &Path) -> PathBuf {
    if given != Path::new("scenarios") || given.is_dir() {
        return given.to_path_buf();
    }
    match suite_root() {
        Some(Ok(root)) => root.join("scenarios"),
        Some(Err(e)) => {
            eprintln!("warning: {e}");
            given.to_path_buf()
        }
        None => given.to_path_buf(),
    }
}

/// The folder of shipped profiles: `./profiles`, else the embedded ones, else (a
/// library without an embedded suite: the tests) the one beside the sources.
pub fn profiles_dir() -> PathBuf {
    let local = Path::new("profiles");
    if local.is_dir() {
        return local.to_path_buf();
    }
    if let Some(Ok(root)) = suite_root() {
        return root.join("profiles");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
}
