// Each test crate uses a different part of this module.
#![allow(dead_code)]

//! Test doubles and helpers shared by the harness's own tests.

pub mod double;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `bitspec` binary with `args` from the repository root, reports into `reports`.
pub fn bitspec(args: &[&str], reports: &Path) -> Output {
    bitspec_env(args, &[], reports)
}

/// [`bitspec`] with these environment variables set (the `BITSPEC_*` ones of the
/// developer's shell are removed first).
pub fn bitspec_env(args: &[&str], env: &[(&str, &str)], reports: &Path) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    let reports = reports.to_string_lossy().into_owned();
    if args.first() == Some(&"run") {
        all.extend(["--report-dir", reports.as_str()]);
    }
    Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args(&all)
        .current_dir(root())
        .env_remove("BITSPEC_TARGET")
        .env_remove("BITSPEC_CA_CERT")
        .env_remove("BITSPEC_INSECURE")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("the bitspec binary runs")
}

/// stdout and stderr together, for assertions.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The 1-based line of the first line of `file` containing `needle` after the line containing `after`.
pub fn line_of(file: &Path, after: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).expect("fixture readable");
    let start = text
        .lines()
        .position(|l| l.contains(after))
        .expect("anchor line");
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .expect("needle line")
}

/// Set by `.ci/run`: a check that needs a missing system tool fails instead of
/// being left out.
pub const REQUIRE_TOOLS: &str = "BITSPEC_REQUIRE_TOOLS";

/// The first of `names` that runs with `--version`. When none does, `check` (what
/// could not be checked) is announced on the terminal, past libtest's capture, and
/// the value is `None`; under `BITSPEC_REQUIRE_TOOLS=1` (CI) it is a failure instead.
pub fn tool(names: &[&str], package: &str, check: &str) -> Option<PathBuf> {
    for name in names {
        let found = Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return Some(PathBuf::from(name));
        }
    }
    let missing = format!(
        "{} not found (Debian: apt-get install -y {package}; `.ci/run` installs it)",
        names.join(" or ")
    );
    if std::env::var_os(REQUIRE_TOOLS).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("{missing}; {REQUIRE_TOOLS} is set, so {check} must run");
    }
    tool_missing(&format!("{check}: NOT CHECKED, {missing}"));
    None
}

/// Writes `message` to the terminal itself: libtest captures `eprintln!` of passing
/// tests, and a check left out must not pass unnoticed.
pub fn tool_missing(message: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr().lock(), "\nwarning: {test}: {message}");
}

/// Validates `xml` against the JUnit schema in tests/fixtures; the error is xmllint's
/// output. Without xmllint the schema check is announced as not run, and passes.
pub fn validate_junit(xml: &Path) -> Result<(), String> {
    let Some(xmllint) = tool(
        &["xmllint"],
        "libxml2-utils",
        "junit.xml against the JUnit schema",
    ) else {
        return Ok(());
    };
    let xsd = root().join("tests/fixtures/junit/junit-10.xsd");
    let out = Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(xml)
        .output()
        .expect("xmllint runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out))
    }
}

/// Chromium's serialised DOM of an HTML file after parsing (headless, no network), or
/// with `screenshot` a PNG of it; `None`, announced as `check` not run, when Chromium
/// is not installed (a failure under `BITSPEC_REQUIRE_TOOLS=1`).
pub fn chromium(html: &Path, screenshot: Option<&Path>, check: &str) -> Option<String> {
    let chromium = tool(&["chromium", "chromium-browser"], "chromium", check)?;
    let profile = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => cmd
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1200,1400"),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed:\n{}", text(&out));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The reference server with these faults planted, on 127.0.0.1 in `runtime`, without
/// the per-address bounds (the whole suite comes from 127.0.0.1).
pub fn faulty_server(
    runtime: &tokio::runtime::Runtime,
    faults: &[bitspec_server::Fault],
    root: &Path,
) -> bitspec_server::RunningServer {
    runtime
        .block_on(bitspec_server::spawn(bitspec_server::Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            root: root.to_path_buf(),
            workers: 2,
            faults: faults.to_vec(),
            max_connections_per_address: 0,
            max_sessions_per_address: 0,
            session_limit_enable: false,
            ..bitspec_server::Config::default()
        }))
        .expect("the reference server starts")
}

/// A server on 127.0.0.1 that answers each of its first 20 connections with
/// `reply`, whatever was asked; its base URL.
pub fn canned_server(reply: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten().take(20) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply);
        }
    });
    url
}
