//! Errors from building and writing an image.

use std::io;

/// Why an entry could not be added or the archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The path is not a clean relative path.
    #[error("invalid image path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// The path was already added with something different.
    #[error("{path} was already added as {existing}; cannot add it again as {new}")]
    Conflict {
        path: String,
        existing: String,
        new: String,
    },
    /// A parent of the path is not a directory.
    #[error("cannot add {path}: its parent {parent} is a {kind}, not a directory")]
    ParentNotDirectory {
        path: String,
        parent: String,
        kind: &'static str,
    },
    /// The path is a directory and something non-directory was requested.
    #[error("cannot add {path} as a {new}: {path} is the parent directory of {child}")]
    DirectoryHasChildren {
        path: String,
        new: &'static str,
        child: String,
    },
    /// A hardlink names a path that is not in the image.
    #[error("hardlink {path}: target {target} is not in the image")]
    HardlinkTargetMissing { path: String, target: String },
    /// A hardlink names something other than a regular file.
    #[error("hardlink {path}: target {target} is a {kind}; only regular files can be hardlinked")]
    HardlinkTargetNotFile {
        path: String,
        target: String,
        kind: &'static str,
    },
    /// The mode has bits beyond the permission bits (or the wrong file type bits).
    #[error("{path}: mode {mode:#o} is not a permission mode (expected bits within 0o7777)")]
    InvalidMode { path: String, mode: u32 },
    /// The symlink target is unusable.
    #[error("symlink {path}: invalid target {target:?}: {reason}")]
    InvalidSymlinkTarget {
        path: String,
        target: String,
        reason: &'static str,
    },
    /// The data does not fit the 32-bit newc size field.
    #[error("{path}: {size} bytes exceeds the newc limit of {max} bytes")]
    FileTooLarge { path: String, size: usize, max: u32 },
    /// The modification time does not fit the 32-bit newc field.
    #[error("mtime {mtime} does not fit the 32-bit newc mtime field")]
    MtimeOutOfRange { mtime: u64 },
    /// More inodes than the 32-bit newc field can number.
    #[error("too many entries for the 32-bit newc inode field")]
    TooManyInodes,
    /// Writing the archive failed.
    #[error("writing the cpio archive failed: {source}")]
    Write {
        #[from]
        source: io::Error,
    },
}
