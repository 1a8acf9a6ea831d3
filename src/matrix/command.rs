//! `bitspec matrix`: run the suite against each server and write the table.

use super::{BUNDLED, Server, build, parse_target};
use crate::options::pace::PaceArgs;
use crate::options::select::SelectArgs;
use crate::options::tls::TlsArgs;
use crate::report::findings::root_causes;
use crate::report::output::json_line;
use crate::report::progress::Progress;
use crate::run::target::{Target, resolve_profile};
use crate::run::{Liveness, ProbeError, RunOptions, run_all};
use crate::shared::exit;
use crate::shared::outcome::{ScenarioOutcome, Totals, Verdict};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// A server to compare, as NAME=URL (the column's name and the base URL). Repeatable.
    #[arg(long = "target", value_name = "NAME=URL")]
    pub targets: Vec<String>,
    /// Leave the bundled reference server out of the matrix.
    #[arg(long)]
    pub no_bundled: bool,
    /// Target profile for every server. Default: `reference` for the bundled one,
    /// `minimal` for the others.
    #[arg(long, value_name = "FILE|NAME")]
    pub profile: Option<PathBuf>,
    /// Scenarios run at the same time, per server (the servers run one after the other).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Seconds each step may take, unless the scenario sets its own.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub step_timeout: f64,
    /// Where matrix.md, matrix.html and matrix.json are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub pace: PaceArgs,
    #[command(flatten)]
    pub output: crate::report::output::OutputArgs,
}

/// The command: runs every server, writes the three files, prints a summary.
/// A `--format json` event of `matrix`: a scenario's result on one server, a
/// server's totals and root causes once it is done, and the closing summary.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event<'a> {
    Scenario {
        server: &'a str,
        #[serde(flatten)]
        outcome: &'a ScenarioOutcome,
    },
    Server(&'a Server),
    Summary {
        servers: usize,
        reports: &'a [String],
        exit_code: u8,
    },
}

pub fn command(args: &MatrixArgs) -> u8 {
    let scenarios = match crate::options::select::selected(&args.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut targets = Vec::new();
    for arg in &args.targets {
        match parse_target(arg) {
            Ok(t) => targets.push(t),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        }
    }
    if !args.no_bundled {
        targets.insert(0, (BUNDLED.to_owned(), String::new()));
    }
    let mut names: Vec<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        eprintln!("error: two targets are named `{}`", w[0]);
        return exit::INVALID;
    }
    if targets.len() < 2 {
        eprintln!("error: a matrix needs two servers or more (--target NAME=URL, repeatable)");
        return exit::INVALID;
    }
    let urls: Vec<(&str, Option<&str>)> = targets
        .iter()
        .filter(|(_, url)| !url.is_empty())
        .map(|(_, url)| ("--target", Some(url.as_str())))
        .collect();
    let tls = match crate::options::tls::targets_and_tls(&args.tls, &urls) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    let Some(step_timeout) = crate::options::pace::seconds(args.step_timeout) else {
        eprintln!("error: --step-timeout must be a positive number of seconds");
        return exit::INVALID;
    };
    let Some(idle_grace) = crate::options::pace::seconds(args.pace.idle_grace) else {
        eprintln!("error: --idle-grace must be a positive number of seconds");
        return exit::INVALID;
    };
    let runtime = match crate::options::runtime::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let out = &args.output;
    let progress = Progress::new(scenarios.len() * targets.len(), "scenarios", out.progress());
    let say = |line: String| {
        if out.chatty() {
            progress.print(|| println!("{line}"));
        }
    };
    let mut runs = Vec::new();
    let mut trouble = false;
    for (name, url) in &targets {
        let embedded = url.is_empty();
        let profile = match resolve_profile(args.profile.as_deref(), embedded) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}", e.render(false));
                return exit::INVALID;
            }
        };
        say(format!(
            "running {} scenarios against {name}",
            scenarios.len()
        ));
        let liveness = Arc::new(Liveness::new(args.pace.max_timeouts));
        let (outcomes, server) = runtime.block_on(async {
            let connect = std::time::Duration::from_secs(5);
            let target = if embedded {
                Target::embedded_for(&profile).await
            } else {
                match Target::remote_probed(url, &tls, connect).await {
                    Ok(t) => Ok(t),
                    Err(ProbeError::Silent(why)) => {
                        liveness.stop(&why, 0);
                        Ok(Target::unprobed(url))
                    }
                    Err(e) => Err(e.to_string()),
                }
            };
            let mut server = Server {
                name: name.clone(),
                url: url.clone(),
                profile: profile.name.clone(),
                totals: Totals::default(),
                problem: None,
                root_causes: Vec::new(),
            };
            let target = match target {
                Ok(t) => t,
                Err(e) => {
                    server.problem = Some(format!("target unreachable: {e}"));
                    return (Vec::new(), server);
                }
            };
            if embedded {
                server.url = format!("{} (bundled reference server)", target.base_url);
            }
            let mut options = RunOptions::new(&target.base_url, crate::check::judge())
                .with_profile(profile.clone());
            options.jobs = args.jobs.max(1);
            options.tls = tls.clone();
            options.step_timeout = step_timeout;
            options.idle_grace = idle_grace;
            options.liveness = Arc::clone(&liveness);
            let outcomes = run_all(&scenarios, &options, &|outcome| {
                if out.json() {
                    progress.print(|| {
                        json_line(&Event::Scenario {
                            server: name,
                            outcome,
                        })
                    });
                }
                progress.advance(matches!(outcome.verdict, Verdict::Fail | Verdict::Error));
            })
            .await;
            target.stop().await;
            server.problem = liveness.stopped().map(|s| s.line());
            (outcomes, server)
        });
        let mut server = server;
        server.totals = Totals::of(&outcomes);
        server.root_causes = root_causes(&outcomes);
        match &server.problem {
            Some(problem) => {
                trouble = true;
                say(format!("  {name}: {problem}"));
            }
            None => say(format!(
                "  {name}: {} passed, {} failed, {} skipped; {} root cause{}",
                server.totals.passed + server.totals.warnings,
                server.totals.failed + server.totals.errors,
                server.totals.skipped,
                server.root_causes.len(),
                if server.root_causes.len() == 1 {
                    ""
                } else {
                    "s"
                }
            )),
        }
        if out.json() {
            progress.print(|| json_line(&Event::Server(&server)));
        }
        runs.push((server, outcomes));
    }
    progress.finish();
    let matrix = build(runs);
    let (written, problems) = crate::matrix::report::write_all(&args.report_dir, &matrix);
    for e in &problems {
        eprintln!("error: {e}");
    }
    let code = if !problems.is_empty() {
        exit::FAILED
    } else if trouble {
        exit::UNREACHABLE
    } else {
        exit::PASSED
    };
    if out.json() {
        json_line(&Event::Summary {
            servers: matrix.servers.len(),
            reports: &written,
            exit_code: code,
        });
    } else if out.quiet {
        let bad = matrix
            .servers
            .iter()
            .filter(|s| s.problem.is_some())
            .count();
        println!(
            "matrix: {} servers, {bad} unreachable or silent; {}",
            matrix.servers.len(),
            written.first().map_or("no report written", String::as_str)
        );
    } else {
        for path in &written {
            println!("report: {path}");
        }
    }
    code
}
