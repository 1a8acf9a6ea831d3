//! Odd and hostile requests: validation order, framing, sizes, slow clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Conn, TestServer};

#[tokio::test]
async fn unknown_or_missing_packet_type_is_400_invalidarg() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    for packet in ["Bogus", "Ack", ""] {
        conn.bits("/x.bin", packet, &[], b"")
            .await
            .assert_error(400, "0x80070057", "0x5");
    }
    conn.request("BITS_POST", "/x.bin", &[], b"")
        .await
        .assert_error(400, "0x80070057", "0x5");
}

#[tokio::test]
async fn missing_session_id_is_400() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    for packet in ["Fragment", "Close-Session", "Cancel-Session"] {
        conn.bits("/x.bin", packet, &[], b"")
            .await
            .assert_error(400, "0x80070057", "0x5");
    }
}

#[tokio::test]
async fn missing_content_length_is_400_or_411() {
    let raw = b"BITS_POST /x.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\n\r\n";
    let server = TestServer::start().await;
    server
        .conn()
        .await
        .raw(raw, false)
        .await
        .assert_error(400, "0x80070057", "0x5");
    let server = TestServer::with(|c| c.missing_content_length_status = 411).await;
    server
        .conn()
        .await
        .raw(raw, false)
        .await
        .assert_error(411, "0x80070057", "0x5");
}

#[tokio::test]
async fn chunked_fragment_without_content_length_is_refused() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/chunked.bin").await;
    let raw = format!(
        "BITS_POST /chunked.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Fragment\r\n\
         BITS-Session-Id: {id}\r\nContent-Range: bytes 0-2/3\r\nTransfer-Encoding: chunked\r\n\r\n\
         3\r\nabc\r\n0\r\n\r\n"
    );
    conn.raw(raw.as_bytes(), false)
        .await
        .assert_error(400, "0x80070057", "0x5");
}

#[tokio::test]
async fn header_value_over_4k_is_400() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let long = "a".repeat(4097);
    conn.bits("/x.bin", "Ping", &[("X-Long", &long)], b"")
        .await
        .assert_error(400, "0x80070057", "0x5");
    let fits = "a".repeat(4096);
    conn.bits("/x.bin", "Ping", &[("X-Long", &fits)], b"")
        .await
        .assert_ack(200);
}

#[tokio::test]
async fn huge_header_block_is_refused_without_hanging() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let mut raw = String::from("BITS_POST /x.bin HTTP/1.1\r\nHost: a\r\n");
    for i in 0..40 {
        raw.push_str(&format!("X-H{i}: {}\r\n", "b".repeat(4000)));
    }
    raw.push_str("BITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n");
    conn.write(raw.as_bytes()).await;
    if let Some(reply) = conn.read(false).await {
        assert!((400..500).contains(&reply.status), "{}", reply.status);
    }
}

#[tokio::test]
async fn http_1_0_bits_post_is_400() {
    let server = TestServer::start().await;
    let raw = b"BITS_POST /x.bin HTTP/1.0\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n";
    server
        .conn()
        .await
        .raw(raw, false)
        .await
        .assert_error(400, "0x80070057", "0x5");
}

#[tokio::test]
async fn body_on_a_bodiless_packet_is_400() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    conn.bits("/x.bin", "Ping", &[], b"hello")
        .await
        .assert_error(400, "0x80070057", "0x5");
    let id = conn.create("/y.bin").await;
    conn.bits("/y.bin", "Close-Session", &[("BITS-Session-Id", &id)], b"x")
        .await
        .assert_error(400, "0x80070057", "0x5");
}

#[tokio::test]
async fn syntax_errors_come_before_session_lookup() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    // Unknown session but also no Content-Length: step 3 wins over step 4.
    let raw = b"BITS_POST /x HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Close-Session\r\n\
                BITS-Session-Id: {01234567-89AB-CDEF-0123-456789ABCDEF}\r\n\r\n";
    conn.raw(raw, false)
        .await
        .assert_error(400, "0x80070057", "0x5");
}

#[tokio::test]
async fn connection_stays_usable_after_a_rejected_fragment() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = common::data(5000, 1);
    let id = conn.create("/keep.bin").await;
    conn.fragment("/keep.bin", &id, &bytes, 1000, 4999)
        .await
        .assert_received(416, 0);
    conn.fragment("/keep.bin", &id, &bytes, 0, 4999)
        .await
        .assert_received(200, 5000);
}

#[tokio::test]
async fn other_methods_are_405() {
    let server = TestServer::start().await;
    let reply = server
        .conn()
        .await
        .request("PUT", "/x.bin", &[], b"data")
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("BITS_POST, GET, HEAD"));
}

#[tokio::test]
async fn slow_headers_are_timed_out() {
    let server = TestServer::with(|c| c.header_read_timeout = 1).await;
    let mut conn = server.conn().await;
    conn.write(b"BITS_POST /x.bin HTTP/1.1\r\nHost: a\r\n")
        .await;
    let start = Instant::now();
    let reply = conn.read(false).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(reply.as_ref().is_none_or(|r| r.status == 408), "{reply:?}");
}

#[tokio::test]
async fn stalled_body_is_timed_out_and_keeps_the_received_prefix() {
    let server = TestServer::with(|c| c.body_idle_timeout = 1).await;
    let mut conn = server.conn().await;
    let bytes = common::data(100, 1);
    let id = conn.create("/stall.bin").await;
    let head = common::fragment_head("/stall.bin", &id, 0, 99, 100);
    conn.write(head.as_bytes()).await;
    conn.write(&bytes[..40]).await;
    let start = Instant::now();
    let _ = conn.read(false).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    // The client resumes from what arrived: 416 says where.
    let mut conn = Conn::open(server.addr()).await;
    conn.fragment("/stall.bin", &id, &bytes, 90, 99)
        .await
        .assert_received(416, 40);
    conn.fragment("/stall.bin", &id, &bytes, 40, 99)
        .await
        .assert_received(200, 100);
    conn.close("/stall.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("stall.bin")).unwrap(), bytes);
}

/// A stall after more than a write buffer's worth (256 KiB): both what was
/// written and what was still gathered are kept.
#[tokio::test]
async fn stalled_large_body_keeps_every_byte_that_arrived() {
    let server = TestServer::with(|c| c.body_idle_timeout = 1).await;
    let mut conn = server.conn().await;
    let bytes = common::data(400_000, 3);
    let id = conn.create("/stall-big.bin").await;
    let head = common::fragment_head("/stall-big.bin", &id, 0, 399_999, 400_000);
    conn.write(head.as_bytes()).await;
    conn.write(&bytes[..300_001]).await;
    let _ = conn.read(false).await;
    let mut conn = Conn::open(server.addr()).await;
    conn.fragment("/stall-big.bin", &id, &bytes, 399_000, 399_999)
        .await
        .assert_received(416, 300_001);
    conn.fragment("/stall-big.bin", &id, &bytes, 300_001, 399_999)
        .await
        .assert_received(200, 400_000);
    conn.close("/stall-big.bin", &id).await.assert_ack(200);
    assert!(std::fs::read(server.path("stall-big.bin")).unwrap() == bytes);
}

/// A request head over 16 KiB (IIS's MaxRequestBytes) gets 431, whether the
/// connection has one of the few wide read buffers (the first connections, the
/// limit checked after parsing) or the ordinary 16 KiB one (hyper's limit).
#[tokio::test]
async fn a_head_over_16_kib_is_431_on_every_connection() {
    let server = TestServer::with(|c| c.workers = 1).await;
    let filler = "x".repeat(4000);
    let big_head = format!(
        "BITS_POST /x.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\
         X-A: {filler}\r\nX-B: {filler}\r\nX-C: {filler}\r\nX-D: {filler}\r\nX-E: {filler}\r\n\r\n"
    );
    let mut held = Vec::new();
    // 40 connections: more than the 32 wide buffers, each checked while all stay open.
    for i in 0..40 {
        let mut conn = server.conn().await;
        conn.write(big_head.as_bytes()).await;
        let reply = conn.read(true).await;
        assert_eq!(reply.map(|r| r.status), Some(431), "connection {i}");
        let mut small = server.conn().await;
        small.bits("/x.bin", "Ping", &[], b"").await.assert_ack(200);
        held.push(small);
    }
}

/// Beyond `max_connections` a client waits in the listen backlog, and is
/// served as soon as another connection closes.
#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let server = TestServer::with(|c| {
        c.workers = 1;
        c.max_connections = 1;
    })
    .await;
    let mut first = server.conn().await;
    first.bits("/x.bin", "Ping", &[], b"").await.assert_ack(200);
    let mut second = server.conn().await;
    second
        .write(b"BITS_POST /x.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n\r\n")
        .await;
    let early = tokio::time::timeout(Duration::from_millis(500), second.read(true)).await;
    assert!(early.is_err(), "served beyond the limit: {early:?}");
    drop(first);
    let late = tokio::time::timeout(Duration::from_secs(5), second.read(true))
        .await
        .expect("served once a slot is free")
        .expect("an Ack");
    late.assert_ack(200);
}

/// A client that breaks the connection mid-body: every byte that arrived is
/// kept, including those still gathered in the write buffer.
#[tokio::test]
async fn a_broken_connection_keeps_every_byte_that_arrived() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let bytes = common::data(400_000, 4);
    let id = conn.create("/broken.bin").await;
    let head = common::fragment_head("/broken.bin", &id, 0, 399_999, 400_000);
    conn.write(head.as_bytes()).await;
    conn.write(&bytes[..300_001]).await;
    // Let the server read what was sent before the connection goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(conn);
    let mut conn = Conn::open(server.addr()).await;
    conn.fragment("/broken.bin", &id, &bytes, 399_000, 399_999)
        .await
        .assert_received(416, 300_001);
    conn.fragment("/broken.bin", &id, &bytes, 300_001, 399_999)
        .await
        .assert_received(200, 400_000);
    conn.close("/broken.bin", &id).await.assert_ack(200);
    assert!(std::fs::read(server.path("broken.bin")).unwrap() == bytes);
}

/// Stalled bodies, more than there are body permits (32), do not hold up
/// anyone else's upload: an idle body gives its permit back.
#[tokio::test]
async fn stalled_bodies_do_not_block_other_uploads() {
    let server = TestServer::start().await;
    let mut stalled = Vec::new();
    for i in 0..40 {
        let mut conn = server.conn().await;
        let id = conn.create(&format!("/slow/{i}.bin")).await;
        let head = common::fragment_head(&format!("/slow/{i}.bin"), &id, 0, 999_999, 1_000_000);
        conn.write(head.as_bytes()).await;
        conn.write(b"x").await;
        stalled.push(conn);
    }
    let bytes = common::data(200_000, 5);
    let mut conn = server.conn().await;
    let upload = common::upload(&mut conn, "/fast.bin", &bytes, 64 * 1024);
    tokio::time::timeout(Duration::from_secs(5), upload)
        .await
        .expect("served while 40 bodies stall");
    assert!(std::fs::read(server.path("fast.bin")).unwrap() == bytes);
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let server = TestServer::with(|c| c.header_read_timeout = 1).await;
    let mut conn = server.conn().await;
    conn.bits("/x.bin", "Ping", &[], b"").await.assert_ack(200);
    let start = Instant::now();
    let next = conn.read(false).await;
    assert!(next.is_none(), "{next:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
