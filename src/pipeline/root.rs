//! The read-only root tree of a profile: materialized once per content key into the cache
//! (`cache/roots/KEY/`), with the profile's root overlays applied, scanned, and checked against
//! the profile's allow-list. `OUT/PROFILE/rootfs` points at it. The source itself is
//! materialized once per source key (`cache/roots/base-SOURCEKEY/`) and every variant's
//! unchanged files are links to it, so a one-line overlay change costs that file, not a copy
//! of the tree. When `nodes.toml` lists nodes of
//! the profile, the overlays' templates are also rendered per node into `.netroot/nodes/NAME/`
//! (see [`crate::overlay::plan_with_nodes`]).
//!
//! The key covers the source (a directory's full tree digest, a tarball's hash, or the mmdebstrap
//! recipe with its hook files), the overlay plan (per-node layers included), the allow-list and
//! the build's SOURCE_DATE_EPOCH, so an unchanged root is never rebuilt and a changed overlay
//! file rebuilds only the root.
//!
//! mtimes: what the source provides keeps its own (an input); everything netroot writes into the
//! tree (overlay files, rendered templates, the per-node layers, the directories they are
//! written into, and the root directory when an overlay writes into it) gets SOURCE_DATE_EPOCH,
//! so the tree, and the generation publish derives from it, depends neither on when it was
//! built nor on the overlay checkout's file times.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::stage::{Input, Staged};
use super::state::{tree_digest, HashCache};
use super::BuildError;
use crate::fsx::atomic::write_atomic;
use crate::fsx::memo::hash_bytes;
use crate::nodes::{Inventory, NODES_FILE};
use crate::overlay::{EntryContent, NodeVars, Plan};
use crate::profile::Profile;
use crate::rootfs::{self, Refresh, RootReport, RootSource};

/// Cache subdirectory of finished root trees.
const ROOTS_DIR: &str = "roots";
/// Prefix of a materialized source in [`ROOTS_DIR`] (`base-SOURCEKEY`): never served itself,
/// the tree whose files every variant of that source links to. A variant's overlay files are
/// new inodes (written beside and renamed over), so the base stays as materialized.
pub const BASE_PREFIX: &str = "base-";

/// A finished root tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltRoot {
    pub dir: PathBuf,
    pub key: String,
    pub report: RootReport,
    /// The base its unchanged files link to (`roots/base-SOURCEKEY/`): in use while it is.
    #[serde(skip)]
    pub base: PathBuf,
    #[serde(skip)]
    pub cached: bool,
}

/// Digest of an overlay plan: every path with its kind, content, mode and owner.
fn plan_digest(plan: &Plan) -> String {
    let mut h = blake3::Hasher::new();
    for e in plan.entries() {
        let content = match &e.content {
            EntryContent::Directory => "d".to_string(),
            EntryContent::File(data) => format!("f{}", hash_bytes(data)),
            EntryContent::Symlink(t) => format!("l{t}"),
        };
        h.update(
            format!(
                "{}\0{content}\0{:o}\0{}\0{}\n",
                e.path, e.mode, e.uid, e.gid
            )
            .as_bytes(),
        );
    }
    h.finalize().to_hex().to_string()
}

/// What identifies the root source (a directory's tree digest, a tarball's hash, or the hash of
/// the mmdebstrap tarball the recipe made, made here when missing or refreshed), and the source
/// to materialize: a recipe's is its tarball, so mmdebstrap's cache is consulted once.
fn source_key(
    spec: &RootSource,
    cache: &Path,
    refresh: Refresh,
    hc: &mut HashCache,
    inputs: &mut Vec<Input>,
) -> Result<(String, RootSource), BuildError> {
    let key = match spec {
        RootSource::Dir(d) => {
            let digest =
                tree_digest(d, hc).map_err(BuildError::io("cannot read root directory", d))?;
            inputs.push(Input::Tree(d.clone(), digest.clone()));
            digest.ok_or_else(|| not_found("cannot read root directory", d))?
        }
        RootSource::Tarball(t) => {
            inputs.push(Input::Path(t.clone()));
            hc.hash(t)
                .map_err(BuildError::io("cannot read root tarball", t))?
                .ok_or_else(|| not_found("cannot read root tarball", t))?
        }
        RootSource::Mmdebstrap(recipe) => {
            // The tarball's content, not the recipe: the same recipe run again later
            // (--refresh-root) gives other packages, hence another root.
            for h in &recipe.hooks {
                inputs.push(Input::Path(h.clone()));
            }
            let tarball = rootfs::mmdebstrap_tarball(recipe, cache, refresh)?;
            inputs.push(Input::Path(tarball.clone()));
            let hash = hc
                .hash(&tarball)
                .map_err(BuildError::io("cannot read mmdebstrap tarball", &tarball))?
                .ok_or_else(|| not_found("cannot read mmdebstrap tarball", &tarball))?;
            return Ok((format!("mmdebstrap-{hash}"), RootSource::Tarball(tarball)));
        }
    };
    Ok((key, spec.clone()))
}

fn not_found(context: &'static str, path: &Path) -> BuildError {
    BuildError::io(context, path)(std::io::ErrorKind::NotFound.into())
}

/// What the root stage produced: the node inventory (the build record lists the profile's
/// nodes) and the root tree.
#[derive(Debug)]
pub struct RootStage {
    pub inventory: Option<Inventory>,
    pub root: Option<BuiltRoot>,
}

/// Where and how the root stage builds.
#[derive(Clone, Copy)]
pub struct RootCtx<'a> {
    pub project: &'a Path,
    pub cache: &'a Path,
    /// mtime of everything the overlays write.
    pub source_date_epoch: u64,
    /// Whether an mmdebstrap recipe runs again (`--refresh-root`).
    pub refresh: Refresh,
    /// Where the tree extraction's byte progress goes.
    pub progress: &'a dyn super::Progress,
}

impl std::fmt::Debug for RootCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCtx")
            .field("project", &self.project)
            .field("cache", &self.cache)
            .field("source_date_epoch", &self.source_date_epoch)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

/// The root stage: the node inventory, then the profile's root tree (or none).
pub fn root_stage(
    ctx: &RootCtx<'_>,
    profile: &Profile,
    hc: &mut HashCache,
) -> Result<Staged<RootStage>, BuildError> {
    let mut inputs = Vec::new();
    let inventory = load_inventory(ctx.project, &mut inputs)?;
    let root = build_root(ctx, profile, inventory.as_ref(), hc, &mut inputs)?;
    Ok(Staged {
        cached: root.as_ref().is_none_or(|r| r.cached),
        out: RootStage { inventory, root },
        inputs,
    })
}

/// The project's `nodes.toml`, if it has one. The file (or its absence) is an input of every
/// build: the profile's nodes are part of the build record, and a changed inventory rebuilds the
/// root, whose per-node files are part of its key.
fn load_inventory(
    project: &Path,
    inputs: &mut Vec<Input>,
) -> Result<Option<Inventory>, BuildError> {
    let file = project.join(NODES_FILE);
    if !file.is_file() {
        inputs.push(Input::Absent(file));
        return Ok(None);
    }
    inputs.push(Input::Path(file.clone()));
    Ok(Some(Inventory::load(&file, Path::new(NODES_FILE))?))
}

/// The nodes of `inventory` that boot `profile`, with their template variables, for the
/// per-node layers.
fn inventory_nodes(
    inventory: Option<&Inventory>,
    profile: &Profile,
) -> Result<Vec<NodeVars>, BuildError> {
    let Some(inventory) = inventory else {
        return Ok(Vec::new());
    };
    let vars = super::overlays::profile_vars(profile);
    inventory
        .of_profile(&profile.name)
        .map(|n| {
            Ok(NodeVars {
                name: n.name.clone(),
                vars: n.template_vars(&vars)?,
            })
        })
        .collect()
}

/// Builds (or reuses) the profile's root tree; `None` when the profile has no `[root]`. What the
/// overlays write gets the mtime `source_date_epoch`.
fn build_root(
    ctx: &RootCtx<'_>,
    profile: &Profile,
    inventory: Option<&Inventory>,
    hc: &mut HashCache,
    inputs: &mut Vec<Input>,
) -> Result<Option<BuiltRoot>, BuildError> {
    let Some(spec) = &profile.root else {
        return Ok(None);
    };
    let RootCtx {
        project,
        cache,
        source_date_epoch,
        refresh,
        progress,
    } = *ctx;
    let (source_key, source) = source_key(spec, cache, refresh, hc, inputs)?;
    inputs.extend(super::overlays::overlay_inputs(
        project,
        &profile.overlays.root,
    )?);
    let nodes = inventory_nodes(inventory, profile)?;
    let plan =
        super::overlays::plan_overlays_for_nodes(project, profile, &profile.overlays.root, &nodes)?;
    let allow = &profile.root_allow;
    let key = hash_bytes(
        format!(
            "{source_key}\n{}\n{allow:?}\n{source_date_epoch}",
            plan_digest(&plan)
        )
        .as_bytes(),
    );
    let roots = cache.join(ROOTS_DIR);
    let dir = roots.join(&key);
    let report_path = roots.join(format!("{key}.json"));
    let base = roots.join(format!("{BASE_PREFIX}{source_key}"));
    if dir.is_dir() {
        if let Some(report) = fs::read(&report_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<RootReport>(&b).ok())
        {
            tracing::info!(tree = %dir.display(), cached = true, "root tree");
            return Ok(Some(BuiltRoot {
                dir,
                key,
                report,
                base,
                cached: true,
            }));
        }
        fs::remove_dir_all(&dir)
            .map_err(BuildError::io("cannot remove incomplete root tree", &dir))?;
    }
    fs::create_dir_all(&roots).map_err(BuildError::io("cannot create cache directory", &roots))?;
    let staging = roots.join(format!(".{key}.staging"));
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .map_err(BuildError::io("cannot remove stale staging tree", &staging))?;
    }
    tracing::info!(tree = %dir.display(), staging = %staging.display(), cached = false, "root tree");
    // Variants of one source (overlays, per-node layers, allow-lists differ) share its files:
    // the source is materialized once as a base and each variant links its unchanged files.
    if !base.is_dir() {
        let what = match source {
            RootSource::Dir(_) => "root: copying",
            _ => "root: extracting",
        };
        let on = |done, total| progress.bytes(what, done, total);
        rootfs::materialize_metered(&source, cache, &base, &rootfs::Tools::default(), &on)?;
    }
    rootfs::link_variant(&base, &staging)?;
    let result = (|| {
        crate::overlay::apply_stamped(&plan, &staging, source_date_epoch)?;
        let report = rootfs::scan(&staging)?;
        rootfs::check_allowed(&report, allow)?;
        Ok::<_, BuildError>(report)
    })();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // A rejected tree is not kept; the error names the offenders.
            let _cleanup = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let json = serde_json::to_vec_pretty(&report).map_err(|e| {
        BuildError::io("cannot serialize root report", &report_path)(std::io::Error::other(e))
    })?;
    write_atomic(&report_path, &json)
        .map_err(BuildError::io("cannot write root report", &report_path))?;
    crate::fsx::atomic::rename_durable(&staging, &dir)
        .map_err(BuildError::io("cannot move root tree into the cache", &dir))?;
    Ok(Some(BuiltRoot {
        dir,
        key,
        report,
        base,
        cached: false,
    }))
}
