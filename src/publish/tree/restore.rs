//! Restoring one published root tree to its manifest in place, safely for nodes that have it
//! mounted read-only: every damaged or missing entry is created under a temporary name beside it
//! (a file copied from an intact copy, hashed while copying, with owner, mode, xattrs and mtime
//! from the manifest, fsynced), then renamed over the damaged name. Nothing is ever written into
//! an existing inode: the damaged inode may be shared by hardlink with other generations, which
//! keep it until they are repaired themselves (repair breaks that sharing: each restored file is
//! a new inode). Unexpected entries are removed; directories get their manifest metadata back
//! after their entries changed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{linkat, AtFlags, CWD};

use super::diff::{diff_entries, ProblemKind};
use super::manifest::{EntryKind, TreeEntry, TreeManifest, ROOT_PATH};
use super::meta::{self, apply_fd, special_node};
use super::scan::{entry_path, scan, Memo};
use crate::fsx::inode::Node;
use crate::fsx::stamp::Stamp;
use crate::publish::error::{errno, hash_err, PublishError};
use crate::publish::fsops::oplog::FsOp;
use crate::publish::fsops::{parent_of, tmp_path, Fs};
use crate::publish::generation::{copy_verified, FileDigest};
use crate::publish::relpath;

/// A place an intact copy of a file may be: (path, how to name it in the report).
pub type Candidate = (PathBuf, String);

/// What restoring a tree did.
#[derive(Debug, Default)]
pub struct Restored {
    /// (path, source) of each restored entry.
    pub restored: Vec<(PathBuf, String)>,
    /// Unexpected entries removed.
    pub removed: Vec<PathBuf>,
    /// (path, why) of each entry left damaged.
    pub unrepaired: Vec<(PathBuf, String)>,
}

/// The tree being restored.
struct Tree<'a> {
    fs_: &'a Fs,
    root: &'a Path,
    manifest_file: &'a Path,
}

impl Tree<'_> {
    fn path(&self, rel: &str) -> Result<PathBuf, PublishError> {
        entry_path(self.root, self.manifest_file, rel)
    }
}

/// The manifest path of the directory holding `rel`.
fn parent_rel(rel: &str) -> &str {
    match rel.rfind('/') {
        Some(i) => rel.get(..i).unwrap_or(ROOT_PATH),
        None => ROOT_PATH,
    }
}

/// Restores the tree `root` (published with `manifest`, read from `manifest_file`) from the
/// intact copies `candidates` names for each damaged file; candidates are re-hashed through
/// `memo` and hashed again while copied.
pub fn restore(
    fs_: &Fs,
    root: &Path,
    manifest_file: &Path,
    manifest: &TreeManifest,
    memo: &mut Memo,
    candidates: &mut dyn FnMut(&TreeEntry) -> Vec<Candidate>,
) -> Result<Restored, PublishError> {
    let t = Tree {
        fs_,
        root,
        manifest_file,
    };
    if fs::symlink_metadata(root).is_err() {
        make_dir(fs_, root)?;
    }
    let actual = scan(root, memo)?.manifest;
    let found: HashMap<&str, &TreeEntry> = actual
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    let (damaged, unexpected) = classify(manifest, &actual);
    let mut out = Restored::default();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // Children before their parents (walk order reversed).
    for rel in unexpected.iter().rev() {
        let path = t.path(rel)?;
        if fs_.remove(&path)? {
            out.removed.push(path);
        }
        touched.insert(parent_rel(rel).to_string());
    }
    let mut done: HashSet<&str> = HashSet::new();
    for e in manifest
        .entries
        .iter()
        .filter(|e| damaged.contains(&e.path))
    {
        if matches!(
            e.kind,
            EntryKind::File {
                hardlink_of: Some(_),
                ..
            }
        ) {
            continue;
        }
        let path = t.path(&e.path)?;
        let was_dir = found.get(e.path.as_str()).map(|f| f.kind == EntryKind::Dir);
        touched.insert(parent_rel(&e.path).to_string());
        if e.kind == EntryKind::Dir {
            touched.insert(e.path.clone());
            out.restored
                .push((path.clone(), restore_dir(fs_, &path, was_dir)?));
            continue;
        }
        if was_dir == Some(true) {
            fs_.remove(&path)?;
        }
        match restore_entry(&t, &path, e, memo, candidates(e))? {
            Ok(source) => {
                done.insert(e.path.as_str());
                out.restored.push((path, source));
            }
            Err(why) => out.unrepaired.push((path, why)),
        }
    }
    relink_members(&t, manifest, &damaged, &done, &mut touched, &mut out)?;
    reapply_dirs(&t, manifest, &touched)?;
    Ok(out)
}

/// Manifest paths of the damaged or missing entries, and of the unexpected ones (walk order).
fn classify(expected: &TreeManifest, actual: &TreeManifest) -> (HashSet<String>, Vec<String>) {
    let mut damaged = HashSet::new();
    let mut unexpected = Vec::new();
    for (rel, kind) in diff_entries(expected, actual) {
        if kind == ProblemKind::Unexpected {
            unexpected.push(rel);
        } else {
            damaged.insert(rel);
        }
    }
    (damaged, unexpected)
}

/// Creates a directory (0700 until its metadata is applied).
fn make_dir(fs_: &Fs, path: &Path) -> Result<(), PublishError> {
    meta::mkdir(fs_, path)
}

/// Makes `path` a directory again (its metadata is applied later); what the report says.
fn restore_dir(fs_: &Fs, path: &Path, was_dir: Option<bool>) -> Result<String, PublishError> {
    if was_dir == Some(true) {
        return Ok("its metadata, from the manifest".into());
    }
    fs_.remove(path)?;
    make_dir(fs_, path)?;
    Ok("created from the manifest".into())
}

/// Gives every directory whose entries or metadata changed its manifest metadata back (the
/// deepest first) and fsyncs it.
fn reapply_dirs(
    t: &Tree,
    manifest: &TreeManifest,
    touched: &BTreeSet<String>,
) -> Result<(), PublishError> {
    let index: HashMap<&str, &TreeEntry> = manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    for rel in touched.iter().rev() {
        // A directory that is not in the manifest was removed as unexpected.
        let Some(e) = index.get(rel.as_str()) else {
            continue;
        };
        let path = t.path(rel)?;
        meta::reapply(t.fs_, &path, e)?;
        t.fs_.fsync_dir(&path)?;
    }
    Ok(())
}

/// Other names of hardlink groups: linked again to their (restored or intact) first name when
/// they are damaged or their first name was restored (a new inode).
fn relink_members(
    t: &Tree,
    manifest: &TreeManifest,
    damaged: &HashSet<String>,
    done: &HashSet<&str>,
    touched: &mut BTreeSet<String>,
    out: &mut Restored,
) -> Result<(), PublishError> {
    for e in &manifest.entries {
        let EntryKind::File {
            hardlink_of: Some(first),
            ..
        } = &e.kind
        else {
            continue;
        };
        if !damaged.contains(&e.path) && !done.contains(first.as_str()) {
            continue;
        }
        let path = t.path(&e.path)?;
        if damaged.contains(first) && !done.contains(first.as_str()) {
            out.unrepaired.push((
                path,
                format!("its first name {first} could not be restored"),
            ));
            continue;
        }
        let from = t.path(first)?;
        let dir = parent_of(&path);
        let tmp = tmp_path(dir, "repair");
        t.fs_.step();
        linkat(CWD, &from, CWD, &tmp, AtFlags::empty()).map_err(errno("hardlink", &tmp))?;
        t.fs_.record(|| FsOp::Link {
            from: from.clone(),
            to: tmp.clone(),
        });
        t.fs_.rename(&tmp, &path)?;
        t.fs_.fsync_dir(dir)?;
        touched.insert(parent_rel(&e.path).to_string());
        out.restored
            .push((path, format!("a hardlink to {}", from.display())));
    }
    Ok(())
}

/// Creates `e` under a temporary name beside `path` and renames it over `path`; the source named
/// in the report, or why no intact copy was found.
fn restore_entry(
    t: &Tree,
    path: &Path,
    e: &TreeEntry,
    memo: &mut Memo,
    candidates: Vec<Candidate>,
) -> Result<Result<String, String>, PublishError> {
    let dir = parent_of(path);
    let tmp = tmp_path(dir, "repair");
    let source = match &e.kind {
        EntryKind::File { size, blake3, .. } => {
            let want = FileDigest {
                size: *size,
                blake3: blake3.clone(),
            };
            match copy_first_intact(t.fs_, &tmp, e, &want, memo, candidates)? {
                Ok(source) => source,
                Err(why) => return Ok(Err(why)),
            }
        }
        EntryKind::Symlink { target } => {
            let raw = relpath::decode(target).ok_or_else(|| PublishError::BadState {
                path: t.manifest_file.to_path_buf(),
                reason: format!("symlink target {target:?} is malformed"),
            })?;
            let node = Node::Symlink(raw.as_bytes());
            meta::create(t.fs_, (CWD, tmp.as_os_str()), &tmp, node, e)?;
            "recreated from the manifest".to_string()
        }
        EntryKind::Dir => {
            return Err(PublishError::BadState {
                path: path.to_path_buf(),
                reason: "internal: a directory among the entries to copy".into(),
            })
        }
        kind => {
            meta::create(t.fs_, (CWD, tmp.as_os_str()), &tmp, special_node(kind), e)?;
            "recreated from the manifest".to_string()
        }
    };
    t.fs_.rename(&tmp, path)?;
    t.fs_.fsync_dir(dir)?;
    Ok(Ok(source))
}

/// Copies the first candidate whose content is `want` to the new file `tmp` with `e`'s
/// metadata, fsynced; the candidate's name, or what each candidate was found to be.
fn copy_first_intact(
    fs_: &Fs,
    tmp: &Path,
    e: &TreeEntry,
    want: &FileDigest,
    memo: &mut Memo,
    candidates: Vec<Candidate>,
) -> Result<Result<String, String>, PublishError> {
    let mut tried = Vec::new();
    for (cand, label) in candidates {
        match intact(&cand, want, memo) {
            Ok(()) => {}
            Err(why) => {
                tried.push(format!("{label}: {why}"));
                continue;
            }
        }
        // A failure other than a changed source leaves the temporary, which the next repair
        // removes (verify names it).
        match copy_verified(fs_, &cand, tmp, want) {
            Ok(f) => {
                apply_fd(fs_, &f, tmp, e)?;
                fs_.step();
                fs_.fsync_file(&f, tmp)?;
                return Ok(Ok(label));
            }
            Err(PublishError::SourceChanged { detail, .. }) => {
                fs_.remove(tmp)?;
                tried.push(format!("{label}: changed while copied ({detail})"));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Err(no_intact_copy(&want.blake3, &tried)))
}

/// Why nothing could be restored: the wanted hash and every candidate tried.
pub(crate) fn no_intact_copy(blake3: &str, tried: &[String]) -> String {
    let tried = if tried.is_empty() {
        "no candidate".to_string()
    } else {
        tried.join("; ")
    };
    format!("no intact copy with blake3 {blake3} ({tried})")
}

/// Whether `path` is a regular file with exactly the content `want` (re-hashed), or why not.
pub fn intact(path: &Path, want: &FileDigest, memo: &mut Memo) -> Result<(), String> {
    let md = fs::symlink_metadata(path).map_err(|e| format!("{} ({e})", path.display()))?;
    if !md.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if md.len() != want.size {
        return Err(format!("{} has {} bytes", path.display(), md.len()));
    }
    let got = memo
        .hash_nofollow(path, &Stamp::of(&md))
        .map_err(hash_err(path))
        .map_err(|e| format!("{} ({e})", path.display()))?;
    if got != want.blake3 {
        return Err(format!("{} has blake3 {got}", path.display()));
    }
    Ok(())
}
