//! `bitspec diff`: the same scenarios against two servers, and where their Acks differ.

use crate::options::runtime::runtime;
use crate::options::select::{print_errors, selected};
use crate::options::tls::targets_and_tls;
use crate::run::target::{Target, resolve_profile};
use crate::run::{RunOptions, run_all};
use crate::shared::exit;
use std::time::Duration;

pub fn diff(args: &crate::cli::args::DiffArgs) -> u8 {
    let scenarios = match selected(&args.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let profile = match resolve_profile(args.profile.as_deref(), false) {
        Ok(p) => p,
        Err(e) => {
            print_errors(&[e]);
            return exit::INVALID;
        }
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let urls = [
        ("--target", Some(args.target.as_str())),
        ("--against", args.against.as_deref()),
    ];
    let tls = match targets_and_tls(&args.tls, &urls) {
        Ok(tls) => tls,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let timeout = Duration::from_secs(5);
        let a = match Target::remote(&args.target, &tls, timeout).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target unreachable: {e}");
                return exit::UNREACHABLE;
            }
        };
        let b = match &args.against {
            Some(url) => Target::remote(url, &tls, timeout).await,
            None => Target::embedded_for(&profile).await,
        };
        let b = match b {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: target unreachable: {e}");
                return exit::UNREACHABLE;
            }
        };
        let options = |url: &str| {
            let mut o = RunOptions::new(url, crate::check::judge()).with_profile(profile.clone());
            o.jobs = args.jobs.max(1);
            o.tls = tls.clone();
            o
        };
        let (oa, ob) = (options(&a.base_url), options(&b.base_url));
        println!("running {} scenarios against A and B", scenarios.len());
        let quiet = |_: &crate::shared::outcome::ScenarioOutcome| {};
        let (left, right) = tokio::join!(
            run_all(&scenarios, &oa, &quiet),
            run_all(&scenarios, &ob, &quiet)
        );
        let label_b = if b.is_embedded() {
            format!("{} (bundled reference server)", b.base_url)
        } else {
            b.base_url.clone()
        };
        let differences = crate::matrix::differential::compare(&left, &right);
        print!(
            "{}",
            crate::matrix::differential::render(&differences, &oa.target, &label_b)
        );
        let json = serde_json::json!({ "a": oa.target, "b": label_b, "differences": differences });
        let path = args.report_dir.join("diff.json");
        let written = std::fs::create_dir_all(&args.report_dir).and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&json).unwrap_or_default(),
            )
        });
        match written {
            Ok(()) => println!("report: {}", path.display()),
            Err(e) => eprintln!("warning: cannot write {}: {e}", path.display()),
        }
        let scenarios_differing = {
            let mut names: Vec<&str> = differences.iter().map(|d| d.scenario.as_str()).collect();
            names.dedup();
            names.len()
        };
        println!(
            "{} difference(s) in {scenarios_differing} of {} scenarios",
            differences.len(),
            scenarios.len()
        );
        a.stop().await;
        b.stop().await;
        if differences.is_empty() {
            exit::PASSED
        } else {
            exit::FAILED
        }
    })
}
