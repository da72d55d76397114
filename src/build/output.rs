//! Crash-safe writes: temp file in the same directory, fsync, rename, fsync(dir); and an atomic swap
//! of a finished output directory into place. A reader never sees a half-written artifact.
//!
//! Modes are set explicitly, not left to the umask or to tempfile's private 0600/0700: a TFTP
//! server, an HTTP server or a CI artifact store reads the outputs as another user.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::fs::{renameat_with, RenameFlags, CWD};

/// Mode of every file the build writes: world-readable, writable by the builder only.
pub const OUTPUT_FILE_MODE: u32 = 0o644;
/// Mode of an output directory: world-traversable, so the files in it can be served.
pub const OUTPUT_DIR_MODE: u32 = 0o755;

/// Writes `data` to `path` atomically, with mode [`OUTPUT_FILE_MODE`] whatever the umask.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".netroot-tmp-")
        .tempfile_in(dir)?;
    // fchmod is not masked by the umask, unlike the mode given at creation.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(OUTPUT_FILE_MODE))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    fsync_dir(dir)
}

/// A new empty directory in `parent` to stage an output directory in, with mode
/// [`OUTPUT_DIR_MODE`] whatever the umask (removed when dropped unless kept).
pub fn staging_dir(parent: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(OUTPUT_DIR_MODE))?;
    Ok(dir)
}

/// Fsyncs a directory so a rename in it survives a crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Moves the finished directory `staged` to `dest`, replacing what was there in one step
/// (renameat2 RENAME_EXCHANGE), then removes the old contents. Falls back to rename when `dest`
/// does not exist yet.
pub fn swap_dir_into_place(staged: &Path, dest: &Path) -> io::Result<()> {
    let dir = parent(dest);
    if fs::symlink_metadata(dest).is_err() {
        fs::rename(staged, dest)?;
        return fsync_dir(dir);
    }
    renameat_with(CWD, staged, CWD, dest, RenameFlags::EXCHANGE).map_err(io::Error::from)?;
    fsync_dir(dir)?;
    // `staged` now holds the previous build.
    fs::remove_dir_all(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/f");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"2").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"2");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, OUTPUT_FILE_MODE);
        let names: Vec<_> = fs::read_dir(d.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["f"]);
    }

    #[test]
    fn swap_replaces_directory() {
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
}
