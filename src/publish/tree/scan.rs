//! Walks a root tree without following symlinks and describes it as a [`TreeManifest`]: type,
//! mode, owner, mtime and xattrs of every entry, content hashes of regular files (memoized), and
//! hardlink groups. The walk stays on the root's filesystem: a mount inside the tree is an error.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, readlinkat, statat, AtFlags, Dir, FileType, Mode, OFlags, Stat, CWD};

use super::manifest::{EntryKind, TreeEntry, TreeManifest, ROOT_PATH, TREE_MANIFEST_VERSION};
use super::meta::read_xattrs;
use crate::publish::error::{errno, PublishError};
use crate::publish::memo::{stamp_of, Known, Memo, Stamp};
use crate::publish::relpath;

/// A scanned tree: the manifest plus, per entry, where it came from.
#[derive(Debug)]
pub struct ScannedTree {
    pub root: PathBuf,
    pub manifest: TreeManifest,
    /// Source path and stamp of each entry, parallel to `manifest.entries`.
    pub sources: Vec<(PathBuf, Stamp)>,
}

/// One entry found while listing its directory, emitted in walk order.
struct Found {
    path: PathBuf,
    rel: OsString,
    entry: TreeEntry,
    stamp: Stamp,
    /// (device, inode) of a regular file with more than one link.
    multi_link: Option<(u64, u64)>,
}

/// Directories with at least this many entries are stat'ed by several threads: one directory
/// often holds most of a tree (`usr/share/man/man1`), and lookups in one directory run in
/// parallel in the kernel.
const PARALLEL_STAT_MIN: usize = 1024;
/// Most threads stat'ing one directory (the machine's parallelism permitting).
const STAT_THREADS_MAX: usize = 4;

/// lstat of every `names` entry of the open directory `dir`, in order.
fn stat_all(dir: &OwnedFd, names: &[OsString]) -> Vec<rustix::io::Result<Stat>> {
    let one = |n: &OsString| statat(dir, n.as_os_str(), AtFlags::SYMLINK_NOFOLLOW);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, STAT_THREADS_MAX);
    if names.len() < PARALLEL_STAT_MIN || threads == 1 {
        return names.iter().map(one).collect();
    }
    let per = names.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(per)
            .map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .zip(names.chunks(per))
            // A panicked thread (none expected: statat does not panic) is re-done here.
            .flat_map(|(h, c)| h.join().unwrap_or_else(|_| c.iter().map(one).collect()))
            .collect()
    })
}

fn found(
    st: Stat,
    path: PathBuf,
    rel: OsString,
    root_dev: u64,
    memo: &mut Memo,
    read_link: impl FnOnce(&Path) -> Result<std::ffi::CString, PublishError>,
) -> Result<Found, PublishError> {
    if st.st_dev != root_dev {
        return Err(PublishError::BadInput {
            path,
            reason: "another filesystem is mounted inside the root tree; unmount it".into(),
        });
    }
    let stamp = stamp_of(&st);
    let known = memo.known(&path, &stamp).cloned();
    let mut learned = known.clone().unwrap_or(Known {
        stamp,
        blake3: None,
        xattrs: None,
        target: None,
    });
    let mut multi_link = None;
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => EntryKind::Dir,
        FileType::RegularFile => {
            let blake3 = memo.hash_stamped(&path, &stamp)?;
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
            let target = match learned.target.clone() {
                Some(t) => t,
                None => relpath::encode(OsStr::from_bytes(read_link(&path)?.as_bytes())),
            };
            learned.target = Some(target.clone());
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
    let xattrs = match learned.xattrs.clone() {
        Some(x) => x,
        None => read_xattrs(&path)?
            .into_iter()
            .map(|(k, v)| (k, hex::encode(v)))
            .collect(),
    };
    learned.xattrs = Some(xattrs.clone());
    if known.as_ref() != Some(&learned) {
        memo.remember(&path, learned);
    }
    let entry = TreeEntry {
        path: if rel.is_empty() {
            ROOT_PATH.to_string()
        } else {
            relpath::encode(&rel)
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
        rel,
        entry,
        stamp,
        multi_link,
    })
}

/// Scans the directory `root`: one stat per entry relative to its open directory, plus content
/// hash, xattrs and symlink target for entries the memo does not know unchanged.
pub fn scan(root: &Path, memo: &mut Memo) -> Result<ScannedTree, PublishError> {
    let st = statat(CWD, root, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("stat", root))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(PublishError::BadInput {
            path: root.to_path_buf(),
            reason: "the root tree must be a directory (symlinks are not followed)".into(),
        });
    }
    let root_dev = st.st_dev;
    let top = found(
        st,
        root.to_path_buf(),
        OsString::new(),
        root_dev,
        memo,
        |p| {
            Err(PublishError::BadInput {
                path: p.to_path_buf(),
                reason: "the root tree must be a directory (symlinks are not followed)".into(),
            })
        },
    )?;
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    let mut first_link: HashMap<(u64, u64), String> = HashMap::new();
    // Entries are described when their directory is listed and emitted when popped: children
    // pushed in reverse name order come out depth-first with names sorted bytewise.
    let mut stack = vec![top];
    while let Some(mut f) = stack.pop() {
        if let (Some(id), EntryKind::File { hardlink_of, .. }) = (f.multi_link, &mut f.entry.kind) {
            match first_link.get(&id) {
                Some(first) => *hardlink_of = Some(first.clone()),
                None => {
                    first_link.insert(id, f.entry.path.clone());
                }
            }
        }
        if f.entry.kind == EntryKind::Dir {
            let dir = openat(
                CWD,
                &f.path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno("open directory", &f.path))?;
            let mut names = Vec::new();
            for e in Dir::read_from(&dir).map_err(errno("list", &f.path))? {
                let e = e.map_err(errno("list", &f.path))?;
                let name = e.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(OsStr::from_bytes(name).to_os_string());
                }
            }
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let stats = stat_all(&dir, &names);
            for (name, st) in names.into_iter().zip(stats).rev() {
                let mut rel = f.rel.clone();
                if !rel.is_empty() {
                    rel.push("/");
                }
                rel.push(&name);
                let path = f.path.join(&name);
                let st = st.map_err(errno("stat", &path))?;
                // The entry's content hash, xattrs and symlink target come from the memo when its
                // stat fingerprint is unchanged.
                stack.push(found(st, path, rel, root_dev, memo, |p| {
                    readlinkat(&dir, &name, Vec::new()).map_err(errno("read symlink", p))
                })?);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_all_keeps_order_in_big_directories_and_reports_missing_entries() {
        let d = tempfile::tempdir().unwrap();
        let n = PARALLEL_STAT_MIN + 77;
        let mut names: Vec<OsString> = (0..n).map(|i| format!("f{i:05}").into()).collect();
        for (i, name) in names.iter().enumerate() {
            std::fs::write(d.path().join(name), vec![0u8; i % 97]).unwrap();
        }
        names.insert(5, "missing".into());
        let dir = openat(
            CWD,
            d.path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let stats = stat_all(&dir, &names);
        assert_eq!(stats.len(), n + 1);
        assert_eq!(stats[5].as_ref().unwrap_err(), &rustix::io::Errno::NOENT);
        for (k, st) in stats.iter().enumerate().filter(|(k, _)| *k != 5) {
            let i = if k < 5 { k } else { k - 1 };
            assert_eq!(st.as_ref().unwrap().st_size, (i % 97) as i64, "entry {k}");
        }
    }
}
