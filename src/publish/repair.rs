//! `verify --repair`: restores every damaged or missing file of every generation the history lists
//! from an intact copy with the recorded hash — the same file in another generation, the build
//! output (boot files), or the root tree in the build cache (tree files) — then verifies again.
//! Candidates are re-hashed before use and hashed again while copied; each restored file is
//! written beside the damaged one and renamed over it ([`tree::restore`](super::tree::restore)),
//! so nodes with the generation mounted read-only never see a partial file, and an inode that
//! other generations share by hardlink is never written to.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{io_err, PublishError};
use super::fsops::{tmp_path, Fs, Lock};
use super::generation::{copy_verified, FileDigest, GenerationRecord};
use super::history::History;
use super::layout::{Layout, GENERATION_RECORD, INITRAMFS, MANIFEST, VMLINUZ};
use super::tree::restore::{intact, restore, Candidate};
use super::tree::scan::entry_path;
use super::tree::Memo;
use super::tree::{EntryKind, TreeEntry, TreeManifest};
use super::verify::{verify_in, VerifyReport};
use super::Targets;

/// The only names repair writes in a TFTP generation directory (a tampered record cannot make it
/// write elsewhere).
const BOOT_FILES: [&str; 3] = [VMLINUZ, INITRAMFS, MANIFEST];

/// Where intact copies may be found besides the other generations.
#[derive(Debug, Clone, Default)]
pub struct RepairSources {
    /// The build output directory `OUT/PROFILE` (its `vmlinuz`, `initramfs.img` and
    /// `manifest.json` have the names the generations use).
    pub build_out: Option<PathBuf>,
    /// The root tree the build output links to (in the build cache).
    pub root_tree: Option<PathBuf>,
}

/// One restored file and where its content came from.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredFile {
    pub path: PathBuf,
    pub source: String,
}

/// One file left damaged, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unrepaired {
    pub path: PathBuf,
    pub reason: String,
}

/// What `verify --repair` did, and the verification after it.
#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub profile: String,
    pub restored: Vec<RestoredFile>,
    /// Entries that were not in their manifest (and temporaries of an interrupted repair).
    pub removed: Vec<PathBuf>,
    pub unrepaired: Vec<Unrepaired>,
    /// `verify` after the repair.
    pub after: VerifyReport,
}

impl RepairReport {
    /// True when everything is intact after the repair (the CLI exits non-zero otherwise).
    pub fn is_clean(&self) -> bool {
        self.unrepaired.is_empty() && self.after.is_clean()
    }
}

impl fmt::Display for RepairReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.restored {
            writeln!(f, "restored {} from {}", r.path.display(), r.source)?;
        }
        for p in &self.removed {
            writeln!(f, "removed {} (not in the manifest)", p.display())?;
        }
        for u in &self.unrepaired {
            writeln!(f, "cannot restore {}: {}", u.path.display(), u.reason)?;
        }
        if !self.restored.is_empty() {
            writeln!(
                f,
                "note: restored files are new inodes; generations that shared a damaged inode by \
                 hardlink no longer share it"
            )?;
        }
        writeln!(f, "after repair:")?;
        write!(f, "{}", self.after)
    }
}

/// Repairs every generation `profile`'s history lists, under the publish lock.
pub fn repair(
    profile: &str,
    t: &Targets,
    sources: &RepairSources,
) -> Result<RepairReport, PublishError> {
    let layout = Layout::new(profile, t)?;
    let fs_ = Fs::new(None);
    let mut memo = Memo::by_inode();
    let mut report = RepairReport {
        profile: profile.to_string(),
        restored: Vec::new(),
        removed: Vec::new(),
        unrepaired: Vec::new(),
        after: VerifyReport::empty(profile),
    };
    // Nothing published: nothing to lock (taking the lock would create the TFTP directory).
    let unlocked = History::load(&layout.history(), profile)?;
    if unlocked.generations.is_empty() {
        report.after = verify_in(&layout, &unlocked, &mut memo)?;
        return Ok(report);
    }
    let _lock = Lock::acquire(&fs_, &layout.lock_path(), None)?;
    let history = History::load(&layout.history(), profile)?;
    let records: Vec<(String, bool, Result<GenerationRecord, String>)> = history
        .generations
        .iter()
        .rev()
        .map(|e| {
            (
                e.generation.clone(),
                e.root,
                read_record(&layout, &e.generation),
            )
        })
        .collect();
    let ctx = Ctx {
        fs_: &fs_,
        layout: &layout,
        records: &records,
        sources,
    };
    for (g, root, record) in &records {
        let record = match record {
            Ok(r) => r,
            Err(why) => {
                report.unrepaired.push(Unrepaired {
                    path: layout.tftp_gen(g),
                    reason: format!("{why}: nothing to restore it to"),
                });
                continue;
            }
        };
        ctx.boot_files(g, record, &mut memo, &mut report)?;
        if *root {
            ctx.tree(g, record, &mut memo, &mut report)?;
        }
    }
    report.after = verify_in(&layout, &history, &mut memo)?;
    Ok(report)
}

/// What every step of a repair needs.
struct Ctx<'a> {
    fs_: &'a Fs,
    layout: &'a Layout,
    /// (generation, has a root tree, record if readable), newest first.
    records: &'a [(String, bool, Result<GenerationRecord, String>)],
    sources: &'a RepairSources,
}

impl Ctx<'_> {
    /// Restores the boot files of `g` and removes files its record does not list.
    fn boot_files(
        &self,
        g: &str,
        record: &GenerationRecord,
        memo: &mut Memo,
        report: &mut RepairReport,
    ) -> Result<(), PublishError> {
        let dir = self.layout.tftp_gen(g);
        for e in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let name = e.map_err(io_err("list", &dir))?.file_name();
            let known = name.to_str().is_some_and(|n| record.files.contains_key(n));
            if name != GENERATION_RECORD && !known {
                let path = dir.join(&name);
                self.fs_.remove(&path)?;
                report.removed.push(path);
            }
        }
        for (name, want) in &record.files {
            let path = dir.join(name);
            if !BOOT_FILES.contains(&name.as_str()) {
                report.unrepaired.push(Unrepaired {
                    path,
                    reason: format!("{GENERATION_RECORD} lists {name:?}, which is no boot file"),
                });
                continue;
            }
            if intact(&path, want, memo).is_ok() {
                continue;
            }
            let mut candidates: Vec<Candidate> = self
                .records
                .iter()
                .filter(|(other, _, r)| {
                    other != g && r.as_ref().ok().and_then(|r| r.files.get(name)) == Some(want)
                })
                .map(|(other, _, _)| {
                    (
                        self.layout.tftp_gen(other).join(name),
                        format!("generation {other}"),
                    )
                })
                .collect();
            if let Some(out) = &self.sources.build_out {
                candidates.push((
                    out.join(name),
                    format!("the build output {}", out.display()),
                ));
            }
            match self.copy_boot_file(&path, want, memo, candidates)? {
                Ok(source) => report.restored.push(RestoredFile { path, source }),
                Err(reason) => report.unrepaired.push(Unrepaired { path, reason }),
            }
        }
        Ok(())
    }

    /// Copies the first intact candidate beside `path` (0644, fsynced) and renames it over.
    fn copy_boot_file(
        &self,
        path: &Path,
        want: &FileDigest,
        memo: &mut Memo,
        candidates: Vec<Candidate>,
    ) -> Result<Result<String, String>, PublishError> {
        let dir = super::fsops::parent_of(path);
        let mut tried = Vec::new();
        for (cand, label) in candidates {
            if let Err(why) = intact(&cand, want, memo) {
                tried.push(format!("{label}: {why}"));
                continue;
            }
            let tmp = tmp_path(dir, "repair");
            match copy_verified(self.fs_, &cand, &tmp, want) {
                Ok(_) => {}
                Err(PublishError::SourceChanged { detail, .. }) => {
                    self.fs_.remove(&tmp)?;
                    tried.push(format!("{label}: changed while copied ({detail})"));
                    continue;
                }
                Err(err) => return Err(err),
            }
            if fs::symlink_metadata(path).is_ok_and(|md| md.is_dir()) {
                self.fs_.remove(path)?;
            }
            self.fs_.rename(&tmp, path)?;
            self.fs_.fsync_dir(dir)?;
            return Ok(Ok(label));
        }
        Ok(Err(super::tree::restore::no_intact_copy(
            &want.blake3,
            &tried,
        )))
    }

    /// Restores the root tree of `g` if its manifest is the one its record names.
    fn tree(
        &self,
        g: &str,
        record: &GenerationRecord,
        memo: &mut Memo,
        report: &mut RepairReport,
    ) -> Result<(), PublishError> {
        let mfile = self.layout.tree_manifest(g);
        let manifest = match read_manifest(&mfile, record) {
            Ok(m) => m,
            Err(why) => {
                report.unrepaired.push(Unrepaired {
                    path: self.layout.nfs_gen(g),
                    reason: format!("{why}: nothing to restore it to"),
                });
                return Ok(());
            }
        };
        let others = self.other_trees(g);
        let root = self.layout.nfs_gen(g);
        let mut candidates = |e: &TreeEntry| -> Vec<Candidate> {
            let EntryKind::File { blake3, .. } = &e.kind else {
                return Vec::new();
            };
            let mut out: Vec<Candidate> = Vec::new();
            // The damaged file itself when only its metadata changed.
            if let Ok(p) = entry_path(&root, &mfile, &e.path) {
                out.push((p, "its own content (metadata from the manifest)".into()));
            }
            for (other, path) in others.get(blake3.as_str()).into_iter().flatten() {
                out.push((path.clone(), format!("generation {other}")));
            }
            if let Some(p) = self
                .sources
                .root_tree
                .as_ref()
                .and_then(|r| entry_path(r, &mfile, &e.path).ok())
            {
                out.push((p, "the build cache's root tree".into()));
            }
            out
        };
        let done = restore(self.fs_, &root, &mfile, &manifest, memo, &mut candidates)?;
        report.restored.extend(
            done.restored
                .into_iter()
                .map(|(path, source)| RestoredFile { path, source }),
        );
        report.removed.extend(done.removed);
        report.unrepaired.extend(
            done.unrepaired
                .into_iter()
                .map(|(path, reason)| Unrepaired { path, reason }),
        );
        Ok(())
    }

    /// blake3 → (generation, path) of every regular file in the other generations' trees.
    fn other_trees(&self, g: &str) -> HashMap<String, Vec<(String, PathBuf)>> {
        let mut out: HashMap<String, Vec<(String, PathBuf)>> = HashMap::new();
        for (other, root, record) in self.records {
            let (true, Ok(record)) = (*root && other != g, record) else {
                continue;
            };
            let mfile = self.layout.tree_manifest(other);
            // A generation whose manifest is unusable offers no copies (its own repair says why).
            let Ok(m) = read_manifest(&mfile, record) else {
                continue;
            };
            let dir = self.layout.nfs_gen(other);
            for e in m.entries {
                if let (EntryKind::File { blake3, .. }, Ok(p)) =
                    (&e.kind, entry_path(&dir, &mfile, &e.path))
                {
                    out.entry(blake3.clone())
                        .or_default()
                        .push((other.clone(), p));
                }
            }
        }
        out
    }
}

/// The record of `g`, if its directory is a real directory (repair writes into it) and the record
/// names `g`; else why not.
fn read_record(layout: &Layout, g: &str) -> Result<GenerationRecord, String> {
    let dir = layout.tftp_gen(g);
    match fs::symlink_metadata(&dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let r = GenerationRecord::read(&dir.join(GENERATION_RECORD)).map_err(|e| e.to_string())?;
    if r.generation != g || r.profile != layout.profile {
        return Err(format!(
            "{GENERATION_RECORD} names {}/{}, not {}/{g}",
            r.profile, r.generation, layout.profile
        ));
    }
    Ok(r)
}

/// The tree manifest at `file` if it is the one `record` names (by digest), else why not.
fn read_manifest(file: &Path, record: &GenerationRecord) -> Result<TreeManifest, String> {
    let bytes = fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let m = TreeManifest::from_bytes(&bytes)
        .map_err(|e| format!("cannot parse {}: {e}", file.display()))?;
    let want = record.root.as_ref().map(|r| r.digest.as_str());
    if want != Some(m.digest().as_str()) {
        return Err(format!(
            "{} is not the manifest generation.json names",
            file.display()
        ));
    }
    Ok(m)
}
