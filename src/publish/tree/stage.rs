//! Staging a root tree into a fresh directory with rsync `--link-dest` semantics: a regular file
//! whose path, content, mode, owner, mtime and xattrs equal the previous generation's is a hardlink
//! to it; everything else is created anew. The previous generation is never modified (a linked
//! inode gets no metadata call). Hardlinks inside the tree are recreated; directories get their
//! metadata after their children (post-order), so their mtimes stick.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustix::fs::{linkat, mknodat, AtFlags, FileType, Mode, CWD};
use serde::Serialize;

use super::manifest::{EntryKind, TreeEntry, TreeManifest};
use super::meta::{apply, apply_fd};
use super::scan::{entry_path, ScannedTree};
use crate::publish::error::{errno, io_err, PublishError};
use crate::publish::fsops::Fs;
use crate::publish::memo::{open_nofollow, Stamp};
use crate::publish::relpath;

/// What staging does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Mkdir,
    /// Copy the content from the source.
    Copy,
    /// Hardlink the previous generation's identical file.
    Link,
    /// Another name of a file earlier in this tree.
    Hardlink,
    Symlink,
    /// Device node, fifo or socket.
    Special,
}

/// Counts of what staging does (or did).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TreeStats {
    pub copied: usize,
    pub linked: usize,
    pub bytes_copied: u64,
    pub bytes_linked: u64,
    pub dirs: usize,
    pub symlinks: usize,
    pub specials: usize,
    pub hardlinks: usize,
}

/// Hardlink groups of a manifest: first path → the other paths naming the same inode.
pub fn hardlink_groups(m: &TreeManifest) -> HashMap<&str, Vec<&str>> {
    let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &m.entries {
        if let EntryKind::File {
            hardlink_of: Some(first),
            ..
        } = &e.kind
        {
            groups
                .entry(first.as_str())
                .or_default()
                .push(e.path.as_str());
        }
    }
    groups
}

/// The previous generation, as a link source.
#[derive(Debug)]
pub struct Previous<'a> {
    pub dir: PathBuf,
    manifest_file: PathBuf,
    index: HashMap<&'a str, &'a TreeEntry>,
    /// Hardlink groups there (first path → other names).
    groups: HashMap<&'a str, Vec<&'a str>>,
    /// Paths that are a group's other name there.
    secondary: HashSet<&'a str>,
}

impl<'a> Previous<'a> {
    pub fn new(dir: PathBuf, manifest_file: PathBuf, m: &'a TreeManifest) -> Previous<'a> {
        let groups = hardlink_groups(m);
        let secondary = groups.values().flatten().copied().collect();
        Previous {
            dir,
            manifest_file,
            index: m.entries.iter().map(|e| (e.path.as_str(), e)).collect(),
            groups,
            secondary,
        }
    }

    /// The previous generation's file to link for `e` (whose other names in the new tree are
    /// `names`), after checking that it is still what its manifest says (size, mtime, mode,
    /// owner); `None` when it must be copied. A file is linked only if it has exactly the same
    /// other names in both trees: linking could otherwise join unrelated names into one inode.
    fn link_source(&self, e: &TreeEntry, names: &[&str]) -> Result<Option<PathBuf>, PublishError> {
        let Some(old) = self.index.get(e.path.as_str()) else {
            return Ok(None);
        };
        let old_names = self
            .groups
            .get(e.path.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if self.secondary.contains(e.path.as_str()) || old_names != names || !e.same_inode_data(old)
        {
            return Ok(None);
        }
        let path = entry_path(&self.dir, &self.manifest_file, &e.path)?;
        let Ok(md) = fs::symlink_metadata(&path) else {
            return Ok(None);
        };
        let EntryKind::File { size, .. } = &e.kind else {
            return Ok(None);
        };
        let intact = md.is_file()
            && md.size() == *size
            && md.mode() & 0o7777 == e.mode
            && md.uid() == e.uid
            && md.gid() == e.gid
            && md.mtime() == e.mtime
            && md.mtime_nsec() == i64::from(e.mtime_nsec);
        Ok(intact.then_some(path))
    }
}

/// Decides every entry's action and counts them.
pub fn plan(
    scanned: &ScannedTree,
    prev: Option<&Previous>,
) -> Result<(Vec<Action>, TreeStats), PublishError> {
    let mut actions = Vec::with_capacity(scanned.manifest.entries.len());
    let mut st = TreeStats::default();
    let groups = hardlink_groups(&scanned.manifest);
    for e in &scanned.manifest.entries {
        let a = match &e.kind {
            EntryKind::Dir => {
                st.dirs += 1;
                Action::Mkdir
            }
            EntryKind::Symlink { .. } => {
                st.symlinks += 1;
                Action::Symlink
            }
            EntryKind::File {
                hardlink_of: Some(_),
                ..
            } => {
                st.hardlinks += 1;
                Action::Hardlink
            }
            EntryKind::File { size, .. } => {
                let names = groups
                    .get(e.path.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let linked = match prev {
                    Some(p) => p.link_source(e, names)?.is_some(),
                    None => false,
                };
                if linked {
                    st.linked += 1;
                    st.bytes_linked += size;
                    Action::Link
                } else {
                    st.copied += 1;
                    st.bytes_copied += size;
                    Action::Copy
                }
            }
            _ => {
                st.specials += 1;
                Action::Special
            }
        };
        actions.push(a);
    }
    Ok((actions, st))
}

/// Most threads staging a tree: copies are I/O-bound, and beyond this they only contend on the
/// filesystem journal.
pub const STAGE_THREADS_MAX: usize = 8;

/// Creates the tree at `dest` (which must not exist) following `actions` from [`plan`]; returns
/// the counts of what was actually done (a link that fails with EMLINK becomes a copy).
/// Directories are created first, then files, symlinks and special files in parallel, then
/// hardlinks inside the tree, then directory metadata from the deepest up.
pub fn stage(
    fs_: &Fs,
    scanned: &ScannedTree,
    actions: &[Action],
    prev: Option<&Previous>,
    dest: &Path,
) -> Result<TreeStats, PublishError> {
    let mfile = Path::new("<scanned tree>");
    let entries = &scanned.manifest.entries;
    let groups = hardlink_groups(&scanned.manifest);
    let mut st = TreeStats::default();
    let mut dirs = Vec::new();
    let mut parallel = Vec::new();
    let mut hardlinks = Vec::new();
    for (i, (e, action)) in entries.iter().zip(actions).enumerate() {
        match action {
            Action::Mkdir => {
                let path = entry_path(dest, mfile, &e.path)?;
                fs_.step();
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .map_err(io_err("create directory", &path))?;
                dirs.push((path, e));
                st.dirs += 1;
            }
            Action::Hardlink => hardlinks.push(i),
            _ => parallel.push(i),
        }
    }

    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, STAGE_THREADS_MAX);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let worker = || -> Result<TreeStats, PublishError> {
        let mut st = TreeStats::default();
        while !stop.load(Ordering::Relaxed) {
            let Some(&i) = parallel.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let (Some(e), Some(src), Some(action)) =
                (entries.get(i), scanned.sources.get(i), actions.get(i))
            else {
                break;
            };
            let names = groups
                .get(e.path.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let r = stage_one(fs_, e, src, *action, prev, names, dest, &mut st);
            if r.is_err() {
                stop.store(true, Ordering::Relaxed);
                return r.map(|_| st);
            }
        }
        Ok(st)
    };
    let results: Vec<Result<TreeStats, PublishError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(PublishError::BadState {
                        path: dest.to_path_buf(),
                        reason: "internal: a staging thread panicked".into(),
                    })
                })
            })
            .collect()
    });
    for r in results {
        let t = r?;
        st.copied += t.copied;
        st.linked += t.linked;
        st.bytes_copied += t.bytes_copied;
        st.bytes_linked += t.bytes_linked;
        st.symlinks += t.symlinks;
        st.specials += t.specials;
    }

    for i in hardlinks {
        let Some(e) = entries.get(i) else { continue };
        let EntryKind::File {
            hardlink_of: Some(first),
            ..
        } = &e.kind
        else {
            continue;
        };
        let path = entry_path(dest, mfile, &e.path)?;
        let first = entry_path(dest, mfile, first)?;
        fs_.step();
        linkat(CWD, &first, CWD, &path, AtFlags::empty()).map_err(errno("hardlink", &path))?;
        st.hardlinks += 1;
    }
    for (path, e) in dirs.iter().rev() {
        apply(fs_, path, e)?;
    }
    Ok(st)
}

/// Stages one file, symlink or special file.
#[allow(clippy::too_many_arguments)]
fn stage_one(
    fs_: &Fs,
    e: &TreeEntry,
    (src, stamp): &(PathBuf, Stamp),
    action: Action,
    prev: Option<&Previous>,
    names: &[&str],
    dest: &Path,
    st: &mut TreeStats,
) -> Result<(), PublishError> {
    let path = entry_path(dest, Path::new("<scanned tree>"), &e.path)?;
    match (action, &e.kind) {
        (Action::Link, EntryKind::File { size, .. }) => {
            let from = prev.map(|p| p.link_source(e, names)).transpose()?.flatten();
            let linked = match from {
                Some(from) => {
                    fs_.step();
                    match linkat(CWD, &from, CWD, &path, AtFlags::empty()) {
                        Ok(()) => true,
                        // The inode reached the filesystem's link limit: copy instead.
                        Err(rustix::io::Errno::MLINK) => false,
                        Err(err) => return Err(errno("hardlink", &path)(err)),
                    }
                }
                None => false,
            };
            if linked {
                st.linked += 1;
                st.bytes_linked += size;
            } else {
                copy_file(fs_, src, stamp, &path, e)?;
                st.copied += 1;
                st.bytes_copied += size;
            }
        }
        (Action::Copy, EntryKind::File { size, .. }) => {
            copy_file(fs_, src, stamp, &path, e)?;
            st.copied += 1;
            st.bytes_copied += size;
        }
        (Action::Symlink, EntryKind::Symlink { target }) => {
            let raw = relpath::decode(target).ok_or_else(|| PublishError::BadState {
                path: src.clone(),
                reason: format!("symlink target {target:?} is malformed"),
            })?;
            fs_.step();
            std::os::unix::fs::symlink(&raw, &path).map_err(io_err("create symlink", &path))?;
            apply(fs_, &path, e)?;
            st.symlinks += 1;
        }
        (Action::Special, kind) => {
            let (ft, rdev) = match kind {
                EntryKind::Char { rdev } => (FileType::CharacterDevice, *rdev),
                EntryKind::Block { rdev } => (FileType::BlockDevice, *rdev),
                EntryKind::Fifo => (FileType::Fifo, 0),
                _ => (FileType::Socket, 0),
            };
            fs_.step();
            mknodat(CWD, &path, ft, Mode::from_bits_retain(0o600), rdev)
                .map_err(errno("create device node", &path))?;
            apply(fs_, &path, e)?;
            st.specials += 1;
        }
        (a, k) => {
            return Err(PublishError::BadState {
                path: src.clone(),
                reason: format!("internal: action {a:?} does not fit a {}", k.name()),
            })
        }
    }
    Ok(())
}

/// Copies a regular file's content (copy_file_range where possible), checks that the source did
/// not change since it was hashed, then applies the metadata.
fn copy_file(
    fs_: &Fs,
    src: &Path,
    stamp: &Stamp,
    dest: &Path,
    e: &TreeEntry,
) -> Result<(), PublishError> {
    let mut from = open_nofollow(src)?;
    fs_.step();
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(io_err("create", dest))?;
    fs_.step();
    std::io::copy(&mut from, &mut to).map_err(io_err("copy to", dest))?;
    let now = Stamp::of(&from.metadata().map_err(io_err("stat", src))?);
    if now != *stamp {
        return Err(PublishError::SourceChanged {
            path: src.to_path_buf(),
            detail: "size, mtime or ctime differ from the scan".into(),
        });
    }
    apply_fd(fs_, &to, dest, e)
}
