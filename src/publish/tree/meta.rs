//! Reading and applying the metadata of tree entries without following symlinks, in the order
//! create → chown → chmod → xattrs → times (chown clears setuid bits and file capabilities, so it
//! must come before chmod and the xattrs).

use std::collections::BTreeMap;
use std::path::Path;

use rustix::fd::AsFd;
use rustix::fs::{chmodat, chownat, fchmod, fchown, futimens, utimensat};
use rustix::fs::{fsetxattr, AtFlags, Gid, Mode, Timestamps, Uid, CWD};
use rustix::fs::{lgetxattr, lgetxattr_query, llistxattr, llistxattr_query, lsetxattr, XattrFlags};
use rustix::io::Errno;
use rustix::time::Timespec;

use super::manifest::{EntryKind, TreeEntry};
use crate::publish::error::{errno, PublishError};
use crate::publish::fsops::oplog::MetaChange;
use crate::publish::fsops::{meta, Fs};

/// Reads every extended attribute of `path` (not following a symlink): name → value.
pub fn read_xattrs(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, PublishError> {
    let mut out = BTreeMap::new();
    let len = match llistxattr_query(path) {
        Ok(n) => n,
        // Filesystems without xattr support have none to copy.
        Err(Errno::OPNOTSUPP) => return Ok(out),
        Err(e) => return Err(errno("list xattrs of", path)(e)),
    };
    if len == 0 {
        return Ok(out);
    }
    let mut names = vec![0u8; len];
    let n = llistxattr(path, &mut names[..]).map_err(errno("list xattrs of", path))?;
    for name in names.get(..n).unwrap_or_default().split(|&b| b == 0) {
        if name.is_empty() {
            continue;
        }
        let name_str = std::str::from_utf8(name).map_err(|_| PublishError::BadInput {
            path: path.to_path_buf(),
            reason: format!(
                "xattr name {:?} is not UTF-8",
                String::from_utf8_lossy(name)
            ),
        })?;
        let vlen = lgetxattr_query(path, name_str).map_err(errno("read xattr of", path))?;
        let mut value = vec![0u8; vlen];
        let k = if vlen == 0 {
            0
        } else {
            lgetxattr(path, name_str, &mut value[..]).map_err(errno("read xattr of", path))?
        };
        value.truncate(k);
        out.insert(name_str.to_string(), value);
    }
    Ok(out)
}

/// Applies owner, mode, xattrs and mtime of `e` to the open regular file `f` (created at `path`):
/// the same order as [`apply`], without path lookups.
pub fn apply_fd(
    fs: &Fs,
    f: &std::fs::File,
    path: &Path,
    e: &TreeEntry,
) -> Result<(), PublishError> {
    check_ids(path, e)?;
    let (euid, egid) = (rustix::process::geteuid(), rustix::process::getegid());
    if e.uid != euid.as_raw() || e.gid != egid.as_raw() {
        fs.step();
        fchown(f, Some(Uid::from_raw(e.uid)), Some(Gid::from_raw(e.gid)))
            .map_err(errno("chown", path))?;
        fs.record(|| meta(path, MetaChange::Owner(e.uid, e.gid)));
    }
    fs.step();
    fchmod(f, Mode::from_bits_retain(e.mode & 0o7777)).map_err(errno("chmod", path))?;
    fs.record(|| meta(path, MetaChange::Mode(e.mode & 0o7777)));
    for (name, hexval) in &e.xattrs {
        let value = xattr_value(path, name, hexval)?;
        fs.step();
        fsetxattr(f, name.as_str(), &value, XattrFlags::empty())
            .map_err(errno("set xattr on", path))?;
        fs.record(|| meta(path, MetaChange::Xattr(name.clone())));
    }
    fs.step();
    futimens(f, &times_of(e)).map_err(errno("set times of", path))?;
    fs.record(|| meta(path, MetaChange::Times(e.mtime, e.mtime_nsec)));
    Ok(())
}

fn check_ids(path: &Path, e: &TreeEntry) -> Result<(), PublishError> {
    if e.uid == u32::MAX || e.gid == u32::MAX {
        return Err(PublishError::BadState {
            path: path.to_path_buf(),
            reason: format!("owner {}:{} is not a valid id", e.uid, e.gid),
        });
    }
    Ok(())
}

fn xattr_value(path: &Path, name: &str, hexval: &str) -> Result<Vec<u8>, PublishError> {
    hex::decode(hexval).map_err(|_| PublishError::BadState {
        path: path.to_path_buf(),
        reason: format!("xattr {name} has a non-hex value in the manifest"),
    })
}

/// atime = mtime = the entry's mtime (atime is not recorded; this keeps copies reproducible).
fn times_of(e: &TreeEntry) -> Timestamps {
    let t = Timespec {
        tv_sec: e.mtime,
        tv_nsec: i64::from(e.mtime_nsec),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Applies owner, mode, xattrs and mtime of `e` to the already created `path`.
pub fn apply(fs: &Fs, path: &Path, e: &TreeEntry) -> Result<(), PublishError> {
    apply_at(fs, CWD, path, path, e)
}

/// Applies owner, mode, xattrs and mtime of `e` to `name` in the directory `dir` (`path` names
/// the same entry, for messages, the log and the xattr calls, which have no `*at()` form).
pub fn apply_at<Fd: AsFd, P: rustix::path::Arg + Copy>(
    fs: &Fs,
    dir: Fd,
    name: P,
    path: &Path,
    e: &TreeEntry,
) -> Result<(), PublishError> {
    let is_link = matches!(e.kind, EntryKind::Symlink { .. });
    let (euid, egid) = (rustix::process::geteuid(), rustix::process::getegid());
    check_ids(path, e)?;
    if e.uid != euid.as_raw() || e.gid != egid.as_raw() {
        fs.step();
        chownat(
            &dir,
            name,
            Some(Uid::from_raw(e.uid)),
            Some(Gid::from_raw(e.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(errno("chown", path))?;
        fs.record(|| meta(path, MetaChange::Owner(e.uid, e.gid)));
    }
    if !is_link {
        fs.step();
        chmodat(
            &dir,
            name,
            Mode::from_bits_retain(e.mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(errno("chmod", path))?;
        fs.record(|| meta(path, MetaChange::Mode(e.mode & 0o7777)));
    }
    for (xname, hexval) in &e.xattrs {
        let value = xattr_value(path, xname, hexval)?;
        fs.step();
        lsetxattr(path, xname.as_str(), &value, XattrFlags::empty())
            .map_err(errno("set xattr on", path))?;
        fs.record(|| meta(path, MetaChange::Xattr(xname.clone())));
    }
    fs.step();
    utimensat(&dir, name, &times_of(e), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(errno("set times of", path))?;
    fs.record(|| meta(path, MetaChange::Times(e.mtime, e.mtime_nsec)));
    Ok(())
}
