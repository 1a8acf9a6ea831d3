//! The figures the Markdown and HTML reports share, computed once so the two
//! formats cannot disagree: counts per packet type and level, the failures in the
//! order they are shown, the readings table and the notes.

use crate::scenario::model::Level;
use crate::shared::outcome::{BaselineState, ScenarioOutcome, Verdict};

/// The verdicts, in the column order of every table.
pub const VERDICTS: [Verdict; 5] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Warn,
    Verdict::Skip,
    Verdict::Error,
];

/// Scenarios per verdict, indexed like [`VERDICTS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts(pub [usize; 5]);

impl Counts {
    pub fn add(&mut self, verdict: Verdict) {
        if let Some(i) = VERDICTS.iter().position(|v| *v == verdict) {
            self.0[i] += 1;
        }
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// One table row: a label and its counts.
pub type Row = (String, Counts);

/// Counts per packet type (the scenario's group), in the order groups first appear.
pub fn by_group(outcomes: &[ScenarioOutcome]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for o in outcomes {
        match rows.iter_mut().find(|(g, _)| *g == o.group) {
            Some((_, c)) => c.add(o.verdict),
            None => {
                let mut c = Counts::default();
                c.add(o.verdict);
                rows.push((o.group.clone(), c));
            }
        }
    }
    rows
}

/// Counts per requirement level, always must, should, may (a level may be all zero).
pub fn by_level(outcomes: &[ScenarioOutcome]) -> Vec<Row> {
    [Level::Must, Level::Should, Level::May]
        .into_iter()
        .map(|level| {
            let mut c = Counts::default();
            for o in outcomes.iter().filter(|o| o.level == level) {
                c.add(o.verdict);
            }
            (level.as_str().to_owned(), c)
        })
        .collect()
}

/// Sum over rows.
pub fn total(rows: &[Row]) -> Counts {
    let mut t = Counts::default();
    for (_, c) in rows {
        for (sum, n) in t.0.iter_mut().zip(c.0) {
            *sum += n;
        }
    }
    t
}

/// Failures, errors, then warnings: what a reader must look at, worst first. Those a
/// baseline expects are left out: they are listed by [`baselined`].
pub fn problems(outcomes: &[ScenarioOutcome]) -> Vec<&ScenarioOutcome> {
    let mut list: Vec<&ScenarioOutcome> = outcomes
        .iter()
        .filter(|o| matches!(o.verdict, Verdict::Fail | Verdict::Error | Verdict::Warn))
        .filter(|o| baseline_state(o) != Some(BaselineState::ExpectedFailure))
        .collect();
    list.sort_by_key(|o| match o.verdict {
        Verdict::Fail => 0,
        Verdict::Error => 1,
        _ => 2,
    });
    list
}

/// What a baseline said of this outcome, if it lists it.
pub fn baseline_state(o: &ScenarioOutcome) -> Option<BaselineState> {
    o.baseline.as_ref().map(|b| b.state)
}

/// Outcomes a baseline lists in `state`: known deviations, or entries to prune.
pub fn baselined(outcomes: &[ScenarioOutcome], state: BaselineState) -> Vec<&ScenarioOutcome> {
    outcomes
        .iter()
        .filter(|o| baseline_state(o) == Some(state))
        .collect()
}

/// One row of the readings table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingRow {
    /// The ambiguity, or the step whose alternatives the target chose between.
    pub topic: String,
    pub reading: String,
    pub cite: String,
    pub count: usize,
}

/// The readings the target followed, one row per (topic, reading, citation).
pub fn readings(outcomes: &[ScenarioOutcome]) -> Vec<ReadingRow> {
    let mut rows: Vec<ReadingRow> = Vec::new();
    for (_, r) in outcomes.iter().flat_map(|o| o.readings()) {
        match rows
            .iter_mut()
            .find(|row| row.topic == r.topic && row.reading == r.reading && row.cite == r.cite)
        {
            Some(row) => row.count += 1,
            None => rows.push(ReadingRow {
                topic: r.topic.clone(),
                reading: r.reading.clone(),
                cite: r.cite.clone(),
                count: 1,
            }),
        }
    }
    rows
}

/// (scenario name, note) for every note of the run.
pub fn notes(outcomes: &[ScenarioOutcome]) -> Vec<(&str, &str)> {
    outcomes
        .iter()
        .flat_map(|o| o.notes.iter().map(move |n| (o.name.as_str(), n.as_str())))
        .collect()
}

/// `12 passed, 1 failed, ...` for the head of a report; zero counts left out.
pub fn totals_line(outcomes: &[ScenarioOutcome]) -> String {
    let mut c = Counts::default();
    for o in outcomes {
        c.add(o.verdict);
    }
    let words = ["passed", "failed", "warned", "skipped", "errored"];
    let parts: Vec<String> =
        c.0.iter()
            .zip(words)
            .filter(|(n, _)| **n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
    let known = baselined(outcomes, BaselineState::ExpectedFailure).len();
    format!(
        "{} scenario{}: {}{}",
        c.total(),
        if c.total() == 1 { "" } else { "s" },
        if parts.is_empty() {
            "none run".to_owned()
        } else {
            parts.join(", ")
        },
        if known > 0 {
            format!(" ({known} of them known deviations in the baseline)")
        } else {
            String::new()
        }
    )
}
