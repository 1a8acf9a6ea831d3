//! Levels per expectation: a step (or one of its checks) names the catalogue requirement
//! it verifies, a mismatch is graded at that requirement's level, and `bitspec check`
//! refuses a MUST-level expectation that names no MUST-level server requirement.

mod support;

use std::path::Path;
use support::{bitspec, canned_server, text};

/// A small catalogue: a MUST and a SHOULD server requirement, a MAY, and a client rule.
const CATALOGUE: &str = r#"requirements:
  - id: server-must
    level: must
    source: test
    section: "1"
    packet: ping
    text: "The server MUST answer a Ping with 200."
    observable: true
  - id: server-should
    level: should
    source: test
    section: "2"
    packet: ping
    text: "The server SHOULD send X-Extra."
    observable: true
  - id: server-may
    level: may
    source: test
    section: "3"
    packet: ping
    text: "The server MAY send X-Optional."
    observable: true
  - id: client-must
    level: must
    source: test
    section: "4"
    packet: ping
    text: "The client MUST send Content-Length."
    observable: true
    party: client
"#;

/// A scenario directory with the catalogue and these `ping/NNN-name.yaml` files.
fn suite(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("requirements.yaml"), CATALOGUE).expect("write catalogue");
    let group = dir.path().join("ping");
    std::fs::create_dir(&group).expect("mkdir");
    for (name, body) in files {
        std::fs::write(group.join(name), body).expect("write scenario");
    }
    dir
}

fn check(dir: &Path) -> (Option<i32>, String) {
    let out = bitspec(&["check", "--scenarios", &dir.to_string_lossy()], dir);
    (out.status.code(), text(&out))
}

#[test]
fn check_refuses_a_must_expectation_without_a_must_server_requirement() {
    let dir = suite(&[
        (
            "001-unnamed.yaml",
            "id: unnamed\ntitle: t\nspec: s\nlevel: must\nsteps:\n  - packet: Ping\n    expect:\n      status: 200\n",
        ),
        (
            "002-client.yaml",
            "id: client\ntitle: t\nspec: s\nlevel: must\nsteps:\n  - requirement: client-must\n    packet: Ping\n    expect:\n      status: 200\n",
        ),
        (
            "003-fine.yaml",
            "id: fine\ntitle: t\nspec: s\nlevel: must\nsteps:\n  - requirement: server-must\n    packet: Ping\n    expect:\n      requirement_for: { X-Extra: server-should }\n      status: 200\n      headers:\n        X-Extra: present\n",
        ),
        (
            "004-should.yaml",
            "id: should\ntitle: t\nspec: s\nlevel: should\nsteps:\n  - packet: Ping\n    expect:\n      status: 200\n",
        ),
    ]);
    let (code, all) = check(dir.path());
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains("001-unnamed.yaml:8:15\n  × step 1 of this MUST scenario grades `status` at MUST level, but names no MUST-level server requirement"),
        "{all}"
    );
    assert!(
        all.contains("002-client.yaml:6:18\n  × step 1 checks `status` against `client-must`, a rule on what the client sends: it cannot make a server fail"),
        "{all}"
    );
    assert!(!all.contains("003-fine.yaml"), "{all}");
    assert!(!all.contains("004-should.yaml"), "{all}");
    assert!(all.contains("2 errors in scenario files"), "{all}");

    // Named, the same scenarios pass.
    std::fs::remove_file(dir.path().join("ping/001-unnamed.yaml")).expect("rm");
    std::fs::remove_file(dir.path().join("ping/002-client.yaml")).expect("rm");
    let (code, all) = check(dir.path());
    assert_eq!(code, Some(0), "{all}");
}

#[test]
fn an_unknown_requirement_or_check_is_refused_where_it_is_written() {
    let dir = suite(&[(
        "001-typo.yaml",
        "id: typo\ntitle: t\nspec: s\nlevel: should\nsteps:\n  - requirement: server-mustt\n    packet: Ping\n    expect:\n      requirement_for: { X-Nowhere: server-may }\n      status: 200\n",
    )]);
    // Both `check` and `run` refuse it, each mistake at its place.
    for args in [&["check"][..], &["run", "--list"][..]] {
        let mut args = args.to_vec();
        let scenarios = dir.path().to_string_lossy().into_owned();
        args.extend(["--scenarios", &scenarios]);
        let out = bitspec(&args, dir.path());
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(
            all.contains("001-typo.yaml:9:37\n  × `requirement_for` names `X-Nowhere`, which this `expect` does not check"),
            "{all}"
        );
    }
    // Once the key is right, the unknown id is located at the id.
    let file = dir.path().join("ping/001-typo.yaml");
    let fixed = std::fs::read_to_string(&file).expect("read").replace(
        "requirement_for: { X-Nowhere: server-may }",
        "requirement_for: { status: server-may }",
    );
    std::fs::write(&file, fixed).expect("write");
    let (code, all) = check(dir.path());
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains(
            "001-typo.yaml:6:18\n  × requirement `server-mustt` is not in requirements.yaml"
        ),
        "{all}"
    );
    assert!(all.contains("did you mean `server-must`?"), "{all}");
}

#[test]
fn a_mismatch_is_graded_at_the_level_of_the_requirement_it_names() {
    // The bundled server answers a Ping with 200 and no X-Missing header: the same
    // broken expectation fails, warns or is only noted, by the requirement it names.
    let scenario = |id: &str, requirement: &str| {
        format!(
            "id: {id}\ntitle: t\nspec: s\nlevel: must\nsteps:\n  - requirement: server-must\n    packet: Ping\n    expect:\n      requirement_for: {{ X-Missing: {requirement} }}\n      status: 200\n      headers:\n        X-Missing: present\n"
        )
    };
    let dir = suite(&[
        ("001-must.yaml", &scenario("graded-must", "server-must")),
        (
            "002-should.yaml",
            &scenario("graded-should", "server-should"),
        ),
        ("003-may.yaml", &scenario("graded-may", "server-may")),
    ]);
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &["run", "--scenarios", &dir.path().to_string_lossy()],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the MUST mismatch fails the run:\n{all}"
    );
    assert!(
        all.contains(
            "header X-Missing: expected present, got nothing (header absent) [MUST server-must]"
        ),
        "{all}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    let outcome = |id: &str| {
        json["scenarios"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no outcome for {id} in {json}"))
    };
    for (id, verdict, requirement, level) in [
        ("graded-must", "fail", "server-must", "must"),
        ("graded-should", "warn", "server-should", "should"),
        ("graded-may", "pass", "server-may", "may"),
    ] {
        let o = outcome(id);
        assert_eq!(o["verdict"], verdict, "{o}");
        let graded = &o["steps"][0]["mismatches"][0]["graded"];
        assert_eq!(graded["requirement"], requirement, "{o}");
        assert_eq!(graded["level"], level, "{o}");
    }
    let may = outcome("graded-may");
    assert!(
        may["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("optional (MAY) behaviour differs")),
        "{may}"
    );
}

#[test]
fn a_server_that_takes_the_first_of_two_duplicated_headers_only_warns() {
    // A spec-valid reading of `BITS-Packet-Type: Ping` + `BITS-Packet-Type: Create-Session`:
    // the first one wins, so the request is a Ping and gets a Ping Ack.
    let url = canned_server(
        b"HTTP/1.1 200 OK\r\nBITS-Packet-Type: Ack\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &["run", "--target", &url, "--id", "raw-duplicate-packet-type"],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a SHOULD, not a failure:\n{all}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    assert_eq!(json["scenarios"][0]["verdict"], "warn", "{json}");
}
