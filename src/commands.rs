//! The subcommands, wiring the pipeline stages together: load -> validate -> run ->
//! check -> report. Each returns the process exit code.

use crate::baseline::Baseline;
use crate::cli::{CheckArgs, Command, RunArgs, SelectArgs};
use crate::exit;
use crate::report::output::RunOutput;
use crate::report::{self, Console};
use crate::run::{ProbeError, RunOptions, run_all};
use crate::scenario::{Scenario, ScenarioError, Suite, load_files, load_suite};
use crate::target::{Target, resolve_profile};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs one command; the value is the exit code.
pub fn execute(command: Command) -> u8 {
    match command {
        Command::Run(args) => run(args),
        Command::List(args) => list(&args),
        Command::Check(args) => check(&args),
        Command::Schema(args) => schema(&args),
        Command::Fmt(args) => fmt(&args),
        Command::Selftest(args) => crate::selftest_cmd::command(&args),
        Command::Bench(args) => crate::bench::run(&args),
        Command::Diff(args) => diff(&args),
        Command::Matrix(args) => crate::matrix::command(&args),
        Command::Coverage(args) => crate::coverage_cmd::run(&args, &scenario_dir(&args.scenarios)),
        Command::Completions(args) => crate::shell_cmd::completions(&args),
        Command::Man(args) => crate::shell_cmd::man(&args),
        Command::Upload(args) => crate::upload::run(&args),
        Command::ClientTest(args) => crate::client_test::run(&args),
        Command::Record(args) => crate::record::run(&args),
    }
}

fn color_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn color_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `scenarios` as given, or, for the default, the embedded suite when the current
/// directory has none (so the installed binary works from anywhere).
fn scenario_dir(given: &Path) -> PathBuf {
    crate::shipped::scenario_dir(given)
}

fn print_errors(errors: &[ScenarioError]) {
    let color = color_stderr();
    for e in errors {
        eprintln!("{}", e.render(color));
    }
    eprintln!(
        "{} error{} in scenario files",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
}

/// Loads and selects; `Err` is the exit code after the problem was printed.
pub(crate) fn selected(args: &SelectArgs) -> Result<Vec<Scenario>, u8> {
    let dir = scenario_dir(&args.scenarios);
    let Suite { scenarios, errors } = load_suite(&dir);
    if !errors.is_empty() {
        print_errors(&errors);
        return Err(exit::INVALID);
    }
    let selection = args.selection();
    let chosen: Vec<Scenario> = scenarios
        .into_iter()
        .filter(|s| selection.matches(s))
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "no scenario matched the selection (scenarios in {})",
            dir.display()
        );
        return Err(exit::NOTHING_SELECTED);
    }
    Ok(chosen)
}

fn list(args: &SelectArgs) -> u8 {
    match selected(args) {
        Ok(scenarios) => print_list(&scenarios),
        Err(code) => code,
    }
}

fn print_list(scenarios: &[Scenario]) -> u8 {
    for s in scenarios {
        println!("{:<48} {:<6} {}", s.name, s.level.as_str(), s.title);
    }
    println!(
        "{} scenario{}",
        scenarios.len(),
        if scenarios.len() == 1 { "" } else { "s" }
    );
    exit::PASSED
}

fn check(args: &CheckArgs) -> u8 {
    let mut suite = if args.files.is_empty() {
        load_suite(&scenario_dir(&args.scenarios))
    } else {
        let files = args
            .files
            .iter()
            .map(|p| {
                let group = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "scenarios".into());
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (p.clone(), group.clone(), format!("{group}::{stem}"))
            })
            .collect();
        let mut suite = load_files(files);
        // The files on their own, checked against the suite they belong to: the
        // catalogue's requirement ids, and ids other scenarios already use.
        let dir = scenario_dir(&args.scenarios);
        crate::requirements::check_suite_citations(&dir, &mut suite);
        let others = load_suite(&dir).scenarios;
        for s in &suite.scenarios {
            if let Some(other) = others.iter().find(|o| o.id == s.id && o.path != s.path) {
                suite.errors.push(ScenarioError::new(
                    format!(
                        "duplicate scenario id `{}` (also used by {})",
                        s.id, other.file
                    ),
                    Some(crate::location::Loc::new(&s.file, 1, 1)),
                ));
            }
        }
        suite
    };
    // The level audit: a MUST verdict needs a MUST-level server requirement.
    crate::level_check::check_suite_levels(&scenario_dir(&args.scenarios), &mut suite);
    if !suite.errors.is_empty() {
        print_errors(&suite.errors);
        return exit::INVALID;
    }
    println!(
        "{} scenario file{} valid",
        suite.scenarios.len(),
        if suite.scenarios.len() == 1 { "" } else { "s" }
    );
    exit::PASSED
}

fn run(args: RunArgs) -> u8 {
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
        let mut options = RunOptions::new(&target.base_url).with_profile(profile);
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
        let totals = crate::outcome::Totals::of(&outcomes);
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

pub(crate) fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value > 0.0 && value < 1e6).then(|| Duration::from_secs_f64(value))
}

fn schema(args: &crate::cli::SchemaArgs) -> u8 {
    let mut stale = 0;
    for (name, text) in crate::schema::all() {
        let path = args.dir.join(name);
        if args.check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                eprintln!("{} is out of date: run `bitspec schema`", path.display());
                stale += 1;
            }
        } else if let Err(e) =
            std::fs::create_dir_all(&args.dir).and_then(|()| std::fs::write(&path, text))
        {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::INVALID;
        } else {
            println!("wrote {}", path.display());
        }
    }
    if stale > 0 {
        exit::FAILED
    } else {
        exit::PASSED
    }
}

fn fmt(args: &crate::cli::FmtArgs) -> u8 {
    let dir = scenario_dir(&args.scenarios);
    let files: Vec<PathBuf> = if args.files.is_empty() {
        let found = crate::scenario::find_scenario_files(&dir).and_then(|found| {
            let steps = crate::scenario::library::find_step_files(&dir)?;
            Ok(found.into_iter().map(|(p, _, _)| p).chain(steps).collect())
        });
        match found {
            Ok(found) => found,
            Err(e) => {
                print_errors(&[e]);
                return exit::INVALID;
            }
        }
    } else {
        args.files.clone()
    };
    let (mut changed, mut broken) = (0, 0);
    for path in &files {
        let result = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| crate::fmt::format_path(path, &dir, &text).map(|f| (text, f)));
        match result {
            Ok((text, formatted)) if text != formatted => {
                changed += 1;
                if args.check {
                    println!("{} is not in canonical form", path.display());
                } else if let Err(e) = std::fs::write(path, formatted) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    broken += 1;
                } else {
                    println!("formatted {}", path.display());
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                broken += 1;
            }
        }
    }
    println!(
        "{} file(s), {changed} {}",
        files.len(),
        if args.check { "to format" } else { "formatted" }
    );
    if broken > 0 {
        exit::INVALID
    } else if args.check && changed > 0 {
        exit::FAILED
    } else {
        exit::PASSED
    }
}

fn diff(args: &crate::cli::DiffArgs) -> u8 {
    let scenarios = match selected(&args.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let profile = match resolve_profile(args.profile.as_deref(), false) {
        Ok(p) => p,
        Err(e) => {
            print_errors(&[e]);
            return exit::INVALID;
        }
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let urls = [
        ("--target", Some(args.target.as_str())),
        ("--against", args.against.as_deref()),
    ];
    let tls = match targets_and_tls(&args.tls, &urls) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let timeout = Duration::from_secs(5);
        let a = match Target::remote(&args.target, &tls, timeout).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target unreachable: {e}");
                return exit::UNREACHABLE;
            }
        };
        let b = match &args.against {
            Some(url) => Target::remote(url, &tls, timeout).await,
            None => Target::embedded_for(&profile).await,
        };
        let b = match b {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target unreachable: {e}");
                return exit::UNREACHABLE;
            }
        };
        let options = |url: &str| {
            let mut o = RunOptions::new(url).with_profile(profile.clone());
            o.jobs = args.jobs.max(1);
            o.tls = tls.clone();
            o
        };
        let (oa, ob) = (options(&a.base_url), options(&b.base_url));
        println!("running {} scenarios against A and B", scenarios.len());
        let quiet = |_: &crate::outcome::ScenarioOutcome| {};
        let (left, right) = tokio::join!(
            run_all(&scenarios, &oa, &quiet),
            run_all(&scenarios, &ob, &quiet)
        );
        let label_b = if b.is_embedded() {
            format!("{} (bundled reference server)", b.base_url)
        } else {
            b.base_url.clone()
        };
        let differences = crate::differential::compare(&left, &right);
        print!(
            "{}",
            crate::differential::render(&differences, &oa.target, &label_b)
        );
        let json = serde_json::json!({ "a": oa.target, "b": label_b, "differences": differences });
        let path = args.report_dir.join("diff.json");
        let written = std::fs::create_dir_all(&args.report_dir).and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&json).unwrap_or_default(),
            )
        });
        match written {
            Ok(()) => println!("report: {}", path.display()),
            Err(e) => eprintln!("warning: cannot write {}: {e}", path.display()),
        }
        let scenarios_differing = {
            let mut names: Vec<&str> = differences.iter().map(|d| d.scenario.as_str()).collect();
            names.dedup();
            names.len()
        };
        println!(
            "{} difference(s) in {scenarios_differing} of {} scenarios",
            differences.len(),
            scenarios.len()
        );
        a.stop().await;
        b.stop().await;
        if differences.is_empty() {
            exit::PASSED
        } else {
            exit::FAILED
        }
    })
}

/// The multi-threaded runtime the I/O runs on; `Err` is the exit code after the
/// problem was printed.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            exit::UNREACHABLE
        })
}

/// Checks the target URLs (`(flag, url)`; an unusable one is bad input, exit 2,
/// not an unreachable target, exit 3) and makes the TLS client of `--ca-cert` /
/// `--insecure`: a bad CA file, or a machine with no certificate to trust when a
/// target is https, is exit 2 too, before anything is sent.
pub fn targets_and_tls(
    args: &crate::cli::TlsArgs,
    urls: &[(&str, Option<&str>)],
) -> Result<crate::run::TlsClient, u8> {
    let mut https = false;
    for (flag, url) in urls {
        match url.map(crate::raw::request::endpoint) {
            Some(Err(e)) => {
                eprintln!("error: {flag}: {e}");
                return Err(exit::INVALID);
            }
            Some(Ok(endpoint)) => https |= endpoint.tls.is_some(),
            None => {}
        }
    }
    let client = args.client().map_err(|e| {
        eprintln!("error: {e}");
        exit::INVALID
    })?;
    if https && let Err(e) = client.ready() {
        eprintln!("error: {e}");
        return Err(exit::INVALID);
    }
    if client.is_insecure() {
        eprintln!("warning: --insecure: https targets' certificates are not checked");
    }
    Ok(client)
}
