//! Reading one overlay directory: every directory, regular file and symlink below it, in name
//! order, with mode and owner; symlinks are never followed.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::{OverlayError, OverlaySpec};

/// Permission bits including setuid, setgid and sticky.
const PERM_MASK: u32 = 0o7777;

/// What one overlay path holds.
#[derive(Debug)]
pub(super) enum FoundKind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One path inside an overlay.
#[derive(Debug)]
pub(super) struct Found {
    /// `/`-separated path relative to the overlay directory.
    pub rel: String,
    pub kind: FoundKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Every entry below `spec.dir` (not the directory itself), parents before children, siblings
/// by name. Owners are the files' when `keep_owners`, else root.
pub(super) fn scan(spec: &OverlaySpec, keep_owners: bool) -> Result<Vec<Found>, OverlayError> {
    let meta = fs::metadata(&spec.dir).map_err(|source| OverlayError::Read {
        overlay: spec.name.clone(),
        path: spec.dir.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(OverlayError::NotADirectory {
            overlay: spec.name.clone(),
            dir: spec.dir.clone(),
        });
    }
    let mut out = Vec::new();
    walk(spec, &spec.dir, "", keep_owners, &mut out)?;
    Ok(out)
}

fn read_err(spec: &OverlaySpec, path: &Path) -> impl FnOnce(std::io::Error) -> OverlayError {
    let (overlay, path) = (spec.name.clone(), path.to_path_buf());
    move |source| OverlayError::Read {
        overlay,
        path,
        source,
    }
}

fn walk(
    spec: &OverlaySpec,
    dir: &Path,
    prefix: &str,
    keep_owners: bool,
    out: &mut Vec<Found>,
) -> Result<(), OverlayError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err(spec, dir))? {
        names.push(entry.map_err(read_err(spec, dir))?.file_name());
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let Some(name) = name.to_str() else {
            return Err(OverlayError::NotUtf8 {
                overlay: spec.name.clone(),
                path,
                what: "file name",
            });
        };
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(read_err(spec, &path))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            FoundKind::Dir
        } else if ft.is_file() {
            FoundKind::File(fs::read(&path).map_err(read_err(spec, &path))?)
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(read_err(spec, &path))?;
            let Some(target) = target.to_str() else {
                return Err(OverlayError::NotUtf8 {
                    overlay: spec.name.clone(),
                    path,
                    what: "symlink target",
                });
            };
            FoundKind::Symlink(target.to_string())
        } else {
            let kind = if ft.is_block_device() {
                "block device"
            } else if ft.is_char_device() {
                "character device"
            } else if ft.is_fifo() {
                "fifo"
            } else {
                "socket"
            };
            return Err(OverlayError::SpecialFile {
                overlay: spec.name.clone(),
                path,
                kind,
            });
        };
        let is_dir = matches!(kind, FoundKind::Dir);
        out.push(Found {
            rel: rel.clone(),
            kind,
            mode: meta.mode() & PERM_MASK,
            uid: if keep_owners { meta.uid() } else { 0 },
            gid: if keep_owners { meta.gid() } else { 0 },
        });
        if is_dir {
            walk(spec, &path, &rel, keep_owners, out)?;
        }
    }
    Ok(())
}
