//! Hostile clients against the server's bounds: silent connections, trickling
//! bodies and session floods from some addresses, while a monitor client on
//! another must keep being served. Flooders connect from 127.0.0.2 and up
//! (all loopback on Linux) to 127.0.0.1; every count and wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Conn, PROTOCOL, TestServer, data};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection to `server` from the loopback address `source`.
async fn connect_from(source: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().expect("source address"))?;
    socket.connect(server).await
}

/// Opens a connection from 127.0.0.1 and pings; the time it took.
async fn monitor_ping(server: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut conn = Conn::open(server).await;
    conn.bits("/monitor.bin", "Ping", &[], b"")
        .await
        .assert_ack(200);
    started.elapsed()
}

/// 2,100 silent connections from one address (more than the 2,048 slots of a
/// two-worker server) and 200 bodies held open from another: each address
/// gets its quota, the rest are answered 503 at once, and a monitor client
/// keeps being served, while the flooder keeps reconnecting. Before the
/// per-address quota the monitor waited for the header timeout (30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_do_not_lock_out_another_client() {
    let _ = rlimit::increase_nofile_limit(16_384);
    let server = TestServer::with(|c| c.workers = 2).await;
    let addr = server.addr();
    let mut silent = Vec::new();
    for _ in 0..2_100 {
        match connect_from("127.0.0.2", addr).await {
            Ok(stream) => silent.push(stream),
            Err(e) => panic!("flood connection {}: {e}", silent.len()),
        }
    }
    // A second address holds bodies open: a Fragment head announcing a
    // megabyte, then one byte, on 200 connections.
    let mut owner = Conn::over(connect_from("127.0.0.3", addr).await.unwrap());
    let id = owner.create("/held.bin").await;
    let head = common::fragment_head("/held.bin", &id, 0, 999_999, 1_000_000);
    for _ in 0..200 {
        let mut stream = connect_from("127.0.0.3", addr).await.unwrap();
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(b"x").await;
        silent.push(stream);
    }
    // The flooder keeps reconnecting while the monitor pings.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && held.len() < 2_000 {
                if let Ok(stream) = connect_from("127.0.0.2", addr).await {
                    held.push(stream);
                }
                tokio::task::yield_now().await;
            }
            held.len()
        })
    };
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let took = tokio::time::timeout(Duration::from_secs(5), monitor_ping(addr))
            .await
            .expect("the monitor is served within 5 s");
        worst = worst.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reconnected = flooder.await.unwrap();
    // A connection beyond the quota has its answer: 503 with Retry-After.
    let mut refused = 0;
    for stream in silent.iter_mut().skip(2_000).take(50) {
        let mut answer = vec![0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer)).await;
        if let Ok(Ok(n)) = read {
            let text = String::from_utf8_lossy(&answer[..n]);
            if text.starts_with("HTTP/1.1 503") && text.contains("Retry-After:") {
                refused += 1;
            }
        }
    }
    println!(
        "2,100 silent connections (+{reconnected} reconnections) from 127.0.0.2 \
         and 200 held bodies from 127.0.0.3: the monitor's slowest ping took {worst:?}; \
         {refused}/50 of the last silent ones were answered 503"
    );
    assert_eq!(refused, 50, "connections over the quota get 503");
    assert!(worst < Duration::from_secs(5));
}

/// A body trickling 50 bytes a second, never idle long enough for the idle
/// timeout: it ends when its length at `min_bytes_per_second` (plus the idle
/// timeout) has passed, with 503 and Retry-After, and the bytes received stay.
#[tokio::test]
async fn a_trickling_body_ends_at_the_minimum_rate() {
    let server = TestServer::with(|c| {
        c.min_bytes_per_second = 1_000;
        c.body_idle_timeout = 1;
    })
    .await;
    let file = data(2_000, 7);
    let mut conn = server.conn().await;
    let id = conn.create("/trickle.bin").await;
    let head = common::fragment_head("/trickle.bin", &id, 0, 1_999, 2_000);
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for chunk in file.chunks(10) {
            if writer.write_all(chunk).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let mut answer = vec![0u8; 1024];
    let read = async {
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut answer)).await;
        (read, started.elapsed())
    };
    let (_, (read, took)) =
        tokio::join!(tokio::time::timeout(Duration::from_secs(10), trickle), read,);
    let n = read.expect("an answer within 10 s").unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    println!("a body at 50 B/s (minimum 1,000 B/s, 2,000 bytes) ended after {took:?}");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("retry-after:") || text.contains("Retry-After:"));
    assert!(took < Duration::from_secs(6), "{took:?}");
    // The client resumes from what arrived and finishes.
    let mut conn = server.conn().await;
    let reply = conn.fragment("/trickle.bin", &id, &file, 0, 1_999).await;
    reply.assert_received(200, 2_000);
    conn.close("/trickle.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("trickle.bin")).unwrap(), file);
}

/// Eight addresses create sessions as fast as they can; a victim on another
/// address has a half-finished upload. The flooders get 503 beyond their
/// share, the cleanup (every second here) never deletes the victim's
/// session, which finishes intact, and the sessions folder stays bounded.
#[tokio::test]
async fn a_session_flood_evicts_no_one_and_stays_bounded() {
    let server = TestServer::with(|c| {
        c.cleanup_interval = 1;
        c.max_sessions = 200;
    })
    .await;
    let file = data(10_000, 3);
    let mut victim = server.conn().await;
    let id = victim.create("/victim.bin").await;
    victim
        .fragment("/victim.bin", &id, &file, 0, 4_999)
        .await
        .assert_received(200, 5_000);
    let (mut created, mut refused) = (0, 0);
    for flooder in 2..10 {
        let source = format!("127.0.0.{flooder}");
        let stream = connect_from(&source, server.addr()).await.unwrap();
        let mut conn = Conn::over(stream);
        for i in 0..100 {
            let reply = conn
                .bits(
                    &format!("/junk/{flooder}-{i}.bin"),
                    "Create-Session",
                    &[("BITS-Supported-Protocols", PROTOCOL)],
                    b"",
                )
                .await;
            match reply.status {
                200 => created += 1,
                503 => {
                    assert!(reply.header("Retry-After").is_some());
                    refused += 1;
                }
                other => panic!("Create-Session answered {other}"),
            }
        }
    }
    // Two cleanup passes.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let sessions = server.path("BITS-Sessions");
    let (entries, bytes) = usage(&sessions);
    println!(
        "800 Create-Session from 8 addresses: {created} created, {refused} refused (503); \
         BITS-Sessions holds {entries} entries, {bytes} bytes"
    );
    victim
        .fragment("/victim.bin", &id, &file, 5_000, 9_999)
        .await
        .assert_received(200, 10_000);
    victim.close("/victim.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("victim.bin")).unwrap(), file);
    assert!(created <= 200, "{created} sessions created");
    assert!(entries <= 3 * 201 + 2, "{entries} entries");
}

/// A fragment that would take the unfinished uploads past
/// `max_temporary_storage` gets 503 0x80070070 with Retry-After; once another
/// upload closes, the same fragment is taken.
#[tokio::test]
async fn the_temporary_storage_quota_refuses_then_admits() {
    let server = TestServer::with(|c| c.max_temporary_storage = 100_000).await;
    let (big, other) = (data(60_000, 1), data(50_000, 2));
    let mut conn = server.conn().await;
    let first = conn.create("/first.bin").await;
    conn.fragment("/first.bin", &first, &big, 0, 59_999)
        .await
        .assert_received(200, 60_000);
    let second = conn.create("/second.bin").await;
    let reply = conn
        .fragment("/second.bin", &second, &other, 0, 49_999)
        .await;
    reply.assert_error(503, "0x80070070", "0x5");
    assert!(reply.header("Retry-After").is_some());
    conn.close("/first.bin", &first).await.assert_ack(200);
    conn.fragment("/second.bin", &second, &other, 0, 49_999)
        .await
        .assert_received(200, 50_000);
    conn.close("/second.bin", &second).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("second.bin")).unwrap(), other);
}

/// Entries (files and folders) and bytes under `dir`.
fn usage(dir: &std::path::Path) -> (u64, u64) {
    let (mut entries, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        entries += 1;
        bytes += meta.len();
        if meta.is_dir() {
            let (e, b) = usage(&entry.path());
            entries += e;
            bytes += b;
        }
    }
    (entries, bytes)
}

/// A connection that never sends a byte is closed at `header_read_timeout`,
/// as one that sent part of a head is (`requests.rs`): the idle deadline of a
/// connection without a full request head.
#[tokio::test]
async fn a_silent_connection_is_closed_at_the_header_timeout() {
    let server = TestServer::with(|c| c.header_read_timeout = 1).await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "closed without an answer: {read:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}
