//! The command line, on top of everything (nothing in the crate imports it): the
//! argument types ([`args`]), one file per command wiring the stages together
//! (load -> validate -> run -> check -> report), completions and man pages
//! ([`shell`]). Each command returns the process exit code ([`crate::shared::exit`]).
//! The features with their own commands (`bench`, `matrix`, `upload`, `client-test`,
//! `record`) define their arguments and command in their folders.

pub mod args;
pub mod check;
pub mod coverage;
pub mod diff;
pub mod fmt;
pub mod list;
pub mod run;
pub mod schema;
pub mod selftest;
pub mod shell;

use crate::cli::args::Command;
use crate::options::select::scenario_dir;

/// Runs one command; the value is the exit code.
pub fn execute(command: Command) -> u8 {
    match command {
        Command::Run(args) => run::run(args),
        Command::List(args) => list::list(&args),
        Command::Check(args) => check::check(&args),
        Command::Schema(args) => schema::schema(&args),
        Command::Fmt(args) => fmt::fmt(&args),
        Command::Selftest(args) => crate::cli::selftest::command(&args),
        Command::Bench(args) => crate::bench::run(&args),
        Command::Diff(args) => diff::diff(&args),
        Command::Matrix(args) => crate::matrix::command::command(&args),
        Command::Coverage(args) => crate::cli::coverage::run(&args, &scenario_dir(&args.scenarios)),
        Command::Completions(args) => crate::cli::shell::completions(&args),
        Command::Man(args) => crate::cli::shell::man(&args),
        Command::Upload(args) => crate::upload::run(&args),
        Command::ClientTest(args) => crate::client_test::run(&args),
        Command::Record(args) => crate::record::run(&args),
    }
}
