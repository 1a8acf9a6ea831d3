//! `cargo test` integration: every scenario becomes a libtest-mimic trial named
//! `<packet-type>::<file-stem>`, run against the in-process reference server, or
//! against the URL in `BITSPEC_TARGET`. `--list`, `--exact`, `--skip` work as usual.

use crate::outcome::Verdict;
use crate::render::failure_text;
use crate::run::{RunOptions, run_scenario};
use crate::scenario::{Scenario, load_suite};
use crate::target::Target;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What the trials share: one runtime and one target, started on first use.
struct Shared {
    runtime: tokio::runtime::Runtime,
    target: Mutex<Option<Target>>,
    options: OnceLock<Result<RunOptions, String>>,
}

impl Shared {
    fn options(&self) -> Result<RunOptions, String> {
        self.options
            .get_or_init(|| {
                let target = self.runtime.block_on(async {
                    match std::env::var("BITSPEC_TARGET") {
                        Ok(url) if !url.trim().is_empty() => {
                            Target::remote(&url, Duration::from_secs(5)).await
                        }
                        _ => Target::embedded().await,
                    }
                })?;
                let options = RunOptions::new(&target.base_url);
                if let Ok(mut slot) = self.target.lock() {
                    *slot = Some(target);
                }
                Ok(options)
            })
            .clone()
    }
}

/// The libtest-mimic main for the scenarios under `dir`.
pub fn run_conformance(dir: &Path) -> ExitCode {
    let args = Arguments::from_args();
    let suite = load_suite(dir);
    if !suite.errors.is_empty() {
        for e in &suite.errors {
            eprintln!("{}", e.render(false));
        }
        eprintln!(
            "error: {} invalid scenario file(s) under {}",
            suite.errors.len(),
            dir.display()
        );
        return ExitCode::from(crate::exit::INVALID);
    }
    if suite.scenarios.is_empty() {
        eprintln!(
            "error: no scenario found under {}: the conformance suite cannot be empty",
            dir.display()
        );
        return ExitCode::from(crate::exit::NOTHING_SELECTED);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shared = Arc::new(Shared {
        runtime,
        target: Mutex::new(None),
        options: OnceLock::new(),
    });
    let trials = suite
        .scenarios
        .into_iter()
        .map(|s| trial(s, Arc::clone(&shared)))
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);

    let target = shared.target.lock().ok().and_then(|mut t| t.take());
    if let Some(target) = target {
        shared.runtime.block_on(target.stop());
    }
    conclusion.exit_code()
}

fn trial(scenario: Scenario, shared: Arc<Shared>) -> Trial {
    let name = scenario.name.clone();
    Trial::test(name, move || {
        let options = shared
            .options()
            .map_err(|e| Failed::from(format!("target unreachable: {e}")))?;
        let outcome = shared.runtime.block_on(run_scenario(&scenario, &options));
        match outcome.verdict {
            Verdict::Pass | Verdict::Skip => Ok(()),
            Verdict::Fail | Verdict::Error => Err(Failed::from(failure_text(&outcome, false))),
        }
    })
}
