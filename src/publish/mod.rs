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
//!
//! The CLI is meant to be thin: build [`Artifacts`], a menu renderer closure and [`Targets`], call
//! [`publish`] / [`dry_run`] / [`rollback`] / [`gc`] / [`verify`], print the report (`Display` or
//! serde), and exit non-zero when the report says so.

mod activate;
mod engine;
pub mod error;
pub mod exports;
mod fsops;
mod gc;
pub mod generation;
pub mod history;
mod hook;
pub mod layout;
mod memo;
mod plan;
pub mod relpath;
mod report;
pub mod tree;
mod verify;

use std::path::PathBuf;

pub use activate::{ConsumerChange, ConsumerPlan};
pub use engine::{publish, rollback, try_publish, try_rollback};
pub use error::PublishError;
pub use gc::{gc, gc_dry_run};
pub use generation::{generation_id, ArtifactDigests, FileDigest, GenerationRecord};
pub use hook::HookReport;
pub use plan::{dry_run, try_dry_run, Plan, PlanState};
pub use report::{GcReport, PublishReport, RollbackReport};
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

/// Rendered menu files: (path relative to the TFTP root, content). Paths such as `netroot.ipxe`,
/// `boot/grub/grub.cfg`, `pxelinux.cfg/default`, `pxelinux.cfg/01-52-54-00-00-00-01`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MenuFiles {
    pub files: Vec<(String, Vec<u8>)>,
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
}

/// How to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// The kernel command line's generation-independent part (what the menus add besides the
    /// generation's paths). Part of the generation id: changing it makes a new generation.
    pub cmdline: String,
    /// A file memoizing the root tree's content hashes by (size, mtime, ctime, inode, device), like
    /// git's index; `None` reads every file on every publish.
    pub hash_memo: Option<PathBuf>,
    /// A shell command run after activation (also after a no-op publish, so a failed hook can be
    /// retried by publishing again), with `PROFILE`, `GEN`, `TFTP`, `NFS` and `NETROOT_ACTION`
    /// (`publish` or `rollback`) in its environment. Its failure is reported, activation stays.
    pub hook: Option<String>,
    /// Testing aid: abort the process (no cleanup, like SIGKILL or a failover) before the
    /// filesystem step with this number (0 = before the first). Reports count the steps.
    pub crash_after_ops: Option<u64>,
}
