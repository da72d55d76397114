//! `netroot inspect IMAGE --unpack DIR`: every entry of a verified image, segment by segment, is
//! written into DIR as the kernel's unpacker leaves it (a later entry of a name replaces the
//! earlier one; a directory entry over a directory only changes its metadata; hardlinked newc
//! names become hardlinks).
//!
//! A hostile archive is refused, naming the entry, before anything it names is written: an
//! absolute name, a `..` component or a NUL in the name (checked on the name as
//! [`super::path::normalize`] leaves it, with [`super::path::validate`]), and a name whose
//! directory goes through a symlink the archive made earlier ([`inroot`] with
//! [`Links::Refuse`], every step re-checked by `openat2(RESOLVE_NO_SYMLINKS)`). Character and
//! block devices are created when running as root and refused otherwise (an unprivileged
//! `mknod` fails; skipping them would unpack a tree that is not the image); fifos and sockets
//! need no privilege. Owners are set only as root (like `tar -x`).
//!
//! Everything is written into a staging directory beside DIR ([`atomic::staging_dir`]) that is
//! renamed into place at the end, so a refused or failed unpack leaves neither DIR nor the
//! staging directory.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use serde::Serialize;

use super::reader::{Entry, Image};
use crate::fsx::atomic;
use crate::fsx::inode::{Chown, InodeError, Meta, Node, Time, Writer, MODE_BITS};
use crate::fsx::inroot::{self, Links, Missing, ResolveError};
use crate::rootfs::cursor::{open_dir, FsLookup};

/// Prefix of the staging directory beside DIR.
const STAGING_PREFIX: &str = ".netroot-unpack-";
/// Mode of a directory the archive implies but does not list (as the image builder writes one).
const IMPLICIT_DIR_MODE: u32 = super::IMPLICIT_DIR_MODE;
/// Copy buffer for file contents.
const COPY_BUF: usize = 64 * 1024;

/// What an unpack wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnpackReport {
    pub dir: PathBuf,
    /// Archive entries, every segment's.
    pub entries: usize,
    pub files: usize,
    /// Of `files`, the names linked to an earlier one.
    pub hardlinks: usize,
    pub dirs: usize,
    pub symlinks: usize,
    /// Character and block devices, fifos and sockets.
    pub special: usize,
    /// Bytes of file content written (a hardlinked file once).
    pub bytes: u64,
}

impl std::fmt::Display for UnpackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "unpacked {} entries into {}: {} files ({} hardlinks, {} bytes), {} directories, {} symlinks, {} special files",
            self.entries,
            self.dir.display(),
            self.files,
            self.hardlinks,
            self.bytes,
            self.dirs,
            self.symlinks,
            self.special
        )
    }
}

/// Why an unpack was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("{0} exists and is not an empty directory: refusing to unpack into it")]
    NotEmpty(PathBuf),
    #[error("entry {entry:?}: {reason}: refusing to unpack")]
    Hostile { entry: String, reason: String },
    #[error("entry {entry:?}: {source}")]
    Resolve { entry: String, source: ResolveError },
    #[error("entry {entry:?} is a {kind}: only root can create one")]
    Device { entry: String, kind: &'static str },
    #[error("entry {entry:?}: {source}")]
    Inode { entry: String, source: InodeError },
    #[error("entry {entry:?}: content not read from the image")]
    NoContent { entry: String },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> UnpackError {
    let path = path.to_path_buf();
    move |source| UnpackError::Io { op, path, source }
}

/// Unpacks `image` (read keeping every file's content) into `dest`, which must not exist or be
/// an empty directory.
pub fn unpack(image: &Image, dest: &Path) -> Result<UnpackReport, UnpackError> {
    let existing = match std::fs::read_dir(dest) {
        Ok(mut rd) => match rd.next() {
            None => true,
            Some(_) => return Err(UnpackError::NotEmpty(dest.to_path_buf())),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(UnpackError::NotEmpty(dest.to_path_buf()))
        }
        Err(e) => return Err(io_err("read", dest)(e)),
    };
    let parent = atomic::parent_of(dest);
    let staging = atomic::staging_dir(parent, STAGING_PREFIX)
        .map_err(io_err("create a staging directory in", parent))?;
    let root = rfs::open(
        staging.path(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("open", staging.path())(e.into()))?;
    let mut report = Unpacker::new(&root).run(image)?;
    drop(root);
    let staged = staging.keep();
    let placed = if existing {
        atomic::swap_dir_into_place(&staged, dest)
    } else {
        atomic::rename_durable(&staged, dest)
    };
    if let Err(e) = placed {
        // Not left behind: the staging directory is ours alone.
        let _ = std::fs::remove_dir_all(&staged);
        return Err(io_err("move the unpacked tree to", dest)(e));
    }
    report.dir = dest.to_path_buf();
    Ok(report)
}

/// The walk over the entries, writing below the staging root.
struct Unpacker<'r> {
    root: &'r OwnedFd,
    writer: Writer<'static>,
    root_user: bool,
    /// Directories made implicitly by resolution (their metadata is the implicit one).
    implicit: std::collections::BTreeMap<Vec<OsString>, Meta>,
    /// Each directory entry's metadata, applied after the contents (a read-only directory would
    /// block them), deepest first.
    dirs: Vec<(Vec<OsString>, Meta)>,
    /// The canonical path of each name a regular file was created at, for hardlinks.
    files: HashMap<String, Vec<OsString>>,
    report: UnpackReport,
}

impl<'r> Unpacker<'r> {
    fn new(root: &'r OwnedFd) -> Self {
        let root_user = rustix::process::geteuid().is_root();
        Unpacker {
            root,
            writer: Writer::new(if root_user {
                Chown::Always
            } else {
                Chown::Never
            }),
            root_user,
            implicit: Default::default(),
            dirs: Vec::new(),
            files: HashMap::new(),
            report: UnpackReport::default(),
        }
    }

    fn run(mut self, image: &Image) -> Result<UnpackReport, UnpackError> {
        for e in image.entries() {
            self.report.entries += 1;
            self.entry(e)?;
        }
        // Directories the archive implied get the implicit metadata, listed ones their own
        // (applied later, so a listed one wins).
        self.report.dirs += self.implicit.len();
        let mut dirs: Vec<_> = std::mem::take(&mut self.implicit).into_iter().collect();
        dirs.append(&mut self.dirs);
        self.dirs = dirs;
        self.dirs.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (path, meta) in std::mem::take(&mut self.dirs) {
            let at = inroot::at_path(&path);
            self.writer
                .apply_at(self.root.as_fd(), at.as_os_str(), &meta)
                .map_err(|source| UnpackError::Inode {
                    entry: inroot::rel_path(&path).display().to_string(),
                    source,
                })?;
        }
        Ok(self.report)
    }

    /// Writes one entry.
    fn entry(&mut self, e: &Entry) -> Result<(), UnpackError> {
        let name = checked_name(e)?;
        let meta = Meta {
            uid: e.uid,
            gid: e.gid,
            mode: e.mode & MODE_BITS,
            mtime: Some(Time {
                sec: i64::from(e.mtime),
                nsec: 0,
            }),
            xattrs: Vec::new(),
        };
        let kind = FileType::from_raw_mode(e.mode);
        if name == "." {
            if kind == FileType::Directory {
                self.report.dirs += 1;
                self.dirs.push((Vec::new(), meta));
            }
            return Ok(());
        }
        let parts = inroot::split(name.as_bytes());
        let Some((leaf, dir)) = parts.split_last() else {
            return Err(UnpackError::Hostile {
                entry: e.path.clone(),
                reason: "empty name".into(),
            });
        };
        let resolve = |source| UnpackError::Resolve {
            entry: e.path.clone(),
            source,
        };
        let canon = {
            let mut lookup = FsLookup {
                root: self.root.as_fd(),
                dirs: &mut self.implicit,
                implicit: Meta {
                    mode: IMPLICIT_DIR_MODE,
                    ..Meta::default()
                },
                path: Vec::new(),
                fds: Vec::new(),
            };
            inroot::resolve_dir(&mut lookup, dir, Missing::Create, Links::Refuse)
                .map_err(resolve)?
        };
        let parent = open_dir(self.root.as_fd(), &canon, OFlags::PATH).map_err(|e| {
            resolve(ResolveError::Io {
                at: canon.clone(),
                source: e.into(),
            })
        })?;
        let full = inroot::with(&canon, leaf);
        let inode = |source| UnpackError::Inode {
            entry: e.path.clone(),
            source,
        };
        if !self.clear(&parent, leaf, kind, &e.path)? {
            // A directory over a directory: only its metadata changes.
            self.dirs.push((full, meta));
            return Ok(());
        }
        let dirfd = parent.as_fd();
        match kind {
            FileType::Directory => {
                self.writer.mkdir(dirfd, leaf).map_err(inode)?;
                self.report.dirs += 1;
                self.dirs.push((full, meta));
            }
            FileType::RegularFile => {
                self.report.files += 1;
                if let Some(first) = e.hardlink_to.as_deref().map(super::path::normalize) {
                    if let Some(target) = self.files.get(first) {
                        let from = inroot::at_path(target);
                        rfs::linkat(self.root.as_fd(), &from, dirfd, leaf, AtFlags::empty())
                            .map_err(|err| io_err("link", &from)(err.into()))?;
                        self.report.hardlinks += 1;
                        self.files.insert(name.to_string(), full);
                        return Ok(());
                    }
                }
                let data = e.data.as_deref().ok_or_else(|| UnpackError::NoContent {
                    entry: e.path.clone(),
                })?;
                let mut buf = vec![0u8; COPY_BUF];
                self.writer
                    .create_file(
                        dirfd,
                        leaf,
                        &mut &data[..],
                        data.len() as u64,
                        &meta,
                        &mut buf,
                    )
                    .map_err(inode)?;
                self.report.bytes += data.len() as u64;
                self.files.insert(name.to_string(), full);
            }
            FileType::Symlink => {
                let target = e.link_target.as_deref().unwrap_or_default();
                self.writer
                    .create(dirfd, leaf, Node::Symlink(target.as_bytes()), &meta)
                    .map_err(inode)?;
                self.report.symlinks += 1;
            }
            other => {
                let node = self.special(e, other)?;
                self.writer
                    .create(dirfd, leaf, node, &meta)
                    .map_err(inode)?;
                self.report.special += 1;
            }
        }
        Ok(())
    }

    /// A device, fifo or socket node; devices only as root.
    fn special(&self, e: &Entry, kind: FileType) -> Result<Node<'static>, UnpackError> {
        let dev = rfs::makedev(e.rdev_major, e.rdev_minor);
        let device = |kind| {
            if self.root_user {
                Ok(())
            } else {
                Err(UnpackError::Device {
                    entry: e.path.clone(),
                    kind,
                })
            }
        };
        Ok(match kind {
            FileType::CharacterDevice => device("character device").map(|()| Node::Char(dev))?,
            FileType::BlockDevice => device("block device").map(|()| Node::Block(dev))?,
            FileType::Fifo => Node::Fifo,
            FileType::Socket => Node::Socket,
            _ => {
                return Err(UnpackError::Hostile {
                    entry: e.path.clone(),
                    reason: format!("unknown file type (mode {:o})", e.mode),
                })
            }
        })
    }

    /// Makes `name` in `parent` free for an entry of type `kind`, as the kernel's `clean_path`
    /// does: whatever is there goes unless both are directories (then `false`: keep it).
    fn clear(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        kind: FileType,
        entry: &str,
    ) -> Result<bool, UnpackError> {
        let found = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode),
            Err(rustix::io::Errno::NOENT) => return Ok(true),
            Err(e) => return Err(io_err("stat", Path::new(entry))(e.into())),
        };
        if found == FileType::Directory && kind == FileType::Directory {
            return Ok(false);
        }
        let flags = if found == FileType::Directory {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rfs::unlinkat(parent, name, flags)
            .map_err(|e| io_err("replace", Path::new(entry))(e.into()))?;
        Ok(true)
    }
}

/// The entry's name as the kernel unpacks it, refused when absolute, climbing or holding a NUL.
fn checked_name(e: &Entry) -> Result<&str, UnpackError> {
    let hostile = |reason: &str| UnpackError::Hostile {
        entry: e.path.clone(),
        reason: reason.to_string(),
    };
    if e.path.contains('\0') {
        return Err(hostile("the name contains a NUL byte"));
    }
    if e.path.starts_with('/') {
        return Err(hostile("absolute path"));
    }
    let name = super::path::normalize(&e.path);
    if name == "." {
        return Ok(name);
    }
    super::path::validate(name).map_err(|err| match err {
        super::ImageError::InvalidPath { reason, .. } => hostile(reason),
        other => hostile(&other.to_string()),
    })?;
    Ok(name)
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
