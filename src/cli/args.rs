//! The command line: `bitspec run | list | check | coverage | diff | matrix | fmt | schema | selftest | bench`.

use crate::options::pace::PaceArgs;
use crate::options::select::SelectArgs;
use crate::options::tls::TlsArgs;
use crate::report::output::OutputArgs;
use bitspec_server::Fault;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Conformance test suite for BITS upload servers (the `BITS_POST` protocol).
#[derive(Debug, Parser)]
#[command(
    name = "bitspec",
    version,
    about,
    long_about = None,
    after_help = "Logging: RUST_LOG=bitspec_server=debug shows, on stderr, what the bundled \
                  reference server logs during a run (nothing is logged without RUST_LOG). \
                  Colour only on a terminal, never with NO_COLOR."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios against a target (default: the bundled reference server).
    Run(RunArgs),
    /// List the scenarios that would run.
    List(SelectArgs),
    /// Validate scenario files without running them.
    Check(CheckArgs),
    /// For each requirement of the catalogue: the scenarios that test it and their
    /// verdicts (from the last run's results.json), and those left uncovered.
    Coverage(CoverageArgs),
    /// Rewrite scenario files in canonical form (comments kept); `--check` for CI.
    Fmt(FmtArgs),
    /// Run the same scenarios against two servers and show, header by header, where
    /// their Acks differ.
    Diff(DiffArgs),
    /// Run the suite against several servers (the bundled one too) and write one
    /// scenario x server table: matrix.md, matrix.html, matrix.json.
    Matrix(crate::matrix::command::MatrixArgs),
    /// Load a server with concurrent uploads: throughput, packets/s, Ack latency, errors.
    Bench(crate::bench::BenchArgs),
    /// Write the JSON Schemas of the scenario format and of results.json into schema/.
    Schema(SchemaArgs),
    /// Prove the suite has teeth: run it against the reference server once per injected
    /// fault and print the mutation score (faults caught by a failure naming the fault).
    Selftest(SelftestArgs),
    /// Print a shell completion script: `bitspec completions bash > /etc/bash_completion.d/bitspec`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one per subcommand with `--dir`.
    Man(ManArgs),
    /// Upload a file to a BITS server, resumably: run again after a failure to
    /// continue the same session (exit 0 done, 75 run again, 1 fatal, 2 bad input).
    Upload(crate::upload::UploadArgs),
    /// Test a BITS upload client: run it against a scripted server once per client
    /// scenario (`scenarios/client/`) and judge the requests it sends.
    ClientTest(crate::client_test::ClientTestArgs),
    /// A proxy between a BITS client and a server that writes each session it sees as
    /// a scenario (replayable with `bitspec run --scenarios DIR`).
    Record(crate::record::RecordArgs),
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Directory of scenario files.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Format these files instead of the directory.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write nothing; exit 1 and list the files that are not in canonical form.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// The server under comparison (A).
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// The server to compare with (B). Default: the bundled reference server.
    #[arg(long, value_name = "URL")]
    pub against: Option<String>,
    /// Target profile for both (a file or a shipped name). Default: `minimal`.
    #[arg(long, value_name = "FILE|NAME")]
    pub profile: Option<PathBuf>,
    /// Scenarios run at the same time, per target.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Where `diff.json` is written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Where the schemas are written.
    #[arg(long, value_name = "DIR", default_value = "schema")]
    pub dir: PathBuf,
    /// Write nothing; exit 1 when the committed schemas differ from the code.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Directory of scenario files (with requirements.yaml).
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Verdicts from this results.json (default: reports/results.json if present).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// Only list requirements that are observable and have no scenario.
    #[arg(long)]
    pub uncovered: bool,
    /// Print the coverage as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Base URL of the BITS server under test; uploads go directly under it.
    /// Without it, the bundled reference server is started on 127.0.0.1.
    #[arg(long, value_name = "URL", env = "BITSPEC_TARGET")]
    pub target: Option<String>,
    /// Target profile: a YAML file, or the name of a shipped one (`profiles/NAME.yaml`).
    /// Default: `reference` for the bundled server, `minimal` for a --target.
    #[arg(long, value_name = "FILE|NAME", env = "BITSPEC_PROFILE")]
    pub profile: Option<PathBuf>,
    /// Treat SHOULD-level mismatches as failures instead of warnings.
    #[arg(long)]
    pub strict: bool,
    /// Scenarios run at the same time.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Seconds each step may take, unless the scenario sets its own.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub step_timeout: f64,
    /// Seconds to wait for a TCP connection.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub connect_timeout: f64,
    /// Where reports are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// Show every exchange, not only failures.
    #[arg(long, short)]
    pub verbose: bool,
    /// Known deviations of the target (scenario id and reason): their failures are
    /// reported as expected; baselined scenarios that now pass are flagged.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the current failures to the --baseline file (keeping existing reasons).
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Print the scenarios that would run, and run nothing.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub pace: PaceArgs,
    #[command(flatten)]
    pub output: crate::report::output::OutputArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Directory of scenario files.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Check these files instead of the directory (client scenarios: a `client/` folder or files in one).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Profile of the reference server: a YAML file or a shipped name [default: reference].
    #[arg(long, value_name = "FILE|NAME")]
    pub profile: Option<PathBuf>,
    /// Only this fault (repeatable); default every fault of `bitspec-server --list-faults`
    /// that can show on the profile's configuration.
    #[arg(
        long = "fault",
        value_name = "NAME",
        value_enum,
        hide_possible_values = true
    )]
    pub faults: Vec<Fault>,
    /// Scenarios at once within one run.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Faulty servers at once.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub parallel: usize,
    /// Seconds each step may take.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub step_timeout: u64,
    /// Where reports are written.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// List, under each fault, every scenario that caught it and those that named it.
    #[arg(long, short)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write bitspec.1 and a bitspec-SUBCOMMAND.1 per subcommand into DIR instead
    /// of printing bitspec.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
