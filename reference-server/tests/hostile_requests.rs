//! Hostile requests about bodies, ranges and headers (issue 14, item 6): each
//! answered at once, with a bounded response, or a documented error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, data};

/// Two `Content-Range` or two `BITS-Session-Id` fields: which one did the
/// client mean? 400 E_INVALIDARG, never "the first one wins".
#[tokio::test]
async fn repeated_range_or_session_id_is_a_bad_request() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/dup.bin").await;
    let other = conn.create("/dup2.bin").await;
    let reply = conn
        .bits(
            "/dup.bin",
            "Fragment",
            &[
                ("BITS-Session-Id", &id),
                ("Content-Range", "bytes 0-2/6"),
                ("Content-Range", "bytes 3-5/6"),
            ],
            b"abc",
        )
        .await;
    reply.assert_error(400, "0x80070057", "0x5");
    let reply = conn
        .bits(
            "/dup.bin",
            "Fragment",
            &[
                ("BITS-Session-Id", &id),
                ("BITS-Session-Id", &other),
                ("Content-Range", "bytes 0-2/3"),
            ],
            b"abc",
        )
        .await;
    reply.assert_error(400, "0x80070057", "0x5");
    // Nothing was written to either session.
    conn.fragment("/dup.bin", &id, b"xyz", 0, 2)
        .await
        .assert_received(200, 3);
    conn.fragment("/dup2.bin", &other, b"xyz", 0, 2)
        .await
        .assert_received(200, 3);
}

/// A refused Fragment announcing an absurd body is answered at once, not
/// after the body idle timeout (120 s by default) that draining it waited for.
#[tokio::test]
async fn a_refused_huge_content_length_is_answered_at_once() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/huge.bin").await;
    let head = format!(
        "BITS_POST /huge.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Fragment\r\n\
         BITS-Session-Id: {id}\r\nContent-Range: bytes 0-2/3\r\n\
         Content-Length: 18446744073709551612\r\n\r\n"
    );
    let started = Instant::now();
    conn.write(head.as_bytes()).await;
    let reply = conn.read(true).await.expect("an answer");
    let took = started.elapsed();
    reply.assert_error(400, "0x80070057", "0x5");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
}

/// A refused body too large to drain is not read, and the connection closes
/// right after the Ack: the rest of the body (a request hidden in it, say) is
/// neither answered nor waited for.
#[tokio::test]
async fn an_unread_refused_body_closes_the_connection() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/smuggle.bin").await;
    let hidden = "BITS_POST /smuggle.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\n\
                  Content-Length: 0\r\n\r\n";
    let length = 2_000_000;
    let head = format!(
        "BITS_POST /smuggle.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Fragment\r\n\
         BITS-Session-Id: {id}\r\nContent-Range: bytes 5-9/10\r\n\
         Content-Length: {length}\r\n\r\n{hidden}"
    );
    conn.write(head.as_bytes()).await;
    conn.read(true)
        .await
        .expect("the Ack")
        .assert_error(400, "0x80070057", "0x5");
    // Closed: no answer, and no 20 s wait for one (`read` would panic).
    let more = conn.try_raw(hidden.as_bytes()).await;
    assert!(more.is_none(), "answered after the Ack: {more:?}");
}

/// `bytes=0-,0-,...` (64 overlapping ranges) gets the file once, not 64 times.
#[tokio::test]
async fn overlapping_ranges_get_the_file_once() {
    let server = TestServer::start().await;
    let bytes = data(10_000, 3);
    let mut conn = server.conn().await;
    common::upload(&mut conn, "/ranges.bin", &bytes, 10_000).await;
    let spec = vec!["0-"; 64].join(",");
    let range = format!("bytes={spec}");
    let reply = conn.get("/ranges.bin", &[("Range", &range)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, bytes);
    // Ranges that do not overlap are still served as parts, in order.
    let reply = conn
        .get("/ranges.bin", &[("Range", "bytes=9000-9009,0-9")])
        .await;
    assert_eq!(reply.status, 206);
    assert!(reply.body.len() < 1000, "{} bytes", reply.body.len());
}

/// More than 100 header fields: 431, the documented limit (hyper's, named
/// `MAX_HEADERS`); 100 are served.
#[tokio::test]
async fn more_than_a_hundred_header_fields_get_431() {
    let server = TestServer::start().await;
    for (count, status) in [(95, 200), (101, 431)] {
        let mut conn = server.conn().await;
        let mut head = String::from(
            "BITS_POST /h.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Ping\r\nContent-Length: 0\r\n",
        );
        for i in 0..count {
            head.push_str(&format!("X-Filler-{i}: x\r\n"));
        }
        head.push_str("\r\n");
        let reply = conn.raw(head.as_bytes(), false).await;
        assert_eq!(reply.status, status, "{count} extra fields");
    }
}
