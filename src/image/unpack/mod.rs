//! `netroot inspect IMAGE --unpack DIR`: every entry of a verified image, segment by segment, is
//! written into DIR as the kernel's unpacker leaves it (a later entry of a name replaces the
//! earlier one; a regular file over a regular file is rewritten in place, as the kernel opens it
//! `O_TRUNC`, so names hardlinked to it see the new content; a directory entry over a directory
//! only changes its metadata; hardlinked newc names become hardlinks). Unlike the kernel, which
//! skips an entry whose directory is missing, a directory the archive implies but does not list
//! is created with [`super::IMPLICIT_DIR_MODE`].
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
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

mod types;

use types::{checked_name, io_err};
pub use types::{UnpackError, UnpackReport};

use super::reader::{Entry, Image};
use crate::fsx::atomic;
use crate::fsx::inode::{Chown, Meta, Node, Time, Writer, MODE_BITS};
use crate::fsx::inroot::{self, Links, Missing, ResolveError};
use crate::rootfs::cursor::{open_dir, FsLookup};

/// Prefix of the staging directory beside DIR.
const STAGING_PREFIX: &str = ".netroot-unpack-";
/// Mode of a directory the archive implies but does not list (as the image builder writes one).
const IMPLICIT_DIR_MODE: u32 = super::IMPLICIT_DIR_MODE;
/// Copy buffer for file contents.
const COPY_BUF: usize = 64 * 1024;

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

/// What is at an entry's name before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Nothing (any earlier node there was removed).
    Free,
    /// A directory, and the entry is one: only its metadata changes.
    Dir,
    /// A regular file, and the entry is one that is not a link: it is truncated and rewritten in
    /// place, as the kernel opens it `O_TRUNC` (names hardlinked to it see the new content).
    File,
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
        let link = e.hardlink_to.as_deref().map(super::path::normalize);
        let slot = self.clear(&parent, leaf, kind, link.is_some(), &e.path)?;
        if slot == Slot::Dir {
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
                if let Some(first) = link {
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
                if slot == Slot::File {
                    return self.rewrite(&parent, leaf, &meta, e, full, name);
                }
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

    /// Makes `name` in `parent` ready for an entry of type `kind` (`link`: a hardlink), as the
    /// kernel's `clean_path` does: a node of another type goes, a directory under a directory
    /// and a regular file under a file that is not a link stay ([`Slot`]).
    fn clear(
        &self,
        parent: &OwnedFd,
        name: &OsStr,
        kind: FileType,
        link: bool,
        entry: &str,
    ) -> Result<Slot, UnpackError> {
        let found = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode),
            Err(rustix::io::Errno::NOENT) => return Ok(Slot::Free),
            Err(e) => return Err(io_err("stat", Path::new(entry))(e.into())),
        };
        match (found, kind) {
            (FileType::Directory, FileType::Directory) => return Ok(Slot::Dir),
            (FileType::RegularFile, FileType::RegularFile) if !link => return Ok(Slot::File),
            _ => {}
        }
        let flags = if found == FileType::Directory {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rfs::unlinkat(parent, name, flags)
            .map_err(|e| io_err("replace", Path::new(entry))(e.into()))?;
        Ok(Slot::Free)
    }

    /// Truncates the regular file `leaf` in `parent` and writes the entry's content and `meta`
    /// into that inode, never through a link.
    fn rewrite(
        &mut self,
        parent: &OwnedFd,
        leaf: &OsStr,
        meta: &Meta,
        e: &Entry,
        full: Vec<OsString>,
        name: &str,
    ) -> Result<(), UnpackError> {
        let data = e.data.as_deref().ok_or_else(|| UnpackError::NoContent {
            entry: e.path.clone(),
        })?;
        let flags = OFlags::WRONLY | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let path = Path::new(&e.path);
        let fd = rfs::openat(parent, leaf, flags, Mode::empty())
            .map_err(|err| io_err("open", path)(err.into()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(data).map_err(io_err("write", path))?;
        self.writer
            .apply_fd(file.as_fd(), meta)
            .map_err(|source| UnpackError::Inode {
                entry: e.path.clone(),
                source,
            })?;
        self.report.bytes += data.len() as u64;
        self.files.insert(name.to_string(), full);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
