//! Writing a [`Plan`] into a directory tree without leaving it: every path is resolved one
//! component at a time from a descriptor of the destination root with `O_NOFOLLOW`, so a symlink
//! already in the destination (`etc -> /etc`) is an error, never a way out. Files and symlinks are
//! created under a temporary name and renamed over the old entry, which replaces a file or
//! symlink without following it. Directory modes are set last, deepest first, so a read-only
//! directory does not block writing its own contents.
//!
//! [`apply_stamped`] also gives everything it writes one mtime (a build's SOURCE_DATE_EPOCH):
//! files and symlinks before they are renamed into place, directories last (after their
//! contents, since adding an entry changes a directory's mtime), and the destination root when
//! anything was written into it. A tree built twice from the same plan, or from two checkouts of
//! an overlay with different file times, then has the same mtimes.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use super::{EntryContent, OverlayError, Plan, PlanEntry};

/// Name of the temporary entry written next to each file or symlink before the rename. An
/// overlay path with this name is refused.
const TMP_NAME: &str = ".netroot-overlay.tmp";
/// Mode of a new directory until its final mode is set at the end.
const DIR_WORK_MODE: u32 = 0o700;

/// Writes `plan` into `dest_root` (which must exist). Owners are set when running as root;
/// otherwise, as with an unprivileged `tar -x`, entries belong to the user running netroot.
/// Entries get the time of writing as their mtime; see [`apply_stamped`].
pub fn apply(plan: &Plan, dest_root: &Path) -> Result<(), OverlayError> {
    apply_with(plan, dest_root, rustix::process::geteuid().is_root(), None)
}

/// [`apply`], giving every entry written, and `dest_root` unless the plan is empty, the mtime
/// (and atime) `mtime`, in seconds since the epoch.
pub fn apply_stamped(plan: &Plan, dest_root: &Path, mtime: u64) -> Result<(), OverlayError> {
    let secs = i64::try_from(mtime).map_err(|_| OverlayError::BadSetting {
        what: "mtime",
        path: mtime.to_string(),
        reason: "is out of range".to_string(),
    })?;
    apply_with(
        plan,
        dest_root,
        rustix::process::geteuid().is_root(),
        Some(stamp(secs)),
    )
}

/// atime = mtime = `secs`.
fn stamp(secs: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

pub(crate) fn apply_with(
    plan: &Plan,
    dest_root: &Path,
    set_owners: bool,
    mtime: Option<Timestamps>,
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
            EntryContent::File(data) => write_file(&parent, name, e, data, set_owners, &mtime)?,
            EntryContent::Symlink(target) => {
                write_symlink(&parent, name, e, target, set_owners, &mtime)?
            }
        }
    }
    for e in dirs.iter().rev() {
        let dir = open_dir_at(&root, &e.path)?;
        set_meta(&dir, e, set_owners, &mtime)?;
    }
    if let (Some(t), false) = (&mtime, plan.is_empty()) {
        rustix::fs::futimens(&root, t).map_err(|e| OverlayError::DestRoot {
            path: dest_root.to_path_buf(),
            source: e.into(),
        })?;
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

/// Sets owner (first: chown clears setuid/setgid), mode, then the mtime if one is given.
fn set_meta(
    fd: &OwnedFd,
    e: &PlanEntry,
    set_owners: bool,
    mtime: &Option<Timestamps>,
) -> Result<(), OverlayError> {
    if set_owners {
        rustix::fs::fchown(fd, Some(Uid::from_raw(e.uid)), Some(Gid::from_raw(e.gid)))
            .map_err(write_err(&e.path, "set the owner"))?;
    }
    rustix::fs::fchmod(fd, Mode::from_raw_mode(e.mode))
        .map_err(write_err(&e.path, "set the mode"))?;
    match mtime {
        Some(t) => rustix::fs::futimens(fd, t).map_err(write_err(&e.path, "set the mtime")),
        None => Ok(()),
    }
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
    mtime: &Option<Timestamps>,
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
    set_meta(&OwnedFd::from(file), e, set_owners, mtime)?;
    replace(parent, name, &e.path, "file")
}

fn write_symlink(
    parent: &OwnedFd,
    name: &str,
    e: &PlanEntry,
    target: &str,
    set_owners: bool,
    mtime: &Option<Timestamps>,
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
    if let Some(t) = mtime {
        rustix::fs::utimensat(parent, TMP_NAME, t, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(write_err(&e.path, "set the mtime"))?;
    }
    replace(parent, name, &e.path, "symlink")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::sync::Arc;

    use crate::overlay::Source;

    fn entry(path: &str, content: EntryContent, mode: u32) -> PlanEntry {
        PlanEntry {
            path: path.to_string(),
            content,
            mode,
            uid: 0,
            gid: 0,
            source: Source {
                overlay: "base".into(),
                path: path.to_string(),
            },
        }
    }

    fn mtime(p: &Path) -> i64 {
        fs::symlink_metadata(p).expect("stat").mtime()
    }

    /// A source tree's `etc` and `usr/old` (mtime 99), and a plan writing into `etc` and a new
    /// directory.
    fn setup(dest: &Path) -> Plan {
        fs::create_dir_all(dest.join("etc")).expect("mkdir");
        fs::create_dir_all(dest.join("usr")).expect("mkdir");
        fs::write(dest.join("usr/old"), "old").expect("write");
        let old = fs::File::open(dest.join("usr/old")).expect("open");
        rustix::fs::futimens(&old, &stamp(99)).expect("utime");
        Plan::from_sorted(vec![
            entry("etc", EntryContent::Directory, 0o755),
            entry(
                "etc/motd",
                EntryContent::File(Arc::from(&b"hi\n"[..])),
                0o644,
            ),
            entry("etc/new", EntryContent::Directory, 0o750),
            entry(
                "etc/new/link",
                EntryContent::Symlink("../motd".into()),
                0o777,
            ),
        ])
    }

    #[test]
    fn stamped_entries_their_directories_and_the_root_get_the_mtime() {
        let t = tempfile::tempdir().expect("tempdir");
        let plan = setup(t.path());
        apply_stamped(&plan, t.path(), 1_234_567).expect("apply");
        for p in ["", "etc", "etc/motd", "etc/new", "etc/new/link"] {
            assert_eq!(mtime(&t.path().join(p)), 1_234_567, "{p:?}");
        }
        assert_eq!(
            fs::read_link(t.path().join("etc/new/link"))
                .expect("link")
                .to_str(),
            Some("../motd")
        );
        assert_eq!(
            fs::metadata(t.path().join("etc/new")).expect("stat").mode() & 0o7777,
            0o750
        );
        // What the plan does not write keeps its own mtime, its directory too.
        assert_eq!(mtime(&t.path().join("usr/old")), 99);
        assert_ne!(mtime(&t.path().join("usr")), 1_234_567);
    }

    #[test]
    fn unstamped_and_empty_plans_leave_times_alone() {
        let t = tempfile::tempdir().expect("tempdir");
        let root = fs::File::open(t.path()).expect("open");
        rustix::fs::futimens(&root, &stamp(7)).expect("utime");
        apply_stamped(&Plan::default(), t.path(), 1_234_567).expect("empty plan");
        assert_eq!(mtime(t.path()), 7);
        let plan = setup(t.path());
        apply(&plan, t.path()).expect("apply");
        assert_ne!(mtime(&t.path().join("etc/motd")), 1_234_567);
    }

    #[test]
    fn an_mtime_beyond_the_time_range_is_refused() {
        let t = tempfile::tempdir().expect("tempdir");
        let plan = setup(t.path());
        let err = apply_stamped(&plan, t.path(), u64::MAX).expect_err("range");
        assert_eq!(
            err.to_string(),
            "mtime \"18446744073709551615\": is out of range"
        );
        assert!(!t.path().join("etc/motd").exists());
    }
}
