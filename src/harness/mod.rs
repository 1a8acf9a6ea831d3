//! `cargo test` integration: every scenario becomes a libtest-mimic trial named
//! `<packet-type>::<file-stem>`, run against the in-process reference server, or
//! against the URL in `BITSPEC_TARGET`. `BITSPEC_PROFILE` names the target profile,
//! `BITSPEC_STRICT=1` makes SHOULD warnings fail, and `BITSPEC_CA_CERT` (a PEM file)
//! or `BITSPEC_INSECURE=1` say how an https target's certificate is checked. A scenario the profile cannot
//! run is an ignored trial. `--list`, `--exact`, `--skip` work as usual.

use crate::report::render::failure_text;
use crate::run::target::{Target, resolve_profile};
use crate::run::{RunOptions, TlsClient, TlsOptions, run_scenario};
use crate::scenario::profile::Profile;
use crate::scenario::{Scenario, load_suite};
use crate::shared::outcome::Verdict;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What the trials share: one runtime and one target, started on first use.
struct Shared {
    runtime: tokio::runtime::Runtime,
    remote: Option<String>,
    profile: Profile,
    strict: bool,
    tls: TlsClient,
    target: Mutex<Option<Target>>,
    options: OnceLock<Result<RunOptions, String>>,
}

impl Shared {
    fn options(&self) -> Result<RunOptions, String> {
        self.options
            .get_or_init(|| {
                let target = self.runtime.block_on(async {
                    match &self.remote {
                        Some(url) => Target::remote(url, &self.tls, Duration::from_secs(5)).await,
                        None => Target::embedded_for(&self.profile).await,
                    }
                })?;
                let mut options = RunOptions::new(&target.base_url, crate::check::judge())
                    .with_profile(self.profile.clone());
                options.strict = self.strict;
                options.tls = self.tls.clone();
                if let Ok(mut slot) = self.target.lock() {
                    *slot = Some(target);
                }
                Ok(options)
            })
            .clone()
    }
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The libtest-mimic main for the scenarios under `dir`.
pub fn run_conformance(dir: &Path) -> ExitCode {
    let args = Arguments::from_args();
    let suite = load_suite(dir);
    if !suite.errors.is_empty() {
        for e in &suite.errors {
            eprintln!("{}", e.render(false));
        }
        eprintln!(
            "error: {} invalid scenario file(s) under {}",
            suite.errors.len(),
            dir.display()
        );
        return ExitCode::from(crate::shared::exit::INVALID);
    }
    if suite.scenarios.is_empty() {
        eprintln!(
            "error: no scenario found under {}: the conformance suite cannot be empty",
            dir.display()
        );
        return ExitCode::from(crate::shared::exit::NOTHING_SELECTED);
    }
    let remote = env_value("BITSPEC_TARGET");
    let profile_path = env_value("BITSPEC_PROFILE").map(PathBuf::from);
    let profile = match resolve_profile(profile_path.as_deref(), remote.is_none()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", e.render(false));
            return ExitCode::from(crate::shared::exit::INVALID);
        }
    };
    let node_errors =
        crate::scenario::validate::check_nodes_against_profile(&suite.scenarios, &profile);
    for e in &node_errors {
        eprintln!("{}", e.render(false));
    }
    if !node_errors.is_empty() {
        return ExitCode::from(crate::shared::exit::INVALID);
    }
    // A farm profile's first node is the target when none is given.
    let remote = remote.or_else(|| profile.nodes.first().map(|n| n.url.clone()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let strict = env_value("BITSPEC_STRICT").is_some_and(|v| v != "0");
    let tls = TlsClient::new(TlsOptions {
        ca_certs: env_value("BITSPEC_CA_CERT")
            .map(PathBuf::from)
            .into_iter()
            .collect(),
        insecure: env_value("BITSPEC_INSECURE").is_some_and(|v| v != "0" && v != "false"),
    });
    let tls = match tls {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: BITSPEC_CA_CERT: {e}");
            return ExitCode::from(crate::shared::exit::INVALID);
        }
    };
    let shared = Arc::new(Shared {
        runtime,
        remote,
        profile,
        strict,
        tls,
        target: Mutex::new(None),
        options: OnceLock::new(),
    });
    let trials = suite
        .scenarios
        .into_iter()
        .map(|s| trial(s, Arc::clone(&shared)))
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);

    let target = shared.target.lock().ok().and_then(|mut t| t.take());
    if let Some(target) = target {
        shared.runtime.block_on(target.stop());
    }
    conclusion.exit_code()
}

fn trial(scenario: Scenario, shared: Arc<Shared>) -> Trial {
    let name = scenario.name.clone();
    let unsupported = shared.profile.lacks(&scenario.requires).is_some();
    Trial::test(name, move || {
        let options = shared
            .options()
            .map_err(|e| Failed::from(format!("target unreachable: {e}")))?;
        let outcome = shared.runtime.block_on(run_scenario(&scenario, &options));
        // Not run because the target stopped answering is no pass.
        let stopped = options
            .liveness
            .stopped()
            .filter(|s| outcome.reason.as_deref() == Some(s.not_run().as_str()));
        if let Some(stopped) = stopped {
            return Err(Failed::from(stopped.line()));
        }
        match outcome.verdict {
            Verdict::Pass | Verdict::Skip | Verdict::Warn => Ok(()),
            Verdict::Fail | Verdict::Error => Err(Failed::from(failure_text(&outcome, false))),
        }
    })
    .with_ignored_flag(unsupported)
}
