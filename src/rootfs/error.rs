//! Errors of root-tree materialization, scanning and checking.

use std::io;
use std::path::PathBuf;

use super::allow::Offender;
use crate::fsx::inroot::ResolveError;

/// Why one entry (archive member or copied path) could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The name or a path on the way was refused (`..`, NUL, symlink loop, not a directory...).
    #[error("{0}")]
    Path(#[from] ResolveError),
    /// The hardlink target does not resolve inside the image.
    #[error("hardlink target {target:?}: {source}")]
    HardlinkTarget {
        target: String,
        source: ResolveError,
    },
    /// The hardlink target does not exist yet.
    #[error("hardlink target {target:?} does not exist in the image")]
    HardlinkTargetMissing { target: String },
    /// The hardlink target is a directory.
    #[error("hardlink target {target:?} is a directory")]
    HardlinkToDirectory { target: String },
    /// A non-directory entry would replace a directory that has children.
    #[error("cannot replace non-empty directory with a {kind}")]
    NonEmptyDirectory { kind: &'static str },
    /// The strict policy refuses the entry.
    #[error("{reason}")]
    Refused { reason: String },
    /// The entry name is longer than a path may be.
    #[error(
        "name of {len} bytes is longer than PATH_MAX allows ({} bytes)",
        super::entry::MAX_NAME_BYTES
    )]
    NameTooLong { len: usize },
    /// The strict policy never replaces a node by one of the other kind.
    #[error("refusing to replace a {old} with a {kind}")]
    Replace {
        old: &'static str,
        kind: &'static str,
    },
    /// Only a directory can stand for the image root (`./`).
    #[error("the image root can only be a directory, not a {kind}")]
    RootNotDirectory { kind: &'static str },
    /// The symlink target is empty or has a NUL byte.
    #[error("invalid symlink target {target:?}: {reason}")]
    SymlinkTarget {
        target: String,
        reason: &'static str,
    },
    /// Fewer data bytes than the header announced.
    #[error("truncated archive: expected {expected} data bytes, got {got}")]
    Truncated { expected: u64, got: u64 },
    /// The entry type cannot be extracted faithfully.
    #[error("unsupported entry type: {kind}")]
    Unsupported { kind: String },
    /// A header field or PAX record is malformed.
    #[error("invalid {field}: {value:?}")]
    Field { field: &'static str, value: String },
    /// The tar reader failed on this entry (bad header, short read).
    #[error("reading the archive failed: {0}")]
    Read(io::Error),
    /// An extended attribute could not be set.
    #[error("setting xattr {name:?} failed: {source}")]
    Xattr {
        name: String,
        #[source]
        source: io::Error,
    },
    /// A system call on the destination failed.
    #[error("{op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

impl EntryError {
    /// Wraps a failed system call.
    pub(crate) fn io(op: &'static str) -> impl FnOnce(rustix::io::Errno) -> EntryError {
        move |e| EntryError::Io {
            op,
            source: e.into(),
        }
    }

    /// Wraps a failed std I/O call.
    pub(crate) fn std(op: &'static str) -> impl FnOnce(io::Error) -> EntryError {
        move |source| EntryError::Io { op, source }
    }
}

/// Why a root tree could not be materialized, scanned or accepted.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// `dest` must not exist.
    #[error("{}: destination already exists", .dest.display())]
    DestinationExists { dest: PathBuf },
    /// `dest` has no parent directory or file name.
    #[error("{}: destination must be a path with a parent directory and a name", .dest.display())]
    InvalidDestination { dest: PathBuf },
    /// One archive member could not be extracted.
    #[error("{}: entry {entry:?}: {reason}", .archive.display())]
    Entry {
        archive: PathBuf,
        entry: String,
        #[source]
        reason: EntryError,
    },
    /// The archive as a whole is unusable (format, end marker, trailing data, decompression).
    #[error("{}: {reason}", .archive.display())]
    Archive { archive: PathBuf, reason: String },
    /// One path of a copied directory could not be copied.
    #[error("copying {}: {path:?}: {reason}", .source_dir.display())]
    Copy {
        source_dir: PathBuf,
        path: String,
        #[source]
        reason: EntryError,
    },
    /// The source directory lies around the destination.
    #[error("{}: destination {} is inside the source directory", .source_dir.display(), .dest.display())]
    DestinationInsideSource { source_dir: PathBuf, dest: PathBuf },
    /// A filesystem operation on a whole tree failed.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The mmdebstrap recipe has an unusable field.
    #[error("invalid mmdebstrap recipe: {field} {value:?}: {reason}")]
    Recipe {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A customize hook could not be read.
    #[error("customize hook {}: {source}", .path.display())]
    Hook {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// mmdebstrap could not be started.
    #[error("cannot run {}: {source} (install it with `apt-get install mmdebstrap`)", .program.display())]
    MmdebstrapSpawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },
    /// mmdebstrap failed.
    #[error("{} {args} failed ({status}); last output:\n{output}", .program.display())]
    MmdebstrapFailed {
        program: PathBuf,
        args: String,
        status: String,
        output: String,
    },
    /// mmdebstrap was interrupted (and has cleaned up and exited since).
    #[error("mmdebstrap: {0}")]
    Interrupted(#[source] crate::interrupt::Interrupted),
    /// A glob of the allow-list does not parse.
    #[error("allow-list {category}: invalid glob {glob:?}: {reason}")]
    Glob {
        category: &'static str,
        glob: String,
        reason: String,
    },
    /// Paths the allow-list does not cover.
    #[error("{} path(s) not allowed: {}", .offenders.len(), list(.offenders))]
    NotAllowed { offenders: Vec<Offender> },
}

fn list(offenders: &[Offender]) -> String {
    let parts: Vec<String> = offenders.iter().map(|o| o.to_string()).collect();
    parts.join(", ")
}

impl RootfsError {
    /// Wraps a whole-tree I/O failure.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> RootfsError {
        let path = path.into();
        move |source| RootfsError::Io { op, path, source }
    }
}
