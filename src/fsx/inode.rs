//! The one writer of inode metadata: creating a node of each kind and giving it, or a node that
//! already exists, its owner, mode, xattrs and mtime, never following a symlink. Root-tree
//! extraction and directory copy (src/rootfs), the overlay writer (src/overlay/apply.rs) and
//! publish's stager and repair (src/publish/tree) all write through a [`Writer`].
//!
//! Order: create → chown → chmod → xattrs → mtime. chown clears setuid/setgid and
//! `security.capability`, so it comes first; the mtime comes last, after the content.
//!
//! A regular file or directory that is open is changed through its fd ([`Writer::apply_fd`]). A
//! node named by a directory fd and a name ([`Writer::apply_at`]) is opened `O_PATH|O_NOFOLLOW`,
//! looked at, and chowned through that fd. A symlink then gets lsetxattr and
//! `utimensat(AT_SYMLINK_NOFOLLOW)` and no chmod (a link has no mode of its own); anything else
//! gets chmod, setxattr and utimensat through `/proc/self/fd/N`, the node itself, because an
//! `O_PATH` fd cannot be fchmod'ed and opening a device or a fifo for real could have side
//! effects or block (glibc's `fchmodat(AT_SYMLINK_NOFOLLOW)` does the same).
//!
//! Each mutating step is shown to the writer's [`Observer`] before it is made and, once it
//! succeeded, what it changed: publish counts steps there (its crash tests stop the process at a
//! chosen one) and records the changes for its power-loss model. Whether the owner is set is an
//! option of the writer ([`Chown`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Dev, FileType, Gid, Mode, OFlags, Uid, XattrFlags, CWD};
use rustix::io::Errno;

/// Permission bits including setuid, setgid and sticky: what [`Meta::mode`] is masked with.
pub const MODE_BITS: u32 = 0o7777;
/// Mode of a new regular file or special node between its creation and the chmod.
pub const NEW_NODE_MODE: u32 = 0o600;
/// Mode of a directory while it is being filled (its own mode is applied after its contents,
/// so that a read-only mode does not block them).
pub const BUSY_DIR_MODE: u32 = 0o700;
/// Where the kernel exposes an fd as a path.
const PROC_SELF_FD: &str = "/proc/self/fd";

/// A point in time with nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

impl Time {
    /// atime = mtime = `self` (atime is not kept: copies stay reproducible).
    fn timestamps(self) -> rfs::Timestamps {
        let t = rfs::Timespec {
            tv_sec: self.sec,
            tv_nsec: self.nsec.into(),
        };
        rfs::Timestamps {
            last_access: t,
            last_modification: t,
        }
    }
}

/// Owner, mode, xattrs and mtime of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (masked with [`MODE_BITS`]; ignored for symlinks).
    pub mode: u32,
    /// The mtime (and atime); `None` leaves the times as they are.
    pub mtime: Option<Time>,
    /// Extended attributes (name, value), set in this order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A node to create other than a regular file ([`Writer::create_file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node<'a> {
    Dir,
    /// A symlink with this raw target (kept as is, absolute or not).
    Symlink(&'a [u8]),
    Char(Dev),
    Block(Dev),
    Fifo,
    Socket,
}

impl Node<'_> {
    pub fn file_type(&self) -> FileType {
        match self {
            Node::Dir => FileType::Directory,
            Node::Symlink(_) => FileType::Symlink,
            Node::Char(_) => FileType::CharacterDevice,
            Node::Block(_) => FileType::BlockDevice,
            Node::Fifo => FileType::Fifo,
            Node::Socket => FileType::Socket,
        }
    }
}

/// Whether a [`Writer`] sets the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chown {
    Always,
    /// Never (an unprivileged writer's nodes belong to it, as with `tar -x`).
    Never,
    /// Unless uid and gid both are the process's effective ones, which a node it creates gets
    /// anyway (publish: a tree of the publisher's own files costs no chown).
    UnlessEffective,
}

/// One step of a [`Writer`]; an [`InodeError`] names the one that failed. The observer sees the
/// mutating ones ([`Change::op`]); the others only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Creating a regular file.
    Create,
    Mkdir,
    Symlink,
    /// Creating a device node, fifo or socket.
    Mknod,
    /// Writing a new file's content.
    Write,
    /// Opening a node `O_PATH` to change it.
    Open,
    Stat,
    Chown,
    Chmod,
    SetXattr,
    SetTimes,
    ListXattrs,
    GetXattr,
}

impl Op {
    /// What the step does, for messages (`"chown"`, `"setting the mtime"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Mkdir => "mkdir",
            Op::Symlink => "symlink",
            Op::Mknod => "mknod",
            Op::Write => "write",
            Op::Open => "opening the node",
            Op::Stat => "stat",
            Op::Chown => "chown",
            Op::Chmod => "chmod",
            Op::SetXattr => "setxattr",
            Op::SetTimes => "setting the mtime",
            Op::ListXattrs => "listing xattrs",
            Op::GetXattr => "reading an xattr",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one successful mutating step changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// A new, empty regular file.
    NewFile,
    /// A new node (a new directory is empty and [`BUSY_DIR_MODE`]).
    Created(Node<'a>),
    Owner(u32, u32),
    /// The permission bits (masked).
    Mode(u32),
    /// The xattr of this name was set.
    Xattr(&'a [u8]),
    /// mtime and atime.
    Times(Time),
}

impl Change<'_> {
    /// The step that makes this change.
    pub fn op(&self) -> Op {
        match self {
            Change::NewFile => Op::Create,
            Change::Created(Node::Dir) => Op::Mkdir,
            Change::Created(Node::Symlink(_)) => Op::Symlink,
            Change::Created(_) => Op::Mknod,
            Change::Owner(..) => Op::Chown,
            Change::Mode(_) => Op::Chmod,
            Change::Xattr(_) => Op::SetXattr,
            Change::Times(_) => Op::SetTimes,
        }
    }
}

/// Sees every mutating step of a [`Writer`]: `before` it is made, `after` it succeeded (not after
/// a failure). The content a new file is given is not a step of its own.
pub trait Observer {
    fn before(&self, op: Op);
    fn after(&self, change: &Change<'_>);
}

/// The observer of a writer that nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn before(&self, _: Op) {}
    fn after(&self, _: &Change<'_>) {}
}

/// Why a node could not be created, changed or read. Callers add the path.
#[derive(Debug, thiserror::Error)]
pub enum InodeError {
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Sys {
        op: Op,
        #[source]
        source: io::Error,
    },
    /// An extended attribute could not be set.
    #[error("setting xattr {name:?} failed: {source}")]
    Xattr {
        name: String,
        #[source]
        source: io::Error,
    },
    /// An xattr name that is not UTF-8 ([`read_xattrs`]).
    #[error("xattr name {name:?} is not UTF-8")]
    XattrName { name: String },
    /// Reading the content of a new file failed.
    #[error("reading the data failed: {0}")]
    Read(#[source] io::Error),
    /// The content of a new file ended early.
    #[error("expected {expected} data bytes, got {got}")]
    Truncated { expected: u64, got: u64 },
    /// The symlink target is empty or has a NUL byte.
    #[error("invalid symlink target {target:?}: {reason}")]
    SymlinkTarget {
        target: String,
        reason: &'static str,
    },
    /// `u32::MAX` is chown's "leave it", not an id.
    #[error("owner {uid}:{gid} is not a valid id")]
    Owner { uid: u32, gid: u32 },
    /// What is at the name is not the node just created there (replaced under us).
    #[error("the new {expected} was replaced by a {found}")]
    Replaced {
        expected: &'static str,
        found: &'static str,
    },
}

impl InodeError {
    fn sys(op: Op) -> impl FnOnce(Errno) -> InodeError {
        move |e| InodeError::Sys {
            op,
            source: e.into(),
        }
    }

    /// The errno of a failed system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            InodeError::Sys { source, .. } | InodeError::Xattr { source, .. } => {
                source.raw_os_error().map(Errno::from_raw_os_error)
            }
            _ => None,
        }
    }
}

impl From<InodeError> for io::Error {
    fn from(e: InodeError) -> io::Error {
        match e {
            InodeError::Sys { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}

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
    fn apply(
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

/// Every extended attribute of `path` (not following a symlink): name → value. A filesystem
/// without xattr support has none.
pub fn read_xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, InodeError> {
    let mut out = BTreeMap::new();
    let len = match rfs::llistxattr_query(path) {
        Ok(n) => n,
        Err(Errno::OPNOTSUPP) => return Ok(out),
        Err(e) => return Err(InodeError::sys(Op::ListXattrs)(e)),
    };
    if len == 0 {
        return Ok(out);
    }
    let mut names = vec![0u8; len];
    let n = rfs::llistxattr(path, &mut names[..]).map_err(InodeError::sys(Op::ListXattrs))?;
    for name in names.get(..n).unwrap_or_default().split(|&b| b == 0) {
        if name.is_empty() {
            continue;
        }
        let name_str = std::str::from_utf8(name).map_err(|_| InodeError::XattrName {
            name: String::from_utf8_lossy(name).into_owned(),
        })?;
        let vlen = rfs::lgetxattr_query(path, name_str).map_err(InodeError::sys(Op::GetXattr))?;
        let mut value = vec![0u8; vlen];
        let k = if vlen == 0 {
            0
        } else {
            rfs::lgetxattr(path, name_str, &mut value[..]).map_err(InodeError::sys(Op::GetXattr))?
        };
        value.truncate(k);
        out.insert(name_str.to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const T1: Time = Time {
        sec: 1_234_567_890,
        nsec: 123_456_789,
    };
    const T0: Time = Time {
        sec: 1_000,
        nsec: 7,
    };

    /// Every before/after the writer showed, in order.
    #[derive(Default)]
    struct Log(RefCell<Vec<String>>);

    impl Observer for Log {
        fn before(&self, op: Op) {
            self.0.borrow_mut().push(format!("before {op}"));
        }
        fn after(&self, change: &Change<'_>) {
            self.0.borrow_mut().push(format!("{change:?}"));
        }
    }

    impl Log {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.borrow_mut())
        }
    }

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    fn own(mode: u32) -> Meta {
        Meta {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            mode,
            mtime: Some(T1),
            xattrs: Vec::new(),
        }
    }

    fn xattr(name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
        (name.as_bytes().to_vec(), value.as_bytes().to_vec())
    }

    /// A scratch directory and an open fd of it.
    fn scratch() -> (tempfile::TempDir, File) {
        let d = tempfile::tempdir().unwrap();
        let fd = File::open(d.path()).unwrap();
        (d, fd)
    }

    fn lstat(p: &Path) -> fs::Metadata {
        fs::symlink_metadata(p).unwrap()
    }

    fn mtime(md: &fs::Metadata) -> Time {
        Time {
            sec: md.mtime(),
            nsec: u32::try_from(md.mtime_nsec()).unwrap(),
        }
    }

    fn set_mtime(p: &Path, t: Time) {
        rfs::utimensat(CWD, p, &t.timestamps(), AtFlags::SYMLINK_NOFOLLOW).unwrap();
    }

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn a_file_gets_exactly_its_bytes_its_xattrs_and_its_mtime() {
        let (d, dir) = scratch();
        let w = Writer::new(Chown::Always);
        let mut meta = own(0o640);
        meta.xattrs = vec![xattr("user.b", "2"), xattr("user.a", "")];
        let mut data: &[u8] = b"hello world";
        let mut buf = [0u8; 3];
        w.create_file(dir.as_fd(), name("f"), &mut data, 5, &meta, &mut buf)
            .unwrap();
        let p = d.path().join("f");
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        let md = lstat(&p);
        assert_eq!(md.mode() & MODE_BITS, 0o640);
        assert_eq!(mtime(&md), T1);
        let got = read_xattrs(&p).unwrap();
        assert_eq!(got.get("user.a").map(Vec::as_slice), Some(&b""[..]));
        assert_eq!(got.get("user.b").map(Vec::as_slice), Some(&b"2"[..]));

        let mut short: &[u8] = b"12345";
        let err = w
            .create_file(dir.as_fd(), name("g"), &mut short, 10, &meta, &mut buf)
            .unwrap_err();
        assert!(
            matches!(
                err,
                InodeError::Truncated {
                    expected: 10,
                    got: 5
                }
            ),
            "{err}"
        );
        // A name that is taken is never written through.
        let mut more: &[u8] = b"x";
        let err = w
            .create_file(dir.as_fd(), name("f"), &mut more, 1, &meta, &mut buf)
            .unwrap_err();
        assert_eq!(err.errno(), Some(Errno::EXIST), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"hello");
    }

    #[test]
    fn chown_comes_first_so_setuid_and_capabilities_survive_it() {
        let (d, dir) = scratch();
        let log = Log::default();
        let w = Writer::observed(Chown::Always, &log);
        let mut meta = own(0o4755);
        if is_root() {
            (meta.uid, meta.gid) = (1000, 1000);
            // VFS_CAP_REVISION_2 | effective, cap_net_raw permitted.
            let mut cap = 0x0200_0001u32.to_le_bytes().to_vec();
            cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
            cap.extend_from_slice(&[0; 12]);
            meta.xattrs.push((b"security.capability".to_vec(), cap));
        }
        meta.xattrs.push(xattr("user.z", "1"));
        let mut data: &[u8] = b"#!/bin/sh\n";
        w.create_file(dir.as_fd(), name("su"), &mut data, 10, &meta, &mut [0; 64])
            .unwrap();
        let p = d.path().join("su");
        let md = lstat(&p);
        assert_eq!(md.mode() & MODE_BITS, 0o4755);
        assert_eq!((md.uid(), md.gid()), (meta.uid, meta.gid));
        let got = read_xattrs(&p).unwrap();
        for (k, v) in &meta.xattrs {
            assert_eq!(got.get(std::str::from_utf8(k).unwrap()), Some(v));
        }
        let mut want = vec![
            "before create".to_string(),
            "NewFile".into(),
            "before chown".into(),
            format!("Owner({}, {})", meta.uid, meta.gid),
            "before chmod".into(),
            format!("Mode({})", 0o4755),
        ];
        for (k, _) in &meta.xattrs {
            want.push("before setxattr".into());
            want.push(format!("{:?}", Change::Xattr(k)));
        }
        want.push("before setting the mtime".into());
        want.push(format!("{:?}", Change::Times(T1)));
        assert_eq!(log.take(), want);

        // The same order on an existing node named by its directory.
        w.apply_at(dir.as_fd(), name("su"), &meta).unwrap();
        assert_eq!(log.take(), want.get(2..).unwrap());
        assert_eq!(lstat(&p).mode() & MODE_BITS, 0o4755);
    }

    #[test]
    fn a_symlink_is_never_followed() {
        let (d, dir) = scratch();
        let f = d.path().join("f");
        fs::write(&f, b"x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        set_mtime(&f, T0);
        let l = d.path().join("l");
        std::os::unix::fs::symlink("f", &l).unwrap();
        let log = Log::default();
        let w = Writer::observed(Chown::Always, &log);
        let mut meta = own(0o777);
        if is_root() {
            (meta.uid, meta.gid) = (4242, 4343);
        }
        let owner = (lstat(&f).uid(), lstat(&f).gid());
        w.apply_at(dir.as_fd(), name("l"), &meta).unwrap();
        let ops = log.take();
        assert!(!ops.iter().any(|o| o.starts_with("Mode")), "{ops:?}");
        // The file is untouched, the link has its owner and mtime.
        let fmd = lstat(&f);
        assert_eq!(fmd.mode() & MODE_BITS, 0o600);
        assert_eq!(mtime(&fmd), T0);
        assert_eq!((fmd.uid(), fmd.gid()), owner);
        let lmd = lstat(&l);
        assert!(lmd.file_type().is_symlink());
        assert_eq!(mtime(&lmd), T1);
        assert_eq!((lmd.uid(), lmd.gid()), (meta.uid, meta.gid));

        // The same through a whole path from the working directory.
        meta.mtime = Some(Time { sec: 5, nsec: 6 });
        w.apply_at(CWD, l.as_os_str(), &meta).unwrap();
        assert_eq!(mtime(&lstat(&l)), Time { sec: 5, nsec: 6 });
        assert_eq!(mtime(&lstat(&f)), T0);
        assert_eq!(lstat(&f).mode() & MODE_BITS, 0o600);
    }

    #[test]
    fn each_kind_of_node_is_created_with_its_meta() {
        let (d, dir) = scratch();
        let w = Writer::new(Chown::Always);
        let mut dmeta = own(0o2750);
        dmeta.xattrs.push(xattr("user.d", "dir"));
        w.create(dir.as_fd(), name("d"), Node::Dir, &dmeta).unwrap();
        w.create(dir.as_fd(), name("l"), Node::Symlink(b"/no/such"), &own(0))
            .unwrap();
        w.create(dir.as_fd(), name("p"), Node::Fifo, &own(0o640))
            .unwrap();
        w.create(dir.as_fd(), name("s"), Node::Socket, &own(0o604))
            .unwrap();
        let mut want = vec![
            ("d", FileType::Directory, 0o2750),
            ("p", FileType::Fifo, 0o640),
            ("s", FileType::Socket, 0o604),
        ];
        if is_root() {
            w.create(
                dir.as_fd(),
                name("c"),
                Node::Char(rfs::makedev(1, 3)),
                &own(0o666),
            )
            .unwrap();
            w.create(
                dir.as_fd(),
                name("b"),
                Node::Block(rfs::makedev(7, 0)),
                &own(0o660),
            )
            .unwrap();
            want.push(("c", FileType::CharacterDevice, 0o666));
            want.push(("b", FileType::BlockDevice, 0o660));
            assert_eq!(lstat(&d.path().join("c")).rdev(), rfs::makedev(1, 3));
            assert_eq!(lstat(&d.path().join("b")).rdev(), rfs::makedev(7, 0));
        }
        for (n, t, mode) in want {
            let md = lstat(&d.path().join(n));
            assert_eq!(FileType::from_raw_mode(md.mode()), t, "{n}");
            assert_eq!(md.mode() & MODE_BITS, mode, "{n}");
            assert_eq!(mtime(&md), T1, "{n}");
        }
        let got = read_xattrs(&d.path().join("d")).unwrap();
        assert_eq!(got.get("user.d").map(Vec::as_slice), Some(&b"dir"[..]));
        let l = d.path().join("l");
        assert_eq!(fs::read_link(&l).unwrap(), Path::new("/no/such"));
        assert_eq!(mtime(&lstat(&l)), T1);

        for (target, reason) in [(&b""[..], "empty"), (&b"a\0b"[..], "contains a nul byte")] {
            let err = w
                .create(dir.as_fd(), name("bad"), Node::Symlink(target), &own(0))
                .unwrap_err();
            assert!(
                matches!(&err, InodeError::SymlinkTarget { reason: r, .. } if *r == reason),
                "{err}"
            );
        }
        assert!(fs::symlink_metadata(d.path().join("bad")).is_err());
    }

    #[test]
    fn an_existing_special_node_is_changed_without_opening_it() {
        let (d, dir) = scratch();
        let p = d.path().join("p");
        rfs::mknodat(CWD, &p, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        // Opening a fifo for real would block here: no reader.
        Writer::new(Chown::Always)
            .apply_at(dir.as_fd(), name("p"), &own(0o604))
            .unwrap();
        let md = lstat(&p);
        assert_eq!(md.mode() & MODE_BITS, 0o604);
        assert_eq!(mtime(&md), T1);
        // A node of another type than the one just created is refused, untouched.
        let err = Writer::new(Chown::Always)
            .apply(
                dir.as_fd(),
                name("p"),
                &own(0o600),
                Some(FileType::Directory),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "the new directory was replaced by a fifo");
        assert_eq!(lstat(&p).mode() & MODE_BITS, 0o604);
    }

    #[test]
    fn the_chown_rule_and_a_missing_mtime_skip_their_steps() {
        let (d, dir) = scratch();
        let p = d.path().join("f");
        fs::write(&p, b"").unwrap();
        set_mtime(&p, T0);
        let f = File::open(&p).unwrap();
        let log = Log::default();
        let mut meta = own(0o644);
        meta.mtime = None;
        Writer::observed(Chown::UnlessEffective, &log)
            .apply_fd(f.as_fd(), &meta)
            .unwrap();
        assert_eq!(log.take(), ["before chmod", "Mode(420)"]);
        assert_eq!(mtime(&lstat(&p)), T0);
        Writer::observed(Chown::Always, &log)
            .apply_fd(f.as_fd(), &meta)
            .unwrap();
        assert_eq!(log.take().len(), 4);
        let other = Meta {
            uid: 4242,
            ..meta.clone()
        };
        Writer::observed(Chown::Never, &log)
            .apply_fd(f.as_fd(), &other)
            .unwrap();
        assert_eq!(log.take(), ["before chmod", "Mode(420)"]);
        assert_ne!(lstat(&p).uid(), 4242);
        // chown's "leave it" is refused before any step.
        let bad = Meta {
            uid: u32::MAX,
            ..meta
        };
        let w = Writer::observed(Chown::Always, &log);
        let err = w.apply_fd(f.as_fd(), &bad).unwrap_err();
        assert!(matches!(err, InodeError::Owner { .. }), "{err}");
        let err = w
            .create(dir.as_fd(), name("d"), Node::Dir, &bad)
            .unwrap_err();
        assert!(matches!(err, InodeError::Owner { .. }), "{err}");
        assert!(log.take().is_empty());
        assert!(fs::symlink_metadata(d.path().join("d")).is_err());
    }
}
