//! Deciding what a publish does, without changing anything: hash the inputs, derive the generation
//! id, look it up in the history, decide copy vs hardlink for every root tree file, compare every
//! consumer. [`dry_run`] returns this plan; `publish` executes it.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use super::activate::{
    paths_for, plan_consumers, references, validate_menus, ConsumerChange, ConsumerPlan,
};
use super::error::PublishError;
use super::generation::RECORD_VERSION;
use super::generation::{generation_id, ArtifactDigests, GenerationRecord, RootRecord};
use super::history::History;
use super::layout::{Layout, GENERATION_RECORD};
use super::tree::linkplan::{plan as plan_tree, Previous};
use super::tree::Memo;
use super::tree::{scan, Action, ScannedTree, TreeManifest, TreeStats};
use super::{Artifacts, GenerationPaths, MenuFiles, PublishOptions, Targets};

/// Whether the generation exists already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// New content: a new generation will be staged.
    New,
    /// Identical content was published before; `active` tells whether it is the active one.
    Published { active: bool },
}

/// What a publish would do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub profile: String,
    pub generation: String,
    pub state: PlanState,
    /// The active generation before this publish.
    pub active: Option<String>,
    /// The generation whose files are hardlinked (for a new generation with a root tree).
    pub link_dest: Option<String>,
    /// Root tree work (for a new generation with a root tree).
    pub tree: Option<TreeStats>,
    pub consumers: Vec<ConsumerPlan>,
    /// Leftovers of an interrupted publish of this same generation, removed before staging.
    pub orphans: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// True when publishing changes nothing on the targets.
    pub fn is_noop(&self) -> bool {
        self.state == (PlanState::Published { active: true })
            && self
                .consumers
                .iter()
                .all(|c| c.change == ConsumerChange::Unchanged)
    }
}

/// Everything publish needs besides the plan.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub plan: Plan,
    pub layout: Layout,
    pub history: History,
    pub record: GenerationRecord,
    pub scanned: Option<ScannedTree>,
    /// The scanned tree's manifest, serialized ([`TreeManifest::to_bytes`]).
    pub manifest_bytes: Option<Vec<u8>>,
    pub actions: Vec<Action>,
    pub prev_manifest: Option<(PathBuf, PathBuf, TreeManifest)>,
    pub menus: MenuFiles,
    /// Menu files no longer rendered, removed at activation.
    pub stale: Vec<String>,
}

impl Prepared {
    pub fn previous(&self) -> Option<Previous<'_>> {
        self.prev_manifest
            .as_ref()
            .map(|(dir, file, m)| Previous::new(dir.clone(), file.clone(), m))
    }
}

/// What publishing `a` would do (changes nothing; the hash memo is read but not written).
pub fn dry_run(
    a: &Artifacts,
    menus: impl Fn(&GenerationPaths) -> MenuFiles,
    t: &Targets,
    opts: &PublishOptions,
) -> Result<Plan, PublishError> {
    try_dry_run(a, |g| Ok::<_, std::convert::Infallible>(menus(g)), t, opts)
}

/// [`dry_run`] with a renderer that can fail ([`PublishError::Menus`]).
pub fn try_dry_run<E: Into<super::MenuRenderError>>(
    a: &Artifacts,
    menus: impl Fn(&GenerationPaths) -> Result<MenuFiles, E>,
    t: &Targets,
    opts: &PublishOptions,
) -> Result<Plan, PublishError> {
    // What publish checks before its lock, the dry run checks too.
    super::staging::check_targets_writable(t)?;
    let mut memo = opts.hash_memo.as_deref().map_or_else(Memo::new, Memo::load);
    Ok(prepare(a, &super::menus_or_error(menus), t, opts, &mut memo)?.plan)
}

pub(crate) fn prepare(
    a: &Artifacts,
    menus: &super::RenderMenus<'_>,
    t: &Targets,
    opts: &PublishOptions,
    memo: &mut Memo,
) -> Result<Prepared, PublishError> {
    let layout = Layout::new(&a.profile, t)?;
    let history = History::load(&layout.history(), &a.profile)?;
    // The previous tree manifest (~5 MB of JSON for 24,000 entries) is parsed while the root tree
    // is scanned; it is used only if the scan makes a new generation.
    let (hashed, link_source) = std::thread::scope(|s| {
        let link_source = a
            .root_tree
            .is_some()
            .then(|| s.spawn(|| link_source(&layout, &history)));
        let hashed = ArtifactDigests::compute(a, memo).and_then(|d| {
            let scanned = a
                .root_tree
                .as_deref()
                .map(|root| scan(root, memo))
                .transpose()?;
            Ok((d, scanned))
        });
        let link_source = link_source.map(|h| {
            h.join().unwrap_or_else(|_| {
                let w = "not hardlinking: reading the previous tree manifest panicked";
                (None, None, vec![w.to_string()])
            })
        });
        (hashed, link_source.unwrap_or_default())
    });
    let (digests, scanned) = hashed?;
    // Serialized once: hashed here, written by publish (24,000 entries are ~5 MB of JSON).
    let manifest_bytes = scanned.as_ref().map(|s| s.manifest.to_bytes());
    let root_record = scanned.as_ref().zip(manifest_bytes.as_ref()).map(|(s, b)| {
        let (files, bytes) = s.manifest.file_stats();
        RootRecord {
            digest: TreeManifest::digest_of(b),
            entries: s.manifest.entries.len(),
            files,
            bytes,
        }
    });
    let root_digest = root_record.as_ref().map(|r| r.digest.as_str());
    let generation = generation_id(&a.profile, &digests, root_digest, &opts.cmdline);
    let has_root = scanned.is_some();

    let state = match history.entry(&generation) {
        Some(_) => {
            check_complete(&layout, &generation, has_root)?;
            PlanState::Published {
                active: history.active.as_deref() == Some(generation.as_str()),
            }
        }
        None => PlanState::New,
    };
    let orphans = if state == PlanState::New {
        [
            layout.tftp_gen(&generation),
            layout.nfs_gen(&generation),
            layout.tree_manifest(&generation),
        ]
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .collect()
    } else {
        Vec::new()
    };

    let (prev_manifest, link_dest, warnings) = match (state, has_root) {
        (PlanState::New, true) => link_source,
        _ => LinkSource::default(),
    };

    let mut prep = Prepared {
        plan: Plan {
            profile: a.profile.clone(),
            generation: generation.clone(),
            state,
            active: history.active.clone(),
            link_dest,
            tree: None,
            consumers: Vec::new(),
            orphans,
            warnings,
        },
        record: GenerationRecord {
            version: RECORD_VERSION,
            profile: a.profile.clone(),
            generation: generation.clone(),
            cmdline: opts.cmdline.clone(),
            files: digests
                .named()
                .iter()
                .map(|(n, d)| (n.to_string(), (*d).clone()))
                .collect(),
            root: root_record,
            boot: opts.boot.clone(),
        },
        layout,
        history,
        scanned,
        manifest_bytes,
        actions: Vec::new(),
        prev_manifest,
        menus: MenuFiles::default(),
        stale: Vec::new(),
    };
    if state == PlanState::New {
        // A consumer naming the new id before it exists (left by an interrupted publish whose
        // history write was lost) would point nodes at whatever gets staged: refused.
        let menu_paths: Vec<String> = prep.menus.files.iter().map(|(p, _)| p.clone()).collect();
        let refs = references(&prep.layout, &prep.history, &menu_paths)?;
        if let Some(consumers) = refs.get(&generation) {
            return Err(PublishError::UnlistedReference {
                profile: a.profile.clone(),
                consumer: consumers.join(", "),
                generation,
            });
        }
        if let Some(s) = &prep.scanned {
            let prev = prep.previous();
            let (actions, stats) = plan_tree(s, prev.as_ref());
            prep.actions = actions;
            prep.plan.tree = Some(stats);
        }
    }
    let mut paths = paths_for(&prep.layout, &generation, has_root, &opts.cmdline);
    paths.boot = opts.boot.clone();
    prep.menus = menus(&paths)?;
    validate_menus(&prep.menus)?;
    prep.stale = super::active::stale_menus(t, &prep.menus)?;
    if let Some(c) = &prep.menus.cmdline {
        prep.record.cmdline = c.clone();
    }
    prep.plan
        .warnings
        .extend(prep.menus.warnings.iter().cloned());
    let mut consumers = Vec::new();
    if let Some(l) = opts
        .loaders
        .as_ref()
        .filter(|l| super::staging::loaders_missing(&prep.layout, l))
    {
        consumers.push(ConsumerPlan {
            consumer: format!("tftp:{}", l.marker),
            change: ConsumerChange::Create,
        });
    }
    consumers.extend(plan_consumers(
        &prep.layout,
        &generation,
        has_root,
        &prep.menus,
        &prep.stale,
    )?);
    prep.plan.consumers = consumers;
    if state == PlanState::New {
        super::space::check(&generation, &space_needs(t, &prep))?;
    }
    Ok(prep)
}

/// What staging a new generation writes into each target, for [`super::space::check`].
fn space_needs(t: &Targets, prep: &Prepared) -> Vec<super::space::Need> {
    let menus =
        |files: &[(String, Vec<u8>)]| files.iter().map(|(_, c)| c.len() as u64).sum::<u64>();
    // The boot files' sizes as hashed for the record (no second stat).
    let boot = &prep.record.files;
    let mut needs = vec![super::space::Need {
        what: "TFTP",
        dir: t.tftp.clone(),
        bytes: boot.values().map(|d| d.size).sum::<u64>() + menus(&prep.menus.files),
        entries: (boot.len() + prep.menus.files.len()) as u64,
    }];
    if let Some(stats) = &prep.plan.tree {
        let manifest = prep.manifest_bytes.as_ref().map_or(0, |b| b.len() as u64);
        needs.push(super::space::Need {
            what: "NFS",
            dir: t.nfs.clone(),
            bytes: stats.bytes_copied + manifest + menus(&prep.menus.nfs_files),
            entries: (stats.copied + stats.dirs + stats.symlinks + stats.specials) as u64,
        });
    }
    needs
}

/// The previous generation to hardlink from: (its directory, manifest file and manifest), its id,
/// and warnings about candidates whose manifest could not be read.
type LinkSource = (
    Option<(PathBuf, PathBuf, TreeManifest)>,
    Option<String>,
    Vec<String>,
);

/// Link source: the active generation if it has a root tree, else the newest one that has.
fn link_source(layout: &Layout, history: &History) -> LinkSource {
    let mut warnings = Vec::new();
    let candidates = history
        .active
        .iter()
        .chain(history.generations.iter().rev().map(|e| &e.generation));
    for g in candidates {
        if !history.entry(g).is_some_and(|e| e.root) {
            continue;
        }
        let file = layout.tree_manifest(g);
        match fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|b| TreeManifest::from_bytes(&b))
        {
            Ok(m) => {
                return (
                    Some((layout.nfs_gen(g), file, m)),
                    Some(g.clone()),
                    warnings,
                )
            }
            Err(e) => warnings.push(format!(
                "not hardlinking from {g}: cannot read {}: {e}",
                file.display()
            )),
        }
    }
    (None, None, warnings)
}

/// Fails unless every part of a listed generation is present.
pub(crate) fn check_complete(
    layout: &Layout,
    generation: &str,
    root: bool,
) -> Result<(), PublishError> {
    let mut parts = vec![layout.tftp_gen(generation).join(GENERATION_RECORD)];
    if root {
        parts.push(layout.nfs_gen(generation));
        parts.push(layout.tree_manifest(generation));
    }
    for p in parts {
        if fs::symlink_metadata(&p).is_err() {
            return Err(PublishError::GenerationIncomplete {
                profile: layout.profile.clone(),
                generation: generation.to_string(),
                path: p,
            });
        }
    }
    Ok(())
}
