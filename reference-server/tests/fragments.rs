//! Fragment rules (summary §4.2), commit point, overwrite policy, Close/Cancel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bitspec_server::{CommitPoint, ErrorHeader, OverlapPolicy};
use common::{TestServer, data, upload};

#[tokio::test]
async fn overlap_writes_only_the_new_bytes() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(151, 7);
    let id = conn.create("/o.bin").await;
    conn.fragment("/o.bin", &id, &bytes, 0, 100)
        .await
        .assert_received(200, 101);
    // Same offsets, different content: the old bytes must not be overwritten.
    let mut forged = bytes.clone();
    forged[50..101].fill(0xEE);
    conn.fragment("/o.bin", &id, &forged, 50, 150)
        .await
        .assert_received(200, 151);
    conn.close("/o.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("o.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn already_received_data_is_acked_without_writing() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(300, 8);
    let id = conn.create("/dup.bin").await;
    conn.fragment("/dup.bin", &id, &bytes, 0, 199)
        .await
        .assert_received(200, 200);
    conn.fragment("/dup.bin", &id, &bytes, 0, 99)
        .await
        .assert_received(200, 200);
    conn.fragment("/dup.bin", &id, &bytes, 0, 199)
        .await
        .assert_received(200, 200);
    conn.fragment("/dup.bin", &id, &bytes, 200, 299)
        .await
        .assert_received(200, 300);
    conn.close("/dup.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("dup.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn reject_policy_answers_416_for_overlap_and_old_data() {
    let server = TestServer::with(|c| c.overlap = OverlapPolicy::Reject).await;
    let mut conn = server.conn().await;
    let bytes = data(300, 9);
    let id = conn.create("/r.bin").await;
    conn.fragment("/r.bin", &id, &bytes, 0, 99)
        .await
        .assert_received(200, 100);
    conn.fragment("/r.bin", &id, &bytes, 50, 149)
        .await
        .assert_received(416, 100);
    conn.fragment("/r.bin", &id, &bytes, 0, 99)
        .await
        .assert_received(416, 100);
    conn.fragment("/r.bin", &id, &bytes, 100, 299)
        .await
        .assert_received(200, 300);
    conn.close("/r.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("r.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn changed_total_and_bad_ranges_are_400() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/t.bin").await;
    let body = data(10, 0);
    let send = |range: &'static str| (range, body.clone());
    conn.fragment("/t.bin", &id, &data(100, 0), 0, 9)
        .await
        .assert_received(200, 10);
    for (range, body) in [
        send("bytes 10-19/200"),
        send("bytes 19-10/100"),
        send("bytes 10-19"),
        send("bytes=10-19/100"),
        send("bytes 10-19/*"),
        send("bytes 95-104/100"),
        send("bytes 10-20/100"),
    ] {
        conn.bits(
            "/t.bin",
            "Fragment",
            &[("BITS-Session-Id", &id), ("Content-Range", range)],
            &body,
        )
        .await
        .assert_error(400, "0x80070057", "0x5");
    }
    conn.bits("/t.bin", "Fragment", &[("BITS-Session-Id", &id)], &body)
        .await
        .assert_error(400, "0x80070057", "0x5");
    conn.bits(
        "/t.bin",
        "Fragment",
        &[
            ("BITS-Session-Id", &id),
            ("Content-Range", "bytes 10-19/100"),
            ("Content-Encoding", "gzip"),
        ],
        &body,
    )
    .await
    .assert_error(400, "0x80070057", "0x5");
    // Nothing above was written.
    conn.fragment("/t.bin", &id, &data(100, 0), 10, 99)
        .await
        .assert_received(200, 100);
}

#[tokio::test]
async fn size_limits() {
    let server = TestServer::with(|c| {
        c.max_upload_size = 1000;
        c.max_fragment_size = 100;
    })
    .await;
    let mut conn = server.conn().await;
    let id = conn.create("/big.bin").await;
    let reply = conn.fragment("/big.bin", &id, &data(1001, 0), 0, 9).await;
    reply.assert_error(500, "0x80200020", "0x5");
    let reply = conn.fragment("/big.bin", &id, &data(1000, 0), 0, 100).await;
    reply.assert_ack(413);
    assert!(
        reply.header("BITS-Error-Code").is_none(),
        "413 must not read as fatal"
    );
    let bytes = data(1000, 3);
    for first in (0..1000).step_by(100) {
        conn.fragment("/big.bin", &id, &bytes, first, first + 99)
            .await
            .assert_received(200, first as u64 + 100);
    }
    conn.close("/big.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("big.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn close_before_the_end_publishes_nothing() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(100, 1);
    let id = conn.create("/partial.bin").await;
    conn.fragment("/partial.bin", &id, &bytes, 0, 49)
        .await
        .assert_received(200, 50);
    conn.close("/partial.bin", &id).await.assert_ack(200);
    assert!(!server.path("partial.bin").exists());
    let sessions = std::fs::read_dir(server.path("BITS-Sessions").join(&id)).unwrap();
    let names: Vec<_> = sessions.map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["session.json"], "only the tombstone is left");
}

#[tokio::test]
async fn retried_close_after_a_lost_ack_is_200() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(10, 1);
    let id = upload(&mut conn, "/retry.bin", &bytes, 10).await;
    let reply = conn.close("/retry.bin", &id).await;
    reply.assert_ack(200);
    assert_eq!(reply.header("BITS-Session-Id"), Some(id.as_str()));
    assert_eq!(std::fs::read(server.path("retry.bin")).unwrap(), bytes);
    // Cancel is not retried into a restart, so it gets the literal answer.
    conn.cancel("/retry.bin", &id)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    let id = conn.create("/cancelled.bin").await;
    conn.cancel("/cancelled.bin", &id).await.assert_ack(200);
    conn.cancel("/cancelled.bin", &id)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    conn.close("/cancelled.bin", &id)
        .await
        .assert_error(500, "0x8020001F", "0x5");
}

#[tokio::test]
async fn without_retention_a_second_close_is_not_found() {
    let server = TestServer::with(|c| c.closed_session_retention = 0).await;
    let mut conn = server.conn().await;
    let id = upload(&mut conn, "/lit.bin", b"abc", 3).await;
    conn.close("/lit.bin", &id)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    assert!(!server.path("BITS-Sessions").join(&id).exists());
    assert_eq!(std::fs::read(server.path("lit.bin")).unwrap(), b"abc");
}

#[tokio::test]
async fn uploads_disabled_is_501() {
    let server = TestServer::with(|c| c.disabled_paths = vec!["/off/".into()]).await;
    let mut conn = server.conn().await;
    let create = [("BITS-Supported-Protocols", common::PROTOCOL)];
    conn.bits("/off/x.bin", "Create-Session", &create, b"")
        .await
        .assert_error(501, "0x80070005", "0x5");
    conn.bits("/on/x.bin", "Create-Session", &create, b"")
        .await
        .assert_ack(200);
    let server = TestServer::with(|c| c.uploads_enabled = false).await;
    server
        .conn()
        .await
        .bits("/x.bin", "Ping", &[], b"")
        .await
        .assert_error(501, "0x80070005", "0x5");
}

#[tokio::test]
async fn default_maximum_is_the_iis_cap() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/huge.bin").await;
    let range = "bytes 0-2/9000000000000000000";
    conn.bits(
        "/huge.bin",
        "Fragment",
        &[("BITS-Session-Id", &id), ("Content-Range", range)],
        b"abc",
    )
    .await
    .assert_error(500, "0x80200020", "0x5");
}

#[tokio::test]
async fn commit_at_last_fragment() {
    let server = TestServer::with(|c| c.commit_point = CommitPoint::LastFragment).await;
    let mut conn = server.conn().await;
    let bytes = data(200, 2);
    let id = conn.create("/early.bin").await;
    conn.fragment("/early.bin", &id, &bytes, 0, 99)
        .await
        .assert_received(200, 100);
    assert!(!server.path("early.bin").exists());
    conn.fragment("/early.bin", &id, &bytes, 100, 199)
        .await
        .assert_received(200, 200);
    assert_eq!(std::fs::read(server.path("early.bin")).unwrap(), bytes);
    // Replayed final fragment: same Ack. Cancel now leaves the file alone.
    conn.fragment("/early.bin", &id, &bytes, 100, 199)
        .await
        .assert_received(200, 200);
    conn.cancel("/early.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("early.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn existing_destination_is_409_by_default_or_403() {
    for (status, expected) in [(409u16, 409u16), (403, 403)] {
        let server = TestServer::with(|c| c.existing_destination_status = status).await;
        std::fs::write(server.path("exists.bin"), b"old").unwrap();
        let mut conn = server.conn().await;
        let reply = conn
            .bits(
                "/exists.bin",
                "Create-Session",
                &[("BITS-Supported-Protocols", common::PROTOCOL)],
                b"",
            )
            .await;
        reply.assert_error(expected, "0x80070005", "0x5");
        assert_eq!(std::fs::read(server.path("exists.bin")).unwrap(), b"old");
    }
}

#[tokio::test]
async fn destination_created_during_the_upload_is_not_overwritten() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(10, 1);
    let id = conn.create("/race.bin").await;
    conn.fragment("/race.bin", &id, &bytes, 0, 9)
        .await
        .assert_received(200, 10);
    std::fs::write(server.path("race.bin"), b"someone else").unwrap();
    conn.close("/race.bin", &id)
        .await
        .assert_error(409, "0x80070005", "0x5");
    assert_eq!(
        std::fs::read(server.path("race.bin")).unwrap(),
        b"someone else"
    );
}

#[tokio::test]
async fn overwrites_when_allowed() {
    let server = TestServer::with(|c| c.allow_overwrites = true).await;
    std::fs::write(server.path("over.bin"), b"old content that is longer").unwrap();
    let mut conn = server.conn().await;
    let bytes = data(10, 1);
    upload(&mut conn, "/over.bin", &bytes, 4).await;
    assert_eq!(std::fs::read(server.path("over.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn destination_that_is_a_folder_or_reserved_is_refused() {
    let server = TestServer::start().await;
    std::fs::create_dir(server.path("folder")).unwrap();
    let mut conn = server.conn().await;
    let create = |path: &'static str| (path, [("BITS-Supported-Protocols", common::PROTOCOL)]);
    for (path, headers) in [create("/folder"), create("/folder/"), create("/")] {
        conn.bits(path, "Create-Session", &headers, b"")
            .await
            .assert_error(400, "0x80070057", "0x5");
    }
    for path in ["/BITS-Sessions/x.bin", "/bits-sessions/Replies/x"] {
        conn.bits(path, "Create-Session", &create(path).1, b"")
            .await
            .assert_error(403, "0x80070005", "0x5");
    }
}

#[tokio::test]
async fn no_directory_creation_when_disabled() {
    let server = TestServer::with(|c| c.create_directories = false).await;
    let mut conn = server.conn().await;
    let reply = conn
        .bits(
            "/missing/dir/x.bin",
            "Create-Session",
            &[("BITS-Supported-Protocols", common::PROTOCOL)],
            b"",
        )
        .await;
    assert_eq!(reply.status, 404);
    std::fs::create_dir(server.path("present")).unwrap();
    upload(&mut conn, "/present/x.bin", b"abc", 3).await;
    assert!(server.path("present/x.bin").exists());
}

#[tokio::test]
async fn error_header_styles_and_session_id_echo() {
    let server = TestServer::with(|c| {
        c.error_header = ErrorHeader::Both;
        c.echo_session_id = false;
    })
    .await;
    let mut conn = server.conn().await;
    let reply = conn
        .close("/x", "{01234567-89AB-CDEF-0123-456789ABCDEF}")
        .await;
    assert_eq!(reply.header("BITS-Error"), Some("0x8020001F"));
    assert_eq!(reply.header("BITS-Error-Code"), Some("0x8020001F"));
    let id = conn.create("/e.bin").await;
    let reply = conn.fragment("/e.bin", &id, b"abc", 0, 2).await;
    assert!(reply.header("BITS-Session-Id").is_none());
    let server = TestServer::with(|c| c.error_header = ErrorHeader::BitsError).await;
    let reply = server.conn().await.bits("/x", "Bogus", &[], b"").await;
    assert_eq!(reply.header("BITS-Error"), Some("0x80070057"));
    assert!(reply.header("BITS-Error-Code").is_none());
}

#[tokio::test]
async fn host_id_headers_when_configured() {
    let server = TestServer::with(|c| c.host_id = Some("node7.example".into())).await;
    let reply = server
        .conn()
        .await
        .bits(
            "/h.bin",
            "Create-Session",
            &[("BITS-Supported-Protocols", common::PROTOCOL)],
            b"",
        )
        .await;
    assert_eq!(reply.header("BITS-Host-Id"), Some("node7.example"));
    assert_eq!(reply.header("BITS-Host-Id-Fallback-Timeout"), Some("86400"));
    let server = TestServer::with(|c| {
        c.host_id = Some("n".into());
        c.host_id_fallback_timeout = 0;
    })
    .await;
    let reply = server
        .conn()
        .await
        .bits(
            "/h.bin",
            "Create-Session",
            &[("BITS-Supported-Protocols", common::PROTOCOL)],
            b"",
        )
        .await;
    assert!(reply.header("BITS-Host-Id-Fallback-Timeout").is_none());
}

#[tokio::test]
async fn concurrent_requests_for_one_session_are_serialised() {
    let server = TestServer::start().await;
    let bytes = data(200_000, 4);
    let id = server.conn().await.create("/conc.bin").await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let addr = server.addr();
        let id = id.clone();
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = common::Conn::open(addr).await;
            conn.fragment("/conc.bin", &id, &bytes, 0, 149_999).await
        }));
    }
    for task in tasks {
        task.await.unwrap().assert_received(200, 150_000);
    }
    let mut conn = server.conn().await;
    conn.fragment("/conc.bin", &id, &bytes, 150_000, 199_999)
        .await
        .assert_received(200, 200_000);
    conn.close("/conc.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("conc.bin")).unwrap(), bytes);
}
