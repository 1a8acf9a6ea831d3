//! `bitspec coverage`: which catalogue requirements the suite tests, and how the last
//! run went for each.

use crate::cli::args::CoverageArgs;
use crate::scenario::load_suite;
use crate::scenario::requirements::{Catalogue, coverage, coverage_totals};
use crate::shared::exit;
use crate::shared::outcome::Verdict;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

pub fn run(args: &CoverageArgs, dir: &Path) -> u8 {
    let suite = load_suite(dir);
    if !suite.errors.is_empty() {
        for e in &suite.errors {
            eprintln!("{}", e.render(false));
        }
        return exit::INVALID;
    }
    let catalogue = match Catalogue::load_from(dir) {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!(
                "error: no {} in {}",
                crate::scenario::requirements::CATALOGUE_FILE,
                dir.display()
            );
            return exit::INVALID;
        }
        Err(e) => {
            eprintln!("{}", e.render(false));
            return exit::INVALID;
        }
    };
    let verdicts = match load_verdicts(args.results.as_deref()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID;
        }
    };
    let entries = coverage(&catalogue, &suite.scenarios, &verdicts);
    let totals = coverage_totals(&entries);
    if args.json {
        let text = serde_json::json!({ "totals": totals, "requirements": entries });
        println!(
            "{}",
            serde_json::to_string_pretty(&text).unwrap_or_default()
        );
        return exit::PASSED;
    }
    for e in &entries {
        let r = &e.requirement;
        if args.uncovered && e.status() != "uncovered" {
            continue;
        }
        let scenarios = if e.scenarios.is_empty() {
            match (&r.reason, e.status()) {
                (Some(reason), "not observable") => format!("not observable: {reason}"),
                _ => "UNCOVERED".to_owned(),
            }
        } else {
            e.scenarios
                .iter()
                .map(|(name, verdict)| match verdict {
                    Some(v) => format!("{name} ({})", v.as_str()),
                    None => name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("{:<58} {:<6} {scenarios}", r.id, r.level.as_str());
    }
    println!(
        "{} requirements: {} covered, {} not observable (with a reason), {} uncovered",
        totals.requirements, totals.covered, totals.not_observable, totals.uncovered
    );
    exit::PASSED
}

/// Scenario id -> verdict from a results.json, or nothing when there is no file.
fn load_verdicts(explicit: Option<&Path>) -> Result<HashMap<String, Verdict>, String> {
    let default = Path::new("reports/results.json");
    let path = match explicit {
        Some(p) => p,
        None if default.exists() => default,
        None => return Ok(HashMap::new()),
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let mut verdicts = HashMap::new();
    for s in json["scenarios"].as_array().into_iter().flatten() {
        let Ok(verdict) = Verdict::deserialize(&s["verdict"]) else {
            continue;
        };
        if let Some(id) = s["id"].as_str() {
            verdicts.insert(id.to_owned(), verdict);
        }
    }
    Ok(verdicts)
}
