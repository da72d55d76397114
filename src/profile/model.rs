//! The validated profile: what a build actually uses, after inheritance and checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use netroot_boot::bootconfig::{BootConfig, BootSpec};
use serde::{Serialize, Serializer};

use crate::compress::Compression;

/// Where the kernel and its modules come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KernelSpec {
    /// A directory holding `vmlinuz*` (or `boot/vmlinuz*`) and `lib/modules/KVER/`.
    Dir(PathBuf),
    /// A Debian kernel package file, read in-process; with `sha256`, the package must have
    /// exactly that digest (the pin: updating the kernel is a commit).
    Deb {
        path: PathBuf,
        sha256: Option<String>,
    },
    /// The running host's `/boot` and `/lib/modules`.
    Host,
}

/// Firmware lookup for modules that declare `firmware=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirmwareSpec {
    pub dirs: Vec<PathBuf>,
    /// A missing firmware file is an error instead of a warning.
    pub strict: bool,
}

/// A fully merged and validated profile.
#[derive(Debug, Clone, Serialize)]
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
    /// The profile's part of the boot config; the build adds the kernel release and modules
    /// ([`netroot_boot::bootconfig::BootConfig::new`]).
    #[serde(serialize_with = "boot_text")]
    pub boot: BootSpec,
    /// The read-only root tree served over NFS (`None`: the profile builds boot artifacts only).
    pub root: Option<RootSource>,
    pub root_allow: AllowList,
    pub overlays: OverlaysSpec,
    /// Template variables for `.j2` overlay files.
    pub vars: BTreeMap<String, toml::Value>,
    pub publish: PublishSpec,
    pub menu: MenuSpec,
}

/// Where a profile's root tree comes from: the root-tree builder's own type (the profile holds
/// it as is, no mirror type).
pub use crate::rootfs::RootSource;

/// Globs of paths allowed to carry each kind of special permission: the root-tree checker's own
/// type.
pub use crate::rootfs::AllowList;

/// Mode/owner override of one overlay path: the overlay planner's own type.
pub use crate::overlay::Ownership;

/// Overlay trees, by name (`overlays/NAME/`), in application order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OverlaysSpec {
    pub root: Vec<String>,
    pub initramfs: Vec<String>,
    pub allow_override: Vec<String>,
    /// Owner (uid, gid) of every overlay entry before `owners` (`overlays.owner`).
    pub owner: Option<(u32, u32)>,
    pub owners: BTreeMap<String, Ownership>,
}

/// Publication targets on the masters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishSpec {
    pub tftp: Option<PathBuf>,
    pub nfs: Option<PathBuf>,
    /// Client network allowed to mount the export (`10.0.0.0/16`).
    pub client_network: Option<String>,
    /// Command run after activation.
    pub hook: Option<String>,
    /// Generations kept by `netroot gc` when no `--keep` is given.
    pub keep: u32,
}

/// The profile's own boot entry settings (the shared menus' settings are in `netroot.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MenuSpec {
    /// The kernel's serial console (unit, baud): `console=ttySN,BAUDn8` in the profile's entries.
    pub serial: Option<(u8, u32)>,
    /// Extra kernel command-line words appended to every entry.
    pub cmdline_extra: String,
}

impl Profile {
    /// The bytes the build cache keys this profile on: its whole serialized value, so any field
    /// that changes, including one added later, changes the key (no hand-kept list of fields).
    pub fn cache_key_bytes(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

/// Serializes the boot settings as their `boot.conf` text (the format's one writer) without the
/// kernel part, which the build adds.
fn boot_text<S: Serializer>(spec: &BootSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&BootConfig::new(spec.clone(), String::new(), Vec::new()).render())
}
