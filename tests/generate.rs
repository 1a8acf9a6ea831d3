//! Generated schedules: a server double with a deliberate bug (old data rewinds the
//! offset it reports) fails a `generate` step; the failure is shrunk to a minimal
//! schedule, printed as a scenario that is valid, reproduces the failure against the
//! buggy double and passes against the correct one.

use bitspec::outcome::Verdict;
use bitspec::run::{RunOptions, run_scenario};
use bitspec::scenario::{Scenario, load_files};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Starts a minimal BITS server on 127.0.0.1; with `rewinds`, a fragment of old data is
/// acknowledged with its own end instead of the offset the server expects.
fn double(rewinds: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let sessions: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(400).flatten() {
            let sessions = Arc::clone(&sessions);
            std::thread::spawn(move || serve(stream, rewinds, &sessions));
        }
    });
    url
}

fn serve(stream: TcpStream, rewinds: bool, sessions: &Mutex<HashMap<String, u64>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut l = String::new();
            if reader.read_line(&mut l).unwrap_or(0) == 0 {
                return;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.insert(n.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let packet = headers
            .get("bits-packet-type")
            .map(|p| p.to_ascii_lowercase())
            .unwrap_or_default();
        let session = headers.get("bits-session-id").cloned().unwrap_or_default();
        let mut map = sessions.lock().expect("lock");
        let (status, extra) = match packet.as_str() {
            "create-session" => {
                let id = format!("{{00000000-0000-4000-8000-{:012X}}}", map.len() + 1);
                map.insert(id.clone(), 0);
                (
                    "200 OK",
                    format!(
                        "BITS-Protocol: {{7df0354d-249b-430f-820d-3d2a9bef4931}}\r\nBITS-Session-Id: {id}\r\n"
                    ),
                )
            }
            "fragment" => {
                let range = headers.get("content-range").cloned().unwrap_or_default();
                let nums: Vec<u64> = range
                    .trim_start_matches("bytes ")
                    .split(['-', '/'])
                    .filter_map(|n| n.trim().parse().ok())
                    .collect();
                let (first, last) = (
                    nums.first().copied().unwrap_or(0),
                    nums.get(1).copied().unwrap_or(0),
                );
                let expected = map.get(&session).copied().unwrap_or(0);
                if first > expected {
                    (
                        "416 Requested Range Not Satisfiable",
                        format!("BITS-Received-Content-Range: {expected}\r\n"),
                    )
                } else if last < expected {
                    let reported = if rewinds { last + 1 } else { expected };
                    (
                        "200 OK",
                        format!("BITS-Received-Content-Range: {reported}\r\n"),
                    )
                } else {
                    map.insert(session, last + 1);
                    (
                        "200 OK",
                        format!("BITS-Received-Content-Range: {}\r\n", last + 1),
                    )
                }
            }
            _ => ("200 OK", String::new()),
        };
        drop(map);
        let response = format!(
            "HTTP/1.1 {status}\r\nBITS-Packet-Type: Ack\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn load(dir: &std::path::Path, name: &str, text: &str) -> Scenario {
    let group = dir.join("fragment");
    std::fs::create_dir_all(&group).expect("mkdir");
    let path = group.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write");
    let mut suite = load_files(vec![(path, "fragment".into(), format!("fragment::{name}"))]);
    assert!(suite.errors.is_empty(), "{:?}\n{text}", suite.errors);
    suite.scenarios.remove(0)
}

fn run(scenario: &Scenario, url: &str) -> bitspec::outcome::ScenarioOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut options = RunOptions::new(url);
    options.step_timeout = std::time::Duration::from_secs(5);
    runtime.block_on(run_scenario(scenario, &options))
}

#[test]
fn a_failing_schedule_is_shrunk_to_a_reproducing_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = load(
        dir.path(),
        "001-generated",
        "id: generated\ntitle: t\nspec: s\nlevel: must\nfile: { size: 4000, seed: 5 }\nsteps:\n  - generate: { seed: 11, fragments: 30, max_fragment: 600 }\n",
    );
    let good = double(false);
    let buggy = double(true);
    assert_eq!(
        run(&scenario, &good).verdict,
        Verdict::Pass,
        "{:?}",
        run(&scenario, &good)
    );

    let outcome = run(&scenario, &buggy);
    assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
    let mismatch = &outcome.steps[0].mismatches[0];
    assert_eq!(mismatch.kind, "model");
    let note = outcome
        .notes
        .iter()
        .find(|n| n.contains("reproduces it"))
        .expect("a reproduction");
    let (summary, yaml) = note.split_once(":\n").expect("note then YAML");
    println!("{summary}\n{yaml}");
    // The bug needs a fragment in order and one of old data; greedy shrinking (remove
    // fragments, shorten them) ends 1-minimal, at two or three fragments of thirty.
    let kept: usize = summary
        .split("from 30 to ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("shrunk size in the note");
    assert!((2..=3).contains(&kept), "{summary}");
    assert!(yaml.matches("packet: Fragment").count() <= 3, "{yaml}");

    let repro = load(dir.path(), "002-repro", yaml);
    assert_eq!(
        run(&repro, &buggy).verdict,
        Verdict::Fail,
        "reproduces the failure"
    );
    assert_eq!(
        run(&repro, &good).verdict,
        Verdict::Pass,
        "and passes on a correct server"
    );
}
