//! Creating one entry of a new root tree anew (not linked from the previous generation): a copy
//! of the source file (checked unchanged since it was hashed), a new symlink or a new special
//! file, each with the manifest's owner, mode, xattrs and mtime.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{mknodat, openat, symlinkat, FileType, Mode, OFlags};

use super::manifest::{EntryKind, TreeEntry};
use super::meta::{apply_at, apply_fd};
use crate::fsx::memo::open_nofollow;
use crate::fsx::stamp::Stamp;
use crate::publish::error::{errno, io_err, PublishError};
use crate::publish::fsops::oplog::FsOp;
use crate::publish::fsops::Fs;
use crate::publish::relpath;

/// Where staging writes and how new inodes become durable.
pub(super) struct Target<'a> {
    pub(super) dest: &'a Path,
    /// Fsync every copied file (the directories are fsynced at the end).
    pub(super) fsync: bool,
    /// Set when an inode that cannot be fsynced (symlink, special file) was created.
    pub(super) unsyncable: &'a AtomicBool,
}

/// An open directory of the new tree and its path (for messages and the operation log).
pub(super) struct Dir<'a> {
    pub(super) fd: &'a OwnedFd,
    pub(super) path: &'a Path,
}

/// Creates `name` in `at` as a copy of the source file, a new symlink or a new special file.
pub(super) fn create(
    fs_: &Fs,
    e: &TreeEntry,
    (src, stamp): &(PathBuf, Stamp),
    at: &Dir,
    name: &OsStr,
    to: &Target,
) -> Result<(), PublishError> {
    let path = || at.path.join(name);
    if !matches!(e.kind, EntryKind::File { .. }) {
        to.unsyncable.store(true, Ordering::Relaxed);
    }
    match &e.kind {
        EntryKind::File { size, blake3, .. } => {
            let f = copy_file(fs_, src, stamp, at, name, e)?;
            fs_.record(|| FsOp::Write {
                path: path(),
                len: *size,
                blake3: blake3.clone(),
            });
            if to.fsync {
                fs_.step();
                fs_.fsync_file(&f, &path())?;
            }
            Ok(())
        }
        EntryKind::Symlink { target } => {
            let raw = relpath::decode(target).ok_or_else(|| PublishError::BadState {
                path: src.clone(),
                reason: format!("symlink target {target:?} is malformed"),
            })?;
            fs_.step();
            symlinkat(&raw, at.fd, name).map_err(|err| errno("create symlink", &path())(err))?;
            fs_.record(|| FsOp::Symlink {
                target: raw.into(),
                path: path(),
            });
            apply_at(fs_, at.fd, name, &path(), e)
        }
        EntryKind::Dir => Err(PublishError::BadState {
            path: src.clone(),
            reason: "internal: a directory among the files to stage".into(),
        }),
        kind => {
            let (ft, rdev) = special_type(kind);
            fs_.step();
            mknodat(at.fd, name, ft, Mode::from_bits_retain(0o600), rdev)
                .map_err(|err| errno("create device node", &path())(err))?;
            fs_.record(|| FsOp::Mknod { path: path() });
            apply_at(fs_, at.fd, name, &path(), e)
        }
    }
}

/// Copies a regular file's content (copy_file_range where possible), checks that the source did
/// not change since it was hashed, then applies the metadata; returns the new file.
fn copy_file(
    fs_: &Fs,
    src: &Path,
    stamp: &Stamp,
    at: &Dir,
    name: &OsStr,
    e: &TreeEntry,
) -> Result<File, PublishError> {
    let dest = at.path.join(name);
    let mut from = open_nofollow(src).map_err(io_err("open", src))?;
    fs_.step();
    let fd = openat(
        at.fd,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_retain(0o600),
    )
    .map_err(errno("create", &dest))?;
    let mut to = File::from(fd);
    fs_.record(|| FsOp::Create { path: dest.clone() });
    fs_.step();
    std::io::copy(&mut from, &mut to).map_err(io_err("copy to", &dest))?;
    let now = Stamp::of(&from.metadata().map_err(io_err("stat", src))?);
    if now != *stamp {
        return Err(PublishError::SourceChanged {
            path: src.to_path_buf(),
            detail: "size, mtime or ctime differ from the scan".into(),
        });
    }
    apply_fd(fs_, &to, &dest, e)?;
    Ok(to)
}

/// The file type and device number `mknodat` creates a special entry (device, fifo, socket) of.
pub(super) fn special_type(kind: &EntryKind) -> (FileType, u64) {
    match kind {
        EntryKind::Char { rdev } => (FileType::CharacterDevice, *rdev),
        EntryKind::Block { rdev } => (FileType::BlockDevice, *rdev),
        EntryKind::Fifo => (FileType::Fifo, 0),
        _ => (FileType::Socket, 0),
    }
}
