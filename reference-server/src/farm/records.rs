//! Session records in the `bitspec_sessions` table, and the fragment commit.
//!
//! The record is the single-node `session.json` as columns, plus `next`, the
//! next expected byte, which only [`Farm::commit`] moves: after the bytes are
//! durable, `UPDATE ... SET next = new WHERE id = $1 AND next = old`, one
//! statement committed before the Ack. A save never touches `next`.

use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use tokio_postgres::Row;

use super::{Farm, db_error};
use crate::root_dir::{Dir, Writing};
use crate::session::{Record, Reply, State};
use crate::storage::crash_point;

/// The columns every read selects, in [`Stored::from_row`]'s order.
pub(super) const COLUMNS: &str = "id, destination, url, owner, client, total, next, state, published, reply_url, reply_copy, updated";

/// A session's row: the record and the next expected byte.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub record: Record,
    pub next: u64,
}

impl Stored {
    pub(super) fn from_row(row: &Row) -> std::io::Result<Self> {
        let get = |e: tokio_postgres::Error| db_error(e);
        let state: String = row.try_get(7).map_err(get)?;
        let reply_url: Option<String> = row.try_get(9).map_err(get)?;
        let reply_copy: Option<bool> = row.try_get(10).map_err(get)?;
        let record = Record {
            id: row.try_get(0).map_err(get)?,
            destination: row.try_get(1).map_err(get)?,
            url: row.try_get(2).map_err(get)?,
            user: row.try_get(3).map_err(get)?,
            client: row.try_get(4).map_err(get)?,
            total: row
                .try_get::<_, Option<i64>>(5)
                .map_err(get)?
                .map(unsigned)
                .transpose()?,
            state: parse_state(&state)?,
            published: row.try_get(8).map_err(get)?,
            reply: reply_url.map(|url| Reply {
                url,
                copy_to_destination: reply_copy.unwrap_or(false),
            }),
            updated: unsigned(row.try_get(11).map_err(get)?)?,
        };
        let next = unsigned(row.try_get(6).map_err(get)?)?;
        Ok(Self { record, next })
    }
}

fn unsigned(value: i64) -> std::io::Result<u64> {
    u64::try_from(value).map_err(|_| db_error(format!("negative value {value} in a session row")))
}

fn signed(value: u64) -> std::io::Result<i64> {
    i64::try_from(value).map_err(|_| db_error(format!("{value} does not fit a bigint")))
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Active => "active",
        State::Closed => "closed",
        State::Cancelled => "cancelled",
    }
}

fn parse_state(name: &str) -> std::io::Result<State> {
    match name {
        "active" => Ok(State::Active),
        "closed" => Ok(State::Closed),
        "cancelled" => Ok(State::Cancelled),
        other => Err(db_error(format!("unknown session state {other:?}"))),
    }
}

const UPSERT: &str = "INSERT INTO bitspec_sessions \
     (id, destination, url, owner, client, total, state, published, reply_url, reply_copy, \
      quota_owner, created, updated) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
     ON CONFLICT (id) DO UPDATE SET destination = EXCLUDED.destination, url = EXCLUDED.url, \
     owner = EXCLUDED.owner, client = EXCLUDED.client, total = EXCLUDED.total, \
     state = EXCLUDED.state, published = EXCLUDED.published, reply_url = EXCLUDED.reply_url, \
     reply_copy = EXCLUDED.reply_copy, quota_owner = EXCLUDED.quota_owner, \
     updated = EXCLUDED.updated";

const ADVANCE: &str = "UPDATE bitspec_sessions SET next = $3, updated = $4 \
     WHERE id = $1 AND next = $2 AND state = 'active'";

impl Farm {
    /// The record of `id`; `None` when there is no such session.
    pub async fn load(&self, id: &str) -> std::io::Result<Option<Record>> {
        match self.hold(id) {
            Some(held) => Ok(held?.row().as_ref().map(|s| s.record.clone())),
            None => Ok(self.read(id).await?.map(|s| s.record)),
        }
    }

    /// The next expected byte of `id`.
    pub async fn received(&self, id: &str) -> std::io::Result<u64> {
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
    pub async fn save(&self, record: &Record) -> std::io::Result<()> {
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
    pub async fn delete(&self, id: &str) -> std::io::Result<()> {
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
    pub fn entity(&self, sessions: &Dir, id: &str) -> std::io::Result<(Arc<std::fs::File>, u64)> {
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
    pub async fn commit(
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
