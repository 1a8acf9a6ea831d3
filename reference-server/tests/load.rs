//! Bounded load: many concurrent uploads, each checked byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Conn, TestServer, data, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_uploads_are_all_intact() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let addr = server.addr();
        tasks.push(tokio::spawn(async move {
            let bytes = data(64 * 1024 + usize::from(i), i);
            let mut conn = Conn::open(addr).await;
            upload(&mut conn, &format!("/load/{i}.bin"), &bytes, 16 * 1024).await;
            (i, bytes)
        }));
    }
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        let mut done = Vec::new();
        for task in tasks {
            done.push(task.await.unwrap());
        }
        done
    })
    .await
    .expect("50 uploads within 60 s");
    for (i, bytes) in all {
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
        let mut tasks = Vec::new();
        for i in 0..12u8 {
            let addr = server.addr();
            tasks.push(tokio::spawn(async move {
                let bytes = data(700 * 1024 + usize::from(i) * 977, i);
                let mut conn = Conn::open(addr).await;
                upload(&mut conn, &format!("/big/{i}.bin"), &bytes, 300 * 1024 + 7).await;
                (i, bytes)
            }));
        }
        let all = tokio::time::timeout(Duration::from_secs(60), async {
            let mut done = Vec::new();
            for task in tasks {
                done.push(task.await.unwrap());
            }
            done
        })
        .await
        .expect("12 uploads within 60 s");
        for (i, bytes) in all {
            let stored = std::fs::read(server.path(&format!("big/{i}.bin"))).unwrap();
            assert!(stored == bytes, "workers = {workers}: big/{i}.bin differs");
        }
        // Graceful shutdown returns once the workers' connections are done.
        tokio::time::timeout(Duration::from_secs(15), server.server.shutdown())
            .await
            .expect("shutdown within 15 s");
    }
}
