//! Moving bytes: fragment bodies to disk, complete uploads to their destination.
//!
//! Bodies are streamed frame by frame into the session's entity file, which is
//! only ever appended to, so memory does not depend on the fragment or file
//! size. Publishing is a hard link of the entity into the destination folder:
//! atomic, no copy, and with overwrites disabled it can never replace a file
//! (link fails with EEXIST). With overwrites enabled the link goes to a
//! temporary name which is then renamed over the destination.

use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use bytes::Buf;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt;

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

/// Appends a request body to `path`, dropping its first `skip` bytes (the
/// overlap with data already received). Returns the number of bytes written.
/// On a storage error the file is cut back to its previous length.
pub async fn append_body(
    body: Incoming,
    skip: u64,
    path: &Path,
    idle: Duration,
) -> Result<u64, BodyError> {
    let mut file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await
        .map_err(BodyError::Storage)?;
    let start = file.metadata().await.map_err(BodyError::Storage)?.len();
    let result = copy_frames(body, skip, &mut file, idle).await;
    if let Err(BodyError::Storage(_)) = &result {
        // Best effort: give the space back; the bytes would be valid anyway.
        let _ = file.set_len(start).await;
    }
    result
}

async fn copy_frames(
    mut body: Incoming,
    mut skip: u64,
    file: &mut tokio::fs::File,
    idle: Duration,
) -> Result<u64, BodyError> {
    let mut written = 0u64;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Client("body stalled".into())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Client(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
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
        file.write_all(&data).await.map_err(BodyError::Storage)?;
        written += data.len() as u64;
    }
    file.flush().await.map_err(BodyError::Storage)?;
    Ok(written)
}

/// Reads and discards up to `limit` body bytes so the connection can be kept
/// alive after a rejected request. Larger bodies are left to close it.
pub async fn drain(mut body: Incoming, limit: u64, idle: Duration) {
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

/// Links the complete entity `data` to `dest` atomically.
pub async fn publish(
    data: &Path,
    dest: &Path,
    allow_overwrite: bool,
    create_directories: bool,
) -> Result<(), PublishError> {
    let parent = dest.parent().ok_or(PublishError::BadDestination)?;
    if create_directories {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|_| PublishError::BadDestination)?;
    } else if !tokio::fs::metadata(parent).await.is_ok_and(|m| m.is_dir()) {
        return Err(PublishError::BadDestination);
    }
    if tokio::fs::symlink_metadata(dest)
        .await
        .is_ok_and(|m| m.is_dir() || m.file_type().is_symlink())
    {
        return Err(PublishError::BadDestination);
    }
    if !allow_overwrite {
        return match tokio::fs::hard_link(data, dest).await {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(PublishError::Exists),
            other => Ok(other?),
        };
    }
    let tmp = parent.join(format!(".bitspec-{}.tmp", uuid::Uuid::new_v4().simple()));
    tokio::fs::hard_link(data, &tmp).await?;
    if let Err(e) = tokio::fs::rename(&tmp, dest).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e.into());
    }
    Ok(())
}
