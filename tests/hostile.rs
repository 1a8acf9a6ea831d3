//! The harness survives any target: against servers that hang, reset, send garbage,
//! trickle their head, send a 1 MiB header, answer HTTP/1.0, truncate their answer or
//! close without answering, every scenario ends with verdict `error` and a one-line
//! reason within its timeout; except that an Ack with no Content-Length on a connection
//! kept open is a failure naming Content-Length, a second after its last byte. Each misbehaving server runs in this process on
//! 127.0.0.1, serves a bounded number of connections, and the time to each verdict is
//! printed (run with `--nocapture` to see the table).

use bitspec::run::{RunOptions, run_scenario};
use bitspec::scenario::{Scenario, load_files};
use bitspec::shared::outcome::Verdict;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const STEP_TIMEOUT: Duration = Duration::from_millis(1500);
/// Generous: a verdict later than this means something waited for nothing.
const NO_HANG: Duration = Duration::from_secs(8);
/// Each server answers at most this many connections, then stops.
const MAX_CONNECTIONS: usize = 16;

#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Hang,
    Reset,
    Garbage,
    Trickle,
    HugeHeader,
    Http10,
    Truncated,
    CloseWithoutAnswer,
    NoLengthNeverCloses,
    BadChunks,
}

fn serve(listener: TcpListener, behaviour: Behaviour) {
    for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
        std::thread::spawn(move || misbehave(stream, behaviour));
    }
}

/// Reads until the end of a request head (or 2 s), so the request was really sent.
fn read_head(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

fn misbehave(mut stream: TcpStream, behaviour: Behaviour) {
    let ack = "BITS-Packet-Type: Ack\r\n";
    match behaviour {
        Behaviour::Hang => {
            read_head(&mut stream);
            std::thread::sleep(Duration::from_secs(10));
        }
        Behaviour::Reset => {
            // Closing with unread bytes makes the kernel send RST.
            std::thread::sleep(Duration::from_millis(50));
        }
        Behaviour::Garbage => {
            read_head(&mut stream);
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02garbage\r\n\r\n");
            std::thread::sleep(Duration::from_secs(3));
        }
        Behaviour::Trickle => {
            read_head(&mut stream);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            for _ in 0..100 {
                if stream.write_all(b"X").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Behaviour::HugeHeader => {
            read_head(&mut stream);
            let _ = stream.write_all(format!("HTTP/1.1 200 OK\r\n{ack}X-Big: ").as_bytes());
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..16 {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_secs(3));
        }
        Behaviour::Http10 => {
            read_head(&mut stream);
            let _ = stream
                .write_all(format!("HTTP/1.0 200 OK\r\n{ack}Content-Length: 0\r\n\r\n").as_bytes());
        }
        Behaviour::Truncated => {
            read_head(&mut stream);
            let _ = stream.write_all(
                format!("HTTP/1.1 200 OK\r\n{ack}Content-Length: 100\r\n\r\nabc").as_bytes(),
            );
        }
        Behaviour::CloseWithoutAnswer => {
            read_head(&mut stream);
        }
        Behaviour::NoLengthNeverCloses => {
            read_head(&mut stream);
            let _ = stream.write_all(
                format!("HTTP/1.1 500 Internal Server Error\r\n{ack}\r\nstill talking").as_bytes(),
            );
            std::thread::sleep(Duration::from_secs(10));
        }
        Behaviour::BadChunks => {
            read_head(&mut stream);
            let _ = stream.write_all(
                format!("HTTP/1.1 200 OK\r\n{ack}Transfer-Encoding: chunked\r\n\r\nzz\r\n")
                    .as_bytes(),
            );
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

fn scenarios() -> Vec<Scenario> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = [
        ("ping", "001-ping-ack"),
        ("fragment", "001-upload-three-fragments"),
        ("raw", "007-content-length-larger-than-body"),
        ("fragment", "042-resume-after-cut-mid-fragment"),
        ("fragment", "044-generated-schedules"),
    ]
    .iter()
    .map(|(group, stem)| {
        (
            root.join(format!("scenarios/{group}/{stem}.yaml")),
            group.to_string(),
            format!("{group}::{stem}"),
        )
    })
    .collect();
    let suite = load_files(files);
    assert!(suite.errors.is_empty(), "{:?}", suite.errors);
    suite.scenarios
}

#[test]
fn every_hostile_target_ends_in_a_one_line_error_within_the_timeout() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scenarios = scenarios();
    let behaviours = [
        Behaviour::Hang,
        Behaviour::Reset,
        Behaviour::Garbage,
        Behaviour::Trickle,
        Behaviour::HugeHeader,
        Behaviour::Http10,
        Behaviour::Truncated,
        Behaviour::CloseWithoutAnswer,
        Behaviour::NoLengthNeverCloses,
        Behaviour::BadChunks,
    ];
    // Every (behaviour, scenario) pair at once: the test takes about one step timeout.
    let mut runs = Vec::new();
    for behaviour in behaviours {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        std::thread::spawn(move || serve(listener, behaviour));
        for scenario in &scenarios {
            let mut options = RunOptions::new(&url, bitspec::check::judge());
            options.step_timeout = STEP_TIMEOUT;
            options.connect_timeout = Duration::from_secs(1);
            let scenario = scenario.clone();
            runs.push(runtime.spawn(async move {
                let started = Instant::now();
                let outcome = run_scenario(&scenario, &options).await;
                (behaviour, outcome, started.elapsed())
            }));
        }
    }
    let mut table = Vec::new();
    let mut framing_failures = 0;
    for run in runs {
        let (behaviour, outcome, took) = runtime.block_on(run).expect("no panic");
        let reason = outcome.reason.clone().unwrap_or_default();
        table.push(format!(
            "{behaviour:?} | {} | {} | {} ms | {reason}",
            outcome.name,
            outcome.verdict.as_str(),
            took.as_millis()
        ));
        let framing = outcome
            .failing_step()
            .is_some_and(|s| s.mismatches.iter().any(|m| m.kind == "framing"));
        if matches!(behaviour, Behaviour::NoLengthNeverCloses) && outcome.verdict == Verdict::Fail {
            // A generated schedule judges its model (the status) before the framing.
            let generated = outcome.tags.iter().any(|t| t == "generated");
            assert!(
                framing || generated,
                "{}: names Content-Length: {outcome:?}",
                outcome.name
            );
            framing_failures += usize::from(framing);
        } else {
            assert_eq!(
                outcome.verdict,
                Verdict::Error,
                "{behaviour:?} {}: {outcome:?}",
                outcome.name
            );
            assert!(
                !reason.is_empty() && !reason.contains('\n'),
                "{behaviour:?}: one line: {reason:?}"
            );
        }
        assert!(
            took < NO_HANG,
            "{behaviour:?} {} took {took:?}",
            outcome.name
        );
    }
    assert!(
        framing_failures >= 3,
        "an Ack without Content-Length is a failure naming it"
    );
    println!("behaviour | scenario | verdict | time | reason");
    for row in table {
        println!("{row}");
    }
}
