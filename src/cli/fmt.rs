//! `bitspec fmt`: scenario files in canonical form.

use crate::options::select::{print_errors, scenario_dir};
use crate::shared::exit;
use std::path::PathBuf;

pub fn fmt(args: &crate::cli::args::FmtArgs) -> u8 {
    let dir = scenario_dir(&args.scenarios);
    let files: Vec<PathBuf> = if args.files.is_empty() {
        let found = crate::scenario::find_scenario_files(&dir).and_then(|found| {
            let steps = crate::scenario::library::find_step_files(&dir)?;
            Ok(found.into_iter().map(|(p, _, _)| p).chain(steps).collect())
        });
        match found {
            Ok(found) => found,
            Err(e) => {
                print_errors(&[e]);
                return exit::INVALID;
            }
        }
    } else {
        args.files.clone()
    };
    let (mut changed, mut broken) = (0, 0);
    for path in &files {
        let result = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                crate::scenario::fmt::format_path(path, &dir, &text).map(|f| (text, f))
            });
        match result {
            Ok((text, formatted)) if text != formatted => {
                changed += 1;
                if args.check {
                    println!("{} is not in canonical form", path.display());
                } else if let Err(e) = std::fs::write(path, formatted) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    broken += 1;
                } else {
                    println!("formatted {}", path.display());
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                broken += 1;
            }
        }
    }
    println!(
        "{} file(s), {changed} {}",
        files.len(),
        if args.check { "to format" } else { "formatted" }
    );
    if broken > 0 {
        exit::INVALID
    } else if args.check && changed > 0 {
        exit::FAILED
    } else {
        exit::PASSED
    }
}
