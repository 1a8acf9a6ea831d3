//! The farm's record operations, each on the database runtime, through the
//! connection holding the session's lock when the packet holds it.
//!
//! A fragment: the entity is opened at the database's next byte and cut
//! there ([`Farm::entity_file`]), the body written, then [`Farm::commit_bytes`]
//! syncs it and advances `next` with one conditional `UPDATE`, committed
//! before the Ack.

use std::io::{Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use super::error::db_error;
use super::row::{ADVANCE, COLUMNS, Stored, UPSERT, signed, state_name};
use super::{Farm, Held, key};
use crate::root_dir::{Dir, Writing};
use crate::session::Record;
use crate::storage::crash_point;

impl Farm {
    /// Waits for the advisory lock of `id` and reads its row, in one round trip.
    pub(super) async fn acquire(&self, id: &str) -> std::io::Result<Held> {
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
            let (key_param, id_param): (
                [&(dyn tokio_postgres::types::ToSql + Sync); 1],
                [&(dyn tokio_postgres::types::ToSql + Sync); 1],
            ) = ([&key], [&id]);
            // Pipelined: the SELECT is sent behind the lock and runs once it is granted.
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

    /// The record of `id`; `None` when there is no such session.
    pub(super) async fn load_record(&self, id: &str) -> std::io::Result<Option<Record>> {
        match self.hold(id) {
            Some(held) => Ok(held?.row().as_ref().map(|s| s.record.clone())),
            None => Ok(self.read(id).await?.map(|s| s.record)),
        }
    }

    /// The next expected byte of `id`.
    pub(super) async fn next_byte(&self, id: &str) -> std::io::Result<u64> {
        let stored = match self.hold(id) {
            Some(held) => held?.row().clone(),
            None => self.read(id).await?,
        };
        Ok(stored.map_or(0, |s| s.next))
    }

    /// Reads a row without holding its lock.
    async fn read(&self, id: &str) -> std::io::Result<Option<Stored>> {
        let pool = self.pool.clone();
        let id = id.to_string();
        self.on_db(async move {
            let client = pool.get().await.map_err(db_error)?;
            let select = client
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM bitspec_sessions WHERE id = $1"
                ))
                .await
                .map_err(db_error)?;
            let row = client.query_opt(&select, &[&id]).await.map_err(db_error)?;
            row.as_ref().map(Stored::from_row).transpose()
        })
        .await
    }

    /// Inserts or updates a record (never its `next`).
    pub(super) async fn save_record(&self, record: &Record) -> std::io::Result<()> {
        let held = self.hold(&record.id).transpose()?;
        let pool = self.pool.clone();
        let owned = record.clone();
        let via = held.clone();
        self.on_db(async move {
            let pooled;
            let client = match &via {
                Some(held) => held.client()?,
                None => {
                    pooled = pool.get().await.map_err(db_error)?;
                    &pooled
                }
            };
            let upsert = client.prepare_cached(UPSERT).await.map_err(db_error)?;
            let r = &owned;
            let total = r.total.map(signed).transpose()?;
            let updated = signed(r.updated)?;
            let quota_owner =
                crate::quotas::owner(r.user.as_deref(), r.client.as_deref().unwrap_or_default());
            let reply_url = r.reply.as_ref().map(|reply| reply.url.clone());
            let reply_copy = r.reply.as_ref().map(|reply| reply.copy_to_destination);
            client
                .execute(
                    &upsert,
                    &[
                        &r.id,
                        &r.destination,
                        &r.url,
                        &r.user,
                        &r.client,
                        &total,
                        &state_name(r.state),
                        &r.published,
                        &reply_url,
                        &reply_copy,
                        &quota_owner,
                        &updated,
                    ],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
        .await?;
        if let Some(held) = held {
            let mut row = held.row();
            match row.as_mut() {
                Some(stored) => stored.record = record.clone(),
                None => {
                    *row = Some(Stored {
                        record: record.clone(),
                        next: 0,
                    });
                }
            }
        }
        Ok(())
    }

    /// Deletes the row of `id` (the files are the caller's).
    pub(super) async fn delete_record(&self, id: &str) -> std::io::Result<()> {
        let held = self.hold(id).transpose()?;
        let pool = self.pool.clone();
        let owned = id.to_string();
        let via = held.clone();
        self.on_db(async move {
            let pooled;
            let client = match &via {
                Some(held) => held.client()?,
                None => {
                    pooled = pool.get().await.map_err(db_error)?;
                    &pooled
                }
            };
            let delete = client
                .prepare_cached("DELETE FROM bitspec_sessions WHERE id = $1")
                .await
                .map_err(db_error)?;
            client.execute(&delete, &[&owned]).await.map_err(db_error)?;
            Ok(())
        })
        .await?;
        if let Some(held) = held {
            *held.row() = None;
        }
        Ok(())
    }

    /// The entity of a locked session, open for writing at `next` and cut
    /// there: bytes beyond it were never acknowledged (a writer killed
    /// mid-fragment) and are overwritten.
    pub(super) fn entity_file(
        &self,
        sessions: &Dir,
        id: &str,
    ) -> std::io::Result<(Arc<std::fs::File>, u64)> {
        let held = self
            .hold(id)
            .ok_or_else(|| db_error("the session is not locked"))??;
        let next = held.row().as_ref().map_or(0, |s| s.next);
        let mut file =
            sessions.open_write(&format!("{id}/{}", crate::storage::DATA), Writing::InPlace)?;
        if file.metadata()?.len() != next {
            file.set_len(next)?;
        }
        file.seek(SeekFrom::Start(next))?;
        Ok((Arc::new(file), next))
    }

    /// Makes `from..to` of the entity durable, then advances `next` from
    /// `from` to `to` in one committed statement: only then may the Ack go.
    pub(super) async fn commit_bytes(
        &self,
        id: &str,
        file: &Arc<std::fs::File>,
        from: u64,
        to: u64,
    ) -> std::io::Result<()> {
        let held = self
            .hold(id)
            .ok_or_else(|| db_error("the session is not locked"))??;
        crash_point("farm-written");
        let synced = Arc::clone(file);
        self.handle
            .spawn_blocking(move || synced.sync_data())
            .await
            .map_err(std::io::Error::other)??;
        crash_point("farm-synced");
        let (owned, via) = (id.to_string(), Arc::clone(&held));
        let now = crate::session::now();
        let advanced = self
            .on_db(async move {
                let client = via.client()?;
                let advance = client.prepare_cached(ADVANCE).await.map_err(db_error)?;
                client
                    .execute(
                        &advance,
                        &[&owned, &signed(from)?, &signed(to)?, &signed(now)?],
                    )
                    .await
                    .map_err(db_error)
            })
            .await?;
        if advanced != 1 {
            return Err(db_error(format!(
                "the session's next byte is no longer {from}: not advanced"
            )));
        }
        crash_point("farm-committed");
        if let Some(stored) = held.row().as_mut() {
            stored.next = to;
            stored.record.updated = now;
        }
        Ok(())
    }
}
