//! The resolved boot configuration: the one data model shared by the builder (which renders it into
//! the image) and the init (which parses it back and applies kernel-cmdline overrides).
//!
//! The text format and the kernel command line use the same `netroot.*` key space; see
//! `keys.rs` for the table that both writes and parses every field.

use std::net::Ipv4Addr;
use std::time::Duration;

pub use super::vlan::{VlanConfig, VlanId, VlanNaming};

/// Path inside the initramfs where the builder stores the rendered boot config.
pub use crate::layout::BOOT_CONFIG_PATH;

/// Directory of the per-node layers inside a published root tree: `.netroot/nodes/NAME/` holds
/// the files rendered for node NAME, mounted above the shared root when `netroot.node=NAME`.
pub const NODE_LAYERS_DIR: &str = ".netroot/nodes";

/// Version of the text format; bumped on any incompatible change so an init never misreads an image.
pub const FORMAT_VERSION: u32 = 1;

/// Everything the init needs to bring a node from kernel start to the real root's init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfig {
    /// Name of the profile the image was built from (informational, logged at start).
    pub profile: String,
    /// Kernel release the modules were built for (`uname -r` of the target kernel).
    pub kernel_version: String,
    /// Modules to load, in dependency order (the builder's topological sort).
    pub modules: Vec<ModuleLoad>,
    /// Bond over the node's Ethernet ports.
    pub bond: BondConfig,
    /// An 802.1Q VLAN on the bond; with one, the address goes on the VLAN's interface.
    pub vlan: Option<VlanConfig>,
    /// How the bond (or its VLAN) gets its IPv4 address.
    pub ip: IpConfig,
    /// The read-only NFS root.
    pub nfs: NfsConfig,
    /// The writable tmpfs-backed overlay on top of the NFS root.
    pub overlay: OverlayConfig,
    /// The node this boot is for (`netroot.node`, set by the per-MAC menus): its layer
    /// `.netroot/nodes/NAME` of the root tree goes above the shared root. `None` in the image's
    /// own config.
    pub node: Option<String>,
    /// Per-phase time limits and the overall boot deadline.
    pub timeouts: Timeouts,
    /// What PID 1 does on a fatal error.
    pub failure: FailureAction,
    /// Program executed as PID 1 in the real root.
    pub real_init: String,
    /// Verbose logging.
    pub debug: bool,
}

/// The part of a [`BootConfig`] a profile sets: everything except what only the build knows
/// (the kernel release and the module load list it derives from the kernel's module closure).
/// A profile holds this; the build makes the config with [`BootConfig::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSpec {
    /// Name of the profile the image is built from.
    pub profile: String,
    pub bond: BondConfig,
    pub vlan: Option<VlanConfig>,
    pub ip: IpConfig,
    pub nfs: NfsConfig,
    pub overlay: OverlayConfig,
    /// Set per node by the per-MAC menus, never by a profile (`None` in an image's own config).
    pub node: Option<String>,
    pub timeouts: Timeouts,
    pub failure: FailureAction,
    pub real_init: String,
    pub debug: bool,
}

/// Stands in for the kernel release when a [`BootSpec`] is checked before any kernel is known:
/// one word, which passes the same check a real release passes, so the check of every other
/// key does not depend on it.
const SPEC_CHECK_KERNEL_VERSION: &str = "spec-check";

impl BootConfig {
    /// The config an image carries: the profile's `spec` plus what the build learnt from the kernel.
    pub fn new(spec: BootSpec, kernel_version: String, modules: Vec<ModuleLoad>) -> BootConfig {
        let BootSpec {
            profile,
            bond,
            vlan,
            ip,
            nfs,
            overlay,
            node,
            timeouts,
            failure,
            real_init,
            debug,
        } = spec;
        BootConfig {
            profile,
            kernel_version,
            modules,
            bond,
            vlan,
            ip,
            nfs,
            overlay,
            node,
            timeouts,
            failure,
            real_init,
            debug,
        }
    }
}

impl BootSpec {
    /// Runs every check [`BootConfig::validate`] runs that does not depend on the kernel: the
    /// kernel release is a stand-in and the module list empty (their checks run at build time).
    pub fn validate(&self) -> Result<(), crate::bootconfig::ConfigError> {
        BootConfig::new(
            self.clone(),
            SPEC_CHECK_KERNEL_VERSION.to_string(),
            Vec::new(),
        )
        .validate()
    }
}

/// One kernel module to load with `finit_module`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLoad {
    /// Module name as the kernel knows it (`virtio_net`).
    pub name: String,
    /// Path of the (uncompressed) module inside the initramfs, without a leading `/`.
    pub path: String,
    /// Module parameters passed to `finit_module` (`max_bonds=0`), may be empty.
    pub params: String,
}

/// Linux bonding modes (Documentation/networking/bonding.rst), with their sysfs spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Ieee8023ad,
    BalanceTlb,
    BalanceAlb,
}

/// LACP rate for 802.3ad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LacpRate {
    Slow,
    Fast,
}

/// Transmit hash policy for balance-xor and 802.3ad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmitHashPolicy {
    Layer2,
    Layer2_3,
    Layer3_4,
    Encap2_3,
    Encap3_4,
    VlanSrcMac,
}

/// How a physical port is identified: kernel naming order is not stable, so MAC is preferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortId {
    Mac([u8; 6]),
    Name(String),
}

/// The bond built over the node's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondConfig {
    /// Interface name of the bond (`bond0`).
    pub name: String,
    pub mode: BondMode,
    /// MII link monitoring interval in milliseconds.
    pub miimon_ms: u32,
    pub lacp_rate: LacpRate,
    pub xmit_hash_policy: XmitHashPolicy,
    /// Fixed MAC for the bond; `None` lets the kernel take the first port's.
    pub mac: Option<[u8; 6]>,
    /// Ports to enslave, in order.
    pub ports: Vec<PortId>,
    /// Boot continues when at least this many ports have carrier (default 1).
    pub min_ports: u32,
}

/// IPv4 addressing of the bond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpConfig {
    Dhcp,
    Static(StaticIp),
}

/// A static IPv4 configuration (`ip=<client>::<gw>:<netmask>:<host>:<dev>:none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub hostname: Option<String>,
}

/// NFS protocol versions the init tries, in the configured order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfsVersion {
    V4_2,
    V4_1,
    V4_0,
    V3,
}

/// The read-only NFS root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfsConfig {
    /// Server IPv4 address (no DNS in the initramfs).
    pub server: Ipv4Addr,
    /// Exported path (`/srv/netroot/compute/current`).
    pub export: String,
    /// Versions to try, first that mounts wins.
    pub versions: Vec<NfsVersion>,
    /// Extra kernel mount options appended after the ones the init always sets (ro,hard,proto=tcp,...).
    pub options: String,
    /// Whether a DHCP root-path option may replace `server`/`export` (off by default: a rogue DHCP
    /// server must not choose the root).
    pub allow_dhcp_root_path: bool,
}

/// Size of the tmpfs upper layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmpfsSize {
    /// Percentage of RAM (tmpfs `size=N%`).
    Percent(u8),
    /// Absolute size in bytes.
    Bytes(u64),
}

/// The writable layer over the NFS root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayConfig {
    /// When false the NFS root itself becomes `/` (read-only).
    pub enabled: bool,
    pub size: TmpfsSize,
}

/// Time limits of each phase; `boot_deadline` bounds the whole boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub boot_deadline: Duration,
    pub links: Duration,
    pub dhcp: Duration,
    pub nfs: Duration,
}

/// What PID 1 does after printing its FAILED line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Reboot after the delay.
    Reboot {
        delay: Duration,
    },
    Poweroff,
    /// Exec `/bin/sh` if the image has one, else reboot.
    Shell,
}
