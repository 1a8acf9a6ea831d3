//! What long commands print as they go: JSON lines for machines (`--format json`),
//! only the closing line (`--quiet`), nothing but text when piped, and a progress
//! line on a terminal (a pseudo-terminal made by `script`), without colour under
//! NO_COLOR.

mod support;

use serde_json::Value;
use std::process::Command;
use support::{bitspec, double, root, text, tool};

/// Every stdout line parsed as JSON; a line that is not JSON fails the test.
fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

#[test]
fn json_lines_give_one_event_per_scenario_and_a_summary() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &["run", "--filter", "ping::", "--format", "json"],
        reports.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events = events(&out.stdout);
    let start = &events[0];
    assert_eq!(start["event"], "start");
    assert_eq!(start["profile"], "reference");
    let count = start["scenarios"].as_u64().expect("a count") as usize;
    let scenarios: Vec<&Value> = events.iter().filter(|e| e["event"] == "scenario").collect();
    assert_eq!(scenarios.len(), count);
    assert_eq!(events.len(), count + 2, "start, the scenarios, the summary");

    // Each event is the scenario's entry of results.json.
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    for entry in results["scenarios"].as_array().expect("scenarios") {
        let event = scenarios
            .iter()
            .find(|e| e["id"] == entry["id"])
            .unwrap_or_else(|| panic!("no event for {}", entry["id"]));
        for key in ["name", "verdict", "file", "level", "steps", "reason"] {
            assert_eq!(event[key], entry[key], "{key} of {}", entry["id"]);
        }
    }

    let summary = events.last().expect("events");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["totals"], results["totals"]);
    assert_eq!(
        summary["reports"].as_array().map(Vec::len),
        Some(4),
        "{summary}"
    );
}

#[test]
fn json_lines_carry_a_failure_and_its_exit_code() {
    let server = double::start(double::Bug::NoReceivedRange);
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &[
            "run",
            "--target",
            &server.url,
            "--filter",
            "fragment-upload-three-fragments",
            "--format",
            "json",
            "--quiet",
        ],
        reports.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let events = events(&out.stdout);
    let failed = events
        .iter()
        .find(|e| e["event"] == "scenario")
        .expect("a scenario event");
    assert_eq!(failed["verdict"], "fail");
    let mismatch = &failed["steps"][1]["mismatches"][0];
    assert_eq!(mismatch["header"], "BITS-Received-Content-Range");
    let summary = events.last().expect("events");
    assert_eq!(
        (
            summary["exit_code"].as_u64(),
            summary["totals"]["failed"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[test]
fn quiet_prints_only_the_closing_line() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(&["run", "--filter", "ping::", "--quiet"], reports.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "5 passed, 0 failed, 3 skipped\n", "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    assert!(
        reports.path().join("junit.xml").is_file(),
        "reports still written"
    );
}

#[test]
fn piped_output_has_no_progress_line_and_no_escape_codes() {
    let reports = tempfile::tempdir().expect("tempdir");
    // NO_COLOR is removed: a pipe alone must be enough.
    let out = Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args(["run", "--filter", "ping::", "--report-dir"])
        .arg(reports.path())
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("BITSPEC_TARGET")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains('\x1b') && !all.contains('\r'), "{all:?}");
}

/// `bitspec ARGS` on a pseudo-terminal (util-linux `script`); what the terminal got.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> Option<String> {
    let script = tool(
        &["script"],
        "bsdutils",
        "the progress line on a terminal (script makes one)",
    )?;
    let reports = tempfile::tempdir().expect("tempdir");
    let command = format!(
        "{} {args} --report-dir {}",
        env!("CARGO_BIN_EXE_bitspec"),
        reports.path().display()
    );
    let out = Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("BITSPEC_TARGET")
        .envs(env.iter().copied())
        .output()
        .expect("script runs");
    assert!(out.status.success(), "{}", text(&out));
    Some(text(&out))
}

#[test]
fn a_terminal_shows_the_progress_line_and_colour_unless_no_color() {
    let Some(shown) = on_a_terminal("run --filter ping::", &[]) else {
        return;
    };
    assert!(shown.contains("/8 scenarios ["), "{shown:?}");
    assert!(shown.contains("\x1b[32m"), "verdicts in colour: {shown:?}");
    assert!(shown.contains("5 passed, 0 failed, 3 skipped"), "{shown:?}");

    let Some(plain) = on_a_terminal("run --filter ping::", &[("NO_COLOR", "1")]) else {
        return;
    };
    assert!(plain.contains("/8 scenarios ["), "{plain:?}");
    assert!(!plain.contains("\x1b[32m"), "no colour: {plain:?}");

    let Some(quiet) = on_a_terminal("run --filter ping:: --quiet", &[]) else {
        return;
    };
    assert!(!quiet.contains("scenarios ["), "{quiet:?}");
    assert_eq!(quiet.trim(), "5 passed, 0 failed, 3 skipped");
}

#[test]
fn selftest_reports_progress_and_json_lines() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_string_lossy().into_owned();
    let faults = [
        "--fault",
        "ack-no-packet-type",
        "--fault",
        "ack-packet-type-echo",
    ];
    let mut args = vec!["selftest", "--format", "json", "--report-dir", &dir];
    args.extend(faults);
    let out = bitspec(&args, reports.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events = events(&out.stdout);
    let faulted: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "fault")
        .map(|e| e["fault"].as_str().expect("a name"))
        .collect();
    assert_eq!(faulted.len(), 2, "{events:?}");
    assert!(faulted.contains(&"ack-no-packet-type"));
    let summary = events.last().expect("events");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["score"]["percent"], 100.0);
    assert_eq!(summary["exit_code"], 0);

    let Some(shown) = on_a_terminal(&format!("selftest {}", faults.join(" ")), &[]) else {
        return;
    };
    assert!(shown.contains("/2 faults ["), "{shown:?}");
    assert!(shown.contains("mutation score: 100.0 %"), "{shown:?}");
}
