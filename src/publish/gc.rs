//! `gc --keep N`: deletes old generations, never one that a consumer references, the active one or
//! its rollback target; also deletes unlisted generation parts (an interrupted publish) and
//! temporaries. A generation leaves the history before its files go, and each part is renamed to a
//! temporary name before deletion, so a crash mid-gc never leaves a half-deleted generation under
//! its real name.

use std::collections::BTreeSet;
use std::fs;

use super::activate::references;
use super::engine::clean_leftovers;
use super::error::{io_err, PublishError};
use super::fsops::{Fs, Lock};
use super::history::History;
use super::layout::{is_generation_id, Layout, TREE_MANIFEST_SUFFIX};
use super::report::GcReport;
use super::{PublishOptions, Targets};

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
    let _lock = Lock::acquire(&fs_, &layout.lock_path())?;
    let mut report = collect(&fs_, &layout, keep)?;
    report.fs_ops = fs_.ops();
    Ok(report)
}

/// [`gc`] under a lock the caller holds (publish applies `publish.keep` this way).
pub(crate) fn collect(fs_: &Fs, layout: &Layout, keep: usize) -> Result<GcReport, PublishError> {
    let profile = layout.profile.as_str();
    let mut history = History::load(&layout.history(), profile)?;
    let refs = references(layout, &history, &[])?;
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
    let removed: Vec<String> = history
        .generations
        .iter()
        .map(|e| e.generation.clone())
        .filter(|g| !keep_set.contains(g))
        .collect();
    if !removed.is_empty() {
        history
            .generations
            .retain(|e| keep_set.contains(&e.generation));
        history.save(fs_, &layout.history())?;
    }
    for g in &removed {
        remove_generation(fs_, layout, g)?;
    }

    let mut cleaned = clean_leftovers(fs_, layout, &history, &[])?;
    // Parts of generations that the history does not list and no consumer references.
    let listed: BTreeSet<&str> = history
        .generations
        .iter()
        .map(|e| e.generation.as_str())
        .collect();
    for dir in [layout.tftp_profile(), layout.nfs_profile()] {
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        let mut victims = Vec::new();
        for e in rd {
            let e = e.map_err(io_err("list", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let g = name.strip_suffix(TREE_MANIFEST_SUFFIX).unwrap_or(&name);
            if is_generation_id(g) && !listed.contains(g) && !refs.contains_key(g) {
                victims.push(e.path());
            }
        }
        victims.sort();
        for v in victims {
            fs_.remove(&v)?;
            cleaned.push(v);
        }
    }
    Ok(GcReport {
        profile: profile.to_string(),
        removed,
        kept: history
            .generations
            .iter()
            .map(|e| e.generation.clone())
            .collect(),
        cleaned,
        warnings,
        fs_ops: fs_.ops(),
    })
}

/// Deletes a generation's parts: the TFTP directory first (menus name it), then the tree.
fn remove_generation(fs_: &Fs, layout: &Layout, g: &str) -> Result<(), PublishError> {
    fs_.remove(&layout.tftp_gen(g))?;
    fs_.remove(&layout.nfs_gen(g))?;
    fs_.remove(&layout.tree_manifest(g))?;
    Ok(())
}
