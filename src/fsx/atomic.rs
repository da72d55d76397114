//! Crash-safe writes: temp file in the same directory → fsync → rename → fsync(dir); an atomic
//! swap of a finished directory into place; and the one naming scheme of temporaries
//! (`.netroot-tmp-*`, which every cleanup recognizes). A reader never sees a half-written file.
//!
//! Modes are set explicitly (fchmod, which the umask does not mask), not left to the umask or to
//! tempfile's private 0600/0700: a TFTP server, an HTTP server or a CI artifact store reads the
//! outputs as another user.

// The owner of raw writes: the one place `clippy.toml`'s disallowed methods are used.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{renameat_with, RenameFlags, CWD};

/// Mode of every file written: world-readable, writable by the writer only.
pub const FILE_MODE: u32 = 0o644;
/// Mode of every directory created: world-traversable, so the files in it can be served.
pub const DIR_MODE: u32 = 0o755;
/// Prefix of every temporary name; names starting with it are never artifacts.
pub const TMP_PREFIX: &str = ".netroot-tmp-";

/// Whether `name` is a temporary's ([`TMP_PREFIX`]).
pub fn is_tmp_name(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TMP_PREFIX.as_bytes())
}

/// A fresh temporary name in `dir`: `.netroot-tmp-KIND-PID-NANOS-COUNTER` (unique within the
/// process by the counter, across processes by the pid).
pub fn tmp_path(dir: &Path, kind: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(
        "{TMP_PREFIX}{kind}-{}-{nanos:08x}-{n}",
        std::process::id()
    ))
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path` if it exists, else its nearest existing ancestor (`None` when none does, e.g. a
/// relative path whose first component is missing): where a target that is still to be
/// created would be written.
pub fn nearest_existing(path: &Path) -> Option<&Path> {
    path.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| fs::symlink_metadata(a).is_ok())
}

/// Fsyncs a directory so renames and creations in it survive a crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Writes `data` to a new temporary file in `dir` (mode [`FILE_MODE`]) and fsyncs it; returns
/// its path, to be renamed into place (a crash before that leaves only a temporary).
pub fn write_temp(dir: &Path, data: &[u8]) -> io::Result<PathBuf> {
    let tmp = tmp_path(dir, "file");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)?;
    let written = f
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .and_then(|()| f.write_all(data))
        .and_then(|()| f.sync_all());
    if let Err(e) = written {
        // The temporary is this call's own; the write error is what the caller needs to see.
        if let Err(rm) = fs::remove_file(&tmp) {
            return Err(io::Error::new(
                e.kind(),
                format!("{e} (and removing {} failed: {rm})", tmp.display()),
            ));
        }
        return Err(e);
    }
    Ok(tmp)
}

/// Marks `path` as touched now: creates it empty (mode [`FILE_MODE`], parent directories too)
/// when missing, then sets its mtime to now. Not synced, unlike everything else here: it is for
/// advisory markers (the cache's use stamps) whose loss in a crash costs nothing, and every
/// build, an up-to-date one included, touches several, so no fsync may ride on it.
pub fn touch(path: &Path) -> io::Result<()> {
    let open = || {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)
    };
    let file = match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(parent_of(path))?;
            open()?
        }
        other => other?,
    };
    file.set_modified(std::time::SystemTime::now())
}

/// Writes `data` to `path` atomically with mode [`FILE_MODE`], creating the parent directories.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = parent_of(path);
    fs::create_dir_all(dir)?;
    let tmp = write_temp(dir, data)?;
    rename_durable(&tmp, path)
}

/// Renames `from` to `to` (replacing a file, or an empty directory) and fsyncs `to`'s directory,
/// so the new name survives a crash. `from` must already hold everything, synced.
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    fsync_dir(parent_of(to))
}

/// Copies the file `src` to `dest` atomically (a temporary beside `dest`, synced, renamed over
/// it) with mode [`FILE_MODE`], creating `dest`'s parent directories.
pub fn copy_atomic(src: &Path, dest: &Path) -> io::Result<()> {
    let dir = parent_of(dest);
    fs::create_dir_all(dir)?;
    let tmp = tmp_path(dir, "copy");
    let copied = fs::copy(src, &tmp)
        .and_then(|_| set_mode(&tmp, FILE_MODE))
        .and_then(|()| fs::File::open(&tmp)?.sync_all());
    if let Err(e) = copied {
        // The temporary is this call's own; the copy error is what the caller needs to see.
        let _gone = fs::remove_file(&tmp);
        return Err(e);
    }
    rename_durable(&tmp, dest)
}

/// Makes `dest` a symlink to `target`, replacing what was there in one step (a temporary link
/// renamed over it).
pub fn symlink_atomic(target: &Path, dest: &Path) -> io::Result<()> {
    let tmp = tmp_path(parent_of(dest), "link");
    std::os::unix::fs::symlink(target, &tmp)?;
    rename_durable(&tmp, dest)
}

/// Sets the permission bits of `path` (following a symlink: for files netroot itself placed).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// A new empty directory in `parent` to stage a directory in, with mode [`DIR_MODE`] whatever
/// the umask (removed when dropped unless kept).
pub fn staging_dir(parent: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    set_mode(dir.path(), DIR_MODE)?;
    Ok(dir)
}

/// Moves the finished directory `staged` to `dest`, replacing what was there in one step
/// (renameat2 RENAME_EXCHANGE), then removes the old contents. Falls back to rename when `dest`
/// does not exist yet.
pub fn swap_dir_into_place(staged: &Path, dest: &Path) -> io::Result<()> {
    let dir = parent_of(dest);
    if fs::symlink_metadata(dest).is_err() {
        return rename_durable(staged, dest);
    }
    renameat_with(CWD, staged, CWD, dest, RenameFlags::EXCHANGE).map_err(io::Error::from)?;
    fsync_dir(dir)?;
    // `staged` now holds the previous contents.
    fs::remove_dir_all(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_creates_with_parents_then_moves_only_the_mtime() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("used/kernels/k1");
        touch(&p).unwrap();
        let md = fs::metadata(&p).unwrap();
        assert_eq!((md.len(), md.permissions().mode() & 0o777), (0, FILE_MODE));
        fs::write(&p, b"kept").unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        touch(&p).unwrap();
        let md = fs::metadata(&p).unwrap();
        assert!(md.modified().unwrap() > old + std::time::Duration::from_secs(3600));
        assert_eq!(fs::read(&p).unwrap(), b"kept", "touch never truncates");
    }

    #[test]
    fn write_atomic_replaces_with_its_mode_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/f");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"2").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"2");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, FILE_MODE);
        let names: Vec<_> = fs::read_dir(d.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["f"]);
    }

    #[test]
    fn swap_replaces_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        let s1 = d.path().join("s1");
        fs::create_dir(&s1).unwrap();
        fs::write(s1.join("a"), b"old").unwrap();
        swap_dir_into_place(&s1, &dest).unwrap();
        let s2 = d.path().join("s2");
        fs::create_dir(&s2).unwrap();
        fs::write(s2.join("a"), b"new").unwrap();
        swap_dir_into_place(&s2, &dest).unwrap();
        assert_eq!(fs::read(dest.join("a")).unwrap(), b"new");
        assert!(!s1.exists() && !s2.exists());
    }

    #[test]
    fn temporaries_are_unique_and_recognized() {
        let d = Path::new("/x");
        let (a, b) = (tmp_path(d, "file"), tmp_path(d, "file"));
        assert_ne!(a, b);
        assert!(a.file_name().is_some_and(is_tmp_name));
        assert!(!is_tmp_name(OsStr::new("netroot-tmp-x")));
        assert_eq!(parent_of(Path::new("f")), Path::new("."));
        assert_eq!(nearest_existing(&d.join("no/such")), Some(Path::new("/")));
    }
}
