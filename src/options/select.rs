//! Which scenarios a command runs: the selection options every scenario-running
//! command takes, and loading the selected scenarios (errors printed, exit code back).

use crate::options::terminal::color_stderr;
use crate::scenario::{Scenario, ScenarioError, Suite, load_suite};
use crate::shared::exit;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Directory of scenario files.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Scenarios whose test name or id contains TEXT, or matches it as a glob
    /// (`'fragment::0*'`). Repeatable.
    #[arg(long, value_name = "TEXT")]
    pub filter: Vec<String>,
    /// Scenarios with exactly this id. Repeatable.
    #[arg(long, value_name = "ID")]
    pub id: Vec<String>,
    /// Scenarios with this tag. Repeatable.
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Scenarios that check this requirement id (see scenarios/requirements.yaml). Repeatable.
    #[arg(long, value_name = "REQ")]
    pub requirement: Vec<String>,
    /// Scenarios about this packet type (their folder: ping, create-session, fragment...). Repeatable.
    #[arg(long, value_name = "TYPE")]
    pub packet: Vec<String>,
    /// Scenarios of this requirement level. Repeatable.
    #[arg(long, value_name = "LEVEL")]
    pub level: Vec<LevelArg>,
}

/// A requirement level on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LevelArg {
    Must,
    Should,
    May,
}

impl SelectArgs {
    pub fn selection(&self) -> crate::scenario::Selection {
        use crate::scenario::model::Level;
        crate::scenario::Selection {
            filters: self.filter.clone(),
            ids: self.id.clone(),
            tags: self.tag.clone(),
            requirements: self.requirement.clone(),
            packets: self.packet.clone(),
            levels: self
                .level
                .iter()
                .map(|l| match l {
                    LevelArg::Must => Level::Must,
                    LevelArg::Should => Level::Should,
                    LevelArg::May => Level::May,
                })
                .collect(),
        }
    }
}

/// `scenarios` as given, or, for the default, the embedded suite when the current
/// directory has none (so the installed binary works from anywhere).
pub fn scenario_dir(given: &Path) -> PathBuf {
    crate::scenario::shipped::scenario_dir(given)
}

pub fn print_errors(errors: &[ScenarioError]) {
    let color = color_stderr();
    for e in errors {
        eprintln!("{}", e.render(color));
    }
    eprintln!(
        "{} error{} in scenario files",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
}

/// Loads and selects; `Err` is the exit code after the problem was printed.
pub fn selected(args: &SelectArgs) -> Result<Vec<Scenario>, u8> {
    let dir = scenario_dir(&args.scenarios);
    let Suite { scenarios, errors } = load_suite(&dir);
    if !errors.is_empty() {
        print_errors(&errors);
        return Err(exit::INVALID);
    }
    let selection = args.selection();
    let chosen: Vec<Scenario> = scenarios
        .into_iter()
        .filter(|s| selection.matches(s))
        .collect();
    if chosen.is_empty() {
        eprintln!(
            "no scenario matched the selection (scenarios in {})",
            dir.display()
        );
        return Err(exit::NOTHING_SELECTED);
    }
    Ok(chosen)
}
