//! Upload sessions, kept on disk so they survive a restart (or a kill -9).
//!
//! Layout under the root: `BITS-Sessions/{GUID}/session.json` (the record) and
//! `BITS-Sessions/{GUID}/data` (the request entity). The next expected byte is
//! the length of `data`: bytes are only ever appended at that offset, so after
//! a crash the file holds exactly the contiguous prefix the client sent. Reply
//! files live in `BITS-Sessions/Replies/{GUID}/responsefile.bin`.
//!
//! The disk is the truth; memory holds one lock per session currently in use,
//! held through weak references, and a copy of up to 4,096 records, written
//! through on every save, so a fragment does not read and parse `session.json`
//! (7 % of the server's time with 64 KiB fragments). The lock serialises
//! concurrent requests for one session (summary §4.5).
//!
//! The per-packet file operations (read the record, stat the entity, write the
//! record, remove) are plain blocking calls on the runtime thread, not
//! `tokio::fs`: each takes microseconds on the page cache, while a hop to the
//! blocking pool cost more than the call itself (profile of `bitspec bench`:
//! futex wake-ups and context switches were a quarter of the server's time at
//! about five hops per fragment). The cleanup's directory scans stay async.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;

use crate::paths::{REPLIES_DIR, REPLY_FILE, SESSIONS_DIR};
use crate::quotas::Ledger;
use crate::root_dir::{Dir, Writing};

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Created; fragments accepted.
    Active,
    /// Closed by Close-Session: kept as a tombstone so a retried Close gets 200.
    Closed,
    /// Cancelled: kept as a tombstone so a retried Cancel gets 200.
    Cancelled,
}

/// The reply of the server application, cached so a replayed final fragment
/// gets the same Ack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Value of `BITS-Reply-URL`.
    pub url: String,
    /// The application asked for the upload to be copied to the destination.
    pub copy_to_destination: bool,
}

/// The persistent record of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Destination, relative to the root, `/`-separated.
    pub destination: String,
    /// The upload URL as the client sent it (path and query).
    pub url: String,
    /// Authenticated user, if any: the only one who may continue the session.
    pub user: Option<String>,
    /// The address the session was created from, as quotas count it
    /// (`quotas::client_address`); older records have none.
    #[serde(default)]
    pub client: Option<String>,
    /// Total size, fixed by the first fragment.
    pub total: Option<u64>,
    pub state: State,
    /// Set once the upload has been moved to its destination.
    pub published: bool,
    pub reply: Option<Reply>,
    /// Unix seconds of the last change (creation, progress, closing).
    pub updated: u64,
}

/// Records up to this size are rewritten in place (see [`Sessions::save`]).
const PAGE: usize = 4096;

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Normalises a client-supplied session id; only `{GUID}` strings can name a session.
pub fn normalise_id(raw: &str) -> Option<String> {
    let inner = raw.strip_prefix('{')?.strip_suffix('}')?;
    let uuid = uuid::Uuid::try_parse(inner).ok()?;
    (inner.len() == 36).then(|| format!("{{{}}}", uuid.hyphenated()).to_ascii_uppercase())
}

/// The first 8 hex digits of a session id, `{7DF0354D…}`, for INFO logs:
/// enough to follow a session, not enough to continue it.
pub fn short(id: &str) -> String {
    match id.get(..9) {
        Some(prefix) if id.len() > 9 => format!("{prefix}…}}"),
        _ => id.to_string(),
    }
}

/// `text` with every session id in it (braced or percent-encoded braces)
/// cut to its prefix, as [`short`] does.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['{', '%']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let (open, close) = if tail.starts_with('{') {
            (1, "}")
        } else if tail.len() >= 3 && tail[..3].eq_ignore_ascii_case("%7b") {
            (3, "%7D")
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        };
        let guid = tail.get(open..open + 36);
        let closed = tail
            .get(open + 36..open + 36 + close.len())
            .is_some_and(|c| c.eq_ignore_ascii_case(close));
        if let (Some(guid), true) = (guid, closed)
            && uuid::Uuid::try_parse(guid).is_ok()
        {
            out.push_str(&short(&format!("{{{guid}}}")));
            rest = &tail[open + 36 + close.len()..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A fresh `{UPPERCASE-GUID}` id, the form Windows uses.
pub fn new_id() -> String {
    format!("{{{}}}", uuid::Uuid::new_v4().hyphenated()).to_ascii_uppercase()
}

/// Records kept in memory at most (see [`Sessions::load`]); about 300 bytes each.
const CACHED_RECORDS: usize = 4096;

/// Entity files kept open at most (see [`Sessions::entity`]).
const OPEN_ENTITIES: usize = 64;

/// An open entity file and its length.
#[derive(Debug)]
struct Entity {
    file: Arc<std::fs::File>,
    len: u64,
}

/// An append to an entity in progress: [`Appending::done`] records the new
/// length; dropped without it (an error, a cancelled request), the entity is
/// forgotten, so a length the file no longer has is never handed out.
#[must_use]
pub struct Appending<'a> {
    sessions: &'a Sessions,
    id: &'a str,
    done: bool,
}

impl Appending<'_> {
    pub fn done(mut self, len: u64) {
        if let Some(entity) = self.sessions.entities().get_mut(self.id) {
            entity.len = len;
        }
        self.sessions.ledger.resize(self.id, len);
        self.done = true;
    }
}

impl Drop for Appending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.sessions.forget_entity(self.id);
            // Some bytes may have been written: count what the file holds.
            if let Ok(meta) = self.sessions.handle.metadata(&entity(self.id)) {
                self.sessions.ledger.resize(self.id, meta.len());
            }
        }
    }
}

/// Exclusive use of a session: the node's lock, and the farm's when the
/// records live in a [`RecordStore`] (released first, fields dropping in order).
#[must_use]
pub struct SessionLock {
    _store: Option<Box<dyn Send + Sync>>,
    _local: OwnedMutexGuard<()>,
}

/// A boxed future of a [`RecordStore`] call.
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<T>> + Send + 'a>>;

/// What the cleanup removes: sessions without progress for `timeout`
/// seconds, tombstones older than `retention`, and with `per_owner` the
/// least recently active sessions of an owner above it.
#[derive(Debug, Clone, Copy)]
pub struct Expiry {
    pub timeout: u64,
    pub retention: u64,
    pub per_owner: Option<u32>,
}

/// Where the records live instead of `session.json` files: the farm's
/// database (`farm/`). The files (entity, replies) stay under the root;
/// the store holds the record and the next expected byte, and serialises a
/// session across the nodes.
pub trait RecordStore: std::fmt::Debug + Send + Sync {
    /// Takes the session's lock across the farm; held until the box drops.
    /// A failure is kept in it and answered by the packet's next call.
    fn lock<'a>(
        &'a self,
        id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn Send + Sync>> + Send + 'a>>;
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Record>>;
    /// Inserts or updates a record, never its next expected byte.
    fn save<'a>(&'a self, record: &'a Record) -> StoreFuture<'a, ()>;
    /// The next expected byte.
    fn received<'a>(&'a self, id: &'a str) -> StoreFuture<'a, u64>;
    fn delete<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    /// The entity in `sessions`, open for writing at the next expected byte.
    fn entity(&self, sessions: &Dir, id: &str) -> std::io::Result<(Arc<std::fs::File>, u64)>;
    /// Makes `from..to` durable and advances the next expected byte to `to`.
    fn commit<'a>(
        &'a self,
        id: &'a str,
        file: &'a Arc<std::fs::File>,
        from: u64,
        to: u64,
    ) -> StoreFuture<'a, ()>;
    /// One cleanup pass (the store decides which node runs it).
    fn cleanup<'a>(&'a self, sessions: &'a Sessions, rules: Expiry) -> StoreFuture<'a, ()>;
}

/// The on-disk session table.
#[derive(Debug)]
pub struct Sessions {
    /// The sessions folder's path: for the names given to the server
    /// application and for listing it; every access is made through `handle`.
    dir: PathBuf,
    /// The sessions folder, open: every file is reached beneath it, no
    /// symlink followed (`root_dir.rs`), so a folder swapped for a link by a
    /// local process cannot send session data out of the root.
    handle: Dir,
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// Copies of the records last saved or loaded: every change goes through
    /// [`Sessions::save`] or [`Sessions::remove`], so the copy is the file's
    /// content, and a fragment does not read and parse `session.json` again.
    records: Mutex<HashMap<String, Record>>,
    /// The entities of the sessions uploading most recently, open for
    /// appending, with their lengths: a fragment then neither opens, stats
    /// nor closes a file (4-6 % of the server's time with 64 KiB fragments).
    /// Every append goes through [`Appending`], and anything that removes,
    /// moves or writes an entity otherwise forgets it first.
    entities: Mutex<HashMap<String, Entity>>,
    /// Active sessions and their bytes, by owner and address (`quotas.rs`).
    pub ledger: Ledger,
    /// With `storage = "postgres"`: the records live in the farm's database
    /// (`farm/`), the files stay here.
    store: Option<Arc<dyn RecordStore>>,
}

impl Sessions {
    /// Opens (and creates) the sessions folder under `root`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let dir = root.join(SESSIONS_DIR);
        let root = Dir::open_ambient(root)?;
        drop(root.create_dirs(&format!("{SESSIONS_DIR}/{REPLIES_DIR}"))?);
        let sessions = Self {
            dir,
            handle: root.dir(SESSIONS_DIR)?,
            locks: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
            entities: Mutex::new(HashMap::new()),
            ledger: Ledger::default(),
            store: None,
        };
        sessions.count_active()?;
        Ok(sessions)
    }

    /// Counts the active sessions found on disk into the ledger. Unreadable
    /// records are left to the cleanup.
    fn count_active(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let Some(id) = entry?.file_name().to_str().and_then(normalise_id) else {
                continue;
            };
            let Ok(mut file) = self.handle.open_file(&record_file(&id)) else {
                continue;
            };
            let mut bytes = Vec::new();
            if std::io::Read::read_to_end(&mut file, &mut bytes).is_err() {
                continue;
            }
            let Ok(record) = serde_json::from_slice::<Record>(&bytes) else {
                continue;
            };
            if record.state == State::Active {
                let client = record.client.clone().unwrap_or_default();
                let size = self.handle.metadata(&entity(&id)).map_or(0, |m| m.len());
                let owner = crate::quotas::owner(record.user.as_deref(), &client);
                self.ledger.restore(&id, owner, client, size);
            }
        }
        Ok(())
    }

    /// Keeps the records in `store` (the farm's database) from now on.
    pub fn use_store(&mut self, store: Arc<dyn RecordStore>) {
        self.store = Some(store);
    }

    /// Where the records live when not in files.
    pub fn store(&self) -> Option<&Arc<dyn RecordStore>> {
        self.store.as_ref()
    }

    /// Waits for exclusive use of one session (in a farm, on every node).
    pub async fn lock(&self, id: &str) -> SessionLock {
        let local = self.mutex(id).lock_owned().await;
        let store = match &self.store {
            None => None,
            Some(store) => Some(store.lock(id).await),
        };
        SessionLock {
            _store: store,
            _local: local,
        }
    }

    /// Exclusive use of one session if nobody holds it now.
    pub fn try_lock(&self, id: &str) -> Option<OwnedMutexGuard<()>> {
        self.mutex(id).try_lock_owned().ok()
    }

    /// The lock of a session; dead entries are pruned so the map stays small.
    fn mutex(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > 64 {
            locks.retain(|_, weak| weak.strong_count() > 0);
        }
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id.to_string(), Arc::downgrade(&lock));
        lock
    }

    /// Remembers a record (`Some`) or forgets it (`None`).
    fn cache(&self, id: &str, record: Option<&Record>) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match record {
            Some(record) => {
                if records.len() >= CACHED_RECORDS && !records.contains_key(id) {
                    records.clear();
                }
                records.insert(id.to_string(), record.clone());
            }
            None => {
                records.remove(id);
            }
        }
    }

    fn session_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The request entity of a session.
    pub fn data_path(&self, id: &str) -> PathBuf {
        self.session_dir(id).join("data")
    }

    /// The reply file of a session.
    pub fn reply_path(&self, id: &str) -> PathBuf {
        self.dir.join(REPLIES_DIR).join(id).join(REPLY_FILE)
    }

    /// Creates the folder, the empty entity and the record of a new session.
    /// A Create that fails half-way (disk full) removes what it made.
    pub async fn create(&self, record: &Record) -> std::io::Result<()> {
        self.handle.create_dir(&record.id)?;
        let made = match self.handle.open_write(&entity(&record.id), Writing::Create) {
            Ok(_) => self.save(record).await,
            Err(e) => Err(e),
        };
        if made.is_err() {
            let _ = self.remove(&record.id).await;
        }
        made
    }

    /// Writes the record atomically: a new record by temporary file + rename;
    /// an existing one, when it fits in one page, by a single `pwrite` at offset
    /// 0, padded with spaces (valid trailing JSON whitespace) to the old length so
    /// the file never shrinks. A write within one page cannot be torn by a kill
    /// (the kernel checks for fatal signals between pages only), and rewriting in
    /// place spares ext4 an inode allocation and deletion per save, which a
    /// thousand concurrent sessions made the server's largest cost.
    pub async fn save(&self, record: &Record) -> std::io::Result<()> {
        if let Some(store) = &self.store {
            return store.save(record).await;
        }
        let saved = self.write(record);
        self.cache(&record.id, saved.is_ok().then_some(record));
        saved
    }

    fn write(&self, record: &Record) -> std::io::Result<()> {
        let id = &record.id;
        let mut json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
        if let Ok(file) = self.handle.open_write(&record_file(id), Writing::InPlace) {
            let old = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
            if json.len().max(old) <= PAGE {
                json.resize(json.len().max(old), b' ');
                return std::os::unix::fs::FileExt::write_all_at(&file, &json, 0);
            }
        }
        let mut tmp = self
            .handle
            .open_write(&format!("{id}/{RECORD}.tmp"), Writing::Create)?;
        std::io::Write::write_all(&mut tmp, &json)?;
        let dir = self.handle.dir(id)?;
        dir.rename(&format!("{RECORD}.tmp"), &dir, RECORD)
    }

    /// Reads a record, from memory when it was saved or loaded last by this
    /// process; `None` when the session does not exist.
    pub async fn load(&self, id: &str) -> std::io::Result<Option<Record>> {
        if let Some(store) = &self.store {
            return store.load(id).await;
        }
        let cached = self
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if cached.is_some() {
            return Ok(cached);
        }
        let read = self
            .handle
            .open_file(&record_file(id))
            .and_then(|mut file| {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut bytes).map(|_| bytes)
            });
        match read {
            Ok(bytes) => {
                let record: Record =
                    serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
                self.cache(id, Some(&record));
                Ok(Some(record))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Next expected byte: the length of the entity.
    pub async fn received(&self, record: &Record) -> std::io::Result<u64> {
        if let Some(store) = &self.store {
            return store.received(&record.id).await;
        }
        if let Some(entity) = self.entities().get(&record.id) {
            return Ok(entity.len);
        }
        match self.handle.metadata(&entity(&record.id)) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn entities(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entity>> {
        self.entities.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entity of a session open for appending, and its length; the caller
    /// holds the session's lock and reports what it wrote through
    /// [`Sessions::appending`].
    pub fn entity(&self, id: &str) -> std::io::Result<(Arc<std::fs::File>, u64)> {
        if let Some(store) = &self.store {
            return store.entity(&self.handle, id);
        }
        if let Some(entity) = self.entities().get(id) {
            return Ok((Arc::clone(&entity.file), entity.len));
        }
        let file = self.handle.open_write(&entity(id), Writing::Append)?;
        let len = file.metadata()?.len();
        let file = Arc::new(file);
        let mut entities = self.entities();
        if entities.len() >= OPEN_ENTITIES {
            entities.clear();
        }
        entities.insert(
            id.to_string(),
            Entity {
                file: Arc::clone(&file),
                len,
            },
        );
        Ok((file, len))
    }

    /// Makes an append of `from..to` to the entity of `id` count: nothing to
    /// do on one node (the entity's length is the truth); in a farm, the
    /// bytes are synced and the database's next byte advanced (`farm/`).
    pub async fn commit(
        &self,
        id: &str,
        file: &Arc<std::fs::File>,
        from: u64,
        to: u64,
    ) -> std::io::Result<()> {
        match &self.store {
            None => Ok(()),
            Some(store) => store.commit(id, file, from, to).await,
        }
    }

    /// An append to the entity of `id` begins: see [`Appending`].
    pub fn appending<'a>(&'a self, id: &'a str) -> Appending<'a> {
        Appending {
            sessions: self,
            id,
            done: false,
        }
    }

    /// Closes the entity of `id` and drops its length (after an error, or a
    /// write or move made elsewhere): the next access stats the file.
    pub fn forget_entity(&self, id: &str) {
        self.entities().remove(id);
    }

    /// Unix seconds of the last progress: the record or the entity, whichever is newer.
    pub async fn last_progress(&self, record: &Record) -> u64 {
        let modified = self
            .handle
            .metadata(&entity(&record.id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        record.updated.max(modified)
    }

    /// Deletes the entity and the reply, keeping the record as a tombstone.
    pub async fn tombstone(&self, record: &mut Record, state: State) -> std::io::Result<()> {
        self.forget_entity(&record.id);
        self.ledger.forget(&record.id);
        self.handle.remove_tree(&entity(&record.id))?;
        self.remove_reply(&record.id).await?;
        record.state = state;
        record.updated = now();
        self.save(record).await
    }

    /// Deletes the reply folder of a session.
    pub async fn remove_reply(&self, id: &str) -> std::io::Result<()> {
        self.handle.remove_tree(&format!("{REPLIES_DIR}/{id}"))
    }

    /// Deletes everything a session owns.
    pub async fn remove(&self, id: &str) -> std::io::Result<()> {
        if let Some(store) = &self.store {
            store.delete(id).await?;
        }
        self.cache(id, None);
        self.forget_entity(id);
        self.ledger.forget(id);
        self.remove_reply(id).await?;
        self.handle.remove_tree(id)
    }

    /// Lists the ids of all stored sessions, tombstones included.
    pub async fn ids(&self) -> std::io::Result<Vec<String>> {
        let mut ids = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            if let Some(id) = entry.file_name().to_str().and_then(normalise_id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Deletes reply folders whose session no longer exists.
    pub async fn remove_orphan_replies(&self) -> std::io::Result<()> {
        let mut entries = tokio::fs::read_dir(self.dir.join(REPLIES_DIR)).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let orphan = match normalise_id(name) {
                Some(id) => self.handle.metadata(&id).is_err(),
                None => true,
            };
            if orphan {
                self.handle.remove_tree(&format!("{REPLIES_DIR}/{name}"))?;
            }
        }
        Ok(())
    }

    /// True when an active session has gone `timeout` without progress.
    /// A record updated within `timeout` settles it without a look at the entity.
    pub async fn is_expired(&self, record: &Record, timeout: Duration) -> bool {
        let (now, timeout) = (now(), timeout.as_secs());
        now.saturating_sub(record.updated) > timeout
            && now.saturating_sub(self.last_progress(record).await) > timeout
    }
}

/// The record's file name in a session folder.
const RECORD: &str = "session.json";

/// The record of `id`, relative to the sessions folder.
fn record_file(id: &str) -> String {
    format!("{id}/{RECORD}")
}

/// The entity of `id`, relative to the sessions folder.
fn entity(id: &str) -> String {
    format!("{id}/{}", crate::storage::DATA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_record_rewritten_in_place_reads_back_when_it_shrinks() {
        let root = tempfile::tempdir().expect("tempdir");
        let sessions = Sessions::open(root.path()).expect("open");
        let mut record = Record {
            id: new_id(),
            destination: "a/b.bin".into(),
            url: "/a/b.bin?q=".to_string() + &"x".repeat(300),
            user: None,
            client: None,
            total: None,
            state: State::Active,
            published: false,
            reply: None,
            updated: now(),
        };
        sessions.create(&record).await.expect("create");
        record.url = "/a/b.bin".into();
        record.total = Some(7);
        sessions.save(&record).await.expect("save in place");
        assert_eq!(
            sessions.load(&record.id).await.expect("load"),
            Some(record.clone())
        );
        record.url = "/".to_string() + &"y".repeat(5000);
        sessions.save(&record).await.expect("save past a page");
        assert_eq!(sessions.load(&record.id).await.expect("load"), Some(record));
    }

    #[tokio::test]
    async fn the_open_entity_follows_writes_and_is_forgotten_with_the_session() {
        use std::io::Write;
        let root = tempfile::tempdir().expect("tempdir");
        let sessions = Sessions::open(root.path()).expect("open");
        let mut record = Record {
            id: new_id(),
            destination: "e.bin".into(),
            url: "/e.bin".into(),
            user: None,
            client: None,
            total: Some(10),
            state: State::Active,
            published: false,
            reply: None,
            updated: now(),
        };
        sessions.create(&record).await.expect("create");
        let (file, len) = sessions.entity(&record.id).expect("entity");
        assert_eq!(len, 0);
        (&*file).write_all(b"abcd").expect("write");
        sessions.appending(&record.id).done(4);
        assert_eq!(sessions.received(&record).await.expect("received"), 4);
        // A write the table is not told about: forgetting falls back to the file.
        (&*file).write_all(b"ef").expect("write");
        sessions.forget_entity(&record.id);
        assert_eq!(sessions.received(&record).await.expect("received"), 6);
        assert_eq!(sessions.entity(&record.id).expect("reopened").1, 6);
        sessions
            .tombstone(&mut record, State::Closed)
            .await
            .expect("tombstone");
        assert_eq!(sessions.received(&record).await.expect("received"), 0);
        assert!(sessions.entity(&record.id).is_err(), "the entity is gone");
    }

    #[test]
    fn logs_name_sessions_by_a_prefix() {
        let id = "{7DF0354D-249B-430F-820D-3D2A9BEF4931}";
        assert_eq!(short(id), "{7DF0354D…}");
        assert_eq!(short("-"), "-");
        assert_eq!(
            redact(&format!("/BITS-Sessions/Replies/{id}/responsefile.bin")),
            "/BITS-Sessions/Replies/{7DF0354D…}/responsefile.bin"
        );
        assert_eq!(
            redact("/r/%7b7df0354d-249b-430f-820d-3d2a9bef4931%7D/x?{a}%20"),
            "/r/{7df0354d…}/x?{a}%20"
        );
    }

    #[test]
    fn ids_are_normalised_guids() {
        let id = new_id();
        assert_eq!(normalise_id(&id.to_ascii_lowercase()), Some(id));
        assert_eq!(normalise_id("{../../etc}"), None);
        assert_eq!(normalise_id("7df0354d-249b-430f-820d-3d2a9bef4931"), None);
        assert_eq!(
            normalise_id("{7df0354d249b430f820d3d2a9bef4931}"),
            None,
            "simple form is not a session id"
        );
    }
}
