//! The `bitspec` binary: parse the command line, run the command, exit with its code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match bitspec::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not usage errors.
            return if e.use_stderr() {
                ExitCode::from(bitspec::exit::INVALID)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    ExitCode::from(bitspec::commands::execute(cli.command))
}
