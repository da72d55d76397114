//! Merging overlays into a [`Plan`]: template rendering, conflict detection, ownership overrides.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::scan::{scan, Found, FoundKind};
use super::template::{Renderer, TEMPLATE_SUFFIX};
use super::{EntryContent, OverlayError, OverlaySpec, Ownership, Plan, PlanEntry, Source, Vars};
use crate::image::path as image_path;

/// Permission bits including setuid, setgid and sticky.
const PERM_MASK: u32 = 0o7777;
/// Mode recorded for symlinks, as Linux reports them.
const SYMLINK_MODE: u32 = 0o777;

/// Reads, renders and merges `overlays` in order (later overlays go on top).
///
/// `overrides` sets mode/uid/gid per image path (each path must be provided by an overlay);
/// `allow_override` lists the image paths a later overlay may replace. File owners are kept
/// when running as root, else every entry is owned by root before `overrides` apply.
pub fn plan(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    vars: &Vars,
    allow_override: &[String],
) -> Result<Plan, OverlayError> {
    let keep_owners = rustix::process::geteuid().is_root();
    plan_with(overlays, overrides, vars, allow_override, keep_owners)
}

/// [`plan`] with the owner policy chosen by the caller (tests cover both without root).
pub(crate) fn plan_with(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    vars: &Vars,
    allow_override: &[String],
    keep_owners: bool,
) -> Result<Plan, OverlayError> {
    let renderer = Renderer::new(vars)?;
    merge(
        overlays,
        overrides,
        allow_override,
        keep_owners,
        Some(&renderer),
    )
}

/// [`plan_with`] without rendering: a template's entry holds its source bytes under the path
/// without the suffix (`source.path` keeps it; see [`is_template`]).
pub(crate) fn plan_unrendered(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    allow_override: &[String],
    keep_owners: bool,
) -> Result<Plan, OverlayError> {
    merge(overlays, overrides, allow_override, keep_owners, None)
}

/// Whether a plan entry is a template's (its rendered or unrendered bytes).
pub(crate) fn is_template(e: &PlanEntry) -> bool {
    matches!(e.content, EntryContent::File(_)) && e.source.path.ends_with(TEMPLATE_SUFFIX)
}

fn merge(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    allow_override: &[String],
    keep_owners: bool,
    renderer: Option<&Renderer>,
) -> Result<Plan, OverlayError> {
    let allowed = check_settings(overlays, overrides, allow_override)?;
    let mut merged: BTreeMap<String, PlanEntry> = BTreeMap::new();
    for spec in overlays {
        // Image path -> path inside this overlay, to find `x` and `x.j2` side by side.
        let mut own: BTreeMap<String, String> = BTreeMap::new();
        for found in scan(spec, keep_owners)? {
            let entry = to_entry(spec, found, renderer)?;
            if let Some(first) = own.insert(entry.path.clone(), entry.source.path.clone()) {
                return Err(OverlayError::Ambiguous {
                    path: entry.path,
                    overlay: spec.name.clone(),
                    first,
                    second: entry.source.path,
                });
            }
            merge_one(&mut merged, entry, &allowed)?;
        }
    }
    for (path, o) in overrides {
        let Some(entry) = merged.get_mut(path) else {
            return Err(bad("override", path, "no overlay provides this path"));
        };
        if let Some(mode) = o.mode {
            if matches!(entry.content, EntryContent::Symlink(_)) {
                return Err(bad("override", path, "a symlink has no mode of its own"));
            }
            entry.mode = mode;
        }
        entry.uid = o.uid.unwrap_or(entry.uid);
        entry.gid = o.gid.unwrap_or(entry.gid);
    }
    let mut entries: Vec<PlanEntry> = merged.into_values().collect();
    entries.sort_by(|a, b| image_path::sort_key(&a.path).cmp(&image_path::sort_key(&b.path)));
    Ok(Plan::from_sorted(entries))
}

fn bad(what: &'static str, path: &str, reason: impl Into<String>) -> OverlayError {
    OverlayError::BadSetting {
        what,
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Validates overlay names, override paths and modes, and the allow list.
fn check_settings(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    allow_override: &[String],
) -> Result<BTreeSet<String>, OverlayError> {
    let mut names = BTreeSet::new();
    for o in overlays {
        if !names.insert(o.name.as_str()) {
            return Err(OverlayError::DuplicateOverlay(o.name.clone()));
        }
    }
    for (path, o) in overrides {
        image_path::validate(path).map_err(|e| bad("override", path, e.to_string()))?;
        if let Some(mode) = o.mode.filter(|m| m & !PERM_MASK != 0) {
            return Err(bad(
                "override",
                path,
                format!("mode {mode:o} has bits outside 7777"),
            ));
        }
        if o.uid == Some(u32::MAX) || o.gid == Some(u32::MAX) {
            return Err(bad("override", path, "4294967295 (-1) is not an owner"));
        }
    }
    let mut allowed = BTreeSet::new();
    for path in allow_override {
        image_path::validate(path).map_err(|e| bad("allow_override", path, e.to_string()))?;
        allowed.insert(path.clone());
    }
    Ok(allowed)
}

/// Turns a scanned path into a plan entry: strips and renders templates (with a renderer),
/// checks the path.
fn to_entry(
    spec: &OverlaySpec,
    f: Found,
    renderer: Option<&Renderer>,
) -> Result<PlanEntry, OverlayError> {
    let bad_path = |reason: String| OverlayError::BadPath {
        overlay: spec.name.clone(),
        path: f.rel.clone(),
        reason,
    };
    let template = matches!(f.kind, FoundKind::File(_)) && f.rel.ends_with(TEMPLATE_SUFFIX);
    let path = if template {
        let stripped = &f.rel[..f.rel.len() - TEMPLATE_SUFFIX.len()];
        if stripped.is_empty() || stripped.ends_with('/') {
            return Err(bad_path(format!(
                "a template needs a name before its {TEMPLATE_SUFFIX} suffix"
            )));
        }
        stripped.to_string()
    } else {
        f.rel.clone()
    };
    image_path::validate(&path).map_err(|e| bad_path(e.to_string()))?;
    let (content, mode) = match f.kind {
        FoundKind::Dir => (EntryContent::Directory, f.mode),
        FoundKind::File(bytes) if template => {
            let out = match renderer {
                Some(r) => r.render(&spec.name, &f.rel, &bytes)?,
                None => bytes,
            };
            (EntryContent::File(Arc::from(out)), f.mode)
        }
        FoundKind::File(bytes) => (EntryContent::File(Arc::from(bytes)), f.mode),
        FoundKind::Symlink(target) => (EntryContent::Symlink(target), SYMLINK_MODE),
    };
    Ok(PlanEntry {
        path,
        content,
        mode,
        uid: f.uid,
        gid: f.gid,
        source: Source {
            overlay: spec.name.clone(),
            path: f.rel,
        },
    })
}

/// Adds `new` on top of what earlier overlays provided.
fn merge_one(
    merged: &mut BTreeMap<String, PlanEntry>,
    new: PlanEntry,
    allowed: &BTreeSet<String>,
) -> Result<(), OverlayError> {
    let Some(old) = merged.get(&new.path) else {
        merged.insert(new.path.clone(), new);
        return Ok(());
    };
    let old_dir = old.content == EntryContent::Directory;
    let new_dir = new.content == EntryContent::Directory;
    if old_dir != new_dir {
        return Err(OverlayError::KindConflict {
            path: new.path.clone(),
            first: old.source.to_string(),
            first_kind: old.content.kind_name(),
            second: new.source.to_string(),
            second_kind: new.content.kind_name(),
        });
    }
    if !new_dir && !allowed.contains(&new.path) {
        return Err(OverlayError::Conflict {
            path: new.path.clone(),
            first: old.source.to_string(),
            second: new.source.to_string(),
        });
    }
    // Directories merge (the later one's mode and owner win); allowed leaves are replaced.
    merged.insert(new.path.clone(), new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_root_every_entry_belongs_to_root_until_overridden() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("base/etc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("motd"), "x").unwrap();
        let spec = OverlaySpec {
            name: "base".into(),
            dir: t.path().join("base"),
            owner: None,
        };
        let mut ov = BTreeMap::new();
        ov.insert(
            "etc/motd".to_string(),
            Ownership {
                mode: None,
                uid: Some(1000),
                gid: None,
            },
        );
        let plan = plan_with(&[spec], &ov, &Vars::new(), &[], false).unwrap();
        let owners: Vec<(&str, u32, u32)> = plan
            .entries()
            .iter()
            .map(|e| (e.path.as_str(), e.uid, e.gid))
            .collect();
        assert_eq!(owners, [("etc", 0, 0), ("etc/motd", 1000, 0)]);
    }
}
