//! The one tree walker: a sorted, link-safe walk of a directory tree, for everything that reads a
//! whole tree (the root-tree copy and scan, publish's source scan, overlays, the build's
//! directory inputs).
//!
//! Directories are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` relative to the
//! walk root, so a symlink swapped in during the walk cannot lead it elsewhere; nothing below the
//! root is followed, and a node is read through its directory's fd ([`Item::open`],
//! [`Item::read_link`], [`Item::xattrs`]). A directory is listed, its entries are stat'ed (by
//! several threads in a big directory) and visited in byte order of their names (reproducible),
//! then the walk goes on with its first subdirectory: every directory is visited before its
//! children, and [`depth_first`] turns the visit order into path order. A directory on another
//! filesystem (a mount point) is entered, visited but not entered, or an error: [`OtherFs`].

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

/// Where the kernel exposes an fd as a path; xattrs of a node are read through its parent's fd
/// (`/proc/self/fd/N/name`) so the node itself is never opened or followed.
const PROC_SELF_FD: &str = "/proc/self/fd";
/// Directories with at least this many entries are stat'ed by several threads: one directory
/// often holds most of a tree (`usr/share/man/man1`), and lookups in one directory run in
/// parallel in the kernel.
const PARALLEL_STAT_MIN: usize = 1024;
/// Most threads stat'ing one directory (the machine's parallelism permitting).
const STAT_THREADS_MAX: usize = 4;

/// What the walk does at an entry on another filesystem than the root's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherFs {
    /// Directories are entered like any other (`find` without `-xdev`).
    Enter,
    /// Directories are visited but not entered (`find -xdev`, `tar --one-file-system`): a chroot
    /// with `/proc` mounted does not drag `/proc` along.
    Skip,
    /// Any entry on another filesystem is an error ([`Failure::OtherFs`]), before it is visited.
    Refuse,
}

/// How to walk.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub other_fs: OtherFs,
    /// Whether the root itself may be a symlink to a directory (followed). Below the root
    /// nothing is followed either way.
    pub follow_root: bool,
}

/// One visited node.
#[derive(Debug)]
pub struct Item<'a> {
    /// The walk root as given.
    pub root: &'a Path,
    /// Components relative to the walk root (empty for the root itself).
    pub path: &'a [OsString],
    /// Position in visit order (the root is 0).
    pub index: usize,
    /// [`Item::index`] of the directory holding the node (the root's is 0).
    pub parent: usize,
    /// The directory holding the node (for the root: the root itself).
    dir: BorrowedFd<'a>,
    /// The node's stat (not following links).
    pub st: Stat,
    /// A directory on another filesystem than the root's ([`OtherFs::Skip`]: not entered).
    pub other_fs: bool,
}

impl Item<'_> {
    /// The node's type.
    pub fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.st.st_mode)
    }

    /// The node's name (`None` for the root).
    pub fn name(&self) -> Option<&OsStr> {
        self.path.last().map(OsString::as_os_str)
    }

    /// The node's path as the host sees it: the root joined with [`Item::path`].
    pub fn host_path(&self) -> PathBuf {
        host_path(self.root, self.path)
    }

    /// Opens the node itself (never following a link).
    pub fn open(&self, flags: OFlags) -> io::Result<OwnedFd> {
        let name = self.name().unwrap_or(OsStr::new("."));
        Ok(rfs::openat(
            self.dir,
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// The symlink's target.
    pub fn read_link(&self) -> io::Result<Vec<u8>> {
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
    pub fn xattr(&self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
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
    pub fn xattrs(&self) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
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

/// What went wrong at a path of the walk.
#[derive(Debug)]
pub enum Failure {
    /// `op` (`open directory`, `list`, `stat`) failed.
    Io { op: &'static str, source: io::Error },
    /// The entry is on another filesystem and the walk was told to refuse that.
    OtherFs,
    /// An interrupt was asked for ([`crate::interrupt`]): the walk stopped before this
    /// directory.
    Interrupted(crate::interrupt::Interrupted),
}

/// A walk failure at `path` (components) under `root`.
#[derive(Debug)]
pub struct WalkError {
    pub root: PathBuf,
    pub path: Vec<OsString>,
    pub failure: Failure,
}

impl WalkError {
    /// The failing path as the host sees it.
    pub fn host_path(&self) -> PathBuf {
        host_path(&self.root, &self.path)
    }

    /// The failure as an I/O error (another filesystem: `CrossesDevices`).
    pub fn into_io(self) -> io::Error {
        match self.failure {
            Failure::Io { source, .. } => source,
            Failure::OtherFs => io::Error::new(
                io::ErrorKind::CrossesDevices,
                "another filesystem is mounted here",
            ),
            Failure::Interrupted(i) => i.into(),
        }
    }
}

/// For callers whose errors are I/O errors: the failure, prefixed with the path.
impl From<WalkError> for io::Error {
    fn from(e: WalkError) -> io::Error {
        let path = e.host_path();
        let source = e.into_io();
        io::Error::new(source.kind(), format!("{}: {source}", path.display()))
    }
}

/// Why a walk stopped: the walk itself failed, or the visitor did.
#[derive(Debug)]
pub enum Stop<E> {
    Walk(WalkError),
    Visit(E),
}

impl<E> Stop<E> {
    /// The visitor's error, or the walk's mapped into the visitor's type by `walk_err`.
    pub fn into_err(self, walk_err: impl FnOnce(WalkError) -> E) -> E {
        match self {
            Stop::Walk(e) => walk_err(e),
            Stop::Visit(e) => e,
        }
    }
}

/// Visits every node under `root` (the root first); `visit` may fail with its own error type.
pub fn walk<E>(
    root: &Path,
    opts: Options,
    visit: &mut dyn FnMut(&Item<'_>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let fail = |path: &[OsString], failure: Failure| {
        Stop::Walk(WalkError {
            root: root.to_path_buf(),
            path: path.to_vec(),
            failure,
        })
    };
    let io = |op: &'static str| {
        move |e: Errno| Failure::Io {
            op,
            source: e.into(),
        }
    };
    let nofollow = if opts.follow_root {
        OFlags::empty()
    } else {
        OFlags::NOFOLLOW
    };
    let root_fd = rfs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | nofollow,
        Mode::empty(),
    )
    .map_err(|e| fail(&[], io("open directory")(e)))?;
    let root_st = rfs::fstat(&root_fd).map_err(|e| fail(&[], io("stat")(e)))?;
    let top = Item {
        root,
        path: &[],
        index: 0,
        parent: 0,
        dir: root_fd.as_fd(),
        st: root_st,
        other_fs: false,
    };
    visit(&top).map_err(Stop::Visit)?;
    let mut next = 1;
    let mut stack: Vec<(Vec<OsString>, usize)> = vec![(Vec::new(), 0)];
    while let Some((mut path, parent)) = stack.pop() {
        crate::interrupt::check().map_err(|i| fail(&path, Failure::Interrupted(i)))?;
        let dir = open_beneath(root_fd.as_fd(), &path)
            .map_err(|e| fail(&path, io("open directory")(e)))?;
        let mut names = list(dir.as_fd()).map_err(|e| fail(&path, io("list")(e)))?;
        names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let stats = stat_all(&dir, &names);
        let mut subdirs = Vec::new();
        for (name, st) in names.into_iter().zip(stats) {
            // The entry's components: the directory's plus its name, popped again after the visit.
            path.push(name);
            let st = st.map_err(|e| fail(&path, io("stat")(e)))?;
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            let elsewhere = st.st_dev != root_st.st_dev;
            if elsewhere && opts.other_fs == OtherFs::Refuse {
                return Err(fail(&path, Failure::OtherFs));
            }
            let other_fs = is_dir && elsewhere;
            let index = next;
            next += 1;
            visit(&Item {
                root,
                path: &path,
                index,
                parent,
                dir: dir.as_fd(),
                st,
                other_fs,
            })
            .map_err(Stop::Visit)?;
            if is_dir && !(other_fs && opts.other_fs == OtherFs::Skip) {
                subdirs.push((path.clone(), index));
            }
            path.pop();
        }
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// The visit indices `0..parents.len()` in depth-first order: each directory followed by its
/// subtree, siblings by name (path order). `parents[i]` is [`Item::parent`] of the item visited
/// `i`-th (the root's, `parents[0]`, is ignored).
pub fn depth_first(parents: &[usize]) -> Vec<usize> {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); parents.len()];
    for (i, &p) in parents.iter().enumerate().skip(1) {
        if let Some(c) = children.get_mut(p) {
            c.push(i);
        }
    }
    let mut out = Vec::with_capacity(parents.len());
    let mut stack = if parents.is_empty() {
        Vec::new()
    } else {
        vec![0]
    };
    while let Some(i) = stack.pop() {
        out.push(i);
        if let Some(c) = children.get(i) {
            stack.extend(c.iter().rev());
        }
    }
    out
}

fn host_path(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

fn open_beneath(root: BorrowedFd<'_>, path: &[OsString]) -> rustix::io::Result<OwnedFd> {
    let rel: PathBuf = if path.is_empty() {
        PathBuf::from(".")
    } else {
        path.iter().collect()
    };
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

/// lstat of every `names` entry of the open directory `dir`, in order.
fn stat_all(dir: &OwnedFd, names: &[OsString]) -> Vec<rustix::io::Result<Stat>> {
    let one = |n: &OsString| rfs::statat(dir, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, STAT_THREADS_MAX);
    if names.len() < PARALLEL_STAT_MIN || threads == 1 {
        return names.iter().map(one).collect();
    }
    let per = names.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(per)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .zip(names.chunks(per))
            // A panicked thread (none expected: statat does not panic) is re-done here.
            .flat_map(|(h, c)| h.join().unwrap_or_else(|_| c.iter().map(one).collect()))
            .collect()
    })
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
