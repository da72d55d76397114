//! Walks a root tree without following symlinks (the one walker, [`crate::fsx::walk`]) and
//! describes it as a [`TreeManifest`]: type, mode, owner, mtime and xattrs of every entry,
//! content hashes of regular files (memoized), and hardlink groups. The walk stays on the root's
//! filesystem: a mount inside the tree is an error.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{statat, AtFlags, FileType, OFlags, CWD};
use serde::{Deserialize, Serialize};

use super::manifest::{EntryKind, TreeEntry, TreeManifest, ROOT_PATH, TREE_MANIFEST_VERSION};
use crate::fsx::memo::{self, Entry};
use crate::fsx::stamp::Stamp;
use crate::fsx::walk::{self, depth_first, Failure, Item, Options, OtherFs, WalkError};
use crate::publish::error::{errno, hash_err, io_err, PublishError};
use crate::publish::relpath;

/// What publish's memo knows of an entry besides its content hash, so that an unchanged entry
/// costs one stat: its xattrs (name → hex value) and symlink target (encoded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xattrs: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// Publish's memo: of source files by path (root tree and boot artifacts, persisted as
/// `PublishOptions::hash_memo`), or of published inodes by (device, inode).
pub type Memo = memo::Memo<TreeFacts>;
/// What publish's memo knows about one entry.
pub type Known = Entry<TreeFacts>;

/// Why the source tree's root is refused.
const ROOT_NOT_A_DIR: &str = "the root tree must be a directory (symlinks are not followed)";

/// A scanned tree: the manifest plus, per entry, where it came from.
#[derive(Debug)]
pub struct ScannedTree {
    pub root: PathBuf,
    pub manifest: TreeManifest,
    /// Source path and stamp of each entry, parallel to `manifest.entries`.
    pub sources: Vec<(PathBuf, Stamp)>,
}

/// One entry as the walk found it.
struct Found {
    path: PathBuf,
    entry: TreeEntry,
    stamp: Stamp,
    /// (device, inode) of a regular file with more than one link.
    multi_link: Option<(u64, u64)>,
}

/// A mount inside the tree is an error naming it; other walk failures name the operation.
impl From<WalkError> for PublishError {
    fn from(e: WalkError) -> PublishError {
        let path = e.host_path();
        match e.failure {
            Failure::OtherFs => PublishError::BadInput {
                path,
                reason: "another filesystem is mounted inside the root tree; unmount it".into(),
            },
            Failure::Io { op, source } => PublishError::Io { op, path, source },
            Failure::Interrupted(i) => PublishError::Io {
                op: "scan",
                path,
                source: i.into(),
            },
        }
    }
}

/// The entry's xattrs, name → hex value.
fn read_xattrs(item: &Item<'_>, path: &Path) -> Result<BTreeMap<String, String>, PublishError> {
    let mut out = BTreeMap::new();
    for (name, value) in item.xattrs().map_err(io_err("list xattrs of", path))? {
        let name = String::from_utf8(name).map_err(|e| PublishError::BadInput {
            path: path.to_path_buf(),
            reason: format!(
                "xattr name {:?} is not UTF-8",
                String::from_utf8_lossy(e.as_bytes())
            ),
        })?;
        out.insert(name, hex::encode(value));
    }
    Ok(out)
}

/// Describes the walked entry `item`: its content hash, xattrs and symlink target come from the
/// memo when its stat fingerprint is unchanged.
fn found(item: &Item<'_>, memo: &mut Memo) -> Result<Found, PublishError> {
    let st = &item.st;
    let path = item.host_path();
    let stamp = Stamp::of_stat(st);
    let known = memo.known(&path, &stamp).cloned();
    let mut learned = known.clone().unwrap_or_else(|| Known::new(stamp));
    let mut multi_link = None;
    let kind = match item.file_type() {
        FileType::Directory => EntryKind::Dir,
        FileType::RegularFile => {
            let blake3 = memo
                .hash_opened(&path, &stamp, || item.open(OFlags::RDONLY).map(File::from))
                .map_err(hash_err(&path))?;
            learned.blake3 = Some(blake3.clone());
            if st.st_nlink > 1 {
                multi_link = Some((st.st_dev, st.st_ino));
            }
            EntryKind::File {
                size: stamp.size,
                blake3,
                hardlink_of: None,
            }
        }
        FileType::Symlink => {
            let target = match learned.more.target.clone() {
                Some(t) => t,
                None => {
                    let t = item.read_link().map_err(io_err("read symlink", &path))?;
                    relpath::encode(std::ffi::OsStr::from_bytes(&t))
                }
            };
            learned.more.target = Some(target.clone());
            EntryKind::Symlink { target }
        }
        FileType::CharacterDevice => EntryKind::Char { rdev: st.st_rdev },
        FileType::BlockDevice => EntryKind::Block { rdev: st.st_rdev },
        FileType::Fifo => EntryKind::Fifo,
        FileType::Socket => EntryKind::Socket,
        FileType::Unknown => {
            return Err(PublishError::BadInput {
                path,
                reason: "unknown file type".into(),
            })
        }
    };
    let xattrs = match learned.more.xattrs.clone() {
        Some(x) => x,
        None => read_xattrs(item, &path)?,
    };
    learned.more.xattrs = Some(xattrs.clone());
    if known.as_ref() != Some(&learned) {
        memo.remember(&path, learned);
    }
    let rel: Vec<&[u8]> = item.path.iter().map(|p| p.as_bytes()).collect();
    let entry = TreeEntry {
        path: if rel.is_empty() {
            ROOT_PATH.to_string()
        } else {
            relpath::encode(std::ffi::OsStr::from_bytes(&rel.join(&b'/')))
        },
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
        mtime_nsec: u32::try_from(st.st_mtime_nsec).unwrap_or(0),
        xattrs,
    };
    Ok(Found {
        path,
        entry,
        stamp,
        multi_link,
    })
}

/// Scans the directory `root`: one stat per entry relative to its open directory, plus content
/// hash, xattrs and symlink target for entries the memo does not know unchanged. Entries come
/// out depth-first with names sorted bytewise.
pub fn scan(root: &Path, memo: &mut Memo) -> Result<ScannedTree, PublishError> {
    let st = statat(CWD, root, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("stat", root))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(PublishError::BadInput {
            path: root.to_path_buf(),
            reason: ROOT_NOT_A_DIR.into(),
        });
    }
    let opts = Options {
        other_fs: OtherFs::Refuse,
        follow_root: false,
    };
    let mut walked: Vec<Found> = Vec::new();
    let mut parents = Vec::new();
    walk::walk(
        root,
        opts,
        &mut |item: &Item<'_>| -> Result<(), PublishError> {
            parents.push(item.parent);
            walked.push(found(item, memo)?);
            Ok(())
        },
    )
    .map_err(|stop| stop.into_err(PublishError::from))?;
    let mut slots: Vec<Option<Found>> = walked.into_iter().map(Some).collect();
    let mut entries = Vec::with_capacity(slots.len());
    let mut sources = Vec::with_capacity(slots.len());
    let mut first_link: HashMap<(u64, u64), String> = HashMap::new();
    for i in depth_first(&parents) {
        let Some(mut f) = slots.get_mut(i).and_then(Option::take) else {
            continue;
        };
        if let (Some(id), EntryKind::File { hardlink_of, .. }) = (f.multi_link, &mut f.entry.kind) {
            match first_link.get(&id) {
                Some(first) => *hardlink_of = Some(first.clone()),
                None => {
                    first_link.insert(id, f.entry.path.clone());
                }
            }
        }
        entries.push(f.entry);
        sources.push((f.path, f.stamp));
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
