//! `bitspec completions SHELL` and `bitspec man`: what an installed tool hands to
//! the shell and to `man`, generated from the command line's own definition.

use crate::cli::args::{CompletionsArgs, ManArgs};
use crate::shared::exit;
use clap::CommandFactory;
use std::io::Write;

/// The command line as clap sees it, with the version `--version` prints.
pub fn command() -> clap::Command {
    crate::cli::args::Cli::command().version(crate::scenario::shipped::version_line())
}

pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "bitspec", &mut out);
    write_stdout(&out)
}

pub fn man(args: &ManArgs) -> u8 {
    let cmd = command();
    match &args.dir {
        Some(dir) => {
            let written =
                std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir));
            match written {
                Ok(()) => {
                    println!("wrote manual pages into {}", dir.display());
                    exit::PASSED
                }
                Err(e) => {
                    eprintln!(
                        "error: cannot write manual pages into {}: {e}",
                        dir.display()
                    );
                    exit::INVALID
                }
            }
        }
        None => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut out) {
                Ok(()) => write_stdout(&out),
                Err(e) => {
                    eprintln!("error: cannot render the manual page: {e}");
                    exit::INVALID
                }
            }
        }
    }
}

fn write_stdout(bytes: &[u8]) -> u8 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => exit::PASSED,
        // A closed pipe (`| head`) is the reader's choice, not an error worth a code.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::PASSED,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            exit::INVALID
        }
    }
}
