//! Durability: sessions survive kill -9; expiry and cleanup delete them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Conn, TestServer, data, start_binary};

#[tokio::test]
async fn kill_9_mid_upload_then_resume_gives_identical_file() {
    let root = tempfile::tempdir().unwrap();
    let bytes = data(1_000_000, 42);
    let (mut child, addr) = start_binary(root.path(), &[], None).await;
    let mut conn = Conn::open(addr).await;
    let id = conn.create("/dur/file.bin").await;
    for first in (0..600_000).step_by(200_000) {
        conn.fragment("/dur/file.bin", &id, &bytes, first, first + 199_999)
            .await
            .assert_received(200, first as u64 + 200_000);
    }
    // A fragment in flight: headers and part of the body, then kill -9.
    let head = common::fragment_head("/dur/file.bin", &id, 600_000, 799_999, 1_000_000);
    conn.write(head.as_bytes()).await;
    conn.write(&bytes[600_000..650_000]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.unwrap(); // SIGKILL
    drop(conn);

    let (mut child, addr) = start_binary(root.path(), &[], None).await;
    let mut conn = Conn::open(addr).await;
    conn.bits("/dur/file.bin", "Ping", &[], b"")
        .await
        .assert_ack(200);
    let reply = conn
        .fragment("/dur/file.bin", &id, &bytes, 900_000, 999_999)
        .await;
    reply.assert_ack(416);
    let resume: usize = reply
        .header("BITS-Received-Content-Range")
        .unwrap()
        .parse()
        .unwrap();
    assert!((600_000..=650_000).contains(&resume), "resume at {resume}");
    let mut first = resume;
    while first < bytes.len() {
        let last = (first + 150_000).min(bytes.len()) - 1;
        conn.fragment("/dur/file.bin", &id, &bytes, first, last)
            .await
            .assert_received(200, last as u64 + 1);
        first = last + 1;
    }
    conn.close("/dur/file.bin", &id).await.assert_ack(200);
    assert!(std::fs::read(root.path().join("dur/file.bin")).unwrap() == bytes);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_and_restart_keep_sessions() {
    let root = tempfile::tempdir().unwrap();
    let config = |root: &Path| bitspec_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.to_path_buf(),
        ..bitspec_server::Config::default()
    };
    let bytes = data(100, 1);
    let server = bitspec_server::spawn(config(root.path())).await.unwrap();
    let mut conn = Conn::open(server.local_addr()).await;
    let id = conn.create("/restart.bin").await;
    conn.fragment("/restart.bin", &id, &bytes, 0, 49)
        .await
        .assert_received(200, 50);
    drop(conn);
    server.shutdown().await;
    let server = bitspec_server::spawn(config(root.path())).await.unwrap();
    let mut conn = Conn::open(server.local_addr()).await;
    conn.fragment("/restart.bin", &id, &bytes, 50, 99)
        .await
        .assert_received(200, 100);
    conn.close("/restart.bin", &id).await.assert_ack(200);
    assert_eq!(
        std::fs::read(root.path().join("restart.bin")).unwrap(),
        bytes
    );
}

#[tokio::test]
async fn expired_session_is_not_found_on_access() {
    let server = TestServer::with(|c| c.session_timeout = 1).await;
    let mut conn = server.conn().await;
    let id = conn.create("/exp.bin").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    conn.fragment("/exp.bin", &id, b"abc", 0, 2)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    assert!(!server.path("BITS-Sessions").join(&id).exists());
}

#[tokio::test]
async fn progress_keeps_a_session_alive() {
    let server = TestServer::with(|c| c.session_timeout = 2).await;
    let mut conn = server.conn().await;
    let bytes = data(4, 0);
    let id = conn.create("/alive.bin").await;
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        conn.fragment("/alive.bin", &id, &bytes, i, i)
            .await
            .assert_received(200, i as u64 + 1);
    }
    conn.close("/alive.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("alive.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn cleanup_removes_expired_sessions_tombstones_and_excess() {
    let server = TestServer::with(|c| {
        c.session_timeout = 1;
        c.closed_session_retention = 1;
        c.cleanup_interval = 1;
    })
    .await;
    let mut conn = server.conn().await;
    let stale = conn.create("/stale.bin").await;
    let closed = common::upload(&mut conn, "/closed.bin", b"xyz", 3).await;
    let sessions = server.path("BITS-Sessions");
    assert!(sessions.join(&stale).exists() && sessions.join(&closed).exists());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!sessions.join(&stale).exists(), "expired session kept");
    assert!(!sessions.join(&closed).exists(), "old tombstone kept");
    conn.close("/closed.bin", &closed)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    assert!(server.path("closed.bin").exists());

    // Four sessions under a limit of 4, then a restart with a limit of 2: the
    // cleanup deletes the two least recently active (a Create beyond the
    // limit is refused, so only a restart or a lowered limit leaves excess).
    let root = tempfile::tempdir().unwrap();
    let server = bitspec_server::spawn(bitspec_server::Config {
        sessions_per_user_limit: 4,
        ..common::config_in(root.path())
    })
    .await
    .unwrap();
    let mut conn = Conn::open(server.local_addr()).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(conn.create(&format!("/many{i}.bin")).await);
        if i == 1 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    }
    conn.bits(
        "/many4.bin",
        "Create-Session",
        &[("BITS-Supported-Protocols", common::PROTOCOL)],
        b"",
    )
    .await
    .assert_ack(503);
    server.shutdown().await;
    let server = bitspec_server::spawn(bitspec_server::Config {
        sessions_per_user_limit: 2,
        cleanup_interval: 1,
        ..common::config_in(root.path())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let sessions = root.path().join("BITS-Sessions");
    let alive: Vec<bool> = ids.iter().map(|id| sessions.join(id).exists()).collect();
    assert_eq!(alive, [false, false, true, true]);
    server.shutdown().await;
}

/// Entries planted under the sessions folder (symlinks to outside) are skipped by
/// the cleanup, which still deletes the expired session, and are never followed.
#[tokio::test]
async fn planted_symlinks_do_not_stop_the_cleanup() {
    let server = TestServer::with(|c| {
        c.session_timeout = 1;
        c.cleanup_interval = 1;
    })
    .await;
    let mut conn = server.conn().await;
    let stale = conn.create("/stale.bin").await;
    let sessions = server.path("BITS-Sessions");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep.txt"), b"outside").unwrap();
    // Enough of them that the expired session is almost never listed first.
    for i in 0..20 {
        let name = format!("{{{i:08X}-0000-4000-8000-000000000000}}");
        std::os::unix::fs::symlink(outside.path(), sessions.join(name)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        !sessions.join(&stale).exists(),
        "the expired session was kept"
    );
    assert_eq!(
        std::fs::read(outside.path().join("keep.txt")).unwrap(),
        b"outside"
    );
}

/// Shutdown lets a fragment already being received finish and be acknowledged,
/// then every worker stops listening.
#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_then_stops_listening() {
    let root = tempfile::tempdir().unwrap();
    let server = bitspec_server::spawn(bitspec_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.path().to_path_buf(),
        workers: 3,
        ..bitspec_server::Config::default()
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let bytes = data(100, 2);
    let mut conn = Conn::open(addr).await;
    let id = conn.create("/late.bin").await;
    let head = common::fragment_head("/late.bin", &id, 0, 99, 100);
    conn.write(head.as_bytes()).await;
    conn.write(&bytes[..50]).await;
    // Let the worker parse the head: a request not yet begun is not in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the request");
    conn.write(&bytes[50..]).await;
    conn.read(true)
        .await
        .expect("an Ack")
        .assert_received(200, 100);
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("shutdown within 15 s")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}
