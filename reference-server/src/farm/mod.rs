//! A farm of bitspec-servers: any node continues any session.
//!
//! With `storage = "postgres"` the session records live in PostgreSQL
//! (`records.rs`) instead of `session.json` files, and every node mounts the
//! same storage root (NFS, CephFS, or one disk for nodes on one machine), where
//! the entity files, the replies and the published uploads stay exactly where
//! the single-node server keeps them. The database is the truth about the next
//! expected byte: a fragment is written at that offset, made durable with
//! `fdatasync`, and only then is `next` advanced by one conditional `UPDATE`,
//! committed before the Ack leaves (`records.rs`, [`Farm::commit`]). Bytes past
//! `next` (a node killed mid-fragment) are cut off by the next writer.
//!
//! Two nodes never write one session at once: a packet of a session holds a
//! PostgreSQL advisory lock on a connection of its own (`lock.rs`), as the
//! single-node server holds a lock in memory; PostgreSQL drops it with the
//! connection when a node dies. The cleanup runs on one node at a time
//! (`cleanup.rs`).
//!
//! Every database call runs on a small runtime of its own (two threads): the
//! pool's sockets and connection tasks live there, so the workers'
//! single-threaded runtimes never host another worker's connection.

pub mod cleanup;
mod lock;
mod records;
mod schema;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::config::Config;

pub use lock::SessionLock;
use lock::{Held, Hold};

/// The environment variable a node reads its connection URL from when the
/// configuration has none (`postgres_url`), so tests and service files need
/// not write a password into a config file.
pub const URL_VARIABLE: &str = "BITSPEC_SERVER_POSTGRES_URL";

/// Why a node could not join its farm.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    #[error("storage = \"postgres\" needs postgres_url (or {URL_VARIABLE})")]
    NoUrl,
    #[error("invalid postgres_url: {0}")]
    Url(tokio_postgres::Error),
    #[error("cannot start the database runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot reach PostgreSQL: {0}")]
    Connect(String),
    #[error("cannot prepare the session table: {0}")]
    Schema(String),
}

/// A database failure, carried in an `io::Error` through the session
/// interfaces: `Ack::from_io` answers it with 503 and `Retry-After`, a
/// transient error the client retries (no acknowledged byte depends on it).
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct DatabaseError(pub String);

/// True when `err` is a [`DatabaseError`].
pub fn is_database_error(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<DatabaseError>().is_some())
}

fn db_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(DatabaseError(e.to_string()))
}

/// A node's handle on the farm's database.
pub struct Farm {
    pool: Pool,
    /// Where every database call runs (see the module documentation).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// The sessions this node holds the advisory lock of, by id: their
    /// packet's queries go through the lock's connection.
    held: Mutex<HashMap<String, Hold>>,
}

impl std::fmt::Debug for Farm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Farm")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        // Dropped from async code (a test's runtime): a blocking shutdown would panic.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Farm {
    /// Connects to the farm's database and creates or migrates its schema.
    pub async fn connect(config: &Config) -> Result<Arc<Self>, FarmError> {
        let url = match &config.postgres_url {
            Some(url) => url.clone(),
            None => std::env::var(URL_VARIABLE).map_err(|_| FarmError::NoUrl)?,
        };
        let pg: tokio_postgres::Config = url.parse().map_err(FarmError::Url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bitspec-db")
            .enable_all()
            .build()
            .map_err(FarmError::Runtime)?;
        let handle = runtime.handle().clone();
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.postgres_pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| FarmError::Connect(e.to_string()))?;
        let farm = Arc::new(Self {
            pool,
            runtime: Some(runtime),
            handle,
            held: Mutex::new(HashMap::new()),
        });
        let pool = farm.pool.clone();
        let migrated = farm
            .on_db(async move {
                let client = pool.get().await.map_err(db_error)?;
                schema::migrate(&client).await
            })
            .await;
        migrated.map_err(|e| match e.get_ref() {
            Some(inner) if inner.is::<DatabaseError>() => FarmError::Connect(e.to_string()),
            _ => FarmError::Schema(e.to_string()),
        })?;
        Ok(farm)
    }

    /// Runs `work` on the database runtime.
    async fn on_db<T: Send + 'static>(
        &self,
        work: impl Future<Output = std::io::Result<T>> + Send + 'static,
    ) -> std::io::Result<T> {
        self.handle.spawn(work).await.map_err(db_error)?
    }

    /// The hold of `id`, when this packet holds its lock.
    fn hold(&self, id: &str) -> Option<Result<Arc<Held>, std::io::Error>> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(id).map(|hold| match hold {
            Hold::Locked(held) => Ok(Arc::clone(held)),
            Hold::Failed(message) => Err(db_error(message)),
        })
    }
}
