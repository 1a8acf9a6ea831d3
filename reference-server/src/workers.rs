//! Connection workers: one thread per core, each with a single-threaded runtime.
//!
//! hyper hands a request body to its handler one frame at a time, and each
//! frame re-schedules the connection's task. On tokio's work-stealing runtime
//! every such re-schedule also wakes an idle worker thread (an `eventfd` write
//! and a context switch), four to five times per 64 KiB fragment: the profile
//! of `bitspec bench` put a quarter of the server's time there. A connection
//! never needs two threads at once, so each accepted connection is handed to
//! one worker for its whole life, round robin, and its wake-ups stay on that
//! thread: the layout of nginx's worker processes or actix-web's workers.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::server::graceful::Watcher;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::server::{self, Shared};

/// An accepted connection on its way to a worker.
struct Job {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    watcher: Watcher,
}

/// The worker threads; dropping this lets each finish once its queue is empty.
#[derive(Debug)]
pub struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: usize,
}

impl Workers {
    /// Starts `count` workers (0: one per CPU core) serving with `shared`.
    pub fn start(count: usize, shared: &Arc<Shared>) -> io::Result<Self> {
        let count = match count {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut queues = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (queue, jobs) = mpsc::unbounded_channel();
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name(format!("bitspec-worker-{index}"))
                .spawn(move || runtime.block_on(work(jobs, shared)))?;
            queues.push(queue);
        }
        Ok(Self { queues, next: 0 })
    }

    /// Hands an accepted connection to the next worker.
    pub fn hand(&mut self, stream: TcpStream, peer: SocketAddr, watcher: Watcher) {
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "cannot hand the connection to a worker");
                return;
            }
        };
        self.next = (self.next + 1) % self.queues.len();
        let job = Job {
            stream,
            peer,
            watcher,
        };
        if self.queues[self.next].send(job).is_err() {
            tracing::warn!(%peer, "worker gone; connection dropped");
        }
    }
}

/// A worker's life: serve each connection it is handed, on its own runtime.
async fn work(mut jobs: mpsc::UnboundedReceiver<Job>, shared: Arc<Shared>) {
    while let Some(job) = jobs.recv().await {
        let stream = match TcpStream::from_std(job.stream) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(peer = %job.peer, error = %e, "cannot register the connection");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(server::serve_connection(
            stream,
            job.peer,
            shared,
            job.watcher,
        ));
    }
}
