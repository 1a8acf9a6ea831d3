//! A farm of bitspec-servers: any node continues any session.
//!
//! With `storage = "postgres"` the session records live in PostgreSQL
//! (`records.rs`) instead of `session.json` files, and every node mounts the
//! same storage root (NFS, CephFS, or one disk for nodes on one machine), where
//! the entity files, the replies and the published uploads stay exactly where
//! the single-node server keeps them. The database is the truth about the next
//! expected byte: a fragment is written at that offset, made durable with
//! `fdatasync`, and only then is `next` advanced by one conditional `UPDATE`,
//! committed before the Ack leaves (`records.rs`). Bytes past
//! `next` (a node killed mid-fragment) are cut off by the next writer.
//!
//! Two nodes never write one session at once: a packet of a session holds a
//! PostgreSQL advisory lock on a connection of its own ([`Held`]), as the
//! single-node server holds a lock in memory; PostgreSQL drops it with the
//! connection when a node dies. The cleanup runs on one node at a time
//! (`cleanup.rs`).
//!
//! Every database call runs on a small runtime of its own (two threads): the
//! pool's sockets and connection tasks live there, so the workers'
//! single-threaded runtimes never host another worker's connection.

mod cleanup;
pub mod error;
mod records;
mod row;
mod schema;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use deadpool_postgres::Object;

use crate::config::Config;
use crate::root_dir::Dir;
use crate::session::{Expiry, Record, RecordStore, Sessions, StoreFuture};
use error::db_error;
use row::Stored;

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

/// A node's handle on the farm's database.
pub struct Farm {
    pool: Pool,
    /// Where every database call runs (see the module documentation).
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// The sessions this node holds the advisory lock of, by id: their
    /// packet's queries go through the lock's connection.
    held: Holds,
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
            held: Arc::new(Mutex::new(HashMap::new())),
        });
        let pool = farm.pool.clone();
        let migrated = farm
            .on_db(async move {
                let client = pool.get().await.map_err(db_error)?;
                schema::migrate(&client).await
            })
            .await;
        migrated.map_err(|e| match e.get_ref() {
            Some(inner) if inner.is::<error::DatabaseError>() => FarmError::Connect(e.to_string()),
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

/// The holds of this node's packets, by session id.
type Holds = Arc<Mutex<HashMap<String, Hold>>>;

/// What a packet holds: the lock and its connection, or why it has none.
enum Hold {
    Locked(Arc<Held>),
    Failed(String),
}

/// A connection holding a session's advisory lock, and the session's row.
///
/// The lock is session-level, not a transaction: each write commits at once
/// (the fragment's `next` before its Ack), and a node killed at any point
/// loses its connection, so PostgreSQL releases the lock with it. Dropped,
/// it unlocks on the database runtime; a connection that cannot say so is
/// closed, never put back in the pool still holding a lock.
struct Held {
    client: Option<Object>,
    handle: tokio::runtime::Handle,
    /// The row read with the lock, kept up to date by the packet's writes;
    /// `None` when the session does not exist (or was deleted).
    row: Mutex<Option<Stored>>,
}

impl Held {
    fn client(&self) -> std::io::Result<&Object> {
        self.client
            .as_ref()
            .ok_or_else(|| db_error("the session's connection is gone"))
    }

    fn row(&self) -> std::sync::MutexGuard<'_, Option<Stored>> {
        self.row.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        self.handle.spawn(async move {
            if client
                .batch_execute("SELECT pg_advisory_unlock_all()")
                .await
                .is_err()
            {
                drop(Object::take(client));
            }
        });
    }
}

/// A packet's hold on a session, given back when the packet is answered.
struct HoldGuard {
    holds: Holds,
    id: String,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        // The last reference to the `Held` unlocks (its Drop).
        let hold = self
            .holds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        drop(hold);
    }
}

/// The advisory lock key of a session: its GUID folded to 64 bits, the same
/// on every node.
fn key(id: &str) -> i64 {
    let bits = id
        .trim_matches(|c| c == '{' || c == '}')
        .parse::<uuid::Uuid>()
        .map_or_else(
            |_| {
                // Ids are normalised GUIDs; anything else still gets a stable key.
                id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                })
            },
            |uuid| {
                let v = uuid.as_u128();
                (v as u64) ^ ((v >> 64) as u64)
            },
        );
    i64::from_ne_bytes(bits.to_ne_bytes())
}

impl RecordStore for Farm {
    fn lock<'a>(
        &'a self,
        id: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Box<dyn Send + Sync>> + Send + 'a>> {
        Box::pin(async move {
            let hold = match self.acquire(id).await {
                Ok(held) => Hold::Locked(Arc::new(held)),
                Err(e) => {
                    tracing::warn!(session = %crate::session::short(id), error = %e, "cannot lock the session in the database");
                    Hold::Failed(e.to_string())
                }
            };
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.to_string(), hold);
            let guard: Box<dyn Send + Sync> = Box::new(HoldGuard {
                holds: Arc::clone(&self.held),
                id: id.to_string(),
            });
            guard
        })
    }

    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(self.load_record(id))
    }

    fn save<'a>(&'a self, record: &'a Record) -> StoreFuture<'a, ()> {
        Box::pin(self.save_record(record))
    }

    fn received<'a>(&'a self, id: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(self.next_byte(id))
    }

    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_record(id))
    }

    fn entity(&self, sessions: &Dir, id: &str) -> std::io::Result<(Arc<std::fs::File>, u64)> {
        self.entity_file(sessions, id)
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        file: &'a Arc<std::fs::File>,
        from: u64,
        to: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.commit_bytes(id, file, from, to))
    }

    fn cleanup<'a>(&'a self, sessions: &'a Sessions, rules: Expiry) -> StoreFuture<'a, ()> {
        Box::pin(self.clean(sessions, rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_differ() {
        let a = "{7DF0354D-249B-430F-820D-3D2A9BEF4931}";
        let b = "{7DF0354D-249B-430F-820D-3D2A9BEF4932}";
        assert_eq!(key(a), key(a));
        assert_ne!(key(a), key(b));
    }
}
