//! Writing a [`Plan`] into a directory tree without leaving it: every path is resolved one
//! component at a time from a descriptor of the destination root with `O_NOFOLLOW`, so a symlink
//! already in the destination (`etc -> /etc`) is an error, never a way out. Files and symlinks are
//! created under a temporary name and renamed over the old entry, which replaces a file or
//! symlink without following it. Directory modes are set last, deepest first, so a read-only
//! directory does not block writing its own contents.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use super::{EntryContent, OverlayError, Plan, PlanEntry};

/// Name of the temporary entry written next to each file or symlink before the rename. An
/// overlay path with this name is refused.
const TMP_NAME: &str = ".netroot-overlay.tmp";
/// Mode of a new directory until its final mode is set at the end.
const DIR_WORK_MODE: u32 = 0o700;

/// Writes `plan` into `dest_root` (which must exist). Owners are set when running as root;
/// otherwise, as with an unprivileged `tar -x`, entries belong to the user running netroot.
pub fn apply(plan: &Plan, dest_root: &Path) -> Result<(), OverlayError> {
    apply_with(plan, dest_root, rustix::process::geteuid().is_root())
}

pub(crate) fn apply_with(
    plan: &Plan,
    dest_root: &Path,
    set_owners: bool,
) -> Result<(), OverlayError> {
    let root = rustix::fs::open(
        dest_root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| OverlayError::DestRoot {
        path: dest_root.to_path_buf(),
        source: e.into(),
    })?;
    let mut dirs = Vec::new();
    for e in plan.entries() {
        let (parent, name) = open_parent(&root, &e.path)?;
        if name == TMP_NAME {
            return Err(write_err(
                &e.path,
                "use a name netroot reserves for temporary files",
            )(Errno::INVAL));
        }
        match &e.content {
            EntryContent::Directory => {
                make_dir(&parent, name, &e.path)?;
                dirs.push(e);
            }
            EntryContent::File(data) => write_file(&parent, name, e, data, set_owners)?,
            EntryContent::Symlink(target) => write_symlink(&parent, name, e, target, set_owners)?,
        }
    }
    for e in dirs.iter().rev() {
        let dir = open_dir_at(&root, &e.path)?;
        set_meta(&dir, e, set_owners)?;
    }
    Ok(())
}

fn write_err(path: &str, action: &'static str) -> impl FnOnce(Errno) -> OverlayError {
    let path = path.to_string();
    move |e| OverlayError::Write {
        path,
        action,
        source: e.into(),
    }
}

/// What a destination entry is, without following it; `None` when it does not exist.
fn kind_at(dir: &OwnedFd, name: &str, path: &str) -> Result<Option<FileType>, OverlayError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(write_err(path, "inspect an entry")(e)),
    }
}

fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::Directory => "directory",
        FileType::RegularFile => "file",
        FileType::Symlink => "symlink",
        _ => "special file",
    }
}

/// Opens the directory `dir/name`, refusing symlinks and non-directories.
fn open_child_dir(dir: &OwnedFd, name: &str, path: &str) -> Result<OwnedFd, OverlayError> {
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(e) => match kind_at(dir, name, path)? {
            Some(FileType::Symlink) => Err(OverlayError::SymlinkInDest {
                path: path.to_string(),
                component: name.to_string(),
            }),
            Some(t) if t != FileType::Directory => Err(OverlayError::KindInDest {
                path: path.to_string(),
                component: name.to_string(),
                found: kind_name(t),
                wanted: "directory",
            }),
            _ => Err(write_err(path, "open a directory")(e)),
        },
    }
}

/// Opens the directory at image path `path` below `root`, one component at a time.
fn open_dir_at(root: &OwnedFd, path: &str) -> Result<OwnedFd, OverlayError> {
    let mut cur = rustix::fs::openat(root, ".", OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())
        .map_err(write_err(path, "open the destination root"))?;
    for comp in path.split('/') {
        cur = open_child_dir(&cur, comp, path)?;
    }
    Ok(cur)
}

/// The parent directory of `path` and the last component.
fn open_parent<'p>(root: &OwnedFd, path: &'p str) -> Result<(OwnedFd, &'p str), OverlayError> {
    match path.rsplit_once('/') {
        Some((parent, name)) => Ok((open_dir_at(root, parent)?, name)),
        None => {
            let dir =
                rustix::fs::openat(root, ".", OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())
                    .map_err(write_err(path, "open the destination root"))?;
            Ok((dir, path))
        }
    }
}

fn make_dir(parent: &OwnedFd, name: &str, path: &str) -> Result<(), OverlayError> {
    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(DIR_WORK_MODE)) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => open_child_dir(parent, name, path).map(drop),
        Err(e) => Err(write_err(path, "create a directory")(e)),
    }
}

/// Sets owner (first: chown clears setuid/setgid) then mode.
fn set_meta(fd: &OwnedFd, e: &PlanEntry, set_owners: bool) -> Result<(), OverlayError> {
    if set_owners {
        rustix::fs::fchown(fd, Some(Uid::from_raw(e.uid)), Some(Gid::from_raw(e.gid)))
            .map_err(write_err(&e.path, "set the owner"))?;
    }
    rustix::fs::fchmod(fd, Mode::from_raw_mode(e.mode)).map_err(write_err(&e.path, "set the mode"))
}

/// Removes a leftover temporary entry from an interrupted run.
fn clear_tmp(parent: &OwnedFd, path: &str) -> Result<(), OverlayError> {
    match rustix::fs::unlinkat(parent, TMP_NAME, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(write_err(path, "remove a stale temporary file")(e)),
    }
}

/// Renames the temporary entry over `name`, unless `name` is a directory.
fn replace(
    parent: &OwnedFd,
    name: &str,
    path: &str,
    wanted: &'static str,
) -> Result<(), OverlayError> {
    if let Some(FileType::Directory) = kind_at(parent, name, path)? {
        clear_tmp(parent, path)?;
        return Err(OverlayError::KindInDest {
            path: path.to_string(),
            component: name.to_string(),
            found: "directory",
            wanted,
        });
    }
    rustix::fs::renameat(parent, TMP_NAME, parent, name)
        .map_err(write_err(path, "rename into place"))
}

fn write_file(
    parent: &OwnedFd,
    name: &str,
    e: &PlanEntry,
    data: &[u8],
    set_owners: bool,
) -> Result<(), OverlayError> {
    clear_tmp(parent, &e.path)?;
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(parent, TMP_NAME, flags, Mode::from_raw_mode(0o600))
        .map_err(write_err(&e.path, "create a file"))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data).map_err(|source| OverlayError::Write {
        path: e.path.clone(),
        action: "write a file",
        source,
    })?;
    set_meta(&OwnedFd::from(file), e, set_owners)?;
    replace(parent, name, &e.path, "file")
}

fn write_symlink(
    parent: &OwnedFd,
    name: &str,
    e: &PlanEntry,
    target: &str,
    set_owners: bool,
) -> Result<(), OverlayError> {
    clear_tmp(parent, &e.path)?;
    rustix::fs::symlinkat(target, parent, TMP_NAME)
        .map_err(write_err(&e.path, "create a symlink"))?;
    if set_owners {
        rustix::fs::chownat(
            parent,
            TMP_NAME,
            Some(Uid::from_raw(e.uid)),
            Some(Gid::from_raw(e.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(write_err(&e.path, "set the owner"))?;
    }
    replace(parent, name, &e.path, "symlink")
}
