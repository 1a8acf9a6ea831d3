//! The whole suite against the bundled reference server in every shipped reference
//! profile: the default readings, the other legal reading of every ambiguity it
//! supports, and the optional features. Each must pass with no warning.

mod support;

use support::{bitspec, text};

/// Runs the suite under `profile`; the reports' folder is returned for more checks.
fn passes_cleanly(profile: &str) -> tempfile::TempDir {
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(
        &["run", "--profile", profile, "--jobs", "4"],
        reports.path(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "profile {profile}:\n{all}");
    assert!(
        !all.contains("WARN "),
        "profile {profile} has SHOULD warnings:\n{all}"
    );
    assert!(
        all.contains(&format!("target profile: {profile} ")),
        "{all}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    assert_eq!(json["totals"]["failed"], 0, "{profile}");
    assert_eq!(json["totals"]["warnings"], 0, "{profile}");
    assert!(
        json["totals"]["passed"].as_u64().unwrap_or(0) >= 80,
        "profile {profile} ran too few scenarios:\n{all}"
    );
    reports
}

#[test]
fn suite_passes_against_the_default_reference_server() {
    passes_cleanly("reference");
}

#[test]
fn suite_passes_against_the_other_reading_of_every_ambiguity() {
    passes_cleanly("reference-mc-bup");
}

#[test]
fn suite_passes_against_the_reference_server_with_optional_features() {
    let reports = passes_cleanly("reference-limits");
    // The profile's Basic credentials (bitspec:conformance, guest:guest) are sent, but
    // no report shows them, not even base64-encoded.
    let mut seen_redacted = false;
    for entry in std::fs::read_dir(reports.path()).expect("reports") {
        let path = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for secret in ["Yml0c3BlYzpjb25mb3JtYW5jZQ", "Z3Vlc3Q6Z3Vlc3Q"] {
            assert!(
                !text.contains(secret),
                "{} shows a credential",
                path.display()
            );
        }
        seen_redacted |= text.contains("Basic (credentials not recorded)");
    }
    assert!(
        seen_redacted,
        "the Authorization header is recorded, without its value"
    );
}

#[test]
fn a_missing_capability_is_a_skip_with_its_reason_never_a_failure() {
    // The minimal profile declares nothing: scenarios that need a capability are skipped,
    // content checks are noted as not verifiable, and the run still passes.
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(&["run", "--profile", "minimal"], reports.path());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.path().join("results.json")).expect("results.json"),
    )
    .expect("JSON");
    let skipped: Vec<&serde_json::Value> = json["scenarios"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|s| s["verdict"] == "skip")
        .collect();
    assert!(
        !skipped.is_empty(),
        "some scenario needs a capability:\n{all}"
    );
    for s in skipped {
        let reason = s["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("needs capability `") && reason.contains("profile `minimal`"),
            "{reason}"
        );
    }
    assert!(
        all.contains("not verified"),
        "content checks are reported as not verifiable:\n{all}"
    );
}

#[test]
fn suite_passes_against_the_reference_server_in_upload_reply_mode() {
    passes_cleanly("reference-reply");
}

#[test]
fn suite_passes_against_the_reference_server_under_the_iis_stock_profile() {
    // The IIS profile declares fewer capabilities than the bundled server has; every
    // scenario it allows must still pass here, with no warning.
    let reports = tempfile::tempdir().expect("tempdir");
    let out = bitspec(&["run", "--profile", "iis-stock"], reports.path());
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("WARN "), "{all}");
}

#[test]
fn suite_passes_against_the_reference_server_with_ntlm() {
    // Every request with credentials authenticates its connection by handshake,
    // the resume scenarios' fault proxy included.
    passes_cleanly("reference-ntlm");
}
