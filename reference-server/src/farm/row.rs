//! A session's row in `bitspec_sessions`: columns, statements, conversions.
//!
//! The record is the single-node `session.json` as columns, plus `next`, the
//! next expected byte, which only the fragment commit moves (`ADVANCE`); a
//! save (`UPSERT`) never touches it.

use tokio_postgres::Row;

use super::error::db_error;
use crate::session::{Record, Reply, State};

/// The columns every read selects, in [`Stored::from_row`]'s order.
pub const COLUMNS: &str = "id, destination, url, owner, client, total, next, state, published, reply_url, reply_copy, updated";

/// A session's row: the record and the next expected byte.
#[derive(Debug, Clone)]
pub struct Stored {
    pub record: Record,
    pub next: u64,
}

impl Stored {
    pub fn from_row(row: &Row) -> std::io::Result<Self> {
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

pub fn unsigned(value: i64) -> std::io::Result<u64> {
    u64::try_from(value).map_err(|_| db_error(format!("negative value {value} in a session row")))
}

pub fn signed(value: u64) -> std::io::Result<i64> {
    i64::try_from(value).map_err(|_| db_error(format!("{value} does not fit a bigint")))
}

pub fn state_name(state: State) -> &'static str {
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

pub const UPSERT: &str = "INSERT INTO bitspec_sessions \
     (id, destination, url, owner, client, total, state, published, reply_url, reply_copy, \
      quota_owner, created, updated) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
     ON CONFLICT (id) DO UPDATE SET destination = EXCLUDED.destination, url = EXCLUDED.url, \
     owner = EXCLUDED.owner, client = EXCLUDED.client, total = EXCLUDED.total, \
     state = EXCLUDED.state, published = EXCLUDED.published, reply_url = EXCLUDED.reply_url, \
     reply_copy = EXCLUDED.reply_copy, quota_owner = EXCLUDED.quota_owner, \
     updated = EXCLUDED.updated";

pub const ADVANCE: &str = "UPDATE bitspec_sessions SET next = $3, updated = $4 \
     WHERE id = $1 AND next = $2 AND state = 'active'";
