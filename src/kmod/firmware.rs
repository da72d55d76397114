//! Lookup of `firmware=` names in firmware directories (e.g. `/lib/firmware`), including the `.xz`
//! and `.zst` variants that the kernel's firmware loader also accepts, and glob names such as
//! `brcm/brcmfmac*-pcie.*.bin`.

use std::path::{Component, Path, PathBuf};

use super::error::KmodError;

/// Suffixes tried after the plain name, in order: compressed firmware as shipped by newer distros
/// (`CONFIG_FW_LOADER_COMPRESS_XZ` / `_ZSTD`).
const FIRMWARE_SUFFIXES: [&str; 3] = ["", ".xz", ".zst"];

/// One firmware file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareHit {
    /// Name relative to the firmware directory, compression suffix stripped.
    pub name: String,
    /// The file found (possibly `.xz`/`.zst`; possibly a symlink, followed when read).
    pub source: PathBuf,
}

/// Result of looking one `firmware=` value up.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FirmwareSearch {
    /// Files found, sorted by name; empty when missing.
    pub found: Vec<FirmwareHit>,
    /// Files and directories whose existence or listing decided the result.
    pub inputs: Vec<PathBuf>,
}

/// Whether a firmware name is a relative path that stays inside the firmware directory.
fn is_contained(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Deepest existing directory at or above `path` (recorded so that adding the file invalidates caches).
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors().find(|p| p.is_dir()).map(Path::to_path_buf)
}

/// Looks `name` (as written in `firmware=` of `module`) up in `dirs`; the first directory that has
/// it wins.
pub fn find_firmware(
    dirs: &[PathBuf],
    name: &str,
    module: &str,
) -> Result<FirmwareSearch, KmodError> {
    let mut search = FirmwareSearch::default();
    if !is_contained(name) {
        return Ok(search);
    }
    let is_glob = name.bytes().any(|b| matches!(b, b'*' | b'?' | b'['));
    for dir in dirs {
        if is_glob {
            find_glob(dir, name, module, &mut search)?;
        } else {
            for suffix in FIRMWARE_SUFFIXES {
                let path = dir.join(format!("{name}{suffix}"));
                if path.is_file() {
                    search.inputs.push(path.clone());
                    search.found.push(FirmwareHit {
                        name: name.to_owned(),
                        source: path,
                    });
                    break;
                }
            }
            if search.found.is_empty() {
                search
                    .inputs
                    .extend(existing_ancestor(&dir.join(name)).filter(|p| p.starts_with(dir)));
            }
        }
        if !search.found.is_empty() {
            break;
        }
    }
    search.found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(search)
}

/// Adds the files under `dir` matching the glob `pattern` (`*` not crossing `/`).
fn find_glob(
    dir: &Path,
    pattern: &str,
    module: &str,
    search: &mut FirmwareSearch,
) -> Result<(), KmodError> {
    let matcher = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|source| KmodError::BadFirmwareGlob {
            module: module.to_owned(),
            pattern: pattern.to_owned(),
            source,
        })?
        .compile_matcher();
    let meta = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let literal_dir = pattern
        .get(..meta)
        .and_then(|p| p.rfind('/'))
        .map_or("", |i| &pattern[..i]);
    let base = dir.join(literal_dir);
    if !base.is_dir() {
        search
            .inputs
            .extend(existing_ancestor(&base).filter(|p| p.starts_with(dir)));
        return Ok(());
    }
    let mut stack = vec![base];
    while let Some(current) = stack.pop() {
        let io_err = |source| KmodError::Io {
            path: current.clone(),
            source,
        };
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&current).map_err(io_err)? {
            entries.push(entry.map_err(io_err)?.path());
        }
        search.inputs.push(current.clone());
        entries.sort();
        for path in entries {
            let Some(rel) = path.strip_prefix(dir).ok().and_then(Path::to_str) else {
                continue;
            };
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let stripped = FIRMWARE_SUFFIXES
                .iter()
                .rev()
                .find_map(|s| rel.strip_suffix(s).filter(|_| !s.is_empty()))
                .unwrap_or(rel);
            if matcher.is_match(stripped) {
                search.inputs.push(path.clone());
                search.found.push(FirmwareHit {
                    name: stripped.to_owned(),
                    source: path,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"fw").unwrap();
    }

    #[test]
    fn finds_plain_and_compressed_first_dir_wins() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        touch(b.path(), "bnx2x/bnx2x-e1h-7.13.21.0.fw");
        touch(a.path(), "rtl_nic/rtl8168h-2.fw.zst");
        let dirs = [a.path().to_owned(), b.path().to_owned()];
        let s = find_firmware(&dirs, "bnx2x/bnx2x-e1h-7.13.21.0.fw", "bnx2x").unwrap();
        assert_eq!(
            s.found,
            [FirmwareHit {
                name: "bnx2x/bnx2x-e1h-7.13.21.0.fw".into(),
                source: b.path().join("bnx2x/bnx2x-e1h-7.13.21.0.fw")
            }]
        );
        // The first directory was probed and lacked it: its root is an input.
        assert!(s.inputs.contains(&a.path().to_owned()), "{:?}", s.inputs);
        let s = find_firmware(&dirs, "rtl_nic/rtl8168h-2.fw", "r8169").unwrap();
        assert_eq!(
            s.found[0].source,
            a.path().join("rtl_nic/rtl8168h-2.fw.zst")
        );
        assert_eq!(s.found[0].name, "rtl_nic/rtl8168h-2.fw");
    }

    #[test]
    fn missing_records_nearest_directory() {
        let a = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("bnx2x")).unwrap();
        let s = find_firmware(&[a.path().to_owned()], "bnx2x/x.fw", "bnx2x").unwrap();
        assert!(s.found.is_empty());
        assert_eq!(s.inputs, [a.path().join("bnx2x")]);
    }

    #[test]
    fn escaping_names_are_never_found() {
        let a = tempfile::tempdir().unwrap();
        touch(a.path(), "x.fw");
        let dirs = [a.path().join("sub")];
        std::fs::create_dir(&dirs[0]).unwrap();
        assert!(find_firmware(&dirs, "../x.fw", "m")
            .unwrap()
            .found
            .is_empty());
        let abs = a.path().join("x.fw");
        assert!(find_firmware(&dirs, abs.to_str().unwrap(), "m")
            .unwrap()
            .found
            .is_empty());
    }

    #[test]
    fn glob_names_match_files() {
        let a = tempfile::tempdir().unwrap();
        touch(a.path(), "brcm/brcmfmac4356-pcie.bin");
        touch(a.path(), "brcm/brcmfmac4350-pcie.gpd.bin.xz");
        touch(a.path(), "brcm/brcmfmac4356-sdio.bin");
        let s = find_firmware(
            &[a.path().to_owned()],
            "brcm/brcmfmac*-pcie.*.bin",
            "brcmfmac",
        )
        .unwrap();
        let names: Vec<_> = s.found.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["brcm/brcmfmac4350-pcie.gpd.bin"]);
        let s = find_firmware(
            &[a.path().to_owned()],
            "brcm/brcmfmac*-pcie.bin",
            "brcmfmac",
        )
        .unwrap();
        assert_eq!(s.found.len(), 1);
        assert!(s.inputs.contains(&a.path().join("brcm")));
        let none = find_firmware(&[a.path().to_owned()], "nope/*.bin", "m").unwrap();
        assert!(none.found.is_empty());
        let err = find_firmware(&[a.path().to_owned()], "brcm/[x*.bin", "brcmfmac").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("module brcmfmac has an invalid firmware glob \"brcm/[x*.bin\": "));
    }
}
