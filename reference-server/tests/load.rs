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
