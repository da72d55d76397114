//! The one writer of inode metadata: creating a node of each kind and giving it, or a node that
//! already exists, its owner, mode, xattrs and mtime, never following a symlink. Root-tree
//! extraction and directory copy (src/rootfs), the overlay writer (src/overlay/apply.rs) and
//! publish's stager and repair (src/publish/tree) all write through a [`Writer`].
//!
//! Order: create → chown → chmod → xattrs → mtime. chown clears setuid/setgid and
//! `security.capability`, so it comes first; the mtime comes last, after the content.
//!
//! A regular file or directory that is open is changed through its fd ([`Writer::apply_fd`]). A
//! node named by a directory fd and a name ([`Writer::apply_at`]) is opened `O_PATH|O_NOFOLLOW`,
//! looked at, and chowned through that fd. A symlink then gets lsetxattr and
//! `utimensat(AT_SYMLINK_NOFOLLOW)` and no chmod (a link has no mode of its own); anything else
//! gets chmod, setxattr and utimensat through `/proc/self/fd/N`, the node itself, because an
//! `O_PATH` fd cannot be fchmod'ed and opening a device or a fifo for real could have side
//! effects or block (glibc's `fchmodat(AT_SYMLINK_NOFOLLOW)` does the same).
//!
//! Each mutating step is shown to the writer's [`Observer`] before it is made and, once it
//! succeeded, what it changed: publish counts steps there (its crash tests stop the process at a
//! chosen one) and records the changes for its power-loss model. Whether the owner is set is an
//! option of the writer ([`Chown`]).

use rustix::fs::{self as rfs, Dev, FileType};

mod error;
mod observe;
mod writer;
mod xattr;

pub use error::InodeError;
pub use observe::{Change, Observer, Op, Unobserved};
pub use writer::Writer;
pub use xattr::read_xattrs;

/// Permission bits including setuid, setgid and sticky: what [`Meta::mode`] is masked with.
pub const MODE_BITS: u32 = 0o7777;
/// Mode of a new regular file or special node between its creation and the chmod.
pub const NEW_NODE_MODE: u32 = 0o600;
/// Mode of a directory while it is being filled (its own mode is applied after its contents,
/// so that a read-only mode does not block them).
pub const BUSY_DIR_MODE: u32 = 0o700;
/// Where the kernel exposes an fd as a path.
const PROC_SELF_FD: &str = "/proc/self/fd";

/// A point in time with nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

impl Time {
    /// atime = mtime = `self` (atime is not kept: copies stay reproducible).
    fn timestamps(self) -> rfs::Timestamps {
        let t = rfs::Timespec {
            tv_sec: self.sec,
            tv_nsec: self.nsec.into(),
        };
        rfs::Timestamps {
            last_access: t,
            last_modification: t,
        }
    }
}

/// Owner, mode, xattrs and mtime of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (masked with [`MODE_BITS`]; ignored for symlinks).
    pub mode: u32,
    /// The mtime (and atime); `None` leaves the times as they are.
    pub mtime: Option<Time>,
    /// Extended attributes (name, value), set in this order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A node to create other than a regular file ([`Writer::create_file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node<'a> {
    Dir,
    /// A symlink with this raw target (kept as is, absolute or not).
    Symlink(&'a [u8]),
    Char(Dev),
    Block(Dev),
    Fifo,
    Socket,
}

impl Node<'_> {
    pub fn file_type(&self) -> FileType {
        match self {
            Node::Dir => FileType::Directory,
            Node::Symlink(_) => FileType::Symlink,
            Node::Char(_) => FileType::CharacterDevice,
            Node::Block(_) => FileType::BlockDevice,
            Node::Fifo => FileType::Fifo,
            Node::Socket => FileType::Socket,
        }
    }
}

/// Whether a [`Writer`] sets the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chown {
    Always,
    /// Never (an unprivileged writer's nodes belong to it, as with `tar -x`).
    Never,
    /// Unless uid and gid both are the process's effective ones, which a node it creates gets
    /// anyway (publish: a tree of the publisher's own files costs no chown).
    UnlessEffective,
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
