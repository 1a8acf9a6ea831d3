//! The suite has teeth: the reference server is run once per fault of its catalogue
//! (`bitspec-server --list-faults`), and every fault must make a scenario fail with a
//! mismatch that names what the fault breaks: a mutation score of 100 %.

mod support;

use bitspec::report::selftest::{fault_line, score_line};
use bitspec::run::target::resolve_profile;
use bitspec::scenario::load_suite;
use bitspec::selftest::{SelftestOptions, run_selftest};
use bitspec_server::Fault;
use bitspec_server::fault::Area;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use support::{bitspec, root, text, validate_junit};

/// The whole self-test may take this long before the test gives up.
const BUDGET: Duration = Duration::from_secs(900);

/// Runs the self-test on the reference server configured as `profile` says, with
/// every fault that can show there, and checks each is caught and named.
fn every_fault_is_named_on(profile: &str) {
    every_named(profile, None, |_| true);
}

/// The self-test on `profile` with `faults` (default: all that can show there) and
/// the scenarios `keep` accepts; every fault must be caught by a failure naming it.
fn every_named(profile: &str, faults: Option<&[&str]>, keep: impl Fn(&str) -> bool) {
    let suite = load_suite(&root().join("scenarios"));
    assert!(suite.errors.is_empty(), "invalid scenarios");
    let scenarios: Vec<_> = suite
        .scenarios
        .into_iter()
        .filter(|s| keep(&s.name))
        .collect();
    let profile = resolve_profile(Some(Path::new(profile)), true).expect("the profile");
    let mut options = SelftestOptions::new(profile).expect("the profile's server configuration");
    if let Some(names) = faults {
        options.faults = names
            .iter()
            .map(|n| Fault::from_name(n).expect("fault"))
            .collect();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let run = runtime
        .block_on(async {
            tokio::time::timeout(
                BUDGET,
                run_selftest(scenarios, &options, &|r| eprintln!("{}", fault_line(r))),
            )
            .await
        })
        .expect("the self-test ends within its budget")
        .expect("the reference server starts");
    let summary = &run.summary;
    assert!(
        summary.control_failures.is_empty(),
        "the suite fails against the server without faults: {:?}",
        summary.control_failures
    );
    let missed: Vec<String> = summary
        .faults
        .iter()
        .filter(|r| !r.named())
        .map(fault_line)
        .collect();
    assert!(
        missed.is_empty(),
        "faults no scenario catches with a failure naming what they break:\n{}",
        missed.join("\n")
    );
    assert!(summary.score.is_perfect(), "{}", score_line(&summary.score));
    eprintln!(
        "{} in {} s",
        score_line(&summary.score),
        summary.duration_ms / 1000
    );
}

#[test]
fn every_fault_is_caught_by_a_failure_that_names_it() {
    every_fault_is_named_on("reference");
}

#[test]
fn faults_of_configured_features_are_caught_where_the_features_are_configured() {
    every_fault_is_named_on("reference-limits");
}

#[test]
fn authentication_faults_are_caught_under_ntlm_and_negotiate_too() {
    let faults = ["auth-not-enforced", "user-paths-ignored"];
    let auth = |name: &str| name.contains("authentication") || name.contains("authenticated");
    every_named("reference-ntlm", Some(&faults), auth);
    every_named("reference-negotiate", Some(&faults), auth);
}

#[test]
fn every_fault_that_shows_is_caught_on_the_other_reading_of_every_ambiguity() {
    every_fault_is_named_on("reference-mc-bup");
}

#[test]
fn each_profile_gets_the_faults_its_configuration_can_show() {
    let faults = |name: &str| {
        let profile = resolve_profile(Some(Path::new(name)), true).expect("profile");
        SelftestOptions::new(profile).expect("configuration").faults
    };
    let named = |names: &[&str]| -> Vec<Fault> {
        names
            .iter()
            .map(|n| Fault::from_name(n).expect("fault"))
            .collect()
    };
    let (reference, limits) = (faults("reference"), faults("reference-limits"));
    let (reply, mc_bup) = (faults("reference-reply"), faults("reference-mc-bup"));
    let configured = named(&[
        "auth-not-enforced",
        "user-paths-ignored",
        "max-upload-size-ignored",
        "disabled-folder-served",
        "host-id-missing",
    ]);
    let replies = named(&["reply-url-missing", "reply-url-early"]);
    for fault in &configured {
        assert!(!reference.contains(fault), "{fault} on reference");
        assert!(limits.contains(fault), "{fault} not on reference-limits");
    }
    for fault in &replies {
        assert!(
            !reference.contains(fault) && !limits.contains(fault),
            "{fault}"
        );
        assert!(reply.contains(fault), "{fault} not on reference-reply");
    }
    // A host id, overwrites allowed: these cannot show on reference-limits.
    for fault in named(&["host-id-when-unset", "overwrite-ignores-setting"]) {
        assert!(
            reference.contains(&fault) && !limits.contains(&fault),
            "{fault}"
        );
    }
    // Upload-reply publishes nothing at the upload's URL.
    for fault in named(&["close-no-publish", "reply-url-on-simple-upload"]) {
        assert!(
            reference.contains(&fault) && !reply.contains(&fault),
            "{fault}"
        );
    }
    // The other reading of each ambiguity: no session id echo, overlaps refused,
    // the upload published at its last fragment.
    for fault in named(&[
        "session-id-echo-unbraced",
        "overlap-overwrites",
        "close-no-publish",
    ]) {
        assert!(
            reference.contains(&fault) && !mc_bup.contains(&fault),
            "{fault}"
        );
    }
}

#[test]
fn upload_reply_faults_are_caught_with_the_example_application() {
    every_named(
        "reference-reply",
        Some(&["reply-url-missing", "reply-url-early"]),
        |name| name.starts_with("fragment::") || name.starts_with("upload-reply::"),
    );
}

#[test]
fn a_fault_the_profile_cannot_show_is_refused_by_name() {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &["selftest", "--fault", "auth-not-enforced"],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("it needs accounts"), "{all}");
}

#[test]
fn the_catalogue_has_thirty_distinct_faults_in_every_area() {
    assert!(Fault::ALL.len() >= 30, "{} faults", Fault::ALL.len());
    let names: HashSet<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names.len(), Fault::ALL.len(), "fault names repeat");
    for area in [
        Area::AckFraming,
        Area::CreateSession,
        Area::Fragment,
        Area::LifeCycle,
        Area::Validation,
        Area::Configured,
    ] {
        assert!(
            Fault::ALL.iter().filter(|f| f.area() == area).count() >= 5,
            "fewer than five faults in {}",
            area.name()
        );
    }
    for fault in Fault::ALL {
        assert_eq!(Fault::from_name(fault.name()), Some(*fault));
        assert!(!fault.breaks().is_empty() && !fault.description().is_empty());
    }
}

#[test]
fn the_command_reports_the_score_in_json_and_markdown() {
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_string_lossy().into_owned();
    let out = bitspec(
        &[
            "selftest",
            "--fault",
            "gap-accepted",
            "--fault",
            "ack-no-packet-type",
            "--filter",
            "fragment::002",
            "--report-dir",
            &dir,
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("mutation score: 100.0 % (2 of 2"), "{all}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    assert_eq!(json["selftest"]["score"]["named"], 2, "{json}");
    assert_eq!(json["selftest"]["faults"][0]["fault"], "gap-accepted");
    assert_eq!(
        json["selftest"]["faults"][0]["named_by"][0],
        "fragment::002-gap-416-then-resume"
    );
    let md = std::fs::read_to_string(reports.path().join("report.md")).expect("report.md");
    assert!(md.contains("## Self-test: mutation score"), "{md}");
    let html = std::fs::read_to_string(reports.path().join("report.html")).expect("report.html");
    assert!(
        html.contains("<section id=\"selftest\">")
            && html.contains("<td><code>gap-accepted</code></td><td>Fragment</td><td>status</td>"),
        "{html}"
    );
    let junit = reports.path().join("junit.xml");
    validate_junit(&junit).expect("junit.xml fits the JUnit schema");
    let xml = std::fs::read_to_string(&junit).expect("junit.xml");
    let suite = xml
        .split("<testsuite ")
        .find(|s| s.starts_with("name=\"selftest\""))
        .and_then(|s| s.split('>').next())
        .expect("a selftest testsuite");
    assert!(
        suite.contains("tests=\"2\"") && suite.contains("failures=\"0\""),
        "{suite}"
    );
    assert!(
        xml.contains("<testcase name=\"gap-accepted\" classname=\"selftest.Fragment\""),
        "{xml}"
    );
    assert!(
        md.contains("| gap-accepted | Fragment | status | 1 |"),
        "{md}"
    );
}

/// A directory with one scenario file, `ping/001-<name>.yaml`.
fn one_scenario(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = dir.path().join("ping");
    std::fs::create_dir(&group).expect("mkdir");
    std::fs::write(group.join(format!("001-{name}.yaml")), text).expect("write");
    dir
}

#[test]
fn a_scenario_that_fails_without_faults_catches_nothing_and_fails_the_self_test() {
    let scenarios = one_scenario(
        "always-fails",
        "id: always-fails\ntitle: t\nspec: ping.md\nlevel: must\nsteps:\n  - packet: Ping\n    expect:\n      status: 418\n",
    );
    let reports = tempfile::tempdir().expect("tempdir");
    let dir = reports.path().to_string_lossy().into_owned();
    let out = bitspec(
        &[
            "selftest",
            "--scenarios",
            &scenarios.path().to_string_lossy(),
            "--fault",
            "gap-accepted",
            "--report-dir",
            &dir,
        ],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("control run (no fault) failed: ping::001-always-fails"),
        "{all}"
    );
    assert!(all.contains("mutation score: 0.0 %"), "{all}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    let fault = &json["selftest"]["faults"][0];
    assert_eq!(fault["caught_by"], serde_json::json!([]), "{json}");
    assert_eq!(fault["named_by"], serde_json::json!([]), "{json}");
    assert_eq!(
        json["selftest"]["control_failures"],
        serde_json::json!(["ping::001-always-fails"])
    );
    // CI test tabs show the missed fault as a failing testcase.
    let junit = reports.path().join("junit.xml");
    validate_junit(&junit).expect("junit.xml fits the JUnit schema");
    let xml = std::fs::read_to_string(&junit).expect("junit.xml");
    assert!(xml.contains("type=\"missed\""), "{xml}");
}

#[test]
fn invalid_scenarios_are_reported_as_run_reports_them() {
    let scenarios = one_scenario(
        "typo",
        "id: typo\ntitle: t\nspec: ping.md\nlevel: must\nsteps:\n  - packet: Ping\n    expct:\n      status: 200\n",
    );
    let args = ["--scenarios", &scenarios.path().to_string_lossy()].map(str::to_owned);
    let run = bitspec(&["run", &args[0], &args[1]], scenarios.path());
    let selftest = bitspec(&["selftest", &args[0], &args[1]], scenarios.path());
    assert_eq!(selftest.status.code(), Some(2), "{}", text(&selftest));
    assert_eq!(text(&selftest), text(&run));
    assert!(text(&selftest).contains("1 error in scenario files"));
}
