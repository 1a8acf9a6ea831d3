//! A small server application for upload-reply jobs (the notification target).
//!
//! It answers both notification types: by reference it reads
//! `BITS-Request-DataFile-Name` and writes the reply to
//! `BITS-Response-DataFile-Name`; by value it reads the body and returns the
//! reply as its body. The reply is one line: `received N bytes, fnv1a64 H`.
//! The request path selects a behaviour so tests can exercise each rule:
//!
//! * `/static`: answers `BITS-Static-Response-URL: http://replies.invalid/static`;
//! * `/copy`: also asks for `BITS-Copy-File-To-Destination`;
//! * `/fail/NNN`: answers status NNN with no reply;
//! * `/slow/SECS`: waits before answering (notification timeouts);
//! * anything else: the normal reply.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running example application.
#[derive(Debug)]
pub struct ExampleApp {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ExampleApp {
    /// `http://IP:PORT/` of the application.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Number of notifications received so far.
    pub fn notifications(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Stops the application.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts the application on `addr` (use `127.0.0.1:0`).
pub async fn spawn(addr: SocketAddr) -> std::io::Result<ExampleApp> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            let service = service_fn(move |req| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, Infallible>(answer(req).await) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(ExampleApp { addr, count, task })
}

async fn answer(req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_file = header("BITS-Request-DataFile-Name");
    let response_file = header("BITS-Response-DataFile-Name");
    if let Some(code) = path.strip_prefix("/fail/") {
        let status = code.parse().ok().and_then(|c| StatusCode::from_u16(c).ok());
        return respond(
            status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Bytes::new(),
        );
    }
    if let Some(secs) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_secs(secs.parse().unwrap_or(1))).await;
    }
    let upload = match &request_file {
        Some(file) => tokio::fs::read(file).await.map(Bytes::from),
        None => req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(std::io::Error::other),
    };
    let Ok(upload) = upload else {
        return respond(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new());
    };
    let mut response = if path == "/static" {
        let mut response = respond(StatusCode::OK, Bytes::new());
        response.headers_mut().insert(
            "BITS-Static-Response-URL",
            http::HeaderValue::from_static("http://replies.invalid/static"),
        );
        response
    } else {
        let reply = Bytes::from(summary(&upload));
        match &response_file {
            Some(file) => match tokio::fs::write(file, &reply).await {
                Ok(()) => respond(StatusCode::OK, Bytes::new()),
                Err(_) => respond(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new()),
            },
            None => respond(StatusCode::OK, reply),
        }
    };
    if path == "/copy" {
        response.headers_mut().insert(
            "BITS-Copy-File-To-Destination",
            http::HeaderValue::from_static("yes"),
        );
    }
    response
}

/// The reply text for an upload.
pub fn summary(upload: &[u8]) -> String {
    let hash = upload.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("received {} bytes, fnv1a64 {hash:016x}\n", upload.len())
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}
