//! Bounds per client, not only in total: connections per peer address, and
//! the sessions and temporary bytes each owner holds.
//!
//! A session's owner is its authenticated account, or for an anonymous
//! session the peer address it was created from (an IPv6 address counts by
//! its /64, what one host usually gets): anonymous clients do not all count
//! as one user, so one flooder cannot push out another client's upload. The
//! limits are checked when a session is created and before a fragment is
//! written (not only by the 12-hourly cleanup), and over a limit the client
//! gets 503 with `Retry-After`: the BITS client retries a 503 later, and by
//! then sessions may have closed or expired.
//!
//! The ledger is memory only, rebuilt from the records at start (one pass
//! over `BITS-Sessions/`); every session that is created, grows, ends or is
//! removed goes through [`Ledger`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use http::StatusCode;

use crate::ack::{Ack, CONTEXT_SERVER, ERROR_DISK_FULL};
use crate::config::Config;

/// `Retry-After` for a refused connection: a slot frees as soon as one of
/// the client's own connections ends.
pub const CONNECTION_RETRY_AFTER: u64 = 5;

/// `Retry-After` for a refused session or fragment: room comes back when
/// sessions close or expire, which takes longer than a connection.
pub const SESSION_RETRY_AFTER: u64 = 60;

/// The address a client is counted by: IPv4 as is, IPv6 by its /64.
pub fn client_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Who a session counts against: the account, else the client's address.
pub fn owner(user: Option<&str>, address: &str) -> String {
    match user {
        Some(user) => format!("user {user}"),
        None => format!("anonymous {address}"),
    }
}

/// 503 with `Retry-After`: the client should come back later.
pub fn busy(retry_after: u64) -> Ack {
    Ack::status(StatusCode::SERVICE_UNAVAILABLE).with("Retry-After", retry_after.to_string())
}

/// 503 for a fragment over the temporary storage quota: the HRESULT of a full
/// disk (what a server out of space answers), with `Retry-After`.
pub fn storage_full() -> Ack {
    Ack::error(
        StatusCode::SERVICE_UNAVAILABLE,
        ERROR_DISK_FULL,
        CONTEXT_SERVER,
    )
    .with("Retry-After", SESSION_RETRY_AFTER.to_string())
}

/// One active session as the ledger counts it.
#[derive(Debug)]
struct Entry {
    owner: String,
    address: String,
    bytes: u64,
}

#[derive(Debug, Default)]
struct Books {
    sessions: HashMap<String, Entry>,
    per_owner: HashMap<String, usize>,
    per_address: HashMap<String, usize>,
    /// Bytes in the entities of active sessions.
    bytes: u64,
    /// Bytes promised to fragments being written (see [`Ledger::reserve`]).
    reserved: u64,
}

impl Books {
    fn add(&mut self, id: String, entry: Entry) {
        *self.per_owner.entry(entry.owner.clone()).or_default() += 1;
        *self.per_address.entry(entry.address.clone()).or_default() += 1;
        self.bytes += entry.bytes;
        if let Some(old) = self.sessions.insert(id, entry) {
            self.drop_entry(&old);
        }
    }

    fn drop_entry(&mut self, entry: &Entry) {
        decrement(&mut self.per_owner, &entry.owner);
        decrement(&mut self.per_address, &entry.address);
        self.bytes = self.bytes.saturating_sub(entry.bytes);
    }
}

fn decrement(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// Active sessions and their temporary bytes, by owner and by address.
#[derive(Debug, Default)]
pub struct Ledger {
    books: Mutex<Books>,
}

/// Why a Create-Session is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the server holds `max_sessions` active sessions")]
    Total,
    #[error("the owner holds `sessions_per_user_limit` active sessions")]
    Owner,
    #[error("the address holds `max_sessions_per_address` active sessions")]
    Address,
}

/// Bytes promised to a fragment until it is written; released on drop.
#[must_use]
pub struct Reservation<'a> {
    ledger: &'a Ledger,
    bytes: u64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut books = self.ledger.books();
        books.reserved = books.reserved.saturating_sub(self.bytes);
    }
}

impl Ledger {
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a session found at start (or created without a check).
    pub fn restore(&self, id: &str, owner: String, address: String, bytes: u64) {
        self.books().add(
            id.to_string(),
            Entry {
                owner,
                address,
                bytes,
            },
        );
    }

    /// Counts a new session if every limit of `config` allows it.
    pub fn admit(
        &self,
        config: &Config,
        id: &str,
        owner: String,
        address: String,
    ) -> Result<(), Refusal> {
        let mut books = self.books();
        let over = |limit: usize, count: usize| limit != 0 && count >= limit;
        if over(config.max_sessions, books.sessions.len()) {
            return Err(Refusal::Total);
        }
        let by_owner = books.per_owner.get(&owner).copied().unwrap_or(0);
        let owner_limit = config.sessions_per_user_limit as usize;
        if config.session_limit_enable && by_owner >= owner_limit {
            return Err(Refusal::Owner);
        }
        let by_address = books.per_address.get(&address).copied().unwrap_or(0);
        if over(config.max_sessions_per_address, by_address) {
            return Err(Refusal::Address);
        }
        books.add(
            id.to_string(),
            Entry {
                owner,
                address,
                bytes: 0,
            },
        );
        Ok(())
    }

    /// Room for `bytes` more temporary data under `quota` (0: no quota).
    pub fn reserve(&self, quota: u64, bytes: u64) -> Option<Reservation<'_>> {
        let mut books = self.books();
        if quota != 0 && books.bytes + books.reserved + bytes > quota {
            return None;
        }
        books.reserved += bytes;
        Some(Reservation {
            ledger: self,
            bytes,
        })
    }

    /// The entity of `id` now holds `bytes`.
    pub fn resize(&self, id: &str, bytes: u64) {
        let mut books = self.books();
        let Some(entry) = books.sessions.get_mut(id) else {
            return;
        };
        let old = std::mem::replace(&mut entry.bytes, bytes);
        books.bytes = books.bytes.saturating_sub(old) + bytes;
    }

    /// `id` is no longer active (closed, cancelled, expired or removed).
    pub fn forget(&self, id: &str) {
        let mut books = self.books();
        if let Some(entry) = books.sessions.remove(id) {
            books.drop_entry(&entry);
        }
    }

    /// Active sessions and their temporary bytes.
    #[cfg(test)]
    pub fn totals(&self) -> (usize, u64) {
        let books = self.books();
        (books.sessions.len(), books.bytes)
    }
}

/// Connections open per peer address.
#[derive(Debug, Default)]
pub struct Connections {
    open: Mutex<HashMap<String, usize>>,
}

/// One counted connection; uncounted on drop.
pub struct Counted<'a> {
    table: &'a Connections,
    address: String,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        decrement(&mut open, &self.address);
    }
}

impl Connections {
    /// Counts a connection from `ip`, unless `limit` (0: none) are open already.
    pub fn enter(&self, ip: IpAddr, limit: usize) -> Option<Counted<'_>> {
        let address = client_address(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address.clone()).or_default();
        if limit != 0 && *count >= limit {
            if *count == 0 {
                open.remove(&address);
            }
            return None;
        }
        *count += 1;
        Some(Counted {
            table: self,
            address,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_over_its_limit_is_refused_and_others_are_not() {
        let config = Config {
            sessions_per_user_limit: 2,
            max_sessions_per_address: 3,
            max_sessions: 5,
            ..Config::default()
        };
        let ledger = Ledger::default();
        let flooder = || owner(None, "10.0.0.9");
        ledger
            .admit(&config, "a", flooder(), "10.0.0.9".into())
            .expect("1st");
        ledger
            .admit(&config, "b", flooder(), "10.0.0.9".into())
            .expect("2nd");
        assert_eq!(
            ledger.admit(&config, "c", flooder(), "10.0.0.9".into()),
            Err(Refusal::Owner)
        );
        // Another account from the same address: the address limit is 3.
        let bob = owner(Some("bob"), "10.0.0.9");
        ledger
            .admit(&config, "d", bob.clone(), "10.0.0.9".into())
            .expect("bob");
        assert_eq!(
            ledger.admit(&config, "e", bob, "10.0.0.9".into()),
            Err(Refusal::Address)
        );
        let victim = owner(None, "10.0.0.1");
        ledger
            .admit(&config, "v", victim.clone(), "10.0.0.1".into())
            .expect("victim");
        ledger
            .admit(&config, "w", victim.clone(), "10.0.0.1".into())
            .expect("victim 2");
        assert_eq!(
            ledger.admit(&config, "x", owner(None, "10.0.0.2"), "10.0.0.2".into()),
            Err(Refusal::Total)
        );
        ledger.forget("a");
        ledger
            .admit(&config, "c", flooder(), "10.0.0.9".into())
            .expect("room again");
    }

    #[test]
    fn reservations_stay_under_the_quota_and_free_on_drop() {
        let ledger = Ledger::default();
        ledger.restore("a", "o".into(), "x".into(), 60);
        let first = ledger.reserve(100, 30).expect("room for 30");
        assert!(ledger.reserve(100, 20).is_none(), "60 + 30 + 20 > 100");
        drop(first);
        ledger.resize("a", 90);
        assert!(ledger.reserve(100, 11).is_none());
        assert!(ledger.reserve(0, u64::MAX / 2).is_some(), "0 is no quota");
        ledger.forget("a");
        assert_eq!(ledger.totals(), (0, 0));
    }

    #[test]
    fn connections_are_counted_per_address_and_ipv6_per_64() {
        let table = Connections::default();
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let first = table.enter(a, 2).expect("1st");
        let _second = table.enter(b, 2).expect("2nd, same /64");
        assert!(table.enter(a, 2).is_none());
        assert!(table.enter("127.0.0.1".parse().expect("ip"), 2).is_some());
        drop(first);
        assert!(table.enter(b, 2).is_some());
    }
}
