//! Publish and rollback: stage → record → flip → hook, under the publish lock.
//!
//! Order of a new generation (each step durable before the next):
//! 1. the root tree, staged as `NFS/PROFILE/.netroot-tmp-*` and made durable: by the stager's
//!    fsyncs for a small change, else by one syncfs ([`Durability`]); meanwhile its manifest is
//!    written and fsynced as a temporary (and the hash memo saved);
//! 2. the manifest renamed to `NFS/PROFILE/GEN.tree.json`, then the tree renamed to `GEN`;
//! 3. `TFTP/netroot/PROFILE/GEN` (staged, fsynced, renamed) — once this exists, all parts do;
//! 4. the history lists GEN (still naming the old active generation);
//! 5. consumers flip one by one (NFS `current`, TFTP `current`, menu files);
//! 6. the history names GEN active; 7. the hook runs.
//!
//! A crash between any two steps leaves the old generation served by every unflipped consumer and
//! the complete new one by every flipped consumer; the next publish removes the temporaries.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::activate::{activate, paths_for, validate_menus};
use super::error::PublishError;
use super::fsops::{Fs, Lock};
use super::generation::stage_tftp;
use super::history::{History, HistoryEntry};
use super::hook::{run_hook, HookReport, HOOK_TIMEOUT};
use super::layout::{validate_generation, Layout};
use super::plan::{check_complete, prepare, PlanState, Prepared};
use super::report::{PublishReport, RollbackReport};
use super::staging::{Staged, StagedLoaders};
use super::tree::relink::published_memo_path;
use super::tree::stage::{stage, Durability, LinkFrom};
use super::tree::{Known, Memo};
use super::{Artifacts, GenerationPaths, MenuFiles, PublishOptions, Targets};

/// Publishes `a` as a generation and activates it. `menus` renders the menu files for the
/// generation's paths.
pub fn publish(
    a: &Artifacts,
    menus: impl Fn(&GenerationPaths) -> MenuFiles,
    t: &Targets,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    try_publish(a, |g| Ok::<_, std::convert::Infallible>(menus(g)), t, opts)
}

/// [`publish`] with a renderer that can fail: the menus are rendered before anything is
/// written, so a failure ([`PublishError::Menus`]) leaves the targets untouched. A failure while
/// staging (before activation) removes everything the publish had created.
pub fn try_publish<E: Into<super::MenuRenderError>>(
    a: &Artifacts,
    menus: impl Fn(&GenerationPaths) -> Result<MenuFiles, E>,
    t: &Targets,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    let menus = super::menus_or_error(menus);
    let start = Instant::now();
    let fs_ = Fs::new(opts.crash_after_ops);
    let layout = Layout::new(&a.profile, t)?;
    let mut phases = Phases::new();
    // Before the lock, which is itself a write: a read-only target is named as such.
    super::staging::check_targets_writable(t)?;
    let mut memo = opts.hash_memo.as_deref().map_or_else(Memo::new, Memo::load);
    phases.done("load memo");
    // A first publish creates the TFTP root's `netroot/` and its lock file: everything is
    // validated once without the lock first, so a refused first publish writes nothing.
    if std::fs::symlink_metadata(layout.tftp_base()).is_err() {
        prepare(a, &menus, t, opts, &mut memo)?;
    }
    let _lock = Lock::acquire(&fs_, &layout.lock_path(), opts.on_lock_wait)?;
    phases.done("lock");
    let mut prep = prepare(a, &menus, t, opts, &mut memo)?;
    phases.done("scan");
    let generation = prep.plan.generation.clone();
    tracing::info!(
        profile = %a.profile,
        generation = %generation,
        state = ?prep.plan.state,
        noop = prep.plan.is_noop(),
        actions = prep.actions.len(),
        "publish plan"
    );
    let has_root = prep.scanned.is_some();
    let menu_paths: Vec<String> = prep.menus.files.iter().map(|(p, _)| p.clone()).collect();
    let mut cleaned = clean_leftovers(&fs_, &layout, &prep.history, &menu_paths)?;

    let noop = prep.plan.is_noop();
    let mut undo = Staged::default();
    let staged = stage_all(&fs_, &layout, a, opts, &mut prep, &mut memo, &mut undo).and_then(|s| {
        if !noop {
            list_generation(&fs_, &layout, &mut prep, &menu_paths, has_root)?;
        }
        Ok(s)
    });
    let staged = match staged {
        Ok(s) => s,
        Err(error) => {
            return Err(match undo.undo(&fs_) {
                Ok(()) => error,
                Err(undo) => PublishError::Undo {
                    error: Box::new(error),
                    undo: Box::new(undo),
                },
            })
        }
    };
    cleaned.extend(staged.orphans.iter().cloned());
    phases.extend(staged.phases.iter().cloned());

    let mut warnings = std::mem::take(&mut prep.plan.warnings);
    warnings.extend(staged.warnings.iter().cloned());
    if !noop {
        // Listed in the plan's consumers (`tftp:boot/grub/i386-pc/core.0 create`).
        if let Some(l) = staged.loaders {
            l.activate(&fs_, &layout.tftp)?;
        }
        activate(
            &fs_,
            &layout,
            &generation,
            has_root,
            &prep.menus,
            &prep.stale,
        )?;
        prep.history.consumers.retain(|c| !prep.stale.contains(c));
        prep.history.active = Some(generation.clone());
        prep.history.activated_ns = now_ns();
        prep.history.hook = opts.hook.clone();
        prep.history.save(&fs_, &layout.history())?;
        tracing::debug!(history = %layout.history().display(), active = %generation, "history record saved");
        phases.done("activate");
    }
    if let Some(keep) = opts.keep.filter(|_| !noop) {
        // The new generation is live already: a gc failure is reported, not the publish's.
        match super::gc::collect(&fs_, &layout, keep) {
            Ok(gc) => {
                if !gc.removed.is_empty() {
                    phases.done("gc");
                }
                cleaned.extend(gc.cleaned);
                warnings.extend(gc.warnings);
                warnings.extend(
                    gc.removed
                        .iter()
                        .map(|g| format!("publish.keep removed {g}")),
                );
            }
            Err(e) => warnings.push(format!(
                "publish.keep = {keep}: removing old generations failed ({e}); run netroot gc"
            )),
        }
    }

    let memo_saved = staged
        .memo_saved
        .unwrap_or_else(|| fs_.save_memo(&mut memo, opts.hash_memo.as_deref()));
    if let Err(e) = memo_saved {
        warnings.push(format!("hash memo not saved: {e}"));
    }
    if let Some(Err(e)) = staged.seen_saved {
        warnings.push(format!("memo of published inodes not saved: {e}"));
    }
    let hook = opts
        .hook
        .as_deref()
        .map(|cmd| hook_env(cmd, &layout, &generation, "publish"));
    if hook.is_some() {
        phases.done("hook");
    }
    Ok(PublishReport {
        profile: layout.profile.clone(),
        generation,
        state: prep.plan.state,
        previous: prep.plan.active.clone(),
        link_dest: prep.plan.link_dest.clone(),
        tree: staged.tree_stats,
        consumers: prep.plan.consumers.clone(),
        cleaned,
        hook,
        warnings,
        fs_ops: fs_.ops(),
        files_hashed: memo.hashed,
        phases: phases.list,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What staging produced, for activation and the report.
struct StagedParts {
    tree_stats: Option<super::tree::TreeStats>,
    memo_saved: Option<Result<(), PublishError>>,
    /// Whether the memo of published inodes was saved (a cache: a failure is a warning).
    seen_saved: Option<Result<(), PublishError>>,
    /// Damaged previous-generation inodes that were copied instead of linked.
    warnings: Vec<String>,
    loaders: Option<StagedLoaders>,
    orphans: Vec<PathBuf>,
    phases: Vec<(String, f64)>,
}

/// Steps 1-3 of the module doc plus the loader images: everything written under names no
/// consumer points at yet, each recorded in `undo`.
fn stage_all(
    fs_: &Fs,
    layout: &Layout,
    a: &Artifacts,
    opts: &PublishOptions,
    prep: &mut Prepared,
    memo: &mut Memo,
    undo: &mut Staged,
) -> Result<StagedParts, PublishError> {
    let mut phases = Phases::new();
    let mut parts = StagedParts {
        tree_stats: None,
        memo_saved: None,
        seen_saved: None,
        warnings: Vec::new(),
        loaders: None,
        orphans: Vec::new(),
        phases: Vec::new(),
    };
    let generation = prep.plan.generation.clone();
    let seen_file = opts.hash_memo.as_deref().map(published_memo_path);
    let mut seen_records = None;
    if prep.plan.state == PlanState::New {
        for o in &prep.plan.orphans {
            fs_.remove(o)?;
            parts.orphans.push(o.clone());
        }
        if let Some(scanned) = &prep.scanned {
            let parent = layout.nfs_profile();
            undo.create_dir_all(fs_, &parent)?;
            undo.clean_temporaries_in(parent.clone());
            let staged = super::fsops::tmp_path(&parent, "tree");
            let prev = prep.previous();
            let seen = seen_file
                .as_deref()
                .map_or_else(Memo::by_inode, Memo::load_by_inode);
            let from = LinkFrom {
                prev: prev.as_ref(),
                seen: &seen,
            };
            let bytes = prep.manifest_bytes.as_deref().unwrap_or_default();
            // The tree manifest (written to a temporary, fsynced) and the hash memo (a cache,
            // complete after the scan) are written while the tree is staged: a few MB each that
            // would otherwise add their write and fsync to the publish.
            let (staged_tree, manifest_tmp, saved) = std::thread::scope(|s| {
                let side = s.spawn(|| {
                    let tmp = fs_.write_temp(&parent, bytes);
                    (tmp, fs_.save_memo(memo, opts.hash_memo.as_deref()))
                });
                let staged_tree = stage(fs_, scanned, &prep.actions, from, &staged);
                let (tmp, saved) = side.join().unwrap_or_else(|_| {
                    let panicked = || PublishError::BadState {
                        path: parent.clone(),
                        reason: "internal: the manifest writer panicked".into(),
                    };
                    (Err(panicked()), Err(panicked()))
                });
                (staged_tree, tmp, saved)
            });
            parts.memo_saved = Some(saved);
            let staged_tree = staged_tree?;
            parts.warnings = staged_tree.warnings;
            parts.tree_stats = Some(staged_tree.stats);
            phases.done("stage tree");
            match staged_tree.durability {
                // The stager fsynced every inode it created and every directory.
                Durability::Fsynced => {}
                Durability::NeedsSyncfs => {
                    fs_.syncfs(&staged)?;
                    phases.done("syncfs");
                }
            }
            let tree_manifest = layout.tree_manifest(&generation);
            undo.push(tree_manifest.clone());
            fs_.rename(&manifest_tmp?, &tree_manifest)?;
            fs_.fsync_dir(&parent)?;
            undo.push(layout.nfs_gen(&generation));
            fs_.rename_noreplace(&staged, &layout.nfs_gen(&generation))?;
            fs_.fsync_dir(&parent)?;
            seen_records = Some(staged_tree.seen);
        }
        undo.create_dir_all(fs_, &layout.tftp_profile())?;
        undo.clean_temporaries_in(layout.tftp_profile());
        undo.push(layout.tftp_gen(&generation));
        // The memo of published inodes (a cache, ~1 MB for 20,000 entries) is written while the
        // boot files are re-hashed and staged.
        let (boot_warnings, saved) = std::thread::scope(|s| {
            let side = seen_records
                .take()
                .map(|seen| s.spawn(|| save_seen(fs_, seen_file.as_deref(), seen)));
            let boot = stage_tftp(fs_, layout, a, &prep.record);
            let saved = side.map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(PublishError::BadState {
                        path: seen_file.clone().unwrap_or_default(),
                        reason: "internal: the memo writer panicked".into(),
                    })
                })
            });
            (boot, saved)
        });
        parts.warnings.extend(boot_warnings?);
        parts.seen_saved = saved;
        phases.done("stage boot files");
    }
    if let Some(l) = opts
        .loaders
        .as_ref()
        .filter(|l| super::staging::loaders_missing(layout, l))
    {
        parts.loaders = Some(super::staging::stage_loaders(fs_, layout, l, undo)?);
        phases.done("stage loaders");
    }
    parts.phases = phases.list;
    Ok(parts)
}

/// The history lists the new generation (still naming the old active one): the last write
/// before activation.
fn list_generation(
    fs_: &Fs,
    layout: &Layout,
    prep: &mut Prepared,
    menu_paths: &[String],
    has_root: bool,
) -> Result<(), PublishError> {
    if prep.plan.state != (PlanState::Published { active: true }) {
        prep.history.push(HistoryEntry {
            generation: prep.plan.generation.clone(),
            published_unix: now_unix(),
            root: has_root,
        });
    }
    for p in menu_paths {
        prep.history.add_consumer(p);
    }
    prep.history.save(fs_, &layout.history())
}

/// Flips every consumer back to the generation published before the active one (or to `to`),
/// re-rendering the menus for it.
pub fn rollback(
    profile: &str,
    to: Option<&str>,
    menus: impl Fn(&GenerationPaths) -> MenuFiles,
    t: &Targets,
    opts: &PublishOptions,
) -> Result<RollbackReport, PublishError> {
    try_rollback(
        profile,
        to,
        |g| Ok::<_, std::convert::Infallible>(menus(g)),
        t,
        opts,
    )
}

/// [`rollback`] with a renderer that can fail: the menus are rendered before anything is
/// written, so a failure ([`PublishError::Menus`]) changes nothing.
pub fn try_rollback<E: Into<super::MenuRenderError>>(
    profile: &str,
    to: Option<&str>,
    menus: impl Fn(&GenerationPaths) -> Result<MenuFiles, E>,
    t: &Targets,
    opts: &PublishOptions,
) -> Result<RollbackReport, PublishError> {
    let menus = super::menus_or_error(menus);
    let fs_ = Fs::new(opts.crash_after_ops);
    let layout = Layout::new(profile, t)?;
    super::staging::check_targets_writable(t)?;
    let _lock = Lock::acquire(&fs_, &layout.lock_path(), opts.on_lock_wait)?;
    let mut history = History::load(&layout.history(), profile)?;
    let active = history
        .active
        .clone()
        .ok_or_else(|| PublishError::NothingPublished {
            profile: profile.to_string(),
        })?;
    let target = match to {
        Some(g) => {
            validate_generation(g)?;
            g.to_string()
        }
        None => history
            .previous_of(&active)
            .ok_or_else(|| PublishError::NoRollbackTarget {
                profile: profile.to_string(),
                active: active.clone(),
            })?
            .to_string(),
    };
    let entry = history
        .entry(&target)
        .cloned()
        .ok_or_else(|| PublishError::UnknownGeneration {
            profile: profile.to_string(),
            generation: target.clone(),
        })?;
    check_complete(&layout, &target, entry.root)?;
    let record = super::generation::GenerationRecord::read(
        &layout
            .tftp_gen(&target)
            .join(super::layout::GENERATION_RECORD),
    )?;
    let mut paths = paths_for(&layout, &target, entry.root, &record.cmdline);
    paths.boot = record.boot.clone();
    let rendered = menus(&paths)?;
    validate_menus(&rendered)?;
    let stale = super::active::stale_menus(t, &rendered)?;
    let menu_paths: Vec<String> = rendered.files.iter().map(|(p, _)| p.clone()).collect();
    clean_leftovers(&fs_, &layout, &history, &menu_paths)?;
    for p in &menu_paths {
        history.add_consumer(p);
    }
    history.save(&fs_, &layout.history())?;
    let consumers = activate(&fs_, &layout, &target, entry.root, &rendered, &stale)?;
    history.consumers.retain(|c| !stale.contains(c));
    history.active = Some(target.clone());
    history.activated_ns = now_ns();
    history.save(&fs_, &layout.history())?;
    // The caller's hook, else the one the last publish recorded.
    let hook = opts
        .hook
        .as_deref()
        .or(history.hook.as_deref())
        .map(|cmd| hook_env(cmd, &layout, &target, "rollback"));
    Ok(RollbackReport {
        profile: profile.to_string(),
        from: active,
        to: target,
        consumers,
        hook,
        fs_ops: fs_.ops(),
    })
}

/// Saves the memo of the inodes this publish linked or created (see [`published_memo_path`]).
fn save_seen(fs_: &Fs, file: Option<&Path>, seen: Vec<Known>) -> Result<(), PublishError> {
    let mut memo = Memo::fresh_by_inode();
    for k in seen {
        memo.remember_settled(Path::new(""), k);
    }
    fs_.save_memo(&mut memo, file)
}

/// Removes `.netroot-tmp-*` leftovers from every directory the engine writes for this profile.
pub(crate) fn clean_leftovers(
    fs_: &Fs,
    layout: &Layout,
    history: &History,
    menus: &[String],
) -> Result<Vec<PathBuf>, PublishError> {
    let mut out = Vec::new();
    for d in leftover_dirs(layout, history, menus) {
        out.extend(fs_.clean_tmp(&d)?);
    }
    Ok(out)
}

/// The directories [`clean_leftovers`] cleans of temporaries: the TFTP base, the profile's TFTP
/// and NFS directories and the directory of every menu.
pub(crate) fn leftover_dirs(layout: &Layout, history: &History, menus: &[String]) -> Vec<PathBuf> {
    let mut dirs = vec![
        layout.tftp_base(),
        layout.tftp_profile(),
        layout.nfs_profile(),
        layout.nfs.clone(),
    ];
    for rel in history.consumers.iter().chain(menus) {
        dirs.push(super::fsops::parent_of(&layout.menu(rel)).to_path_buf());
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

fn hook_env(cmd: &str, layout: &Layout, generation: &str, action: &str) -> HookReport {
    let tftp = layout.tftp.to_string_lossy();
    let nfs = layout.nfs.to_string_lossy();
    run_hook(
        cmd,
        &[
            ("PROFILE", &layout.profile),
            ("GEN", generation),
            ("TFTP", &tftp),
            ("NFS", &nfs),
            ("NETROOT_ACTION", action),
        ],
        &layout.tftp,
        HOOK_TIMEOUT,
    )
}

/// Wall time of each publish phase, for the report.
struct Phases {
    last: Instant,
    list: Vec<(String, f64)>,
}

impl Phases {
    fn new() -> Phases {
        Phases {
            last: Instant::now(),
            list: Vec::new(),
        }
    }
    fn extend(&mut self, list: impl IntoIterator<Item = (String, f64)>) {
        self.list.extend(list);
        self.last = Instant::now();
    }
    fn done(&mut self, name: &str) {
        let now = Instant::now();
        let seconds = (now - self.last).as_secs_f64();
        tracing::info!(step = name, seconds, "publish step done");
        self.list.push((name.to_string(), seconds));
        self.last = now;
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
