//! Generated schedules: a server double with a deliberate bug (old data rewinds the
//! offset it reports) fails a `generate` step; the failure is shrunk to a minimal
//! schedule, printed as a scenario that is valid, reproduces the failure against the
//! buggy double and passes against the correct one.
//! A generated upload of a huge file is refused before it runs.

mod support;

use bitspec::run::{RunOptions, run_scenario};
use bitspec::scenario::{Scenario, load_files};
use bitspec::shared::outcome::Verdict;
use support::double::{Bug, start};

/// A correct double, or one whose Ack for old data rewinds to the fragment's own end.
fn double(rewinds: bool) -> String {
    start(if rewinds {
        Bug::OldDataRewinds
    } else {
        Bug::None
    })
    .url
}

fn load(dir: &std::path::Path, name: &str, text: &str) -> Scenario {
    let group = dir.join("fragment");
    std::fs::create_dir_all(&group).expect("mkdir");
    let path = group.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write");
    let mut suite = load_files(vec![(path, "fragment".into(), format!("fragment::{name}"))]);
    assert!(suite.errors.is_empty(), "{:?}\n{text}", suite.errors);
    suite.scenarios.remove(0)
}

fn run(scenario: &Scenario, url: &str) -> bitspec::shared::outcome::ScenarioOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut options = RunOptions::new(url, bitspec::check::judge());
    options.step_timeout = std::time::Duration::from_secs(5);
    runtime.block_on(run_scenario(scenario, &options))
}

#[test]
fn a_failing_schedule_is_shrunk_to_a_reproducing_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = load(
        dir.path(),
        "001-generated",
        "id: generated\ntitle: t\nspec: s\nlevel: must\nfile: { size: 4000, seed: 5 }\nsteps:\n  - generate: { seed: 11, fragments: 30, max_fragment: 600 }\n",
    );
    let good = double(false);
    let buggy = double(true);
    assert_eq!(
        run(&scenario, &good).verdict,
        Verdict::Pass,
        "{:?}",
        run(&scenario, &good)
    );

    let outcome = run(&scenario, &buggy);
    assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
    let mismatch = &outcome.steps[0].mismatches[0];
    assert_eq!(mismatch.kind, "model");
    let note = outcome
        .notes
        .iter()
        .find(|n| n.contains("reproduces it"))
        .expect("a reproduction");
    let (summary, yaml) = note.split_once(":\n").expect("note then YAML");
    println!("{summary}\n{yaml}");
    // The bug needs a fragment in order and one of old data; greedy shrinking (remove
    // fragments, shorten them) ends 1-minimal, at two or three fragments of thirty.
    let kept: usize = summary
        .split("from 30 to ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("shrunk size in the note");
    assert!((2..=3).contains(&kept), "{summary}");
    assert!(yaml.matches("packet: Fragment").count() <= 3, "{yaml}");

    let repro = load(dir.path(), "002-repro", yaml);
    assert_eq!(
        run(&repro, &buggy).verdict,
        Verdict::Fail,
        "reproduces the failure"
    );
    assert_eq!(
        run(&repro, &good).verdict,
        Verdict::Pass,
        "and passes on a correct server"
    );
}

#[test]
fn a_max_fragment_beyond_the_file_is_clamped_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = load(
        dir.path(),
        "003-huge-max-fragment",
        "id: huge-max-fragment\ntitle: t\nspec: s\nlevel: must\nfile: { size: 10, seed: 5 }\nsteps:\n  - generate: { seed: 3, fragments: 1, max_fragment: 18446744073709551615 }\n",
    );
    let outcome = run(&scenario, &double(false));
    assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
}

#[test]
fn a_generated_upload_of_a_huge_file_is_refused_before_it_runs() {
    // The schedule itself is bounded (unit tests in generate::schedule); a whole upload
    // of an enormous file would still run for ever, so validation refuses it.
    let dir = tempfile::tempdir().expect("tempdir");
    let group = dir.path().join("fragment");
    std::fs::create_dir_all(&group).expect("mkdir");
    let path = group.join("004-huge-file.yaml");
    std::fs::write(
        &path,
        "id: huge-file\ntitle: t\nspec: s\nlevel: must\nfile: { size: 18446744073709551615, seed: 5 }\nsteps:\n  - generate: { seed: 3, fragments: 2, shrink: false }\n",
    )
    .expect("write");
    let suite = load_files(vec![(
        path,
        "fragment".into(),
        "fragment::004-huge-file".into(),
    )]);
    assert!(suite.scenarios.is_empty());
    assert!(
        suite
            .errors
            .iter()
            .any(|e| e.message.contains("keep it at most 1 GiB")
                && e.loc.as_ref().is_some_and(|l| l.line == 5)),
        "{:?}",
        suite.errors
    );
}
