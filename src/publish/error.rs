//! Errors of the publish engine. Every variant names the path, profile or generation involved.

use std::io;
use std::path::{Path, PathBuf};

use crate::fsx::memo::HashError;

use crate::fsx::inode::{InodeError, Op};

/// Why a publish, rollback, gc, verify or export rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The profile name cannot be used as a directory name on the targets.
    #[error("invalid profile name {name:?}: {reason}")]
    InvalidProfile { name: String, reason: &'static str },
    /// A generation id is not `g` followed by 16 lowercase hex digits.
    #[error("invalid generation id {id:?}: expected 'g' followed by 16 lowercase hex digits")]
    InvalidGeneration { id: String },
    /// The menus for a generation could not be rendered; nothing was written.
    #[error("cannot render boot menus for generation {generation}")]
    Menus {
        generation: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A menu file path cannot be written under the TFTP root.
    #[error("invalid menu file path {path:?}: {reason}")]
    InvalidMenuPath { path: String, reason: &'static str },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An input is not what the engine can publish.
    #[error("{path}: {reason}")]
    BadInput { path: PathBuf, reason: String },
    /// A target filesystem has less room than the new generation takes there.
    #[error(
        "{path}: the {what} filesystem has {} free, generation {generation} needs {}",
        mib(*available),
        mib(*need)
    )]
    NoSpace {
        /// `TFTP`, `NFS`, or `TFTP and NFS` when both are on the filesystem.
        what: String,
        path: PathBuf,
        generation: String,
        need: u64,
        available: u64,
    },
    /// A source file changed between hashing and copying.
    #[error("{path}: source changed during publish ({detail}); publish again")]
    SourceChanged { path: PathBuf, detail: String },
    /// A state file (history, generation record, tree manifest) cannot be read.
    #[error("{path}: {reason}")]
    BadState { path: PathBuf, reason: String },
    /// The profile has no active generation.
    #[error("profile {profile} has no published generation")]
    NothingPublished { profile: String },
    /// Rollback found no generation before the active one.
    #[error("profile {profile}: no generation before {active} to roll back to")]
    NoRollbackTarget { profile: String, active: String },
    /// A generation named by the caller is not in the profile's history.
    #[error("profile {profile}: generation {generation} is not in the history")]
    UnknownGeneration { profile: String, generation: String },
    /// A generation in the history lost one of its parts.
    #[error("profile {profile}: generation {generation} is incomplete: {path} is missing")]
    GenerationIncomplete {
        profile: String,
        generation: String,
        path: PathBuf,
    },
    /// A consumer references a generation that the history does not list.
    #[error(
        "profile {profile}: {consumer} references generation {generation}, which the history does \
         not list; run verify"
    )]
    UnlistedReference {
        profile: String,
        consumer: String,
        generation: String,
    },
    /// A publish failed before activation, and removing what it had staged failed too.
    #[error("{error} (and removing what the publish had staged failed: {undo})")]
    Undo {
        error: Box<PublishError>,
        undo: Box<PublishError>,
    },
    /// Another publisher holds the lock.
    #[error("timed out after {secs} s waiting for the publish lock {path}")]
    LockTimeout { path: PathBuf, secs: u64 },
    /// An export setting is unusable.
    #[error("invalid export setting {field} = {value:?}: {reason}")]
    InvalidExport {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Two profiles derive the same export identifier.
    #[error("profiles {a} and {b} both get {kind} {id}; set one of them explicitly")]
    ExportIdCollision {
        kind: &'static str,
        a: String,
        b: String,
        id: u64,
    },
}

/// Maps an `io::Error` of operation `op` on `path` to [`PublishError::Io`].
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> PublishError {
    let path = path.into();
    move |source| PublishError::Io { op, path, source }
}

/// An inode writer's failure at `path` ([`crate::fsx::inode`]), in the words of [`io_err`].
pub(crate) fn inode_err(path: impl Into<PathBuf>) -> impl FnOnce(InodeError) -> PublishError {
    let path = path.into();
    move |e| match e {
        InodeError::Sys { op, source } => {
            let op = match op {
                Op::Create => "create",
                Op::Mkdir => "create directory",
                Op::Symlink => "create symlink",
                Op::Mknod => "create device node",
                Op::Write => "write",
                Op::Open => "open",
                Op::Stat => "stat",
                Op::Chown => "chown",
                Op::Chmod => "chmod",
                Op::SetXattr => "set xattr on",
                Op::SetTimes => "set times of",
                Op::ListXattrs => "list xattrs of",
                Op::GetXattr => "read xattr of",
            };
            PublishError::Io { op, path, source }
        }
        InodeError::Xattr { source, .. } => PublishError::Io {
            op: "set xattr on",
            path,
            source,
        },
        InodeError::XattrName { name } => PublishError::BadInput {
            path,
            reason: format!("xattr name {name:?} is not UTF-8"),
        },
        other => PublishError::BadState {
            path,
            reason: other.to_string(),
        },
    }
}

/// Maps a failure to hash `path` (through the memo) into publish's error: `open` and `read`
/// errors as such, a file whose size changed while read as [`PublishError::SourceChanged`].
pub(crate) fn hash_err(path: &Path) -> impl FnOnce(HashError) -> PublishError {
    let path = path.to_path_buf();
    move |e| match e {
        HashError::Open(source) => PublishError::Io {
            op: "open",
            path,
            source,
        },
        HashError::Read(source) => PublishError::Io {
            op: "read",
            path,
            source,
        },
        HashError::Changed { expected, read, .. } => PublishError::SourceChanged {
            path,
            detail: format!("size {expected} at scan, {read} bytes read"),
        },
    }
}

/// Same as [`io_err`] for rustix's errno type.
pub(crate) fn errno(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(rustix::io::Errno) -> PublishError {
    let path = path.into();
    move |e| PublishError::Io {
        op,
        path,
        source: io::Error::from(e),
    }
}

/// `n` bytes in MiB with one decimal, as the space errors print them.
fn mib(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    format!("{:.1} MiB", n as f64 / MIB)
}
