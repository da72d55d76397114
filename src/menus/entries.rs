//! Building menus from profiles and nodes: an entry's command line is the profile's
//! [`BootConfig::to_cmdline`], with a node's static address (`ip=`) for nodes that have one, its
//! bond ports (`bond=`) for nodes that list their own, its VLAN (`vlan=`, the image must load
//! 8021q) for nodes that set one, its layer (`netroot.node=`) for nodes whose
//! generation has one, the serial console (`console=`) and the profile's extra words; per-node
//! menus and the file names the loaders look for.

use netroot_boot::bootconfig::{BootConfig, IpConfig, StaticIp, VlanConfig, VLAN_MODULE};

use super::{grub_cfg, ipxe_script_with_nodes, pxelinux_cfg, MenuEntry, MenuError, MenuModel};
use crate::nodes::Node;

/// Directory of `grub.cfg` below the TFTP root: `grub-mknetdir`'s default `--subdir`, which is
/// also where netbooted GRUB looks for `grub.cfg-01-<mac>`.
pub const GRUB_DIR: &str = "boot/grub";
/// Directory PXELINUX reads its configs from, next to `pxelinux.0` at the TFTP root.
pub const PXELINUX_DIR: &str = "pxelinux.cfg";
/// The iPXE script, at the TFTP root (and the HTTP base).
pub const IPXE_SCRIPT: &str = "netroot.ipxe";
/// ARP hardware type of Ethernet, the `01-` in per-MAC file names.
const ARP_ETHERNET: &str = "01";

/// What a menu needs to know about one profile's published boot files.
#[derive(Debug, Clone, Copy)]
pub struct ProfileBoot<'a> {
    /// Entry id (the profile name).
    pub id: &'a str,
    pub title: &'a str,
    pub boot: &'a BootConfig,
    /// Kernel and initramfs paths relative to the TFTP root / HTTP base.
    pub kernel: &'a str,
    pub initrd: &'a str,
}

/// A node's own menu and the MAC it is served to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMenu {
    pub name: String,
    pub mac: [u8; 6],
    pub menu: MenuModel,
}

/// Loaders that look for a per-MAC config file (iPXE dispatches inside one script instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerMac {
    /// `grub.cfg-01-52-54-00-00-10-01`, in [`GRUB_DIR`].
    Grub,
    /// `pxelinux.cfg/01-52-54-00-00-10-01`.
    Pxelinux,
}

/// The file a loader looks for first for this MAC: ARP type 1 and the MAC in lowercase hex
/// with dashes. GRUB's name is relative to [`GRUB_DIR`], PXELINUX's to the TFTP root.
pub fn per_mac_name(mac: &[u8; 6], dialect: PerMac) -> String {
    let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    let id = format!("{ARP_ETHERNET}-{}", hex.join("-"));
    match dialect {
        PerMac::Grub => format!("grub.cfg-{id}"),
        PerMac::Pxelinux => format!("{PXELINUX_DIR}/{id}"),
    }
}

/// The entry of a profile, for nodes without a menu of their own.
pub fn profile_entry(p: &ProfileBoot<'_>, serial: Option<(u8, u32)>, extra: &str) -> MenuEntry {
    MenuEntry {
        id: p.id.to_string(),
        title: p.title.to_string(),
        kernel: p.kernel.to_string(),
        initrd: p.initrd.to_string(),
        cmdline: p.boot.entry_cmdline(serial, extra),
    }
}

/// The profile's boot config as `node` boots it: a node with an address gets static
/// addressing (keeping the profile's gateway and DNS when the profile is static itself) and its
/// name as host name; a node with `ports` bonds those instead of the profile's; a node with
/// `vlan` uses that VLAN (refused when the image does not load 8021q). The result is
/// validated, so ports the bond cannot take (fewer than `min_ports`) fail naming the node.
pub fn node_boot_config(boot: &BootConfig, node: &Node) -> Result<BootConfig, MenuError> {
    boot_config_of(boot, node, false)
}

/// [`node_boot_config`]; `layer`: the generation has the node's layer, named by `netroot.node`.
fn boot_config_of(boot: &BootConfig, node: &Node, layer: bool) -> Result<BootConfig, MenuError> {
    let mut b = boot.clone();
    if layer {
        b.node = Some(node.name.clone());
    }
    if !node.ports.is_empty() {
        b.bond.ports = node.ports.clone();
    }
    if let Some(id) = node.vlan {
        // The image's own load list (the build record's boot.conf): without 8021q the init
        // could not create the VLAN and the node would fail its boot.
        if !boot.modules.iter().any(|m| m.name == VLAN_MODULE) {
            return Err(MenuError::Node {
                node: node.name.clone(),
                reason: format!(
                    "vlan = {id} needs the {VLAN_MODULE} module, which the image of profile {:?} does not load (give the profile a [vlan] table, or add {VLAN_MODULE:?} to its [modules])",
                    boot.profile
                ),
            });
        }
        b.vlan = Some(VlanConfig::new(id));
    }
    if let Some(a) = node.address {
        let (gateway, dns) = match &boot.ip {
            IpConfig::Static(s) => (s.gateway, s.dns.clone()),
            IpConfig::Dhcp => (None, Vec::new()),
        };
        b.ip = IpConfig::Static(StaticIp {
            address: a.ip,
            prefix_len: a.prefix_len,
            gateway,
            dns,
            hostname: Some(node.name.clone()),
        });
    }
    b.validate().map_err(|e| MenuError::Node {
        node: node.name.clone(),
        reason: e.to_string(),
    })?;
    Ok(b)
}

/// The entry `node` boots: its profile's, with the node's overrides.
pub fn node_entry(
    p: &ProfileBoot<'_>,
    node: &Node,
    serial: Option<(u8, u32)>,
    extra: &str,
) -> Result<MenuEntry, MenuError> {
    entry_of(p, node, false, serial, extra)
}

/// [`node_entry`], with `netroot.node=NAME` when `layer` (see [`node_menus_with_layers`]); the
/// one node-entry builder, also of the menus rendered from published records.
pub(crate) fn entry_of(
    p: &ProfileBoot<'_>,
    node: &Node,
    layer: bool,
    serial: Option<(u8, u32)>,
    extra: &str,
) -> Result<MenuEntry, MenuError> {
    let boot = boot_config_of(p.boot, node, layer)?;
    Ok(MenuEntry {
        id: p.id.to_string(),
        title: format!("{} (node {})", p.title, node.name),
        kernel: p.kernel.to_string(),
        initrd: p.initrd.to_string(),
        cmdline: boot.entry_cmdline(serial, extra),
    })
}

/// One menu per node, with the single entry of its profile, and `base`'s timeout, title,
/// serial console and servers.
pub fn node_menus(
    base: &MenuModel,
    profiles: &[ProfileBoot<'_>],
    nodes: &[Node],
    extra: &str,
) -> Result<Vec<NodeMenu>, MenuError> {
    node_menus_with_layers(base, profiles, nodes, extra, &|_| false)
}

/// [`node_menus`], where the entry of every node for which `has_layer` holds (its profile's
/// generation has the node's layer `.netroot/nodes/NAME`) also carries `netroot.node=NAME`, so
/// the init mounts that layer above the shared root.
pub fn node_menus_with_layers(
    base: &MenuModel,
    profiles: &[ProfileBoot<'_>],
    nodes: &[Node],
    extra: &str,
    has_layer: &dyn Fn(&Node) -> bool,
) -> Result<Vec<NodeMenu>, MenuError> {
    let menus = nodes
        .iter()
        .map(|node| {
            let p = profiles
                .iter()
                .find(|p| p.id == node.profile)
                .ok_or_else(|| MenuError::Node {
                    node: node.name.clone(),
                    reason: format!("profile {:?} has no boot files in this menu", node.profile),
                })?;
            Ok(NodeMenu {
                name: node.name.clone(),
                mac: node.mac,
                menu: MenuModel {
                    entries: vec![entry_of(p, node, has_layer(node), base.serial, extra)?],
                    default: p.id.to_string(),
                    ..base.clone()
                },
            })
        })
        .collect::<Result<Vec<_>, MenuError>>()?;
    check_node_menus(&menus)?;
    Ok(menus)
}

/// Node menus must have distinct MACs (and names, which label iPXE sections).
pub(crate) fn check_node_menus(nodes: &[NodeMenu]) -> Result<(), MenuError> {
    for (i, n) in nodes.iter().enumerate() {
        if let Some(first) = nodes.iter().take(i).find(|o| o.mac == n.mac) {
            return Err(MenuError::DuplicateMac {
                mac: netroot_boot::bootconfig::format_mac(&n.mac),
                first: first.name.clone(),
                second: n.name.clone(),
            });
        }
        let name_ok = !n.name.is_empty()
            && n.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !nodes.iter().take(i).any(|o| o.name == n.name);
        if !name_ok {
            return Err(MenuError::Node {
                node: n.name.clone(),
                reason: "node menus need distinct names of letters, digits and '-'".into(),
            });
        }
    }
    Ok(())
}

/// One generated file, relative to the TFTP root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuFile {
    pub path: String,
    pub contents: String,
}

/// Every menu file for all three loaders: `boot/grub/grub.cfg` and `grub.cfg-01-<mac>` per
/// node, `pxelinux.cfg/default` and `pxelinux.cfg/01-<mac>`, and `netroot.ipxe`.
pub fn render_files(m: &MenuModel, nodes: &[NodeMenu]) -> Result<Vec<MenuFile>, MenuError> {
    let file = |path: String, contents: String| MenuFile { path, contents };
    let mut out = vec![
        file(format!("{GRUB_DIR}/grub.cfg"), grub_cfg(m)?),
        file(format!("{PXELINUX_DIR}/default"), pxelinux_cfg(m)?),
        file(IPXE_SCRIPT.to_string(), ipxe_script_with_nodes(m, nodes)?),
    ];
    for n in nodes {
        out.push(file(
            format!("{GRUB_DIR}/{}", per_mac_name(&n.mac, PerMac::Grub)),
            grub_cfg(&n.menu)?,
        ));
        out.push(file(
            per_mac_name(&n.mac, PerMac::Pxelinux),
            pxelinux_cfg(&n.menu)?,
        ));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
