//! Index of the module files under `lib/modules/KVER`, built from a directory walk alone (no file is
//! opened), mapping normalized module names to their files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::KmodError;
use super::modinfo::normalize_name;
use super::source::split_module_file_name;
use crate::codec::Codec;

/// One module file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEntry {
    /// Normalized module name (`virtio_net`).
    pub name: String,
    /// Path relative to the modules directory, compression suffix stripped (`kernel/fs/nfs/nfsv4.ko`).
    pub rel_path: String,
    /// The file as found on disk.
    pub source: PathBuf,
    /// How the file is compressed.
    pub compression: Codec,
}

/// Module files by normalized name, plus what the walk read.
#[derive(Debug, Default)]
pub struct ModuleIndex {
    /// The chosen file for every module name.
    pub by_name: BTreeMap<String, ModuleEntry>,
    /// Every directory whose listing was read, in walk order.
    pub dirs: Vec<PathBuf>,
    /// Shadowed duplicates and skipped file names.
    pub warnings: Vec<String>,
}

/// Precedence of a module file by its top-level directory when two files share a module name:
/// `updates/` overrides everything (as in depmod's default search order), the distro's `kernel/` tree
/// loses to out-of-tree directories such as `extra/`.
fn precedence(rel_path: &str) -> u8 {
    match rel_path.split('/').next() {
        Some("updates") => 0,
        Some("kernel") => 2,
        _ => 1,
    }
}

/// Which of two files of one module wins by compression: plain first, then xz (kmod's default on
/// Debian), zstd, gzip; the order the index has always used.
fn preference(codec: Codec) -> u8 {
    match codec {
        Codec::None => 0,
        Codec::Xz => 1,
        Codec::Zstd => 2,
        Codec::Gzip => 3,
        _ => 4,
    }
}

impl ModuleIndex {
    /// Walks `modules_dir` (not following directory symlinks such as `build` and `source`).
    pub fn scan(modules_dir: &Path) -> Result<ModuleIndex, KmodError> {
        let mut index = ModuleIndex::default();
        let mut found: Vec<ModuleEntry> = Vec::new();
        let mut stack = vec![(modules_dir.to_path_buf(), String::new())];
        while let Some((dir, rel_dir)) = stack.pop() {
            let io_err = |source| KmodError::Io {
                path: dir.clone(),
                source,
            };
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(io_err)? {
                let entry = entry.map_err(io_err)?;
                let file_type = entry.file_type().map_err(io_err)?;
                entries.push((entry.file_name(), file_type));
            }
            index.dirs.push(dir.clone());
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            // Reverse so the stack pops subdirectories in name order.
            for (file_name, file_type) in entries.into_iter().rev() {
                let Some(file_name) = file_name.to_str() else {
                    index.warnings.push(format!(
                        "skipping non-utf-8 file name {:?} in {}",
                        file_name,
                        dir.display()
                    ));
                    continue;
                };
                let rel = format!("{rel_dir}{file_name}");
                if file_type.is_dir() {
                    stack.push((dir.join(file_name), format!("{rel}/")));
                } else if let Some((stem, compression)) = split_module_file_name(file_name) {
                    found.push(ModuleEntry {
                        name: normalize_name(stem),
                        rel_path: format!("{rel_dir}{stem}.ko"),
                        source: dir.join(file_name),
                        compression,
                    });
                }
            }
        }
        found.sort_by(|a, b| {
            fn key(e: &ModuleEntry) -> (&str, u8, u8, &Path) {
                let p = precedence(&e.rel_path);
                (&e.name, p, preference(e.compression), &e.source)
            }
            key(a).cmp(&key(b))
        });
        for entry in found {
            match index.by_name.get(&entry.name) {
                Some(kept) => index.warnings.push(format!(
                    "module {} found twice: using {}, ignoring {}",
                    entry.name,
                    kept.source.display(),
                    entry.source.display()
                )),
                None => {
                    index.by_name.insert(entry.name.clone(), entry);
                }
            }
        }
        Ok(index)
    }

    /// Module entries whose relative path (suffix stripped) matches a glob, `*` not crossing `/`.
    pub fn glob(&self, pattern: &str) -> Result<Vec<&ModuleEntry>, KmodError> {
        let matcher = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|source| KmodError::BadGlob {
                pattern: pattern.to_owned(),
                source,
            })?
            .compile_matcher();
        Ok(self
            .by_name
            .values()
            .filter(|e| matcher.is_match(&e.rel_path))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn walks_normalizes_and_strips_suffixes() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "kernel/fs/nfs/nfsv4.ko.xz");
        touch(dir.path(), "kernel/drivers/net/virtio-net.ko");
        touch(dir.path(), "kernel/drivers/net/README");
        touch(dir.path(), "modules.order");
        std::os::unix::fs::symlink("/", dir.path().join("build")).unwrap();
        let index = ModuleIndex::scan(dir.path()).unwrap();
        let names: Vec<_> = index.by_name.keys().cloned().collect();
        assert_eq!(names, ["nfsv4", "virtio_net"]);
        let nfs = &index.by_name["nfsv4"];
        assert_eq!(nfs.rel_path, "kernel/fs/nfs/nfsv4.ko");
        assert_eq!(nfs.compression, Codec::Xz);
        assert_eq!(nfs.source, dir.path().join("kernel/fs/nfs/nfsv4.ko.xz"));
        assert_eq!(index.dirs.first().unwrap(), dir.path());
        assert_eq!(index.dirs.len(), 6, "{:?}", index.dirs);
        assert!(index.warnings.is_empty());
    }

    #[test]
    fn updates_shadow_kernel_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "kernel/drivers/a/foo.ko");
        touch(dir.path(), "updates/foo.ko.zst");
        let index = ModuleIndex::scan(dir.path()).unwrap();
        assert_eq!(index.by_name["foo"].rel_path, "updates/foo.ko");
        assert_eq!(
            index.warnings,
            [format!(
                "module foo found twice: using {}, ignoring {}",
                dir.path().join("updates/foo.ko.zst").display(),
                dir.path().join("kernel/drivers/a/foo.ko").display()
            )]
        );
    }

    #[test]
    fn glob_matches_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        touch(
            dir.path(),
            "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko",
        );
        touch(dir.path(), "kernel/drivers/net/ethernet/r8169.ko.xz");
        touch(dir.path(), "kernel/drivers/net/tun.ko");
        let index = ModuleIndex::scan(dir.path()).unwrap();
        let names = |p: &str| -> Vec<String> {
            index
                .glob(p)
                .unwrap()
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(names("kernel/drivers/net/ethernet/**"), ["e1000e", "r8169"]);
        assert_eq!(names("kernel/drivers/net/*.ko"), ["tun"]);
        assert!(names("kernel/fs/**").is_empty());
        let err = index.glob("kernel/[").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid module glob \"kernel/[\": "));
    }

    #[test]
    fn missing_directory_is_an_error() {
        let err = ModuleIndex::scan(Path::new("/nonexistent/kmod")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read /nonexistent/kmod: "));
    }
}
