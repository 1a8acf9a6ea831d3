//! Basic authentication, and configuration through TOML and flags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use base64::Engine;
use bitspec_server::{Config, User};
use common::{PROTOCOL, TestServer};

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

#[tokio::test]
async fn basic_auth_challenges_then_checks_paths() {
    let server = TestServer::with(|c| {
        c.users = vec![User {
            name: "alice".into(),
            password: "s3cret".into(),
            paths: vec!["/alice/".into()],
        }];
    })
    .await;
    let mut conn = server.conn().await;
    let reply = conn.bits("/alice/x.bin", "Ping", &[], b"").await;
    reply.assert_ack(401);
    assert_eq!(
        reply.header("WWW-Authenticate"),
        Some("Basic realm=\"bitspec\"")
    );
    let wrong = basic("alice", "nope");
    conn.bits("/alice/x.bin", "Ping", &[("Authorization", &wrong)], b"")
        .await
        .assert_ack(401);
    let good = basic("alice", "s3cret");
    conn.bits("/alice/x.bin", "Ping", &[("Authorization", &good)], b"")
        .await
        .assert_ack(200);
    let create = [
        ("Authorization", good.as_str()),
        ("BITS-Supported-Protocols", PROTOCOL),
    ];
    conn.bits("/bob/x.bin", "Create-Session", &create, b"")
        .await
        .assert_error(403, "0x80070005", "0x5");
    let reply = conn
        .bits("/alice/x.bin", "Create-Session", &create, b"")
        .await;
    reply.assert_ack(200);
    let id = reply.header("BITS-Session-Id").unwrap().to_string();
    let frag = [
        ("Authorization", good.as_str()),
        ("BITS-Session-Id", id.as_str()),
        ("Content-Range", "bytes 0-2/3"),
    ];
    conn.bits("/alice/x.bin", "Fragment", &frag, b"abc")
        .await
        .assert_received(200, 3);
    // Without credentials even a valid session id gets the challenge.
    conn.fragment("/alice/x.bin", &id, b"abc", 0, 2)
        .await
        .assert_ack(401);
    assert_eq!(conn.get("/alice/x.bin", &[]).await.status, 401);
}

#[test]
fn toml_config_parses_and_names_unknown_keys() {
    let text = r#"
        listen = "127.0.0.1:9999"
        root = "/srv/bits"
        session_timeout = 60
        max_upload_size = 1000
        notification_type = "by-value"
        notification_url = "http://127.0.0.1:9000/app"
        existing_destination_status = 403
        error_header = "both"
        commit_point = "last-fragment"
        overlap = "reject"
        [[users]]
        name = "alice"
        password = "pw"
    "#;
    let config = Config::from_toml(text, Path::new("x.toml")).unwrap();
    assert_eq!(config.session_timeout, 60);
    assert_eq!(config.max_upload_size, 1000);
    assert_eq!(config.users.len(), 1);
    assert_eq!(
        config.max_fragment_size,
        Config::default().max_fragment_size
    );

    let err = Config::from_toml("sesion_timeout = 5\n", Path::new("bad.toml")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("sesion_timeout") && message.contains("bad.toml"),
        "{message}"
    );
    let err =
        Config::from_toml("existing_destination_status = 404\n", Path::new("b.toml")).unwrap_err();
    assert!(
        err.to_string().contains("existing_destination_status"),
        "{err}"
    );
    let err =
        Config::from_toml("notification_type = \"by-value\"\n", Path::new("c.toml")).unwrap_err();
    assert!(err.to_string().contains("notification_url"), "{err}");
    let config = Config::from_toml("workers = 3\n", Path::new("d.toml")).unwrap();
    assert_eq!(config.workers, 3);
    let err = Config::from_toml("workers = 5000\n", Path::new("e.toml")).unwrap_err();
    assert!(err.to_string().contains("workers"), "{err}");
    let err = Config::from_toml("max_connections = 2000000\n", Path::new("f.toml")).unwrap_err();
    assert!(err.to_string().contains("max_connections"), "{err}");
}

#[test]
fn defaults_are_the_iis_defaults() {
    let config = Config::default();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.root, Path::new("./uploads"));
    assert_eq!(config.session_timeout, 1_209_600);
    assert_eq!(config.host_id_fallback_timeout, 86_400);
    assert_eq!(config.cleanup_interval, 12 * 3600);
    assert_eq!(config.sessions_per_user_limit, 50);
    assert!(!config.allow_overwrites);
    assert_eq!(config.max_upload_size, 1_844_674_407_370_955);
    assert!(config.uploads_enabled);
    assert_eq!(config.max_header_value, 4096);
}

#[test]
fn binary_help_and_bad_config() {
    let bin = env!("CARGO_BIN_EXE_bitspec-server");
    let help = std::process::Command::new(bin)
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--listen",
        "--root",
        "--config",
        "--session-timeout",
        "--max-upload-size",
        "--notification-type",
        "--notification-url",
        "--host-id",
        "--host-id-fallback-timeout",
        "--allow-overwrites",
        "--cleanup-interval",
        "--sessions-per-user-limit",
        "--max-fragment-size",
        "--commit-point",
        "--error-header",
        "--user",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nmax_fragmnet_size = 5\n").unwrap();
    let out = std::process::Command::new(bin)
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_fragmnet_size"), "{err}");
}

#[tokio::test]
async fn binary_logs_one_line_per_packet() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let root = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bitspec-server"))
        .args(["--listen", "127.0.0.1:0", "--root"])
        .arg(root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/');
    let mut conn = common::Conn::open(addr.parse().unwrap()).await;
    conn.bits("/log.bin", "Ping", &[], b"")
        .await
        .assert_ack(200);
    let id = conn.create("/log.bin").await;
    conn.close("/log.bin", &id).await.assert_ack(200);
    child.start_kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let packets: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("BITS packet"))
        .collect();
    assert_eq!(packets.len(), 3, "{stderr}");
    assert!(
        packets[0].contains("packet=Ping") && packets[0].contains("status=200"),
        "{}",
        packets[0]
    );
    // Sessions are named by a prefix at INFO: the full id is what it takes to
    // continue a session, and logs are read by more people than uploaders.
    let prefix = &id[..9];
    assert!(packets[1].contains("packet=Create-Session") && packets[1].contains(prefix));
    assert!(packets[2].contains("packet=Close-Session") && packets[2].contains(prefix));
    assert!(!stderr.contains(&id), "full session id at INFO: {stderr}");
}
