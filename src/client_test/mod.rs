//! `bitspec client-test --client 'COMMAND {url} {file}'`: client conformance.
//!
//! For each client scenario (`scenarios/client/*.yaml`, validated by [`validate`]) a
//! scripted server ([`server`]) starts on 127.0.0.1, the client command runs once
//! against it with a generated file, and the requests the server received are judged
//! against the scenario's expectations ([`expect`]), each naming the client requirement
//! it checks. [`verdict`] grades them into the same plain data as server runs, so the
//! console, results.json, junit.xml, report.md and report.html serve both.

pub mod expect;
pub mod model;
pub mod server;
pub mod validate;
pub mod verdict;

use crate::report::output::{OutputArgs, RunOutput};
use crate::report::{Console, RunReport};
use crate::scenario::requirements::Catalogue;
use crate::shared::exit;
use server::ScriptedServer;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use validate::LoadedClient;
use verdict::ClientRun;

/// Options of `bitspec client-test`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientTestArgs {
    /// The client to test: a shell command with `{url}` and `{file}`, run once per scenario.
    #[arg(long, value_name = "COMMAND")]
    pub client: String,
    /// Directory of client scenarios.
    #[arg(long, value_name = "DIR", default_value = "scenarios/client")]
    pub scenarios: PathBuf,
    /// Only scenarios whose id contains TEXT. Repeatable.
    #[arg(long, value_name = "TEXT")]
    pub filter: Vec<String>,
    /// Seconds one run of the client may take.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Where results.json, junit.xml, report.md and report.html are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// SHOULD-level misses count as failures.
    #[arg(long)]
    pub strict: bool,
    /// Print every request the client sent and the scripted answer.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What the reports say was tested, in place of a server's profile.
pub const PROFILE: &str = "client";
pub const PROFILE_DESCRIPTION: &str =
    "client conformance: a scripted BITS server on 127.0.0.1, one run of the client per scenario";

/// How one run of the client ended.
enum ClientEnd {
    /// It exited: its code (`None`: killed by a signal).
    Exited(Option<i32>),
    /// It was still running at the timeout and was killed.
    TimedOut,
    NotStarted(String),
}

/// Runs `command` (with `{url}` and `{file}` filled in) under `sh -c`, killed after
/// `timeout`.
fn run_client(command: &str, timeout: Duration) -> ClientEnd {
    let spawned = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return ClientEnd::NotStarted(e.to_string()),
    };
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return ClientEnd::Exited(status.code());
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return ClientEnd::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one scenario against the client `template`.
pub async fn run_scenario(
    loaded: &LoadedClient,
    catalogue: &Catalogue,
    template: &str,
    timeout: Duration,
    strict: bool,
) -> Result<crate::shared::outcome::ScenarioOutcome, String> {
    let scenario = &loaded.scenario;
    let started = Instant::now();
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let size = scenario.file_size.max(1);
    let file = crate::shared::upload_data::range(1, 0, size - 1);
    let path = dir.path().join(format!("{}.bin", scenario.id));
    std::fs::write(&path, &file).map_err(|e| format!("cannot write the upload file: {e}"))?;
    let server = ScriptedServer::start(scenario.script.clone()).await?;
    let url = format!("http://{}/client/{}.bin", server.address, scenario.id);
    let command = template
        .replace("{url}", &url)
        .replace("{file}", &path.display().to_string());
    let ended = tokio::task::spawn_blocking(move || run_client(&command, timeout))
        .await
        .map_err(|e| format!("the client run failed: {e}"))?;
    let log = server.log();
    let closed = server.closed();
    let (exit_code, no_exit) = match ended {
        ClientEnd::Exited(code) => (code, None),
        ClientEnd::TimedOut => (
            None,
            Some(format!(
                "the client did not finish within {} s (--timeout) and was killed",
                timeout.as_secs()
            )),
        ),
        ClientEnd::NotStarted(why) => (None, Some(format!("the client could not start: {why}"))),
    };
    let run = ClientRun {
        log: &log,
        closed: closed.as_deref(),
        file: &file,
        exit_code,
        no_exit,
        upload_url: url,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Ok(verdict::outcome(loaded, catalogue, &run, strict))
}

/// The client scenarios of `args.scenarios` (the source tree's when run from
/// elsewhere), validated; `Err` is the exit code after the problem was printed.
fn load(args: &ClientTestArgs) -> Result<(Vec<LoadedClient>, Catalogue), u8> {
    let dir = if args.scenarios == Path::new("scenarios/client") && !args.scenarios.exists() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/client")
    } else {
        args.scenarios.clone()
    };
    let files = validate::find_files(&dir).map_err(|e| {
        print_errors(&[e]);
        exit::INVALID
    })?;
    let catalogue_dir = validate::catalogue_dir(&dir);
    let (loaded, errors) = validate::load_and_check(&files, &catalogue_dir);
    if !errors.is_empty() {
        print_errors(&errors);
        return Err(exit::INVALID);
    }
    let catalogue = Catalogue::load_from(&catalogue_dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    let chosen: Vec<LoadedClient> = loaded
        .into_iter()
        .filter(|l| {
            args.filter.is_empty()
                || args
                    .filter
                    .iter()
                    .any(|f| l.scenario.id.contains(f.as_str()))
        })
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "no client scenario matched (scenarios in {})",
            dir.display()
        );
        return Err(exit::NOTHING_SELECTED);
    }
    Ok((chosen, catalogue))
}

/// Runs `bitspec client-test`; the value is the exit code, as for server runs.
pub fn run(args: &ClientTestArgs) -> u8 {
    if !args.client.contains("{url}") || !args.client.contains("{file}") {
        eprintln!("error: --client must contain {{url}} and {{file}}");
        return exit::INVALID;
    }
    let (chosen, catalogue) = match load(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match crate::options::runtime::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let console = Console {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        verbose: args.verbose,
    };
    let output = RunOutput::new(console, &args.output, chosen.len());
    let label = args.client.clone();
    output.started_client(chosen.len(), &args.client);
    let mut outcomes = Vec::new();
    for loaded in &chosen {
        let ran = runtime.block_on(run_scenario(
            loaded,
            &catalogue,
            &args.client,
            timeout,
            args.strict,
        ));
        match ran {
            Ok(outcome) => {
                output.scenario_done(&outcome);
                outcomes.push(outcome);
            }
            Err(e) => {
                eprintln!("error: {}: {e}", loaded.scenario.id);
                return exit::UNREACHABLE;
            }
        }
    }
    let report = RunReport {
        outcomes: &outcomes,
        target: &label,
        profile: PROFILE,
        profile_description: PROFILE_DESCRIPTION,
        strict: args.strict,
        coverage: None,
    };
    let (written, problems) = crate::report::write_all(&args.report_dir, &report);
    for e in problems {
        eprintln!("warning: {e}");
    }
    let totals = crate::shared::outcome::Totals::of(&outcomes);
    let code = if totals.failed + totals.errors == 0 {
        exit::PASSED
    } else {
        exit::FAILED
    };
    output.finished(&outcomes, &written, &label, code);
    code
}

/// Located errors on stderr, then their count.
fn print_errors(errors: &[crate::scenario::ScenarioError]) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for e in errors {
        eprintln!("{}", e.render(color));
    }
    eprintln!(
        "{} error{} in client scenario files",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
}
