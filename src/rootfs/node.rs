//! Creating one node and applying its metadata, never following a link.
//!
//! Order: create → chown → chmod → xattrs → mtime (chown clears setuid/setgid and
//! `security.capability`). Regular files and directories are changed through their open fd;
//! symlinks get `lchown`/`lsetxattr`/`utimensat(NOFOLLOW)` and no chmod; device nodes, fifos and
//! sockets are changed through an `O_PATH` fd checked not to be a link.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, XattrFlags};
use rustix::io::Errno;

use super::error::EntryError;

/// Where the kernel exposes an fd as a path: chmod and setxattr on device nodes and symlinks go
/// through it, because an `O_PATH` fd cannot be fchmod'ed and opening a device for real could
/// have side effects (glibc's `fchmodat(AT_SYMLINK_NOFOLLOW)` does the same).
const PROC_SELF_FD: &str = "/proc/self/fd";
/// Mode of regular files and special nodes between creation and chmod.
const NEW_NODE_MODE: u32 = 0o600;
/// Permission bits including setuid, setgid and sticky.
pub(crate) const MODE_BITS: u32 = 0o7777;

/// A point in time with nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// Owner, mode, xattrs and mtime of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (masked with [`MODE_BITS`]).
    pub mode: u32,
    pub mtime: Time,
    /// Extended attributes (name, value), applied in this order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What to create.
pub(crate) enum Kind<'a> {
    /// A regular file with exactly `size` bytes from `data`.
    File {
        data: &'a mut dyn Read,
        size: u64,
    },
    Dir,
    /// A symlink with this raw target (kept as is, absolute or not).
    Symlink(&'a [u8]),
    /// A hardlink to this image path (made relative, resolved inside the image).
    Hardlink(&'a [u8]),
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
}

impl Kind<'_> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::File { .. } => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::Hardlink(_) => "hardlink",
            Kind::Char { .. } => "character device",
            Kind::Block { .. } => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}
fn timestamps(t: Time) -> rfs::Timestamps {
    let ts = rfs::Timespec {
        tv_sec: t.sec,
        tv_nsec: t.nsec.into(),
    };
    rfs::Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}

/// `/proc/self/fd/N[/name]` for an fd of ours.
fn proc_path(fd: BorrowedFd<'_>, name: Option<&OsStr>) -> PathBuf {
    let mut p = PathBuf::from(format!("{PROC_SELF_FD}/{}", fd.as_raw_fd()));
    if let Some(n) = name {
        p.push(n);
    }
    p
}

/// Creates a non-directory, non-hardlink node at `dir`/`name` (which is free) with `meta`.
pub(crate) fn create(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    kind: Kind<'_>,
    meta: &Meta,
    buf: &mut [u8],
) -> Result<(), EntryError> {
    let uid = Some(rfs::Uid::from_raw(meta.uid));
    let gid = Some(rfs::Gid::from_raw(meta.gid));
    let (file_type, dev) = match kind {
        Kind::File { data, size } => return create_file(dir, name, data, size, meta, buf),
        Kind::Symlink(target) => {
            if target.is_empty() || target.contains(&0) {
                return Err(EntryError::SymlinkTarget {
                    target: String::from_utf8_lossy(target).into_owned(),
                    reason: if target.is_empty() {
                        "empty"
                    } else {
                        "contains a nul byte"
                    },
                });
            }
            rfs::symlinkat(target, dir, name).map_err(EntryError::io("symlink"))?;
            rfs::chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(EntryError::io("lchown"))?;
            set_xattrs_path(&proc_path(dir, Some(name)), meta, false)?;
            return rfs::utimensat(
                dir,
                name,
                &timestamps(meta.mtime),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(EntryError::io("setting the mtime"));
        }
        Kind::Char { major, minor } => (FileType::CharacterDevice, rfs::makedev(major, minor)),
        Kind::Block { major, minor } => (FileType::BlockDevice, rfs::makedev(major, minor)),
        Kind::Fifo => (FileType::Fifo, 0),
        Kind::Socket => (FileType::Socket, 0),
        Kind::Dir | Kind::Hardlink(_) => {
            return Err(EntryError::Unsupported {
                kind: kind.name().into(),
            })
        }
    };
    rfs::mknodat(
        dir,
        name,
        file_type,
        Mode::from_raw_mode(NEW_NODE_MODE),
        dev,
    )
    .map_err(EntryError::io("mknod"))?;
    let node = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(EntryError::io("opening the new node"))?;
    let st = rfs::fstat(&node).map_err(EntryError::io("stat"))?;
    if FileType::from_raw_mode(st.st_mode) != file_type {
        return Err(EntryError::Io {
            op: "checking the new node",
            source: io::Error::other("the node changed type under us"),
        });
    }
    rfs::chownat(&node, "", uid, gid, AtFlags::EMPTY_PATH).map_err(EntryError::io("chown"))?;
    let via = proc_path(node.as_fd(), None);
    rfs::chmod(&via, Mode::from_raw_mode(meta.mode & MODE_BITS))
        .map_err(EntryError::io("chmod"))?;
    set_xattrs_path(&via, meta, true)?;
    rfs::utimensat(
        dir,
        name,
        &timestamps(meta.mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(EntryError::io("setting the mtime"))
}

fn create_file(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    data: &mut dyn Read,
    size: u64,
    meta: &Meta,
    buf: &mut [u8],
) -> Result<(), EntryError> {
    let fd = rfs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(NEW_NODE_MODE),
    )
    .map_err(EntryError::io("create"))?;
    let mut file = File::from(fd);
    let mut limited = data.take(size);
    let mut got = 0u64;
    loop {
        let n = match limited.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(EntryError::Read(e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        file.write_all(chunk).map_err(EntryError::std("write"))?;
        got += n as u64;
    }
    if got != size {
        return Err(EntryError::Truncated {
            expected: size,
            got,
        });
    }
    apply_fd(file.as_fd(), meta)
}

/// chown → chmod → xattrs → mtime through an open fd (regular files and directories).
pub(crate) fn apply_fd(fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), EntryError> {
    rfs::fchown(
        fd,
        Some(rfs::Uid::from_raw(meta.uid)),
        Some(rfs::Gid::from_raw(meta.gid)),
    )
    .map_err(EntryError::io("chown"))?;
    rfs::fchmod(fd, Mode::from_raw_mode(meta.mode & MODE_BITS)).map_err(EntryError::io("chmod"))?;
    for (k, v) in &meta.xattrs {
        rfs::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty()).map_err(|e| xattr_error(k, e))?;
    }
    rfs::futimens(fd, &timestamps(meta.mtime)).map_err(EntryError::io("setting the mtime"))
}

fn set_xattrs_path(path: &Path, meta: &Meta, follow: bool) -> Result<(), EntryError> {
    for (k, v) in &meta.xattrs {
        let r = if follow {
            rfs::setxattr(path, k.as_slice(), v, XattrFlags::empty())
        } else {
            rfs::lsetxattr(path, k.as_slice(), v, XattrFlags::empty())
        };
        r.map_err(|e| xattr_error(k, e))?;
    }
    Ok(())
}

fn xattr_error(name: &[u8], e: Errno) -> EntryError {
    EntryError::Xattr {
        name: String::from_utf8_lossy(name).into_owned(),
        source: e.into(),
    }
}
