//! `bitspec check`: validate scenario files (and the catalogue levels) without running them.

use crate::cli::args::CheckArgs;
use crate::options::select::{print_errors, scenario_dir};
use crate::scenario::{ScenarioError, load_files, load_suite};
use crate::shared::exit;

pub fn check(args: &CheckArgs) -> u8 {
    let mut suite = if args.files.is_empty() {
        load_suite(&scenario_dir(&args.scenarios))
    } else {
        let files = args
            .files
            .iter()
            .map(|p| {
                let group = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "scenarios".into());
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (p.clone(), group.clone(), format!("{group}::{stem}"))
            })
            .collect();
        let mut suite = load_files(files);
        // The files on their own, checked against the suite they belong to: the
        // catalogue's requirement ids, and ids other scenarios already use.
        let dir = scenario_dir(&args.scenarios);
        crate::scenario::discover::check_suite_citations(&dir, &mut suite);
        let others = load_suite(&dir).scenarios;
        for s in &suite.scenarios {
            if let Some(other) = others.iter().find(|o| o.id == s.id && o.path != s.path) {
                suite.errors.push(ScenarioError::new(
                    format!(
                        "duplicate scenario id `{}` (also used by {})",
                        s.id, other.file
                    ),
                    Some(crate::shared::location::Loc::new(&s.file, 1, 1)),
                ));
            }
        }
        suite
    };
    // The level audit: a MUST verdict needs a MUST-level server requirement.
    crate::scenario::level_check::check_suite_levels(&scenario_dir(&args.scenarios), &mut suite);
    if !suite.errors.is_empty() {
        print_errors(&suite.errors);
        return exit::INVALID;
    }
    println!(
        "{} scenario file{} valid",
        suite.scenarios.len(),
        if suite.scenarios.len() == 1 { "" } else { "s" }
    );
    exit::PASSED
}
