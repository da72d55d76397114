//! The active generation of every profile published into a TFTP root, read from the targets
//! alone (each profile's `history.json` and its active generation's `generation.json`): what the
//! shared menus, exports and DHCP snippets are rendered from. A history or record that cannot be
//! read is an error naming it, never a profile silently left out of the menus.

use std::collections::BTreeSet;
use std::fs;

use super::activate::paths_for;
use super::error::{io_err, PublishError};
use super::generation::GenerationRecord;
use super::history::History;
use super::layout::{validate_profile, Layout, GENERATION_RECORD, HISTORY, TFTP_SUBDIR};
use super::{GenerationPaths, MenuFiles, Targets};

/// One profile's active generation.
#[derive(Debug, Clone)]
pub struct ActiveGeneration {
    pub paths: GenerationPaths,
    pub record: GenerationRecord,
    pub activated_ns: u64,
}

/// Every profile published into `t` with its history, sorted by profile name.
fn published(t: &Targets) -> Result<Vec<(Layout, History)>, PublishError> {
    let base = t.tftp.join(TFTP_SUBDIR);
    let rd = match fs::read_dir(&base) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", &base)(e)),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(io_err("list", &base))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let is_profile = validate_profile(&name).is_ok()
            && e.file_type().map_err(io_err("stat", &e.path()))?.is_dir()
            && e.path().join(HISTORY).exists();
        if is_profile {
            names.push(name);
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let layout = Layout::new(&name, t)?;
            let history = History::load(&layout.history(), &name)?;
            Ok((layout, history))
        })
        .collect()
}

/// Menu files some publish wrote (any profile's history lists them) that `menus` no longer
/// renders and that still exist: per-MAC files of a node removed from the inventory, or of one
/// the generation rolled back to does not list. Activation removes them.
pub fn stale_menus(t: &Targets, menus: &MenuFiles) -> Result<Vec<String>, PublishError> {
    let rendered: BTreeSet<&str> = menus.files.iter().map(|(p, _)| p.as_str()).collect();
    let mut stale = BTreeSet::new();
    for (layout, history) in published(t)? {
        for rel in history
            .consumers
            .iter()
            .filter(|c| !rendered.contains(c.as_str()))
        {
            if fs::symlink_metadata(layout.menu(rel)).is_ok() {
                stale.insert(rel.clone());
            }
        }
    }
    Ok(stale.into_iter().collect())
}

/// Every published profile's active generation, sorted by profile name.
pub fn active_generations(t: &Targets) -> Result<Vec<ActiveGeneration>, PublishError> {
    let mut out = Vec::new();
    for (layout, history) in published(t)? {
        let name = layout.profile.clone();
        let Some(active) = history.active.clone() else {
            continue;
        };
        let root = history.entry(&active).is_some_and(|e| e.root);
        let file = layout.tftp_gen(&active).join(GENERATION_RECORD);
        let record = GenerationRecord::read(&file)?;
        if record.profile != name || record.generation != active {
            return Err(PublishError::BadState {
                path: file,
                reason: format!(
                    "the record is of {}/{}, not of {name}/{active}",
                    record.profile, record.generation
                ),
            });
        }
        let mut paths = paths_for(&layout, &active, root, &record.cmdline);
        paths.boot = record.boot.clone();
        out.push(ActiveGeneration {
            paths,
            record,
            activated_ns: history.activated_ns,
        });
    }
    Ok(out)
}
