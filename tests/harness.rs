//! Tests of the harness itself, through the `bitspec` binary: it must catch a wrong
//! server and say exactly where, reject bad scenario files with their location, and
//! exit with the documented codes.

mod support;

use support::{bitspec, canned_server, double, line_of, root, text};

#[test]
fn a_missing_received_range_fails_with_a_located_header_diff() {
    let server = double::start(double::Bug::NoReceivedRange);
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &[
            "run",
            "--target",
            &server.url,
            "--filter",
            "fragment-upload-three-fragments",
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");

    // The check is written in the reusable step `fragment`, used by the scenario's step 2:
    // both places are named.
    let step_file = root().join("scenarios/steps/fragment.yaml");
    let line = line_of(&step_file, "expect:", "BITS-Received-Content-Range");
    let scenario = root().join("scenarios/fragment/001-upload-three-fragments.yaml");
    let use_line = line_of(&scenario, "use: open-session", "use: fragment");
    let located = format!(
        "scenarios/steps/fragment.yaml:{line}:36 (used at scenarios/fragment/001-upload-three-fragments.yaml:{use_line}:10)"
    );
    assert!(
        all.contains(&located),
        "expected the expectation's location {located} in:\n{all}"
    );
    assert!(
        all.contains("header BITS-Received-Content-Range: expected \"1000\", got nothing"),
        "{all}"
    );
    assert!(
        all.contains("    -BITS-Received-Content-Range: 1000"),
        "the diff names the header:\n{all}"
    );
    assert!(all.contains("received: HTTP/1.1 200 OK"), "{all}");
    assert!(
        all.contains("Content-Range: bytes 0-999/3000"),
        "the request sent is shown:\n{all}"
    );
    assert!(all.trim_end().ends_with("0 passed, 1 failed"), "{all}");

    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json"))
            .expect("results.json written"),
    )
    .expect("valid JSON");
    let scenario = &json["scenarios"][0];
    assert_eq!(scenario["verdict"], "fail");
    let mismatch = &scenario["steps"][1]["mismatches"][0];
    assert_eq!(mismatch["header"], "BITS-Received-Content-Range");
    assert_eq!(mismatch["expected"], "\"1000\"");
    assert!(mismatch["actual"].is_null());
    assert_eq!(mismatch["loc"]["line"], line);
    assert_eq!(mismatch["loc"]["used_at"]["line"], use_line);
}

#[test]
fn a_misspelled_key_exits_2_with_location_and_suggestion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = dir.path().join("ping");
    std::fs::create_dir(&group).expect("mkdir");
    let file = group.join("001-typo.yaml");
    std::fs::write(&file, "id: typo\ntitle: t\nspec: ping.md\nlevel: must\nsteps:\n  - packet: Ping\n    expct:\n      status: 200\n").expect("write");
    let out = bitspec(
        &["run", "--scenarios", &dir.path().to_string_lossy()],
        dir.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("{}:7:5", file.display())),
        "file:line:column in:\n{all}"
    );
    assert!(all.contains("unknown field `expct`"), "{all}");
    assert!(all.contains("did you mean `expect`?"), "{all}");
}

#[test]
fn malformed_yaml_exits_2_with_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, "id: broken\ntitle: [unclosed\nspec: x\n").expect("write");
    let out = bitspec(&["check", &file.to_string_lossy()], dir.path());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains(&format!("{}:", file.display())), "{all}");
    assert!(
        all.lines()
            .any(|l| l.contains("broken.yaml:") && l.matches(':').count() >= 3),
        "file:line:column in:\n{all}"
    );
}

#[test]
fn the_shipped_scenarios_are_valid() {
    let out = bitspec(&["check"], &root());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn nothing_selected_exits_4() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &["run", "--filter", "no-scenario-has-this-name"],
        reports.path(),
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no scenario matched"));
}

#[test]
fn unreachable_target_exits_3() {
    // Bind then drop: the port is very likely closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &[
            "run",
            "--target",
            &format!("http://127.0.0.1:{port}/"),
            "--connect-timeout",
            "2",
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(all.contains("target unreachable"), "{all}");
}

#[test]
fn list_prints_every_selected_scenario() {
    let out = bitspec(&["list", "--tag", "fragment"], &root());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("fragment::001-upload-three-fragments"),
        "{all}"
    );
    assert!(!all.contains("ping::001"), "tag selection leaks: {all}");
}

#[test]
fn the_whole_suite_passes_against_a_separately_started_server_under_a_subdirectory() {
    let uploads = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(bitspec_server::spawn(bitspec_server::Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            root: uploads.path().to_path_buf(),
            ..bitspec_server::Config::default()
        }))
        .expect("reference server starts");
    let target = format!("{}some/dir/", server.base_url());
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(&["run", "--target", &target], reports.path());
    let all = text(&out);
    runtime.block_on(server.shutdown());
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains(&format!("against {target}")), "{all}");
    let last = all.trim_end().lines().last().unwrap_or_default().to_owned();
    assert!(
        last.ends_with(" 0 failed") || last.contains(" 0 failed,"),
        "{last}"
    );
}

#[test]
fn the_shipped_scenarios_are_in_canonical_form() {
    let out = bitspec(&["fmt", "--check"], &root());
    assert_eq!(
        out.status.code(),
        Some(0),
        "run `cargo run -- fmt`:\n{}",
        text(&out)
    );
}

#[test]
fn fmt_check_flags_a_file_out_of_canonical_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = dir.path().join("ping");
    std::fs::create_dir(&group).expect("mkdir");
    let file = group.join("001-x.yaml");
    std::fs::write(&file, "title: t\nid: x\nspec: s\nlevel: must\nsteps:\n  - packet: Ping\n    expect: { status: 200 }\n").expect("write");
    let scenarios = dir.path().to_string_lossy().into_owned();
    let out = bitspec(&["fmt", "--check", "--scenarios", &scenarios], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("001-x.yaml is not in canonical form"));
    let out = bitspec(&["fmt", "--scenarios", &scenarios], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let formatted = std::fs::read_to_string(&file).expect("read");
    assert!(
        formatted.starts_with(
            "# yaml-language-server: $schema=../../schema/scenario.schema.json\nid: x\ntitle: t\n"
        ),
        "{formatted}"
    );
}

#[test]
fn check_reports_every_mistake_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = dir.path().join("fragment");
    std::fs::create_dir(&group).expect("mkdir");
    let head = "title: t\nspec: s\nlevel: must\nfile: { size: 10 }\n";
    std::fs::write(group.join("001-a.yaml"), format!("id: same\n{head}steps:\n  - packet: Fragment\n    headers: {{ BITS-Session-Id: \"${{session}}\" }}\n    range: 9-2\n    expect: {{ status: 200 }}\n  - packet: Create-Session\n    expect: {{ status: 200 }}\n    capture: {{ BITS-Session-Id: session }}\n")).expect("write");
    std::fs::write(group.join("002-b.yaml"), format!("id: same\n{head}steps:\n  - packet: Ping\n    url: \"${{nope}}\"\n    expect: {{ status: 200 }}\n")).expect("write");
    let out = bitspec(
        &["check", "--scenarios", &dir.path().to_string_lossy()],
        dir.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for (location, message) in [
        (
            "001-a.yaml:8:33",
            "`${session}` is used before the step that captures it",
        ),
        ("001-a.yaml:9:12", "range \"9-2\" ends before it starts"),
        ("002-b.yaml:8:10", "undefined variable `${nope}`"),
        (
            "002-b.yaml:1:5",
            "duplicate scenario id `same` (first used at ",
        ),
    ] {
        assert!(
            all.contains(&format!("{location}\n  × {message}")),
            "missing {location} {message:?} in:\n{all}"
        );
    }
}

#[test]
fn format_strict_fails_a_server_that_answers_with_bare_line_feeds() {
    // Bare LF line ends, otherwise a fine Ping Ack.
    let url = canned_server(
        b"HTTP/1.1 200 OK\nBITS-Packet-Type: Ack\nContent-Length: 0\nConnection: close\n\n",
    );
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &[
            "run",
            "--target",
            &url,
            "--id",
            "packet-type-ack-message-syntax",
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("format: expected the message syntax of RFC 2616 section 6, got \"lines end with a bare LF instead of CRLF\""), "{all}");
}

#[test]
fn check_of_one_file_still_checks_requirement_ids_and_suite_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("001-x.yaml");
    std::fs::write(&file, "id: ping-ack\ntitle: t\nspec: s\nlevel: must\nrequirements: [no-such-requirement]\nsteps:\n  - packet: Ping\n    expect: { status: 200 }\n").expect("write");
    let out = bitspec(&["check", &file.to_string_lossy()], &root());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("requirement `no-such-requirement` is not in requirements.yaml"),
        "{all}"
    );
    assert!(
        all.contains("duplicate scenario id `ping-ack` (also used by"),
        "{all}"
    );
}
