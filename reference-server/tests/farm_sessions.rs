//! A farm of bitspec-servers on one PostgreSQL database and one shared root
//! (issue 17): any node continues any session, Close on any node publishes,
//! every node serves the result. Real PostgreSQL (a throwaway cluster, or
//! `BITSPEC_POSTGRES_URL`); announced as NOT CHECKED without one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::data;
use common::farm::Farm;

/// Create on node 1, fragments on node 2, Close on node 3, GET from every node.
#[tokio::test]
async fn a_session_continues_on_any_node_and_every_node_serves_the_file() {
    let Some(farm) = Farm::start(3, |_| {}).await else {
        return;
    };
    let bytes = data(1_000_000, 3);
    let path = "/farm.bin";
    let created = farm
        .conn(1)
        .await
        .bits(
            path,
            "Create-Session",
            &[("BITS-Supported-Protocols", common::PROTOCOL)],
            b"",
        )
        .await;
    created.assert_ack(200);
    assert_eq!(created.header("BITS-Host-Id"), Some("node-1.farm.test"));
    assert_eq!(created.header("BITS-Host-Id-Fallback-Timeout"), Some("60"));
    let id = created.header("BITS-Session-Id").unwrap().to_string();
    let mut two = farm.conn(2).await;
    two.fragment(path, &id, &bytes, 0, 399_999)
        .await
        .assert_received(200, 400_000);
    // The next one through node 3, the last through node 1.
    farm.conn(3)
        .await
        .fragment(path, &id, &bytes, 400_000, 799_999)
        .await
        .assert_received(200, 800_000);
    // A replayed, already-received fragment on another node: the database's offset.
    two.fragment(path, &id, &bytes, 0, 99)
        .await
        .assert_received(200, 800_000);
    farm.conn(1)
        .await
        .fragment(path, &id, &bytes, 800_000, 999_999)
        .await
        .assert_received(200, 1_000_000);
    assert!(!farm.path("farm.bin").exists(), "published at Close");
    farm.conn(3).await.close(path, &id).await.assert_ack(200);
    // A retried Close on another node: the tombstone is shared.
    farm.conn(2).await.close(path, &id).await.assert_ack(200);
    for node in 1..=3 {
        let got = farm.conn(node).await.get(path, &[]).await;
        assert_eq!(got.status, 200, "GET from node {node}");
        assert!(
            got.body == bytes,
            "node {node} serves the upload byte-identical"
        );
        let head = farm.conn(node).await.request("HEAD", path, &[], b"").await;
        assert_eq!(
            head.header("Content-Length"),
            Some("1000000"),
            "HEAD on node {node}"
        );
    }
    farm.shutdown().await;
}

/// Two nodes race the same range of one session, round after round, each
/// with different bytes: under the reject policy exactly one gets 200 for
/// each offset and the other 416 at the new offset; the file is the winners'
/// chunks, never a mix (the advisory lock serialises the nodes).
#[tokio::test]
async fn two_nodes_racing_one_session_never_both_write_an_offset() {
    let Some(farm) = Farm::start(2, |c| c.overlap = bitspec_server::OverlapPolicy::Reject).await
    else {
        return;
    };
    const CHUNK: usize = 256 * 1024;
    const ROUNDS: usize = 12;
    let total = CHUNK * ROUNDS;
    let racers = [data(total, 1), data(total, 2)];
    let path = "/race.bin";
    let id = farm.conn(1).await.create(path).await;
    let mut one = farm.conn(1).await;
    let mut two = farm.conn(2).await;
    let mut expected = Vec::with_capacity(total);
    for round in 0..ROUNDS {
        let (first, last) = (round * CHUNK, round * CHUNK + CHUNK - 1);
        let (a, b) = tokio::join!(
            one.fragment(path, &id, &racers[0], first, last),
            two.fragment(path, &id, &racers[1], first, last)
        );
        let next = (last + 1) as u64;
        let winner = match (a.status, b.status) {
            (200, 416) => 0,
            (416, 200) => 1,
            other => panic!("round {round}: statuses {other:?}, {a:?} {b:?}"),
        };
        for reply in [&a, &b] {
            reply.assert_received(reply.status, next);
        }
        expected.extend_from_slice(&racers[winner][first..=last]);
    }
    farm.conn(2).await.close(path, &id).await.assert_ack(200);
    let got = farm.conn(1).await.get(path, &[]).await;
    assert!(got.body == expected, "the file is the winners' chunks");
    farm.shutdown().await;
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// A session stays its creator's on every node: another user gets 403 from
/// each of them for Fragment, Close and Cancel, and the owner finishes it.
#[tokio::test]
async fn a_session_of_user_a_is_out_of_reach_of_user_b_on_every_node() {
    let users = vec![
        bitspec_server::User {
            name: "alice".into(),
            password: "a-secret".into(),
            paths: Vec::new(),
        },
        bitspec_server::User {
            name: "bob".into(),
            password: "b-secret".into(),
            paths: Vec::new(),
        },
    ];
    let Some(farm) = Farm::start(3, |c| c.users = users.clone()).await else {
        return;
    };
    let (alice, bob) = (basic("alice", "a-secret"), basic("bob", "b-secret"));
    let path = "/shared.bin";
    let bytes = data(10_000, 5);
    let created = farm
        .conn(1)
        .await
        .bits(
            path,
            "Create-Session",
            &[
                ("BITS-Supported-Protocols", common::PROTOCOL),
                ("Authorization", &alice),
            ],
            b"",
        )
        .await;
    created.assert_ack(200);
    let id = created.header("BITS-Session-Id").unwrap().to_string();
    let range = "bytes 0-9999/10000";
    for node in 1..=3 {
        let mut conn = farm.conn(node).await;
        let fragment = conn
            .bits(
                path,
                "Fragment",
                &[
                    ("BITS-Session-Id", &id),
                    ("Content-Range", range),
                    ("Authorization", &bob),
                ],
                &bytes,
            )
            .await;
        fragment.assert_error(403, "0x80070005", "0x5");
        for packet in ["Close-Session", "Cancel-Session"] {
            conn.bits(
                path,
                packet,
                &[("BITS-Session-Id", &id), ("Authorization", &bob)],
                b"",
            )
            .await
            .assert_error(403, "0x80070005", "0x5");
        }
    }
    let mut conn = farm.conn(2).await;
    conn.bits(
        path,
        "Fragment",
        &[
            ("BITS-Session-Id", &id),
            ("Content-Range", range),
            ("Authorization", &alice),
        ],
        &bytes,
    )
    .await
    .assert_received(200, 10_000);
    farm.conn(3)
        .await
        .bits(
            path,
            "Close-Session",
            &[("BITS-Session-Id", &id), ("Authorization", &alice)],
            b"",
        )
        .await
        .assert_ack(200);
    assert!(std::fs::read(farm.path("shared.bin")).unwrap() == bytes);
    farm.shutdown().await;
}

/// Expiry and tombstones with three nodes cleaning: a session without
/// progress for `session_timeout` and a tombstone past its retention are
/// gone from the database and the shared root, and no node knows them.
#[tokio::test]
async fn expired_sessions_and_old_tombstones_are_cleaned_with_three_nodes_cleaning() {
    let Some(farm) = Farm::start(3, |c| {
        c.session_timeout = 2;
        c.closed_session_retention = 2;
        c.cleanup_interval = 1;
    })
    .await
    else {
        return;
    };
    let bytes = data(1000, 7);
    let mut conn = farm.conn(1).await;
    let idle = conn.create("/idle.bin").await;
    conn.fragment("/idle.bin", &idle, &bytes, 0, 499)
        .await
        .assert_received(200, 500);
    let closed = common::upload(&mut farm.conn(2).await, "/done.bin", &bytes, 400).await;
    let count = |farm: &Farm| {
        farm.db
            .query("SELECT count(*) FROM bitspec_sessions")
            .unwrap()
    };
    assert_eq!(count(&farm), "2");
    let folder = farm.path(&format!("BITS-Sessions/{idle}"));
    assert!(folder.exists());
    // Async waiting: the cleanup runs on this test's runtime.
    let mut gone = false;
    for _ in 0..200 {
        gone = count(&farm) == "0" && !folder.exists();
        if gone {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "cleaned: {} rows, folder {}",
        count(&farm),
        folder.exists()
    );
    for node in 1..=3 {
        let mut conn = farm.conn(node).await;
        conn.fragment("/idle.bin", &idle, &bytes, 500, 999)
            .await
            .assert_error(500, "0x8020001F", "0x5");
        conn.close("/done.bin", &closed)
            .await
            .assert_error(500, "0x8020001F", "0x5");
    }
    assert!(
        std::fs::read(farm.path("done.bin")).unwrap() == bytes,
        "the published file stays"
    );
    farm.shutdown().await;
}

/// A database error at the commit of a fragment is a 503 with Retry-After
/// and the BITS error headers, and nothing is acknowledged: the retried
/// fragment (through another node) lands, and the file is byte-identical.
#[tokio::test]
async fn a_database_error_is_a_retryable_503_and_loses_no_byte() {
    let Some(farm) = Farm::start(2, |_| {}).await else {
        return;
    };
    let bytes = data(300_000, 11);
    let path = "/retry.bin";
    let mut one = farm.conn(1).await;
    let id = one.create(path).await;
    one.fragment(path, &id, &bytes, 0, 99_999)
        .await
        .assert_received(200, 100_000);
    farm.db
        .query(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
             CREATE TRIGGER refuse BEFORE UPDATE ON bitspec_sessions \
             FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .unwrap();
    let refused = one.fragment(path, &id, &bytes, 100_000, 199_999).await;
    refused.assert_error(503, "0x80004005", "0x5");
    assert_eq!(refused.header("Retry-After"), Some("5"));
    assert_eq!(
        farm.db
            .query(&format!(
                "SELECT next FROM bitspec_sessions WHERE id = '{id}'"
            ))
            .unwrap(),
        "100000",
        "not advanced"
    );
    farm.db
        .query("DROP TRIGGER refuse ON bitspec_sessions")
        .unwrap();
    let mut two = farm.conn(2).await;
    two.fragment(path, &id, &bytes, 100_000, 199_999)
        .await
        .assert_received(200, 200_000);
    two.fragment(path, &id, &bytes, 200_000, 299_999)
        .await
        .assert_received(200, 300_000);
    one.close(path, &id).await.assert_ack(200);
    assert!(farm.conn(2).await.get(path, &[]).await.body == bytes);
    farm.shutdown().await;
}

/// A node whose database cannot be reached does not start, and says why.
#[tokio::test]
async fn a_node_without_its_database_does_not_start() {
    let root = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://nobody@127.0.0.1:{port}/none");
    let config = common::farm::node_config(root.path(), &url, 1);
    let error = bitspec_server::spawn(config).await.unwrap_err();
    assert!(
        error.to_string().contains("cannot reach PostgreSQL"),
        "{error}"
    );
}

/// Each node names itself in every log line (`--node-name`), so a farm's
/// logs can be told apart once gathered.
#[tokio::test]
async fn a_node_s_log_lines_carry_its_name() {
    use tokio::io::AsyncReadExt;
    let root = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bitspec-server"))
        .args(["--listen", "127.0.0.1:0", "--node-name", "east-7", "--root"])
        .arg(root.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), stdout.read(&mut byte))
            .await
            .expect("startup line")
            .unwrap();
        assert!(n == 1, "the server ended early");
        line.push(byte[0]);
    }
    let text = String::from_utf8(line).unwrap();
    let addr = text.trim().rsplit(' ').next().unwrap();
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = common::Conn::open(addr.parse().unwrap()).await;
    conn.bits("/x.bin", "Ping", &[], b"").await.assert_ack(200);
    child.start_kill().unwrap();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    let packet = logs
        .lines()
        .find(|l| l.contains("BITS packet"))
        .unwrap_or_else(|| panic!("no packet line in {logs}"));
    assert!(packet.contains("node{name=east-7}"), "{packet}");
    assert!(logs.contains("node=east-7"), "the listening line: {logs}");
}

/// Upload-reply in a farm: the final fragment on node 2 notifies the
/// application once; the reply is served by every node, and a replayed
/// final fragment on node 3 gets the same `BITS-Reply-URL` without a new
/// notification (the reply is in the shared row).
#[tokio::test]
async fn a_reply_made_on_one_node_is_served_by_every_node() {
    use bitspec_server::example_app;
    let app = example_app::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = app.base_url();
    let Some(farm) = Farm::start(3, |c| {
        c.notification_type = bitspec_server::NotificationType::ByValue;
        c.notification_url = Some(url.clone());
        c.notification_timeout = 5;
    })
    .await
    else {
        return;
    };
    let bytes = data(20_000, 8);
    let path = "/up/r.bin";
    let id = farm.conn(1).await.create(path).await;
    farm.conn(1)
        .await
        .fragment(path, &id, &bytes, 0, 9_999)
        .await
        .assert_received(200, 10_000);
    let last = farm
        .conn(2)
        .await
        .fragment(path, &id, &bytes, 10_000, 19_999)
        .await;
    last.assert_received(200, 20_000);
    let reply_url = last.header("BITS-Reply-URL").unwrap().to_string();
    let again = farm
        .conn(3)
        .await
        .fragment(path, &id, &bytes, 10_000, 19_999)
        .await;
    assert_eq!(again.header("BITS-Reply-URL"), Some(reply_url.as_str()));
    assert_eq!(app.notifications(), 1);
    let rest = reply_url.trim_start_matches("http://");
    let reply_path = &rest[rest.find('/').unwrap()..];
    let expected = example_app::summary(&bytes);
    for node in 1..=3 {
        let got = farm.conn(node).await.get(reply_path, &[]).await;
        assert_eq!(got.status, 200, "node {node}");
        assert_eq!(
            String::from_utf8(got.body).unwrap(),
            expected,
            "node {node}"
        );
    }
    farm.conn(1).await.close(path, &id).await.assert_ack(200);
    farm.shutdown().await;
}
