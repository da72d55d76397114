//! Paths inside a root, resolved the way `openat2(RESOLVE_IN_ROOT)` resolves them: the one
//! resolver of every wing that reads or writes a tree as its own `/` (the image root an archive is
//! extracted into, the sysroot libraries are searched in).
//!
//! - A path is a list of components: empty ones and `.` vanish, and `..` goes to the parent of
//!   the canonical path so far, staying at the root when already there.
//! - Symlinks are followed with the root as `/`: an absolute target restarts at the root, a
//!   relative one goes on from the link's directory, and at most [`MAX_SYMLINKS`] are followed.
//! - The tree is read through a [`Lookup`], a cursor that stands in one real directory and moves
//!   one component at a time (over open directory fds, over the real filesystem below a path,
//!   or over an in-memory fake in tests), so a path costs one step per component however deep.
//!
//! The result is the canonical component list (real directories, and for [`resolve_path`] a last
//! component of any kind), so the I/O layer can reopen it with `RESOLVE_NO_SYMLINKS` as a second,
//! kernel-enforced check.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Symlinks followed while resolving one path before giving up (a loop, usually). The kernel's
/// own limit (MAXSYMLINKS, path_resolution(7)): a chain that works when the tree is `/` at boot
/// works here, and one the kernel refuses is refused here instead of shipping a broken path.
pub const MAX_SYMLINKS: usize = 40;

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

/// What the last component may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    /// A directory, like every component before it; the cursor ends in it.
    Dir,
    /// Anything that exists; the cursor ends in it if it is a directory, else in its parent.
    Any,
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
    /// Creates the directory `name` in the cursor's directory and moves into it. Only
    /// [`Missing::Create`] calls it; a read-only lookup keeps this refusal.
    fn mkdir(&mut self, name: &OsStr) -> io::Result<()> {
        let _ = name;
        Err(io::ErrorKind::Unsupported.into())
    }
    /// Moves to the parent directory (stays at the root).
    fn up(&mut self);
}

/// Why a name or path was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name has a `..` component (names that may not climb are refused before resolving).
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
    /// Symlinks nest deeper than [`MAX_SYMLINKS`] (a loop, usually).
    #[error("too many levels of symbolic links (more than {MAX_SYMLINKS})")]
    Loop,
    /// The tree could not be read or a directory could not be created.
    #[error("{}: {source}", display(.at))]
    Io {
        at: Vec<OsString>,
        source: io::Error,
    },
}

/// Shows a component list as a path inside the root (`/a/b`).
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

/// The components of a `/`-separated path, as given (`..`, `.` and empty ones included, for the
/// resolver to apply). A leading `/` only adds an empty one: [`resolve_dir`] and [`resolve_path`]
/// start at the root anyway.
pub fn split(path: &[u8]) -> Vec<OsString> {
    path.split(|b| *b == b'/')
        .map(|part| OsStr::from_bytes(part).to_os_string())
        .collect()
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
    walk(lookup, Vec::new(), path, missing, links, Last::Dir)
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
    walk(lookup, start, path, missing, links, Last::Dir)
}

/// Resolves `path` to whatever it names inside the root, every symlink followed (the last one
/// too) and nothing created: the canonical path of an existing file or directory, as the kernel
/// would open it with the root as `/`. Something missing on the way is [`ResolveError::NotFound`];
/// a non-directory with components after it (even an empty one: `file/`) is
/// [`ResolveError::NotDirectory`], as the kernel's ENOTDIR.
pub fn resolve_path<L: Lookup>(
    lookup: &mut L,
    path: &[OsString],
) -> Result<Vec<OsString>, ResolveError> {
    lookup.to_root();
    walk(
        lookup,
        Vec::new(),
        path,
        Missing::Fail,
        Links::Follow,
        Last::Any,
    )
}

/// The resolution loop: `path` from the cursor's directory, canonically `start`.
fn walk<L: Lookup>(
    lookup: &mut L,
    start: Vec<OsString>,
    path: &[OsString],
    missing: Missing,
    links: Links,
    last: Last,
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
                if follows > MAX_SYMLINKS {
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
                for piece in split(&target).into_iter().rev() {
                    pending.push_front(piece);
                }
            }
            Node::Other if last == Last::Any && pending.is_empty() => out.push(part),
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
#[path = "inroot_tests.rs"]
mod tests;
