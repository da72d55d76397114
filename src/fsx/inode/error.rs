//! Why an inode step failed: the step (or the xattr) and the errno.

use std::io;

use rustix::io::Errno;

use super::*;

/// Why a node could not be created, changed or read. Callers add the path.
#[derive(Debug, thiserror::Error)]
pub enum InodeError {
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Sys {
        op: Op,
        #[source]
        source: io::Error,
    },
    /// An extended attribute could not be set.
    #[error("setting xattr {name:?} failed: {source}")]
    Xattr {
        name: String,
        #[source]
        source: io::Error,
    },
    /// An xattr name that is not UTF-8 ([`read_xattrs`]).
    #[error("xattr name {name:?} is not UTF-8")]
    XattrName { name: String },
    /// Reading the content of a new file failed.
    #[error("reading the data failed: {0}")]
    Read(#[source] io::Error),
    /// The content of a new file ended early.
    #[error("expected {expected} data bytes, got {got}")]
    Truncated { expected: u64, got: u64 },
    /// The symlink target is empty or has a NUL byte.
    #[error("invalid symlink target {target:?}: {reason}")]
    SymlinkTarget {
        target: String,
        reason: &'static str,
    },
    /// `u32::MAX` is chown's "leave it", not an id.
    #[error("owner {uid}:{gid} is not a valid id")]
    Owner { uid: u32, gid: u32 },
    /// What is at the name is not the node just created there (replaced under us).
    #[error("the new {expected} was replaced by a {found}")]
    Replaced {
        expected: &'static str,
        found: &'static str,
    },
}

impl InodeError {
    pub(super) fn sys(op: Op) -> impl FnOnce(Errno) -> InodeError {
        move |e| InodeError::Sys {
            op,
            source: e.into(),
        }
    }

    /// The errno of a failed system call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            InodeError::Sys { source, .. } | InodeError::Xattr { source, .. } => {
                source.raw_os_error().map(Errno::from_raw_os_error)
            }
            _ => None,
        }
    }
}

impl From<InodeError> for io::Error {
    fn from(e: InodeError) -> io::Error {
        match e {
            InodeError::Sys { source, .. } => source,
            other => io::Error::other(other),
        }
    }
}
