//! Connection workers: one thread per core, each with a single-threaded runtime.
//!
//! hyper hands a request body to its handler one frame at a time, and each
//! frame re-schedules the connection's task. On tokio's work-stealing runtime
//! every such re-schedule also woke an idle worker thread (an `eventfd` write
//! and a context switch), four to five times per 64 KiB fragment: the profile
//! of `bitspec bench` put a quarter of the server's time there. A connection
//! never needs two threads at once, so each worker accepts from the shared
//! listening socket and serves what it accepted for the connection's whole
//! life: the layout of nginx's worker processes. A worker accepts only when it
//! is not busy, so an idle one takes the next connection; a central accept
//! loop handing connections out accepted a thousand at once and held them all
//! (7 MiB more at the peak of `bench/run.sh` (c)).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinSet;

use crate::server;
use crate::shared::Shared;

/// How long a stopping worker lets its connections finish.
const DRAIN: Duration = Duration::from_secs(10);

/// Connections served at once per worker when `max_connections` is 0 (nginx's
/// usual `worker_connections`), within the open files limit (see
/// [`default_connections`]). About 20 KiB each while a request is in flight
/// (hyper's 8 KiB read and write buffers, the request's state), so at most
/// 20 MiB per worker.
pub const CONNECTIONS_PER_WORKER: usize = 1024;

/// 1,024 per worker, and no more than a quarter of the open files the process
/// may have: a connection can hold its socket, an entity, a record or a file
/// being downloaded.
fn default_connections(workers: usize) -> usize {
    let by_workers = workers.saturating_mul(CONNECTIONS_PER_WORKER);
    let by_files = rlimit::Resource::NOFILE
        .get()
        .map_or(u64::MAX, |(soft, _)| soft / 4);
    by_workers
        .min(usize::try_from(by_files).unwrap_or(usize::MAX))
        .max(16)
}

/// Starts `count` workers (0: one per CPU core) accepting on `listener` until
/// `stop` changes (or its sender is dropped), serving at most
/// `max_connections` connections at once between them (0: see
/// [`default_connections`]); further clients wait in the listen backlog. Each
/// returned receiver completes when its worker has drained its connections
/// and ended.
pub fn start(
    count: usize,
    max_connections: usize,
    listener: &std::net::TcpListener,
    shared: &Arc<Shared>,
    stop: &watch::Receiver<bool>,
) -> io::Result<Vec<oneshot::Receiver<()>>> {
    let count = match count {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let limit = match max_connections {
        0 => default_connections(count),
        n => n,
    };
    let limit = Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)));
    let mut ended = Vec::with_capacity(count);
    for index in 0..count {
        let listener = listener.try_clone()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (done, end) = oneshot::channel();
        let (shared, stop, limit) = (Arc::clone(shared), stop.clone(), Arc::clone(&limit));
        std::thread::Builder::new()
            .name(format!("bitspec-worker-{index}"))
            .spawn(move || {
                // A farm's nodes tell their log lines apart by this span.
                let _node = shared
                    .config
                    .node_name
                    .as_ref()
                    .map(|name| tracing::info_span!("node", name = %name).entered());
                runtime.block_on(work(listener, limit, shared, stop));
                let _ = done.send(());
            })?;
        ended.push(end);
    }
    Ok(ended)
}

/// A worker's life: accept and serve until stopped, then drain.
async fn work(
    listener: std::net::TcpListener,
    limit: Arc<Semaphore>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "worker cannot listen");
            return;
        }
    };
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = accept(&listener, &limit) => match accepted {
                Ok((stream, peer, permit)) => {
                    let shared = Arc::clone(&shared);
                    let stop = stop.clone();
                    connections.spawn(async move {
                        server::serve_connection(stream, peer, shared, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors, most likely: let connections end.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after 10 s; dropping them"
        );
    }
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> io::Result<(TcpStream, std::net::SocketAddr, OwnedSemaphorePermit)> {
    let permit = Arc::clone(limit)
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}
