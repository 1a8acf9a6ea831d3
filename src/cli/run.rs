//! `bitspec run`: the whole pipeline, load -> validate -> run -> check -> report.

use crate::baseline::Baseline;
use crate::cli::args::RunArgs;
use crate::cli::list::print_list;
use crate::options::pace::seconds;
use crate::options::runtime::runtime;
use crate::options::select::{print_errors, scenario_dir, selected};
use crate::options::terminal::color_stdout;
use crate::options::tls::targets_and_tls;
use crate::report::output::RunOutput;
use crate::report::{self, Console};
use crate::run::target::{Target, resolve_profile};
use crate::run::{ProbeError, RunOptions, run_all};
use crate::shared::exit;

pub fn run(args: RunArgs) -> u8 {
    let scenarios = match selected(&args.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if args.list {
        return print_list(&scenarios);
    }
    let (step_timeout, connect_timeout) =
        match (seconds(args.step_timeout), seconds(args.connect_timeout)) {
            (Some(s), Some(c)) => (s, c),
            _ => {
                eprintln!("error: timeouts must be positive numbers of seconds");
                return exit::INVALID;
            }
        };
    let tls = match targets_and_tls(&args.tls, &[("--target", args.target.as_deref())]) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // Updating an existing baseline keeps its reasons, so it must load as well: a
    // file that does not parse is never overwritten.
    let baseline = match &args.baseline {
        Some(path) if !args.update_baseline || path.exists() => match Baseline::load(path) {
            Ok(b) => Some(b),
            Err(e) => {
                print_errors(&[e]);
                return exit::INVALID;
            }
        },
        _ => None,
    };
    let profile = match resolve_profile(args.profile.as_deref(), args.target.is_none()) {
        Ok(p) => p,
        Err(e) => {
            print_errors(&[e]);
            return exit::INVALID;
        }
    };
    let node_errors = crate::scenario::validate::check_nodes_against_profile(&scenarios, &profile);
    if !node_errors.is_empty() {
        print_errors(&node_errors);
        return exit::INVALID;
    }
    // A farm profile's first node is the target when none is given.
    let remote = args
        .target
        .clone()
        .or_else(|| profile.nodes.first().map(|n| n.url.clone()));
    let Some(idle_grace) = seconds(args.pace.idle_grace) else {
        eprintln!("error: --idle-grace must be a positive number of seconds");
        return exit::INVALID;
    };
    let liveness = std::sync::Arc::new(crate::run::Liveness::new(args.pace.max_timeouts));
    runtime.block_on(async move {
        let target = match &remote {
            Some(url) => match Target::remote_probed(url, &tls, connect_timeout).await {
                Ok(t) => Ok(t),
                // Reachable but silent: every scenario is reported as not run.
                Err(ProbeError::Silent(why)) => {
                    if args.pace.max_timeouts > 0 {
                        liveness.stop(&why, 0);
                    }
                    Ok(Target::unprobed(url))
                }
                Err(e) => Err(e.to_string()),
            },
            None => Target::embedded_for(&profile).await,
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target unreachable: {e}");
                return exit::UNREACHABLE;
            }
        };
        let mut options =
            RunOptions::new(&target.base_url, crate::check::judge()).with_profile(profile);
        options.strict = args.strict;
        options.step_timeout = step_timeout;
        options.connect_timeout = connect_timeout;
        options.jobs = args.jobs.max(1);
        options.tls = tls;
        options.idle_grace = idle_grace;
        options.liveness = liveness;

        let console = Console {
            color: color_stdout(),
            verbose: args.verbose,
        };
        let output = RunOutput::new(console, &args.output, scenarios.len());
        let label = if target.is_embedded() {
            format!("{} (bundled reference server)", target.base_url)
        } else {
            target.base_url.clone()
        };
        output.started(
            scenarios.len(),
            &label,
            &options.profile.name,
            &options.profile.description,
        );
        let mut outcomes = run_all(&scenarios, &options, &|o| output.scenario_done(o)).await;
        target.stop().await;

        let mut written = Vec::new();
        let mut baseline_written = true;
        if let (Some(path), true) = (&args.baseline, args.update_baseline) {
            let fresh = crate::baseline::updated(&outcomes, baseline.as_ref());
            match crate::baseline::write(path, &fresh) {
                Ok(()) => output.note(&format!(
                    "baseline: wrote {} deviation(s) to {}",
                    fresh.deviations.len(),
                    path.display()
                )),
                Err(e) => {
                    eprintln!("error: {e}");
                    baseline_written = false;
                }
            }
        } else if let Some(b) = &baseline {
            crate::baseline::apply(&mut outcomes, b);
            for id in b.stale_ids(&outcomes) {
                output.note(&format!(
                    "baseline: `{id}` did not run (renamed, removed or not selected)"
                ));
            }
        }
        let coverage = report::suite_coverage(&scenario_dir(&args.select.scenarios), &outcomes);
        let run_report = report::RunReport {
            outcomes: &outcomes,
            target: &label,
            profile: &options.profile.name,
            profile_description: &options.profile.description,
            strict: options.strict,
            coverage: coverage.as_deref(),
        };
        let (paths, problems) = report::write_all(&args.report_dir, &run_report);
        written.extend(paths);
        for e in problems {
            eprintln!("warning: {e}");
        }
        let totals = crate::shared::outcome::Totals::of(&outcomes);
        let all_good =
            totals.failed + totals.errors == 0 || (args.update_baseline && args.baseline.is_some());
        let stopped = options.liveness.stopped();
        if let Some(stopped) = &stopped {
            let not_run = outcomes
                .iter()
                .filter(|o| o.reason.as_deref() == Some(stopped.not_run().as_str()))
                .count();
            eprintln!(
                "error: {}; {not_run} scenario{} not run",
                stopped.line(),
                if not_run == 1 { "" } else { "s" }
            );
        }
        let code = if !baseline_written {
            exit::INVALID
        } else if stopped.is_some() {
            exit::UNREACHABLE
        } else if all_good {
            exit::PASSED
        } else {
            exit::FAILED
        };
        output.finished(&outcomes, &written, &label, code);
        code
    })
}
