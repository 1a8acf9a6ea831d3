//! Reliability under kill -9 (issue 14): the real binary killed at random
//! points and inside every step of a publish, then restarted; the client
//! resumes and every file ends byte-identical, no acknowledged byte lost, no
//! temporary name ever visible in a destination folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Conn, Reply, data, fragment_head, start_binary};

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A kill -9 inside Close at each step of the publish, with and without
/// overwrites: the retried Close is 200 (not 409, not 0x8020001F), the file is
/// the upload, and the destination folder never holds a temporary name.
#[tokio::test]
async fn a_kill_at_each_publish_step_then_a_retried_close_publishes() {
    let bytes = data(300_000, 9);
    let cases = [
        (false, "publish-before-link"),
        (false, "publish-linked"),
        (false, "publish-before-record"),
        (true, "publish-before-link"),
        (true, "publish-linked"),
        (true, "publish-renamed"),
        (true, "publish-before-record"),
    ];
    for (overwrite, point) in cases {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("out")).unwrap();
        if overwrite {
            std::fs::write(root.path().join("out/f.bin"), b"old").unwrap();
        }
        let args = [
            "--allow-overwrites",
            if overwrite { "true" } else { "false" },
        ];
        let (mut child, addr) = start_binary(root.path(), &args, Some(point)).await;
        let mut conn = Conn::open(addr).await;
        let id = conn.create("/out/f.bin").await;
        for first in (0..300_000).step_by(100_000) {
            conn.fragment("/out/f.bin", &id, &bytes, first, first + 99_999)
                .await
                .assert_received(200, first as u64 + 100_000);
        }
        let close = format!(
            "BITS_POST /out/f.bin HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Close-Session\r\n\
             BITS-Session-Id: {id}\r\nContent-Length: 0\r\n\r\n"
        );
        let answer = conn.try_raw(close.as_bytes()).await;
        assert!(answer.is_none(), "{point}: Close answered {answer:?}");
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "{point}: the server was killed");
        assert_eq!(
            names(&root.path().join("out")),
            names_expected(overwrite, point)
        );

        let (mut child, addr) = start_binary(root.path(), &args, None).await;
        let mut conn = Conn::open(addr).await;
        // Before the retry, GET serves a whole file or nothing, never a part.
        let got = conn.get("/out/f.bin", &[]).await;
        match got.status {
            200 => assert!(got.body == bytes || got.body == b"old", "{point}: GET"),
            404 => assert!(!overwrite),
            other => panic!("{point}: GET {other}"),
        }
        conn.close("/out/f.bin", &id).await.assert_ack(200);
        conn.close("/out/f.bin", &id).await.assert_ack(200);
        assert!(
            std::fs::read(root.path().join("out/f.bin")).unwrap() == bytes,
            "{point} (overwrites {overwrite}): published file differs"
        );
        assert_eq!(names(&root.path().join("out")), ["f.bin"], "{point}");
        assert!(conn.get("/out/f.bin", &[]).await.body == bytes);
        child.kill().await.unwrap();
    }
}

/// What the destination folder may hold right after the kill at `point`.
fn names_expected(overwrite: bool, point: &str) -> Vec<String> {
    // With overwrites the old file stays until the rename; without, the file
    // appears with the link.
    let linked = point != "publish-before-link";
    if overwrite || linked {
        vec!["f.bin".to_string()]
    } else {
        Vec::new()
    }
}

/// A small deterministic generator (xorshift), seeded and printed per run.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One upload in progress on the client side.
struct Upload {
    path: String,
    bytes: Vec<u8>,
    id: Option<String>,
    /// Bytes the server acknowledged.
    acked: usize,
    done: bool,
}

/// kill -9 at random moments (between and inside fragments, Creates and
/// Closes) while several files upload; after each restart the client resumes
/// from what the server says it has. Bounded: 25 kills, then the
/// uploads finish undisturbed; 120 s at most.
#[tokio::test]
async fn random_kills_lose_no_acknowledged_byte() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("random kills: seed {seed}");
    let mut random = Random(seed);
    let root = tempfile::tempdir().unwrap();
    // Files are uploaded four at a time; a new batch starts while kills remain.
    let batch = |from: usize| -> Vec<Upload> {
        (from..from + 4)
            .map(|i| Upload {
                path: format!("/k/file{i}.bin"),
                bytes: data(1_000_000 + (i % 4) * 377_777, i as u8),
                id: None,
                acked: 0,
                done: false,
            })
            .collect()
    };
    let mut uploads = batch(0);
    let (mut kills, mut lost, mut retried_closes) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    while uploads.iter().any(|u| !u.done) || kills < KILLS {
        assert!(started.elapsed() < Duration::from_secs(120), "bounded");
        if uploads.iter().all(|u| u.done) {
            let next = batch(uploads.len());
            uploads.extend(next);
        }
        let crash_at = match random.below(4) {
            0 => Some(["publish-linked", "publish-before-record"][random.below(2) as usize]),
            _ => None,
        };
        // After the last kill the server is left alone so the uploads finish.
        let calm = kills >= KILLS;
        let crash_at = crash_at.filter(|_| !calm);
        let (mut child, addr) = start_binary(root.path(), &[], crash_at).await;
        let delay = Duration::from_millis(if calm { 60_000 } else { random.below(25) });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let killer = tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stopped => {}
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
        });
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            killer.await.unwrap();
            kills += 1;
            continue;
        };
        let mut conn = Conn::over(stream);
        'serve: for upload in uploads.iter_mut().filter(|u| !u.done) {
            let id = match &upload.id {
                Some(id) => id.clone(),
                None => {
                    let raw = format!(
                        "BITS_POST {} HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Create-Session\r\n\
                         BITS-Supported-Protocols: {}\r\nContent-Length: 0\r\n\r\n",
                        upload.path,
                        common::PROTOCOL
                    );
                    let Some(reply) = conn.try_raw(raw.as_bytes()).await else {
                        break 'serve;
                    };
                    reply.assert_ack(200);
                    let id = reply.header("BITS-Session-Id").unwrap().to_string();
                    upload.id = Some(id.clone());
                    id
                }
            };
            let total = upload.bytes.len();
            loop {
                if upload.acked == total {
                    let raw = format!(
                        "BITS_POST {} HTTP/1.1\r\nHost: a\r\nBITS-Packet-Type: Close-Session\r\n\
                         BITS-Session-Id: {id}\r\nContent-Length: 0\r\n\r\n",
                        upload.path
                    );
                    let Some(reply) = conn.try_raw(raw.as_bytes()).await else {
                        retried_closes += 1;
                        break 'serve;
                    };
                    reply.assert_ack(200);
                    upload.done = true;
                    break;
                }
                let first = upload.acked;
                let last = (first + 16_384 + random.below(150_000) as usize).min(total) - 1;
                let mut raw =
                    fragment_head(&upload.path, &id, first as u64, last as u64, total as u64)
                        .into_bytes();
                raw.extend_from_slice(&upload.bytes[first..=last]);
                let Some(reply) = conn.try_raw(&raw).await else {
                    break 'serve;
                };
                let next = server_offset(&reply);
                if next < upload.acked {
                    lost += (upload.acked - next) as u64;
                }
                upload.acked = next;
            }
        }
        // Whatever the client was doing, the server dies now if not yet.
        let interrupted = uploads.iter().any(|u| !u.done);
        let _ = stop.send(());
        killer.await.unwrap();
        if interrupted {
            kills += 1;
        }
    }
    for upload in &uploads {
        let stored = std::fs::read(root.path().join(upload.path.trim_start_matches('/'))).unwrap();
        assert!(stored == upload.bytes, "{} differs", upload.path);
    }
    eprintln!(
        "random kills: {kills} kills ({retried_closes} inside or around a Close), \
         {lost} acknowledged bytes lost, {}/{} files identical",
        uploads.len(),
        uploads.len()
    );
    assert_eq!(lost, 0, "acknowledged bytes lost");
    let leftovers: Vec<String> = names(&root.path().join("k"))
        .into_iter()
        .filter(|n| !n.starts_with("file"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary names visible: {leftovers:?}"
    );
}

/// Kills of the random test.
const KILLS: u64 = 25;

/// The next byte the server expects, from a 200 or a 416.
fn server_offset(reply: &Reply) -> usize {
    assert!(
        reply.status == 200 || reply.status == 416,
        "fragment answered {} {:?}",
        reply.status,
        reply.headers
    );
    reply
        .header("BITS-Received-Content-Range")
        .unwrap()
        .parse()
        .unwrap()
}
