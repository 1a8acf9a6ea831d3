//! Measures the two designs for a farm's fragment data (issue 17), with the
//! same per-fragment protocol the server runs, and prints MB/s:
//!
//! * `shared-dir`: the chosen one. The bytes go to a file at the database's
//!   next byte (`pwrite`), `fdatasync`, then `UPDATE ... SET next` under the
//!   session's advisory lock (lock + read of the row, commit, unlock).
//! * `large-object`: the bytes go into a PostgreSQL large object with
//!   `lowrite` in 256 KiB pieces, and `next` is updated, in one transaction
//!   under `pg_advisory_xact_lock`; the publish then has to copy the object out
//!   to a file (`lo_get` in 4 MiB pieces), timed apart.
//! * `local` and `local+fsync`: the single-node server's write (page cache,
//!   no database), and the same with `fdatasync`, to tell the sync's cost
//!   from the database's.
//!
//! Usage: `cargo run --release -p bitspec-server --example farm-storage-bench
//! -- [MiB] [fragment KiB] [dir]` (default 256 MiB in 4096 KiB fragments, files
//! in the temp dir). The database is `BITSPEC_POSTGRES_URL`'s server, or a
//! throwaway cluster (tests/common/postgres.rs). Bounded: the file and the
//! large object are deleted at the end.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/common/postgres.rs"]
mod postgres;

use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

const PIECE: usize = 256 * 1024;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let fragment_kib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4096);
    let dir = args
        .next()
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let total = mib * 1024 * 1024;
    let fragment = fragment_kib * 1024;
    let db = postgres::Postgres::start().expect("PostgreSQL (see the warning above)");
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS bench_sessions (id text PRIMARY KEY, next bigint NOT NULL);
             DELETE FROM bench_sessions; INSERT INTO bench_sessions VALUES ('s', 0);",
        )
        .await
        .expect("table");
    let data: Vec<u8> = (0..fragment).map(|i| (i * 31 % 251) as u8).collect();
    println!(
        "{mib} MiB in {} fragments of {fragment_kib} KiB; files in {}",
        total / fragment,
        dir.display()
    );
    let path = dir.join(format!("farm-bench-{}", std::process::id()));
    let local = local(&path, &data, total, false);
    report("local (single node, no sync)", total, local, None);
    let synced = local_fsync(&path, &data, total);
    report("local+fsync (no database)", total, synced, None);
    let (shared, db_time) = shared_dir(&client, &path, &data, total).await;
    report(
        "shared-dir (pwrite+fdatasync, UPDATE next)",
        total,
        shared,
        Some(db_time),
    );
    let fragments = (total / fragment) as u32;
    println!(
        "  database per fragment: {:.2} ms (lock+read, UPDATE, unlock: 3 round trips)",
        db_time.as_secs_f64() * 1000.0 / f64::from(fragments)
    );
    let _ = std::fs::remove_file(&path);
    let (large, publish) = large_object(&client, &path, &data, total).await;
    report(
        "large-object (lowrite + UPDATE, one transaction)",
        total,
        large,
        None,
    );
    report("  its publish (lo_get to a file)", total, publish, None);
    report(
        "  large-object upload + publish",
        total,
        large + publish,
        None,
    );
    let _ = std::fs::remove_file(&path);
}

fn report(name: &str, bytes: usize, took: Duration, db: Option<Duration>) {
    let rate = bytes as f64 / 1e6 / took.as_secs_f64();
    match db {
        Some(db) => println!(
            "{name:<50} {rate:>8.1} MB/s  ({:.2} s, database {:.2} s)",
            took.as_secs_f64(),
            db.as_secs_f64()
        ),
        None => println!("{name:<50} {rate:>8.1} MB/s  ({:.2} s)", took.as_secs_f64()),
    }
}

fn local(path: &std::path::Path, data: &[u8], total: usize, sync: bool) -> Duration {
    let file = std::fs::File::create(path).expect("file");
    let start = Instant::now();
    let mut offset = 0;
    while offset < total {
        file.write_all_at(data, offset as u64).expect("write");
        if sync {
            file.sync_data().expect("sync");
        }
        offset += data.len();
    }
    start.elapsed()
}

fn local_fsync(path: &std::path::Path, data: &[u8], total: usize) -> Duration {
    local(path, data, total, true)
}

async fn shared_dir(
    client: &Client,
    path: &std::path::Path,
    data: &[u8],
    total: usize,
) -> (Duration, Duration) {
    client
        .execute("UPDATE bench_sessions SET next = 0 WHERE id = 's'", &[])
        .await
        .expect("reset");
    let file = std::fs::File::create(path).expect("file");
    let lock = client.prepare("SELECT pg_advisory_lock($1)").await.unwrap();
    let read = client
        .prepare("SELECT next FROM bench_sessions WHERE id = 's'")
        .await
        .unwrap();
    let advance = client
        .prepare("UPDATE bench_sessions SET next = $2 WHERE id = 's' AND next = $1")
        .await
        .unwrap();
    let key = 42_i64;
    let mut db = Duration::ZERO;
    let start = Instant::now();
    let mut offset = 0;
    while offset < total {
        let t = Instant::now();
        let key_param: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&key];
        let (_, row) = tokio::try_join!(
            client.execute(&lock, &key_param),
            client.query_one(&read, &[])
        )
        .expect("lock");
        db += t.elapsed();
        let next: i64 = row.get(0);
        assert_eq!(next as usize, offset);
        file.write_all_at(data, offset as u64).expect("write");
        file.sync_data().expect("sync");
        let t = Instant::now();
        let new = (offset + data.len()) as i64;
        let n = client
            .execute(&advance, &[&next, &new])
            .await
            .expect("advance");
        assert_eq!(n, 1);
        client
            .batch_execute("SELECT pg_advisory_unlock_all()")
            .await
            .expect("unlock");
        db += t.elapsed();
        offset += data.len();
    }
    (start.elapsed(), db)
}

async fn large_object(
    client: &Client,
    path: &std::path::Path,
    data: &[u8],
    total: usize,
) -> (Duration, Duration) {
    client
        .execute("UPDATE bench_sessions SET next = 0 WHERE id = 's'", &[])
        .await
        .expect("reset");
    let oid: u32 = client
        .query_one("SELECT lo_create(0)", &[])
        .await
        .expect("lo_create")
        .get(0);
    let start = Instant::now();
    let mut offset = 0;
    while offset < total {
        client
            .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(42)")
            .await
            .expect("begin");
        let fd: i32 = client
            .query_one("SELECT lo_open($1, 131072)", &[&oid])
            .await
            .expect("lo_open")
            .get(0);
        client
            .query_one("SELECT lo_lseek64($1, $2, 0)", &[&fd, &(offset as i64)])
            .await
            .expect("seek");
        for piece in data.chunks(PIECE) {
            client
                .query_one("SELECT lowrite($1, $2)", &[&fd, &piece])
                .await
                .expect("lowrite");
        }
        let new = (offset + data.len()) as i64;
        client
            .execute(
                "UPDATE bench_sessions SET next = $2 WHERE id = 's' AND next = $1",
                &[&(offset as i64), &new],
            )
            .await
            .expect("advance");
        client.batch_execute("COMMIT").await.expect("commit");
        offset += data.len();
    }
    let upload = start.elapsed();
    let start = Instant::now();
    let file = std::fs::File::create(path).expect("file");
    let mut offset = 0;
    while offset < total {
        let row = client
            .query_one(
                "SELECT lo_get($1, $2, $3)",
                &[&oid, &(offset as i64), &(4 * 1024 * 1024_i32)],
            )
            .await
            .expect("lo_get");
        let bytes: Vec<u8> = row.get(0);
        file.write_all_at(&bytes, offset as u64).expect("write");
        offset += bytes.len().max(1);
    }
    file.sync_data().expect("sync");
    let publish = start.elapsed();
    client
        .execute("SELECT lo_unlink($1)", &[&oid])
        .await
        .expect("unlink");
    (upload, publish)
}
