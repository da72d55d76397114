//! `netroot clean`: removes what builds left under `OUT/`: profile outputs (`OUT/PROFILE/`, told
//! apart by their `manifest.json`), the build cache (`OUT/.cache/` or `NETROOT_CACHE`), and the
//! QEMU scratch state (`OUT/.qemu/`). Nothing is followed: `OUT/PROFILE/rootfs` is a link into
//! the cache and goes as a link. `--dry-run` lists the same paths with their sizes.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::write::MANIFEST;
use super::BuildError;
use crate::fsx::walk::{self, Item, Options, OtherFs};

/// The QEMU sessions' scratch directory below `OUT/` (`crate::qemu`'s run state).
const QEMU_DIR: &str = ".qemu";

/// What to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanWhat {
    /// Profile outputs (`OUT/PROFILE/`).
    pub outputs: bool,
    /// The build cache (kernels, root trees, segments, hashes, states).
    pub cache: bool,
    /// QEMU run state and scratch publications (`OUT/.qemu/`).
    pub qemu: bool,
}

/// One removed (or, in a dry run, removable) path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cleaned {
    pub path: PathBuf,
    /// Bytes of the files below it (allocated blocks, hardlinked files counted once).
    pub bytes: u64,
}

/// What `clean` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    pub dry_run: bool,
    pub removed: Vec<Cleaned>,
}

impl CleanReport {
    pub fn bytes(&self) -> u64 {
        self.removed.iter().map(|c| c.bytes).sum()
    }
}

/// Removes (or lists) `what` below `out` for `profile` (every profile when `None`); `cache` is
/// the cache directory the builds used.
pub fn clean(
    out: &Path,
    cache: &Path,
    profile: Option<&str>,
    what: CleanWhat,
    dry_run: bool,
) -> Result<CleanReport, BuildError> {
    let mut paths = Vec::new();
    if what.outputs {
        paths.extend(outputs(out, profile)?);
    }
    if what.cache {
        paths.push(cache.to_path_buf());
    }
    if what.qemu {
        paths.push(out.join(QEMU_DIR));
    }
    let mut removed = Vec::new();
    for path in paths {
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let bytes = usage(&path).map_err(BuildError::io("cannot measure", &path))?;
        if !dry_run {
            remove(&path).map_err(BuildError::io("cannot remove", &path))?;
        }
        removed.push(Cleaned { path, bytes });
    }
    Ok(CleanReport { dry_run, removed })
}

/// `OUT/PROFILE/` directories that hold a build (a `manifest.json`): only what netroot wrote.
fn outputs(out: &Path, profile: Option<&str>) -> Result<Vec<PathBuf>, BuildError> {
    if let Some(p) = profile {
        let dir = out.join(p);
        return Ok(is_output(&dir).then_some(dir).into_iter().collect());
    }
    let entries = match fs::read_dir(out) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BuildError::io("cannot list", out)(e)),
    };
    let mut dirs = Vec::new();
    for e in entries {
        let dir = e.map_err(BuildError::io("cannot list", out))?.path();
        if is_output(&dir) {
            dirs.push(dir);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn is_output(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && fs::symlink_metadata(dir.join(MANIFEST)).is_ok_and(|m| m.is_file())
}

/// Removes `path` without following links (a directory with everything below it).
pub(super) fn remove(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// Allocated bytes below `path`, not following links, each hardlinked inode once. A mount
/// below `path` (a chroot's `/proc` left by an interrupted mmdebstrap) is an error naming it:
/// removing through it would delete what is mounted there.
pub(crate) fn usage(path: &Path) -> io::Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let opts = Options {
        other_fs: OtherFs::Refuse,
        follow_root: false,
    };
    walk::walk(path, opts, &mut |item: &Item<'_>| {
        let st = &item.st;
        if st.st_nlink <= 1 || seen.insert((st.st_dev, st.st_ino)) {
            total += u64::try_from(st.st_blocks).unwrap_or(0) * BLOCK;
        }
        Ok::<(), io::Error>(())
    })
    .map_err(|stop| stop.into_err(io::Error::from))?;
    Ok(total)
}

/// `st_blocks` unit (POSIX: 512 bytes, whatever the filesystem's block size).
pub(super) const BLOCK: u64 = 512;
