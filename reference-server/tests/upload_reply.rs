//! Upload-reply: notification by reference and by value, with the example app.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bitspec_server::example_app::{self, ExampleApp};
use bitspec_server::{NotificationType, ReplyUrlStyle};
use common::{Conn, TestServer, data};

async fn setup(kind: NotificationType, app_path: &str) -> (TestServer, ExampleApp) {
    let app = example_app::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("{}{}", app.base_url(), app_path.trim_start_matches('/'));
    let server = TestServer::with(|c| {
        c.notification_type = kind;
        c.notification_url = Some(url);
        c.notification_timeout = 2;
    })
    .await;
    (server, app)
}

/// Uploads in two fragments; returns the session id and the final Ack.
async fn send(conn: &mut Conn, path: &str, bytes: &[u8]) -> (String, common::Reply) {
    let id = conn.create(path).await;
    let half = bytes.len() / 2;
    let reply = conn.fragment(path, &id, bytes, 0, half - 1).await;
    reply.assert_received(200, half as u64);
    assert!(reply.header("BITS-Reply-URL").is_none());
    let reply = conn.fragment(path, &id, bytes, half, bytes.len() - 1).await;
    (id, reply)
}

fn path_of(url: &str) -> String {
    let rest = url.trim_start_matches("http://");
    rest[rest.find('/').unwrap()..].to_string()
}

#[tokio::test]
async fn by_reference_and_by_value_produce_a_downloadable_reply() {
    for kind in [NotificationType::ByReference, NotificationType::ByValue] {
        let (server, app) = setup(kind, "/").await;
        let mut conn = server.conn().await;
        let bytes = data(20_000, 6);
        let (id, reply) = send(&mut conn, "/up/r.bin", &bytes).await;
        reply.assert_received(200, 20_000);
        let url = reply.header("BITS-Reply-URL").unwrap().to_string();
        assert!(url.contains("/BITS-Sessions/Replies/%7B"), "{url}");
        let expected = example_app::summary(&bytes);
        let get = conn.get(&path_of(&url), &[]).await;
        assert_eq!(get.status, 200);
        assert_eq!(String::from_utf8(get.body).unwrap(), expected);
        let head = conn.request("HEAD", &path_of(&url), &[], b"").await;
        assert_eq!(
            head.header("Content-Length"),
            Some(expected.len().to_string().as_str())
        );
        let range = conn.get(&path_of(&url), &[("Range", "bytes=0-7")]).await;
        assert_eq!(range.status, 206);
        assert_eq!(range.body, &expected.as_bytes()[..8]);
        // A replayed final fragment gets the same Ack without a new notification.
        let again = conn
            .fragment("/up/r.bin", &id, &bytes, 10_000, 19_999)
            .await;
        assert_eq!(again.header("BITS-Reply-URL"), Some(url.as_str()));
        assert_eq!(app.notifications(), 1);
        conn.close("/up/r.bin", &id).await.assert_ack(200);
        assert!(
            !server.path("up/r.bin").exists(),
            "{kind:?}: copied without being asked"
        );
        assert_eq!(
            conn.get(&path_of(&url), &[]).await.status,
            404,
            "reply kept after Close"
        );
    }
}

#[tokio::test]
async fn copy_file_to_destination_publishes_the_upload() {
    let (server, _app) = setup(NotificationType::ByValue, "/copy").await;
    let mut conn = server.conn().await;
    let bytes = data(1000, 1);
    let (id, reply) = send(&mut conn, "/copy.bin", &bytes).await;
    reply.assert_received(200, 1000);
    conn.close("/copy.bin", &id).await.assert_ack(200);
    assert_eq!(std::fs::read(server.path("copy.bin")).unwrap(), bytes);
}

#[tokio::test]
async fn static_response_url_is_the_reply_url() {
    let (server, _app) = setup(NotificationType::ByReference, "/static").await;
    let mut conn = server.conn().await;
    let (_, reply) = send(&mut conn, "/s.bin", &data(10, 1)).await;
    reply.assert_received(200, 10);
    assert_eq!(
        reply.header("BITS-Reply-URL"),
        Some("http://replies.invalid/static")
    );
}

#[tokio::test]
async fn application_errors_are_relayed_with_context_7_and_retried() {
    let (server, app) = setup(NotificationType::ByReference, "/fail/409").await;
    let mut conn = server.conn().await;
    let bytes = data(10, 1);
    let (id, reply) = send(&mut conn, "/f.bin", &bytes).await;
    reply.assert_error(409, "0x80190199", "0x7");
    assert!(reply.header("BITS-Reply-URL").is_none());
    // The client retries the final fragment; the server notifies again.
    conn.fragment("/f.bin", &id, &bytes, 5, 9)
        .await
        .assert_error(409, "0x80190199", "0x7");
    assert_eq!(app.notifications(), 2);
}

#[tokio::test]
async fn slow_application_is_408() {
    let (server, _app) = setup(NotificationType::ByValue, "/slow/4").await;
    let mut conn = server.conn().await;
    let (_, reply) = send(&mut conn, "/slow.bin", &data(10, 1)).await;
    reply.assert_error(408, "0x80070102", "0x7");
}

#[tokio::test]
async fn unreachable_application_is_502_context_7() {
    let server = TestServer::with(|c| {
        c.notification_type = NotificationType::ByReference;
        c.notification_url = Some("http://127.0.0.1:9/nobody".into());
    })
    .await;
    let mut conn = server.conn().await;
    let (_, reply) = send(&mut conn, "/n.bin", &data(10, 1)).await;
    reply.assert_error(502, "0x801901F6", "0x7");
}

#[tokio::test]
async fn relative_reply_url_style_is_windows_like() {
    let app = example_app::spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let server = TestServer::with(|c| {
        c.notification_type = NotificationType::ByReference;
        c.notification_url = Some(app.base_url());
        c.reply_url_style = ReplyUrlStyle::Relative;
    })
    .await;
    let mut conn = server.conn().await;
    let (id, reply) = send(&mut conn, "/a/b/rel.bin", &data(10, 1)).await;
    let expected = format!("..\\..\\BITS-Sessions\\Replies\\{id}\\responsefile.bin");
    assert_eq!(reply.header("BITS-Reply-URL"), Some(expected.as_str()));
    // Resolved like the Windows client does: against /a/b/, `\` -> `/`, braces escaped.
    let resolved = format!(
        "/BITS-Sessions/Replies/{}/responsefile.bin",
        id.replace('{', "%7B").replace('}', "%7D")
    );
    assert_eq!(conn.get(&resolved, &[]).await.status, 200);
}
