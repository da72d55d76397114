//! Paths inside a sysroot: lexical normalisation of image paths, and the sysroot as a
//! [`Lookup`] of the in-root resolver ([`crate::fsx::inroot`]), so symlinks resolve below the
//! sysroot as a chroot would see them.
//!
//! An absolute symlink such as `lib64/ld-linux-x86-64.so.2 ->
//! /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2` must be followed inside the
//! sysroot, not on the build host, and `..` never climbs above the sysroot.
//!
//! The sysroot is read by path, not through `openat2(RESOLVE_IN_ROOT)`: the search needs the
//! canonical image path of what it finds (a library's real directory is its `$ORIGIN`, and
//! ld.so.conf includes are told apart by it), which openat2 does not report.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::ElfError;
use crate::fsx::inroot::{self, Lookup, Node, ResolveError};

/// A path resolved below the sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The real file on the build host (`sysroot` joined with `image`).
    pub host: PathBuf,
    /// The real path inside the sysroot, no leading `/`, symlinks resolved.
    pub image: String,
}

/// Normalises an image path lexically: drops `.`, empty components and the
/// leading `/`, applies `..` (clamped at the root). `"/lib/../usr//lib/x"` →
/// `"usr/lib/x"`.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

/// Joins an image directory and a relative or absolute path, normalised.
pub(crate) fn join(dir: &str, path: &str) -> String {
    if path.starts_with('/') {
        normalize(path)
    } else {
        normalize(&format!("{dir}/{path}"))
    }
}

/// Parent directory of an image path (`""` for a top-level name).
pub(crate) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Resolves the image path `path` below `sysroot`, following symlinks inside
/// it. `Ok(None)` when a component does not exist or is not a directory.
pub(crate) fn resolve(sysroot: &Path, path: &str) -> Result<Option<Resolved>, ElfError> {
    let mut lookup = Sysroot {
        sysroot,
        dir: Vec::new(),
        action: "inspecting",
    };
    let done = match inroot::resolve_path(&mut lookup, &inroot::split(path.as_bytes())) {
        Ok(done) => done,
        // An empty link target cannot be made on Linux; the kernel would say ENOENT.
        Err(
            ResolveError::NotFound { .. }
            | ResolveError::NotDirectory { .. }
            | ResolveError::EmptyLink { .. },
        ) => return Ok(None),
        Err(ResolveError::Loop) => {
            return Err(ElfError::SymlinkLoop {
                path: path.to_owned(),
                sysroot: sysroot.to_path_buf(),
            })
        }
        Err(ResolveError::Io { at, source }) => {
            return Err(ElfError::Io {
                action: lookup.action,
                path: host_path(sysroot, &at),
                source,
            })
        }
        // Refused names and refused links: `resolve_path` follows links and takes any name.
        Err(other) => {
            return Err(ElfError::Io {
                action: "resolving",
                path: sysroot.join(path),
                source: io::Error::other(other),
            })
        }
    };
    let image = done
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Ok(Some(Resolved {
        host: host_path(sysroot, &done),
        image,
    }))
}

/// The sysroot as a [`Lookup`], by path: the cursor is the canonical directory so far (real
/// directories only, so the host path made from it has no symlink below the sysroot).
struct Sysroot<'a> {
    sysroot: &'a Path,
    dir: Vec<OsString>,
    /// What the last [`Lookup::node`] was doing, for the error if it failed.
    action: &'static str,
}

impl Lookup for Sysroot<'_> {
    fn to_root(&mut self) {
        self.dir.clear();
    }

    fn node(&mut self, name: &OsStr) -> io::Result<Node> {
        let host = host_path(self.sysroot, &self.dir).join(name);
        self.action = "inspecting";
        let kind = match fs::symlink_metadata(&host) {
            Ok(meta) => meta.file_type(),
            Err(e) if is_absent(&e) => return Ok(Node::Missing),
            Err(e) => return Err(e),
        };
        Ok(if kind.is_dir() {
            Node::Dir
        } else if kind.is_symlink() {
            self.action = "reading symlink";
            Node::Symlink(fs::read_link(&host)?.into_os_string().into_vec())
        } else {
            Node::Other
        })
    }

    fn enter(&mut self, name: &OsStr) -> io::Result<()> {
        self.dir.push(name.to_os_string());
        Ok(())
    }

    fn up(&mut self) {
        self.dir.pop();
    }
}

fn host_path(sysroot: &Path, parts: &[OsString]) -> PathBuf {
    let mut host = sysroot.to_path_buf();
    host.extend(parts);
    host
}

/// Missing file, or a path through a non-directory: both mean "not there".
fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory
}

/// An absolute host path as an image path string, when it is valid UTF-8.
pub(crate) fn image_path(path: &Path) -> Option<String> {
    let bytes = path.as_os_str().as_bytes();
    let text = std::str::from_utf8(bytes).ok()?;
    Some(normalize(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn lexical() {
        assert_eq!(normalize("/lib/../usr//lib/./x"), "usr/lib/x");
        assert_eq!(normalize("/../../x"), "x");
        assert_eq!(normalize("/"), "");
        assert_eq!(join("usr/bin", "../lib/libz.so.1"), "usr/lib/libz.so.1");
        assert_eq!(join("usr/bin", "/opt/lib"), "opt/lib");
        assert_eq!(parent("usr/bin/ls"), "usr/bin");
        assert_eq!(parent("init"), "");
    }

    #[test]
    fn symlinks_stay_in_the_sysroot() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("usr/lib/x86_64-linux-gnu")).unwrap();
        fs::write(root.join("usr/lib/x86_64-linux-gnu/ld.so"), b"x").unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        fs::create_dir(root.join("lib64")).unwrap();
        // Absolute target: must resolve below root, not on the host.
        symlink("/lib/x86_64-linux-gnu/ld.so", root.join("lib64/ld")).unwrap();
        // Climbing above the root is clamped like in a chroot.
        symlink("../../../../../usr/lib", root.join("lib64/up")).unwrap();
        let r = resolve(root, "lib64/ld").unwrap().unwrap();
        assert_eq!(r.image, "usr/lib/x86_64-linux-gnu/ld.so");
        assert_eq!(r.host, root.join("usr/lib/x86_64-linux-gnu/ld.so"));
        let r = resolve(root, "lib64/up/x86_64-linux-gnu/ld.so")
            .unwrap()
            .unwrap();
        assert_eq!(r.image, "usr/lib/x86_64-linux-gnu/ld.so");
        assert_eq!(resolve(root, "lib64/missing").unwrap(), None);
        assert_eq!(resolve(root, "lib64/ld/below-a-file").unwrap(), None);
        symlink("loop", root.join("loop")).unwrap();
        let err = resolve(root, "loop").unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "too many levels of symbolic links resolving /loop in {}",
                root.display()
            )
        );
    }

    #[test]
    fn a_symlink_loop_names_the_path_asked_for() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("libb.so", root.join("usr/lib/liba.so")).unwrap();
        symlink("/lib/liba.so", root.join("usr/lib/libb.so")).unwrap();
        let err = resolve(root, "lib/liba.so").unwrap_err();
        assert!(matches!(err, ElfError::SymlinkLoop { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "too many levels of symbolic links resolving /lib/liba.so in {}",
                root.display()
            )
        );
        // Asked for by another name, the error names that one.
        let err = resolve(root, "usr/lib/libb.so").unwrap_err().to_string();
        assert!(err.contains("resolving /usr/lib/libb.so in"), "{err}");
    }

    #[test]
    fn absolute_links_resolve_in_the_sysroot_not_on_the_host() {
        let t = tempfile::tempdir().unwrap();
        let host_file = t.path().join("host/libc.so.6");
        fs::create_dir_all(host_file.parent().unwrap()).unwrap();
        fs::write(&host_file, b"host").unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("lib")).unwrap();
        // The host path of a file that exists on the host, not (yet) in the sysroot.
        symlink(&host_file, root.join("lib/libc.so.6")).unwrap();
        assert_eq!(resolve(&root, "lib/libc.so.6").unwrap(), None);
        let inside = normalize(host_file.to_str().unwrap());
        fs::create_dir_all(root.join(parent(&inside))).unwrap();
        fs::write(root.join(&inside), b"sysroot").unwrap();
        let r = resolve(&root, "lib/libc.so.6").unwrap().unwrap();
        assert_eq!(r.image, inside);
        assert_eq!(r.host, root.join(&inside));
        assert_eq!(fs::read(&r.host).unwrap(), b"sysroot");
    }

    #[test]
    fn dotdot_above_the_sysroot_clamps_at_it() {
        let t = tempfile::tempdir().unwrap();
        // A sibling of the sysroot that `..` from its top would reach on the host.
        fs::write(t.path().join("libz.so.1"), b"host").unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("../../../libz.so.1", root.join("usr/lib/libz.so.1")).unwrap();
        assert_eq!(resolve(&root, "usr/lib/libz.so.1").unwrap(), None);
        assert_eq!(resolve(&root, "../libz.so.1").unwrap(), None);
        fs::write(root.join("libz.so.1"), b"sysroot").unwrap();
        for path in [
            "usr/lib/libz.so.1",
            "../libz.so.1",
            "/usr/../../../libz.so.1",
        ] {
            let r = resolve(&root, path).unwrap().unwrap();
            assert_eq!(
                (r.image.as_str(), &r.host),
                ("libz.so.1", &root.join("libz.so.1"))
            );
        }
        // `..` at the sysroot itself stays there.
        let r = resolve(&root, "..").unwrap().unwrap();
        assert_eq!((r.image.as_str(), &r.host), ("", &root));
    }
}
