//! `bitspec matrix`: the suite against several servers (the bundled reference server
//! among them unless `--no-bundled`), one after the other, and one table of scenario x
//! server with each cell's verdict and the readings the server chose, plus each
//! server's root causes. The interop table implementations are compared with; the
//! reporters ([`crate::matrix::report`]) write it as Markdown, HTML and JSON.

pub mod differential;
pub mod report;

use crate::cli::args::MatrixArgs;
use crate::shared::exit;
use crate::shared::outcome::{ScenarioOutcome, Totals, Verdict};
use crate::report::findings::{Finding, root_causes};
use crate::report::output::json_line;
use crate::report::progress::Progress;
use crate::run::{Liveness, ProbeError, RunOptions, run_all};
use crate::scenario::model::Level;
use crate::run::target::{Target, resolve_profile};
use serde::Serialize;
use std::sync::Arc;

/// The name of the bundled reference server's column.
pub const BUNDLED: &str = "bitspec-server";

/// The whole matrix, as data (`matrix.json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Matrix {
    pub servers: Vec<Server>,
    /// One row per scenario, its cells in the order of `servers`.
    pub scenarios: Vec<Row>,
}

/// One server (a column).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Server {
    pub name: String,
    pub url: String,
    pub profile: String,
    pub totals: Totals,
    /// Why nothing ran: unreachable, or stopped answering.
    pub problem: Option<String>,
    pub root_causes: Vec<Finding>,
}

/// One scenario (a row).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub title: String,
    pub level: Level,
    pub cells: Vec<Cell>,
}

/// One scenario on one server.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Cell {
    pub verdict: Verdict,
    /// The readings the server followed where the documents allow several.
    pub readings: Vec<String>,
    /// The rank of the server's root cause this failure belongs to.
    pub root_cause: Option<usize>,
    /// Why it errored or was skipped.
    pub reason: Option<String>,
}

impl Cell {
    /// `pass`, `pass (msdn)`, `FAIL #2`: the cell as text.
    pub fn text(&self) -> String {
        let mut text = crate::report::render::verdict_word(self.verdict).to_owned();
        if let Some(rank) = self.root_cause {
            text.push_str(&format!(" #{rank}"));
        }
        if !self.readings.is_empty() {
            text.push_str(&format!(" ({})", self.readings.join(", ")));
        }
        text
    }
}

/// A `--target NAME=URL` (a bare URL is named after it).
pub fn parse_target(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, url)) if !name.trim().is_empty() && !name.contains("://") => {
            Ok((name.trim().to_owned(), url.trim().to_owned()))
        }
        _ if arg.contains("://") => Ok((arg.trim().to_owned(), arg.trim().to_owned())),
        _ => Err(format!(
            "--target {arg:?}: expected NAME=URL (for example iis=http://iis.example/bits/)"
        )),
    }
}

/// Builds the matrix from each server's outcomes, rows in the order of the first.
pub fn build(runs: Vec<(Server, Vec<ScenarioOutcome>)>) -> Matrix {
    let mut rows: Vec<Row> = Vec::new();
    let count = runs.len();
    let mut servers = Vec::new();
    for (column, (server, outcomes)) in runs.into_iter().enumerate() {
        for o in &outcomes {
            let at = match rows.iter().position(|r| r.id == o.id) {
                Some(at) => at,
                None => {
                    rows.push(Row {
                        id: o.id.clone(),
                        name: o.name.clone(),
                        title: o.title.clone(),
                        level: o.level,
                        cells: vec![not_run(); count],
                    });
                    rows.len() - 1
                }
            };
            let root_cause = server
                .root_causes
                .iter()
                .find(|f| f.scenarios.contains(&o.name))
                .map(|f| f.rank);
            let mut readings: Vec<String> = o.readings().map(|(_, r)| r.reading.clone()).collect();
            readings.dedup();
            rows[at].cells[column] = Cell {
                verdict: o.verdict,
                readings,
                root_cause,
                reason: o.reason.clone(),
            };
        }
        servers.push(server);
    }
    Matrix {
        servers,
        scenarios: rows,
    }
}

fn not_run() -> Cell {
    Cell {
        verdict: Verdict::Skip,
        readings: Vec::new(),
        root_cause: None,
        reason: Some("not run".into()),
    }
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
    let scenarios = match crate::cli::selected(&args.select) {
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
    let tls = match crate::cli::targets_and_tls(&args.tls, &urls) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    let Some(step_timeout) = crate::cli::seconds(args.step_timeout) else {
        eprintln!("error: --step-timeout must be a positive number of seconds");
        return exit::INVALID;
    };
    let Some(idle_grace) = crate::cli::seconds(args.pace.idle_grace) else {
        eprintln!("error: --idle-grace must be a positive number of seconds");
        return exit::INVALID;
    };
    let runtime = match crate::cli::runtime() {
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
            let mut options = RunOptions::new(&target.base_url).with_profile(profile.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_name_equals_url() {
        assert_eq!(
            parse_target("iis=http://h/bits/"),
            Ok(("iis".into(), "http://h/bits/".into()))
        );
        assert_eq!(
            parse_target("http://h/x?a=b"),
            Ok(("http://h/x?a=b".into(), "http://h/x?a=b".into()))
        );
        assert!(parse_target("just-a-name").is_err());
    }
}
