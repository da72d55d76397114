//! Writes nodes into a fresh image root, never outside it and never through a symlink.
//!
//! Every entry's parent directory is resolved by [`resolve_dir`] (symlinks followed with the image
//! root as `/`, missing directories created) and then opened with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, so the kernel re-checks that the canonical path has no link in it. The
//! node is created relative to that directory fd; an existing non-directory at the name is
//! unlinked first (a later entry wins, and a symlink there is replaced, never written through).
//!
//! Resolution walks a cursor of open directories one component at a time and goes on from the
//! previous entry's parent when the next entry lies below it, so extraction costs grow with the
//! archive, not with the square of its depth (names are capped at PATH_MAX in [`super::entry`]).
//!
//! Nodes and their metadata are made by the one inode writer ([`crate::fsx::inode`], through
//! [`super::node`]) without following links. Directories are created
//! [`BUSY_DIR_MODE`](crate::fsx::inode::BUSY_DIR_MODE) and get
//! their metadata in [`Tree::finish`], after their children (mode 0555 must not block
//! extraction, and adding children changes the mtime).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::cursor::{dup, open_dir, FsLookup};
use super::error::EntryError;
use super::node::{create, Kind, WRITER};
use super::policy::Policy;
use super::resolve::entry_components;
use crate::fsx::inode::{Meta, Time};
use crate::fsx::inroot::{self, resolve_dir, resolve_from, Links, Missing, ResolveError};

/// Mode of parent directories the source does not list.
const IMPLICIT_DIR_MODE: u32 = 0o755;
/// Copy buffer for file data.
const COPY_BUF: usize = 256 * 1024;

/// A staging root being filled.
#[derive(Debug)]
pub(crate) struct Tree {
    root: OwnedFd,
    /// Metadata of every directory, applied by [`Tree::finish`]; keyed by canonical path.
    dirs: BTreeMap<Vec<OsString>, Meta>,
    /// Owner of implicit directories (the running user).
    owner: (u32, u32),
    /// Copy buffer for file data.
    buf: Vec<u8>,
    /// Whether symlinks on the way are followed (inside the root) or refuse the entry.
    links: Links,
    /// Whether an entry may replace a node of the other kind (directory by file, file by
    /// directory); the strict policy refuses it.
    replace_kind: bool,
    /// The last parent resolved for an entry when it had no symlink in it (raw name = canonical
    /// path), with its open directories: the next entry below it resolves only what follows, so
    /// a deep tree costs one step per entry instead of one per component of every entry.
    last: Option<(Vec<OsString>, Vec<OwnedFd>)>,
}

impl Tree {
    /// Opens the (empty) staging directory `root`.
    pub(crate) fn open(root: &Path, policy: Policy) -> io::Result<Tree> {
        let root = rfs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Tree {
            root,
            dirs: BTreeMap::new(),
            owner: (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            ),
            buf: vec![0u8; COPY_BUF],
            links: policy.links(),
            replace_kind: policy.replaces_kind(),
            last: None,
        })
    }

    /// The running user and group, who own implicit directories.
    pub(crate) fn owner(&self) -> (u32, u32) {
        self.owner
    }

    fn implicit(&self, mtime: Option<Time>) -> Meta {
        Meta {
            uid: self.owner.0,
            gid: self.owner.1,
            mode: IMPLICIT_DIR_MODE,
            mtime,
            xattrs: Vec::new(),
        }
    }

    /// Creates `kind` at the image path `name` (normal components; empty = the root).
    pub(crate) fn put(
        &mut self,
        name: &[OsString],
        kind: Kind<'_>,
        meta: Meta,
    ) -> Result<(), EntryError> {
        if !self.dirs.contains_key(&Vec::new()) {
            let m = self.implicit(meta.mtime);
            self.dirs.insert(Vec::new(), m);
        }
        let Some((last, parent)) = name.split_last() else {
            return match kind {
                Kind::Dir => {
                    self.dirs.insert(Vec::new(), meta);
                    Ok(())
                }
                other => Err(EntryError::RootNotDirectory { kind: other.name() }),
            };
        };
        let implicit = self.implicit(meta.mtime);
        let (canon, dir) = self.resolve_parent(parent, implicit.clone())?;
        let existing = stat_nofollow(dir.as_fd(), last).map_err(EntryError::io("stat"))?;
        let path = inroot::with(&canon, last);
        match kind {
            Kind::Dir => {
                match existing {
                    Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Some(_) if !self.replace_kind => {
                        return Err(EntryError::Replace {
                            old: "non-directory",
                            kind: "directory",
                        })
                    }
                    Some(st) => {
                        self.remove(dir.as_fd(), &path, &st, "directory")?;
                        mkdir(dir.as_fd(), last)?;
                    }
                    None => mkdir(dir.as_fd(), last)?,
                }
                self.dirs.insert(path, meta);
                Ok(())
            }
            Kind::Hardlink(target) => self.hardlink(
                dir.as_fd(),
                last,
                &path,
                existing.as_ref(),
                target,
                implicit,
            ),
            other => {
                if let Some(st) = existing.filter(|_| !self.replace_kind) {
                    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                        return Err(EntryError::Replace {
                            old: "directory",
                            kind: other.name(),
                        });
                    }
                }
                if let Some(st) = existing {
                    self.remove(dir.as_fd(), &path, &st, other.name())?;
                }
                create(dir.as_fd(), last, other, &meta, &mut self.buf)
            }
        }
    }

    /// Applies the deferred directory metadata, children before parents.
    pub(crate) fn finish(self) -> Result<(), (String, EntryError)> {
        for (path, meta) in self.dirs.iter().rev() {
            let fd = open_dir(self.root.as_fd(), path, OFlags::RDONLY).map_err(|e| {
                (
                    inroot::display(path),
                    EntryError::io("opening directory")(e),
                )
            })?;
            WRITER
                .apply_fd(fd.as_fd(), meta)
                .map_err(|e| (inroot::display(path), e.into()))?;
        }
        Ok(())
    }

    /// Resolves (creating what is missing) and opens the parent directory of an entry, going on
    /// from the previous entry's parent when `path` extends it.
    fn resolve_parent(
        &mut self,
        path: &[OsString],
        implicit: Meta,
    ) -> Result<(Vec<OsString>, OwnedFd), ResolveError> {
        let (start, fds) = match self.last.take() {
            Some((prev, fds)) if path.starts_with(&prev) => (prev, fds),
            _ => (Vec::new(), Vec::new()),
        };
        let rest = path.get(start.len()..).unwrap_or_default();
        let mut lookup = FsLookup {
            root: self.root.as_fd(),
            dirs: &mut self.dirs,
            implicit,
            path: start.clone(),
            fds,
        };
        let canon = resolve_from(&mut lookup, start, rest, Missing::Create, self.links)?;
        let fd = dup(lookup.here())?;
        if canon == path {
            self.last = Some((canon.clone(), lookup.fds));
        }
        Ok((canon, fd))
    }

    /// Resolves the directory `path` and opens it (`O_PATH`).
    fn resolve(
        &mut self,
        path: &[OsString],
        missing: Missing,
        implicit: Meta,
    ) -> Result<(Vec<OsString>, OwnedFd), ResolveError> {
        let mut lookup = FsLookup {
            root: self.root.as_fd(),
            dirs: &mut self.dirs,
            implicit,
            path: Vec::new(),
            fds: Vec::new(),
        };
        let canon = resolve_dir(&mut lookup, path, missing, self.links)?;
        Ok((canon, dup(lookup.here())?))
    }

    /// Unlinks what is at `path` so `new` can take its place; a directory only if empty.
    fn remove(
        &mut self,
        dir: BorrowedFd<'_>,
        path: &[OsString],
        st: &rfs::Stat,
        new: &'static str,
    ) -> Result<(), EntryError> {
        let name = path.last().map(OsString::as_os_str).unwrap_or_default();
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                Ok(()) => {
                    self.dirs.remove(path);
                    Ok(())
                }
                Err(Errno::NOTEMPTY) => Err(EntryError::NonEmptyDirectory { kind: new }),
                Err(e) => Err(EntryError::io("removing the existing directory")(e)),
            }
        } else {
            rfs::unlinkat(dir, name, AtFlags::empty())
                .map_err(EntryError::io("removing the existing entry"))
        }
    }

    fn hardlink(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &[OsString],
        existing: Option<&rfs::Stat>,
        target: &[u8],
        implicit: Meta,
    ) -> Result<(), EntryError> {
        let shown = String::from_utf8_lossy(target).into_owned();
        let parts = entry_components(target).map_err(|source| EntryError::HardlinkTarget {
            target: shown.clone(),
            source,
        })?;
        let Some((tname, tparent)) = parts.split_last() else {
            return Err(EntryError::HardlinkToDirectory { target: shown });
        };
        let (_, tdir) = self
            .resolve(tparent, Missing::Fail, implicit)
            .map_err(|source| EntryError::HardlinkTarget {
                target: shown.clone(),
                source,
            })?;
        let tst = stat_nofollow(tdir.as_fd(), tname)
            .map_err(EntryError::io("stat of the hardlink target"))?
            .ok_or_else(|| EntryError::HardlinkTargetMissing {
                target: shown.clone(),
            })?;
        if FileType::from_raw_mode(tst.st_mode) == FileType::Directory {
            return Err(EntryError::HardlinkToDirectory { target: shown });
        }
        if let Some(st) = existing {
            if st.st_dev == tst.st_dev && st.st_ino == tst.st_ino {
                return Ok(());
            }
            self.remove(dir, path, st, "hardlink")?;
        }
        rfs::linkat(tdir.as_fd(), tname, dir, name, AtFlags::empty())
            .map_err(EntryError::io("link"))
    }
}

fn stat_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<Option<rfs::Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn mkdir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), EntryError> {
    Ok(WRITER.mkdir(dir, name)?)
}

/// The resolve error of an entry name, for callers that normalize names themselves.
pub(crate) fn components(name: &[u8]) -> Result<Vec<OsString>, EntryError> {
    entry_components(name).map_err(EntryError::Path)
}
