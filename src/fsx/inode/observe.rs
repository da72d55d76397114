//! What a [`super::Writer`] shows its observer: each step before it is made, and what it changed.

use std::fmt;

use super::*;

/// One step of a [`Writer`]; an [`InodeError`] names the one that failed. The observer sees the
/// mutating ones ([`Change::op`]); the others only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Creating a regular file.
    Create,
    Mkdir,
    Symlink,
    /// Creating a device node, fifo or socket.
    Mknod,
    /// Writing a new file's content.
    Write,
    /// Opening a node `O_PATH` to change it.
    Open,
    Stat,
    Chown,
    Chmod,
    SetXattr,
    SetTimes,
    ListXattrs,
    GetXattr,
}

impl Op {
    /// What the step does, for messages (`"chown"`, `"setting the mtime"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Mkdir => "mkdir",
            Op::Symlink => "symlink",
            Op::Mknod => "mknod",
            Op::Write => "write",
            Op::Open => "opening the node",
            Op::Stat => "stat",
            Op::Chown => "chown",
            Op::Chmod => "chmod",
            Op::SetXattr => "setxattr",
            Op::SetTimes => "setting the mtime",
            Op::ListXattrs => "listing xattrs",
            Op::GetXattr => "reading an xattr",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one successful mutating step changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// A new, empty regular file.
    NewFile,
    /// A new node (a new directory is empty and [`BUSY_DIR_MODE`]).
    Created(Node<'a>),
    Owner(u32, u32),
    /// The permission bits (masked).
    Mode(u32),
    /// The xattr of this name was set.
    Xattr(&'a [u8]),
    /// mtime and atime.
    Times(Time),
}

impl Change<'_> {
    /// The step that makes this change.
    pub fn op(&self) -> Op {
        match self {
            Change::NewFile => Op::Create,
            Change::Created(Node::Dir) => Op::Mkdir,
            Change::Created(Node::Symlink(_)) => Op::Symlink,
            Change::Created(_) => Op::Mknod,
            Change::Owner(..) => Op::Chown,
            Change::Mode(_) => Op::Chmod,
            Change::Xattr(_) => Op::SetXattr,
            Change::Times(_) => Op::SetTimes,
        }
    }
}

/// Sees every mutating step of a [`Writer`]: `before` it is made, `after` it succeeded (not after
/// a failure). The content a new file is given is not a step of its own.
pub trait Observer {
    fn before(&self, op: Op);
    fn after(&self, change: &Change<'_>);
}

/// The observer of a writer that nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn before(&self, _: Op) {}
    fn after(&self, _: &Change<'_>) {}
}
