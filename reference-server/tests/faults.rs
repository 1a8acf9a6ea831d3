//! The fault layer (feature `faults`): faults that act at the seam behave as the
//! bug they imitate, and a server built without the feature refuses to be asked
//! for one. The catalogue as a whole is judged by bitspec's self-test
//! (tests/selftest.rs at the repository root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[cfg(feature = "faults")]
mod with_faults {
    use std::process::Stdio;

    use bitspec_server::Fault;

    use super::common::{Conn, TestServer, data};

    async fn server_with(fault: Fault) -> TestServer {
        TestServer::with(|config| config.faults = vec![fault]).await
    }

    /// A session with its first ten bytes (of 100) stored.
    async fn ten_bytes_in(server: &TestServer) -> (Conn, String) {
        let mut conn = server.conn().await;
        let id = conn.create("/f.bin").await;
        let bytes = data(100, 1);
        conn.fragment("/f.bin", &id, &bytes, 0, 9)
            .await
            .assert_received(200, 10);
        (conn, id)
    }

    async fn post(conn: &mut Conn, id: &str, range: Option<&str>, length: &str) -> u16 {
        let mut head = format!(
            "BITS_POST /f.bin HTTP/1.1\r\nHost: t\r\nBITS-Packet-Type: Fragment\r\n\
             BITS-Session-Id: {id}\r\nContent-Length: {length}\r\n"
        );
        if let Some(range) = range {
            head.push_str(&format!("Content-Range: {range}\r\n"));
        }
        head.push_str("\r\n");
        conn.raw(head.as_bytes(), false).await.status
    }

    #[tokio::test]
    async fn a_length_past_u64_max_without_content_range_is_a_bad_request() {
        let server = server_with(Fault::ContentRangeOptional).await;
        let (mut conn, id) = ten_bytes_in(&server).await;
        assert_eq!(
            post(&mut conn, &id, None, "18446744073709551613").await,
            400
        );
    }

    #[tokio::test]
    async fn an_overlap_appended_past_u64_max_is_a_bad_request() {
        let server = server_with(Fault::OverlapAppended).await;
        let (mut conn, id) = ten_bytes_in(&server).await;
        let range = "bytes 0-18446744073709551613/18446744073709551615";
        let status = post(&mut conn, &id, Some(range), "18446744073709551613").await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn overlap_overwrites_replaces_stored_bytes() {
        let server = server_with(Fault::OverlapOverwrites).await;
        let mut conn = server.conn().await;
        let bytes = data(20, 2);
        let id = conn.create("/o.bin").await;
        conn.fragment("/o.bin", &id, &bytes, 0, 9)
            .await
            .assert_received(200, 10);
        let mut forged = bytes.clone();
        forged[5..20].fill(0xEE);
        let ack = conn.fragment("/o.bin", &id, &forged, 5, 19).await;
        ack.assert_received(200, 20);
        assert_eq!(ack.header("BITS-Session-Id"), Some(id.as_str()));
        conn.close("/o.bin", &id).await.assert_ack(200);
        assert_eq!(std::fs::read(server.path("o.bin")).unwrap(), forged);
    }

    #[tokio::test]
    async fn close_keeps_session_publishes_and_keeps_the_session() {
        let server = server_with(Fault::CloseKeepsSession).await;
        let mut conn = server.conn().await;
        let bytes = data(10, 3);
        let id = conn.create("/k.bin").await;
        conn.fragment("/k.bin", &id, &bytes, 0, 9)
            .await
            .assert_received(200, 10);
        let ack = conn.close("/k.bin", &id).await;
        ack.assert_ack(200);
        assert_eq!(ack.header("BITS-Session-Id"), Some(id.as_str()));
        assert_eq!(std::fs::read(server.path("k.bin")).unwrap(), bytes);
        // Still alive: a replayed fragment is acknowledged, not BG_E_SESSION_NOT_FOUND.
        conn.fragment("/k.bin", &id, &bytes, 0, 9)
            .await
            .assert_received(200, 10);
    }

    #[tokio::test]
    async fn cancel_keeps_session_leaves_the_session_alive() {
        let server = server_with(Fault::CancelKeepsSession).await;
        let (mut conn, id) = ten_bytes_in(&server).await;
        let ack = conn.cancel("/f.bin", &id).await;
        ack.assert_ack(200);
        assert_eq!(ack.header("BITS-Session-Id"), Some(id.as_str()));
        let bytes = data(100, 1);
        conn.fragment("/f.bin", &id, &bytes, 10, 19)
            .await
            .assert_received(200, 20);
    }

    #[tokio::test]
    async fn close_no_publish_discards_a_complete_upload() {
        let server = server_with(Fault::CloseNoPublish).await;
        let mut conn = server.conn().await;
        let bytes = data(10, 4);
        let id = conn.create("/n.bin").await;
        conn.fragment("/n.bin", &id, &bytes, 0, 9)
            .await
            .assert_received(200, 10);
        conn.close("/n.bin", &id).await.assert_ack(200);
        assert!(!server.path("n.bin").exists());
    }

    #[tokio::test]
    async fn the_fault_list_survives_a_reader_that_stops_early() {
        // Like `bitspec-server --list-faults | head -1`: the pipe is closed before
        // the list is written.
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bitspec-server"))
            .arg("--list-faults")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{:?}: {stderr}", output.status);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[cfg(not(feature = "faults"))]
mod without_faults {
    /// Runs the binary with `args`; its exit code and stderr.
    fn run(args: &[&str]) -> (Option<i32>, String) {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_bitspec-server"))
            .args(args)
            .output()
            .expect("run bitspec-server");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr)
    }

    #[test]
    fn fault_flags_say_the_server_was_built_without_them() {
        for args in [&["--list-faults"][..], &["--fault", "gap-accepted"]] {
            let (code, stderr) = run(args);
            assert_eq!(code, Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains("without the `faults` feature"), "{stderr}");
        }
    }

    #[test]
    fn a_configured_fault_is_an_unknown_setting() {
        let error = bitspec_server::Config::from_toml(
            "faults = [\"gap-accepted\"]",
            std::path::Path::new("t.toml"),
        )
        .expect_err("no faults in this build");
        assert!(error.to_string().contains("faults"), "{error}");
    }
}
