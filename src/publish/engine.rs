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

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::activate::{activate, paths_for, references, validate_menus};
use super::error::PublishError;
use super::fsops::{Fs, Lock};
use super::generation::stage_tftp;
use super::history::{History, HistoryEntry};
use super::hook::{run_hook, HookReport, HOOK_TIMEOUT};
use super::layout::{validate_generation, Layout};
use super::memo::Memo;
use super::plan::{check_complete, prepare, PlanState};
use super::report::{PublishReport, RollbackReport};
use super::tree::stage::{stage, Durability};
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
/// written, so a failure ([`PublishError::Menus`]) leaves the targets untouched.
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
    let _lock = Lock::acquire(&fs_, &layout.lock_path())?;
    phases.done("lock");
    let mut memo = Memo::load(opts.hash_memo.as_deref());
    phases.done("load memo");
    let mut prep = prepare(a, &menus, t, opts, &mut memo)?;
    phases.done("scan");
    let generation = prep.plan.generation.clone();
    let has_root = prep.scanned.is_some();
    let menu_paths: Vec<String> = prep.menus.files.iter().map(|(p, _)| p.clone()).collect();
    let mut cleaned = clean_leftovers(&fs_, &layout, &prep.history, &menu_paths)?;
    let mut tree_stats = None;
    let mut memo_saved = None;

    if prep.plan.state == PlanState::New {
        let refs = references(&layout, &prep.history, &menu_paths)?;
        if let Some(consumers) = refs.get(&generation) {
            return Err(PublishError::UnlistedReference {
                profile: layout.profile.clone(),
                consumer: consumers.join(", "),
                generation,
            });
        }
        for o in &prep.plan.orphans {
            fs_.remove(o)?;
            cleaned.push(o.clone());
        }
        if let Some(scanned) = &prep.scanned {
            let parent = layout.nfs_profile();
            fs_.create_dir_all(&parent)?;
            let staged = super::fsops::tmp_path(&parent, "tree");
            let prev = prep.previous();
            let bytes = prep.manifest_bytes.as_deref().unwrap_or_default();
            // The tree manifest (written to a temporary, fsynced) and the hash memo (a cache,
            // complete after the scan) are written while the tree is staged: a few MB each that
            // would otherwise add their write and fsync to the publish.
            let (staged_tree, manifest_tmp, saved) = std::thread::scope(|s| {
                let side = s.spawn(|| (fs_.write_temp(&parent, bytes), memo.save(&fs_)));
                let staged_tree = stage(&fs_, scanned, &prep.actions, prev.as_ref(), &staged);
                let (tmp, saved) = side.join().unwrap_or_else(|_| {
                    let panicked = || PublishError::BadState {
                        path: parent.clone(),
                        reason: "internal: the manifest writer panicked".into(),
                    };
                    (Err(panicked()), Err(panicked()))
                });
                (staged_tree, tmp, saved)
            });
            memo_saved = Some(saved);
            let staged_tree = staged_tree?;
            tree_stats = Some(staged_tree.stats);
            phases.done("stage tree");
            match staged_tree.durability {
                // The stager fsynced every inode it created and every directory.
                Durability::Fsynced => {}
                Durability::NeedsSyncfs => {
                    fs_.syncfs(&staged)?;
                    phases.done("syncfs");
                }
            }
            fs_.rename(&manifest_tmp?, &layout.tree_manifest(&generation))?;
            fs_.fsync_dir(&parent)?;
            fs_.rename_noreplace(&staged, &layout.nfs_gen(&generation))?;
            fs_.fsync_dir(&parent)?;
        }
        fs_.create_dir_all(&layout.tftp_profile())?;
        stage_tftp(&fs_, &layout, a, &prep.record)?;
        phases.done("stage boot files");
    }

    let noop = prep.plan.is_noop();
    if !noop {
        if prep.plan.state != (PlanState::Published { active: true }) {
            prep.history.push(HistoryEntry {
                generation: generation.clone(),
                published_unix: now_unix(),
                root: has_root,
            });
        }
        for p in &menu_paths {
            prep.history.add_consumer(p);
        }
        prep.history.save(&fs_, &layout.history())?;
        activate(&fs_, &layout, &generation, has_root, &prep.menus)?;
        prep.history.active = Some(generation.clone());
        prep.history.save(&fs_, &layout.history())?;
        phases.done("activate");
    }

    let mut warnings = std::mem::take(&mut prep.plan.warnings);
    if let Err(e) = memo_saved.unwrap_or_else(|| memo.save(&fs_)) {
        warnings.push(format!("hash memo not saved: {e}"));
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
        tree: tree_stats,
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
    let _lock = Lock::acquire(&fs_, &layout.lock_path())?;
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
    let rendered = menus(&paths_for(&layout, &target, entry.root, &record.cmdline))?;
    validate_menus(&rendered)?;
    let menu_paths: Vec<String> = rendered.files.iter().map(|(p, _)| p.clone()).collect();
    clean_leftovers(&fs_, &layout, &history, &menu_paths)?;
    for p in &menu_paths {
        history.add_consumer(p);
    }
    history.save(&fs_, &layout.history())?;
    let consumers = activate(&fs_, &layout, &target, entry.root, &rendered)?;
    history.active = Some(target.clone());
    history.save(&fs_, &layout.history())?;
    let hook = opts
        .hook
        .as_deref()
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
    fn done(&mut self, name: &str) {
        let now = Instant::now();
        self.list
            .push((name.to_string(), (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
