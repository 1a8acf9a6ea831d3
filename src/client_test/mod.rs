//! `bitspec client-test --client 'COMMAND {url} {file}'`: client conformance.
//!
//! For each client scenario (`scenarios/client/*.yaml`) a scripted server
//! ([`server`]) starts on 127.0.0.1, the client command runs once against it with a
//! generated file, and the requests the server received are judged against the
//! scenario's expectations ([`judge`]), each naming the client requirement it checks.
//! Results are plain data ([`ClientOutcome`]); this module's `run` prints them and
//! writes `client-results.json`.

pub mod model;
pub mod server;

use crate::shared::exit;
use model::{ClientScenario, Expectation, Trigger};
use server::{ScriptedServer, Seen};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
            serde_saphyr::from_str::<ClientScenario>(&text)
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// The index in `log` of the request `trigger` names.
fn position(log: &[Seen], trigger: Trigger) -> Option<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, s)| s.packet == Some(trigger.packet.name()))
        .nth(trigger.nth.saturating_sub(1) as usize)
        .map(|(i, _)| i)
}

fn check(log: &[Seen], e: &Expectation) -> Result<(), String> {
    let trigger = format!("{} #{}", e.after.packet.name(), e.after.nth);
    let Some(i) = position(log, e.after) else {
        return Err(format!("the client never sent {trigger}"));
    };
    // A Ping opening a new connection may come first, unless the Ping is what is checked.
    let skip_pings = !e.none && e.next != Some(model::Packet::Ping);
    let next = log[i + 1..]
        .iter()
        .find(|s| !(skip_pings && s.packet == Some("ping")));
    if e.none {
        return match next {
            Some(n) => Err(format!(
                "after {trigger} the client should stop, but it sent {}",
                n.packet.unwrap_or("a non-BITS request")
            )),
            None => Ok(()),
        };
    }
    let Some(next) = next else {
        return Err(format!("the client sent nothing after {trigger}"));
    };
    if let Some(packet) = e.next
        && next.packet != Some(packet.name())
    {
        return Err(format!(
            "after {trigger} the client sent {} instead of {}",
            next.packet.unwrap_or("a non-BITS request"),
            packet.name()
        ));
    }
    if let Some(first) = e.first {
        let got = next.range.map(|r| r.0);
        if got != Some(first) {
            return Err(format!(
                "after {trigger} the next Fragment starts at {got:?}, not {first}"
            ));
        }
    }
    if e.smaller && next.body_len >= log[i].body_len {
        return Err(format!(
            "after {trigger} the next fragment has {} bytes, not fewer than {}",
            next.body_len, log[i].body_len
        ));
    }
    if let Some(host) = &e.host {
        let name = next
            .host
            .rsplit_once(':')
            .map_or(next.host.as_str(), |(h, _)| h);
        if !name.eq_ignore_ascii_case(host) {
            return Err(format!(
                "after {trigger} the request went to host {:?}, not {host}",
                next.host
            ));
        }
    }
    Ok(())
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
            check(log, e)
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

/// Runs `command` (with `{url}` and `{file}` filled in) under `sh -c`, killed after
/// `timeout`; the exit code, or `None` when it was killed or could not start.
fn run_client(command: &str, timeout: Duration) -> Option<i32> {
    let mut child = Command::new("sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs one scenario against the client `template`.
pub async fn run_scenario(
    scenario: &ClientScenario,
    template: &str,
    timeout: Duration,
) -> Result<ClientOutcome, String> {
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
    let exit_code = tokio::task::spawn_blocking(move || run_client(&command, timeout))
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
    let runtime = match crate::options::runtime::runtime() {
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
