//! JSON Schemas generated from the code: the scenario format (for editors, through
//! the `# yaml-language-server: $schema=` line) and `results.json`. Both are committed
//! under `schema/`; a test fails when they drift from the code.

use crate::scenario::model::{ReusableStepDoc, ScenarioDoc};

/// The scenario file schema, pretty-printed with a final newline.
pub fn scenario_schema() -> String {
    pretty(schemars::schema_for!(ScenarioDoc))
}

/// The schema of a reusable step file (`scenarios/steps/*.yaml`).
pub fn step_schema() -> String {
    pretty(schemars::schema_for!(ReusableStepDoc))
}

/// The `results.json` schema, pretty-printed with a final newline.
pub fn results_schema() -> String {
    pretty(crate::report::json::results_schema())
}

fn pretty(schema: schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Committed file name -> generated text.
pub fn all() -> [(&'static str, String); 3] {
    [
        ("scenario.schema.json", scenario_schema()),
        ("step.schema.json", step_schema()),
        ("results.schema.json", results_schema()),
    ]
}
