//! `bitspec matrix`: the suite against several servers (the bundled reference server
//! among them unless `--no-bundled`), one after the other, and one table of scenario x
//! server with each cell's verdict and the readings the server chose, plus each
//! server's root causes. The interop table implementations are compared with; the
//! reporters ([`crate::matrix::report`]) write it as Markdown, HTML and JSON.

pub mod command;
pub mod differential;
pub mod report;

use crate::report::findings::Finding;
use crate::scenario::model::Level;
use crate::shared::outcome::{ScenarioOutcome, Totals, Verdict};
use serde::Serialize;

/// The name of the bundled reference server's column.
pub const BUNDLED: &str = "bitspec-server";

/// The whole matrix, as data (`matrix.json`).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Matrix {
    pub servers: Vec<Server>,
    /// One row per scenario, its cells in the order of `servers`.
    pub scenarios: Vec<Row>,
}

/// One server (a column).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Server {
    pub name: String,
    pub url: String,
    pub profile: String,
    pub totals: Totals,
    /// Why nothing ran: unreachable, or stopped answering.
    pub problem: Option<String>,
    pub root_causes: Vec<Finding>,
}

/// One scenario (a row).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub title: String,
    pub level: Level,
    pub cells: Vec<Cell>,
}

/// One scenario on one server.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Cell {
    pub verdict: Verdict,
    /// The readings the server followed where the documents allow several.
    pub readings: Vec<String>,
    /// The rank of the server's root cause this failure belongs to.
    pub root_cause: Option<usize>,
    /// Why it errored or was skipped.
    pub reason: Option<String>,
}

impl Cell {
    /// `pass`, `pass (msdn)`, `FAIL #2`: the cell as text.
    pub fn text(&self) -> String {
        let mut text = crate::report::render::verdict_word(self.verdict).to_owned();
        if let Some(rank) = self.root_cause {
            text.push_str(&format!(" #{rank}"));
        }
        if !self.readings.is_empty() {
            text.push_str(&format!(" ({})", self.readings.join(", ")));
        }
        text
    }
}

/// A `--target NAME=URL` (a bare URL is named after it).
pub fn parse_target(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, url)) if !name.trim().is_empty() && !name.contains("://") => {
            Ok((name.trim().to_owned(), url.trim().to_owned()))
        }
        _ if arg.contains("://") => Ok((arg.trim().to_owned(), arg.trim().to_owned())),
        _ => Err(format!(
            "--target {arg:?}: expected NAME=URL (for example iis=http://iis.example/bits/)"
        )),
    }
}

/// Builds the matrix from each server's outcomes, rows in the order of the first.
pub fn build(runs: Vec<(Server, Vec<ScenarioOutcome>)>) -> Matrix {
    let mut rows: Vec<Row> = Vec::new();
    let count = runs.len();
    let mut servers = Vec::new();
    for (column, (server, outcomes)) in runs.into_iter().enumerate() {
        for o in &outcomes {
            let at = match rows.iter().position(|r| r.id == o.id) {
                Some(at) => at,
                None => {
                    rows.push(Row {
                        id: o.id.clone(),
                        name: o.name.clone(),
                        title: o.title.clone(),
                        level: o.level,
                        cells: vec![not_run(); count],
                    });
                    rows.len() - 1
                }
            };
            let root_cause = server
                .root_causes
                .iter()
                .find(|f| f.scenarios.contains(&o.name))
                .map(|f| f.rank);
            let mut readings: Vec<String> = o.readings().map(|(_, r)| r.reading.clone()).collect();
            readings.dedup();
            rows[at].cells[column] = Cell {
                verdict: o.verdict,
                readings,
                root_cause,
                reason: o.reason.clone(),
            };
        }
        servers.push(server);
    }
    Matrix {
        servers,
        scenarios: rows,
    }
}

fn not_run() -> Cell {
    Cell {
        verdict: Verdict::Skip,
        readings: Vec::new(),
        root_cause: None,
        reason: Some("not run".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_name_equals_url() {
        assert_eq!(
            parse_target("iis=http://h/bits/"),
            Ok(("iis".into(), "http://h/bits/".into()))
        );
        assert_eq!(
            parse_target("http://h/x?a=b"),
            Ok(("http://h/x?a=b".into(), "http://h/x?a=b".into()))
        );
        assert!(parse_target("just-a-name").is_err());
    }
}
