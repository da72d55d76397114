//! Kernel module closure in pure Rust: which `.ko` files (and firmware) an image needs, in load order.
//!
//! Distro kernel packages ship no `modules.dep` (depmod never ran), so dependencies come from each
//! module's ELF `.modinfo` section (`depends=`, `softdep=`, `firmware=`, `alias=`, `vermagic=`).
//! Built-in modules (`modules.builtin`, `modules.builtin.modinfo`) satisfy requests without a file.
//!
//! Cost model: file names are indexed by one directory walk; `.modinfo` is parsed only for modules
//! in the closure; the alias index over all ~4000 modules is built only when a request or softdep is
//! neither a module name nor a path glob, in parallel, reading just the `.modinfo` section.

mod alias;
mod builtin;
mod elf;
mod error;
mod firmware;
mod index;
mod modinfo;
mod resolve;
mod source;
#[cfg(test)]
mod test_elf;
mod topo;

use std::fmt;
use std::path::PathBuf;

pub use alias::fnmatch;
pub use error::{ElfError, KmodError, ModinfoError};
pub use modinfo::{normalize_name, ModInfo};
pub use resolve::resolve;

/// What to resolve against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveOptions {
    /// Kernel release (`6.1.0-56-amd64`); every module's vermagic must start with it.
    pub kernel_version: String,
    /// Directories searched for `firmware=` files, in order (e.g. `/lib/firmware`).
    pub firmware_dirs: Vec<PathBuf>,
    /// Missing firmware is an error instead of a warning.
    pub firmware_strict: bool,
}

/// The resolved set of modules and firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// Modules in load order (dependencies and pre-softdeps first), ties broken by name.
    pub modules: Vec<ResolvedModule>,
    /// Firmware files, sorted by name; `source` is `None` for missing (non-strict) firmware.
    pub firmware: Vec<FirmwareFile>,
    /// Requests and dependencies satisfied by built-in modules: (request or name, why), sorted.
    pub builtin: Vec<(String, String)>,
    /// Non-fatal findings: missing firmware or softdeps, shadowed duplicate modules, ...
    pub warnings: Vec<String>,
    /// Every file and directory whose content or listing was read, sorted (for a make-style cache).
    pub inputs: Vec<PathBuf>,
    /// Modules of which only the `.modinfo` section was read (to look up aliases), with the blake3
    /// of that section: the closure depends on their metadata, not their code.
    pub modinfo_inputs: Vec<(PathBuf, String)>,
}

/// blake3 (hex) of a module file's `.modinfo` section, as recorded in [`Closure::modinfo_inputs`].
pub fn modinfo_hash(path: &std::path::Path) -> Result<String, KmodError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (_, compression) =
        source::split_module_file_name(name).ok_or_else(|| KmodError::NotAModule {
            path: path.to_owned(),
        })?;
    let section = source::read_modinfo_only(path, compression)?;
    Ok(blake3::hash(&section).to_hex().to_string())
}

/// One module of the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModule {
    /// Normalized module name (`virtio_net`).
    pub name: String,
    /// Path relative to the modules directory, compression suffix stripped (`kernel/fs/nfs/nfsv4.ko`).
    pub rel_path: String,
    /// The file it was read from (possibly compressed).
    pub source: PathBuf,
    /// Decompressed ELF object.
    pub data: Vec<u8>,
    /// Why it is included, sorted.
    pub reasons: Vec<Reason>,
    /// Its `firmware=` names.
    pub firmware: Vec<String>,
    /// Its `vermagic=`.
    pub vermagic: String,
}

/// Why a module is in the closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Named (or matched) by a request; holds the request text.
    Requested(String),
    /// In `depends=` of the named module.
    DependencyOf(String),
    /// In `softdep=pre:` of the named module.
    SoftdepPre(String),
    /// In `softdep=post:` of the named module.
    SoftdepPost(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requested(r) => write!(f, "requested as {r:?}"),
            Reason::DependencyOf(m) => write!(f, "dependency of {m}"),
            Reason::SoftdepPre(m) => write!(f, "softdep pre of {m}"),
            Reason::SoftdepPost(m) => write!(f, "softdep post of {m}"),
        }
    }
}

/// One firmware file needed by the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareFile {
    /// Name relative to the firmware directory (`bnx2x/bnx2x-e1h-7.13.21.0.fw`), without any
    /// `.xz`/`.zst` suffix of the file found.
    pub name: String,
    /// The file found (its name may end in `.xz`/`.zst`), `None` when missing.
    pub source: Option<PathBuf>,
    /// Modules that ask for it, sorted.
    pub needed_by: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_display() {
        assert_eq!(
            Reason::Requested("nfsv4".into()).to_string(),
            "requested as \"nfsv4\""
        );
        assert_eq!(
            Reason::DependencyOf("nfsv4".into()).to_string(),
            "dependency of nfsv4"
        );
        assert_eq!(
            Reason::SoftdepPre("ext4".into()).to_string(),
            "softdep pre of ext4"
        );
        assert_eq!(
            Reason::SoftdepPost("x".into()).to_string(),
            "softdep post of x"
        );
    }
}
