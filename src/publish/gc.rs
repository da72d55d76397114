//! `gc --keep N`: deletes old generations, never one that a consumer references, the active one or
//! its rollback target; also deletes unlisted generation parts (an interrupted publish) and
//! temporaries. A generation leaves the history before its files go, and each part is renamed to a
//! temporary name before deletion, so a crash mid-gc never leaves a half-deleted generation under
//! its real name.
//!
//! What goes is decided once, by [`select`], before anything is touched: `gc` deletes exactly
//! that selection and [`gc_dry_run`] only reports it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::activate::references;
use super::engine::leftover_dirs;
use super::error::{io_err, PublishError};
use super::fsops::{list_tmp, Fs, Lock};
use super::history::History;
use super::layout::{is_generation_id, Layout, TREE_MANIFEST_SUFFIX};
use super::report::GcReport;
use super::{PublishOptions, Targets};

/// What a gc of one profile removes, decided before anything is removed.
struct Selection {
    /// Generations leaving the history, oldest first, with their existing parts.
    removed: BTreeMap<String, Vec<PathBuf>>,
    /// The same generations in history order.
    order: Vec<String>,
    /// Temporaries and parts of unlisted, unreferenced generations, in removal order.
    leftovers: Vec<PathBuf>,
    warnings: Vec<String>,
}

/// Keeps the newest `keep` generations of `profile` (plus the active one, its rollback target and
/// anything referenced) and deletes the rest.
pub fn gc(
    profile: &str,
    t: &Targets,
    keep: usize,
    opts: &PublishOptions,
) -> Result<GcReport, PublishError> {
    let fs_ = Fs::new(opts.crash_after_ops);
    let layout = Layout::new(profile, t)?;
    let _lock = Lock::acquire(&fs_, &layout.lock_path(), opts.on_lock_wait)?;
    collect(&fs_, &layout, keep)
}

/// [`gc`] under a lock the caller holds (publish applies `publish.keep` this way).
pub(crate) fn collect(fs_: &Fs, layout: &Layout, keep: usize) -> Result<GcReport, PublishError> {
    let profile = layout.profile.as_str();
    let mut history = History::load(&layout.history(), profile)?;
    let sel = select(layout, &history, keep)?;
    if !sel.order.is_empty() {
        history
            .generations
            .retain(|e| !sel.removed.contains_key(&e.generation));
        history.save(fs_, &layout.history())?;
    }
    for g in &sel.order {
        remove_generation(fs_, layout, g)?;
    }
    for v in &sel.leftovers {
        fs_.remove(v)?;
    }
    Ok(report(profile, &history, sel, false, fs_.ops()))
}

/// Reports what [`gc`] with the same arguments would remove, and removes nothing. It only reads:
/// it takes no lock (which would create the lock file), so a publish running meanwhile can make
/// the listing stale.
pub fn gc_dry_run(profile: &str, t: &Targets, keep: usize) -> Result<GcReport, PublishError> {
    let layout = Layout::new(profile, t)?;
    let mut history = History::load(&layout.history(), profile)?;
    let sel = select(&layout, &history, keep)?;
    history
        .generations
        .retain(|e| !sel.removed.contains_key(&e.generation));
    Ok(report(profile, &history, sel, true, 0))
}

fn report(profile: &str, kept: &History, sel: Selection, dry_run: bool, fs_ops: u64) -> GcReport {
    GcReport {
        profile: profile.to_string(),
        dry_run,
        removed: sel.order,
        removed_parts: sel.removed,
        kept: kept
            .generations
            .iter()
            .map(|e| e.generation.clone())
            .collect(),
        cleaned: sel.leftovers,
        warnings: sel.warnings,
        fs_ops,
    }
}

/// The selection rules: keep the newest `keep`, the active generation, its rollback target and
/// every listed generation a consumer references; remove the other listed generations, the
/// temporaries, and the parts of generations the history does not list and nothing references.
fn select(layout: &Layout, history: &History, keep: usize) -> Result<Selection, PublishError> {
    let refs = references(layout, history, &[])?;
    let mut warnings = Vec::new();
    let mut keep_set: BTreeSet<String> = history
        .generations
        .iter()
        .rev()
        .take(keep)
        .map(|e| e.generation.clone())
        .collect();
    keep_set.extend(history.active.clone());
    keep_set.extend(history.rollback_target().map(str::to_string));
    for (g, consumers) in &refs {
        if history.entry(g).is_some() {
            keep_set.insert(g.clone());
        } else {
            warnings.push(format!(
                "{} reference(s) unlisted generation {g}; kept",
                consumers.join(", ")
            ));
        }
    }
    let order: Vec<String> = history
        .generations
        .iter()
        .map(|e| e.generation.clone())
        .filter(|g| !keep_set.contains(g))
        .collect();
    let removed = order
        .iter()
        .map(|g| Ok((g.clone(), existing_parts(layout, g)?)))
        .collect::<Result<_, PublishError>>()?;
    let mut leftovers = Vec::new();
    for d in leftover_dirs(layout, history, &[]) {
        leftovers.extend(list_tmp(&d)?);
    }
    let kept_listed: BTreeSet<&str> = history
        .generations
        .iter()
        .map(|e| e.generation.as_str())
        .filter(|g| keep_set.contains(*g))
        .collect();
    for dir in [layout.tftp_profile(), layout.nfs_profile()] {
        leftovers.extend(unlisted_parts(&dir, |g| {
            // Parts of the generations removed above go with them.
            !kept_listed.contains(g) && !refs.contains_key(g) && !order.iter().any(|o| o == g)
        })?);
    }
    Ok(Selection {
        removed,
        order,
        leftovers,
        warnings,
    })
}

/// The entries of `dir` named after a generation (or its tree manifest) for which `orphan` holds.
fn unlisted_parts(dir: &Path, orphan: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, PublishError> {
    super::fsops::list_matching(dir, |name| {
        let name = name.to_string_lossy();
        let g = name.strip_suffix(TREE_MANIFEST_SUFFIX).unwrap_or(&name);
        is_generation_id(g) && orphan(g)
    })
}

/// A generation's parts in removal order: the TFTP directory first (menus name it), then the tree.
fn parts(layout: &Layout, g: &str) -> [PathBuf; 3] {
    [
        layout.tftp_gen(g),
        layout.nfs_gen(g),
        layout.tree_manifest(g),
    ]
}

/// The parts of generation `g` that exist (an interrupted publish or gc can leave some missing).
fn existing_parts(layout: &Layout, g: &str) -> Result<Vec<PathBuf>, PublishError> {
    let mut out = Vec::new();
    for p in parts(layout, g) {
        match fs::symlink_metadata(&p) {
            Ok(_) => out.push(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("stat", &p)(e)),
        }
    }
    Ok(out)
}

/// Deletes a generation's parts.
fn remove_generation(fs_: &Fs, layout: &Layout, g: &str) -> Result<(), PublishError> {
    for p in parts(layout, g) {
        fs_.remove(&p)?;
    }
    Ok(())
}
