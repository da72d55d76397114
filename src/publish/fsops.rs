//! Crash-safe filesystem primitives, each counted as one step so tests can stop the process at any
//! chosen point (`PublishOptions::crash_after_ops`): temp file in the same directory → fsync →
//! rename → fsync(dir); symlink flips through a temporary name; deletions rename the victim to a
//! temporary name first, so a half-deleted directory never carries a generation's name.
//! Every mutating operation can be recorded ([`oplog`]) and replayed against a power-loss model
//! ([`durable`]).

// Publish's recording wrapper over the raw writes (beside `fsx::atomic`, their other owner).
#![allow(clippy::disallowed_methods)]

#[cfg(test)]
pub mod durable;
pub mod oplog;
#[cfg(test)]
mod powerloss;

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{flock, renameat_with, FlockOperation, RenameFlags, CWD};

use super::error::{errno, io_err, PublishError};
use crate::fsx::atomic::is_tmp_name;
use crate::fsx::inode::{self, Change, Node};
use crate::fsx::memo::{Facts, Memo};
use oplog::{FsOp, MetaChange, OpLog};

/// How long a publisher waits for another one to finish: a cold publish of a large root tree takes
/// minutes, and a queued CLI call should wait for it rather than fail.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Poll interval while waiting for the lock.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Modes of every file and directory the engine writes outside root trees (TFTP/HTTP servers
/// run unprivileged and must read them, whatever the publisher's umask), and the temporaries'
/// names: the ground floor's.
pub use crate::fsx::atomic::{nearest_existing, parent_of, tmp_path, DIR_MODE, FILE_MODE};

/// Counts mutating filesystem steps (from any thread); aborts the process at a chosen step
/// (crash simulation); records the operations when a log is installed ([`oplog::record_ops`]).
#[derive(Debug, Default)]
pub struct Fs {
    ops: AtomicU64,
    crash_after: Option<u64>,
    log: Option<Arc<OpLog>>,
}

impl Fs {
    pub fn new(crash_after: Option<u64>) -> Fs {
        Fs {
            ops: AtomicU64::new(0),
            crash_after,
            log: oplog::installed(),
        }
    }

    /// Records a completed operation (the closure runs only when a log is installed).
    pub fn record(&self, op: impl FnOnce() -> FsOp) {
        if let Some(log) = &self.log {
            log.push(op());
        }
    }

    /// True when operations are being recorded (callers skip work only the log needs).
    pub fn recording(&self) -> bool {
        self.log.is_some()
    }

    /// Steps taken so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    /// Called before every mutating step: aborts (like SIGKILL or a failover, no cleanup) once
    /// `crash_after` steps have been taken.
    pub fn step(&self) {
        let n = self.ops.fetch_add(1, Ordering::Relaxed);
        if self.crash_after == Some(n) {
            std::process::abort();
        }
    }

    /// This `Fs` as the observer of the inode writer's steps on `path`
    /// ([`crate::fsx::inode`]): each step is counted as one of ours, each change recorded.
    pub fn inode_steps<'a>(&'a self, path: &'a Path) -> InodeSteps<'a> {
        InodeSteps { fs: self, path }
    }

    /// Creates `dir` and missing parents, fsyncing each parent whose listing changed.
    pub fn create_dir_all(&self, dir: &Path) -> Result<(), PublishError> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.create_dir_all(parent)?;
        }
        self.step();
        match fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {
                return Ok(())
            }
            Err(e) => return Err(io_err("create directory", dir)(e)),
        }
        self.record(|| FsOp::Mkdir { path: dir.into() });
        set_mode(dir, DIR_MODE)?;
        self.record(|| meta(dir, MetaChange::Mode(DIR_MODE)));
        self.fsync_dir(parent_of(dir))
    }

    /// Writes `data` to `path` atomically (mode 0644).
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<(), PublishError> {
        let dir = parent_of(path);
        let tmp = self.write_temp(dir, data)?;
        self.rename(&tmp, path)?;
        self.fsync_dir(dir)
    }

    /// Writes `memo` to `file` (a cache; `None`: not persistent) if it learned anything, as
    /// [`Fs::write_atomic`] steps.
    pub fn save_memo<X: Facts>(
        &self,
        memo: &mut Memo<X>,
        file: Option<&Path>,
    ) -> Result<(), PublishError> {
        let Some(file) = file.filter(|_| memo.is_dirty()) else {
            return Ok(());
        };
        let data = memo.to_bytes().map_err(|e| PublishError::BadState {
            path: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.create_dir_all(parent_of(file))?;
        self.write_atomic(file, &data)?;
        memo.mark_saved();
        Ok(())
    }

    /// The first half of [`Fs::write_atomic`]: writes `data` to a new temporary file in `dir`
    /// (mode [`FILE_MODE`]) and fsyncs it; returns its path, to be renamed into place later (a
    /// crash before that leaves a temporary the next publish removes).
    pub fn write_temp(&self, dir: &Path, data: &[u8]) -> Result<PathBuf, PublishError> {
        self.step();
        let tmp = tmp_path(dir, "file");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        self.record(|| FsOp::Create { path: tmp.clone() });
        set_fd_mode(&f, &tmp, FILE_MODE)?;
        self.record(|| meta(&tmp, MetaChange::Mode(FILE_MODE)));
        f.write_all(data).map_err(io_err("write", &tmp))?;
        self.record(|| write_op(&tmp, data));
        self.step();
        self.fsync_file(&f, &tmp)?;
        Ok(tmp)
    }

    /// Points the symlink `path` at `target` atomically (symlink to a temporary name + rename).
    pub fn symlink_atomic(&self, target: &str, path: &Path) -> Result<(), PublishError> {
        let dir = parent_of(path);
        self.step();
        let tmp = tmp_path(dir, "link");
        std::os::unix::fs::symlink(target, &tmp).map_err(io_err("create symlink", &tmp))?;
        self.record(|| FsOp::Symlink {
            target: target.into(),
            path: tmp.clone(),
        });
        self.rename(&tmp, path)?;
        self.fsync_dir(dir)
    }

    /// rename(2); replaces a file or symlink at `to`.
    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), PublishError> {
        self.step();
        fs::rename(from, to).map_err(io_err("rename to", to))?;
        self.record(|| FsOp::Rename {
            from: from.into(),
            to: to.into(),
            noreplace: false,
        });
        Ok(())
    }

    /// rename(2) that fails when `to` exists (a generation is never replaced).
    pub fn rename_noreplace(&self, from: &Path, to: &Path) -> Result<(), PublishError> {
        self.step();
        renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE)
            .map_err(errno("rename to", to))?;
        self.record(|| FsOp::Rename {
            from: from.into(),
            to: to.into(),
            noreplace: true,
        });
        Ok(())
    }

    /// Fsyncs a directory so renames and creations in it survive a crash.
    pub fn fsync_dir(&self, dir: &Path) -> Result<(), PublishError> {
        self.step();
        File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(io_err("fsync directory", dir))?;
        self.record(|| FsOp::FsyncDir { path: dir.into() });
        Ok(())
    }

    /// Fsyncs the open directory `f` (at `path`; not counted as a step: callers count).
    pub fn fsync_dir_fd(&self, f: &impl rustix::fd::AsFd, path: &Path) -> Result<(), PublishError> {
        rustix::fs::fsync(f).map_err(errno("fsync directory", path))?;
        self.record(|| FsOp::FsyncDir { path: path.into() });
        Ok(())
    }

    /// Fsyncs the open regular file `f` (at `path`; not counted as a step: callers count).
    pub fn fsync_file(&self, f: &File, path: &Path) -> Result<(), PublishError> {
        f.sync_all().map_err(io_err("fsync", path))?;
        self.record(|| FsOp::FsyncFile { path: path.into() });
        Ok(())
    }

    /// Flushes the whole filesystem holding the staged tree `path` (one syncfs instead of one
    /// fsync per file of a cold tree).
    pub fn syncfs(&self, path: &Path) -> Result<(), PublishError> {
        self.step();
        let f = File::open(path).map_err(io_err("open", path))?;
        rustix::fs::syncfs(&f).map_err(errno("syncfs", path))?;
        self.record(|| FsOp::Syncfs { path: path.into() });
        Ok(())
    }

    /// Removes `path` (file, symlink or tree) crash-safely: rename to a temporary name, fsync the
    /// parent, then delete. Missing paths are fine.
    pub fn remove(&self, path: &Path) -> Result<bool, PublishError> {
        let md = match fs::symlink_metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("stat", path)(e)),
        };
        let dir = parent_of(path);
        let victim = if path.file_name().is_some_and(is_tmp_name) {
            path.to_path_buf()
        } else {
            let tmp = tmp_path(dir, "del");
            self.rename(path, &tmp)?;
            self.fsync_dir(dir)?;
            tmp
        };
        self.step();
        if md.is_dir() {
            remove_tree(&victim)?;
        } else {
            fs::remove_file(&victim).map_err(io_err("remove", &victim))?;
        }
        self.record(|| FsOp::Remove { path: victim });
        Ok(true)
    }

    /// Removes every `.netroot-tmp-*` entry directly inside `dir`; returns what was removed.
    pub fn clean_tmp(&self, dir: &Path) -> Result<Vec<PathBuf>, PublishError> {
        let victims = list_tmp(dir)?;
        for v in &victims {
            self.remove(v)?;
        }
        Ok(victims)
    }
}

/// [`Fs::step`] before and [`Fs::record`] after each step the inode writer makes on `path`.
#[derive(Debug)]
pub struct InodeSteps<'a> {
    fs: &'a Fs,
    path: &'a Path,
}

impl inode::Observer for InodeSteps<'_> {
    fn before(&self, _: inode::Op) {
        self.fs.step();
    }

    fn after(&self, change: &Change<'_>) {
        self.fs.record(|| {
            let path = self.path.to_path_buf();
            match *change {
                Change::NewFile => FsOp::Create { path },
                Change::Created(Node::Dir) => FsOp::Mkdir { path },
                Change::Created(Node::Symlink(target)) => FsOp::Symlink {
                    target: PathBuf::from(std::ffi::OsStr::from_bytes(target)),
                    path,
                },
                Change::Created(_) => FsOp::Mknod { path },
                Change::Owner(uid, gid) => meta(&path, MetaChange::Owner(uid, gid)),
                Change::Mode(mode) => meta(&path, MetaChange::Mode(mode)),
                Change::Xattr(name) => meta(
                    &path,
                    MetaChange::Xattr(String::from_utf8_lossy(name).into_owned()),
                ),
                Change::Times(t) => meta(&path, MetaChange::Times(t.sec, t.nsec)),
            }
        });
    }
}

/// The `.netroot-tmp-*` entries directly inside `dir`, sorted (none when `dir` is missing):
/// what [`Fs::clean_tmp`] removes.
pub fn list_tmp(dir: &Path) -> Result<Vec<PathBuf>, PublishError> {
    list_matching(dir, is_tmp_name)
}

/// The entries directly inside `dir` whose names `keep` accepts, sorted (none when `dir` is
/// missing).
pub fn list_matching(
    dir: &Path,
    keep: impl Fn(&std::ffi::OsStr) -> bool,
) -> Result<Vec<PathBuf>, PublishError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("list", dir))?;
        if keep(&e.file_name()) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// A [`FsOp::Meta`] for `path`.
pub fn meta(path: &Path, change: MetaChange) -> FsOp {
    FsOp::Meta {
        path: path.into(),
        change,
    }
}

/// A [`FsOp::Write`] giving `path` the content `data`.
pub fn write_op(path: &Path, data: &[u8]) -> FsOp {
    FsOp::Write {
        path: path.into(),
        len: data.len() as u64,
        blake3: blake3::hash(data).to_hex().to_string(),
    }
}

/// Deletes a tree, making read-only directories writable first (a published tree has 0555 dirs).
fn remove_tree(path: &Path) -> Result<(), PublishError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            make_dirs_writable(path)?;
            fs::remove_dir_all(path).map_err(io_err("remove", path))
        }
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

fn make_dirs_writable(path: &Path) -> Result<(), PublishError> {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("chmod", &dir))?;
        for e in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let e = e.map_err(io_err("list", &dir))?;
            if e.file_type().map_err(io_err("stat", e.path()))?.is_dir() {
                stack.push(e.path());
            }
        }
    }
    Ok(())
}

/// chmod, so the umask does not decide what servers can read.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), PublishError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", path))
}

/// fchmod of an open file (see [`set_mode`]).
pub fn set_fd_mode(f: &File, path: &Path, mode: u32) -> Result<(), PublishError> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("chmod", path))
}

/// An exclusive advisory lock, released when dropped or when the process dies.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock at `path` (created if missing), waiting up to [`LOCK_TIMEOUT`]; before
    /// waiting, `on_wait` is told who holds it.
    pub fn acquire(
        fs_: &Fs,
        path: &Path,
        on_wait: Option<super::LockWaitFn>,
    ) -> Result<Lock, PublishError> {
        fs_.create_dir_all(parent_of(path))?;
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map_err(io_err("open lock", path))?;
        // The umask must not decide the lock's mode: two publishes of the same content under
        // different umasks leave identical TFTP trees (tests/e2e_repro.rs).
        set_fd_mode(&file, path, FILE_MODE)?;
        let start = Instant::now();
        let mut told = false;
        tracing::debug!(lock = %path.display(), "acquiring the publish lock");
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    let waited = start.elapsed().as_secs_f64();
                    tracing::info!(lock = %path.display(), waited, "publish lock acquired");
                    return Ok(Lock { _file: file });
                }
                Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < LOCK_TIMEOUT => {
                    if let (Some(tell), false) = (on_wait, told) {
                        tell(path, lock_holder(&file));
                        told = true;
                    }
                    std::thread::sleep(LOCK_POLL)
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(PublishError::LockTimeout {
                        path: path.to_path_buf(),
                        secs: LOCK_TIMEOUT.as_secs(),
                    })
                }
                Err(e) => return Err(errno("lock", path)(e)),
            }
        }
    }
}

/// The kernel's table of file locks: one line per lock with its holder's pid and the locked
/// file's `MAJOR:MINOR:INODE`.
const PROC_LOCKS: &str = "/proc/locks";

/// The pid holding a lock on `file`, from [`PROC_LOCKS`]; `None` when it cannot be told.
fn lock_holder(file: &File) -> Option<u32> {
    let st = rustix::fs::fstat(file).ok()?;
    let text = fs::read_to_string(PROC_LOCKS).ok()?;
    let dev = (rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev));
    holder_in(&text, dev, st.st_ino)
}

/// The pid of the first granted lock (not a `->` waiter) on device `dev`, inode `ino` in a
/// `/proc/locks` text (`1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF`; major and minor in
/// hex, the inode in decimal).
fn holder_in(text: &str, dev: (u32, u32), ino: u64) -> Option<u32> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            return None;
        }
        let (pid, file) = (fields.get(4)?, fields.get(5)?);
        let mut parts = file.split(':');
        let major = u32::from_str_radix(parts.next()?, 16).ok()?;
        let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
        let inode: u64 = parts.next()?.parse().ok()?;
        ((major, minor) == dev && inode == ino).then(|| pid.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_holder_is_read_from_proc_locks_skipping_waiters() {
        let text = "1: FLOCK  ADVISORY  WRITE 4242 00:2a:77 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 5151 00:2a:77 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 999 fd:01:77 0 EOF\n";
        assert_eq!(holder_in(text, (0, 0x2a), 77), Some(4242));
        assert_eq!(holder_in(text, (0xfd, 1), 77), Some(999));
        assert_eq!(holder_in(text, (0, 0x2a), 78), None);
        assert_eq!(holder_in("garbage\n1: FLOCK\n", (0, 0x2a), 77), None);
    }

    #[test]
    fn a_held_lock_names_its_holder_to_the_waiter() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(".lock");
        let f = Fs::new(None);
        let held = Lock::acquire(&f, &path, None).unwrap();
        let file = fs::File::open(&path).unwrap();
        // The holder is this process (flock locks are per open file, not per process).
        assert_eq!(lock_holder(&file), Some(std::process::id()));
        drop(held);
    }

    #[test]
    fn write_atomic_and_symlink_flip_leave_no_temporaries() {
        let d = tempfile::tempdir().unwrap();
        let f = Fs::new(None);
        let p = d.path().join("a/b/menu");
        f.create_dir_all(p.parent().unwrap()).unwrap();
        f.write_atomic(&p, b"1").unwrap();
        f.write_atomic(&p, b"2").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"2");
        let l = d.path().join("a/current");
        f.symlink_atomic("g1", &l).unwrap();
        f.symlink_atomic("g2", &l).unwrap();
        assert_eq!(fs::read_link(&l).unwrap(), Path::new("g2"));
        assert!(f.clean_tmp(&d.path().join("a")).unwrap().is_empty());
        assert!(f.ops() > 6);
    }

    #[test]
    fn remove_renames_first_and_handles_readonly_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("tree");
        fs::create_dir_all(t.join("ro")).unwrap();
        fs::write(t.join("ro/f"), b"x").unwrap();
        fs::set_permissions(t.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
        let f = Fs::new(None);
        assert!(f.remove(&t).unwrap());
        assert!(!f.remove(&t).unwrap());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn rename_noreplace_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("a")).unwrap();
        fs::create_dir(d.path().join("b")).unwrap();
        let e = Fs::new(None)
            .rename_noreplace(&d.path().join("a"), &d.path().join("b"))
            .unwrap_err();
        assert!(e.to_string().starts_with("rename to "), "{e}");
        assert!(e.to_string().contains("File exists"), "{e}");
    }
}
