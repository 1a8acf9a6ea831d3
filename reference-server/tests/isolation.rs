//! A session belongs to the user who created it and to its destination URL:
//! another account, or another URL, cannot add to, close or cancel it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use bitspec_server::User;
use common::{Conn, PROTOCOL, Reply, TestServer};

fn basic(user: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw-{user}"));
    format!("Basic {token}")
}

fn account(name: &str, paths: &[&str]) -> User {
    User {
        name: name.into(),
        password: format!("pw-{name}"),
        paths: paths.iter().map(|p| (*p).to_string()).collect(),
    }
}

/// A packet of session `id` sent to `path` as `user` (None: anonymous).
async fn packet(
    conn: &mut Conn,
    user: Option<&str>,
    path: &str,
    packet: &str,
    id: &str,
    range: Option<(&str, &[u8])>,
) -> Reply {
    let auth = user.map(basic);
    let mut headers = vec![("BITS-Session-Id", id)];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    let body = match range {
        Some((range, body)) => {
            headers.push(("Content-Range", range));
            body
        }
        None => b"",
    };
    conn.bits(path, packet, &headers, body).await
}

#[tokio::test]
async fn another_user_cannot_fragment_close_or_cancel_a_session() {
    let server = TestServer::with(|c| {
        c.users = vec![
            account("alice", &["/alice/"]),
            account("bob", &["/bob/"]),
            account("carol", &[]),
        ];
    })
    .await;
    let mut conn = server.conn().await;
    let alice = basic("alice");
    let reply = conn
        .bits(
            "/alice/a.bin",
            "Create-Session",
            &[
                ("Authorization", &alice),
                ("BITS-Supported-Protocols", PROTOCOL),
            ],
            b"",
        )
        .await;
    reply.assert_ack(200);
    let id = reply.header("BITS-Session-Id").unwrap().to_string();
    let first = Some(("bytes 0-2/6", &b"abc"[..]));
    packet(
        &mut conn,
        Some("alice"),
        "/alice/a.bin",
        "Fragment",
        &id,
        first,
    )
    .await
    .assert_received(200, 3);

    // Bob may upload under /bob/ only; the session's destination is Alice's:
    // MC-BUP 3.2.5.2.3 checks the destination, whatever URL the packet names.
    let evil = Some(("bytes 3-5/6", &b"XYZ"[..]));
    for url in ["/bob/x.bin", "/alice/a.bin"] {
        packet(&mut conn, Some("bob"), url, "Fragment", &id, evil)
            .await
            .assert_error(403, "0x80070005", "0x5");
        for kind in ["Close-Session", "Cancel-Session"] {
            packet(&mut conn, Some("bob"), url, kind, &id, None)
                .await
                .assert_error(403, "0x80070005", "0x5");
        }
    }
    // Carol may upload anywhere, but the session is not hers.
    packet(
        &mut conn,
        Some("carol"),
        "/alice/a.bin",
        "Fragment",
        &id,
        evil,
    )
    .await
    .assert_error(403, "0x80070005", "0x5");
    for kind in ["Close-Session", "Cancel-Session"] {
        packet(&mut conn, Some("carol"), "/alice/a.bin", kind, &id, None)
            .await
            .assert_error(403, "0x80070005", "0x5");
    }
    // Alice herself, through another URL: no session of hers there.
    packet(
        &mut conn,
        Some("alice"),
        "/alice/b.bin",
        "Fragment",
        &id,
        evil,
    )
    .await
    .assert_error(500, "0x8020001F", "0x5");

    // The session is untouched: Alice finishes it with her own bytes.
    let rest = Some(("bytes 3-5/6", &b"def"[..]));
    packet(
        &mut conn,
        Some("alice"),
        "/alice/a.bin",
        "Fragment",
        &id,
        rest,
    )
    .await
    .assert_received(200, 6);
    packet(
        &mut conn,
        Some("alice"),
        "/alice/a.bin",
        "Close-Session",
        &id,
        None,
    )
    .await
    .assert_ack(200);
    assert_eq!(
        std::fs::read(server.path("alice/a.bin")).unwrap(),
        b"abcdef"
    );
    assert!(!server.path("bob/x.bin").exists());
    assert!(!server.path("alice/b.bin").exists());
}

#[tokio::test]
async fn an_anonymous_session_is_bound_to_its_url() {
    let server = TestServer::start().await;
    let mut conn = server.conn().await;
    let id = conn.create("/a/x.bin").await;
    conn.fragment("/a/x.bin", &id, b"abcdef", 0, 2)
        .await
        .assert_received(200, 3);
    // Another URL (even one naming the same file differently) is not the session's.
    for url in ["/b/y.bin", "/a/y.bin"] {
        conn.fragment(url, &id, b"abcXYZ", 3, 5)
            .await
            .assert_error(500, "0x8020001F", "0x5");
        conn.close(url, &id)
            .await
            .assert_error(500, "0x8020001F", "0x5");
        conn.cancel(url, &id)
            .await
            .assert_error(500, "0x8020001F", "0x5");
    }
    // A percent-encoded spelling of the same path is the same URL.
    conn.fragment("/a/%78.bin", &id, b"abcdef", 3, 5)
        .await
        .assert_received(200, 6);
    conn.close("/a/x.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("a/x.bin")).unwrap(), b"abcdef");
    assert!(!server.path("b/y.bin").exists());
    assert!(!server.path("a/y.bin").exists());
}
