//! The one table of `netroot.*` keys: each key's name, doc, parser and renderer, shared by the
//! boot-config file (`text.rs`) and the kernel command line (`cmdline.rs`).
//!
//! Rendering walks [`KEYS`] in order, so the file is byte-stable; parsing applies values in the
//! same order, so a key may rely on the keys before it (`netroot.ip.gateway` on `netroot.ip`).

use super::fields::{
    abs_path, bond_mac, export_path, nfs_options, opt, parse_bool, parse_dns, parse_module,
    positive, push, render_bool, render_dns, render_ip, render_module, set, set_ip, set_static,
    static_ip, text, timeout, word,
};
use super::model::{BootConfig, VlanConfig};
use super::net::{
    format_mac, format_ports, parse_host_ipv4, parse_ports, validate_hostname, validate_ifname,
    validate_node_name,
};
use super::units::format_duration;
use super::values::{format_nfs_versions, invalid, parse_nfs_versions, ValueError};

/// Parses one value into the config.
type ParseFn = fn(&mut BootConfig, &str) -> Result<(), ValueError>;

/// How a key maps onto the config.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyKind {
    /// At most one value; `render` returns `None` when an optional key is unset.
    Single {
        required: bool,
        flag: bool,
        parse: ParseFn,
        render: fn(&BootConfig) -> Option<String>,
    },
    /// Any number of values, in order; `clear` empties the list before a new set is applied.
    List {
        push: ParseFn,
        clear: fn(&mut BootConfig),
        render: fn(&BootConfig) -> Vec<String>,
    },
}

/// One `netroot.*` key.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    /// Full key name, as in the file and on the kernel command line.
    pub name: &'static str,
    /// One-line description (rendered as a comment above the key in the file).
    pub doc: &'static str,
    pub(crate) kind: KeyKind,
}

impl KeyDef {
    /// Whether the boot-config file must contain this key.
    pub fn required(&self) -> bool {
        matches!(self.kind, KeyKind::Single { required: true, .. })
    }

    /// Whether the key is a boolean that may appear bare on the kernel command line (`netroot.debug`).
    pub fn is_flag(&self) -> bool {
        matches!(self.kind, KeyKind::Single { flag: true, .. })
    }

    /// Whether the key may appear several times (one value per line, in order).
    pub fn is_list(&self) -> bool {
        matches!(self.kind, KeyKind::List { .. })
    }

    /// The values this key renders for `cfg`: none when unset, several for a list.
    pub fn render(&self, cfg: &BootConfig) -> Vec<String> {
        match self.kind {
            KeyKind::Single { render, .. } => render(cfg).into_iter().collect(),
            KeyKind::List { render, .. } => render(cfg),
        }
    }

    /// Applies a set of values of this key: each in turn for a single key (the last wins), and
    /// as the whole new list for a list key. The error carries the index of the bad value.
    pub(crate) fn apply<S: AsRef<str>>(
        &self,
        cfg: &mut BootConfig,
        values: &[S],
    ) -> Result<(), (usize, ValueError)> {
        let parse = match self.kind {
            KeyKind::Single { parse, .. } => parse,
            KeyKind::List { push, clear, .. } => {
                clear(cfg);
                push
            }
        };
        for (i, v) in values.iter().enumerate() {
            parse(cfg, v.as_ref()).map_err(|e| (i, e))?;
        }
        Ok(())
    }
}

/// Looks a key up by name.
pub fn find_key(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// Whether a single-valued key must be present, and whether it is a boolean flag.
#[derive(Clone, Copy)]
enum Presence {
    Required,
    Optional,
    Flag,
}

type RenderFn = fn(&BootConfig) -> Option<String>;

const fn single(
    name: &'static str,
    doc: &'static str,
    presence: Presence,
    parse: ParseFn,
    render: RenderFn,
) -> KeyDef {
    let (required, flag) = match presence {
        Presence::Required => (true, false),
        Presence::Optional => (false, false),
        Presence::Flag => (true, true),
    };
    KeyDef {
        name,
        doc,
        kind: KeyKind::Single {
            required,
            flag,
            parse,
            render,
        },
    }
}

/// Every key, in render order.
pub static KEYS: &[KeyDef] = &[
    single(
        "netroot.profile",
        "profile the image was built from",
        Presence::Required,
        |c, v| set(&mut c.profile, text("profile", v)),
        |c| Some(c.profile.clone()),
    ),
    single(
        "netroot.kernel.version",
        "kernel release the modules belong to (uname -r)",
        Presence::Required,
        |c, v| set(&mut c.kernel_version, word("kernel version", v)),
        |c| Some(c.kernel_version.clone()),
    ),
    KeyDef {
        name: "netroot.module",
        doc:
            "module to load: <name> <path in image> [<params>], one line per module, in load order",
        kind: KeyKind::List {
            push: |c, v| push(&mut c.modules, parse_module(v)),
            clear: |c| c.modules.clear(),
            render: |c| c.modules.iter().map(render_module).collect(),
        },
    },
    single(
        "netroot.bond.name",
        "interface name of the bond",
        Presence::Required,
        |c, v| set(&mut c.bond.name, validate_ifname(v).map(|()| v.to_string())),
        |c| Some(c.bond.name.clone()),
    ),
    single(
        "netroot.bond.mode",
        "bonding mode (sysfs spelling or 0-6)",
        Presence::Required,
        |c, v| set(&mut c.bond.mode, v.parse()),
        |c| Some(c.bond.mode.to_string()),
    ),
    single(
        "netroot.bond.miimon",
        "MII link monitoring interval in milliseconds",
        Presence::Required,
        |c, v| set(&mut c.bond.miimon_ms, positive("miimon interval", v)),
        |c| Some(c.bond.miimon_ms.to_string()),
    ),
    single(
        "netroot.bond.lacp_rate",
        "LACP rate for 802.3ad: slow or fast",
        Presence::Required,
        |c, v| set(&mut c.bond.lacp_rate, v.parse()),
        |c| Some(c.bond.lacp_rate.to_string()),
    ),
    single(
        "netroot.bond.xmit_hash_policy",
        "transmit hash policy for balance-xor and 802.3ad",
        Presence::Required,
        |c, v| set(&mut c.bond.xmit_hash_policy, v.parse()),
        |c| Some(c.bond.xmit_hash_policy.to_string()),
    ),
    single(
        "netroot.bond.mac",
        "fixed MAC address of the bond (default: the first port's)",
        Presence::Optional,
        |c, v| set(&mut c.bond.mac, bond_mac(v)),
        |c| c.bond.mac.as_ref().map(format_mac),
    ),
    single(
        "netroot.bond.ports",
        "ports to enslave, in order: mac:<address> or name:<interface>, comma-separated",
        Presence::Required,
        |c, v| set(&mut c.bond.ports, parse_ports(v)),
        |c| Some(format_ports(&c.bond.ports)),
    ),
    single(
        "netroot.bond.min_ports",
        "boot continues when this many ports have carrier",
        Presence::Required,
        |c, v| set(&mut c.bond.min_ports, positive("minimum port count", v)),
        |c| Some(c.bond.min_ports.to_string()),
    ),
    single(
        "netroot.vlan",
        "802.1Q VLAN on the bond that gets the address instead of it: <id> (interface <bond>.<id>) or a dracut vlan name (vlan0005, vlan5, <bond>.0005, <bond>.5); empty: none",
        Presence::Optional,
        |c, v| {
            let bond = c.bond.name.clone();
            set(&mut c.vlan, opt(v, |v| VlanConfig::parse(v, &bond)))
        },
        |c| c.vlan.map(|v| v.render(&c.bond.name)),
    ),
    single(
        "netroot.ip",
        "IPv4 addressing of the bond: dhcp or <address>/<prefix>",
        Presence::Required,
        set_ip,
        |c| Some(render_ip(&c.ip)),
    ),
    single(
        "netroot.ip.gateway",
        "default gateway (static addressing only)",
        Presence::Optional,
        |c, v| {
            set_static(c, "gateway", v, |s, v| {
                set(&mut s.gateway, opt(v, parse_host_ipv4))
            })
        },
        |c| static_ip(c).and_then(|s| s.gateway.map(|g| g.to_string())),
    ),
    single(
        "netroot.ip.dns",
        "DNS servers, comma-separated (static addressing only)",
        Presence::Optional,
        |c, v| set_static(c, "dns servers", v, |s, v| set(&mut s.dns, parse_dns(v))),
        |c| {
            static_ip(c)
                .filter(|s| !s.dns.is_empty())
                .map(|s| render_dns(&s.dns))
        },
    ),
    single(
        "netroot.ip.hostname",
        "host name of the node (static addressing only)",
        Presence::Optional,
        |c, v| {
            set_static(c, "host name", v, |s, v| {
                set(
                    &mut s.hostname,
                    opt(v, |h| validate_hostname(h).map(|()| h.to_string())),
                )
            })
        },
        |c| static_ip(c).and_then(|s| s.hostname.clone()),
    ),
    single(
        "netroot.nfs.server",
        "IPv4 address of the NFS server",
        Presence::Required,
        |c, v| set(&mut c.nfs.server, parse_host_ipv4(v)),
        |c| Some(c.nfs.server.to_string()),
    ),
    single(
        "netroot.nfs.export",
        "exported path of the root tree",
        Presence::Required,
        |c, v| set(&mut c.nfs.export, export_path(v)),
        |c| Some(c.nfs.export.clone()),
    ),
    single(
        "netroot.nfs.versions",
        "NFS versions to try, in order, comma-separated (4.2, 4.1, 4.0, 3)",
        Presence::Required,
        |c, v| set(&mut c.nfs.versions, parse_nfs_versions(v)),
        |c| Some(format_nfs_versions(&c.nfs.versions)),
    ),
    single(
        "netroot.nfs.options",
        "extra NFS mount options, comma-separated (may be empty)",
        Presence::Required,
        |c, v| set(&mut c.nfs.options, nfs_options(v)),
        |c| Some(c.nfs.options.clone()),
    ),
    single(
        "netroot.nfs.allow_dhcp_root_path",
        "1 lets a DHCP root-path option choose the NFS root",
        Presence::Flag,
        |c, v| set(&mut c.nfs.allow_dhcp_root_path, parse_bool(v)),
        |c| Some(render_bool(c.nfs.allow_dhcp_root_path)),
    ),
    single(
        "netroot.overlay.enabled",
        "1 puts a writable tmpfs overlay over the NFS root",
        Presence::Flag,
        |c, v| set(&mut c.overlay.enabled, parse_bool(v)),
        |c| Some(render_bool(c.overlay.enabled)),
    ),
    single(
        "netroot.overlay.size",
        "size of the overlay's tmpfs: percent of RAM (50%) or bytes (2G)",
        Presence::Required,
        |c, v| set(&mut c.overlay.size, v.parse()),
        |c| Some(c.overlay.size.to_string()),
    ),
    single(
        "netroot.node",
        "node whose layer .netroot/nodes/<name> of the root tree goes above the shared root",
        Presence::Optional,
        |c, v| {
            set(
                &mut c.node,
                opt(v, |n| validate_node_name(n).map(|()| n.to_string())),
            )
        },
        |c| c.node.clone(),
    ),
    single(
        "netroot.timeout.boot",
        "deadline for the whole boot",
        Presence::Required,
        |c, v| set(&mut c.timeouts.boot_deadline, timeout(v)),
        |c| Some(format_duration(c.timeouts.boot_deadline)),
    ),
    single(
        "netroot.timeout.links",
        "time to wait for port carrier",
        Presence::Required,
        |c, v| set(&mut c.timeouts.links, timeout(v)),
        |c| Some(format_duration(c.timeouts.links)),
    ),
    single(
        "netroot.timeout.dhcp",
        "time to wait for a DHCP lease",
        Presence::Required,
        |c, v| set(&mut c.timeouts.dhcp, timeout(v)),
        |c| Some(format_duration(c.timeouts.dhcp)),
    ),
    single(
        "netroot.timeout.nfs",
        "time to wait for the NFS mount",
        Presence::Required,
        |c, v| set(&mut c.timeouts.nfs, timeout(v)),
        |c| Some(format_duration(c.timeouts.nfs)),
    ),
    single(
        "netroot.failure",
        "action on a fatal error: reboot[:<delay>], poweroff or shell",
        Presence::Required,
        |c, v| set(&mut c.failure, v.parse()),
        |c| Some(c.failure.to_string()),
    ),
    single(
        "netroot.init",
        "program run as PID 1 in the real root",
        Presence::Required,
        |c, v| set(&mut c.real_init, abs_path("init path", v)),
        |c| Some(c.real_init.clone()),
    ),
    single(
        "netroot.debug",
        "1 enables verbose logging",
        Presence::Flag,
        |c, v| set(&mut c.debug, parse_bool(v)),
        |c| Some(render_bool(c.debug)),
    ),
];

/// Checks what no single key can: run after every key has been applied.
pub(crate) fn check_consistency(cfg: &BootConfig) -> Result<(), (&'static str, ValueError)> {
    let ports = cfg.bond.ports.len();
    if cfg.bond.min_ports as usize > ports {
        let value = cfg.bond.min_ports.to_string();
        return Err((
            "netroot.bond.min_ports",
            invalid(
                "minimum port count",
                &value,
                format!("exceeds the number of ports ({ports})"),
            ),
        ));
    }
    if let Some(name) = cfg.vlan_ifname() {
        validate_ifname(&name).map_err(|e| ("netroot.vlan", e))?;
    }
    Ok(())
}
