//! Test support: a server on 127.0.0.1:0 in a temporary root, and a tiny
//! HTTP/1.1 client over a raw TcpStream, so tests can send exactly the odd
//! requests a BITS server must survive.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod farm;
pub mod postgres;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitspec_server::{Config, RunningServer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const PROTOCOL: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

/// The default configuration on 127.0.0.1:0, storing under `root`.
pub fn config_in(root: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        root: root.to_path_buf(),
        ..Config::default()
    }
}

/// A running server and its storage root.
pub struct TestServer {
    pub server: RunningServer,
    pub root: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(edit: impl FnOnce(&mut Config)) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = config_in(root.path());
        edit(&mut config);
        let server = bitspec_server::spawn(config).await.expect("spawn");
        Self { server, root }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub async fn conn(&self) -> Conn {
        Conn::open(self.addr()).await
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the shape every Ack has.
    pub fn assert_ack(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "status; headers {:?}", self.headers);
        assert_eq!(self.header("BITS-Packet-Type"), Some("Ack"));
        assert_eq!(self.header("Content-Length"), Some("0"));
        assert!(self.body.is_empty());
        self
    }

    /// Asserts the error headers.
    pub fn assert_error(&self, status: u16, code: &str, context: &str) -> &Self {
        self.assert_ack(status);
        assert_eq!(
            self.header("BITS-Error-Code"),
            Some(code),
            "{:?}",
            self.headers
        );
        assert_eq!(self.header("BITS-Error-Context"), Some(context));
        self
    }

    pub fn assert_received(&self, status: u16, next: u64) -> &Self {
        self.assert_ack(status);
        let expected = next.to_string();
        assert_eq!(
            self.header("BITS-Received-Content-Range"),
            Some(expected.as_str()),
            "{:?}",
            self.headers
        );
        self
    }
}

/// A byte stream a test connection runs over: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// One keep-alive connection.
pub struct Conn {
    stream: BufReader<Box<dyn Stream>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self::over(stream)
    }

    /// A connection over an established stream (a TLS one, say).
    pub fn over(stream: impl Stream + 'static) -> Self {
        Self {
            stream: BufReader::new(Box::new(stream)),
        }
    }

    /// Writes raw bytes and reads one response.
    pub async fn raw(&mut self, bytes: &[u8], head: bool) -> Reply {
        self.stream.get_mut().write_all(bytes).await.expect("write");
        self.read(head).await.expect("response")
    }

    /// Writes raw bytes and reads one response; `None` when the connection
    /// broke (for tests that kill the server).
    pub async fn try_raw(&mut self, bytes: &[u8]) -> Option<Reply> {
        self.stream.get_mut().write_all(bytes).await.ok()?;
        self.read(false).await
    }

    /// Writes raw bytes without waiting.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.expect("write");
    }

    /// Reads one response; `None` when the server closed the connection.
    pub async fn read(&mut self, head: bool) -> Option<Reply> {
        tokio::time::timeout(Duration::from_secs(20), self.read_inner(head))
            .await
            .expect("response within 20 s")
    }

    async fn read_inner(&mut self, head: bool) -> Option<Reply> {
        let mut line = String::new();
        if self.stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let status = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.ok()?;
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':')?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; if head { 0 } else { length }];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends a request with `Host` and `Content-Length` added.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes, method == "HEAD").await
    }

    /// A BITS_POST with a packet type.
    pub async fn bits(
        &mut self,
        path: &str,
        packet: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut all = vec![("BITS-Packet-Type", packet)];
        all.extend_from_slice(headers);
        self.request("BITS_POST", path, &all, body).await
    }

    /// Create-Session; returns the session id.
    pub async fn create(&mut self, path: &str) -> String {
        let reply = self
            .bits(
                path,
                "Create-Session",
                &[("BITS-Supported-Protocols", PROTOCOL)],
                b"",
            )
            .await;
        reply.assert_ack(200);
        reply
            .header("BITS-Session-Id")
            .expect("session id")
            .to_string()
    }

    /// Sends `data[first..=last]` of a file of `data.len()` bytes.
    pub async fn fragment(
        &mut self,
        path: &str,
        id: &str,
        data: &[u8],
        first: usize,
        last: usize,
    ) -> Reply {
        let range = format!("bytes {first}-{last}/{}", data.len());
        self.bits(
            path,
            "Fragment",
            &[("BITS-Session-Id", id), ("Content-Range", &range)],
            &data[first..=last],
        )
        .await
    }

    pub async fn close(&mut self, path: &str, id: &str) -> Reply {
        self.bits(path, "Close-Session", &[("BITS-Session-Id", id)], b"")
            .await
    }

    pub async fn cancel(&mut self, path: &str, id: &str) -> Reply {
        self.bits(path, "Cancel-Session", &[("BITS-Session-Id", id)], b"")
            .await
    }

    pub async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut text = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.raw(text.as_bytes(), false).await
    }
}

/// The head of a Fragment request for bytes `first..=last` of `total`, with
/// the matching Content-Length: for tests that send the body themselves.
pub fn fragment_head(path: &str, id: &str, first: u64, last: u64, total: u64) -> String {
    format!(
        "BITS_POST {path} HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Fragment\r\n\
         BITS-Session-Id: {id}\r\nContent-Range: bytes {first}-{last}/{total}\r\n\
         Content-Length: {}\r\n\r\n",
        last - first + 1
    )
}

/// Deterministic test data.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Uploads `data` in fragments of `chunk` bytes and closes; asserts every Ack.
pub async fn upload(conn: &mut Conn, path: &str, data: &[u8], chunk: usize) -> String {
    let id = conn.create(path).await;
    let mut first = 0;
    while first < data.len() {
        let last = (first + chunk).min(data.len()) - 1;
        conn.fragment(path, &id, data, first, last)
            .await
            .assert_received(200, last as u64 + 1);
        first = last + 1;
    }
    conn.close(path, &id).await.assert_ack(200);
    id
}

/// Starts the real binary on port 0 (with `args`, and the crash point of
/// `BITSPEC_SERVER_CRASH_AT` when given) and reads its address from stdout.
pub async fn start_binary(
    root: &Path,
    args: &[&str],
    crash_at: Option<&str>,
) -> (tokio::process::Child, SocketAddr) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bitspec-server"));
    command
        .args(["--listen", "127.0.0.1:0", "--root"])
        .arg(root)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    match crash_at {
        Some(point) => command.env("BITSPEC_SERVER_CRASH_AT", point),
        None => command.env_remove("BITSPEC_SERVER_CRASH_AT"),
    };
    let mut child = command.spawn().expect("spawn bitspec-server");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("startup line")
    .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    (child, addr)
}
