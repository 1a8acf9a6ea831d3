//! The farm's cleanup: the single-node rules, one node at a time.
//!
//! Every node runs the periodic pass; the one that gets the cleanup's
//! advisory lock (`pg_try_advisory_lock`, on a connection held for the pass)
//! does it, the others skip that round. Candidates are chosen by SQL (no
//! progress for `session_timeout`, tombstones older than
//! `closed_session_retention`, the least recently active sessions of an owner
//! above `sessions_per_user_limit`); each is then removed under its session's
//! lock, taken without waiting (a session in use is left for the next pass),
//! and only if it still qualifies. Session folders in the shared root with no
//! row (a Create cut short by a crash) are removed once older than
//! [`ORPHAN_AGE`].

use std::time::Duration;

use super::error::db_error;
use super::{Farm, key};
use crate::session::{Expiry, Sessions, now, short};

/// Advisory lock key of the cleanup pass.
const CLEANUP_KEY: i64 = 0x6269_7473_7065_6302;

/// A session folder without a row is a Create in progress until this old.
const ORPHAN_AGE: Duration = Duration::from_secs(600);

/// Candidates: `$1` = now - session_timeout, `$2` = now - retention,
/// `$3` = the per-owner limit (or NULL for none).
const CANDIDATES: &str = "
SELECT id FROM bitspec_sessions
 WHERE (state = 'active' AND updated < $1) OR (state <> 'active' AND updated < $2)
UNION
SELECT id FROM (
    SELECT id, row_number() OVER (PARTITION BY quota_owner ORDER BY updated DESC, id) AS rank
      FROM bitspec_sessions WHERE state = 'active'
) ranked WHERE $3::bigint IS NOT NULL AND rank > $3::bigint";

/// Deletes `$4` if it still qualifies; same parameters as [`CANDIDATES`].
const DELETE_IF: &str = "
DELETE FROM bitspec_sessions WHERE id = $4 AND (
    (state = 'active' AND updated < $1) OR (state <> 'active' AND updated < $2)
    OR ($3::bigint IS NOT NULL AND state = 'active' AND id IN (
        SELECT id FROM (
            SELECT id, row_number() OVER (PARTITION BY quota_owner ORDER BY updated DESC, id) AS rank
              FROM bitspec_sessions WHERE state = 'active'
        ) ranked WHERE rank > $3::bigint)))";

impl Farm {
    /// One cleanup pass over the farm's sessions, if no other node is running one.
    pub(super) async fn clean(&self, sessions: &Sessions, rules: Expiry) -> std::io::Result<()> {
        let time = now();
        let stale = i64::try_from(time.saturating_sub(rules.timeout)).unwrap_or(0);
        let retained = i64::try_from(time.saturating_sub(rules.retention)).unwrap_or(0);
        let limit = rules.per_owner.map(i64::from);
        let pool = self.pool.clone();
        let removed = self
            .on_db(async move {
                let client = pool.get().await.map_err(db_error)?;
                let row = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&CLEANUP_KEY])
                    .await
                    .map_err(db_error)?;
                if !row.try_get::<_, bool>(0).map_err(db_error)? {
                    tracing::debug!("cleanup: another node is running it");
                    return Ok(None);
                }
                let result = remove_rows(&client, stale, retained, limit).await;
                // Unlocks everything this connection holds; if it cannot, it is
                // not put back in the pool holding a lock.
                if client
                    .batch_execute("SELECT pg_advisory_unlock_all()")
                    .await
                    .is_err()
                {
                    drop(deadpool_postgres::Object::take(client));
                }
                result.map(Some)
            })
            .await?;
        let Some(removed) = removed else {
            return Ok(());
        };
        for id in &removed {
            tracing::info!(session = %short(id), "cleanup: removing session");
            // The row is gone; this removes the files (and finds no row).
            if let Err(e) = sessions.remove(id).await {
                tracing::warn!(session = %short(id), error = %e, "cleanup: files left");
            }
        }
        self.remove_orphans(sessions).await?;
        sessions.remove_orphan_replies().await
    }

    /// Removes session folders that have had no row for [`ORPHAN_AGE`].
    async fn remove_orphans(&self, sessions: &Sessions) -> std::io::Result<()> {
        let ids = sessions.ids().await?;
        let old: Vec<String> = ids
            .into_iter()
            .filter(|id| {
                let folder = sessions.data_path(id);
                let modified = folder
                    .parent()
                    .and_then(|dir| std::fs::symlink_metadata(dir).ok())
                    .and_then(|meta| meta.modified().ok())
                    .and_then(|time| time.elapsed().ok());
                modified.is_some_and(|age| age > ORPHAN_AGE)
            })
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        let pool = self.pool.clone();
        let candidates = old.clone();
        let known: Vec<String> = self
            .on_db(async move {
                let client = pool.get().await.map_err(db_error)?;
                let rows = client
                    .query(
                        "SELECT id FROM bitspec_sessions WHERE id = ANY($1)",
                        &[&candidates],
                    )
                    .await
                    .map_err(db_error)?;
                rows.iter()
                    .map(|row| row.try_get(0).map_err(db_error))
                    .collect()
            })
            .await?;
        for id in old.iter().filter(|id| !known.contains(id)) {
            tracing::info!(session = %short(id), "cleanup: removing a folder without a session");
            if let Err(e) = sessions.remove(id).await {
                tracing::warn!(session = %short(id), error = %e, "cleanup: folder left");
            }
        }
        Ok(())
    }
}

/// Deletes the rows that qualify, each under its session's lock if free.
async fn remove_rows(
    client: &deadpool_postgres::Object,
    stale: i64,
    retained: i64,
    limit: Option<i64>,
) -> std::io::Result<Vec<String>> {
    let rows = client
        .query(CANDIDATES, &[&stale, &retained, &limit])
        .await
        .map_err(db_error)?;
    let mut removed = Vec::new();
    for row in rows {
        let id: String = row.try_get(0).map_err(db_error)?;
        let key = key(&id);
        let locked = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .map_err(db_error)?;
        if !locked.try_get::<_, bool>(0).map_err(db_error)? {
            continue;
        }
        let deleted = client
            .execute(DELETE_IF, &[&stale, &retained, &limit, &id])
            .await
            .map_err(db_error);
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&key])
            .await
            .map_err(db_error)?;
        if deleted? == 1 {
            removed.push(id);
        }
    }
    Ok(removed)
}
