//! The upload's journal: a small JSON file that lets `bitspec upload`, run again
//! after a dropped connection or a killed process, continue the same BITS session.
//!
//! It lives next to the source (`FILE.bitspec-upload`) or in `--state-dir`, is
//! rewritten after every Ack that moves the upload on, and is removed when the
//! session is closed or cancelled. The first write of a run is atomic by temporary
//! file and rename; later ones, a thousand per GiB, overwrite the file in place as
//! one page-sized `pwrite` at offset 0 (the JSON padded with spaces), which a
//! SIGKILL cannot tear: a temporary file and a rename per fragment cost an inode
//! and, on ext4, a writeback of the replaced file each time.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// A journal is padded to this size, so an in-place rewrite is one write into one
/// page. A longer one (a very long path) is always written by rename.
const PAGE: usize = 4096;

/// What identifies the source file: a changed file cannot resume
/// (BG_E_LOCAL_FILE_CHANGED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStamp {
    pub path: PathBuf,
    pub size: u64,
    pub modified_ns: u128,
}

impl SourceStamp {
    /// The stamp of `path` as it is now.
    pub fn of(path: &Path) -> Result<SourceStamp, String> {
        let absolute = std::fs::canonicalize(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let meta = std::fs::metadata(&absolute)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(SourceStamp {
            path: absolute,
            size: meta.len(),
            modified_ns,
        })
    }
}

/// The state that survives the process (MC-BUP §3.1.1.2 HTTPUploader, the part
/// that matters for resuming).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub source: SourceStamp,
    /// The destination URL as given (the origin server's).
    pub url: String,
    pub session_id: Option<String>,
    /// BITS-Host-Id of the Create-Session Ack, until the fallback timer reverts it.
    pub host_id: Option<String>,
    /// BITS-Host-Id-Fallback-Timeout in seconds; `None` is infinite.
    pub host_fallback_secs: Option<u64>,
    /// The next byte the server expects, as of its last Ack.
    pub offset: u64,
    /// FRAGMENT-LENGTH, after any 413 shrinking.
    pub fragment: u64,
    /// BITS-Reply-URL of the final Fragment Ack (upload-reply).
    pub reply_url: Option<String>,
    /// The reply was saved to `--reply`.
    pub reply_fetched: bool,
    /// A Close-Session was sent (its Ack may have been lost).
    pub close_sent: bool,
}

/// Where a journal is kept.
#[derive(Debug, Clone)]
pub struct Journal {
    pub path: PathBuf,
    /// The journal as this process last wrote it (one page), for in-place rewrites.
    written: Arc<Mutex<Option<std::fs::File>>>,
}

/// FNV-1a: a stable name for a (source, URL) pair in a state directory.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Journal {
    /// The journal of uploading `source` (absolute) to `url`.
    pub fn locate(source: &Path, url: &str, state_dir: Option<&Path>) -> Journal {
        let name = source
            .file_name()
            .map_or_else(|| "upload".into(), |n| n.to_string_lossy().into_owned());
        let path = match state_dir {
            Some(dir) => {
                let key = fnv1a(&format!("{}\n{url}", source.display()));
                dir.join(format!("{name}-{key:016x}.bitspec-upload"))
            }
            None => source.with_file_name(format!("{name}.bitspec-upload")),
        };
        Journal {
            path,
            written: Arc::default(),
        }
    }

    fn written(&self) -> std::sync::MutexGuard<'_, Option<std::fs::File>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The saved state, `Ok(None)` when there is none.
    pub fn load(&self) -> Result<Option<State>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            format!(
                "{}: not an upload journal ({e}); remove it or pass --restart",
                self.path.display()
            )
        })
    }

    /// Writes `state` so that a reader, or a run after a SIGKILL, finds either the
    /// state before or this one.
    pub fn save(&self, state: &State) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(state)
            .map_err(|e| format!("cannot encode the journal: {e}"))?
            .into_bytes();
        let failed = |e: std::io::Error| {
            format!(
                "cannot write the journal {}: {e} (use --state-dir for a writable place)",
                self.path.display()
            )
        };
        let mut written = self.written();
        if text.len() < PAGE {
            // JSON allows trailing whitespace: every version is exactly one page.
            text.resize(PAGE - 1, b' ');
            text.push(b'\n');
            if let Some(file) = written.as_ref() {
                return file.write_all_at(&text, 0).map_err(failed);
            }
        }
        let temporary = self.path.with_extension("bitspec-upload.tmp");
        std::fs::write(&temporary, &text)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(failed)?;
        *written = match text.len() {
            PAGE => std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)
                .ok(),
            _ => None,
        };
        Ok(())
    }

    /// Removes the journal; a missing one is fine.
    pub fn remove(&self) -> Result<(), String> {
        *self.written() = None;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot remove {}: {e}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_back_and_removal_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("data.bin");
        std::fs::write(&source, b"hello").expect("write");
        let journal = Journal::locate(&source, "http://127.0.0.1/x", Some(dir.path()));
        assert_eq!(journal.load(), Ok(None));
        let state = State {
            source: SourceStamp::of(&source).expect("stamp"),
            url: "http://127.0.0.1/x".into(),
            session_id: Some("{abc}".into()),
            host_id: None,
            host_fallback_secs: Some(5),
            offset: 3,
            fragment: 5120,
            reply_url: None,
            reply_fetched: false,
            close_sent: false,
        };
        journal.save(&state).expect("save");
        assert_eq!(journal.load(), Ok(Some(state.clone())));
        // The second save rewrites the page in place; a shorter state leaves no tail.
        let mut next = state.clone();
        next.session_id = None;
        next.offset = 5;
        journal.save(&next).expect("save again");
        assert_eq!(journal.load(), Ok(Some(next)));
        assert_eq!(
            std::fs::metadata(&journal.path).expect("journal").len(),
            4096
        );
        journal.remove().expect("remove");
        journal.remove().expect("again");
        assert_eq!(journal.load(), Ok(None));
    }

    #[test]
    fn journals_of_different_urls_differ_in_a_state_dir_and_sit_beside_the_source_otherwise() {
        let a = Journal::locate(Path::new("/d/f"), "http://h/a", Some(Path::new("/s")));
        let b = Journal::locate(Path::new("/d/f"), "http://h/b", Some(Path::new("/s")));
        assert_ne!(a.path, b.path);
        let c = Journal::locate(Path::new("/d/f"), "http://h/a", None);
        assert_eq!(c.path, Path::new("/d/f.bitspec-upload"));
    }
}
