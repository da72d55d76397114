//! Reading one overlay directory: every directory, regular file and symlink below it, in name
//! order, with mode and owner; symlinks are never followed (the one walker,
//! [`crate::fsx::walk`]).

use std::fs;
use std::io::Read;
use std::path::Path;

use rustix::fs::{FileType, OFlags};

use super::{OverlayError, OverlaySpec};
use crate::fsx::walk::{self, depth_first, Item, Options, OtherFs};

/// Permission bits including setuid, setgid and sticky.
const PERM_MASK: u32 = 0o7777;
/// How an overlay is walked: the overlay directory may be a symlink, and a directory mounted
/// inside it is part of it.
const OVERLAY_WALK: Options = Options {
    other_fs: OtherFs::Enter,
    follow_root: true,
};

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
    let meta = fs::metadata(&spec.dir).map_err(read_err(spec, &spec.dir))?;
    if !meta.is_dir() {
        return Err(OverlayError::NotADirectory {
            overlay: spec.name.clone(),
            dir: spec.dir.clone(),
        });
    }
    // Indexed by walk order (the directory itself is 0, not an entry).
    let mut found: Vec<Option<Found>> = Vec::new();
    let mut parents = Vec::new();
    walk::walk(&spec.dir, OVERLAY_WALK, &mut |item: &Item<'_>| -> Result<
        (),
        OverlayError,
    > {
        parents.push(item.parent);
        let f = if item.path.is_empty() {
            None
        } else {
            Some(one(spec, item, keep_owners)?)
        };
        found.push(f);
        Ok(())
    })
    .map_err(|stop| stop.into_err(|e| read_err(spec, &e.host_path())(e.into_io())))?;
    Ok(depth_first(&parents)
        .into_iter()
        .filter_map(|i| found.get_mut(i).and_then(Option::take))
        .collect())
}

fn read_err(spec: &OverlaySpec, path: &Path) -> impl FnOnce(std::io::Error) -> OverlayError {
    let (overlay, path) = (spec.name.clone(), path.to_path_buf());
    move |source| OverlayError::Read {
        overlay,
        path,
        source,
    }
}

/// The overlay entry `item`: refused unless a directory, regular file or symlink with UTF-8
/// names.
fn one(spec: &OverlaySpec, item: &Item<'_>, keep_owners: bool) -> Result<Found, OverlayError> {
    let path = item.host_path();
    let not_utf8 = |what| OverlayError::NotUtf8 {
        overlay: spec.name.clone(),
        path: path.clone(),
        what,
    };
    // Ancestors' names were checked when they were visited.
    let mut rel = String::new();
    for part in item.path {
        let part = part.to_str().ok_or_else(|| not_utf8("file name"))?;
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str(part);
    }
    let kind = match item.file_type() {
        FileType::Directory => FoundKind::Dir,
        FileType::RegularFile => {
            let mut data = Vec::new();
            item.open(OFlags::RDONLY)
                .map(fs::File::from)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(read_err(spec, &path))?;
            FoundKind::File(data)
        }
        FileType::Symlink => {
            let target = item.read_link().map_err(read_err(spec, &path))?;
            let target = String::from_utf8(target).map_err(|_| not_utf8("symlink target"))?;
            FoundKind::Symlink(target)
        }
        other => {
            let kind = match other {
                FileType::BlockDevice => "block device",
                FileType::CharacterDevice => "character device",
                FileType::Fifo => "fifo",
                _ => "socket",
            };
            return Err(OverlayError::SpecialFile {
                overlay: spec.name.clone(),
                path,
                kind,
            });
        }
    };
    let st = &item.st;
    let (uid, gid) = match spec.owner {
        Some(owner) => owner,
        None if keep_owners => (st.st_uid, st.st_gid),
        None => (0, 0),
    };
    Ok(Found {
        rel,
        kind,
        mode: st.st_mode & PERM_MASK,
        uid,
        gid,
    })
}
