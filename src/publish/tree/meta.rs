//! A tree entry's metadata as the inode writer ([`crate::fsx::inode`]) applies it, and the
//! stager's and repair's calls into that writer with publish's `Fs` observing every step
//! (counted as a crash point before it, recorded for the power-loss model after it). The order
//! (create → chown → chmod → xattrs → times, never following a symlink) is the writer's; an owner
//! that is the publisher's own effective uid and gid is not chowned ([`Chown::UnlessEffective`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::CWD;

use super::manifest::{EntryKind, TreeEntry};
use crate::fsx::inode::{self, Chown, Meta, Node, Time, Writer};
use crate::publish::error::{inode_err, PublishError};
use crate::publish::fsops::{Fs, InodeSteps};

/// Reads every extended attribute of `path` (not following a symlink): name → value.
pub fn read_xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, PublishError> {
    inode::read_xattrs(path).map_err(inode_err(path))
}

/// `e`'s owner, mode, xattrs (decoded from the manifest's hex, in name order) and mtime.
fn meta_of(path: &Path, e: &TreeEntry) -> Result<Meta, PublishError> {
    let xattrs = e
        .xattrs
        .iter()
        .map(|(name, hexval)| {
            let value = hex::decode(hexval).map_err(|_| PublishError::BadState {
                path: path.to_path_buf(),
                reason: format!("xattr {name} has a non-hex value in the manifest"),
            })?;
            Ok((name.as_bytes().to_vec(), value))
        })
        .collect::<Result<_, PublishError>>()?;
    Ok(Meta {
        uid: e.uid,
        gid: e.gid,
        mode: e.mode,
        mtime: Some(Time {
            sec: e.mtime,
            nsec: e.mtime_nsec,
        }),
        xattrs,
    })
}

/// The node a device, fifo or socket entry is.
pub(super) fn special_node(kind: &EntryKind) -> Node<'static> {
    match kind {
        EntryKind::Char { rdev } => Node::Char(*rdev),
        EntryKind::Block { rdev } => Node::Block(*rdev),
        EntryKind::Fifo => Node::Fifo,
        _ => Node::Socket,
    }
}

/// The inode writer, its steps those of `fs` at `path`.
fn writer<'a>(steps: &'a InodeSteps<'a>) -> Writer<'a> {
    Writer::observed(Chown::UnlessEffective, steps)
}

/// Creates the directory `path` (mode 0700 until [`apply`] gives it its own).
pub fn mkdir(fs: &Fs, path: &Path) -> Result<(), PublishError> {
    let steps = fs.inode_steps(path);
    writer(&steps)
        .mkdir(CWD, path.as_os_str())
        .map_err(inode_err(path))
}

/// Creates the empty regular file `name` in `dir` (`path` names it, for messages and the log),
/// mode 0600 until [`apply_fd`].
pub fn new_file(
    fs: &Fs,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
) -> Result<File, PublishError> {
    let steps = fs.inode_steps(path);
    writer(&steps).new_file(dir, name).map_err(inode_err(path))
}

/// Creates `node` as `name` in `dir` (`path` names it) with the metadata of `e`.
pub fn create(
    fs: &Fs,
    (dir, name): (BorrowedFd<'_>, &OsStr),
    path: &Path,
    node: Node<'_>,
    e: &TreeEntry,
) -> Result<(), PublishError> {
    let meta = meta_of(path, e)?;
    let steps = fs.inode_steps(path);
    writer(&steps)
        .create(dir, name, node, &meta)
        .map_err(inode_err(path))
}

/// Applies owner, mode, xattrs and mtime of `e` to the open regular file `f` (created at `path`).
pub fn apply_fd(fs: &Fs, f: &File, path: &Path, e: &TreeEntry) -> Result<(), PublishError> {
    let meta = meta_of(path, e)?;
    let steps = fs.inode_steps(path);
    writer(&steps)
        .apply_fd(f.as_fd(), &meta)
        .map_err(inode_err(path))
}

/// Applies owner, mode, xattrs and mtime of `e` to the existing `path`, never following it.
pub fn apply(fs: &Fs, path: &Path, e: &TreeEntry) -> Result<(), PublishError> {
    let meta = meta_of(path, e)?;
    let steps = fs.inode_steps(path);
    writer(&steps)
        .apply_at(CWD, path.as_os_str(), &meta)
        .map_err(inode_err(path))
}

/// Repair's [`apply`]: the existing `path` may have been given another owner since it was
/// published, so it is chowned even when the manifest's owner is the publisher's own.
pub fn reapply(fs: &Fs, path: &Path, e: &TreeEntry) -> Result<(), PublishError> {
    let meta = meta_of(path, e)?;
    let steps = fs.inode_steps(path);
    Writer::observed(Chown::Always, &steps)
        .apply_at(CWD, path.as_os_str(), &meta)
        .map_err(inode_err(path))
}
