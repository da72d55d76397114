//! `netroot build`: make-style, content-hashed assembly of a profile's kernel and initramfs.
//!
//! Flow: resolve the profile → compute the configuration key → if the last build's key and every
//! recorded input still match (stat-memoized content hashes), report `up to date` and stop. Otherwise
//! acquire the kernel (a package is extracted once into the cache, keyed by its hash), resolve the
//! module closure, assemble two cpio segments (kernel modules + firmware, and the init side), compress
//! each (cached by content), and swap the finished output directory into place atomically.

mod acquire;
mod assemble;
mod cache_bound;
mod clean;
mod describe;
mod evict;
mod overlays;
mod record;
mod root;
mod run;
mod stage;
mod stages;
mod state;
mod write;

use std::path::PathBuf;
use std::time::Duration;

pub use cache_bound::{parse_size, SizeError, CACHE_MAX_ENV};
pub use clean::{clean, CleanReport, CleanWhat, Cleaned};
pub use run::{build, cache_dir_for, kernel_tree};
pub use write::{INITRAMFS, MANIFEST, ROOTFS, SHA256SUMS, VMLINUZ};

use crate::profile::KernelSpec;

/// Environment variable naming the build cache directory (default: `OUT/.cache`).
pub const CACHE_ENV: &str = "NETROOT_CACHE";
/// Reproducible-builds timestamp for every entry (default 0).
pub const SOURCE_DATE_EPOCH_ENV: &str = "SOURCE_DATE_EPOCH";

/// What to build and where.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Directory holding `profiles/` and `overlays/`.
    pub project: PathBuf,
    pub profile: String,
    /// Overrides the profile's `[kernel]`.
    pub kernel: Option<KernelSpec>,
    /// Outputs go to `out_dir/PROFILE/`.
    pub out_dir: PathBuf,
    /// Build cache; `None` = `out_dir/.cache`.
    pub cache_dir: Option<PathBuf>,
    /// mtime of every image entry.
    pub source_date_epoch: u64,
    /// Run the profile's mmdebstrap recipe again instead of reusing its cached tarball.
    pub refresh_root: bool,
}

/// One step of a build, for progress display and the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageReport {
    pub name: &'static str,
    pub seconds: f64,
    /// The step's result came from the cache.
    pub cached: bool,
}

/// One compressed cpio segment of the image: what the manifest records of it, and whether it
/// came from the cache.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SegmentReport {
    #[serde(flatten)]
    pub segment: crate::manifest::SegmentInfo,
    /// The compressed segment was reused from the cache (same content, same compression).
    pub cached: bool,
}

/// Summary of a build (printed as text or `--json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub profile: String,
    pub up_to_date: bool,
    /// Why a rebuild happened (first change found), or `None` for a cold build / up to date.
    pub reason: Option<String>,
    pub out_dir: PathBuf,
    pub kernel_version: String,
    pub initramfs_bytes: u64,
    pub initramfs_sha256: String,
    pub modules: usize,
    pub warnings: Vec<String>,
    pub stages: Vec<StageReport>,
    /// The image's segments, in order (empty when up to date).
    pub segments: Vec<SegmentReport>,
    /// Bytes evicted from the cache to keep it under `NETROOT_CACHE_MAX` (0: none or unbounded).
    pub evicted_bytes: u64,
    pub seconds: f64,
}

/// Receives progress events; the CLI shows them as a spinner or plain lines.
pub trait Progress {
    fn stage(&self, name: &str);
    fn warn(&self, message: &str);
    /// Byte progress inside a stage: `what` (e.g. `kernel: extracting`) has handled `done` of
    /// `total` bytes (0: not known). Called every few MiB and once at the end of a known total;
    /// shown by default as nothing.
    fn bytes(&self, what: &str, done: u64, total: u64) {
        let _ = (what, done, total);
    }
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}

/// Everything that can fail in a build; each variant names the input involved.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// The build was interrupted between stages (each stage's temporaries are gone).
    #[error("build {0}")]
    Interrupted(#[from] crate::interrupt::Interrupted),
    #[error("profile \"{0}\" sets no [kernel] and none was given with --kernel")]
    NoKernel(String),
    #[error("kernel package {0} not found")]
    DebNotFound(PathBuf),
    #[error(
        "kernel package {deb} has sha256 {actual}, but the profile pins kernel.sha256 = {expected}"
    )]
    KernelPin {
        deb: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    #[error(transparent)]
    Modules(#[from] crate::kmod::KmodError),
    #[error(transparent)]
    Binaries(#[from] crate::elfdeps::ElfError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Compress(#[from] crate::compress::CompressError),
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
    #[error(transparent)]
    Root(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Nodes(#[from] crate::nodes::NodesError),
    #[error("resolved boot config is invalid")]
    BootConfig(#[from] netroot_boot::bootconfig::ConfigError),
    #[error("embedded init is not a static executable: {0}")]
    InitNotStatic(String),
    #[error("{var}={value:?} is not a size: {reason}; write e.g. 20G, 500M, 1.5GiB or bytes")]
    CacheMax {
        var: &'static str,
        value: String,
        reason: cache_bound::SizeError,
    },
    #[error("{context}: {path}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io {
            context,
            path,
            source,
        }
    }
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
