//! Safety: traversal corpus, symlinks. Nothing may be read or
//! written outside the storage root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{Conn, PROTOCOL, data};

/// Traversal spellings of "go up", combined with prefixes and targets below.
const UPS: &[&str] = &[
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "%25252e%25252e",
    "..%2f..",
    "..%2F..",
    "..%5c..",
    "..%5C..",
    "..\\..",
    "%2e%2e%5c%2e%2e",
    "%c0%ae%c0%ae",
    "%e0%80%ae%e0%80%ae",
    "..%00",
    "...",
    "....//....",
    "%2e%2e%2f%2e%2e",
    "..;",
    ".%00.",
    "%uff0e%uff0e",
];

const PREFIXES: &[&str] = &["/", "/a/", "/a/b/", "/./", "//", "/a/./../"];

const TARGETS: &[&str] = &["outside/pwned.bin", "secret.txt", "etc/passwd"];

/// Extra absolute-path, NUL and drive-letter forms.
const EXTRA: &[&str] = &[
    "/%2f%2foutside/pwned.bin",
    "/%2Foutside%2Fpwned.bin",
    "/C:/outside/pwned.bin",
    "/C:%5coutside%5cpwned.bin",
    "/a%00/pwned.bin",
    "/pwned.bin%00.txt",
    "/\\\\server\\share\\pwned.bin",
    "http://127.0.0.1/../outside/pwned.bin",
    "/BITS-Sessions/../../outside/pwned.bin",
    "/BITS-Sessions/Replies/..%2f..%2f..%2fsecret.txt",
    "/%2e",
    "/.",
];

fn corpus() -> Vec<String> {
    let mut all = Vec::new();
    for prefix in PREFIXES {
        for up in UPS {
            for target in TARGETS {
                all.push(format!("{prefix}{up}/{up}/{target}"));
                all.push(format!("{prefix}{up}/{target}"));
            }
        }
    }
    all.extend(EXTRA.iter().map(|s| s.to_string()));
    all
}

/// Every regular file under `dir`, symlinks not followed.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

#[tokio::test]
async fn traversal_corpus_never_leaves_the_root() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(base.path().join("outside")).unwrap();
    std::fs::write(base.path().join("secret.txt"), b"TOP-SECRET").unwrap();
    std::os::unix::fs::symlink(base.path().join("outside"), root.join("link")).unwrap();
    std::os::unix::fs::symlink(base.path().join("secret.txt"), root.join("filelink")).unwrap();
    let server = bitspec_server::spawn(bitspec_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.clone(),
        allow_overwrites: true,
        ..bitspec_server::Config::default()
    })
    .await
    .unwrap();
    let mut attempts = 0;
    let mut corpus = corpus();
    corpus.extend([
        "/link/pwned.bin".into(),
        "/filelink".into(),
        "/link/../secret.txt".into(),
    ]);
    for path in &corpus {
        // Upload attempt: Create, one fragment, Close.
        let mut conn = Conn::open(server.local_addr()).await;
        attempts += 1;
        let raw = format!(
            "BITS_POST {path} HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Create-Session\r\n\
             BITS-Supported-Protocols: {PROTOCOL}\r\nContent-Length: 0\r\n\r\n"
        );
        conn.write(raw.as_bytes()).await;
        if let Some(reply) = conn.read(false).await
            && reply.status == 200
        {
            let id = reply.header("BITS-Session-Id").unwrap().to_string();
            conn.fragment(path, &id, b"PWNED", 0, 4).await;
            conn.close(path, &id).await;
        }
        // Read attempt.
        let mut conn = Conn::open(server.local_addr()).await;
        attempts += 1;
        conn.write(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .await;
        if let Some(reply) = conn.read(false).await {
            assert!(
                !String::from_utf8_lossy(&reply.body).contains("TOP-SECRET"),
                "{path} leaked the secret"
            );
        }
    }
    let mut all = Vec::new();
    files(base.path(), &mut all);
    for file in &all {
        assert!(
            file.starts_with(&root) || file == &base.path().join("secret.txt"),
            "written outside the root: {}",
            file.display()
        );
    }
    assert!(
        std::fs::read_dir(base.path().join("outside"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(attempts > 500, "{attempts} attempts");
    eprintln!("traversal attempts: {attempts}");
    server.shutdown().await;
}

#[tokio::test]
async fn symlink_planted_during_an_upload_is_refused_at_publish() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::create_dir_all(base.path().join("outside")).unwrap();
    let server = bitspec_server::spawn(bitspec_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.clone(),
        ..bitspec_server::Config::default()
    })
    .await
    .unwrap();
    let mut conn = Conn::open(server.local_addr()).await;
    let id = conn.create("/dir/x.bin").await;
    conn.fragment("/dir/x.bin", &id, b"abc", 0, 2)
        .await
        .assert_received(200, 3);
    std::fs::remove_dir(root.join("dir")).unwrap();
    std::os::unix::fs::symlink(base.path().join("outside"), root.join("dir")).unwrap();
    let reply = conn.close("/dir/x.bin", &id).await;
    assert_eq!(reply.status, 400);
    assert!(!base.path().join("outside/x.bin").exists());
    server.shutdown().await;
}

/// A symlink planted as a session's entity is not followed: the fragment
/// fails (500 E_FAIL) instead of writing where the link points. (A full disk
/// is tested for real on a tmpfs, `tests/disk_full.rs`; this test once used
/// such a link to `/dev/full`.)
#[tokio::test]
async fn a_symlink_planted_as_the_entity_is_not_followed() {
    let server = common::TestServer::start().await;
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("target.bin");
    std::fs::write(&target, b"").unwrap();
    let mut conn = server.conn().await;
    let id = conn.create("/planted.bin").await;
    let entity = server.path("BITS-Sessions").join(&id).join("data");
    std::fs::remove_file(&entity).unwrap();
    std::os::unix::fs::symlink(&target, &entity).unwrap();
    let bytes = data(1000, 1);
    let reply = conn.fragment("/planted.bin", &id, &bytes, 0, 999).await;
    reply.assert_error(500, "0x80004005", "0x5");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"",
        "written through the link"
    );
    assert!(!server.path("planted.bin").exists());
}
