//! The core packets over real HTTP: Ping, Create, Fragment, Close, Cancel, GET.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Conn, PROTOCOL, TestServer, data, upload};

#[tokio::test]
async fn ping_gets_a_bare_ack() {
    let server = TestServer::start().await;
    let reply = server.conn().await.bits("/x.bin", "Ping", &[], b"").await;
    reply.assert_ack(200);
    assert!(reply.header("BITS-Session-Id").is_none());
    assert!(reply.header("BITS-Error-Code").is_none());
}

#[tokio::test]
async fn create_negotiates_case_insensitively_over_lists() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let upper = PROTOCOL.to_ascii_uppercase();
    for list in [
        format!("{{11111111-2222-3333-4444-555555555555}} {upper}"),
        format!("{{11111111-2222-3333-4444-555555555555}},{upper}"),
        format!("{{11111111-2222-3333-4444-555555555555}}, {PROTOCOL}"),
    ] {
        let reply = conn
            .bits(
                "/n.bin",
                "Create-Session",
                &[("BITS-Supported-Protocols", &list)],
                b"",
            )
            .await;
        reply.assert_ack(200);
        assert!(
            reply
                .header("BITS-Protocol")
                .unwrap()
                .eq_ignore_ascii_case(PROTOCOL)
        );
        assert_eq!(reply.header("Accept-Encoding"), Some("identity"));
        let id = reply.header("BITS-Session-Id").unwrap();
        assert!(
            id.starts_with('{') && id.ends_with('}') && id.len() == 38,
            "{id}"
        );
        assert!(reply.header("BITS-Host-Id").is_none());
    }
}

#[tokio::test]
async fn create_without_common_protocol_is_400() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let reply = conn
        .bits(
            "/x.bin",
            "Create-Session",
            &[(
                "BITS-Supported-Protocols",
                "{00000000-0000-0000-0000-000000000000}",
            )],
            b"",
        )
        .await;
    reply.assert_error(400, "0x80070057", "0x5");
    assert!(reply.header("BITS-Session-Id").is_none());
    let reply = conn.bits("/x.bin", "Create-Session", &[], b"").await;
    reply.assert_error(400, "0x80070057", "0x5");
}

#[tokio::test]
async fn full_upload_in_three_fragments_is_published_on_close() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(10_000, 1);
    let id = conn.create("/some/dir/x.bin").await;
    for (first, last) in [(0, 3999), (4000, 7999), (8000, 9999)] {
        let reply = conn
            .fragment("/some/dir/x.bin", &id, &bytes, first, last)
            .await;
        reply.assert_received(200, last as u64 + 1);
        assert_eq!(reply.header("BITS-Session-Id"), Some(id.as_str()));
    }
    assert!(
        !server.path("some/dir/x.bin").exists(),
        "published before Close"
    );
    let reply = conn.close("/some/dir/x.bin", &id).await;
    reply.assert_ack(200);
    assert_eq!(std::fs::read(server.path("some/dir/x.bin")).unwrap(), bytes);
    let get = conn.get("/some/dir/x.bin", &[]).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body, bytes);
}

#[tokio::test]
async fn gap_gets_416_with_the_expected_offset_then_resume() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(3000, 2);
    let id = conn.create("/gap.bin").await;
    conn.fragment("/gap.bin", &id, &bytes, 0, 999)
        .await
        .assert_received(200, 1000);
    let reply = conn.fragment("/gap.bin", &id, &bytes, 2000, 2999).await;
    reply.assert_received(416, 1000);
    conn.fragment("/gap.bin", &id, &bytes, 1000, 2999)
        .await
        .assert_received(200, 3000);
    conn.close("/gap.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("gap.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn unknown_session_is_500_session_not_found() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(10, 0);
    let ghost = "{01234567-89AB-CDEF-0123-456789ABCDEF}";
    conn.fragment("/u.bin", ghost, &bytes, 0, 9)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    conn.close("/u.bin", ghost)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    conn.cancel("/u.bin", ghost)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    conn.close("/u.bin", "not-a-guid")
        .await
        .assert_error(500, "0x8020001F", "0x5");
}

#[tokio::test]
async fn fragment_after_close_and_cancel_is_session_not_found() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(100, 3);
    let id = upload(&mut conn, "/c.bin", &bytes, 60).await;
    conn.fragment("/c.bin", &id, &bytes, 0, 99)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    let id = conn.create("/d.bin").await;
    conn.fragment("/d.bin", &id, &bytes, 0, 49)
        .await
        .assert_received(200, 50);
    conn.cancel("/d.bin", &id).await.assert_ack(200);
    conn.fragment("/d.bin", &id, &bytes, 50, 99)
        .await
        .assert_error(500, "0x8020001F", "0x5");
    assert!(!server.path("d.bin").exists());
}

#[tokio::test]
async fn packet_types_are_case_insensitive() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    conn.bits("/p.bin", "PING", &[], b"").await.assert_ack(200);
    let reply = conn
        .bits(
            "/p.bin",
            "create-SESSION",
            &[("BITS-Supported-Protocols", PROTOCOL)],
            b"",
        )
        .await;
    reply.assert_ack(200);
    let id = reply.header("BITS-Session-Id").unwrap().to_string();
    let bytes = data(5, 0);
    conn.bits(
        "/p.bin",
        "fragment",
        &[("BITS-Session-Id", &id), ("Content-Range", "bytes 0-4/5")],
        &bytes,
    )
    .await
    .assert_received(200, 5);
    conn.bits("/p.bin", "CLOSE-SESSION", &[("BITS-Session-Id", &id)], b"")
        .await
        .assert_ack(200);
    assert_eq!(std::fs::read(server.path("p.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn session_survives_across_connections() {
    let server = TestServer::start().await;
    let bytes = data(200, 4);
    let id = server.conn().await.create("/across.bin").await;
    server
        .conn()
        .await
        .fragment("/across.bin", &id, &bytes, 0, 99)
        .await
        .assert_received(200, 100);
    let mut conn = Conn::open(server.addr()).await;
    conn.fragment("/across.bin", &id, &bytes, 100, 199)
        .await
        .assert_received(200, 200);
    conn.close("/across.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("across.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn head_and_get_of_a_published_file() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(1000, 5);
    upload(&mut conn, "/g.bin", &bytes, 1000).await;
    let head = conn.request("HEAD", "/g.bin", &[], b"").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("1000"));
    assert!(head.header("Last-Modified").is_some());
    let range = conn.get("/g.bin", &[("Range", "bytes=10-19")]).await;
    assert_eq!(range.status, 206);
    assert_eq!(range.header("Content-Range"), Some("bytes 10-19/1000"));
    assert_eq!(range.body, &bytes[10..20]);
    assert_eq!(conn.get("/missing.bin", &[]).await.status, 404);
    assert_eq!(conn.get("/BITS-Sessions/", &[]).await.status, 404);
}

#[tokio::test]
async fn several_ranges_get_a_multipart_answer_in_request_order() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = data(1000, 9);
    upload(&mut conn, "/m.bin", &bytes, 1000).await;
    let reply = conn.get("/m.bin", &[("Range", "bytes=500-509, 0-4")]).await;
    assert_eq!(reply.status, 206);
    assert!(reply.header("Content-Range").is_none());
    let content_type = reply.header("Content-Type").expect("content type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart/byteranges");
    assert_eq!(
        reply.header("Content-Length"),
        Some(reply.body.len().to_string().as_str())
    );
    let mut expected = Vec::new();
    for (i, (first, last)) in [(500usize, 509usize), (0, 4)].into_iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        expected.extend_from_slice(
            format!("{lead}--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/1000\r\n\r\n").as_bytes(),
        );
        expected.extend_from_slice(&bytes[first..=last]);
    }
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(reply.body, expected, "parts in request order, not merged");
    // Unsatisfiable everywhere: 416; malformed: the whole file.
    assert_eq!(
        conn.get("/m.bin", &[("Range", "bytes=2000-,3000-3001")])
            .await
            .status,
        416
    );
    let whole = conn.get("/m.bin", &[("Range", "bytes=9-1")]).await;
    assert_eq!((whole.status, whole.body.len()), (200, 1000));
}
