//! Bounded load: many concurrent uploads, each checked byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Conn, TestServer, data, upload};

/// Uploads `count` files at once, file `i` of `size(i)` bytes in fragments of
/// `fragment` bytes, to `folder/i.bin`; returns each file's bytes (60 s at most).
async fn upload_all(
    server: &TestServer,
    folder: &'static str,
    count: u8,
    size: fn(u8) -> usize,
    fragment: usize,
) -> Vec<(u8, Vec<u8>)> {
    let mut tasks = Vec::new();
    for i in 0..count {
        let addr = server.addr();
        tasks.push(tokio::spawn(async move {
            let bytes = data(size(i), i);
            let mut conn = Conn::open(addr).await;
            upload(&mut conn, &format!("/{folder}/{i}.bin"), &bytes, fragment).await;
            (i, bytes)
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.unwrap());
        }
        done
    })
    .await
    .expect("uploads within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_uploads_are_all_intact() {
    let server = TestServer::start().await;
    let size = |i: u8| 64 * 1024 + usize::from(i);
    for (i, bytes) in upload_all(&server, "load", 50, size, 16 * 1024).await {
        assert_eq!(
            std::fs::read(server.path(&format!("load/{i}.bin"))).unwrap(),
            bytes
        );
    }
}

/// Fragments larger than a body permit's 256 KiB write buffer and not a
/// multiple of it, more uploads than body permits (8), on one worker thread
/// and on three: every file intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_fragments_across_workers_are_intact() {
    for workers in [1, 3] {
        let server = TestServer::with(|c| c.workers = workers).await;
        let size = |i: u8| 700 * 1024 + usize::from(i) * 977;
        for (i, bytes) in upload_all(&server, "big", 12, size, 300 * 1024 + 7).await {
            let stored = std::fs::read(server.path(&format!("big/{i}.bin"))).unwrap();
            assert!(stored == bytes, "workers = {workers}: big/{i}.bin differs");
        }
        // Graceful shutdown returns once the workers' connections are done.
        tokio::time::timeout(Duration::from_secs(15), server.server.shutdown())
            .await
            .expect("shutdown within 15 s");
    }
}
