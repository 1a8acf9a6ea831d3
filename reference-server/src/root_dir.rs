//! The storage root as an open directory handle: every path under it is
//! resolved by the kernel relative to that handle, never as a string.
//!
//! A check such as "no component is a symlink" followed by an open of the same
//! path is a race: a local process able to write inside the root can swap a
//! folder for a symlink in between (74 of 387 uploads once landed outside that
//! way). Here the check *is* the open: `openat2` with `RESOLVE_BENEATH` (no
//! `..`, no absolute path, nothing outside the handle) and
//! `RESOLVE_NO_SYMLINKS` (a symlink anywhere on the path, the last component
//! included, fails with `ELOOP`). Operations on a final name (`linkat`,
//! `renameat`, `mkdirat`, `fstatat` with `AT_SYMLINK_NOFOLLOW`) are then made
//! relative to the handle of the folder so opened, and none of them follows a
//! symlink in that name. Kernels without `openat2` (before 5.6, or a seccomp
//! filter refusing it) get the same guarantee from a walk that opens one
//! component at a time with `O_NOFOLLOW`.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// How every path under the root is resolved.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// Mode of the folders the server creates (less the umask), as `create_dir_all`.
const DIR_MODE: u32 = 0o777;

/// An open folder: the root, or one found beneath it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Dir {
    /// Opens the folder at `path` (an ordinary path: the root itself is trusted).
    pub fn open_ambient(path: &Path) -> io::Result<Self> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { fd })
    }

    /// Opens `rel` (`/`-separated, plain names only) beneath this folder with
    /// `flags`; no component may be a symlink. `O_NONBLOCK` (which regular
    /// files ignore) keeps a FIFO planted in the root from blocking the open.
    pub fn open(&self, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let names = names(rel)?;
        let mut flags = flags | OFlags::CLOEXEC;
        if !flags.contains(OFlags::PATH) {
            // openat2 takes no other flag with O_PATH (EINVAL).
            flags |= OFlags::NONBLOCK;
        }
        let rel = if names.is_empty() { "." } else { rel };
        match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), RESOLVE) {
            Err(Errno::NOSYS | Errno::PERM) => self.walk_open(&names, flags),
            other => Ok(other?),
        }
    }

    /// The `openat2`-less fallback: one component at a time, none followed.
    fn walk_open(&self, names: &[&str], flags: OFlags) -> io::Result<OwnedFd> {
        let Some((last, folders)) = names.split_last() else {
            return Ok(rustix::fs::openat(
                &self.fd,
                ".",
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )?);
        };
        let mut current: Option<OwnedFd> = None;
        for name in folders {
            let base = current.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
            let next = rustix::fs::openat(
                base,
                *name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            current = Some(next);
        }
        let base = current.as_ref().map_or(self.fd.as_fd(), AsFd::as_fd);
        Ok(rustix::fs::openat(
            base,
            *last,
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )?)
    }

    /// The folder `rel` beneath this one.
    pub fn dir(&self, rel: &str) -> io::Result<Dir> {
        let fd = self.open(rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        Ok(Dir { fd })
    }

    /// The folder `rel` beneath this one, creating what is missing one
    /// component at a time, each created and opened relative to its parent.
    pub fn create_dirs(&self, rel: &str) -> io::Result<Dir> {
        let mut current = self.dir("")?;
        for name in names(rel)? {
            match rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(DIR_MODE)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            current = current.dir(name)?;
        }
        Ok(current)
    }

    /// A regular file beneath this folder, open for reading.
    pub fn open_file(&self, rel: &str) -> io::Result<std::fs::File> {
        let file = std::fs::File::from(self.open(rel, OFlags::RDONLY)?);
        if !file.metadata()?.is_file() {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(file)
    }

    /// The metadata of `rel` beneath this folder (a file or a folder: a
    /// symlink anywhere on the path is `ELOOP`).
    pub fn metadata(&self, rel: &str) -> io::Result<std::fs::Metadata> {
        let fd = self.open(rel, OFlags::PATH)?;
        let meta = std::fs::File::from(fd).metadata()?;
        if meta.file_type().is_symlink() {
            // Only the fallback walk opens a final symlink (O_PATH|O_NOFOLLOW).
            return Err(Errno::LOOP.into());
        }
        Ok(meta)
    }

    /// `fstatat` of one name in this folder, not following a symlink.
    pub fn stat_name(&self, name: &str) -> io::Result<Option<Stat>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Hard-links `name` of this folder to `new_name` in `to`.
    pub fn link(&self, name: &str, to: &Dir, new_name: &str) -> io::Result<()> {
        Ok(rustix::fs::linkat(
            &self.fd,
            name,
            &to.fd,
            new_name,
            AtFlags::empty(),
        )?)
    }

    /// Renames `name` of this folder to `new_name` in `to`, replacing it.
    pub fn rename(&self, name: &str, to: &Dir, new_name: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, name, &to.fd, new_name)?)
    }

    /// Removes the file `name` of this folder; absent is fine.
    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the file `rel` beneath this folder for writing.
    pub fn open_write(&self, rel: &str, how: Writing) -> io::Result<std::fs::File> {
        let fd = match how {
            Writing::Append => self.open(rel, OFlags::WRONLY | OFlags::APPEND)?,
            Writing::InPlace => self.open(rel, OFlags::WRONLY)?,
            Writing::Create => {
                // openat2 takes no creation mode here: the folder is opened
                // beneath the root, the file created in it, never followed.
                let names = names(rel)?;
                let (last, folders) = names.split_last().ok_or(io::ErrorKind::InvalidInput)?;
                let parent = self.dir(&folders.join("/"))?;
                rustix::fs::openat(
                    &parent.fd,
                    *last,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::TRUNC
                        | OFlags::NOFOLLOW
                        | OFlags::NONBLOCK
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o666),
                )?
            }
        };
        Ok(std::fs::File::from(fd))
    }

    /// Creates the folder `rel` (its parent must exist).
    pub fn create_dir(&self, rel: &str) -> io::Result<()> {
        let names = names(rel)?;
        let (last, folders) = names.split_last().ok_or(io::ErrorKind::InvalidInput)?;
        let parent = self.dir(&folders.join("/"))?;
        Ok(rustix::fs::mkdirat(
            &parent.fd,
            *last,
            Mode::from_raw_mode(DIR_MODE),
        )?)
    }

    /// Deletes `rel` and, if a folder, all it holds; nothing is followed, so
    /// a symlink inside is removed, not its target. Absent is fine.
    pub fn remove_tree(&self, rel: &str) -> io::Result<()> {
        let names = names(rel)?;
        let Some((last, folders)) = names.split_last() else {
            return Err(io::ErrorKind::InvalidInput.into());
        };
        let parent = match self.dir(&folders.join("/")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        remove_entry(&parent.fd, std::ffi::OsStr::new(last))
    }
}

/// How [`Dir::open_write`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// Every write at the end.
    Append,
    /// Positional writes into an existing file.
    InPlace,
    /// Created, or emptied (mode 0666 less the umask).
    Create,
}

/// Removes `name` of the folder `parent`, recursively.
fn remove_entry(parent: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<()> {
    let stat = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => return Ok(()),
        other => other?,
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        };
    }
    let folder = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    for entry in rustix::fs::Dir::read_from(&folder)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push(std::ffi::OsString::from_vec(child.to_vec()));
        }
    }
    for child in &children {
        remove_entry(&folder, child)?;
    }
    match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// True when `stat` is a symbolic link or a folder: never a destination file.
pub fn is_link_or_dir(stat: &Stat) -> bool {
    matches!(
        FileType::from_raw_mode(stat.st_mode),
        FileType::Symlink | FileType::Directory
    )
}

/// True when two stats name the same file (one inode, two links).
pub fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The components of `rel`; `.`, `..` and empty ones are refused outright
/// (the request paths are checked before, this is a second line).
fn names(rel: &str) -> io::Result<Vec<&str>> {
    if rel.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = rel.split('/').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || *n == "." || *n == "..")
    {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    Ok(names)
}

/// True for the errors a symlink or a non-folder on the path gives.
pub fn is_refused_path(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::LOOP | Errno::XDEV | Errno::NOTDIR)
    ) || error.kind() == io::ErrorKind::InvalidInput
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_beneath_the_root_follows_a_symlink() {
        let base = tempfile::tempdir().expect("tempdir");
        let root = base.path().join("root");
        std::fs::create_dir_all(root.join("real")).expect("mkdir");
        std::fs::write(root.join("real/f"), b"in").expect("write");
        std::fs::write(base.path().join("secret"), b"out").expect("write");
        std::os::unix::fs::symlink(base.path(), root.join("up")).expect("symlink");
        std::os::unix::fs::symlink(root.join("real"), root.join("inside")).expect("symlink");
        let dir = Dir::open_ambient(&root).expect("root");
        assert!(dir.open_file("real/f").is_ok());
        for rel in [
            "up/secret",
            "inside/f",
            "../secret",
            "real/../../secret",
            "/etc/passwd",
        ] {
            let error = dir.open_file(rel).expect_err(rel);
            assert!(is_refused_path(&error), "{rel}: {error}");
        }
        assert!(dir.create_dirs("up/x").is_err());
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("real/fifo"))
            .status();
        if fifo.is_ok_and(|s| s.success()) {
            assert!(dir.open_file("real/fifo").is_err(), "a FIFO is not a file");
            assert!(dir.open_write("real/fifo", Writing::Append).is_err());
        }
        assert!(!base.path().join("x").exists());
        let made = dir.create_dirs("new/deep").expect("create");
        drop(made);
        assert!(root.join("new/deep").is_dir());
        // The fallback walk refuses the same.
        for (rel, ok) in [("up/secret", false), ("inside/f", false), ("real/f", true)] {
            let parts = names(rel).expect("names");
            assert_eq!(dir.walk_open(&parts, OFlags::RDONLY).is_ok(), ok, "{rel}");
        }
    }

    #[test]
    fn removing_a_tree_removes_links_not_their_targets() {
        let base = tempfile::tempdir().expect("tempdir");
        let root = base.path().join("root");
        std::fs::create_dir_all(root.join("s/inner")).expect("mkdir");
        std::fs::create_dir_all(base.path().join("keep")).expect("mkdir");
        std::fs::write(base.path().join("keep/file"), b"kept").expect("write");
        std::fs::write(root.join("s/inner/x"), b"x").expect("write");
        std::os::unix::fs::symlink(base.path().join("keep"), root.join("s/link")).expect("link");
        let dir = Dir::open_ambient(&root).expect("root");
        dir.remove_tree("s").expect("remove");
        dir.remove_tree("s").expect("absent is fine");
        assert!(!root.join("s").exists());
        assert_eq!(
            std::fs::read(base.path().join("keep/file")).expect("kept"),
            b"kept"
        );
    }
}
