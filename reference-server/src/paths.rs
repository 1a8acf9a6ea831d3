//! Mapping a request path to a file under the storage root, safely.
//!
//! Nothing outside the root may be read or written. Rather than normalising
//! hostile input, a path is refused when any decoded segment could change its
//! meaning: `.`/`..`, separators (`/`, `\`), NUL and control characters, drive
//! letters (`:`), and a `%` left after decoding (double encoding; IIS request
//! filtering rejects it too). The file itself is then reached through the
//! root's handle (`root_dir.rs`): a symlink anywhere on the path is refused by
//! the kernel at the very open, so a link planted inside the root, even a
//! moment before, cannot lead out of it.

use percent_encoding::percent_decode_str;

use crate::root_dir::{Dir, is_refused_path};

/// The reserved folder holding session data (the IIS name). Never a destination.
pub const SESSIONS_DIR: &str = "BITS-Sessions";
/// Sub-folder of [`SESSIONS_DIR`] holding the upload-reply files, served by GET.
pub const REPLIES_DIR: &str = "Replies";
/// File name of a reply inside its session's reply folder (the IIS name).
pub const REPLY_FILE: &str = "responsefile.bin";

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Malformed or hostile: traversal, bad characters, double encoding.
    Invalid,
    /// Ends with `/` or is the root: a folder, not a file.
    Directory,
    /// Goes through a symbolic link.
    Symlink,
}

/// A request path that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPath {
    /// Decoded segments, none empty.
    pub segments: Vec<String>,
}

impl UrlPath {
    /// Decodes and checks the path part of a request URI.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let rest = raw.strip_prefix('/').ok_or(PathError::Invalid)?;
        if rest.is_empty() || rest.ends_with('/') {
            return Err(PathError::Directory);
        }
        let mut segments = Vec::new();
        for raw_segment in rest.split('/') {
            let decoded = percent_decode_str(raw_segment)
                .decode_utf8()
                .map_err(|_| PathError::Invalid)?;
            if !segment_is_safe(&decoded) {
                return Err(PathError::Invalid);
            }
            segments.push(decoded.into_owned());
        }
        Ok(Self { segments })
    }

    /// True when the path is inside the reserved sessions folder.
    pub fn is_reserved(&self) -> bool {
        self.segments
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case(SESSIONS_DIR))
    }

    /// The session id when the path is `/BITS-Sessions/Replies/{GUID}/responsefile.bin`.
    pub fn reply_session(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [sessions, replies, id, file]
                if sessions.eq_ignore_ascii_case(SESSIONS_DIR)
                    && replies.eq_ignore_ascii_case(REPLIES_DIR)
                    && file.eq_ignore_ascii_case(REPLY_FILE) =>
            {
                Some(id)
            }
            _ => None,
        }
    }

    /// The path relative to the root, `/`-separated, for session records and logs.
    pub fn relative(&self) -> String {
        self.segments.join("/")
    }

    /// Refuses the path if a component under `root` is a symlink (or a file
    /// where a folder should be). Returns the metadata of the final component
    /// when it exists.
    pub async fn check_links(&self, root: &Dir) -> Result<Option<std::fs::Metadata>, PathError> {
        // Blocking on the runtime thread: microseconds, cheaper than a hop.
        match root.metadata(&self.relative()) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.raw_os_error() == Some(libc_eloop()) => Err(PathError::Symlink),
            Err(e) if is_refused_path(&e) => Err(PathError::Invalid),
            Err(_) => Ok(None),
        }
    }

    /// True when the folder holding the file exists (through no symlink).
    pub fn parent_exists(&self, root: &Dir) -> bool {
        let parent = &self.segments[..self.segments.len().saturating_sub(1)];
        root.metadata(&parent.join("/")).is_ok_and(|m| m.is_dir())
    }

    /// The folder part, relative to the root, and the file name.
    pub fn split_last(&self) -> (String, &str) {
        match self.segments.split_last() {
            Some((name, folders)) => (folders.join("/"), name.as_str()),
            None => (String::new(), ""),
        }
    }
}

fn libc_eloop() -> i32 {
    rustix::io::Errno::LOOP.raw_os_error()
}

/// One decoded segment is a plain file or folder name.
fn segment_is_safe(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.len() <= 255
        && !segment
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | ':' | '%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_paths() {
        let path = UrlPath::parse("/some/dir/x%20y.bin").expect("valid");
        assert_eq!(path.segments, ["some", "dir", "x y.bin"]);
        assert!(!path.is_reserved());
    }

    #[test]
    fn refuses_hostile_paths() {
        for raw in [
            "/../x",
            "/a/%2e%2e/x",
            "/a/%252e%252e/x",
            "/a\\..\\x",
            "/a/%5c..%5cx",
            "/a/%00",
            "//etc/passwd",
            "/C:/x",
            "x",
            "/a/%ff",
        ] {
            assert!(UrlPath::parse(raw).is_err(), "{raw} accepted");
        }
        assert_eq!(UrlPath::parse("/a/"), Err(PathError::Directory));
    }

    #[test]
    fn knows_reply_paths() {
        let path =
            UrlPath::parse("/BITS-Sessions/Replies/%7BAB%7D/responsefile.bin").expect("valid");
        assert!(path.is_reserved());
        assert_eq!(path.reply_session(), Some("{AB}"));
    }
}
