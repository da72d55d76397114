//! A sorted, link-safe, one-filesystem walk of a directory tree (for copying and scanning).
//!
//! Directories are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` relative to the
//! walk root, so a symlink swapped in during the walk cannot lead it elsewhere; nothing is
//! followed. Names are visited in byte order (reproducible), every directory before its
//! children. Directories on another filesystem (mount points) are visited but not entered.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::resolve;

/// Where the kernel exposes an fd as a path; xattrs of a node are read through its parent's fd
/// (`/proc/self/fd/N/name`) so the node itself is never opened or followed.
const PROC_SELF_FD: &str = "/proc/self/fd";

/// One visited node.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    /// Components relative to the walk root (empty for the root itself).
    pub path: &'a [OsString],
    /// The directory holding the node (for the root: the root itself).
    dir: BorrowedFd<'a>,
    /// The node's stat (not following links).
    pub st: rfs::Stat,
    /// A directory on another filesystem: visited, not entered.
    pub other_fs: bool,
}

impl Item<'_> {
    /// The node's type.
    pub(crate) fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.st.st_mode)
    }

    fn name(&self) -> Option<&OsStr> {
        self.path.last().map(OsString::as_os_str)
    }

    /// Opens the node itself (never following a link).
    pub(crate) fn open(&self, flags: OFlags) -> io::Result<OwnedFd> {
        let name = self.name().unwrap_or(OsStr::new("."));
        Ok(rfs::openat(
            self.dir,
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// The symlink's target.
    pub(crate) fn read_link(&self) -> io::Result<Vec<u8>> {
        let name = self.name().unwrap_or(OsStr::new("."));
        Ok(rfs::readlinkat(self.dir, name, Vec::new())?.into_bytes())
    }

    fn proc_path(&self) -> PathBuf {
        let mut p = PathBuf::from(format!("{PROC_SELF_FD}/{}", self.dir.as_raw_fd()));
        if let Some(n) = self.name() {
            p.push(n);
        }
        p
    }

    /// One xattr of the node, `None` when absent.
    pub(crate) fn xattr(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let p = self.proc_path();
        let root = self.name().is_none();
        let size = match if root {
            rfs::fgetxattr_query(self.dir, key)
        } else {
            rfs::lgetxattr_query(&p, key)
        } {
            Ok(n) => n,
            Err(Errno::NODATA) | Err(Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; size];
        let n = if root {
            rfs::fgetxattr(self.dir, key, &mut buf[..])?
        } else {
            rfs::lgetxattr(&p, key, &mut buf[..])?
        };
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// All xattrs of the node, sorted by name.
    pub(crate) fn xattrs(&self) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let p = self.proc_path();
        let root = self.name().is_none();
        let size = match if root {
            rfs::flistxattr_query(self.dir)
        } else {
            rfs::llistxattr_query(&p)
        } {
            Ok(n) => n,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut buf = vec![0u8; size];
        let n = if root {
            rfs::flistxattr(self.dir, &mut buf[..])?
        } else {
            rfs::llistxattr(&p, &mut buf[..])?
        };
        buf.truncate(n);
        let mut names: Vec<&[u8]> = buf.split(|b| *b == 0).filter(|s| !s.is_empty()).collect();
        names.sort_unstable();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(v) = self.xattr(name)? {
                out.push((name.to_vec(), v));
            }
        }
        Ok(out)
    }
}

/// A walk failure at `path` (image-style, `/a/b`) under `root`.
#[derive(Debug)]
pub(crate) struct WalkError {
    pub root: PathBuf,
    pub path: Vec<OsString>,
    pub source: io::Error,
}

impl WalkError {
    /// The failing path as the host sees it.
    pub(crate) fn host_path(&self) -> PathBuf {
        if self.path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(resolve::rel_path(&self.path))
        }
    }
}

/// Visits every node under `root` (the root first); `visit` may fail with its own error type.
pub(crate) fn walk<E: From<WalkError>>(
    root: &Path,
    visit: &mut dyn FnMut(&Item<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let fail = |path: &[OsString], source: io::Error| WalkError {
        root: root.to_path_buf(),
        path: path.to_vec(),
        source,
    };
    let root_fd = rfs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(&[], e.into()))?;
    let root_st = rfs::fstat(&root_fd).map_err(|e| fail(&[], e.into()))?;
    visit(&Item {
        path: &[],
        dir: root_fd.as_fd(),
        st: root_st,
        other_fs: false,
    })?;
    let mut stack: Vec<Vec<OsString>> = vec![Vec::new()];
    while let Some(dir_path) = stack.pop() {
        let dir =
            open_beneath(root_fd.as_fd(), &dir_path).map_err(|e| fail(&dir_path, e.into()))?;
        let mut names = list(dir.as_fd()).map_err(|e| fail(&dir_path, e.into()))?;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut subdirs = Vec::new();
        for name in names {
            let path = resolve::with(&dir_path, &name);
            let st = rfs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| fail(&path, e.into()))?;
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            let other_fs = is_dir && st.st_dev != root_st.st_dev;
            visit(&Item {
                path: &path,
                dir: dir.as_fd(),
                st,
                other_fs,
            })?;
            if is_dir && !other_fs {
                subdirs.push(path);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn open_beneath(root: BorrowedFd<'_>, path: &[OsString]) -> rustix::io::Result<OwnedFd> {
    let rel = resolve::at_path(path);
    rfs::openat2(
        root,
        &rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        // No RESOLVE_NO_XDEV: "another filesystem" is decided by st_dev, as `find -xdev` and
        // `tar --one-file-system` do, so a same-device bind mount is entered, not an error.
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

fn list(dir: BorrowedFd<'_>) -> rustix::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}
