//! A failing generated run, written back as an ordinary scenario that reproduces it:
//! Create-Session, each fragment with the Ack the model allowed at that point, up to
//! the exchange that failed.

use super::model::{ALT_SEED, Packet, Run};
use super::schedule::{Frag, legal_acks};
use crate::scenario::plan::Scenario;
use std::fmt::Write as _;

/// The YAML text of a scenario that replays `run` (the failing run of `minimal`).
pub fn scenario_yaml(
    scenario: &Scenario,
    seed: u64,
    original_len: usize,
    minimal: &[Frag],
    run: &Run,
    get_uploads: bool,
) -> String {
    let file = scenario
        .upload
        .unwrap_or(crate::scenario::plan::UploadFile { size: 1, seed: 0 });
    let failed_at = run.failure.as_ref().map_or(run.sent.len(), |f| f.at);
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# yaml-language-server: $schema=../../schema/scenario.schema.json"
    );
    let _ = writeln!(
        y,
        "# Reproduces scenario {} (generate seed {seed}), shrunk from {original_len} to {} random fragments.",
        scenario.id,
        minimal.len()
    );
    let _ = writeln!(
        y,
        "# Where the documents allow two Acks, the expected one follows the reading this target chose."
    );
    let _ = writeln!(y, "id: {}-seed-{seed}-repro", scenario.id);
    let _ = writeln!(
        y,
        "title: Shrunk failure of the generated schedule of seed {seed}"
    );
    let _ = writeln!(
        y,
        "spec: fragment.md; ack-for-fragment.md; MC-BUP 3.2.5.2.6"
    );
    let _ = writeln!(y, "level: {}", scenario.level.as_str());
    let _ = writeln!(y, "tags: [fragment, generated]");
    let _ = writeln!(y, "file: {{ size: {}, seed: {} }}", file.size, file.seed);
    let _ = writeln!(y, "steps:");
    for (i, sent) in run.sent.iter().enumerate().take(failed_at + 1) {
        match sent.what {
            Packet::Create => {
                y.push_str("  - packet: Create-Session\n    headers: { BITS-Supported-Protocols: \"${protocol}\" }\n");
                y.push_str("    expect:\n      status: [200, 201]\n      headers: { BITS-Session-Id: present }\n");
                y.push_str("    capture: { BITS-Session-Id: session }\n");
            }
            Packet::Fragment { frag, alt } => {
                y.push_str(
                    "  - packet: Fragment\n    headers: { BITS-Session-Id: \"${session}\" }\n",
                );
                let _ = writeln!(y, "    range: {}-{}", frag.first, frag.last);
                if alt {
                    let _ = writeln!(y, "    seed: {}", file.seed ^ ALT_SEED);
                }
                let next = run.sent.get(i + 1).map(|s| s.expected);
                fragment_expect(&mut y, sent.expected, frag, next, i == failed_at);
            }
            Packet::Close => {
                y.push_str("  - packet: Close-Session\n    headers: { BITS-Session-Id: \"${session}\" }\n    expect: { status: 200 }\n");
            }
            Packet::Get if get_uploads => {
                y.push_str("  - method: GET\n    requires: [get-uploads]\n    expect: { status: 200, body: file }\n");
            }
            Packet::Get => {}
        }
    }
    y
}

/// The expectation of one fragment: the only legal Ack, or the one the target chose
/// (known from the offset it expected next) with the other as a reading.
fn fragment_expect(y: &mut String, expected: u64, frag: Frag, next: Option<u64>, failed: bool) {
    let legal = legal_acks(expected, frag);
    let chosen = match (legal.as_slice(), next) {
        ([one], _) => Some(*one),
        (many, Some(next)) if !failed => many.iter().copied().find(|a| a.received == next),
        _ => None,
    };
    match chosen {
        Some(ack) if legal.len() == 1 || !failed => {
            let _ = writeln!(
                y,
                "    expect:\n      status: {}\n      headers: {{ BITS-Received-Content-Range: {{ equals: \"{}\" }} }}",
                ack.status, ack.received
            );
        }
        _ => {
            y.push_str("    expect:\n      readings:\n");
            for ack in legal {
                let (name, cite) = if ack.status == 200 {
                    (
                        "written-from-expected-offset",
                        "fragment.md (overlap written from the expected offset; old data ignored)",
                    )
                } else {
                    (
                        "out-of-sync",
                        "MC-BUP 3.2.5.2.6 (416 with the expected offset)",
                    )
                };
                let _ = writeln!(
                    y,
                    "        - reading: {name}\n          cite: \"{cite}\"\n          status: {}\n          headers: {{ BITS-Received-Content-Range: {{ equals: \"{}\" }} }}",
                    ack.status, ack.received
                );
            }
        }
    }
}
