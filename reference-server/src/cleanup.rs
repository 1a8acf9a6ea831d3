//! The periodic cleanup (IIS "virtual directory cleanup", every 12 h by default).
//!
//! Deletes sessions that made no progress for `session_timeout`, tombstones
//! older than `closed_session_retention`, reply folders whose session is gone,
//! and, when the per-user limit is on, the least recently active sessions of a
//! user above `sessions_per_user_limit`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::session::{State, now, short};
use crate::shared::Shared;

/// Runs a cleanup pass every `cleanup_interval` seconds until `stop` changes.
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(shared.config.cleanup_interval);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = pass(&shared).await {
                    tracing::warn!(error = %e, "cleanup pass failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// One cleanup pass. Sessions in use are skipped (their lock is held).
pub async fn pass(shared: &Shared) -> std::io::Result<()> {
    if let Some(store) = shared.sessions.store() {
        let config = &shared.config;
        let rules = crate::session::Expiry {
            timeout: config.session_timeout,
            retention: config.closed_session_retention,
            per_owner: config
                .session_limit_enable
                .then_some(config.sessions_per_user_limit),
        };
        return store.cleanup(&shared.sessions, rules).await;
    }
    let sessions = &shared.sessions;
    let config = &shared.config;
    let mut active: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    for id in sessions.ids().await? {
        let Some(_guard) = sessions.try_lock(&id) else {
            continue;
        };
        // One unreadable entry (a symlink planted under the sessions folder, a
        // damaged record) is logged and skipped: it must not stop the whole pass.
        let record = match sessions.load(&id).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                // A folder without a record: a Create interrupted by a crash.
                skip_failed(&id, sessions.remove(&id).await);
                continue;
            }
            Err(e) => {
                skip_failed(&id, Err(e));
                continue;
            }
        };
        let expired = match record.state {
            State::Active => sessions.is_expired(&record, shared.session_timeout()).await,
            State::Closed | State::Cancelled => {
                now().saturating_sub(record.updated) > config.closed_session_retention
            }
        };
        if expired {
            tracing::info!(session = %short(&id), state = ?record.state, "cleanup: removing session");
            skip_failed(&id, sessions.remove(&id).await);
        } else if record.state == State::Active {
            let progress = sessions.last_progress(&record).await;
            // Anonymous sessions count by address, as at Create-Session.
            let client = record.client.as_deref().unwrap_or_default();
            let owner = crate::quotas::owner(record.user.as_deref(), client);
            active.entry(owner).or_default().push((progress, id));
        }
    }
    if config.session_limit_enable {
        let limit = config.sessions_per_user_limit as usize;
        for (owner, mut list) in active {
            if list.len() <= limit {
                continue;
            }
            list.sort();
            let excess = list.len() - limit;
            for (_, id) in list.into_iter().take(excess) {
                let Some(_guard) = sessions.try_lock(&id) else {
                    continue;
                };
                tracing::info!(session = %short(&id), %owner, "cleanup: over the per-user session limit");
                skip_failed(&id, sessions.remove(&id).await);
            }
        }
    }
    sessions.remove_orphan_replies().await
}

/// Logs a session the pass could not read or remove; the pass goes on.
fn skip_failed(id: &str, result: std::io::Result<()>) {
    if let Err(e) = result {
        tracing::warn!(session = %short(id), error = %e, "cleanup: session skipped");
    }
}
