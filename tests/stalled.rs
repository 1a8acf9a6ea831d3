//! Verdicts come fast against targets that stall: the whole default `bitspec run
//! --target` against a server whose error Acks have no Content-Length (the connection
//! kept open), one that hangs on every request, one that trickles its headers, and
//! one that answers the opening Ping and then hangs. Each server runs in this process
//! on 127.0.0.1 and serves a bounded number of connections; the wall time of each run
//! is printed (`--nocapture`).

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::time::{Duration, Instant};
use support::{bitspec, double, text};

/// Connections each stalling server accepts before it stops accepting.
const MAX_CONNECTIONS: usize = 64;
/// How long a stalling server holds a connection (longer than any bound below).
const HOLD: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Copy)]
enum Stall {
    /// Reads the request, answers nothing.
    Hang,
    /// Sends a status line, then a byte a second.
    TrickleHead,
    /// Answers the first request of the first connection (the opening Ping), then hangs.
    AnswerPingThenHang,
}

fn read_head(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

fn stall(mut stream: TcpStream, how: Stall, first: bool) {
    let until = Instant::now() + HOLD;
    if !read_head(&mut stream) {
        return;
    }
    match how {
        Stall::Hang => {}
        Stall::TrickleHead => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
            while Instant::now() < until {
                if stream.write_all(b"X").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Stall::AnswerPingThenHang if first => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nBITS-Packet-Type: Ack\r\nContent-Length: 0\r\n\r\n",
            );
            let _ = read_head(&mut stream);
        }
        Stall::AnswerPingThenHang => {}
    }
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
}

/// Starts a stalling server; its URL.
fn stalling(how: Stall) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://{}/up/", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(MAX_CONNECTIONS).enumerate() {
            if let Ok(stream) = stream {
                std::thread::spawn(move || stall(stream, how, i == 0));
            }
        }
    });
    url
}

/// Runs the suite against `url` with `extra` options; the output and the wall time.
fn run(name: &str, url: &str, extra: &[&str]) -> (Output, Duration) {
    let reports = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["run", "--target", url];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = bitspec(&args, reports.path());
    let took = started.elapsed();
    println!(
        "{name}: {:.1} s, exit {:?}",
        took.as_secs_f64(),
        out.status.code()
    );
    (out, took)
}

/// The last line of stderr.
fn last_error_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn error_acks_without_content_length_fail_fast_naming_it() {
    let server = double::start(double::Bug::NoLengthOnErrors);
    let (out, took) = run("no Content-Length on error Acks", &server.url, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(took < Duration::from_secs(30), "took {took:?}:\n{all}");
    let named = all
        .lines()
        .filter(|l| l.contains("header Content-Length: expected present (MUST: every Ack carries"))
        .collect::<Vec<_>>();
    assert!(named.len() >= 3, "failures naming Content-Length:\n{all}");
    assert!(
        named
            .iter()
            .all(|l| l.contains("the connection was still open 1.0s after the last byte")),
        "with the transport detail:\n{named:#?}"
    );
    assert!(
        !all.contains("at the step's timeout"),
        "nothing waits for the step timeout:\n{all}"
    );
}

/// A default run against a server stalling this way: exit 3 in under a minute, with
/// one closing error line that gives `why`; the whole output and that line are returned.
fn ends_with_exit_3(stall: Stall, label: &str, why: &str) -> (String, String) {
    let url = stalling(stall);
    let (out, took) = run(label, &url, &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    assert!(took < Duration::from_secs(60), "took {took:?}:\n{all}");
    let line = last_error_line(&out);
    assert!(
        line.starts_with("error: target stopped answering at ") && line.contains(why),
        "{line}"
    );
    (all, line)
}

#[test]
fn a_target_that_hangs_on_every_request_ends_the_run_with_exit_3() {
    let (all, line) = ends_with_exit_3(Stall::Hang, "hangs on every request", "no response within");
    assert!(line.contains("scenarios not run"), "{line}");
    assert!(
        all.contains("not run: target stopped answering at "),
        "{all}"
    );
}

#[test]
fn a_target_that_trickles_its_headers_ends_the_run_with_exit_3() {
    ends_with_exit_3(
        Stall::TrickleHead,
        "trickles its headers",
        "the response head was still incomplete",
    );
}

#[test]
fn a_target_that_stops_answering_mid_run_stops_it_after_timeouts_in_a_row() {
    let url = stalling(Stall::AnswerPingThenHang);
    let (out, took) = run(
        "answers the Ping, then hangs",
        &url,
        &["--step-timeout", "2", "--max-timeouts", "3"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(3), "{all}");
    // The first wave of four scenarios times out together: one step timeout, not 129.
    assert!(took < Duration::from_secs(30), "took {took:?}:\n{all}");
    let line = last_error_line(&out);
    assert!(
        line.contains("3 exchanges in a row timed out with none answered between them"),
        "{line}"
    );
    let not_run = all
        .lines()
        .filter(|l| l.contains("not run: target stopped answering at"))
        .count();
    assert!(not_run > 100, "{not_run} not run:\n{all}");
}
