//! The validated profile: what a build actually uses, after inheritance and checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use netroot_init::bootconfig::BootConfig;

use crate::compress::Compression;

/// Where the kernel and its modules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelSpec {
    /// A directory holding `vmlinuz*` (or `boot/vmlinuz*`) and `lib/modules/KVER/`.
    Dir(PathBuf),
    /// A Debian kernel package file, read in-process.
    Deb(PathBuf),
    /// The running host's `/boot` and `/lib/modules`.
    Host,
}

/// Firmware lookup for modules that declare `firmware=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareSpec {
    pub dirs: Vec<PathBuf>,
    /// A missing firmware file is an error instead of a warning.
    pub strict: bool,
}

/// A fully merged and validated profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Profile files in merge order, relative to the project directory.
    pub files: Vec<PathBuf>,
    pub kernel: Option<KernelSpec>,
    /// Module requests: names, aliases or path globs.
    pub modules: Vec<String>,
    /// Parameters per module name (`bonding = "max_bonds=0"`).
    pub module_params: BTreeMap<String, String>,
    pub firmware: FirmwareSpec,
    pub compression: Compression,
    /// Extra binaries copied with their shared libraries.
    pub extra_binaries: Vec<PathBuf>,
    /// The boot config the init gets; `modules` and `kernel_version` are filled in by the build.
    pub boot: BootConfig,
}
