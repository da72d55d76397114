//! What an archive member or a copied path becomes, including the one kind that stays here (a
//! hardlink, resolved inside the image by [`super::tree`]); every other node is created, and all
//! metadata applied, by the one inode writer ([`crate::fsx::inode`]) without following links.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;

use rustix::fs as rfs;

use super::error::EntryError;
use crate::fsx::inode::{Chown, InodeError, Meta, Node, Writer};

/// The writer of every node of a root tree: owners are always set (the image's, or the running
/// user's under the strict policy).
pub(crate) const WRITER: Writer<'static> = Writer::new(Chown::Always);

/// What to create.
pub(crate) enum Kind<'a> {
    /// A regular file with exactly `size` bytes from `data`.
    File {
        data: &'a mut dyn Read,
        size: u64,
    },
    Dir,
    /// A symlink with this raw target (kept as is, absolute or not).
    Symlink(&'a [u8]),
    /// A hardlink to this image path (made relative, resolved inside the image).
    Hardlink(&'a [u8]),
    /// Another link to the file at this path outside the tree (same filesystem): a root variant
    /// sharing the unchanged files of its base. The inode keeps its own metadata.
    LinkFrom(&'a std::path::Path),
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
    Socket,
}

impl Kind<'_> {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Kind::File { .. } => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink(_) => "symlink",
            Kind::Hardlink(_) => "hardlink",
            Kind::LinkFrom(_) => "link to the base tree",
            Kind::Char { .. } => "character device",
            Kind::Block { .. } => "block device",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
        }
    }
}

/// Creates a non-directory, non-hardlink node at `dir`/`name` (which is free) with `meta`.
pub(crate) fn create(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    kind: Kind<'_>,
    meta: &Meta,
    buf: &mut [u8],
) -> Result<(), EntryError> {
    let node = match kind {
        Kind::File { data, size } => {
            return Ok(WRITER.create_file(dir, name, data, size, meta, buf)?)
        }
        Kind::Symlink(target) => Node::Symlink(target),
        Kind::Char { major, minor } => Node::Char(rfs::makedev(major, minor)),
        Kind::Block { major, minor } => Node::Block(rfs::makedev(major, minor)),
        Kind::Fifo => Node::Fifo,
        Kind::Socket => Node::Socket,
        Kind::LinkFrom(from) => {
            return rfs::linkat(rfs::CWD, from, dir, name, rfs::AtFlags::empty())
                .map_err(EntryError::io("link"));
        }
        Kind::Dir | Kind::Hardlink(_) => {
            return Err(EntryError::Unsupported {
                kind: kind.name().into(),
            })
        }
    };
    Ok(WRITER.create(dir, name, node, meta)?)
}

impl From<InodeError> for EntryError {
    fn from(e: InodeError) -> EntryError {
        match e {
            InodeError::Sys { op, source } => EntryError::Io {
                op: op.as_str(),
                source,
            },
            InodeError::Xattr { name, source } => EntryError::Xattr { name, source },
            InodeError::Read(e) => EntryError::Read(e),
            InodeError::Truncated { expected, got } => EntryError::Truncated { expected, got },
            InodeError::SymlinkTarget { target, reason } => {
                EntryError::SymlinkTarget { target, reason }
            }
            InodeError::Owner { uid, gid } => EntryError::Field {
                field: "owner",
                value: format!("{uid}:{gid}"),
            },
            other @ (InodeError::Replaced { .. } | InodeError::XattrName { .. }) => {
                EntryError::Io {
                    op: "checking the new node",
                    source: io::Error::other(other.to_string()),
                }
            }
        }
    }
}
