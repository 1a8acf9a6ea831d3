//! A deliberately simple BITS server for testing the harness: mostly right, with
//! switchable bugs, so a test can check that the suite catches each one and says so.
//! It speaks just enough HTTP/1.1 for the runner (keep-alive, Content-Length bodies).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Which bug the double has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// None: right in everything the double implements.
    None,
    /// Fragment Acks leave out BITS-Received-Content-Range.
    NoReceivedRange,
    /// A fragment of old data (entirely before the offset the server expects) is
    /// acknowledged with its own end instead of that offset.
    OldDataRewinds,
    /// Error Acks (any status but 200) have no Content-Length, and the connection
    /// stays open (a common bug of small Python servers).
    NoLengthOnErrors,
}

/// A running double; the thread ends with the test process.
pub struct Double {
    pub url: String,
}

/// Starts the double on 127.0.0.1 with an ephemeral port.
pub fn start(bug: Bug) -> Double {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let received: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let received = Arc::clone(&received);
            std::thread::spawn(move || serve(stream, bug, &received));
        }
    });
    Double { url }
}

/// `bytes first-last/total` as (first, last).
fn content_range(value: &str) -> Option<(u64, u64)> {
    let (range, _total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?))
}

/// Serves one connection; `received` is the next expected offset of each session (the
/// ids are unique across connections).
fn serve(stream: TcpStream, bug: Bug, received: &Mutex<HashMap<String, u64>>) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut headers = HashMap::new();
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
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
        let mut status = "200 OK";
        let mut extra = String::new();
        match packet.as_str() {
            "create-session" => {
                let mut map = received.lock().expect("lock");
                let id = format!("{{00000000-0000-4000-8000-{:012X}}}", map.len() + 1);
                map.insert(id.clone(), 0);
                extra = format!(
                    "BITS-Protocol: {{7df0354d-249b-430f-820d-3d2a9bef4931}}\r\nBITS-Session-Id: {id}\r\nAccept-Encoding: identity\r\n"
                );
            }
            "fragment" => match headers.get("content-range").and_then(|r| content_range(r)) {
                Some((first, last)) => {
                    let mut map = received.lock().expect("lock");
                    let expected = map.get(&session).copied().unwrap_or(0);
                    let reported = if first > expected {
                        // A gap: 416 with the offset to resume from.
                        status = "416 Requested Range Not Satisfiable";
                        expected
                    } else if last < expected {
                        // Old data: nothing written.
                        if bug == Bug::OldDataRewinds {
                            last + 1
                        } else {
                            expected
                        }
                    } else {
                        // In order or overlapping: written up to `last`.
                        map.insert(session, last + 1);
                        last + 1
                    };
                    if bug != Bug::NoReceivedRange {
                        extra = format!("BITS-Received-Content-Range: {reported}\r\n");
                    }
                }
                None => status = "400 Bad Request",
            },
            "ping" | "close-session" | "cancel-session" => {}
            _ => status = "400 Bad Request",
        }
        let length = if bug == Bug::NoLengthOnErrors && !status.starts_with("200") {
            ""
        } else {
            "Content-Length: 0\r\n"
        };
        let response = format!("HTTP/1.1 {status}\r\nBITS-Packet-Type: Ack\r\n{extra}{length}\r\n");
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
