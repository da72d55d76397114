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
    /// A symlink on the way, with [`Links::Refuse`].
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
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory tree: canonical path (`a/b`) → node.
    #[derive(Default)]
    struct Fake {
        nodes: BTreeMap<String, Node>,
        created: Vec<String>,
        cursor: Vec<OsString>,
    }

    impl Fake {
        fn with(entries: &[(&str, Node)]) -> Fake {
            let mut f = Fake::default();
            for (p, n) in entries {
                f.nodes.insert((*p).to_owned(), n.clone());
            }
            f
        }
    }

    fn key(dir: &[OsString], name: &OsStr) -> String {
        let mut parts: Vec<String> = dir.iter().map(|p| p.to_string_lossy().into()).collect();
        parts.push(name.to_string_lossy().into());
        parts.join("/")
    }

    impl Lookup for Fake {
        fn to_root(&mut self) {
            self.cursor.clear();
        }
        fn node(&mut self, name: &OsStr) -> io::Result<Node> {
            Ok(self
                .nodes
                .get(&key(&self.cursor, name))
                .cloned()
                .unwrap_or(Node::Missing))
        }
        fn enter(&mut self, name: &OsStr) -> io::Result<()> {
            assert_eq!(self.node(name)?, Node::Dir);
            self.cursor.push(name.to_os_string());
            Ok(())
        }
        fn mkdir(&mut self, name: &OsStr) -> io::Result<()> {
            let k = key(&self.cursor, name);
            self.created.push(k.clone());
            self.nodes.insert(k, Node::Dir);
            self.cursor.push(name.to_os_string());
            Ok(())
        }
        fn up(&mut self) {
            self.cursor.pop();
        }
    }

    fn link(t: &str) -> Node {
        Node::Symlink(t.as_bytes().to_vec())
    }

    fn comps(s: &str) -> Vec<OsString> {
        entry_components(s.as_bytes()).unwrap()
    }

    fn resolve(f: &mut Fake, p: &str, m: Missing) -> Result<String, ResolveError> {
        resolve_dir(f, &comps(p), m, Links::Follow)
            .map(|v| rel_path(&v).to_string_lossy().into_owned())
    }

    #[test]
    fn names_are_made_relative_and_cleaned() {
        assert_eq!(comps("/etc//passwd"), comps("etc/passwd"));
        assert_eq!(comps("./usr/./bin/"), comps("usr/bin"));
        assert!(comps("./").is_empty());
        assert!(comps("/").is_empty());
        assert_eq!(comps("a\nb"), vec![OsString::from("a\nb")]);
    }

    #[test]
    fn dotdot_and_nul_are_refused() {
        for bad in ["../x", "a/../../x", "a/..", ".."] {
            let e = entry_components(bad.as_bytes()).unwrap_err();
            assert_eq!(e.to_string(), "path contains \"..\"", "{bad}");
        }
        let e = entry_components(b"a\0b").unwrap_err();
        assert_eq!(e.to_string(), "path contains a nul byte");
    }

    #[test]
    fn plain_dirs_resolve_to_themselves() {
        let mut f = Fake::with(&[("usr", Node::Dir), ("usr/lib", Node::Dir)]);
        assert_eq!(
            resolve(&mut f, "usr/lib", Missing::Fail).unwrap(),
            "usr/lib"
        );
        assert_eq!(resolve(&mut f, "", Missing::Fail).unwrap(), "");
    }

    #[test]
    fn absolute_symlink_resolves_inside_root() {
        let mut f = Fake::with(&[
            ("var", Node::Dir),
            ("var/run", link("/run")),
            ("run", Node::Dir),
        ]);
        assert_eq!(resolve(&mut f, "var/run", Missing::Fail).unwrap(), "run");
    }

    #[test]
    fn relative_symlink_climbing_out_is_clamped_at_root() {
        let mut f = Fake::with(&[
            ("a", Node::Dir),
            ("a/up", link("../../../../../etc")),
            ("etc", Node::Dir),
        ]);
        assert_eq!(resolve(&mut f, "a/up", Missing::Fail).unwrap(), "etc");
    }

    #[test]
    fn symlink_chain_stays_inside() {
        let mut f = Fake::with(&[
            ("l1", link("l2/sub")),
            ("l2", link("d/../../..")),
            ("d", Node::Dir),
            ("sub", link("/./x/")),
            ("x", Node::Dir),
        ]);
        assert_eq!(resolve(&mut f, "l1", Missing::Fail).unwrap(), "x");
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let mut f = Fake::with(&[("a", link("b")), ("b", link("a"))]);
        let e = resolve(&mut f, "a/x", Missing::Create).unwrap_err();
        assert_eq!(
            e.to_string(),
            "too many levels of symbolic links (more than 40)"
        );
        assert!(f.created.is_empty());
    }

    #[test]
    fn file_on_the_way_is_not_a_directory() {
        let mut f = Fake::with(&[("etc", Node::Dir), ("etc/passwd", Node::Other)]);
        let e = resolve(&mut f, "etc/passwd/x", Missing::Create).unwrap_err();
        assert_eq!(e.to_string(), "/etc/passwd: not a directory");
    }

    #[test]
    fn missing_dirs_are_created_or_reported() {
        let mut f = Fake::with(&[("bin", link("usr/bin"))]);
        let e = resolve(&mut f, "bin/x", Missing::Fail).unwrap_err();
        assert_eq!(e.to_string(), "/usr: no such file or directory");
        // Creation follows the dangling link, inside the root.
        assert_eq!(
            resolve(&mut f, "bin/x", Missing::Create).unwrap(),
            "usr/bin/x"
        );
        assert_eq!(f.created, vec!["usr", "usr/bin", "usr/bin/x"]);
    }

    #[test]
    fn refused_links_name_the_link() {
        let mut f = Fake::with(&[("lib", Node::Dir), ("lib/l", link("/etc"))]);
        let e = resolve_dir(&mut f, &comps("lib/l/x"), Missing::Create, Links::Refuse);
        assert_eq!(
            e.unwrap_err().to_string(),
            "lib/l is a symlink; refusing to write through it"
        );
    }

    #[test]
    fn empty_link_target_is_an_error() {
        let mut f = Fake::with(&[("e", link(""))]);
        let e = resolve(&mut f, "e/x", Missing::Create).unwrap_err();
        assert_eq!(e.to_string(), "/e: symlink with an empty target");
    }

    #[test]
    fn long_but_finite_chain_is_followed() {
        let mut entries: Vec<(String, Node)> = (0..MAX_SYMLINK_FOLLOWS)
            .map(|i| (format!("l{i}"), link(&format!("l{}", i + 1))))
            .collect();
        entries.push((format!("l{MAX_SYMLINK_FOLLOWS}"), Node::Dir));
        let refs: Vec<(&str, Node)> = entries
            .iter()
            .map(|(k, n)| (k.as_str(), n.clone()))
            .collect();
        let mut f = Fake::with(&refs);
        assert_eq!(resolve(&mut f, "l0", Missing::Fail).unwrap(), "l40");
        f.nodes.insert("l40".into(), link("l41"));
        f.nodes.insert("l41".into(), Node::Dir);
        assert!(matches!(
            resolve(&mut f, "l0", Missing::Fail),
            Err(ResolveError::Loop)
        ));
    }
}
