//! The `bitspec` binary: parse the command line, run the command, exit with its code.
//!
//! It carries the suite (scenarios, requirements catalogue, profiles) so it runs
//! from any directory once installed; see [`bitspec::scenario::shipped`].

use clap::FromArgMatches;
use std::process::ExitCode;

static SCENARIOS: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/scenarios");
static PROFILES: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/profiles");

fn main() -> ExitCode {
    bitspec::scenario::shipped::install(bitspec::scenario::shipped::Shipped {
        scenarios: &SCENARIOS,
        profiles: &PROFILES,
    });
    log_to_stderr();
    let parsed = bitspec::cli::shell::command()
        .try_get_matches()
        .and_then(|m| bitspec::cli::args::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not usage errors.
            return if e.use_stderr() {
                ExitCode::from(bitspec::shared::exit::INVALID)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    ExitCode::from(bitspec::cli::execute(cli.command))
}

/// `RUST_LOG=bitspec_server=debug` shows what the bundled reference server logs (one
/// line per packet); without `RUST_LOG` nothing is logged.
fn log_to_stderr() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none(),
            )
            .init();
    }
}
