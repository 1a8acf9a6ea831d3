//! A farm node killed with SIGKILL at any point loses no acknowledged byte
//! (issue 17): real binaries on one PostgreSQL and one shared root; the
//! killed node is landed exactly inside a fragment's commit (the
//! `BITSPEC_SERVER_CRASH_AT` points of `farm/records.rs`) and inside a
//! publish, or killed while a body streams in; the upload then finishes
//! through another node, byte-identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::postgres::Postgres;
use common::{Conn, data, fragment_head, start_binary};

/// Starts node `name` of the farm on `db` in `root`.
async fn node(
    root: &Path,
    db: &Postgres,
    name: &str,
    crash_at: Option<&str>,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let args = [
        "--storage",
        "postgres",
        "--postgres-url",
        db.url(),
        "--node-name",
        name,
        "--workers",
        "1",
    ];
    start_binary(root, &args, crash_at).await
}

fn next_byte(db: &Postgres, id: &str) -> String {
    db.query(&format!(
        "SELECT next FROM bitspec_sessions WHERE id = '{id}'"
    ))
    .unwrap()
}

/// Killed after the bytes are written, after they are synced, after `next`
/// is committed (the Ack not sent): the database never claims a byte the
/// file lacks, nothing acknowledged is lost, and the client's retry through
/// another node completes the file.
#[tokio::test]
async fn a_node_killed_inside_a_fragment_commit_loses_no_acknowledged_byte() {
    let Some(db) = Postgres::start() else {
        return;
    };
    let bytes = data(300_000, 21);
    let path = "/k.bin";
    for (point, committed) in [
        ("farm-written", false),
        ("farm-synced", false),
        ("farm-committed", true),
    ] {
        let root = tempfile::tempdir().unwrap();
        let (mut doomed, doomed_addr) = node(root.path(), &db, "node-1", Some(point)).await;
        let (mut survivor, survivor_addr) = node(root.path(), &db, "node-2", None).await;
        let mut two = Conn::open(survivor_addr).await;
        let id = two.create(path).await;
        two.fragment(path, &id, &bytes, 0, 99_999)
            .await
            .assert_received(200, 100_000);
        let mut one = Conn::open(doomed_addr).await;
        let mut request = fragment_head(path, &id, 100_000, 199_999, 300_000).into_bytes();
        request.extend_from_slice(&bytes[100_000..200_000]);
        let answer = one.try_raw(&request).await;
        assert!(answer.is_none(), "{point}: answered {answer:?}");
        assert!(!doomed.wait().await.unwrap().success(), "{point}: killed");
        let next = next_byte(&db, &id);
        let expected = if committed { "200000" } else { "100000" };
        assert_eq!(next, expected, "{point}: the database's next byte");
        // The client resends the unacknowledged fragment through node 2.
        two.fragment(path, &id, &bytes, 100_000, 199_999)
            .await
            .assert_received(200, 200_000);
        two.fragment(path, &id, &bytes, 200_000, 299_999)
            .await
            .assert_received(200, 300_000);
        two.close(path, &id).await.assert_ack(200);
        let got = two.get(path, &[]).await;
        assert!(got.body == bytes, "{point}: byte-identical");
        survivor.kill().await.unwrap();
    }
}

/// Killed while a large fragment's body streams in (so while it holds the
/// session's lock): PostgreSQL drops the lock with the connection, another
/// node continues at once from the last acknowledged byte, and the partial
/// bytes the dead node wrote are cut off, not published.
#[tokio::test]
async fn a_node_killed_mid_body_releases_the_session_to_the_others() {
    let Some(db) = Postgres::start() else {
        return;
    };
    const TOTAL: usize = 4_000_000;
    let bytes = data(TOTAL, 33);
    let path = "/mid.bin";
    for delay in [0_u64, 50, 300] {
        let root = tempfile::tempdir().unwrap();
        let (mut doomed, doomed_addr) = node(root.path(), &db, "node-1", None).await;
        let (mut survivor, survivor_addr) = node(root.path(), &db, "node-2", None).await;
        let mut one = Conn::open(doomed_addr).await;
        let id = one.create(path).await;
        one.fragment(path, &id, &bytes, 0, 999_999)
            .await
            .assert_received(200, 1_000_000);
        // Half of the next fragment's body, then the kill.
        let head = fragment_head(path, &id, 1_000_000, 2_999_999, TOTAL as u64);
        one.write(head.as_bytes()).await;
        one.write(&bytes[1_000_000..2_000_000]).await;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        doomed.kill().await.unwrap();
        assert_eq!(next_byte(&db, &id), "1000000", "delay {delay}");
        let mut two = Conn::open(survivor_addr).await;
        let resumed = tokio::time::timeout(
            Duration::from_secs(20),
            two.fragment(path, &id, &bytes, 1_000_000, TOTAL - 1),
        )
        .await
        .expect("the dead node's lock is released");
        resumed.assert_received(200, TOTAL as u64);
        two.close(path, &id).await.assert_ack(200);
        assert!(
            std::fs::read(root.path().join("mid.bin")).unwrap() == bytes,
            "delay {delay}: byte-identical"
        );
        survivor.kill().await.unwrap();
    }
}

/// Killed inside the publish of a Close: the Close retried on another node
/// publishes the whole file.
#[tokio::test]
async fn a_node_killed_inside_a_publish_leaves_the_close_to_another_node() {
    let Some(db) = Postgres::start() else {
        return;
    };
    let bytes = data(200_000, 44);
    let path = "/p.bin";
    for point in [
        "publish-before-link",
        "publish-linked",
        "publish-before-record",
    ] {
        let root = tempfile::tempdir().unwrap();
        let (mut doomed, doomed_addr) = node(root.path(), &db, "node-1", Some(point)).await;
        let (mut survivor, survivor_addr) = node(root.path(), &db, "node-2", None).await;
        let mut two = Conn::open(survivor_addr).await;
        let id = two.create(path).await;
        two.fragment(path, &id, &bytes, 0, 199_999)
            .await
            .assert_received(200, 200_000);
        let close = format!(
            "BITS_POST {path} HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Close-Session\r\n\
             BITS-Session-Id: {id}\r\nContent-Length: 0\r\n\r\n"
        );
        let answer = Conn::open(doomed_addr)
            .await
            .try_raw(close.as_bytes())
            .await;
        assert!(answer.is_none(), "{point}: answered {answer:?}");
        assert!(!doomed.wait().await.unwrap().success());
        let got = two.get(path, &[]).await;
        assert!(
            got.status == 404 || got.body == bytes,
            "{point}: a whole file or none"
        );
        two.close(path, &id).await.assert_ack(200);
        assert!(two.get(path, &[]).await.body == bytes, "{point}");
        survivor.kill().await.unwrap();
    }
}
