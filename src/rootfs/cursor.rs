//! The directory cursor that path resolution walks ([`crate::fsx::inroot::Lookup`] over a real
//! tree): one open directory per component from the root, each opened from its parent with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so every step is re-checked by the kernel and
//! costs one system call however deep the path is.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::node::WRITER;
use crate::fsx::inode::Meta;
use crate::fsx::inroot::{self, Lookup, Node, ResolveError};

/// [`Lookup`] cursor over the staging root: the open directories from the root to the cursor,
/// each opened from its parent by one component, so a path costs one `openat2` per component;
/// creates implicit directories with `implicit` metadata.
pub(crate) struct FsLookup<'a> {
    pub(crate) root: BorrowedFd<'a>,
    pub(crate) dirs: &'a mut BTreeMap<Vec<OsString>, Meta>,
    pub(crate) implicit: Meta,
    /// Canonical path of the cursor.
    pub(crate) path: Vec<OsString>,
    /// `O_PATH` fds of the directories on `path` (the root is `root`).
    pub(crate) fds: Vec<OwnedFd>,
}

impl FsLookup<'_> {
    pub(crate) fn here(&self) -> BorrowedFd<'_> {
        self.fds.last().map_or(self.root, |fd| fd.as_fd())
    }

    /// Opens `name` in the cursor's directory, refusing any symlink or escape.
    fn open(&self, name: &OsStr, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        openat2_beneath(
            self.here(),
            &[name.to_os_string()],
            flags | OFlags::NOFOLLOW,
        )
    }
}

impl Lookup for FsLookup<'_> {
    fn to_root(&mut self) {
        self.path.clear();
        self.fds.clear();
    }

    fn node(&mut self, name: &OsStr) -> io::Result<Node> {
        let fd = match self.open(name, OFlags::PATH) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(Node::Missing),
            Err(e) => return Err(e.into()),
        };
        let st = rfs::fstat(&fd)?;
        Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Node::Dir,
            FileType::Symlink => Node::Symlink(rfs::readlinkat(&fd, "", Vec::new())?.into_bytes()),
            _ => Node::Other,
        })
    }

    fn enter(&mut self, name: &OsStr) -> io::Result<()> {
        let fd = self.open(name, OFlags::PATH | OFlags::DIRECTORY)?;
        self.fds.push(fd);
        self.path.push(name.to_os_string());
        Ok(())
    }

    fn mkdir(&mut self, name: &OsStr) -> io::Result<()> {
        WRITER.mkdir(self.here(), name)?;
        self.dirs
            .insert(inroot::with(&self.path, name), self.implicit.clone());
        self.enter(name)
    }

    fn up(&mut self) {
        self.path.pop();
        self.fds.pop();
    }
}

/// A second fd for the directory `fd`.
pub(crate) fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, ResolveError> {
    rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(|e| ResolveError::Io {
        at: Vec::new(),
        source: e.into(),
    })
}

/// Opens `path` (canonical, relative to `root`) refusing any symlink or escape on the way.
pub(crate) fn openat2_beneath(
    root: BorrowedFd<'_>,
    path: &[OsString],
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    let rel = inroot::at_path(path);
    rfs::openat2(
        root,
        &rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_MAGICLINKS
            | ResolveFlags::NO_XDEV,
    )
}

/// Opens the canonical directory `path`.
pub(crate) fn open_dir(
    root: BorrowedFd<'_>,
    path: &[OsString],
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    openat2_beneath(root, path, flags | OFlags::DIRECTORY | OFlags::NOFOLLOW)
}
