//! Modules built into the kernel image: `modules.builtin` (one `kernel/.../x.ko` path a line) and
//! `modules.builtin.modinfo` (NUL-separated `module.key=value` records, aliases included).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::alias::AliasIndex;
use super::error::KmodError;
use super::modinfo::normalize_name;

/// List of built-in module paths, relative to the modules directory.
pub const BUILTIN_LIST: &str = "modules.builtin";
/// Modinfo records of built-in modules (since Linux 5.2).
pub const BUILTIN_MODINFO: &str = "modules.builtin.modinfo";

/// The set of built-in modules and their aliases.
#[derive(Debug, Default)]
pub struct Builtins {
    /// Normalized name → where it is declared built in (`modules.builtin: kernel/net/unix/unix.ko`).
    pub names: BTreeMap<String, String>,
    /// Aliases of built-in modules.
    pub aliases: AliasIndex,
    /// Files read.
    pub inputs: Vec<PathBuf>,
    /// Missing lists.
    pub warnings: Vec<String>,
}

/// Parses `modules.builtin`: name (from the file stem, normalized) → declaration.
pub fn parse_builtin_list(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let file = line.rsplit('/').next().unwrap_or(line);
            let stem = file.strip_suffix(".ko").unwrap_or(file);
            (normalize_name(stem), format!("{BUILTIN_LIST}: {line}"))
        })
        .collect()
}

/// One record of `modules.builtin.modinfo`: (module, key, value).
fn split_record(record: &str) -> Option<(&str, &str, &str)> {
    let (module, rest) = record.split_once('.')?;
    let (key, value) = rest.split_once('=')?;
    (!module.is_empty() && !key.is_empty()).then_some((module, key, value))
}

/// What `modules.builtin.modinfo` says about module names and aliases.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BuiltinModinfo {
    /// Normalized names of modules with a `file=` record.
    pub names: Vec<String>,
    /// (alias pattern, normalized module name).
    pub aliases: Vec<(String, String)>,
}

/// Parses `modules.builtin.modinfo` (read from `path`).
pub fn parse_builtin_modinfo(path: &Path, bytes: &[u8]) -> Result<BuiltinModinfo, KmodError> {
    let mut parsed = BuiltinModinfo::default();
    for record in bytes.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(record);
        let Some((module, key, value)) = split_record(&text) else {
            return Err(KmodError::BuiltinModinfo {
                path: path.to_owned(),
                record: text.into_owned(),
            });
        };
        match key {
            "file" => parsed.names.push(normalize_name(module)),
            "alias" => parsed
                .aliases
                .push((value.to_owned(), normalize_name(module))),
            _ => {}
        }
    }
    Ok(parsed)
}

impl Builtins {
    /// Reads both lists from `modules_dir`; a missing list is a warning (custom kernels may lack
    /// `modules.builtin.modinfo`), any other read error is an error.
    pub fn load(modules_dir: &Path) -> Result<Builtins, KmodError> {
        let mut builtins = Builtins::default();
        let list_path = modules_dir.join(BUILTIN_LIST);
        if let Some(bytes) = builtins.read_optional(&list_path)? {
            builtins.names = parse_builtin_list(&String::from_utf8_lossy(&bytes));
        }
        let modinfo_path = modules_dir.join(BUILTIN_MODINFO);
        if let Some(bytes) = builtins.read_optional(&modinfo_path)? {
            let parsed = parse_builtin_modinfo(&modinfo_path, &bytes)?;
            for name in parsed.names {
                builtins
                    .names
                    .entry(name)
                    .or_insert_with(|| format!("{BUILTIN_MODINFO}: file="));
            }
            for (alias, module) in parsed.aliases {
                builtins.aliases.insert(&alias, &module);
            }
        }
        Ok(builtins)
    }

    /// Reads `path`, recording it as an input, or records a warning when it does not exist.
    fn read_optional(&mut self, path: &Path) -> Result<Option<Vec<u8>>, KmodError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                self.inputs.push(path.to_owned());
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.warnings.push(format!(
                    "{} not found; assuming no built-in modules from it",
                    path.display()
                ));
                Ok(None)
            }
            Err(source) => Err(KmodError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_builtin_list() {
        let names = parse_builtin_list(
            "kernel/arch/x86/events/amd/amd-uncore.ko\n\nkernel/net/unix/unix.ko\n",
        );
        assert_eq!(names.keys().collect::<Vec<_>>(), ["amd_uncore", "unix"]);
        assert_eq!(names["unix"], "modules.builtin: kernel/net/unix/unix.ko");
    }

    #[test]
    fn parses_builtin_modinfo_records() {
        let bytes = b"amd_uncore.license=GPL v2\0amd_uncore.file=arch/x86/events/amd/amd-uncore\0\
workqueue.parmtype=power_efficient:bool\0unix.alias=net-pf-1\0\0";
        let parsed = parse_builtin_modinfo(Path::new("m"), bytes).unwrap();
        assert_eq!(parsed.names, ["amd_uncore"]);
        assert_eq!(parsed.aliases, [("net-pf-1".to_owned(), "unix".to_owned())]);
    }

    #[test]
    fn malformed_builtin_record_is_an_error() {
        let err = parse_builtin_modinfo(Path::new("/m/modules.builtin.modinfo"), b"a.b=c\0junk\0")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/m/modules.builtin.modinfo: malformed record \"junk\""
        );
    }

    #[test]
    fn load_reads_both_and_warns_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let empty = Builtins::load(dir.path()).unwrap();
        assert!(empty.names.is_empty());
        assert_eq!(empty.warnings.len(), 2);
        assert!(empty.warnings[0]
            .ends_with("modules.builtin not found; assuming no built-in modules from it"));

        std::fs::write(dir.path().join(BUILTIN_LIST), "kernel/net/unix/unix.ko\n").unwrap();
        std::fs::write(
            dir.path().join(BUILTIN_MODINFO),
            b"unix.alias=net-pf-1\0crc32c_generic.file=crypto/crc32c_generic\0",
        )
        .unwrap();
        let b = Builtins::load(dir.path()).unwrap();
        assert_eq!(
            b.names.keys().collect::<Vec<_>>(),
            ["crc32c_generic", "unix"]
        );
        assert_eq!(
            b.aliases.lookup("net-pf-1").into_iter().collect::<Vec<_>>(),
            ["unix"]
        );
        assert_eq!(b.inputs.len(), 2);
        assert!(b.warnings.is_empty());
    }
}
