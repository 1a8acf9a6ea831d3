//! `bitspec selftest`: proof that the suite has teeth. The bundled reference server is
//! started once per fault of its catalogue ([`bitspec_server::Fault`], a testing aid
//! compiled into the server), the suite runs against each, and the results say which
//! scenarios caught the fault and whether a failure names what the fault breaks (a
//! header, `status` or `body`). A control run without faults must pass, so every
//! failure is the fault's doing: a scenario that fails it is left out of every fault's
//! results (it would "catch" them all), and the self-test as a whole fails
//! ([`Selftest::passed`]). SHOULD-level expectations count (the runs are strict).
//! The mutation score is faults caught and named / faults.

pub mod report;

pub use crate::shared::selftest::{FaultResult, FaultState, Score, Selftest, SelftestRun};

use crate::run::target::{Target, reference_config, start_example_app};
use crate::run::{RunOptions, run_all};
use crate::scenario::Scenario;
use crate::scenario::profile::Profile;
use crate::shared::outcome::{Mismatch, ScenarioOutcome, Verdict};
use bitspec_server::Fault;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a self-test runs.
#[derive(Debug, Clone)]
pub struct SelftestOptions {
    /// The profile of the reference server (its configuration and capabilities).
    pub profile: Profile,
    /// The reference server's configuration for the profile, read once.
    pub config: bitspec_server::Config,
    /// The faults to inject, one server each.
    pub faults: Vec<Fault>,
    /// Scenarios at once within one run.
    pub jobs: usize,
    /// Faulty servers at once.
    pub parallel: usize,
    pub step_timeout: Duration,
    pub connect_timeout: Duration,
}

impl SelftestOptions {
    /// Every fault that can show on the reference server configured as `profile`
    /// says (see [`SelftestOptions::applicable`]), with bounds fit for two cores.
    pub fn new(profile: Profile) -> Result<SelftestOptions, String> {
        let config = reference_config(&profile)?;
        let faults = Fault::ALL
            .iter()
            .copied()
            .filter(|f| f.hidden_by(&config).is_none())
            .collect();
        Ok(SelftestOptions {
            profile,
            config,
            faults,
            jobs: 4,
            parallel: 2,
            step_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        })
    }
}

impl SelftestOptions {
    /// Whether `fault` can show on the server of these options: the error says
    /// what its configuration lacks (accounts, a host id, upload-reply...).
    pub fn applicable(&self, fault: Fault) -> Result<(), String> {
        match fault.hidden_by(&self.config) {
            Some(needs) => Err(format!(
                "fault `{fault}` cannot show on the server of profile `{}`: it needs {needs}",
                self.profile.name
            )),
            None => Ok(()),
        }
    }
}

/// The scenarios `profile` can run (the others would only be skipped).
pub fn runnable(scenarios: Vec<Scenario>, profile: &Profile) -> Vec<Scenario> {
    scenarios
        .into_iter()
        .filter(|s| profile.lacks(&s.requires).is_none())
        .collect()
}

/// Runs the control and then every fault, `options.parallel` servers at a time;
/// `on_fault` sees each result as it ends.
pub async fn run_selftest(
    scenarios: Vec<Scenario>,
    options: &SelftestOptions,
    on_fault: &(dyn Fn(&FaultResult) + Sync),
) -> Result<SelftestRun, String> {
    let started = Instant::now();
    let mut base = options.config.clone();
    let app = start_example_app(&options.profile, &mut base).await?;
    let scenarios = Arc::new(runnable(scenarios, &options.profile));
    let control_target = Target::embedded_with(base.clone()).await?;
    let target = format!("{} (bundled reference server)", control_target.base_url);
    let control = run_suite(&scenarios, options, &control_target.base_url).await;
    control_target.stop().await;
    let control_failures: Vec<String> = control
        .iter()
        .filter(|o| is_failure(o))
        .map(|o| o.name.clone())
        .collect();
    let excluded: Arc<HashSet<String>> = Arc::new(control_failures.iter().cloned().collect());

    let semaphore = Arc::new(tokio::sync::Semaphore::new(options.parallel.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (index, fault) in options.faults.iter().copied().enumerate() {
        let (semaphore, scenarios, excluded, options) = (
            Arc::clone(&semaphore),
            Arc::clone(&scenarios),
            Arc::clone(&excluded),
            options.clone(),
        );
        let mut config = base.clone();
        config.faults = vec![fault];
        set.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (
                index,
                run_fault(fault, config, &scenarios, &excluded, &options).await,
            )
        });
    }
    let mut results: Vec<Option<FaultResult>> = vec![None; options.faults.len()];
    while let Some(joined) = set.join_next().await {
        let (index, result) = joined.map_err(|e| format!("a self-test task failed: {e}"))?;
        on_fault(&result);
        results[index] = Some(result);
    }
    let faults: Vec<FaultResult> = results.into_iter().flatten().collect();
    if let Some(app) = app {
        app.stop();
    }
    Ok(SelftestRun {
        control,
        target,
        summary: Selftest {
            profile: options.profile.name.clone(),
            scenarios: scenarios.len(),
            control_failures,
            score: Score::of(&faults),
            faults,
            duration_ms: millis(started.elapsed()),
        },
    })
}

async fn run_suite(
    scenarios: &[Scenario],
    options: &SelftestOptions,
    url: &str,
) -> Vec<ScenarioOutcome> {
    let mut run = RunOptions::new(url, crate::check::judge()).with_profile(options.profile.clone());
    run.strict = true;
    run.jobs = options.jobs.max(1);
    run.step_timeout = options.step_timeout;
    run.connect_timeout = options.connect_timeout;
    // A fault that makes the server slow or silent is a finding of its scenarios; on
    // a loaded machine, timeouts in a row must not stop a run and hide the rest.
    run.liveness = Arc::new(crate::run::Liveness::new(0));
    run_all(scenarios, &run, &|_| {}).await
}

/// Runs the suite against a server with `fault`; scenarios in `excluded` (those that
/// failed the control run) count for nothing.
async fn run_fault(
    fault: Fault,
    config: bitspec_server::Config,
    scenarios: &[Scenario],
    excluded: &HashSet<String>,
    options: &SelftestOptions,
) -> FaultResult {
    let started = Instant::now();
    let mut result = FaultResult {
        fault: fault.name().into(),
        area: fault.area().name().into(),
        breaks: fault.breaks().into(),
        description: fault.description().into(),
        caught_by: Vec::new(),
        named_by: Vec::new(),
        error: None,
        duration_ms: 0,
    };
    match Target::embedded_with(config).await {
        Ok(target) => {
            let outcomes = run_suite(scenarios, options, &target.base_url).await;
            target.stop().await;
            judge(&mut result, &outcomes, excluded);
        }
        Err(e) => result.error = Some(e),
    }
    result.duration_ms = millis(started.elapsed());
    result
}

/// Fills `caught_by` and `named_by` from the outcomes of a faulty run, leaving out the
/// scenarios in `excluded`: they fail without the fault, so their failure proves nothing.
fn judge(result: &mut FaultResult, outcomes: &[ScenarioOutcome], excluded: &HashSet<String>) {
    for o in outcomes
        .iter()
        .filter(|o| is_failure(o) && !excluded.contains(&o.name))
    {
        result.caught_by.push(o.name.clone());
        if names(o, &result.breaks) {
            result.named_by.push(o.name.clone());
        }
    }
}

fn is_failure(outcome: &ScenarioOutcome) -> bool {
    matches!(
        outcome.verdict,
        Verdict::Fail | Verdict::Error | Verdict::Warn
    )
}

/// Whether a mismatch of `outcome` is about `what`: its kind (`status`, `body`) or its
/// header. The error code counts under either of its names.
pub fn names(outcome: &ScenarioOutcome, what: &str) -> bool {
    names_in(outcome.steps.iter().flat_map(|s| &s.mismatches), what)
}

fn names_in<'a>(mismatches: impl IntoIterator<Item = &'a Mismatch>, what: &str) -> bool {
    let aliases: &[&str] = if what.eq_ignore_ascii_case("BITS-Error-Code") {
        &["BITS-Error-Code", "BITS-Error"]
    } else {
        &[what]
    };
    mismatches.into_iter().any(|m| {
        aliases.iter().any(|a| {
            m.kind.eq_ignore_ascii_case(a)
                || m.header
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(a))
        })
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::location::Loc;

    fn mismatch(kind: &'static str, header: Option<&str>) -> Mismatch {
        Mismatch {
            kind,
            header: header.map(str::to_owned),
            expected: String::new(),
            actual: None,
            expected_line: None,
            loc: Loc::new(&Arc::from("t.yaml"), 1, 1),
            graded: None,
        }
    }

    #[test]
    fn a_mismatch_names_its_kind_or_header_in_any_case() {
        let found = [
            mismatch("status", None),
            mismatch("header", Some("bits-received-content-range")),
        ];
        assert!(names_in(&found, "status"));
        assert!(names_in(&found, "BITS-Received-Content-Range"));
        assert!(!names_in(&found, "body"));
        assert!(!names_in(&found, "BITS-Session-Id"));
    }

    #[test]
    fn the_error_code_is_named_under_either_header() {
        assert!(names_in(
            &[mismatch("error", Some("BITS-Error"))],
            "BITS-Error-Code"
        ));
        assert!(!names_in(
            &[mismatch("error", Some("BITS-Error-Context"))],
            "BITS-Error-Code"
        ));
    }

    fn outcome(name: &str, verdict: Verdict, kind: &'static str) -> ScenarioOutcome {
        ScenarioOutcome {
            id: name.into(),
            name: name.into(),
            group: "g".into(),
            file: "t.yaml".into(),
            title: String::new(),
            spec: String::new(),
            level: crate::scenario::model::Level::Must,
            tags: Vec::new(),
            requirements: Vec::new(),
            verdict,
            reason: None,
            upload_url: String::new(),
            steps: vec![crate::shared::outcome::StepOutcome {
                number: 1,
                label: String::new(),
                loc: Loc::new(&Arc::from("t.yaml"), 1, 1),
                request: crate::shared::outcome::RecordedRequest {
                    method: "BITS_POST".into(),
                    url: String::new(),
                    headers: Vec::new(),
                    body_len: 0,
                },
                response: None,
                mismatches: vec![mismatch(kind, None)],
                readings: Vec::new(),
                error: None,
                elapsed_ms: 0,
            }],
            notes: Vec::new(),
            baseline: None,
            cleanup: Vec::new(),
            duration_ms: 0,
            subject: crate::shared::outcome::Subject::Server,
        }
    }

    #[test]
    fn scenarios_that_fail_without_the_fault_neither_catch_nor_name_it() {
        let mut result = FaultResult {
            fault: "f".into(),
            area: "a".into(),
            breaks: "status".into(),
            description: String::new(),
            caught_by: Vec::new(),
            named_by: Vec::new(),
            error: None,
            duration_ms: 0,
        };
        let outcomes = [
            outcome("always-fails", Verdict::Fail, "status"),
            outcome("catches", Verdict::Fail, "status"),
            outcome("catches-unnamed", Verdict::Error, "body"),
            outcome("passes", Verdict::Pass, "status"),
        ];
        let excluded: HashSet<String> = ["always-fails".to_string()].into();
        judge(&mut result, &outcomes, &excluded);
        assert_eq!(result.caught_by, ["catches", "catches-unnamed"]);
        assert_eq!(result.named_by, ["catches"]);
    }

    #[test]
    fn a_failed_control_run_fails_the_self_test_at_any_score() {
        let perfect = Score {
            faults: 1,
            caught: 1,
            named: 1,
            percent: 100.0,
        };
        let selftest = |control_failures: Vec<String>| Selftest {
            profile: "p".into(),
            scenarios: 1,
            control_failures,
            score: perfect,
            faults: Vec::new(),
            duration_ms: 0,
        };
        assert!(selftest(Vec::new()).passed());
        assert!(!selftest(vec!["always-fails".into()]).passed());
    }

    #[test]
    fn the_score_counts_named_faults_only() {
        let result = |caught: &[&str], named: &[&str]| FaultResult {
            fault: "f".into(),
            area: "a".into(),
            breaks: "status".into(),
            description: String::new(),
            caught_by: caught.iter().map(|s| s.to_string()).collect(),
            named_by: named.iter().map(|s| s.to_string()).collect(),
            error: None,
            duration_ms: 0,
        };
        let score = Score::of(&[
            result(&["a"], &["a"]),
            result(&["b"], &[]),
            result(&[], &[]),
        ]);
        assert_eq!((score.faults, score.caught, score.named), (3, 2, 1));
        assert!((score.percent - 100.0 / 3.0).abs() < 1e-9);
        assert!(!score.is_perfect());
        assert!(Score::of(&[result(&["a"], &["a"])]).is_perfect());
        assert!(!Score::of(&[]).is_perfect());
    }
}
