//! Moving bytes: fragment bodies to disk, complete uploads to their destination.
//!
//! Bodies are streamed through a fixed-size buffer into the session's entity
//! file, which is only ever appended to, so memory does not depend on the
//! fragment or file size. Publishing is a hard link of the entity into the destination folder:
//! atomic, no copy, and with overwrites disabled it can never replace a file
//! (link fails with EEXIST). With overwrites enabled the link goes to a
//! second name inside the session's folder, which is then renamed over the
//! destination (see [`publish`]).

use std::io::{ErrorKind, Write};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Buf;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body_permits::{BodyPermits, Receiving, WRITE_BUFFER};
use crate::paths::UrlPath;
use crate::root_dir::{Dir, is_link_or_dir, is_refused_path, same_file};

/// Why a body could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The server could not write (disk full, permissions...).
    #[error("storage: {0}")]
    Storage(std::io::Error),
    /// The client stalled or broke the connection.
    #[error("client: {0}")]
    Client(String),
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The destination exists and overwrites are disabled.
    #[error("destination exists")]
    Exists,
    /// The destination is a folder, or its parent folder is missing.
    #[error("destination folder unusable")]
    BadDestination,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Appends a request body to the entity `file`, whose length is `start`,
/// dropping the body's first `skip` bytes (the overlap with data already
/// received). Returns the number of bytes written. On a storage error the file
/// is cut back to `start`.
///
/// Frames are gathered in a buffer lent with a body permit (see
/// `body_permits.rs`) and written with one blocking `write(2)` on the worker
/// thread whenever it is full, as nginx writes request bodies: into the page
/// cache that is a memory copy. `tokio::fs::File` hopped to the blocking pool
/// for each write, which cost more than the write itself. The permit is given
/// back (what was gathered written first) once the body has sent nothing for
/// [`RELEASE_AFTER`], and taken again when data comes, so slow or stalled
/// clients do not hold the few permits the others need.
pub async fn append_body(
    body: Incoming,
    skip: u64,
    file: &std::fs::File,
    start: u64,
    permits: &BodyPermits,
    idle: Duration,
) -> Result<u64, BodyError> {
    let result = copy_frames(body, skip, file, permits, idle).await;
    if let Err(BodyError::Storage(_)) = &result {
        // Best effort: give the space back; the bytes would be valid anyway.
        let _ = file.set_len(start);
    }
    result
}

/// A body that sends nothing for this long gives its permit back.
pub const RELEASE_AFTER: Duration = Duration::from_millis(100);

/// Copies the frames; a body that sends nothing for `idle` is a stalled client.
async fn copy_frames(
    mut body: Incoming,
    mut skip: u64,
    mut file: &std::fs::File,
    permits: &BodyPermits,
    idle: Duration,
) -> Result<u64, BodyError> {
    let mut written = 0u64;
    // The first permit is taken before the body is read at all: a body
    // waiting for it holds nothing but its head, its bytes stay in the socket.
    let mut lent = Some(permits.receive().await);
    let mut last = Instant::now();
    // One timer for both deadlines, re-armed only when it fires: giving the
    // permit back after RELEASE_AFTER, failing the body after `idle`.
    let timer = tokio::time::sleep(RELEASE_AFTER.min(idle));
    tokio::pin!(timer);
    loop {
        let frame = tokio::select! {
            biased;
            frame = body.frame() => frame,
            () = &mut timer => {
                let quiet = last.elapsed();
                if quiet >= idle {
                    // What did arrive is kept: the client resumes after it.
                    give_back(file, &mut lent)?;
                    return Err(BodyError::Client("body stalled".into()));
                }
                if quiet >= RELEASE_AFTER {
                    written += give_back(file, &mut lent)?;
                }
                let next = if lent.is_some() { RELEASE_AFTER.min(idle) } else { idle };
                timer.as_mut().reset(last + next);
                continue;
            }
        };
        last = Instant::now();
        let frame = match frame {
            None => break,
            Some(Err(e)) => {
                give_back(file, &mut lent)?;
                return Err(BodyError::Client(e.to_string()));
            }
            Some(Ok(frame)) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let len = data.len() as u64;
        if skip >= len {
            skip -= len;
            continue;
        }
        // `skip < len`, so it fits in usize.
        data.advance(usize::try_from(skip).unwrap_or(0));
        skip = 0;
        let receiving = match &mut lent {
            Some(receiving) => receiving,
            None => {
                // Back after an idle spell: waiting here holds one frame.
                let receiving = lent.insert(permits.receive().await);
                timer
                    .as_mut()
                    .reset(Instant::now() + RELEASE_AFTER.min(idle));
                receiving
            }
        };
        let buffer = receiving.buffer();
        let room = WRITE_BUFFER;
        if buffer.is_empty() && data.len() >= room / 2 {
            // A large frame (hyper's 64 KiB ones) goes out as it is: no copy.
            file.write_all(&data).map_err(BodyError::Storage)?;
            written += data.len() as u64;
            continue;
        }
        while !data.is_empty() {
            let take = data.len().min(room - buffer.len());
            buffer.extend_from_slice(&data[..take]);
            data.advance(take);
            if buffer.len() == room {
                written += flush(file, buffer)?;
            }
        }
    }
    Ok(written + give_back(file, &mut lent)?)
}

/// Writes what the lent buffer holds and gives it back with its permit.
fn give_back(file: &std::fs::File, lent: &mut Option<Receiving>) -> Result<u64, BodyError> {
    match lent.take() {
        Some(mut receiving) => flush(file, receiving.buffer()),
        None => Ok(0),
    }
}

/// Writes out and empties `buffer`.
fn flush(mut file: &std::fs::File, buffer: &mut Vec<u8>) -> Result<u64, BodyError> {
    file.write_all(buffer).map_err(BodyError::Storage)?;
    let n = buffer.len() as u64;
    buffer.clear();
    Ok(n)
}

/// Reads and discards up to `limit` body bytes so the connection can be kept
/// alive after a rejected request. Larger bodies are left to close it: a
/// body announced larger than `limit` is not waited for at all, so a refused
/// `Content-Length: 18446744073709551612` is answered at once, not after the
/// client has sent nothing for the idle timeout.
pub async fn drain(mut body: Incoming, limit: u64, idle: Duration) {
    use hyper::body::Body as _;
    if body.size_hint().lower() > limit {
        return;
    }
    let mut seen = 0u64;
    while seen <= limit {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    seen += data.len() as u64;
                }
            }
            _ => return,
        }
    }
}

/// Links the complete entity (`data` in the session's folder `session`,
/// relative to the root) to `dest` atomically. Metadata calls only, made
/// inline like the session's (see `session.rs`), each relative to a folder
/// handle opened beneath the root with no symlink on the way (`root_dir.rs`).
///
/// Every step can be repeated after a kill at any point, and the destination
/// folder never holds anything but the published file:
/// * a destination that already is the entity (same inode) is published:
///   the kill came after the link, before the record said so;
/// * without overwrites, the entity is linked straight to its name, so it
///   appears whole or not at all, and never replaces a file (`EEXIST`);
/// * with overwrites, a second name is made *inside the session's folder*
///   (`publish`, never served) and renamed over the destination: a kill in
///   between leaves that name where no GET reaches it, and the retry replaces
///   it.
///
/// On any error the entity is untouched, so the session can publish later.
pub fn publish(
    root: &Dir,
    session: &str,
    dest: &UrlPath,
    allow_overwrite: bool,
    create_directories: bool,
) -> Result<(), PublishError> {
    let session = root.dir(session)?;
    let data = session
        .stat_name(DATA)?
        .ok_or_else(|| std::io::Error::from(ErrorKind::NotFound))?;
    let (folder, name) = dest.split_last();
    let opened = if create_directories {
        root.create_dirs(&folder)
    } else {
        root.dir(&folder)
    };
    let parent = match opened {
        Ok(parent) => parent,
        // A symlink or a file on the way, or (without create) no such folder.
        Err(e) if is_refused_path(&e) || e.kind() == ErrorKind::NotFound => {
            return Err(PublishError::BadDestination);
        }
        Err(e) => return Err(e.into()),
    };
    match parent.stat_name(name)? {
        Some(existing) if same_file(&existing, &data) => return Ok(()),
        Some(existing) if is_link_or_dir(&existing) => return Err(PublishError::BadDestination),
        _ => {}
    }
    crash_point("publish-before-link");
    if !allow_overwrite {
        return match session.link(DATA, &parent, name) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // Ours, linked by a request that lost the race? Published.
                match parent.stat_name(name)? {
                    Some(existing) if same_file(&existing, &data) => Ok(()),
                    _ => Err(PublishError::Exists),
                }
            }
            other => {
                other?;
                crash_point("publish-linked");
                Ok(())
            }
        };
    }
    session.remove_file(PUBLISHING)?;
    session.link(DATA, &session, PUBLISHING)?;
    crash_point("publish-linked");
    if let Err(e) = session.rename(PUBLISHING, &parent, name) {
        let _ = session.remove_file(PUBLISHING);
        return Err(e.into());
    }
    crash_point("publish-renamed");
    Ok(())
}

/// The entity's name in a session folder.
pub const DATA: &str = "data";
/// The entity's second name while it is renamed over a destination.
const PUBLISHING: &str = "publish";

/// Testing aid for the reliability suite: the server kills itself with
/// SIGKILL on reaching the point named by `BITSPEC_SERVER_CRASH_AT`, so a
/// test can land a kill -9 exactly inside a publish. Unset (always, in real
/// use), it costs one read of a cached value.
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("BITSPEC_SERVER_CRASH_AT").ok());
    if at.as_deref() == Some(point) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        std::process::abort();
    }
}
