//! Walks a root tree without following symlinks and describes it as a [`TreeManifest`]: type,
//! mode, owner, mtime and xattrs of every entry, content hashes of regular files (memoized), and
//! hardlink groups. The walk stays on the root's filesystem: a mount inside the tree is an error.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::manifest::{EntryKind, TreeEntry, TreeManifest, ROOT_PATH, TREE_MANIFEST_VERSION};
use super::meta::read_xattrs;
use crate::publish::error::{io_err, PublishError};
use crate::publish::memo::{Memo, Stamp};
use crate::publish::relpath;

/// A scanned tree: the manifest plus, per entry, where it came from.
#[derive(Debug)]
pub struct ScannedTree {
    pub root: PathBuf,
    pub manifest: TreeManifest,
    /// Source path and stamp of each entry, parallel to `manifest.entries`.
    pub sources: Vec<(PathBuf, Stamp)>,
}

/// Scans the directory `root`.
pub fn scan(root: &Path, memo: &mut Memo) -> Result<ScannedTree, PublishError> {
    let root_md = fs::symlink_metadata(root).map_err(io_err("stat", root))?;
    if !root_md.is_dir() {
        return Err(PublishError::BadInput {
            path: root.to_path_buf(),
            reason: "the root tree must be a directory (symlinks are not followed)".into(),
        });
    }
    let root_dev = root_md.dev();
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    let mut first_link: HashMap<(u64, u64), String> = HashMap::new();
    // Stack of (absolute path, relative path); children pushed in reverse name order so entries
    // come out depth-first with names sorted bytewise.
    let mut stack: Vec<(PathBuf, OsString)> = vec![(root.to_path_buf(), OsString::new())];
    while let Some((path, rel)) = stack.pop() {
        let md = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
        if md.dev() != root_dev {
            return Err(PublishError::BadInput {
                path,
                reason: "another filesystem is mounted inside the root tree; unmount it".into(),
            });
        }
        let rel_str = if rel.is_empty() {
            ROOT_PATH.to_string()
        } else {
            relpath::encode(&rel)
        };
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            let mut children = Vec::new();
            for e in fs::read_dir(&path).map_err(io_err("list", &path))? {
                children.push(e.map_err(io_err("list", &path))?.file_name());
            }
            children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in children.into_iter().rev() {
                let child_rel = if rel.is_empty() {
                    name.clone()
                } else {
                    let mut r = rel.clone();
                    r.push("/");
                    r.push(&name);
                    r
                };
                stack.push((path.join(&name), child_rel));
            }
            EntryKind::Dir
        } else if ft.is_file() {
            let blake3 = memo.hash(&path, &md)?;
            let hardlink_of = if md.nlink() > 1 {
                match first_link.get(&(md.dev(), md.ino())) {
                    Some(first) => Some(first.clone()),
                    None => {
                        first_link.insert((md.dev(), md.ino()), rel_str.clone());
                        None
                    }
                }
            } else {
                None
            };
            EntryKind::File {
                size: md.size(),
                blake3,
                hardlink_of,
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(io_err("read symlink", &path))?;
            EntryKind::Symlink {
                target: relpath::encode(target.as_os_str()),
            }
        } else if ft.is_char_device() {
            EntryKind::Char { rdev: md.rdev() }
        } else if ft.is_block_device() {
            EntryKind::Block { rdev: md.rdev() }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_socket() {
            EntryKind::Socket
        } else {
            return Err(PublishError::BadInput {
                path,
                reason: "unknown file type".into(),
            });
        };
        let xattrs = read_xattrs(&path)?
            .into_iter()
            .map(|(k, v)| (k, hex::encode(v)))
            .collect();
        entries.push(TreeEntry {
            path: rel_str,
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            mtime: md.mtime(),
            mtime_nsec: u32::try_from(md.mtime_nsec()).unwrap_or(0),
            xattrs,
        });
        sources.push((path, Stamp::of(&md)));
    }
    Ok(ScannedTree {
        root: root.to_path_buf(),
        manifest: TreeManifest {
            version: TREE_MANIFEST_VERSION,
            entries,
        },
        sources,
    })
}

/// The absolute path of a manifest entry under `root`, or an error for a malformed path.
pub fn entry_path(root: &Path, manifest_file: &Path, rel: &str) -> Result<PathBuf, PublishError> {
    if rel == ROOT_PATH {
        return Ok(root.to_path_buf());
    }
    let bad = || PublishError::BadState {
        path: manifest_file.to_path_buf(),
        reason: format!("entry path {rel:?} is not a clean relative path"),
    };
    let raw = relpath::decode(rel).ok_or_else(bad)?;
    let p = Path::new(&raw);
    if p.components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
        || raw.is_empty()
    {
        return Err(bad());
    }
    Ok(root.join(p))
}
