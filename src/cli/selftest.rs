//! `bitspec selftest`: run the suite against the reference server once per injected
//! fault, print what caught each, write the reports, exit 0 only at a 100 % score.

use crate::cli::args::SelftestArgs;
use crate::report::output::json_line;
use crate::report::progress::Progress;
use crate::report::selftest::{fault_line, score_line};
use crate::run::target::resolve_profile;
use crate::selftest::report::write_all;
use crate::selftest::{FaultResult, FaultState, Score, SelftestOptions, run_selftest};
use crate::shared::exit;
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
struct FaultEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    result: &'a FaultResult,
}

#[derive(Serialize)]
struct Summary<'a> {
    event: &'static str,
    profile: &'a str,
    scenarios: usize,
    score: Score,
    control_failures: &'a [String],
    duration_ms: u64,
    reports: &'a [String],
    exit_code: u8,
}

/// Runs the command; the value is the exit code. The scenarios are loaded and selected
/// as `run` does it (same located errors, same exit codes), from `args.select`; the
/// directory argument is that one, already resolved, and is not read again.
pub fn command(args: &SelftestArgs) -> u8 {
    let scenarios = match crate::options::select::selected(&args.select) {
        Ok(scenarios) => scenarios,
        Err(code) => return code,
    };
    let profile = match resolve_profile(args.profile.as_deref(), true) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", e.render(false));
            return exit::INVALID;
        }
    };
    let mut options = match SelftestOptions::new(profile) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    if !args.faults.is_empty() {
        for fault in &args.faults {
            if let Err(e) = options.applicable(*fault) {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        }
        options.faults = args.faults.clone();
    }
    options.jobs = args.jobs.max(1);
    options.parallel = args.parallel.max(1);
    options.step_timeout = Duration::from_secs(args.step_timeout.max(1));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::UNREACHABLE;
        }
    };
    let out = &args.output;
    if out.chatty() {
        println!(
            "selftest: {} fault(s), {} at a time, profile {}",
            options.faults.len(),
            options.parallel,
            options.profile.name
        );
    }
    let progress = Progress::new(options.faults.len(), "faults", out.progress());
    let run = runtime.block_on(run_selftest(scenarios, &options, &|r| {
        if out.json() {
            progress.print(|| {
                json_line(&FaultEvent {
                    event: "fault",
                    result: r,
                })
            });
        } else if out.chatty() {
            progress.print(|| {
                println!("{}", fault_line(r));
                if args.verbose {
                    println!("    caught by: {}", r.caught_by.join(", "));
                    println!("    named by:  {}", r.named_by.join(", "));
                }
            });
        }
        progress.advance(r.state() != FaultState::Named);
    }));
    progress.finish();
    let run = match run {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::UNREACHABLE;
        }
    };
    let summary = &run.summary;
    if !summary.control_failures.is_empty() {
        // On stderr in every mode: the self-test cannot be trusted.
        eprintln!(
            "control run (no fault) failed: {}; left out of every fault's results, and the self-test fails",
            summary.control_failures.join(", ")
        );
    }
    let (written, problems) = write_all(&args.report_dir, &run);
    if out.chatty() {
        for path in &written {
            println!("report: {path}");
        }
    }
    for e in problems {
        eprintln!("warning: {e}");
    }
    let code = if summary.passed() {
        exit::PASSED
    } else {
        exit::FAILED
    };
    if out.json() {
        json_line(&Summary {
            event: "summary",
            profile: &summary.profile,
            scenarios: summary.scenarios,
            score: summary.score,
            control_failures: &summary.control_failures,
            duration_ms: summary.duration_ms,
            reports: &written,
            exit_code: code,
        });
    } else {
        println!(
            "{} ({} scenarios per run, {:.0} s)",
            score_line(&summary.score),
            summary.scenarios,
            summary.duration_ms as f64 / 1000.0
        );
    }
    code
}
