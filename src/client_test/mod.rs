//! `bitspec client-test --client 'COMMAND {url} {file}'`: client conformance.
//!
//! For each client scenario (`scenarios/client/*.yaml`) a scripted server
//! ([`server`]) starts on 127.0.0.1, the client command runs once against it with a
//! generated file, and the requests the server received are judged against the
//! scenario's expectations ([`judge`]), each naming the client requirement it checks.
//! Results are plain data ([`ClientOutcome`]); this module's `run` prints them and
//! writes `client-results.json`.

pub mod expect;
pub mod model;
pub mod process;
pub mod server;

use crate::exit;
use model::ClientScenario;
use server::{Rules, ScriptedServer, Seen};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Where `client-results.json` is written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
}

/// The verdict on one scenario.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientOutcome {
    pub id: String,
    pub title: String,
    pub requirements: Vec<String>,
    pub passed: bool,
    /// Each broken expectation, naming its requirement.
    pub failures: Vec<String>,
    pub exit_code: Option<i32>,
    pub requests: Vec<Seen>,
}

/// Loads every scenario of `dir`, sorted by file name; errors name the file.
pub fn load(dir: &Path) -> Result<Vec<ClientScenario>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let scenario = serde_saphyr::from_str::<ClientScenario>(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some((list, index, message)) = scenario.shape_errors().into_iter().next() {
                let at = item_position(&text, list, index)
                    .map_or_else(String::new, |(line, column)| format!(":{line}:{column}"));
                return Err(format!(
                    "{}{at}: {list}[{index}]: {message}",
                    path.display()
                ));
            }
            Ok(scenario)
        })
        .collect()
}

/// Line and column of the `index`th item of the list `script` or `expect`, read
/// from the text again.
fn item_position(text: &str, list: &str, index: usize) -> Option<(u64, u64)> {
    type Items = Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>;
    #[derive(serde::Deserialize)]
    struct Positions {
        #[serde(default)]
        script: Items,
        #[serde(default)]
        expect: Items,
    }
    let positions: Positions = serde_saphyr::from_str(text).ok()?;
    let items = if list == "script" {
        positions.script
    } else {
        positions.expect
    };
    let item = items.get(index)?;
    Some((item.referenced.line(), item.referenced.column()))
}

/// Judges one run: each expectation, then the final file and the exit status.
pub fn judge(
    scenario: &ClientScenario,
    log: &[Seen],
    closed: Option<&[u8]>,
    file: &[u8],
    exit_code: Option<i32>,
) -> Vec<String> {
    let mut failures: Vec<String> = scenario
        .expect
        .iter()
        .filter_map(|e| {
            expect::check(log, e, file, exit_code)
                .err()
                .map(|m| format!("{}: {m}", e.requirement))
        })
        .collect();
    if scenario.completes {
        if closed != Some(file) {
            failures.push(format!(
                "the file was not received whole and closed ({} of {} bytes)",
                closed.map_or(0, <[u8]>::len),
                file.len()
            ));
        }
        if exit_code != Some(0) {
            failures.push(format!("the client exited with {exit_code:?}, not 0"));
        }
    } else if exit_code == Some(0) {
        failures.push("the client reported success for an upload that failed".into());
    }
    failures
}

/// What a scenario tells the client through its environment (documented in the
/// README): credentials, a short Ack timeout, where an upload-reply's reply goes.
fn client_env(scenario: &ClientScenario, dir: &Path) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(credentials) = &scenario.credentials {
        env.push(("BITSPEC_USER", credentials.clone()));
    }
    if let Some(secs) = scenario.response_timeout {
        env.push(("BITSPEC_RESPONSE_TIMEOUT", secs.to_string()));
    }
    if scenario.upload_reply {
        env.push((
            "BITSPEC_REPLY_FILE",
            dir.join("reply.bin").display().to_string(),
        ));
    }
    env
}

/// Runs one scenario against the client `template`.
pub async fn run_scenario(
    scenario: &ClientScenario,
    template: &str,
    timeout: Duration,
) -> Result<ClientOutcome, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let size = scenario.file_size.max(1);
    let file = crate::upload_data::range(1, 0, size - 1);
    let path = dir.path().join(format!("{}.bin", scenario.id));
    std::fs::write(&path, &file).map_err(|e| format!("cannot write the upload file: {e}"))?;
    let server = ScriptedServer::start(Rules {
        script: scenario.script.clone(),
        max_fragment: scenario.max_fragment,
        credentials: scenario.credentials.clone(),
        upload_reply: scenario.upload_reply,
    })
    .await?;
    let url = format!("http://{}/client/{}.bin", server.address, scenario.id);
    let command = template
        .replace("{url}", &url)
        .replace("{file}", &path.display().to_string());
    let env = client_env(scenario, dir.path());
    let child = process::spawn(&command, &env)?;
    server.set_client(child.id());
    let exit_code = tokio::task::spawn_blocking(move || process::wait(child, timeout))
        .await
        .map_err(|e| format!("the client run failed: {e}"))?;
    let log = server.log();
    let closed = server.closed();
    let failures = judge(scenario, &log, closed.as_deref(), &file, exit_code);
    Ok(ClientOutcome {
        id: scenario.id.clone(),
        title: scenario.title.clone(),
        requirements: scenario
            .requirements()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        passed: failures.is_empty(),
        failures,
        exit_code,
        requests: log,
    })
}

/// Runs `bitspec client-test`; the value is the exit code.
pub fn run(args: &ClientTestArgs) -> u8 {
    if !args.client.contains("{url}") || !args.client.contains("{file}") {
        eprintln!("error: --client must contain {{url}} and {{file}}");
        return exit::INVALID;
    }
    let dir = if args.scenarios == Path::new("scenarios/client") && !args.scenarios.exists() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/client")
    } else {
        args.scenarios.clone()
    };
    let scenarios = match load(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let chosen: Vec<ClientScenario> = scenarios
        .into_iter()
        .filter(|s| args.filter.is_empty() || args.filter.iter().any(|f| s.id.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "no client scenario matched (scenarios in {})",
            dir.display()
        );
        return exit::NOTHING_SELECTED;
    }
    let runtime = match crate::commands::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut outcomes = Vec::new();
    for scenario in &chosen {
        match runtime.block_on(run_scenario(scenario, &args.client, timeout)) {
            Ok(outcome) => {
                println!(
                    "{} {} ({})",
                    if outcome.passed { "PASS" } else { "FAIL" },
                    outcome.id,
                    outcome.title
                );
                for failure in &outcome.failures {
                    println!("    {failure}");
                }
                outcomes.push(outcome);
            }
            Err(e) => {
                eprintln!("error: {}: {e}", scenario.id);
                return exit::UNREACHABLE;
            }
        }
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    println!(
        "{} client scenarios: {} passed, {failed} failed",
        outcomes.len(),
        outcomes.len() - failed
    );
    let written = std::fs::create_dir_all(&args.report_dir).and_then(|()| {
        let json = serde_json::to_string_pretty(&outcomes).unwrap_or_default();
        std::fs::write(args.report_dir.join("client-results.json"), json)
    });
    if let Err(e) = written {
        eprintln!("warning: cannot write client-results.json: {e}");
    }
    if failed == 0 {
        exit::PASSED
    } else {
        exit::FAILED
    }
}
