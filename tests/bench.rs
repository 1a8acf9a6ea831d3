//! `bitspec bench` end to end, on a tiny workload against the embedded server.
//! Functional only: the figures come from `bench/run.sh`, never from assertions here.

use std::process::Command;

#[test]
fn a_tiny_bench_completes_without_errors_and_its_json_parses() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args(["bench", "--sessions", "3", "--size", "100000"])
        .args(["--fragment", "30000", "--json"])
        .output()
        .expect("run bitspec bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("--json is JSON");
    assert_eq!(report["errors"], 0);
    assert_eq!(report["sessions"], 3);
    assert_eq!(report["bytes"], 300_000, "every byte acknowledged");
    // Per session: Create-Session, 4 fragments (3 x 30000 + 10000), Close-Session.
    assert_eq!(report["packets"], 18);
    for key in ["mb_per_s", "packets_per_s", "seconds"] {
        assert!(report[key].as_f64().is_some_and(|v| v > 0.0), "{key}");
    }
    let latency = &report["ack_latency"];
    assert!(latency["p50_ms"].as_f64() <= latency["max_ms"].as_f64());
}

#[test]
fn the_table_names_every_figure() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args([
            "bench",
            "--sessions",
            "1",
            "--size",
            "64K",
            "--fragment",
            "16K",
        ])
        .output()
        .expect("run bitspec bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for word in [
        "throughput",
        "MB/s",
        "packets",
        "Ack latency",
        "p99",
        "errors      0",
    ] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
}

#[test]
fn an_unreachable_target_is_exit_3() {
    let out = Command::new(env!("CARGO_BIN_EXE_bitspec"))
        .args(["bench", "--target", "http://127.0.0.1:9/", "--size", "1K"])
        .output()
        .expect("run bitspec bench");
    assert_eq!(out.status.code(), Some(3));
}
