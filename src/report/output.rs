//! What `run` prints as it goes, in the mode asked for: lines for people with a
//! progress line on a terminal (the default), only the closing line (`--quiet`), or
//! JSON lines for machines (`--format json`): one `start` event, one `scenario` event
//! per result as it ends (the scenario's entry of results.json), `note` events, and
//! a closing `summary` with the totals, the report files and the exit code.

use super::console::{Console, last_line};
use super::progress::Progress;
use crate::shared::outcome::{ScenarioOutcome, Totals, Verdict};
use serde::Serialize;
use std::io::Write;

/// How a long command reports (`--quiet`, `--format`); `matrix` and `selftest` take
/// the same options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OutputArgs {
    /// Print only the closing line (and errors on stderr); no progress line. With
    /// `--format json`, the JSON lines only.
    #[arg(long, short)]
    pub quiet: bool,
    /// `human`: a line per result, a progress line on a terminal. `json`: JSON lines
    /// on stdout, one event per result and a closing summary.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

impl OutputArgs {
    /// Whether the progress line may show (it still needs a terminal on stderr).
    pub fn progress(&self) -> bool {
        !self.quiet
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Lines for people, besides the closing one.
    pub fn chatty(&self) -> bool {
        !self.quiet && !self.json()
    }
}

/// Writes one JSON line on stdout (flushed: a reader may act on each event).
pub fn json_line(event: &impl Serialize) {
    if let Ok(text) = serde_json::to_string(event) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }
}

#[derive(Serialize)]
struct Start<'a> {
    event: &'static str,
    scenarios: usize,
    target: &'a str,
    profile: &'a str,
}

#[derive(Serialize)]
struct ClientStart<'a> {
    event: &'static str,
    subject: &'static str,
    scenarios: usize,
    client: &'a str,
}

#[derive(Serialize)]
struct ScenarioEvent<'a> {
    event: &'static str,
    #[serde(flatten)]
    outcome: &'a ScenarioOutcome,
}

#[derive(Serialize)]
struct Note<'a> {
    event: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct Summary<'a> {
    event: &'static str,
    target: &'a str,
    totals: Totals,
    reports: &'a [String],
    exit_code: u8,
}

/// The output of one `run`.
#[derive(Debug)]
pub struct RunOutput {
    console: Console,
    args: OutputArgs,
    progress: Progress,
}

impl RunOutput {
    pub fn new(console: Console, args: &OutputArgs, scenarios: usize) -> RunOutput {
        RunOutput {
            console,
            args: args.clone(),
            progress: Progress::new(scenarios, "scenarios", args.progress()),
        }
    }

    pub fn started(&self, count: usize, target: &str, profile: &str, description: &str) {
        if self.args.json() {
            json_line(&Start {
                event: "start",
                scenarios: count,
                target,
                profile,
            });
        } else if self.args.chatty() {
            self.progress.print(|| {
                self.console.started(count, target);
                println!("target profile: {profile} ({description})");
            });
        }
    }

    /// `client-test`: the client command takes the place of the target and profile.
    pub fn started_client(&self, count: usize, command: &str) {
        if self.args.json() {
            json_line(&ClientStart {
                event: "start",
                subject: "client",
                scenarios: count,
                client: command,
            });
        } else if self.args.chatty() {
            self.progress
                .print(|| self.console.started_client(count, command));
        }
    }

    /// A scenario ended: its line or event, and the progress line moves.
    pub fn scenario_done(&self, outcome: &ScenarioOutcome) {
        if self.args.json() {
            self.progress.print(|| {
                json_line(&ScenarioEvent {
                    event: "scenario",
                    outcome,
                })
            });
        } else if self.args.chatty() {
            self.progress.print(|| self.console.scenario_done(outcome));
        }
        let bad = matches!(outcome.verdict, Verdict::Fail | Verdict::Error);
        self.progress.advance(bad && outcome.baseline.is_none());
    }

    /// A line about the run that is not a result (baseline bookkeeping).
    pub fn note(&self, message: &str) {
        if self.args.json() {
            json_line(&Note {
                event: "note",
                message,
            });
        } else if self.args.chatty() {
            self.progress.print(|| println!("{message}"));
        }
    }

    /// The closing output: the failures and totals (or only the last line, or the
    /// summary event).
    pub fn finished(
        &self,
        outcomes: &[ScenarioOutcome],
        reports: &[String],
        target: &str,
        exit_code: u8,
    ) {
        self.progress.finish();
        if self.args.json() {
            json_line(&Summary {
                event: "summary",
                target,
                totals: Totals::of(outcomes),
                reports,
                exit_code,
            });
        } else if self.args.quiet {
            println!("{}", last_line(&Totals::of(outcomes)));
        } else {
            self.console.finished(outcomes, reports);
        }
    }
}
