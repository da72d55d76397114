//! The path-resolution core, free of I/O: entry names become relative component lists, and
//! directory paths are resolved *inside* the image root the way `openat2(RESOLVE_IN_ROOT)` does.
//!
//! - [`entry_components`] turns an archive name into normal components: a leading `/` is dropped
//!   (absolute names are made relative, as GNU tar does), `.` and empty components vanish, and
//!   any `..` or NUL byte refuses the name (a well-formed root tree never needs them).
//! - [`resolve_dir`] walks a directory path through a [`Lookup`] (the real tree, or a fake in
//!   tests), following symlinks with the root as `/`: absolute targets restart at the image root
//!   and `..` never climbs above it. The result is the canonical path: real directories only, so
//!   the I/O layer can open it with `RESOLVE_NO_SYMLINKS` as a second, kernel-enforced check.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Symlinks followed while resolving one path before giving up; the kernel's limit (MAXSYMLINKS),
/// so a chain that works at boot also works here.
pub const MAX_SYMLINK_FOLLOWS: usize = 40;

/// What the tree holds at one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A real directory.
    Dir,
    /// A symbolic link with its raw target.
    Symlink(Vec<u8>),
    /// Anything else (regular file, device, fifo, socket).
    Other,
    /// Nothing there.
    Missing,
}

/// What to do when a directory on the path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it (extraction: tar archives may omit parent directories).
    Create,
    /// Fail (hardlink targets must already exist).
    Fail,
}

/// What to do with a symlink on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it inside the root (root tarballs: `var/run -> /run`).
    Follow,
    /// Refuse the path (kernel subtrees: a link must never redirect a later write).
    Refuse,
}

/// A cursor over a tree: it stands in one real directory and moves one component at a time, so
/// resolving a path costs one step per component however deep the path is.
pub trait Lookup {
    /// Moves the cursor to the root.
    fn to_root(&mut self);
    /// What is at `name` in the cursor's directory.
    fn node(&mut self, name: &OsStr) -> io::Result<Node>;
    /// Moves into the real directory `name` of the cursor's directory.
    fn enter(&mut self, name: &OsStr) -> io::Result<()>;
    /// Creates the directory `name` in the cursor's directory and moves into it.
    fn mkdir(&mut self, name: &OsStr) -> io::Result<()>;
    /// Moves to the parent directory (stays at the root).
    fn up(&mut self);
}

/// Why a name or path was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name has a `..` component.
    #[error("path contains \"..\"")]
    DotDot,
    /// The name has a NUL byte (only possible through PAX records).
    #[error("path contains a nul byte")]
    Nul,
    /// A component on the way is neither a directory nor a symlink.
    #[error("{}: not a directory", display(.at))]
    NotDirectory { at: Vec<OsString> },
    /// A component on the way does not exist (and may not be created).
    #[error("{}: no such file or directory", display(.at))]
    NotFound { at: Vec<OsString> },
    /// A symlink on the way has an empty target.
    #[error("{}: symlink with an empty target", display(.at))]
    EmptyLink { at: Vec<OsString> },
    /// A symlink on the way, with `Links::Refuse`.
    #[error("{} is a symlink; refusing to write through it", rel_path(.at).display())]
    ThroughSymlink { at: Vec<OsString> },
    /// Symlinks nest deeper than [`MAX_SYMLINK_FOLLOWS`] (a loop, usually).
    #[error("too many levels of symbolic links (more than {MAX_SYMLINK_FOLLOWS})")]
    Loop,
    /// The tree could not be read or a directory could not be created.
    #[error("{}: {source}", display(.at))]
    Io {
        at: Vec<OsString>,
        source: io::Error,
    },
}

/// Shows a component list as an image path (`/a/b`).
pub fn display(parts: &[OsString]) -> String {
    let mut s = String::new();
    for p in parts {
        s.push('/');
        s.push_str(&p.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// The normal components of an archive name (or hardlink target). An empty list means the
/// image root itself (`./`, `/`).
pub fn entry_components(name: &[u8]) -> Result<Vec<OsString>, ResolveError> {
    if name.contains(&0) {
        return Err(ResolveError::Nul);
    }
    let mut parts = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(ResolveError::DotDot),
            _ => parts.push(OsStr::from_bytes(part).to_os_string()),
        }
    }
    Ok(parts)
}

/// Resolves the directory path `path` (every component followed, including the last) inside the
/// root; returns the canonical component list of the directory it names.
pub fn resolve_dir<L: Lookup>(
    lookup: &mut L,
    path: &[OsString],
    missing: Missing,
    links: Links,
) -> Result<Vec<OsString>, ResolveError> {
    lookup.to_root();
    resolve_from(lookup, Vec::new(), path, missing, links)
}

/// [`resolve_dir`] from the cursor's directory, whose canonical path is `start` (a caller that
/// just resolved a prefix of `path` goes on from there instead of walking it again).
pub fn resolve_from<L: Lookup>(
    lookup: &mut L,
    start: Vec<OsString>,
    path: &[OsString],
    missing: Missing,
    links: Links,
) -> Result<Vec<OsString>, ResolveError> {
    let mut out = start;
    let mut pending: VecDeque<OsString> = path.iter().cloned().collect();
    let mut follows = 0usize;
    while let Some(part) = pending.pop_front() {
        match part.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                // `out` is canonical (real directories), so its parent is the physical parent;
                // at the root `..` stays at the root, as with RESOLVE_IN_ROOT.
                out.pop();
                lookup.up();
                continue;
            }
            _ => {}
        }
        let io_err = |out: &[OsString], part: &OsStr| {
            let at = with(out, part);
            move |source| ResolveError::Io { at, source }
        };
        let node = lookup.node(&part).map_err(io_err(&out, &part))?;
        match node {
            Node::Dir => {
                lookup.enter(&part).map_err(io_err(&out, &part))?;
                out.push(part);
            }
            Node::Symlink(_) if links == Links::Refuse => {
                return Err(ResolveError::ThroughSymlink {
                    at: with(&out, &part),
                })
            }
            Node::Symlink(target) => {
                follows += 1;
                if follows > MAX_SYMLINK_FOLLOWS {
                    return Err(ResolveError::Loop);
                }
                if target.is_empty() {
                    return Err(ResolveError::EmptyLink {
                        at: with(&out, &part),
                    });
                }
                if target.first() == Some(&b'/') {
                    out.clear();
                    lookup.to_root();
                }
                for piece in target.split(|b| *b == b'/').rev() {
                    pending.push_front(OsStr::from_bytes(piece).to_os_string());
                }
            }
            Node::Other => {
                return Err(ResolveError::NotDirectory {
                    at: with(&out, &part),
                })
            }
            Node::Missing => match missing {
                Missing::Fail => {
                    return Err(ResolveError::NotFound {
                        at: with(&out, &part),
                    })
                }
                Missing::Create => {
                    lookup.mkdir(&part).map_err(io_err(&out, &part))?;
                    out.push(part);
                }
            },
        }
    }
    Ok(out)
}

/// `dir` joined with `name`.
pub fn with(dir: &[OsString], name: &OsStr) -> Vec<OsString> {
    let mut v = dir.to_vec();
    v.push(name.to_os_string());
    v
}

/// `parts` as a relative path.
pub fn rel_path(parts: &[OsString]) -> PathBuf {
    parts.iter().collect()
}

/// `parts` as a path for `openat2` relative to the root's fd: `.` for the root itself.
pub fn at_path(parts: &[OsString]) -> PathBuf {
    if parts.is_empty() {
        PathBuf::from(".")
    } else {
        rel_path(parts)
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
