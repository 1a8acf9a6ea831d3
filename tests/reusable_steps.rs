//! Reusable steps (`scenarios/steps/`, `use:`): a failing expectation or a mistake written
//! in a reusable step is reported at its own line and at the `use:` that brought it in;
//! what the use site overrides is reported at the use site.

mod support;

use std::path::Path;
use support::{bitspec, text};

/// A Ping whose Ack must carry `${packet_type}` (a parameter) with status 200.
const ACK_STEP: &str = "about: a Ping and its Ack\nparams:\n  packet_type: { about: the BITS-Packet-Type of the Ack }\nstep:\n  packet: Ping\n  expect:\n    status: 200\n    headers:\n      BITS-Packet-Type: { equals_ignore_case: \"${packet_type}\" }\n";
/// The line of the header check above.
const ACK_CHECK_LINE: usize = 9;

/// A scenario directory with `steps/ack.yaml` and these `ping/` scenarios.
fn suite(scenarios: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let steps = dir.path().join("steps");
    std::fs::create_dir(&steps).expect("mkdir steps");
    std::fs::write(steps.join("ack.yaml"), ACK_STEP).expect("write step");
    let group = dir.path().join("ping");
    std::fs::create_dir(&group).expect("mkdir ping");
    for (name, body) in scenarios {
        std::fs::write(group.join(name), body).expect("write scenario");
    }
    dir
}

fn scenario(with: &str, extra: &str) -> String {
    format!(
        "id: uses-ack\ntitle: t\nspec: s\nlevel: must\nsteps:\n  - packet: Ping\n    expect: {{ status: 200 }}\n  - use: ack\n    with: {{ packet_type: {with} }}\n{extra}"
    )
}

fn run(dir: &Path) -> (Option<i32>, String) {
    let reports = dir.join("reports");
    let out = bitspec(
        &[
            "run",
            "--scenarios",
            &dir.to_string_lossy(),
            "--filter",
            "ping::",
        ],
        &reports,
    );
    (out.status.code(), text(&out))
}

#[test]
fn a_failing_expectation_of_a_reusable_step_is_reported_at_both_places() {
    let dir = suite(&[("001-uses-ack.yaml", &scenario("Nack", ""))]);
    let (code, all) = run(dir.path());
    assert_eq!(code, Some(1), "{all}");
    let step_file = dir.path().join("steps/ack.yaml");
    let scenario_file = dir.path().join("ping/001-uses-ack.yaml");
    let expected = format!(
        "{}:{ACK_CHECK_LINE}:25 (used at {}:8:10)",
        step_file.display(),
        scenario_file.display()
    );
    assert!(all.contains(&expected), "wanted {expected} in:\n{all}");
    // And in results.json, as data.
    let results = std::fs::read_to_string(dir.path().join("reports/results.json"))
        .expect("results.json written");
    assert!(results.contains("\"used_at\""), "{results}");

    // The same step with the right parameter passes: the mismatch came from the value.
    let good = suite(&[("001-uses-ack.yaml", &scenario("Ack", ""))]);
    let (code, all) = run(good.path());
    assert_eq!(code, Some(0), "{all}");
}

#[test]
fn an_expectation_overridden_at_the_use_site_is_reported_there() {
    let dir = suite(&[(
        "001-uses-ack.yaml",
        &scenario("Ack", "    expect:\n      status: 299\n"),
    )]);
    let (code, all) = run(dir.path());
    assert_eq!(code, Some(1), "{all}");
    let scenario_file = dir.path().join("ping/001-uses-ack.yaml");
    let expected = format!("{}:11:15:", scenario_file.display());
    assert!(all.contains(&expected), "wanted {expected} in:\n{all}");
}

#[test]
fn mistakes_in_and_around_a_reusable_step_are_located() {
    // A parameter the step does not declare, a missing one, an unknown step, a dropped
    // check the step does not make.
    let dir = suite(&[
        (
            "001-unknown-parameter.yaml",
            "id: a\ntitle: t\nspec: s\nlevel: should\nsteps:\n  - use: ack\n    with: { packet_typ: Ack }\n",
        ),
        (
            "002-unknown-step.yaml",
            "id: b\ntitle: t\nspec: s\nlevel: should\nsteps:\n  - use: akc\n",
        ),
        (
            "003-without.yaml",
            "id: c\ntitle: t\nspec: s\nlevel: should\nsteps:\n  - use: ack\n    with: { packet_type: Ack }\n    expect: { without: [body] }\n",
        ),
    ]);
    let out = bitspec(
        &["check", "--scenarios", &dir.path().to_string_lossy()],
        dir.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    for (at, wanted) in [
        (
            "001-unknown-parameter.yaml:7:25",
            "`ack` has no parameter `packet_typ` (its parameters: packet_type)",
        ),
        (
            "001-unknown-parameter.yaml:6:10",
            "`ack` needs the parameter `packet_type`",
        ),
        (
            "002-unknown-step.yaml:6:10",
            "no reusable step named `akc` (known: ack)",
        ),
        (
            "003-without.yaml:8:25",
            "`without` names `body`, which the used step does not check",
        ),
    ] {
        let block = all
            .split("error: ")
            .find(|b| b.contains(at))
            .unwrap_or_else(|| panic!("no error at {at} in:\n{all}"));
        assert!(
            block.contains(wanted),
            "wanted {wanted:?} at {at} in:\n{all}"
        );
    }
    assert!(all.contains("did you mean `packet_type`?"), "{all}");
    assert!(all.contains("did you mean `ack`?"), "{all}");

    // A mistake inside the reusable step names the step file and the use site.
    let broken = suite(&[("001-uses-ack.yaml", &scenario("Ack", ""))]);
    let step_file = broken.path().join("steps/ack.yaml");
    std::fs::write(
        &step_file,
        ACK_STEP.replace("status: 200", "status: 200\n    body: { matches: \"(\" }"),
    )
    .expect("rewrite");
    let out = bitspec(
        &["check", "--scenarios", &broken.path().to_string_lossy()],
        broken.path(),
    );
    let all = text(&out);
    let expected = format!(
        "{}:8:11 (used at {}:8:10)",
        step_file.display(),
        broken.path().join("ping/001-uses-ack.yaml").display()
    );
    assert!(all.contains(&expected), "wanted {expected} in:\n{all}");
    assert!(all.contains("invalid regular expression"), "{all}");
    // The snippet shown is the reusable step's line, not the scenario's.
    assert!(all.contains("body: { matches: \"(\" }"), "{all}");

    // So does a requirement id the catalogue lacks, checked after validation.
    std::fs::write(
        &step_file,
        ACK_STEP.replace(
            "  packet: Ping",
            "  requirement: no-such-requirement\n  packet: Ping",
        ),
    )
    .expect("rewrite");
    let out = bitspec(
        &["check", "--scenarios", &broken.path().to_string_lossy()],
        broken.path(),
    );
    let all = text(&out);
    let expected = format!(
        "{}:5:16 (used at {}:8:10)",
        step_file.display(),
        broken.path().join("ping/001-uses-ack.yaml").display()
    );
    assert!(all.contains(&expected), "wanted {expected} in:\n{all}");
    assert!(all.contains("requirement: no-such-requirement"), "{all}");
}
