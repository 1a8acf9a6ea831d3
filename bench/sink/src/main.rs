//! `bitspec-bench-sink`: the ceiling `bench/run.sh` compares the reference server with.
//!
//! A minimal hyper HTTP/1 server with no BITS logic: every request body is appended,
//! frame by frame as it arrives, to the file in `--dir` named after the request path
//! (the I/O pattern of a BITS server, one growing file per upload), or dropped with
//! `--discard`, which measures the load client alone. Every request gets the same
//! constant 200 answer. The answer carries a fixed `BITS-Session-Id` only so
//! that the unchanged `bitspec bench` client can run against it; nothing is parsed.
//!
//! ```sh
//! bitspec-bench-sink --listen 127.0.0.1:0 --dir /tmp/sink [--discard]
//! ```
//!
//! Writes are plain blocking `write(2)` calls on the runtime's threads, as nginx
//! does with request bodies: into the page cache they take microseconds, and no
//! copy or thread hop is added. Prints `listening on http://ADDR/` once bound.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

struct Sink {
    /// `None` discards bodies.
    dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn serve() -> Result<(), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (mut dir, mut discard) = (None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs ADDR")?;
                listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or("--dir needs DIR")?)),
            "--discard" => discard = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let dir = match (dir, discard) {
        (_, true) => None,
        (Some(dir), false) => Some(dir),
        (None, false) => return Err("give --dir DIR or --discard".into()),
    };
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let sink = Arc::new(Sink { dir });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}/");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let sink = Arc::clone(&sink);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let sink = Arc::clone(&sink);
                async move { Ok::<_, Infallible>(handle(&sink, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(sink: &Sink, req: Request<Incoming>) -> Response<Empty<Bytes>> {
    let name = req.uri().path().replace('/', "_");
    let status = match store(sink, &name, req.into_body()).await {
        Ok(()) => 200,
        Err(e) => {
            eprintln!("request failed: {e}");
            500
        }
    };
    let mut response = Response::new(Empty::new());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert("BITS-Packet-Type", http::HeaderValue::from_static("Ack"));
    headers.insert(
        "BITS-Session-Id",
        http::HeaderValue::from_static("{00000000-0000-4000-8000-000000000000}"),
    );
    headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(0));
    response
}

/// Appends the body to the file `name` (opened at its first byte), or drops it.
async fn store(sink: &Sink, name: &str, mut body: Incoming) -> Result<(), String> {
    let mut file = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        let (Some(dir), Some(data)) = (&sink.dir, frame.data_ref()) else {
            continue;
        };
        if file.is_none() {
            let path = dir.join(name);
            let opened = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path);
            file = Some(opened.map_err(|e| format!("{}: {e}", path.display()))?);
        }
        if let Some(f) = file.as_mut() {
            f.write_all(data).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
