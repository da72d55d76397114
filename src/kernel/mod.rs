//! The kernel an image is built for: its bzImage, release, modules and firmware.
//!
//! A [`Kernel`] comes from one of three places:
//! - [`open_tree`]: a directory holding `vmlinuz*` (top level or `boot/`) and
//!   `lib/modules/<release>/` (or `usr/lib/modules/<release>/`), such as an
//!   extracted package or a node's root tree;
//! - [`open_host`]: the running kernel, from `/proc/sys/kernel/osrelease`,
//!   `/boot/vmlinuz-<release>` and `/lib/modules/<release>`;
//! - a Debian kernel package, unpacked with [`extract_deb`] and then opened with
//!   [`open_tree`].
//!
//! The release is always read from the bzImage header ([`bzimage_version`]),
//! never guessed from file names, so a mismatched image/modules pair is caught
//! before an image is built.

mod bzimage;
mod deb;
mod tree;

use std::io;
use std::path::PathBuf;

pub use bzimage::{bzimage_version, BzImageError};
pub use deb::{extract_deb, extract_deb_metered};
pub use tree::{open_host, open_tree};

/// A kernel image with its matching modules tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Release from the bzImage header, e.g. `6.1.0-56-amd64`.
    pub version: String,
    /// The bzImage (`vmlinuz`).
    pub image: PathBuf,
    /// `.../lib/modules/<version>`.
    pub modules_dir: PathBuf,
    /// `lib/firmware` (or `usr/lib/firmware`) of the same tree, when present.
    pub firmware_dir: Option<PathBuf>,
    /// Files that identify this kernel input (the image, its config and the
    /// module metadata files that exist), for cache keys and build logs.
    pub inputs: Vec<PathBuf>,
}

/// Errors from locating, reading or unpacking a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// An I/O operation on `path` failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "reading".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A buffer handed to [`bzimage_version`] is not a bzImage.
    #[error("not a bzImage: {0}")]
    BzImage(BzImageError),
    /// A file that should be a kernel image is not a bzImage.
    #[error("{path} is not a bzImage: {reason}")]
    NotBzImage {
        /// The file.
        path: PathBuf,
        /// What is wrong with its header.
        reason: BzImageError,
    },
    /// No kernel image in a tree.
    #[error("no regular file named vmlinuz* in {root} or {root}/boot (symlinks are ignored)")]
    NoImage {
        /// The tree searched.
        root: PathBuf,
    },
    /// No modules directory in a tree.
    #[error("no lib/modules/<release> or usr/lib/modules/<release> directory in {root}")]
    NoModulesDir {
        /// The tree searched.
        root: PathBuf,
    },
    /// Images and module directories exist, but no release has both.
    #[error(
        "no kernel image in {root} has a matching modules directory: images {}; module directories {}",
        list_images(.images),
        list_paths(.module_dirs)
    )]
    NoMatch {
        /// The tree searched.
        root: PathBuf,
        /// Every image with its release.
        images: Vec<(PathBuf, String)>,
        /// Every modules directory found.
        module_dirs: Vec<PathBuf>,
    },
    /// More than one image/modules pair matches.
    #[error(
        "ambiguous kernel in {root}: {} all match; keep one kernel in the tree",
        list_images(.candidates)
    )]
    Ambiguous {
        /// The tree searched.
        root: PathBuf,
        /// Each matching image or modules directory with its release.
        candidates: Vec<(PathBuf, String)>,
    },
    /// The running kernel's release file is unusable.
    #[error("{path} does not hold a kernel release: {content:?}")]
    BadRelease {
        /// The osrelease file.
        path: PathBuf,
        /// Its (trimmed) content.
        content: String,
    },
    /// The host image's header does not name the running release.
    #[error("{path} is kernel {found}, but the running kernel is {expected}")]
    HostImageMismatch {
        /// The image.
        path: PathBuf,
        /// Release in its header.
        found: String,
        /// Release from /proc.
        expected: String,
    },
    /// No modules directory for the host kernel.
    #[error("no modules directory for kernel {version}: searched {}", list_paths(.searched))]
    HostModulesMissing {
        /// The running release.
        version: String,
        /// Directories tried.
        searched: Vec<PathBuf>,
    },
    /// The package is not an `ar` archive.
    #[error("{path} is not a Debian package (not an ar archive)")]
    NotAr {
        /// The package.
        path: PathBuf,
    },
    /// The package has no `data.tar*` member.
    #[error("{path} has no data.tar member (members: {})", .members.join(", "))]
    NoDataTar {
        /// The package.
        path: PathBuf,
        /// Member names seen.
        members: Vec<String>,
    },
    /// The data member uses a compression this reader does not support.
    #[error("{path}: unsupported compression {member} (supported: data.tar, .xz, .zst, .gz)")]
    UnsupportedCompression {
        /// The package.
        path: PathBuf,
        /// The member name, e.g. `data.tar.bz2`.
        member: String,
    },
    /// Reading, decompressing or parsing the archive failed.
    #[error("{path}: corrupt or truncated {member}: {source}")]
    Corrupt {
        /// The package.
        path: PathBuf,
        /// The ar member being read.
        member: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tar entry that could write outside the destination or is malformed.
    #[error("{path}: refusing entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The package.
        path: PathBuf,
        /// The entry name as stored.
        entry: String,
        /// Why it is refused.
        #[source]
        reason: crate::rootfs::EntryError,
    },
    /// The data tar as a whole is unusable (headers, end marker, trailing data, decompression).
    #[error("{path}: corrupt or truncated {member}: {reason}")]
    Archive {
        /// The package.
        path: PathBuf,
        /// The ar member being read.
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// The extraction was interrupted (its temporary directory is removed).
    #[error("extracting the kernel package: {0}")]
    Interrupted(#[source] crate::interrupt::Interrupted),
    /// The destination of an extraction already exists.
    #[error("destination {path} already exists")]
    DestExists {
        /// The destination.
        path: PathBuf,
    },
}

fn list_images(items: &[(PathBuf, String)]) -> String {
    let list: Vec<String> = items
        .iter()
        .map(|(path, version)| format!("{} ({version})", path.display()))
        .collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

fn list_paths(items: &[PathBuf]) -> String {
    let list: Vec<String> = items.iter().map(|p| p.display().to_string()).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// Shorthand for building [`KernelError::Io`].
fn io_err(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> KernelError {
    let path = path.into();
    move |source| KernelError::Io {
        action,
        path,
        source,
    }
}
