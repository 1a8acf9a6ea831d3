//! bitspec-server: a BITS upload server (the bitspec reference server).
//!
//! Architecture. [`spawn`] binds a TCP listener, starts the worker threads
//! (`workers.rs`, one single-threaded runtime per core), which accept from it
//! and serve each connection with hyper's HTTP/1 server and per-connection
//! limits (`server.rs`; a few get a wider read buffer, `wide_reads.rs`), and
//! runs the periodic cleanup (`cleanup.rs`) on the current tokio runtime. What
//! every connection shares is in `shared.rs`. Each
//! `BITS_POST` goes through `packets.rs`, which applies the validation order
//! of MC-BUP §3.2.5.2.3 and the fragment rules, and answers with an
//! [`ack::Ack`]. Sessions live on disk (`session.rs`): a JSON record plus
//! an append-only entity file under `ROOT/BITS-Sessions/{GUID}/`, so they
//! survive restarts and idle sessions cost no memory. `storage.rs` streams
//! bodies to disk through buffers lent with a body permit (`body_permits.rs`)
//! and publishes complete uploads with an atomic hard link;
//! `paths.rs` keeps every request inside the root, and `root_dir.rs`
//! resolves every path under it relative to an open handle, never through a symlink. `reply.rs` notifies the
//! server application in upload-reply mode, `download.rs` serves GET/HEAD, and
//! `auth.rs` implements optional Basic authentication, `tls.rs` HTTPS,
//! `quotas.rs` the per-client bounds on connections, sessions and bytes. [`example_app`] is a
//! small server application for upload-reply, used by the tests.
//!
//! With the cargo feature `faults` (off by default; bitspec enables it for its
//! self-test), `fault/` is a catalogue of deliberate protocol bugs: a
//! `PacketLayer` (`shared.rs`) that [`spawn`] installs when faults are named and
//! that `server.rs` hands each BITS_POST to; the request path has no fault checks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bitspec_server::ServerError> {
//! let server = bitspec_server::spawn(bitspec_server::Config {
//!     listen: "127.0.0.1:0".parse().expect("address"),
//!     root: "/tmp/uploads".into(),
//!     ..bitspec_server::Config::default()
//! })
//! .await?;
//! println!("BITS uploads go to {}", server.base_url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod ack;
mod auth;
mod body_permits;
mod byte_ranges;
mod cleanup;
pub mod config;
mod download;
pub mod example_app;
pub mod farm;
#[cfg(feature = "faults")]
pub mod fault;
mod packets;
mod paths;
pub mod protocol;
mod quotas;
mod reply;
mod root_dir;
mod server;
mod session;
mod shared;
mod storage;
mod tls;
mod wide_reads;
mod windows_auth;
mod workers;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{
    CommitPoint, Config, ConfigError, ErrorHeader, NotificationType, OverlapPolicy, ReplyUrlStyle,
    Storage, User,
};
#[cfg(feature = "faults")]
pub use fault::Fault;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot prepare storage root {path}: {source}")]
    Storage {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Farm(#[from] farm::FarmError),
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server: its worker threads, and its cleanup on the current tokio
/// runtime.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    /// `https` when a certificate is configured.
    scheme: &'static str,
    stop: watch::Sender<bool>,
    /// Completes when every worker has drained its connections and ended.
    workers: JoinHandle<()>,
    cleanup: JoinHandle<()>,
}

impl RunningServer {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT/`, or `https://IP:PORT/` when serving HTTPS.
    pub fn base_url(&self) -> String {
        format!("{}://{}/", self.scheme, self.addr)
    }

    /// Stops accepting, lets requests in flight finish (up to 10 s), stops the cleanup.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.workers.await;
        let _ = self.cleanup.await;
    }
}

/// Binds `config.listen`, prepares `config.root` and starts serving. Returns at once.
pub async fn spawn(config: Config) -> Result<RunningServer, ServerError> {
    config.validate()?;
    // The one place a packet layer is installed: the fault catalogue, when the
    // server is built with the `faults` feature and told to use some.
    #[cfg(feature = "faults")]
    let (config, layer) = fault::install(config);
    let root = config.root.clone();
    let tls = match (&config.tls_certificate, &config.tls_key) {
        (Some(certificate), Some(key)) => Some(tls::server_config(certificate, key)?),
        _ => None,
    };
    let mut shared = shared::Shared::new(config)
        .map_err(|source| ServerError::Storage { path: root, source })?;
    shared.tls = tls;
    if shared.config.storage == Storage::Postgres {
        let farm = farm::Farm::connect(&shared.config).await?;
        shared.sessions.use_store(farm);
    }
    #[cfg(feature = "faults")]
    {
        shared.layer = layer;
    }
    let scheme = shared.scheme();
    let addr = shared.config.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let listener = listener
        .into_std()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let shared = Arc::new(shared);
    let (stop, stopped) = watch::channel(false);
    let config = &shared.config;
    let ended = workers::start(
        config.workers,
        config.max_connections,
        &listener,
        &shared,
        &stopped,
    )
    .map_err(ServerError::Workers)?;
    drop(listener);
    let workers = tokio::spawn(async move {
        for worker in ended {
            let _ = worker.await;
        }
    });
    let node = shared.config.node_name.as_deref().unwrap_or("-");
    tracing::info!(%addr, %scheme, %node, "bitspec-server listening");
    let cleanup = tokio::spawn(cleanup::run(shared, stopped));

    Ok(RunningServer {
        addr,
        scheme,
        stop,
        workers,
        cleanup,
    })
}
