//! The [`Writer`]: node creation and metadata in the one order, through fds, never following a link.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;

use rustix::fs::{self as rfs, AtFlags, Dev, FileType, Gid, Mode, OFlags, Uid, XattrFlags, CWD};

use super::*;

/// Creates nodes and applies metadata, in the one order, with one [`Chown`] rule, showing each
/// step to its [`Observer`].
#[derive(Clone, Copy)]
pub struct Writer<'o> {
    chown: Chown,
    observer: &'o dyn Observer,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("chown", &self.chown)
            .finish_non_exhaustive()
    }
}

impl Writer<'static> {
    /// A writer nobody observes.
    pub const fn new(chown: Chown) -> Writer<'static> {
        Writer {
            chown,
            observer: &Unobserved,
        }
    }
}

impl<'o> Writer<'o> {
    /// A writer showing each step to `observer`.
    pub fn observed(chown: Chown, observer: &'o dyn Observer) -> Writer<'o> {
        Writer { chown, observer }
    }

    /// Creates an empty directory `dir`/`name` with [`BUSY_DIR_MODE`] (the umask applies), to be
    /// filled before its metadata is applied.
    pub fn mkdir(&self, dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), InodeError> {
        self.step(Change::Created(Node::Dir), || {
            rfs::mkdirat(dir, name, Mode::from_raw_mode(BUSY_DIR_MODE))
        })
    }

    /// Creates the empty regular file `dir`/`name` (which must be free; never through a link),
    /// mode [`NEW_NODE_MODE`] until [`Writer::apply_fd`].
    pub fn new_file(&self, dir: BorrowedFd<'_>, name: &OsStr) -> Result<File, InodeError> {
        self.observer.before(Op::Create);
        let fd = rfs::openat(
            dir,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(NEW_NODE_MODE),
        )
        .map_err(InodeError::sys(Op::Create))?;
        self.observer.after(&Change::NewFile);
        Ok(File::from(fd))
    }

    /// Creates the regular file `dir`/`name` (free) with exactly `size` bytes from `data`, copied
    /// through `buf`, then applies `meta`.
    pub fn create_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        data: &mut dyn Read,
        size: u64,
        meta: &Meta,
        buf: &mut [u8],
    ) -> Result<(), InodeError> {
        self.chowns(meta)?;
        let mut file = self.new_file(dir, name)?;
        copy_exact(data, &mut file, size, buf)?;
        self.apply_fd(file.as_fd(), meta)
    }

    /// Creates `node` at `dir`/`name` (free) and applies `meta` to it.
    pub fn create(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        node: Node<'_>,
        meta: &Meta,
    ) -> Result<(), InodeError> {
        self.chowns(meta)?;
        match node {
            Node::Dir => self.mkdir(dir, name)?,
            Node::Symlink(target) => {
                check_target(target)?;
                self.step(Change::Created(node), || rfs::symlinkat(target, dir, name))?;
            }
            Node::Char(rdev) | Node::Block(rdev) => self.mknod(dir, name, node, rdev)?,
            Node::Fifo | Node::Socket => self.mknod(dir, name, node, 0)?,
        }
        self.apply(dir, name, meta, Some(node.file_type()))
    }

    /// chown → chmod → xattrs → mtime through `fd`, an open regular file or directory.
    pub fn apply_fd(&self, fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), InodeError> {
        if self.chowns(meta)? {
            self.step(Change::Owner(meta.uid, meta.gid), || {
                rfs::fchown(fd, Some(uid(meta)), Some(gid(meta)))
            })?;
        }
        let mode = meta.mode & MODE_BITS;
        self.step(Change::Mode(mode), || {
            rfs::fchmod(fd, Mode::from_raw_mode(mode))
        })?;
        for (k, v) in &meta.xattrs {
            self.step(Change::Xattr(k), || {
                rfs::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty())
            })?;
        }
        if let Some(t) = meta.mtime {
            self.step(Change::Times(t), || rfs::futimens(fd, &t.timestamps()))?;
        }
        Ok(())
    }

    /// Sets only the mtime (and atime) of `fd`, an open file or directory: a directory whose
    /// contents a caller changed after its metadata was applied.
    pub fn set_mtime(&self, fd: BorrowedFd<'_>, t: Time) -> Result<(), InodeError> {
        self.step(Change::Times(t), || rfs::futimens(fd, &t.timestamps()))
    }

    /// chown → chmod → xattrs → mtime of the existing node `dir`/`name`, never following it: a
    /// symlink gets its own owner, xattrs and mtime and no chmod. `dir` may be [`CWD`] with
    /// `name` a whole path.
    pub fn apply_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<(), InodeError> {
        self.apply(dir, name, meta, None)
    }

    /// [`Writer::apply_at`], refusing the node unless it is of type `expect` when given.
    pub(super) fn apply(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        expect: Option<FileType>,
    ) -> Result<(), InodeError> {
        let chown = self.chowns(meta)?;
        let node = rfs::openat(
            dir,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(InodeError::sys(Op::Open))?;
        let found = FileType::from_raw_mode(
            rfs::fstat(&node)
                .map_err(InodeError::sys(Op::Stat))?
                .st_mode,
        );
        if let Some(want) = expect.filter(|&want| want != found) {
            return Err(InodeError::Replaced {
                expected: type_name(want),
                found: type_name(found),
            });
        }
        if chown {
            self.step(Change::Owner(meta.uid, meta.gid), || {
                rfs::chownat(
                    &node,
                    "",
                    Some(uid(meta)),
                    Some(gid(meta)),
                    AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
                )
            })?;
        }
        if found == FileType::Symlink {
            let link = path_at(dir, name);
            for (k, v) in &meta.xattrs {
                self.step(Change::Xattr(k), || {
                    rfs::lsetxattr(&link, k.as_slice(), v, XattrFlags::empty())
                })?;
            }
            if let Some(t) = meta.mtime {
                self.step(Change::Times(t), || {
                    rfs::utimensat(dir, name, &t.timestamps(), AtFlags::SYMLINK_NOFOLLOW)
                })?;
            }
            return Ok(());
        }
        // The node itself, whatever its name now leads to.
        let via = PathBuf::from(format!("{PROC_SELF_FD}/{}", node.as_raw_fd()));
        let mode = meta.mode & MODE_BITS;
        self.step(Change::Mode(mode), || {
            rfs::chmod(&via, Mode::from_raw_mode(mode))
        })?;
        for (k, v) in &meta.xattrs {
            self.step(Change::Xattr(k), || {
                rfs::setxattr(&via, k.as_slice(), v, XattrFlags::empty())
            })?;
        }
        if let Some(t) = meta.mtime {
            self.step(Change::Times(t), || {
                rfs::utimensat(CWD, &via, &t.timestamps(), AtFlags::empty())
            })?;
        }
        Ok(())
    }

    fn mknod(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        node: Node<'_>,
        rdev: Dev,
    ) -> Result<(), InodeError> {
        self.step(Change::Created(node), || {
            rfs::mknodat(
                dir,
                name,
                node.file_type(),
                Mode::from_raw_mode(NEW_NODE_MODE),
                rdev,
            )
        })
    }

    /// Shows `change`'s step to the observer, makes it, and shows the change once it succeeded.
    fn step(
        &self,
        change: Change<'_>,
        call: impl FnOnce() -> rustix::io::Result<()>,
    ) -> Result<(), InodeError> {
        let op = change.op();
        self.observer.before(op);
        call().map_err(|e| match change {
            Change::Xattr(name) => InodeError::Xattr {
                name: String::from_utf8_lossy(name).into_owned(),
                source: e.into(),
            },
            _ => InodeError::sys(op)(e),
        })?;
        self.observer.after(&change);
        Ok(())
    }

    /// Whether `meta`'s owner is to be set ([`Chown`]); refuses an owner chown cannot set (every
    /// creating call checks first, so nothing is created for it).
    fn chowns(&self, meta: &Meta) -> Result<bool, InodeError> {
        let chown = match self.chown {
            Chown::Always => true,
            Chown::Never => false,
            Chown::UnlessEffective => {
                meta.uid != rustix::process::geteuid().as_raw()
                    || meta.gid != rustix::process::getegid().as_raw()
            }
        };
        if chown && (meta.uid == u32::MAX || meta.gid == u32::MAX) {
            return Err(InodeError::Owner {
                uid: meta.uid,
                gid: meta.gid,
            });
        }
        Ok(chown)
    }
}

fn uid(meta: &Meta) -> Uid {
    Uid::from_raw(meta.uid)
}

fn gid(meta: &Meta) -> Gid {
    Gid::from_raw(meta.gid)
}

/// A path naming `name` in `dir` for the calls that have no `*at()` form (the xattr ones):
/// `name` itself for [`CWD`], else through `/proc/self/fd/N`.
fn path_at(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    if dir.as_raw_fd() == CWD.as_raw_fd() {
        return PathBuf::from(name);
    }
    let mut p = PathBuf::from(format!("{PROC_SELF_FD}/{}", dir.as_raw_fd()));
    p.push(name);
    p
}

fn type_name(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::Unknown => "node of unknown type",
    }
}

fn check_target(target: &[u8]) -> Result<(), InodeError> {
    let reason = if target.is_empty() {
        "empty"
    } else if target.contains(&0) {
        "contains a nul byte"
    } else {
        return Ok(());
    };
    Err(InodeError::SymlinkTarget {
        target: String::from_utf8_lossy(target).into_owned(),
        reason,
    })
}

/// Copies exactly `size` bytes of `data` into `to` through `buf`.
fn copy_exact(
    data: &mut dyn Read,
    to: &mut File,
    size: u64,
    buf: &mut [u8],
) -> Result<(), InodeError> {
    let mut limited = data.take(size);
    let mut got = 0u64;
    loop {
        let n = match limited.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InodeError::Read(e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        to.write_all(chunk).map_err(|source| InodeError::Sys {
            op: Op::Write,
            source,
        })?;
        got += n as u64;
    }
    if got != size {
        return Err(InodeError::Truncated {
            expected: size,
            got,
        });
    }
    Ok(())
}
