//! Finds the kernel image and its modules directory in a tree or on the host.
//!
//! In a tree, only regular files and real directories count: a root tree's
//! `vmlinuz` symlinks are aliases of files in `boot/`, and an absolute symlink
//! (`lib -> /usr/lib`) would point at the build host, not into the tree. A
//! merged-/usr tree is still found through its `usr/lib/modules`.
//! The pairing rule: read every image's release from its header, keep the
//! releases that have a modules directory, and accept exactly one.

use std::fs;
use std::path::{Path, PathBuf};

use super::bzimage::image_version;
use super::{io_err, Kernel, KernelError};

/// Where kernel images are looked for, relative to the tree root.
const IMAGE_DIRS: [&str; 2] = ["", "boot"];
/// File name prefix of kernel images (Debian/Fedora/Arch all use it).
const IMAGE_PREFIX: &str = "vmlinuz";
/// Parents of `<release>/` module directories: classic and merged-/usr.
const MODULE_BASES: [&str; 2] = ["lib/modules", "usr/lib/modules"];
/// Firmware directories, in the kernel loader's order (`/lib/firmware` first).
const FIRMWARE_DIRS: [&str; 2] = ["lib/firmware", "usr/lib/firmware"];
/// Module metadata files that identify the modules tree (kmod reads them).
const MODULE_METADATA: [&str; 3] = [
    "modules.builtin",
    "modules.builtin.modinfo",
    "modules.order",
];
/// The running kernel's release, relative to the proc mount.
const OSRELEASE: &str = "sys/kernel/osrelease";

/// Opens the kernel in `root`: a directory holding `vmlinuz*` (top level or
/// `boot/`) and `lib/modules/<release>/` (or `usr/lib/modules/<release>/`).
pub fn open_tree(root: &Path) -> Result<Kernel, KernelError> {
    let images = find_images(root)?;
    if images.is_empty() {
        return Err(KernelError::NoImage {
            root: root.to_path_buf(),
        });
    }
    let module_dirs = find_module_dirs(root)?;
    if module_dirs.is_empty() {
        return Err(KernelError::NoModulesDir {
            root: root.to_path_buf(),
        });
    }
    let mut versioned = Vec::with_capacity(images.len());
    for image in images {
        let version = image_version(&image)?;
        versioned.push((image, version));
    }
    let (image, version, modules_dir) = pick_pair(root, versioned, module_dirs)?;
    let firmware_dir = FIRMWARE_DIRS
        .iter()
        .map(|dir| root.join(dir))
        .find(|dir| is_real_dir(root, dir));
    let inputs = inputs(&image, &version, &modules_dir);
    Ok(Kernel {
        version,
        image,
        modules_dir,
        firmware_dir,
        inputs,
    })
}

/// Opens the running kernel: release from `<proc_root>/sys/kernel/osrelease`,
/// image `<root>/boot/vmlinuz-<release>`, modules `<root>/lib/modules/<release>`
/// (or `usr/lib/modules`). Symlinks are followed: `root` is the live system.
pub fn open_host(proc_root: &Path, root: &Path) -> Result<Kernel, KernelError> {
    let release_file = proc_root.join(OSRELEASE);
    let content = fs::read_to_string(&release_file).map_err(io_err("reading", &release_file))?;
    let version = content.trim().to_owned();
    if !valid_release(&version) {
        return Err(KernelError::BadRelease {
            path: release_file,
            content: version,
        });
    }
    let image = root.join("boot").join(format!("{IMAGE_PREFIX}-{version}"));
    let found = image_version(&image)?;
    if found != version {
        return Err(KernelError::HostImageMismatch {
            path: image,
            found,
            expected: version,
        });
    }
    let searched: Vec<PathBuf> = MODULE_BASES
        .iter()
        .map(|base| root.join(base).join(&version))
        .collect();
    let Some(modules_dir) = searched.iter().find(|dir| dir.is_dir()).cloned() else {
        return Err(KernelError::HostModulesMissing { version, searched });
    };
    let firmware_dir = FIRMWARE_DIRS
        .iter()
        .map(|dir| root.join(dir))
        .find(|dir| dir.is_dir());
    let inputs = inputs(&image, &version, &modules_dir);
    Ok(Kernel {
        version,
        image,
        modules_dir,
        firmware_dir,
        inputs,
    })
}

/// A release is one path component of printable, non-space ASCII.
fn valid_release(version: &str) -> bool {
    !version.is_empty()
        && version != "."
        && version != ".."
        && version.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// Regular files named `vmlinuz*` in the tree root and `boot/`, sorted.
fn find_images(root: &Path) -> Result<Vec<PathBuf>, KernelError> {
    entries_below(root, &IMAGE_DIRS, |name, t| {
        t.is_file() && name.starts_with(IMAGE_PREFIX)
    })
}

/// Real directories `lib/modules/<release>` and `usr/lib/modules/<release>`.
fn find_module_dirs(root: &Path) -> Result<Vec<PathBuf>, KernelError> {
    entries_below(root, &MODULE_BASES, |name, t| {
        t.is_dir() && valid_release(name)
    })
}

/// The entries `keep` accepts in each of `root`'s subdirectories `bases` that is a real
/// directory, in `bases` order, each directory's entries sorted.
fn entries_below(
    root: &Path,
    bases: &[&str],
    keep: impl Fn(&str, &std::fs::FileType) -> bool,
) -> Result<Vec<PathBuf>, KernelError> {
    let mut found = Vec::new();
    for base in bases {
        let dir = root.join(base);
        if !is_real_dir(root, &dir) {
            continue;
        }
        for (name, path, file_type) in list_dir(&dir)? {
            if keep(&name, &file_type) {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// Chooses the single image/modules pair whose releases agree.
fn pick_pair(
    root: &Path,
    images: Vec<(PathBuf, String)>,
    module_dirs: Vec<PathBuf>,
) -> Result<(PathBuf, String, PathBuf), KernelError> {
    let release_of = |dir: &PathBuf| -> String {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut releases: Vec<String> = images
        .iter()
        .map(|(_, version)| version.clone())
        .filter(|version| module_dirs.iter().any(|dir| release_of(dir) == *version))
        .collect();
    releases.sort();
    releases.dedup();
    let version = match releases.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(KernelError::NoMatch {
                root: root.to_path_buf(),
                images,
                module_dirs,
            })
        }
        _ => {
            let candidates = images
                .into_iter()
                .filter(|(_, version)| releases.contains(version))
                .collect();
            return Err(KernelError::Ambiguous {
                root: root.to_path_buf(),
                candidates,
            });
        }
    };
    let mut matching_images: Vec<(PathBuf, String)> =
        images.into_iter().filter(|(_, v)| *v == version).collect();
    if matching_images.len() > 1 {
        // `vmlinuz` and `vmlinuz-<release>` copies: the versioned name wins.
        let exact = format!("{IMAGE_PREFIX}-{version}");
        let versioned: Vec<(PathBuf, String)> = matching_images
            .iter()
            .filter(|(path, _)| path.file_name().is_some_and(|n| *n == *exact))
            .cloned()
            .collect();
        if versioned.len() == 1 {
            matching_images = versioned;
        }
    }
    let mut matching_dirs: Vec<PathBuf> = module_dirs
        .into_iter()
        .filter(|dir| release_of(dir) == version)
        .collect();
    match (matching_images.as_slice(), matching_dirs.as_slice()) {
        ([(image, _)], [_]) => {
            let image = image.clone();
            let dir = matching_dirs.remove(0);
            Ok((image, version, dir))
        }
        _ => {
            let mut candidates = matching_images;
            candidates.extend(matching_dirs.into_iter().map(|d| (d, version.clone())));
            Err(KernelError::Ambiguous {
                root: root.to_path_buf(),
                candidates,
            })
        }
    }
}

/// The image, its `config-<release>` neighbour and the module metadata that exist.
fn inputs(image: &Path, version: &str, modules_dir: &Path) -> Vec<PathBuf> {
    let mut inputs = vec![image.to_path_buf()];
    let config = image.with_file_name(format!("config-{version}"));
    inputs.extend(Some(config).filter(|p| p.is_file()));
    inputs.extend(
        MODULE_METADATA
            .iter()
            .map(|name| modules_dir.join(name))
            .filter(|p| p.is_file()),
    );
    inputs
}

/// True when `path` (below `root`) and every component between them is a
/// real directory, not a symlink.
fn is_real_dir(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let mut current = root.to_path_buf();
    if !fs::metadata(&current).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    for component in rel.components() {
        current.push(component);
        if !fs::symlink_metadata(&current).is_ok_and(|m| m.is_dir()) {
            return false;
        }
    }
    true
}

/// Entries of `dir` as (name, path, type without following symlinks), sorted.
fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf, fs::FileType)>, KernelError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let file_type = entry
            .file_type()
            .map_err(io_err("inspecting", entry.path()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, entry.path(), file_type));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_validation() {
        assert!(valid_release("6.1.0-56-amd64"));
        assert!(valid_release("6.18.44-fc-v657"));
        assert!(!valid_release(""));
        assert!(!valid_release(".."));
        assert!(!valid_release("6.1/../x"));
        assert!(!valid_release("6.1 x"));
    }

    #[test]
    fn pair_prefers_versioned_name() {
        let root = Path::new("/t");
        let v = "6.1.0-1".to_owned();
        let images = vec![
            (PathBuf::from("/t/boot/vmlinuz-6.1.0-1"), v.clone()),
            (PathBuf::from("/t/vmlinuz"), v.clone()),
        ];
        let dirs = vec![PathBuf::from("/t/lib/modules/6.1.0-1")];
        let (image, version, dir) = pick_pair(root, images, dirs).unwrap();
        assert_eq!(image, PathBuf::from("/t/boot/vmlinuz-6.1.0-1"));
        assert_eq!(version, v);
        assert_eq!(dir, PathBuf::from("/t/lib/modules/6.1.0-1"));
    }

    #[test]
    fn pair_errors_name_candidates() {
        let root = Path::new("/t");
        let images = vec![
            (PathBuf::from("/t/boot/vmlinuz-a"), "a".to_owned()),
            (PathBuf::from("/t/boot/vmlinuz-b"), "b".to_owned()),
        ];
        let both = vec![
            PathBuf::from("/t/lib/modules/a"),
            PathBuf::from("/t/lib/modules/b"),
        ];
        let err = pick_pair(root, images.clone(), both)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "ambiguous kernel in /t: /t/boot/vmlinuz-a (a), /t/boot/vmlinuz-b (b) all match; \
             keep one kernel in the tree"
        );
        let err = pick_pair(root, images, vec![PathBuf::from("/t/lib/modules/c")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no kernel image in /t has a matching modules directory: images \
             /t/boot/vmlinuz-a (a), /t/boot/vmlinuz-b (b); module directories /t/lib/modules/c"
        );
    }
}
