//! Writing a [`Plan`] into a directory tree without leaving it: every path is resolved one
//! component at a time from a descriptor of the destination root with `O_NOFOLLOW`, so a symlink
//! already in the destination (`etc -> /etc`) is an error, never a way out. Files and symlinks are
//! created under a temporary name and renamed over the old entry, which replaces a file or
//! symlink without following it. Directory modes are set last, deepest first, so a read-only
//! directory does not block writing its own contents.
//!
//! Nodes are created, and owners, modes and mtimes set, by the one inode writer
//! ([`crate::fsx::inode`]): owner first (chown clears setuid/setgid), then mode, then mtime.
//!
//! [`apply_stamped`] also gives everything it writes one mtime (a build's SOURCE_DATE_EPOCH):
//! files and symlinks before they are renamed into place, directories last (after their
//! contents, since adding an entry changes a directory's mtime), and the destination root when
//! anything was written into it. A tree built twice from the same plan, or from two checkouts of
//! an overlay with different file times, then has the same mtimes.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{EntryContent, OverlayError, Plan, PlanEntry};
use crate::fsx::inode::{Chown, InodeError, Meta, Node, Op, Time, Writer};

/// Name of the temporary entry written next to each file or symlink before the rename. An
/// overlay path with this name is refused.
const TMP_NAME: &str = ".netroot-overlay.tmp";
/// Copy buffer for file contents.
const COPY_BUF: usize = 64 * 1024;

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
fn stamp(secs: i64) -> Time {
    Time { sec: secs, nsec: 0 }
}

/// How entries are written: owners set or not, the mtime when given, a copy buffer.
struct Out {
    writer: Writer<'static>,
    mtime: Option<Time>,
    buf: Vec<u8>,
}

impl Out {
    /// The plan's owner and mode, and the mtime when given.
    fn meta(&self, e: &PlanEntry) -> Meta {
        Meta {
            uid: e.uid,
            gid: e.gid,
            mode: e.mode,
            mtime: self.mtime,
            xattrs: Vec::new(),
        }
    }
}

pub(crate) fn apply_with(
    plan: &Plan,
    dest_root: &Path,
    set_owners: bool,
    mtime: Option<Time>,
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
    let mut out = Out {
        writer: Writer::new(if set_owners {
            Chown::Always
        } else {
            Chown::Never
        }),
        mtime,
        buf: vec![0u8; COPY_BUF],
    };
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
                make_dir(&out, &parent, name, &e.path)?;
                dirs.push(e);
            }
            EntryContent::File(data) => write_file(&mut out, &parent, name, e, data)?,
            EntryContent::Symlink(target) => write_symlink(&out, &parent, name, e, target)?,
        }
    }
    for e in dirs.iter().rev() {
        let dir = open_dir_at(&root, &e.path)?;
        out.writer
            .apply_fd(dir.as_fd(), &out.meta(e))
            .map_err(inode_err(&e.path))?;
    }
    if let (Some(t), false) = (mtime, plan.is_empty()) {
        out.writer
            .set_mtime(root.as_fd(), t)
            .map_err(|e| OverlayError::DestRoot {
                path: dest_root.to_path_buf(),
                source: e.into(),
            })?;
    }
    Ok(())
}

/// An inode writer's failure on `path`, in the words of [`write_err`].
fn inode_err(path: &str) -> impl FnOnce(InodeError) -> OverlayError {
    let path = path.to_string();
    move |e| {
        let action = match &e {
            InodeError::Sys { op, .. } => match op {
                Op::Create => "create a file",
                Op::Write => "write a file",
                Op::Symlink => "create a symlink",
                Op::Mkdir => "create a directory",
                Op::Chown => "set the owner",
                Op::Chmod => "set the mode",
                Op::SetTimes => "set the mtime",
                Op::Open | Op::Stat => "inspect an entry",
                other => other.as_str(),
            },
            _ => "write an entry",
        };
        OverlayError::Write {
            path,
            action,
            source: e.into(),
        }
    }
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

/// Creates the directory `name` (mode 0700 until its own mode is set at the end) unless there is
/// one.
fn make_dir(out: &Out, parent: &OwnedFd, name: &str, path: &str) -> Result<(), OverlayError> {
    match out.writer.mkdir(parent.as_fd(), OsStr::new(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.errno() == Some(Errno::EXIST) => open_child_dir(parent, name, path).map(drop),
        Err(e) => Err(inode_err(path)(e)),
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
    out: &mut Out,
    parent: &OwnedFd,
    name: &str,
    e: &PlanEntry,
    mut data: &[u8],
) -> Result<(), OverlayError> {
    clear_tmp(parent, &e.path)?;
    let meta = out.meta(e);
    let size = data.len() as u64;
    out.writer
        .create_file(
            parent.as_fd(),
            OsStr::new(TMP_NAME),
            &mut data,
            size,
            &meta,
            &mut out.buf,
        )
        .map_err(inode_err(&e.path))?;
    replace(parent, name, &e.path, "file")
}

fn write_symlink(
    out: &Out,
    parent: &OwnedFd,
    name: &str,
    e: &PlanEntry,
    target: &str,
) -> Result<(), OverlayError> {
    clear_tmp(parent, &e.path)?;
    let node = Node::Symlink(target.as_bytes());
    out.writer
        .create(parent.as_fd(), OsStr::new(TMP_NAME), node, &out.meta(e))
        .map_err(inode_err(&e.path))?;
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

    fn times(secs: i64) -> rustix::fs::Timestamps {
        let t = rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
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
        rustix::fs::futimens(&old, &times(99)).expect("utime");
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
        rustix::fs::futimens(&root, &times(7)).expect("utime");
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
