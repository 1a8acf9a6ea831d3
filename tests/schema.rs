//! The committed JSON Schemas must match the code, and must accept what the code accepts.

use std::path::Path;

#[test]
fn committed_schemas_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    for (name, generated) in bitspec::schema::all() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == generated,
            "schema/{name} is out of date: run `cargo run -- schema` and commit the result"
        );
    }
}

#[test]
fn every_shipped_scenario_validates_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&bitspec::schema::scenario_schema()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = bitspec::scenario::find_scenario_files(&root).expect("scenarios");
    assert!(files.len() > 10);
    for (path, _, _) in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    // And the schema rejects a misspelled key, as the loader does.
    let bad: serde_json::Value = serde_json::json!({"id": "x", "title": "t", "spec": "s", "level": "must", "steps": [{"packet": "Ping", "expct": {}}]});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn every_shipped_reusable_step_validates_against_the_step_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&bitspec::schema::step_schema()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = bitspec::scenario::library::find_step_files(&root).expect("steps");
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let value: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    let bad =
        serde_json::json!({"step": {"packet": "Ping", "expect": {"status": 200}}, "parms": {}});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn a_results_file_validates_against_the_results_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&bitspec::schema::results_schema()).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let reports = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args(["run", "--filter", "fragment::00", "--report-dir"])
        .arg(reports.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BITSPEC_TARGET")
        .output()
        .expect("bitspec runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(reports.path().join("results.json"))
        .unwrap_or_else(|e| panic!("results.json: {e}\n{printed}"));
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!value["scenarios"].as_array().expect("scenarios").is_empty());
}
