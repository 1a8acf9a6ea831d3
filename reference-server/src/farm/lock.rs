//! One session at a time across the farm: a PostgreSQL advisory lock.
//!
//! A packet of a session takes the node's lock in memory (as a single node
//! does), then `pg_advisory_lock` on a pooled connection of its own, which it
//! keeps until the packet is answered; the session's row is read in the same
//! round trip. Every query of the packet goes through that connection. The
//! lock is session-level, not a transaction: each write commits at once (the
//! fragment's `next` before its Ack), and a node killed at any point loses its
//! connection, so PostgreSQL releases the lock with it. Dropping the hold
//! unlocks on the database runtime; a connection that cannot say so is closed,
//! never put back in the pool still holding a lock.

use std::sync::{Arc, Mutex};

use deadpool_postgres::Object;
use tokio::sync::OwnedMutexGuard;

use super::records::{COLUMNS, Stored};
use super::{Farm, db_error};

/// A session's lock, on one node or across the farm.
#[must_use]
pub struct SessionLock {
    _local: OwnedMutexGuard<()>,
    farm: Option<(Arc<Farm>, String)>,
}

impl std::fmt::Debug for SessionLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLock")
            .field("farm", &self.farm.as_ref().map(|(_, id)| id))
            .finish()
    }
}

impl SessionLock {
    /// The single-node lock: memory only.
    pub fn local(local: OwnedMutexGuard<()>) -> Self {
        Self {
            _local: local,
            farm: None,
        }
    }

    /// Takes the farm's lock of `id` while holding the node's. A database
    /// failure is remembered, and every query of the packet answers it.
    pub async fn farm(farm: &Arc<Farm>, id: &str, local: OwnedMutexGuard<()>) -> Self {
        let hold = match farm.acquire(id).await {
            Ok(held) => Hold::Locked(Arc::new(held)),
            Err(e) => {
                tracing::warn!(session = %crate::session::short(id), error = %e, "cannot lock the session in the database");
                Hold::Failed(e.to_string())
            }
        };
        farm.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), hold);
        Self {
            _local: local,
            farm: Some((Arc::clone(farm), id.to_string())),
        }
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        if let Some((farm, id)) = self.farm.take() {
            // The last reference to the `Held` unlocks (its Drop).
            let hold = farm
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            drop(hold);
        }
    }
}

/// What a packet holds: the lock and its connection, or why it has none.
pub(super) enum Hold {
    Locked(Arc<Held>),
    Failed(String),
}

/// A connection holding a session's advisory lock, and the session's row.
pub(super) struct Held {
    client: Option<Object>,
    handle: tokio::runtime::Handle,
    /// The row read with the lock, kept up to date by the packet's writes;
    /// `None` when the session does not exist (or was deleted).
    pub(super) row: Mutex<Option<Stored>>,
}

impl Held {
    pub(super) fn client(&self) -> std::io::Result<&Object> {
        self.client
            .as_ref()
            .ok_or_else(|| db_error("the session's connection is gone"))
    }

    pub(super) fn row(&self) -> std::sync::MutexGuard<'_, Option<Stored>> {
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

/// The advisory lock key of a session: its GUID folded to 64 bits, the same
/// on every node.
pub(super) fn key(id: &str) -> i64 {
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

impl Farm {
    /// Waits for the advisory lock of `id` and reads its row, in one round trip.
    async fn acquire(&self, id: &str) -> std::io::Result<Held> {
        let pool = self.pool.clone();
        let handle = self.handle.clone();
        let id = id.to_string();
        self.on_db(async move {
            let client = pool.get().await.map_err(db_error)?;
            // Owned by the hold from here: an error below still unlocks.
            let held = Held {
                client: Some(client),
                handle,
                row: Mutex::new(None),
            };
            let client = held.client()?;
            let lock = client
                .prepare_cached("SELECT pg_advisory_lock($1)")
                .await
                .map_err(db_error)?;
            let select = client
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM bitspec_sessions WHERE id = $1"
                ))
                .await
                .map_err(db_error)?;
            let key = key(&id);
            // Pipelined: the SELECT is sent behind the lock and runs once it is granted.
            let (key_param, id_param): (
                [&(dyn tokio_postgres::types::ToSql + Sync); 1],
                [&(dyn tokio_postgres::types::ToSql + Sync); 1],
            ) = ([&key], [&id]);
            let (_, row) = tokio::try_join!(
                client.execute(&lock, &key_param),
                client.query_opt(&select, &id_param)
            )
            .map_err(db_error)?;
            let stored = row.as_ref().map(Stored::from_row).transpose()?;
            *held.row() = stored;
            Ok(held)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_stable_and_differ() {
        let a = "{7DF0354D-249B-430F-820D-3D2A9BEF4931}";
        let b = "{7DF0354D-249B-430F-820D-3D2A9BEF4932}";
        assert_eq!(super::key(a), super::key(a));
        assert_ne!(super::key(a), super::key(b));
    }
}
