//! The symlink swap race (issue 14): a local process able to write inside the
//! root swaps a folder for a symlink to the outside and back, as fast as it
//! can, while clients upload into that folder and download from it. Nothing
//! may be written outside the root, nothing outside may be read. Bounded:
//! 4 clients for 3 s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Conn;

const SECRET: &[u8] = b"TOP-SECRET outside the root";
const CLIENTS: usize = 4;
const RUN_FOR: Duration = Duration::from_secs(3);
const MIN_ROUNDS: u64 = 20;
const MIN_SWAPS: u64 = 20;
const GIVE_UP: Duration = Duration::from_secs(30);

/// Swaps `root/swap` between a real folder and a symlink to `outside` until
/// `stop`; returns how many swaps it made.
fn swapper(root: &Path, outside: &Path, stop: &AtomicBool, done: &AtomicU64) -> u64 {
    let (swap, parked) = (root.join("swap"), root.join("swap.real"));
    let mut swaps = 0;
    while !stop.load(Ordering::Relaxed) {
        if std::fs::rename(&swap, &parked).is_ok() {
            let _ = std::os::unix::fs::symlink(outside, &swap);
            std::thread::yield_now();
            let _ = std::fs::remove_file(&swap);
            let _ = std::fs::rename(&parked, &swap);
            swaps += 1;
            done.store(swaps, Ordering::Relaxed);
        }
        std::thread::yield_now();
    }
    swaps
}

#[tokio::test]
async fn a_folder_swapped_for_a_symlink_never_leads_outside() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    std::fs::create_dir_all(root.join("swap")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("swap/read.bin"), b"inside").unwrap();
    std::fs::write(outside.join("read.bin"), SECRET).unwrap();
    let server = bitspec_server::spawn(bitspec_server::Config {
        allow_overwrites: true,
        ..common::config_in(&root)
    })
    .await
    .unwrap();
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    // Swaps so far: on a loaded machine the clients go on until the swapper has
    // really raced them (MIN_SWAPS, at most GIVE_UP).
    let swaps_done = Arc::new(AtomicU64::new(0));
    let swapping = {
        let (root, outside, stop) = (root.clone(), outside.clone(), Arc::clone(&stop));
        let done = Arc::clone(&swaps_done);
        std::thread::spawn(move || swapper(&root, &outside, &stop, &done))
    };
    let uploads = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let gets = Arc::new(AtomicU64::new(0));
    let leaks = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let swaps_done = Arc::clone(&swaps_done);
        let (uploads, published, gets, leaks) = (
            Arc::clone(&uploads),
            Arc::clone(&published),
            Arc::clone(&gets),
            Arc::clone(&leaks),
        );
        clients.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut n = 0;
            // At least RUN_FOR, and on a loaded machine until each client has made
            // MIN_ROUNDS uploads (at most GIVE_UP), so the race has really run.
            while started.elapsed() < RUN_FOR
                || ((n < MIN_ROUNDS || swaps_done.load(Ordering::Relaxed) <= MIN_SWAPS)
                    && started.elapsed() < GIVE_UP)
            {
                n += 1;
                let path = format!("/swap/c{client}-{n}.bin");
                let mut conn = Conn::open(addr).await;
                uploads.fetch_add(1, Ordering::Relaxed);
                if let Some(id) = try_create(&mut conn, &path).await {
                    conn.fragment(&path, &id, b"PWNED", 0, 4).await;
                    if conn.close(&path, &id).await.status == 200 {
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let got = conn.get("/swap/read.bin", &[]).await;
                gets.fetch_add(1, Ordering::Relaxed);
                if got.body.windows(SECRET.len()).any(|w| w == SECRET) {
                    leaks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapping.join().unwrap();
    server.shutdown().await;
    let escaped: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "read.bin")
        .collect();
    let (uploads, published, gets, leaks) = (
        uploads.load(Ordering::Relaxed),
        published.load(Ordering::Relaxed),
        gets.load(Ordering::Relaxed),
        leaks.load(Ordering::Relaxed),
    );
    eprintln!(
        "symlink race: {swaps} swaps, {uploads} uploads ({published} published inside), \
         {} landed outside; {gets} GETs, {leaks} read outside",
        escaped.len()
    );
    assert!(escaped.is_empty(), "uploads outside the root: {escaped:?}");
    assert_eq!(leaks, 0, "GETs served a file outside the root");
    assert!(swaps > MIN_SWAPS && uploads > 50, "the race did not run");
}

/// Create-Session; `None` when refused (the folder was a symlink just then).
async fn try_create(conn: &mut Conn, path: &str) -> Option<String> {
    let reply = conn
        .bits(
            path,
            "Create-Session",
            &[("BITS-Supported-Protocols", common::PROTOCOL)],
            b"",
        )
        .await;
    (reply.status == 200).then(|| reply.header("BITS-Session-Id").unwrap().to_string())
}
