//! Creating one entry of a new root tree anew (not linked from the previous generation): a copy
//! of the source file (checked unchanged since it was hashed), a new symlink or a new special
//! file, each with the manifest's owner, mode, xattrs and mtime.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::manifest::{EntryKind, TreeEntry};
use super::meta::{self, apply_fd, special_node};
use crate::fsx::inode::Node;
use crate::fsx::memo::open_nofollow;
use crate::fsx::stamp::Stamp;
use crate::publish::error::{io_err, PublishError};
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
            let node = Node::Symlink(raw.as_bytes());
            meta::create(fs_, (at.fd.as_fd(), name), &path(), node, e)
        }
        EntryKind::Dir => Err(PublishError::BadState {
            path: src.clone(),
            reason: "internal: a directory among the files to stage".into(),
        }),
        kind => meta::create(fs_, (at.fd.as_fd(), name), &path(), special_node(kind), e),
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
    let mut to = meta::new_file(fs_, at.fd.as_fd(), name, &dest)?;
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
