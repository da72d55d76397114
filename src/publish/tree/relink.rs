//! Re-checking a previous generation's inode before it is hardlinked into a new generation, so
//! damage never spreads. An inode is linked only if it still is what its manifest says: type,
//! size, mode, owner and mtime from one lstat ([`Previous::intact`]), and content, xattrs and
//! symlink target either vouched for by the memo of published inodes (its stat stamp is exactly
//! the one recorded when publish last linked or created it) or re-read now. A damaged inode is
//! not linked: staging creates the entry anew from the source and reports the damaged path.
//!
//! What the stamp catches: every change made through the filesystem (a write, truncate, chmod,
//! chown, setxattr or a rename over the name changes the ctime or the inode, and ctime cannot be
//! set from user space, so restoring the mtime after a write does not hide it). What it cannot
//! catch: damage below the filesystem (media errors, writes to the block device, a filesystem
//! bug) leaves the stamp as it was; `verify` re-reads everything and finds it.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{linkat, readlinkat, statat, AtFlags, Stat};

use super::linkplan::Previous;
use super::manifest::{EntryKind, TreeEntry};
use super::meta::read_xattrs;
use super::scan::{Known, Memo, TreeFacts};
use crate::fsx::memo::hash_file;
use crate::fsx::stamp::Stamp;
use crate::publish::error::{errno, hash_err, PublishError};
use crate::publish::fsops::oplog::FsOp;
use crate::publish::fsops::Fs;
use crate::publish::relpath;

/// Where the memo of published inodes lives: beside the hash memo `hash_memo` (a cache too).
pub fn published_memo_path(hash_memo: &Path) -> PathBuf {
    let mut name = hash_memo.file_name().unwrap_or_default().to_os_string();
    name.push(PUBLISHED_SUFFIX);
    hash_memo.with_file_name(name)
}

/// Suffix of the published-inode memo's file name ([`published_memo_path`]).
const PUBLISHED_SUFFIX: &str = ".published";

/// What [`link_previous`] did.
#[derive(Debug)]
pub enum Linked {
    /// Linked; what the new name's inode now is, for the memo of published inodes.
    Yes(Known),
    /// Not linked, for a reason that is no damage (the filesystem's link limit).
    No,
    /// Not linked: the previous generation's entry is damaged (why).
    Damaged(String),
}

/// The previous generation's directory holding the entry, and where the link goes.
#[derive(Debug)]
pub struct LinkAt<'a> {
    pub prev_fd: &'a OwnedFd,
    pub prev_path: &'a Path,
    pub new_fd: &'a OwnedFd,
    pub new_path: &'a Path,
}

/// Links the previous generation's `name` (manifest entry `e`) into the new directory if it is
/// intact; `seen` is the memo of published inodes. Counts re-read entries in `rehashed`.
pub fn link_previous(
    fs_: &Fs,
    e: &TreeEntry,
    at: &LinkAt,
    name: &OsStr,
    seen: &Memo,
    rehashed: &mut usize,
) -> Result<Linked, PublishError> {
    let old = match statat(at.prev_fd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(e) => return Ok(Linked::Damaged(format!("cannot be stat'ed ({e})"))),
    };
    if !Previous::intact(e, &old) {
        return Ok(Linked::Damaged(
            "type, size, mode, owner or mtime differ from its manifest".into(),
        ));
    }
    let vouched = seen
        .known(Path::new(""), &Stamp::of_stat(&old))
        .is_some_and(|k| *k == known(&old, e));
    if !vouched {
        *rehashed += 1;
        // A read error (a bad sector) is damage too: the entry is created from the source.
        match recheck(&at.prev_path.join(name), at.prev_fd, name, e) {
            Ok(None) => {}
            Ok(Some(why)) => return Ok(Linked::Damaged(why)),
            Err(err) => return Ok(Linked::Damaged(format!("cannot be re-read ({err})"))),
        }
    }
    let to = at.new_path.join(name);
    fs_.step();
    match linkat(at.prev_fd, name, at.new_fd, name, AtFlags::empty()) {
        Ok(()) => fs_.record(|| FsOp::Link {
            from: at.prev_path.join(name),
            to: to.clone(),
        }),
        // The inode reached the filesystem's link limit: create a new one instead.
        Err(rustix::io::Errno::MLINK) => return Ok(Linked::No),
        Err(err) => return Err(errno("hardlink", &to)(err)),
    }
    let now = statat(at.new_fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("stat", &to))?;
    if (now.st_dev, now.st_ino) != (old.st_dev, old.st_ino) {
        return Err(PublishError::SourceChanged {
            path: at.prev_path.join(name),
            detail: "replaced between checking and hardlinking".into(),
        });
    }
    Ok(Linked::Yes(known(&now, e)))
}

/// What the memo of published inodes records for an inode whose lstat is `st` and which holds
/// exactly entry `e`'s data.
pub fn known(st: &Stat, e: &TreeEntry) -> Known {
    let (blake3, target) = match &e.kind {
        EntryKind::File { blake3, .. } => (Some(blake3.clone()), None),
        EntryKind::Symlink { target } => (None, Some(target.clone())),
        _ => (None, None),
    };
    Known {
        stamp: Stamp::of_stat(st),
        blake3,
        more: TreeFacts {
            xattrs: Some(e.xattrs.clone()),
            target,
        },
    }
}

/// The memo record of the entry `name` just created in `dir` (at `path`) for `e`.
pub fn created(
    dir: &OwnedFd,
    name: &OsStr,
    path: &Path,
    e: &TreeEntry,
) -> Result<Known, PublishError> {
    let st = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("stat", path))?;
    Ok(known(&st, e))
}

/// Re-reads the content, symlink target and xattrs of `path` (`name` in `dir`); why it differs
/// from `e`, if it does.
fn recheck(
    path: &Path,
    dir: &OwnedFd,
    name: &OsStr,
    e: &TreeEntry,
) -> Result<Option<String>, PublishError> {
    match &e.kind {
        EntryKind::File { size, blake3, .. } => {
            let (got, n) = hash_file(path).map_err(hash_err(path))?;
            if got != *blake3 || n != *size {
                return Ok(Some(format!(
                    "content changed (blake3 {got}, {n} bytes; recorded {blake3}, {size} bytes)"
                )));
            }
        }
        EntryKind::Symlink { target } => {
            let raw = readlinkat(dir, name, Vec::new()).map_err(errno("read symlink", path))?;
            let got = relpath::encode(OsStr::from_bytes(raw.as_bytes()));
            if got != *target {
                return Ok(Some(format!(
                    "symlink target changed ({got:?}, recorded {target:?})"
                )));
            }
        }
        _ => {}
    }
    let xattrs: std::collections::BTreeMap<String, String> = read_xattrs(path)?
        .into_iter()
        .map(|(k, v)| (k, hex::encode(v)))
        .collect();
    if xattrs != e.xattrs {
        return Ok(Some("xattrs differ from its manifest".into()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsx::stamp::RACY_WINDOW;

    fn entry(mtime_ns: i128) -> Known {
        Known {
            stamp: Stamp {
                size: 1,
                mtime_ns,
                ctime_ns: mtime_ns,
                ino: 7,
                dev: 3,
            },
            blake3: Some("aa".into()),
            more: TreeFacts {
                xattrs: Some(Default::default()),
                target: None,
            },
        }
    }

    #[test]
    fn published_inodes_are_remembered_by_inode_unless_their_mtime_is_recent() {
        let d = tempfile::tempdir().unwrap();
        let file = published_memo_path(&d.path().join("publish-compute.json"));
        assert_eq!(file, d.path().join("publish-compute.json.published"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        let (old, fresh) = (entry(1_700_000_000_000_000_000), entry(now));
        let mut m = Memo::fresh_by_inode();
        m.remember_settled(Path::new(""), old.clone());
        m.remember_settled(
            Path::new(""),
            Known {
                stamp: Stamp {
                    ino: 8,
                    ..fresh.stamp
                },
                ..fresh
            },
        );
        Fs::new(None).save_memo(&mut m, Some(&file)).unwrap();
        let back = Memo::load_by_inode(&file);
        // Keyed by (device, inode): the path does not matter.
        assert_eq!(back.known(Path::new("any/name"), &old.stamp), Some(&old));
        let recent = Stamp {
            ino: 8,
            mtime_ns: now,
            ctime_ns: now,
            ..old.stamp
        };
        assert!(
            back.known(Path::new(""), &recent).is_none(),
            "{RACY_WINDOW:?}"
        );
        // A fresh memo replaces the file: it describes the newest generation only.
        Fs::new(None)
            .save_memo(&mut Memo::fresh_by_inode(), Some(&file))
            .unwrap();
        assert!(Memo::load_by_inode(&file)
            .known(Path::new(""), &old.stamp)
            .is_none());
    }
}
