//! Paths inside a sysroot: lexical normalisation of image paths and symlink
//! resolution that stays below the sysroot, as a chroot would see it.
//!
//! An absolute symlink such as `lib64/ld-linux-x86-64.so.2 ->
//! /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2` must be followed inside the
//! sysroot, not on the build host, and `..` never climbs above the sysroot.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::ElfError;

/// Symlinks followed while resolving one path; Linux's own limit
/// (MAXSYMLINKS, path_resolution(7)), so we fail where the kernel would.
const MAX_SYMLINKS: usize = 40;

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
    let mut pending: Vec<OsString> = components(Path::new(path));
    pending.reverse();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0usize;
    while let Some(part) = pending.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let host = host_path(sysroot, &done).join(&part);
        let meta = match fs::symlink_metadata(&host) {
            Ok(meta) => meta,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(source) => {
                return Err(ElfError::Io {
                    action: "inspecting",
                    path: host,
                    source,
                })
            }
        };
        if !meta.file_type().is_symlink() {
            done.push(part);
            continue;
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(ElfError::SymlinkLoop {
                path: path.to_owned(),
                sysroot: sysroot.to_path_buf(),
            });
        }
        let target = fs::read_link(&host).map_err(|source| ElfError::Io {
            action: "reading symlink",
            path: host.clone(),
            source,
        })?;
        if target.is_absolute() {
            done.clear();
        }
        let mut more = components(&target);
        more.reverse();
        pending.extend(more);
    }
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

/// Normal and `..` components of `path` (root and `.` dropped).
fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
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
}
