//! The raw transport: properties of the parsers on arbitrary input (no input may panic;
//! bounded to a few seconds), and connection control against servers in this process:
//! `response: none`, `connection: closed`/`open`, `close-after`, and a raw request
//! arriving byte for byte as written.

use bitspec::raw::response::{ChunkedDecoder, framing, parse_head};
use bitspec::run::{RunOptions, run_scenario};
use bitspec::scenario::load::parse_str;
use bitspec::scenario::validate::{parse_range, split_range, validate};
use bitspec::scenario::{Scenario, load_files};
use bitspec::shared::outcome::Verdict;
use proptest::prelude::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that look like the start of a response more often than pure noise would.
fn response_bytes() -> impl Strategy<Value = Vec<u8>> {
    let prefix = prop_oneof![
        Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Just(b"HTTP/1.0 416\n".to_vec()),
        Just(b"\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n".to_vec()),
        Just(Vec::new()),
    ];
    (prefix, proptest::collection::vec(any::<u8>(), 0..512)).prop_map(|(mut p, rest)| {
        p.extend(rest);
        p
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_response_parser_never_panics(bytes in response_bytes(), method in "GET|HEAD|BITS_POST") {
        if let Ok(Some(head)) = parse_head(&bytes) {
            prop_assert!(head.len <= bytes.len());
            let _ = framing(&head, &method);
            let _ = head.closes_connection();
        }
    }

    #[test]
    fn header_lines_round_trip(name in "[A-Za-z][A-Za-z0-9-]{0,20}", value in "[ -~]{0,60}") {
        let text = format!("HTTP/1.1 200 OK\r\n{name}: {value}\r\n\r\n");
        let head = parse_head(text.as_bytes()).expect("valid").expect("complete");
        prop_assert_eq!(head.values(&name).next(), Some(value.trim()));
    }

    #[test]
    fn the_chunked_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), split in 0usize..512) {
        let mut decoder = ChunkedDecoder::default();
        let split = split.min(bytes.len());
        let mut total = 0usize;
        for part in [&bytes[..split], &bytes[split..]] {
            match decoder.feed(part, &mut |b| total += b.len()) {
                Ok(used) => prop_assert!(used <= part.len()),
                Err(_) => break,
            }
        }
        prop_assert!(total <= bytes.len());
    }

    #[test]
    fn range_parsers_never_panic(text in "[0-9$ {}a-z/-]{0,40}") {
        let _ = parse_range(&text);
        let _ = split_range(&text);
        let _ = bitspec_server::protocol::ContentRange::parse(&format!("bytes {text}"));
        let _ = bitspec_server::protocol::ContentRange::parse(&text);
    }

    #[test]
    fn well_formed_ranges_parse(first in 0u64..1 << 40, len in 1u64..1 << 20) {
        let last = first + len - 1;
        let r = parse_range(&format!("{first}-{last}")).expect("valid");
        prop_assert_eq!((r.first, r.last), (first, last));
        let c = bitspec_server::protocol::ContentRange::parse(&format!("bytes {first}-{last}/{}", last + 1)).expect("valid");
        prop_assert_eq!((c.first, c.last, c.total), (first, last, last + 1));
    }

    #[test]
    fn the_scenario_loader_never_panics(text in scenario_text()) {
        if let Ok(loaded) = parse_str(Arc::from("f.yaml"), Arc::from(text.as_str())) {
            let _ = validate(loaded, Path::new("f.yaml"), "ping", "ping::f");
        }
    }
}

/// Scenario-like YAML: a valid skeleton with fragments replaced by noise.
fn scenario_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("packet"),
        Just("range"),
        Just("raw"),
        Just("fault"),
        Just("generate"),
        Just("expect"),
        Just("connection"),
        Just("headers"),
        Just("capture"),
        Just("timeout"),
    ];
    let value = prop_oneof![
        "[ -~]{0,20}".prop_map(|s| format!("{s:?}")),
        Just("{ lines: [\"${host}\"], eol: lf }".to_owned()),
        Just("{ cut_after_body_bytes: 3 }".to_owned()),
        Just("{ seed: 1, fragments: 0 }".to_owned()),
        Just("${resume}-${last_byte}".to_owned()),
        Just("{ response: none, status: 200 }".to_owned()),
        Just("{ readings: [{ reading: a, cite: b, connection: open }] }".to_owned()),
        Just("close-after".to_owned()),
        Just("[1, {a: b}]".to_owned()),
    ];
    proptest::collection::vec((key, value), 0..5).prop_map(|pairs| {
        let mut text =
            "id: f\ntitle: t\nspec: s\nlevel: must\nfile: { size: 10 }\nsteps:\n  - packet: Ping\n"
                .to_owned();
        for (k, v) in pairs {
            text.push_str(&format!("    {k}: {v}\n"));
        }
        text
    })
}

/// A server that records what it received and answers each connection with `answer`.
fn server(answer: &'static [u8], close: bool) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let seen: Arc<Mutex<Vec<u8>>> = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().take(8).flatten() {
            let record = Arc::clone(&record);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(2).any(|w| w == b"\n\n")
                    && !got.windows(4).any(|w| w == b"\r\n\r\n")
                {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                record.lock().expect("lock").extend_from_slice(&got);
                let _ = stream.write_all(answer);
                if !close {
                    std::thread::sleep(Duration::from_secs(3));
                }
            });
        }
    });
    (url, seen)
}

fn scenario(text: &str) -> Scenario {
    let dir = tempfile::tempdir().expect("tempdir");
    let group = dir.path().join("raw");
    std::fs::create_dir(&group).expect("mkdir");
    let path = group.join("001-t.yaml");
    std::fs::write(
        &path,
        format!("id: t\ntitle: t\nspec: s\nlevel: must\nsteps:\n{text}"),
    )
    .expect("write");
    let mut suite = load_files(vec![(path, "raw".into(), "raw::001-t".into())]);
    assert!(suite.errors.is_empty(), "{:?}", suite.errors);
    suite.scenarios.remove(0)
}

fn run(scenario: &Scenario, url: &str) -> bitspec::shared::outcome::ScenarioOutcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut options = RunOptions::new(url, bitspec::check::judge());
    options.step_timeout = Duration::from_secs(2);
    runtime.block_on(run_scenario(scenario, &options))
}

const PING_ACK: &[u8] = b"HTTP/1.1 200 OK\r\nBITS-Packet-Type: Ack\r\nContent-Length: 0\r\n\r\n";

#[test]
fn raw_bytes_arrive_as_written() {
    let (url, seen) = server(PING_ACK, true);
    let s = scenario(
        "  - raw:\n      lines: [\"BITS_POST ${upload_path} HTTP/1.1\", \"X-A: 1\", \"X-A: 2\"]\n      eol: lf\n    expect: { status: 200 }\n",
    );
    let outcome = run(&s, &url);
    assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    let got = String::from_utf8(seen.lock().expect("lock").clone()).expect("text");
    let path = outcome
        .upload_url
        .splitn(4, '/')
        .nth(3)
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        got,
        format!("BITS_POST /{path} HTTP/1.1\nX-A: 1\nX-A: 2\n\n")
    );
    assert_eq!(
        outcome.steps[0].request.headers.len(),
        2,
        "the report shows what was sent"
    );
}

#[test]
fn the_server_must_close_and_the_server_must_answer_can_both_be_written() {
    // A server that answers and closes.
    let (url, _) = server(PING_ACK, true);
    let closed = scenario("  - packet: Ping\n    expect: { status: 200, connection: closed }\n");
    assert_eq!(run(&closed, &url).verdict, Verdict::Pass);
    let open = scenario("  - packet: Ping\n    expect: { status: 200, connection: open }\n");
    let outcome = run(&open, &url);
    assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
    assert_eq!(outcome.steps[0].mismatches[0].kind, "connection");

    // A server that closes without answering: `response: none` passes, `present` fails.
    let (url, _) = server(b"", true);
    let none = scenario("  - packet: Ping\n    expect: { response: none, connection: closed }\n");
    assert_eq!(run(&none, &url).verdict, Verdict::Pass);
    let must_answer = scenario("  - packet: Ping\n    expect: { response: present }\n");
    let outcome = run(&must_answer, &url);
    assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
    assert_eq!(outcome.steps[0].mismatches[0].kind, "response");
    // Without `response:`, no answer is an error with its reason.
    let implicit = scenario("  - packet: Ping\n    expect: { status: 200 }\n");
    let outcome = run(&implicit, &url);
    assert_eq!(outcome.verdict, Verdict::Error);
    assert!(
        outcome
            .reason
            .unwrap_or_default()
            .contains("closed the connection without answering")
    );

    // A server that stays silent: `response: none` with `connection: open`.
    let (url, _) = server(b"", false);
    let silent = scenario(
        "  - packet: Ping\n    timeout: 0.5\n    expect: { response: none, connection: open }\n",
    );
    assert_eq!(run(&silent, &url).verdict, Verdict::Pass);
}

#[test]
fn close_after_and_new_open_fresh_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let connections = Arc::new(Mutex::new(0usize));
    let count = Arc::clone(&connections);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().take(8).flatten() {
            *count.lock().expect("lock") += 1;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(PING_ACK).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let s = scenario(concat!(
        "  - packet: Ping\n    expect: { status: 200 }\n",
        "  - packet: Ping\n    connection: close-after\n    expect: { status: 200 }\n",
        "  - packet: Ping\n    expect: { status: 200 }\n",
        "  - packet: Ping\n    connection: new\n    expect: { status: 200 }\n",
        "  - packet: Ping\n    expect: { status: 200 }\n",
    ));
    assert_eq!(run(&s, &url).verdict, Verdict::Pass);
    assert_eq!(
        *connections.lock().expect("lock"),
        3,
        "same, same+close, reopened, new, same"
    );
}
