//! The publish engine: puts a built profile (kernel, initramfs, build manifest, optional read-only
//! root tree) on a TFTP target and an NFS target as an immutable, content-addressed *generation*,
//! then points every consumer at it.
//!
//! Guarantees (see `docs/publish.md`):
//! - A generation is never modified once its directory has its final name: nodes have it mounted.
//!   Publishing identical content is a no-op ("already published"); different content makes a new
//!   generation id (derived from content hashes, [`generation_id`]).
//! - Every write is temp file in the same directory → fsync → rename → fsync(dir); generation
//!   directories are staged under `.netroot-tmp-*` names and renamed into place; the root tree is
//!   made durable before its rename (by fsyncs of its few new inodes and its directories after a
//!   small change, else by one syncfs). Activation is one atomic pointer flip per consumer
//!   (each menu file, each `current` symlink). Menus name `netroot/PROFILE/GEN/...` and the NFS path
//!   `PROFILE/GEN` explicitly, so any mix of flipped and unflipped consumers after a crash or a
//!   DRBD failover boots a complete generation.
//! - The root tree reuses unchanged files of the previous generation by hardlink (rsync
//!   `--link-dest`), preserving owner, mode (setuid/setgid/sticky), xattrs, symlinks, hardlinks,
//!   device nodes and mtimes, never following symlinks.
//! - Damage never spreads: an inode is re-checked before it is hardlinked into a new generation
//!   (boot files re-hashed; tree entries re-read unless their stat stamp is the one recorded when
//!   publish last linked or created them, [`tree::relink`]); a damaged one is copied from the
//!   source and reported. [`repair`] restores damaged files of every generation from intact
//!   copies.
//!
//! The CLI is meant to be thin: build [`Artifacts`], a menu renderer closure and [`Targets`], call
//! [`publish`] / [`dry_run`] / [`rollback`] / [`gc`] / [`verify`] / [`repair`], print the report (`Display` or
//! serde), and exit non-zero when the report says so.

mod activate;
mod active;
mod engine;
pub mod error;
pub mod exports;
mod fsops;
mod gc;
pub mod generation;
pub mod history;
mod hook;
pub mod layout;
mod list;
mod plan;
pub mod relpath;
mod repair;
mod report;
mod space;
mod staging;
pub mod tree;
mod verify;

use std::path::PathBuf;

pub use activate::{ConsumerChange, ConsumerPlan};
pub use active::{active_generations, ActiveGeneration};
pub use engine::{publish, rollback, try_publish, try_rollback};
pub use error::PublishError;
pub use fsops::LOCK_TIMEOUT;
pub use gc::{gc, gc_dry_run};
pub use generation::{generation_id, ArtifactDigests, FileDigest, GenerationRecord};
pub use hook::HookReport;
pub use list::{generations, GenerationInfo, GenerationList};
pub use plan::{dry_run, try_dry_run, Plan, PlanState};
pub use repair::{repair, RepairReport, RepairSources, RestoredFile, Unrepaired};
pub use report::{GcReport, PublishReport, RollbackReport};
pub use staging::check_targets_writable;
pub use verify::{verify, GenerationCheck, VerifyReport};

/// The already-built inputs of one profile.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub profile: String,
    pub vmlinuz: PathBuf,
    pub initramfs: PathBuf,
    /// The build's `manifest.json`.
    pub manifest: PathBuf,
    /// A directory: the read-only root served over NFS (`None`: no NFS root for this profile).
    pub root_tree: Option<PathBuf>,
}

/// Everything a publish or rollback makes live besides the generation itself, rendered before
/// the first write and flipped in the activation step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MenuFiles {
    /// Menu files: (path relative to the TFTP root, content). Paths such as `netroot.ipxe`,
    /// `boot/grub/grub.cfg`, `pxelinux.cfg/default`, `pxelinux.cfg/01-52-54-00-00-00-01`.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files at the top of the NFS target (export snippets, DHCP reservations): (name, content).
    pub nfs_files: Vec<(String, Vec<u8>)>,
    /// Files in `TFTP/netroot/` shared by every profile (the published site settings).
    pub site_files: Vec<(String, Vec<u8>)>,
    /// The command line of the profile's own entry for this generation, recorded in its
    /// `generation.json` (`None`: the generation-independent [`PublishOptions::cmdline`]).
    pub cmdline: Option<String>,
    /// Things the renderer noticed (a node listed by two profiles, a default not published yet).
    pub warnings: Vec<String>,
}

/// Where to publish.
#[derive(Debug, Clone)]
pub struct Targets {
    /// The TFTP (and HTTP) root.
    pub tftp: PathBuf,
    /// The directory holding the NFS exports (`NFS/PROFILE` is exported).
    pub nfs: PathBuf,
}

/// The error a fallible menu renderer returns (any error type, boxed).
pub type MenuRenderError = Box<dyn std::error::Error + Send + Sync>;

/// Internal form of a menu renderer: errors already mapped to [`PublishError::Menus`].
pub(crate) type RenderMenus<'a> = dyn Fn(&GenerationPaths) -> Result<MenuFiles, PublishError> + 'a;

/// Wraps a fallible renderer so its error names the generation it was rendering.
pub(crate) fn menus_or_error<E: Into<MenuRenderError>>(
    menus: impl Fn(&GenerationPaths) -> Result<MenuFiles, E>,
) -> impl Fn(&GenerationPaths) -> Result<MenuFiles, PublishError> {
    move |g| {
        menus(g).map_err(|e| PublishError::Menus {
            generation: g.generation.clone(),
            source: e.into(),
        })
    }
}

/// What a menu renderer needs to reference one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationPaths {
    pub profile: String,
    pub generation: String,
    /// `netroot/PROFILE/GEN`, relative to the TFTP root.
    pub tftp_dir: String,
    /// `netroot/PROFILE/GEN/vmlinuz`.
    pub vmlinuz: String,
    /// `netroot/PROFILE/GEN/initramfs.img`.
    pub initramfs: String,
    /// `netroot/PROFILE/GEN/manifest.json`.
    pub manifest: String,
    /// The root tree on the server (`NFS/PROFILE/GEN`), when the profile has one.
    pub nfs_root: Option<PathBuf>,
    /// `PROFILE/GEN`: the root tree relative to the NFS target (append to an export's pseudo path).
    pub nfs_rel: Option<String>,
    /// The generation-independent kernel command line ([`PublishOptions::cmdline`]).
    pub cmdline: String,
    /// The generation's boot record (the candidate's for a publish, the target's for a rollback).
    pub boot: Option<crate::record::BootRecord>,
}

/// How to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// The kernel command line's generation-independent part (what the menus add besides the
    /// generation's paths). Part of the generation id: changing it makes a new generation.
    pub cmdline: String,
    /// A file memoizing the root tree's content hashes by (size, mtime, ctime, inode, device), like
    /// git's index; `None` reads every file on every publish. Its sibling `FILE.published`
    /// memoizes the published generation's inodes ([`tree::relink`]); with `None` every
    /// previous-generation file is re-read before it is hardlinked.
    pub hash_memo: Option<PathBuf>,
    /// A shell command run after activation (also after a no-op publish, so a failed hook can be
    /// retried by publishing again), with `PROFILE`, `GEN`, `TFTP`, `NFS` and `NETROOT_ACTION`
    /// (`publish` or `rollback`) in its environment. Its failure is reported, activation stays.
    pub hook: Option<String>,
    /// Testing aid: abort the process (no cleanup, like SIGKILL or a failover) before the
    /// filesystem step with this number (0 = before the first). Reports count the steps.
    pub crash_after_ops: Option<u64>,
    /// The build's boot record, copied into `generation.json`.
    pub boot: Option<crate::record::BootRecord>,
    /// Boot loader images to install into the TFTP root when missing (staged, then moved in
    /// during activation).
    pub loaders: Option<Loaders>,
    /// Generations to keep after a successful publish (`publish.keep`); `None`: no collection.
    pub keep: Option<usize>,
    /// Called once when the publish lock is held by another process, before waiting for it:
    /// the lock file and the holder's pid (from `/proc/locks`; `None` when it cannot be told).
    pub on_lock_wait: Option<LockWaitFn>,
}

/// What [`PublishOptions::on_lock_wait`] is told: the lock file and the holder's pid.
pub type LockWaitFn = fn(&std::path::Path, Option<u32>);

/// An installer of boot loader images: `install` fills an empty staging directory laid out like
/// the TFTP root; every entry it makes that the TFTP root lacks is moved in at activation.
#[derive(Clone)]
pub struct Loaders {
    /// A file (relative to the TFTP root) whose presence means the loaders are installed.
    pub marker: String,
    pub install: std::sync::Arc<InstallLoaders>,
}

/// Fills a staging directory with loader images.
pub type InstallLoaders = dyn Fn(&std::path::Path) -> Result<(), MenuRenderError> + Send + Sync;

impl std::fmt::Debug for Loaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaders")
            .field("marker", &self.marker)
            .finish()
    }
}
