//! The binary as an installed tool: run from a directory with no checkout (the suite
//! it embeds), `--version`, shell completions and the manual page. The real
//! `cargo install` is the ignored test at the end (a full build: minutes).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{root, text};

/// Runs `bin` with `args` in the empty directory `cwd`, its cache in `cwd/.cache`.
fn run_in(bin: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env("XDG_CACHE_HOME", cwd.join(".cache"))
        .env_remove("BITSPEC_TARGET")
        .env_remove("BITSPEC_PROFILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn bitspec_in(cwd: &Path, args: &[&str]) -> Output {
    run_in(Path::new(env!("CARGO_BIN_EXE_bitspec")), cwd, args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The suite in the checkout: scenario files and catalogue entries.
fn checkout_counts() -> (usize, usize) {
    let dir = root().join("scenarios");
    let scenarios = bitspec::scenario::find_scenario_files(&dir)
        .expect("scenarios")
        .len();
    let requirements = bitspec::scenario::requirements::Catalogue::load_from(&dir)
        .expect("catalogue")
        .expect("requirements.yaml")
        .requirements
        .len();
    (scenarios, requirements)
}

/// The whole suite from a directory with no `scenarios/`, reports written there.
fn whole_suite_from_an_empty_directory(bin: &Path) {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = run_in(bin, empty.path(), &["run", "--report-dir", "out"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let (scenarios, _) = checkout_counts();
    assert!(
        all.contains(&format!("running {scenarios} scenarios against")),
        "every scenario of the checkout runs:\n{all}"
    );
    assert!(
        all.contains("target profile: reference"),
        "the embedded profile:\n{all}"
    );
    assert!(empty.path().join("out/results.json").is_file(), "{all}");
    // Failures point at the written-out files, which exist.
    let cache = empty.path().join(".cache/bitspec");
    let suite = std::fs::read_dir(&cache)
        .expect("the suite was written to the cache")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("suite-"))
        .expect("a suite- directory");
    assert!(suite.path().join("scenarios/requirements.yaml").is_file());
    assert!(
        suite
            .path()
            .join("profiles/reference/limits.toml")
            .is_file()
    );
}

#[test]
fn the_binary_runs_the_whole_suite_from_an_empty_directory() {
    whole_suite_from_an_empty_directory(Path::new(env!("CARGO_BIN_EXE_bitspec")));
}

#[test]
fn the_embedded_suite_is_the_checkout() {
    let empty = tempfile::tempdir().expect("tempdir");
    let embedded = bitspec_in(empty.path(), &["list"]);
    let checkout = support::bitspec(&["list"], empty.path());
    assert_eq!(embedded.status.code(), Some(0), "{}", text(&embedded));
    assert_eq!(
        stdout(&embedded),
        stdout(&checkout),
        "the binary embeds other scenarios than scenarios/ holds (build.rs should \
         have rebuilt it)"
    );
    // A shipped profile by name, and a scenario run with it.
    let out = bitspec_in(
        empty.path(),
        &[
            "run",
            "--profile",
            "reference-limits",
            "--filter",
            "too-large",
            "--report-dir",
            "out",
        ],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("target profile: reference-limits"), "{all}");
}

#[test]
fn scenarios_overrides_the_embedded_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mine = dir.path().join("mine/ping");
    std::fs::create_dir_all(&mine).expect("mkdir");
    std::fs::copy(
        root().join("scenarios/ping/001-ping-ack.yaml"),
        mine.join("001-ping-ack.yaml"),
    )
    .expect("copy a scenario");
    std::fs::copy(
        root().join("scenarios/requirements.yaml"),
        dir.path().join("mine/requirements.yaml"),
    )
    .expect("copy the catalogue it cites");
    let steps = dir.path().join("mine/steps");
    std::fs::create_dir_all(&steps).expect("mkdir");
    for entry in std::fs::read_dir(root().join("scenarios/steps")).expect("steps") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), steps.join(entry.file_name())).expect("copy a reusable step");
    }
    let out = bitspec_in(dir.path(), &["list", "--scenarios", "mine"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).ends_with("\n1 scenario\n"), "{}", stdout(&out));
    // A directory named on purpose that does not exist is an error, not the embedded suite.
    let out = bitspec_in(dir.path(), &["list", "--scenarios", "nowhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn version_names_the_suite_and_what_it_holds() {
    let empty = tempfile::tempdir().expect("tempdir");
    let (scenarios, requirements) = checkout_counts();
    for flag in ["--version", "-V"] {
        let out = bitspec_in(empty.path(), &[flag]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let line = stdout(&out);
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            line.starts_with(&format!("bitspec {version} (suite {version}: ")),
            "{line}"
        );
        assert!(
            line.contains(&format!(
                "{scenarios} scenarios, {requirements} requirements"
            )),
            "{line}"
        );
    }
}

#[test]
fn help_says_how_to_see_the_reference_server_log() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = bitspec_in(empty.path(), &["--help"]);
    assert!(
        stdout(&out).contains("RUST_LOG=bitspec_server=debug"),
        "{}",
        text(&out)
    );
}

#[test]
fn completions_are_scripts_the_shells_accept() {
    let empty = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = bitspec_in(empty.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        let script = stdout(&out);
        for word in ["selftest", "scenarios", "report-dir"] {
            assert!(script.contains(word), "{shell} completes {word}:\n{script}");
        }
    }
    // bash itself loads the script and registers the completion.
    let script = stdout(&bitspec_in(empty.path(), &["completions", "bash"]));
    let file = empty.path().join("bitspec.bash");
    std::fs::write(&file, script).expect("write");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p bitspec", file.display()))
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("bitspec"), "{}", text(&out));

    let out = bitspec_in(empty.path(), &["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_manual_page_covers_every_subcommand() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = bitspec_in(empty.path(), &["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "roff:\n{page}");
    assert!(page.contains(".TH bitspec 1"), "{page}");
    for sub in ["run", "selftest", "completions"] {
        assert!(
            page.contains(&format!("bitspec\\-{sub}(1)")),
            "{sub}:\n{page}"
        );
    }
    let out = bitspec_in(empty.path(), &["man", "--dir", "man1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for name in ["bitspec.1", "bitspec-run.1", "bitspec-selftest.1"] {
        let file = empty.path().join("man1").join(name);
        let text = std::fs::read_to_string(&file).expect("page written");
        assert!(text.contains(".TH "), "{name}:\n{text}");
    }
    let run = std::fs::read_to_string(empty.path().join("man1/bitspec-run.1")).expect("page");
    assert!(run.contains("\\-\\-target"), "{run}");
}

/// `cargo install --path .` and `--path reference-server` into a temporary root (never
/// ~/.cargo), then the installed `bitspec` runs the whole suite from an empty
/// directory. A release build, from nothing unless `BITSPEC_INSTALL_TARGET_DIR` names
/// a target directory to reuse: run it on purpose,
/// `cargo test --test installed -- --ignored`.
#[test]
#[ignore = "a release build of both binaries (minutes)"]
fn cargo_install_gives_working_binaries() {
    let root_dir = tempfile::tempdir().expect("tempdir");
    let install_root = root_dir.path().join("root");
    let target_dir = std::env::var_os("BITSPEC_INSTALL_TARGET_DIR")
        .map_or_else(|| root_dir.path().join("target"), Into::into);
    for package in [".", "reference-server"] {
        let out = Command::new(env!("CARGO"))
            .args(["install", "--locked", "--path", package, "--root"])
            .arg(&install_root)
            .current_dir(root())
            .env("CARGO_TARGET_DIR", &target_dir)
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "{package}: {}", text(&out));
    }
    let bin = install_root.join("bin");
    whole_suite_from_an_empty_directory(&bin.join("bitspec"));
    let server = Command::new(bin.join("bitspec-server"))
        .arg("--version")
        .output()
        .expect("bitspec-server runs");
    assert!(server.status.success(), "{}", text(&server));
    assert!(
        stdout(&server).starts_with("bitspec-server "),
        "{}",
        text(&server)
    );
}
