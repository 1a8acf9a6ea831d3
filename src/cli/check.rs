//! `bitspec check`: validate scenario files (and the catalogue levels) without running them.

use crate::cli::args::CheckArgs;
use crate::options::select::{print_errors, scenario_dir};
use crate::scenario::{ScenarioError, load_files, load_suite};
use crate::shared::exit;

pub fn check(args: &CheckArgs) -> u8 {
    // Client scenarios (`client/`) have their own format and loader.
    use crate::client_test::validate::{check_paths, split_paths};
    let (client_paths, server_files) = split_paths(&args.files, &scenario_dir(&args.scenarios));
    let (clients, client_errors) = check_paths(&client_paths, &scenario_dir(&args.scenarios));
    let mut suite = if args.files.is_empty() {
        load_suite(&scenario_dir(&args.scenarios))
    } else {
        let files = server_files
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
    suite.errors.extend(client_errors);
    if !suite.errors.is_empty() {
        print_errors(&suite.errors);
        return exit::INVALID;
    }
    if args.files.is_empty() || !server_files.is_empty() {
        println!(
            "{} scenario file{} valid",
            suite.scenarios.len(),
            if suite.scenarios.len() == 1 { "" } else { "s" }
        );
    }
    if clients > 0 {
        println!(
            "{clients} client scenario file{} valid",
            if clients == 1 { "" } else { "s" }
        );
    }
    exit::PASSED
}
