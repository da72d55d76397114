//! Deciding, from the manifests alone, what staging does with each entry of a new root tree
//! (rsync `--link-dest` semantics): an entry whose path, content, mode, owner, mtime and xattrs
//! equal the previous generation's is a hardlink to the previous inode, whatever its type but a
//! directory (regular files, symlinks, device nodes, fifos, sockets); everything else is created
//! anew. The previous generation's inodes are checked against its manifest when they are linked
//! ([`relink`](super::relink)): a damaged one is copied instead, and reported.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use rustix::fs::{FileType, Stat};
use serde::Serialize;

use super::manifest::{EntryKind, TreeEntry, TreeManifest};
use super::scan::ScannedTree;

/// What staging does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Mkdir,
    /// Copy the content from the source.
    Copy,
    /// Hardlink the previous generation's identical inode (file, symlink or special file).
    Link,
    /// Another name of a file earlier in this tree.
    Hardlink,
    Symlink,
    /// Device node, fifo or socket.
    Special,
}

/// Counts of what staging does (or did). `copied` and `linked` count regular files (`linked`:
/// hardlinked from the previous generation); `symlinks` and `specials` count every symlink and
/// special file, `linked_other` those of them hardlinked from the previous generation.
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
    pub linked_other: usize,
    /// Previous-generation entries re-read before linking: their stat stamp was not the one the
    /// memo of published inodes recorded (see [`relink`](super::relink)).
    pub rehashed: usize,
}

impl TreeStats {
    /// Adds the counts of `o` (one staging thread's work).
    pub fn add(&mut self, o: &TreeStats) {
        self.copied += o.copied;
        self.linked += o.linked;
        self.bytes_copied += o.bytes_copied;
        self.bytes_linked += o.bytes_linked;
        self.dirs += o.dirs;
        self.symlinks += o.symlinks;
        self.specials += o.specials;
        self.hardlinks += o.hardlinks;
        self.linked_other += o.linked_other;
        self.rehashed += o.rehashed;
    }

    /// Counts an entry created anew (`Link` entries are counted by [`TreeStats::linked_one`]).
    pub fn created(&mut self, e: &TreeEntry) {
        match &e.kind {
            EntryKind::Dir => self.dirs += 1,
            EntryKind::File {
                hardlink_of: Some(_),
                ..
            } => self.hardlinks += 1,
            EntryKind::File { size, .. } => {
                self.copied += 1;
                self.bytes_copied += size;
            }
            EntryKind::Symlink { .. } => self.symlinks += 1,
            _ => self.specials += 1,
        }
    }

    /// Counts an entry linked from the previous generation.
    pub fn linked_one(&mut self, e: &TreeEntry) {
        match &e.kind {
            EntryKind::File { size, .. } => {
                self.linked += 1;
                self.bytes_linked += size;
            }
            EntryKind::Symlink { .. } => {
                self.symlinks += 1;
                self.linked_other += 1;
            }
            _ => {
                self.specials += 1;
                self.linked_other += 1;
            }
        }
    }
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
    pub manifest_file: PathBuf,
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

    /// True when the previous generation's entry at `e`'s path can be linked for `e` (whose
    /// other names in the new tree are `names`). A file is linked only if it has exactly the same
    /// other names in both trees: linking could otherwise join unrelated names into one inode.
    pub fn can_link(&self, e: &TreeEntry, names: &[&str]) -> bool {
        let Some(old) = self.index.get(e.path.as_str()) else {
            return false;
        };
        let old_names = self
            .groups
            .get(e.path.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        !self.secondary.contains(e.path.as_str()) && old_names == names && e.same_inode_data(old)
    }

    /// True when `st` (an lstat of the previous generation's entry) still is what its manifest
    /// says for `e`: type, size, rdev, mode, owner and mtime.
    pub fn intact(e: &TreeEntry, st: &Stat) -> bool {
        let ft = FileType::from_raw_mode(st.st_mode);
        let kind_ok = match &e.kind {
            EntryKind::File { size, .. } => {
                ft == FileType::RegularFile && u64::try_from(st.st_size).ok() == Some(*size)
            }
            EntryKind::Symlink { .. } => ft == FileType::Symlink,
            EntryKind::Char { rdev } => ft == FileType::CharacterDevice && st.st_rdev == *rdev,
            EntryKind::Block { rdev } => ft == FileType::BlockDevice && st.st_rdev == *rdev,
            EntryKind::Fifo => ft == FileType::Fifo,
            EntryKind::Socket => ft == FileType::Socket,
            EntryKind::Dir => false,
        };
        kind_ok
            && (ft == FileType::Symlink || st.st_mode & 0o7777 == e.mode)
            && st.st_uid == e.uid
            && st.st_gid == e.gid
            && st.st_mtime == e.mtime
            && st.st_mtime_nsec == u64::from(e.mtime_nsec)
    }
}

/// Decides every entry's action and counts them (reads no file: a previous inode found tampered
/// with while staging is copied instead, so the counts are what staging does when the previous
/// generation is intact).
pub fn plan(scanned: &ScannedTree, prev: Option<&Previous>) -> (Vec<Action>, TreeStats) {
    let mut actions = Vec::with_capacity(scanned.manifest.entries.len());
    let mut st = TreeStats::default();
    let groups = hardlink_groups(&scanned.manifest);
    for e in &scanned.manifest.entries {
        let names = groups
            .get(e.path.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let linkable = !matches!(
            e.kind,
            EntryKind::Dir
                | EntryKind::File {
                    hardlink_of: Some(_),
                    ..
                }
        );
        if linkable && prev.is_some_and(|p| p.can_link(e, names)) {
            st.linked_one(e);
            actions.push(Action::Link);
            continue;
        }
        st.created(e);
        actions.push(match &e.kind {
            EntryKind::Dir => Action::Mkdir,
            EntryKind::File {
                hardlink_of: Some(_),
                ..
            } => Action::Hardlink,
            EntryKind::File { .. } => Action::Copy,
            EntryKind::Symlink { .. } => Action::Symlink,
            _ => Action::Special,
        });
    }
    (actions, st)
}
