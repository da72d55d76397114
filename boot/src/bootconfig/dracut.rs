//! The dracut- and kernel-compatible keys applied to the config: `ip=`/`nfsaddrs=` (grammar in
//! `ipconf.rs`), `root=`/`nfsroot=` (grammar in `nfsroot.rs`), `bond=` as in dracut.cmdline(7),
//! and the `rd.*` switches with dracut's meanings. Each is parsed and rendered once.
//!
//! `ip=` and the root are collected while the command line is read and applied together after
//! it ([`Dracut::finish`]): the root's server defaults to `ip=`'s `<server-ip>` as in the kernel,
//! and `%s` needs the final address. `vlan=` (grammar in `vlan.rs`) is recorded the same way.
//! Deviations, because netroot runs one bond and mounts an NFS root: the `ip=` interface must be
//! the bond, or its VLAN when one is configured; `vlan=` must name the bond as its device and
//! may be given once; `bond=` options not given keep the image's values
//! (dracut would use kernel defaults) and an empty port field keeps the image's ports;
//! `vers=`/`nfsvers=`/`v4.1`... in NFS options select the versions netroot tries (`vers=4`
//! means any 4.x, as for mount).

use std::net::Ipv4Addr;

use super::fields::{export_path, nfs_options, positive};
use super::ipconf::{parse_ip, IpArg, IP_ARG_MAX_DNS};
use super::model::{BondConfig, BootConfig, IpConfig, NfsConfig, NfsVersion, PortId};
use super::net::{format_mac, parse_mac, prefix_to_netmask, validate_ifname};
use super::nfsroot::{
    any_v4, node_name, parse_nfsroot, parse_root, substitute_node, version_option, NfsSpec, RootArg,
};
use super::values::{format_nfs_versions, invalid, ValueError};
use super::vlan::{parse_vlan_arg, VlanConfig};

/// A bad value of one key: the key, its value and why.
pub(crate) type KeyError = (&'static str, String, ValueError);

/// An `ip=` that names an interface: its key, value and the interface.
pub(crate) type IfaceUse = (&'static str, String, String);

/// The `ip=` and root keys of one command line, applied by [`Dracut::finish`].
#[derive(Debug, Default)]
pub(crate) struct Dracut {
    ips: Vec<(&'static str, String, IpArg)>,
    root: Option<(String, RootArg)>,
    nfsroot: Option<(String, NfsSpec)>,
    /// Each `vlan=`: its value, the VLAN and the device it names.
    vlans: Vec<(String, VlanConfig, String)>,
}

/// Where the applied root came from, for the `%s` substitution after every key is applied.
#[derive(Debug)]
pub(crate) struct PendingNode {
    key: &'static str,
    value: String,
    spec: NfsSpec,
}

impl Dracut {
    /// Records `ip=`/`nfsaddrs=`, `root=`, `nfsroot=` or `vlan=` (already known to be one of
    /// them). netroot runs one address phase on one VLAN, so a second `vlan=` is refused.
    pub(crate) fn record(&mut self, key: &'static str, v: &str) -> Result<(), KeyError> {
        let bad = |e| (key, v.to_string(), e);
        match key {
            "vlan" => {
                let (vlan, parent) = parse_vlan_arg(v).map_err(bad)?;
                if let Some((first, _, _)) = self.vlans.first() {
                    let why = format!(
                        "netroot brings up one VLAN on the bond and vlan={first} is given already"
                    );
                    return Err(bad(invalid("vlan", v, why)));
                }
                self.vlans.push((v.to_string(), vlan, parent));
            }
            "root" => self.root = Some((v.to_string(), parse_root(v).map_err(bad)?)),
            "nfsroot" => self.nfsroot = Some((v.to_string(), parse_nfsroot(v).map_err(bad)?)),
            _ => self
                .ips
                .push((key, v.to_string(), parse_ip(v).map_err(bad)?)),
        }
        Ok(())
    }

    /// Applies what was recorded; returns the root whose `%s` is still to be replaced.
    pub(crate) fn finish(self, cfg: &mut BootConfig) -> Result<Option<PendingNode>, KeyError> {
        if let Some((_, vlan, _)) = self.vlans.first() {
            cfg.vlan = Some(*vlan);
        }
        let mut server = None;
        // Several ip= may be given (dracut configures each interface): the last one for the bond
        // wins, as the kernel's last ip= does; `iface_check` runs once the bond name is final.
        for (_, _, arg) in &self.ips {
            cfg.ip = arg.ip.clone();
            if arg.mac.is_some() {
                cfg.bond.mac = arg.mac;
            }
            if arg.server.is_some() {
                server = arg.server;
            }
        }
        let spec = match (self.root, self.nfsroot) {
            (Some((rv, RootArg::Nfs(_))), Some(_)) => {
                let why = "root= names an NFS root and nfsroot= another: give one of them";
                return Err(("root", rv.clone(), invalid("root", &rv, why)));
            }
            (Some((rv, RootArg::DevNfs)), None) => {
                let why = "root=/dev/nfs without nfsroot= (the kernel's /tftpboot/%s from the DHCP server) is not supported: give nfsroot= or root=nfs:";
                return Err(("root", rv.clone(), invalid("root", &rv, why)));
            }
            (Some((_, RootArg::Dhcp)), nfsroot) => {
                cfg.nfs.allow_dhcp_root_path = true;
                nfsroot.map(|(v, s)| ("nfsroot", v, s))
            }
            (Some((rv, RootArg::Nfs(spec))), None) => Some(("root", rv, spec)),
            (_, nfsroot) => nfsroot.map(|(v, s)| ("nfsroot", v, s)),
        };
        let Some((key, value, spec)) = spec else {
            if let Some(s) = server {
                cfg.nfs.server = s;
            }
            return Ok(None);
        };
        apply_spec(&mut cfg.nfs, &spec, server).map_err(|e| (key, value.clone(), e))?;
        Ok(spec.node.map(|_| PendingNode { key, value, spec }))
    }

    /// Checks every `ip=` interface against the final config: it must be the interface that
    /// gets the address, the VLAN when there is one (the bare bond then carries no address),
    /// else the bond; and the device of `vlan=` must be the bond.
    pub(crate) fn check_ifaces(
        ips: &[IfaceUse],
        vlans: &[IfaceUse],
        cfg: &BootConfig,
    ) -> Result<(), KeyError> {
        let bond = &cfg.bond.name;
        for (key, value, parent) in vlans {
            if parent != bond {
                let reason = format!("netroot puts the VLAN on its one bond {bond:?}");
                return Err((key, value.clone(), invalid("vlan device", parent, reason)));
            }
        }
        let want = cfg.address_iface();
        for (key, value, iface) in ips {
            if *iface != want {
                let reason = match cfg.vlan_ifname() {
                    Some(vlan) => format!("with a VLAN the address goes on its interface {vlan:?}, not on the bond {bond:?}"),
                    None => format!("netroot configures addresses only on the bond {bond:?}"),
                };
                return Err((key, value.clone(), invalid("interface", iface, reason)));
            }
        }
        Ok(())
    }

    /// The key, value and device of each `vlan=`.
    pub(crate) fn vlan_parents(&self) -> Vec<IfaceUse> {
        self.vlans
            .iter()
            .map(|(v, _, p)| ("vlan", v.clone(), p.clone()))
            .collect()
    }

    /// The key, value and interface of each `ip=`/`nfsaddrs=` that names one.
    pub(crate) fn ifaces(&self) -> Vec<IfaceUse> {
        self.ips
            .iter()
            .filter_map(|(k, v, a)| a.iface.clone().map(|i| (*k, v.clone(), i)))
            .collect()
    }
}

impl PendingNode {
    /// Replaces `%s` now that the address is final: only a static address gives the node a
    /// name before DHCP, so with DHCP the form is refused.
    pub(crate) fn substitute(self, cfg: &mut BootConfig) -> Result<(), KeyError> {
        let (key, value) = (self.key, self.value);
        if cfg.nfs.export != self.spec.path {
            // A netroot.nfs.export given too replaced the path.
            return Ok(());
        }
        let (Some(style), IpConfig::Static(s)) = (self.spec.node, &cfg.ip) else {
            let why = "%s with DHCP addressing is not supported (the name is known only after DHCP): give the path, or a static ip=";
            return Err((key, value.clone(), invalid(key, &value, why)));
        };
        let node = node_name(style, s.hostname.as_deref(), s.address);
        let export = substitute_node(&self.spec.path, &node);
        cfg.nfs.export = export_path(&export).map_err(|e| (key, value.clone(), e))?;
        Ok(())
    }
}

/// Applies a parsed root: a spec without a server takes `ip=`'s `<server-ip>`, else keeps the
/// image's (the kernel would take the DHCP server's; netroot lets DHCP choose the root only with
/// `netroot.nfs.allow_dhcp_root_path`).
fn apply_spec(
    nfs: &mut NfsConfig,
    spec: &NfsSpec,
    ip_server: Option<Ipv4Addr>,
) -> Result<(), ValueError> {
    let server = spec.server.or(ip_server).unwrap_or(nfs.server);
    // `%s` is replaced later; the rest of the path is checked now.
    let export = if spec.node.is_some() {
        export_path(&substitute_node(&spec.path, "node"))?;
        spec.path.clone()
    } else {
        export_path(&spec.path)?
    };
    let mut versions = None;
    let mut rest = Vec::new();
    for opt in &spec.options {
        match version_option(opt)? {
            Some(list) => versions = Some(list),
            None => rest.push(opt.as_str()),
        }
    }
    let options = nfs_options(&rest.join(","))?;
    let versions = match versions {
        Some(list) if spec.v4_only && list.iter().any(|v| !v.is_v4()) => {
            return Err(invalid(
                "nfs version list",
                &format_nfs_versions(&list),
                "contradicts nfs4:",
            ))
        }
        Some(list) => list,
        None if spec.v4_only => {
            let v4: Vec<NfsVersion> = nfs.versions.iter().copied().filter(|v| v.is_v4()).collect();
            if v4.is_empty() {
                any_v4()
            } else {
                v4
            }
        }
        None => nfs.versions.clone(),
    };
    nfs.server = server;
    nfs.export = export;
    nfs.options = options;
    nfs.versions = versions;
    Ok(())
}

/// Renders `ip=` for the interface `iface` (the bond, or its VLAN); a static config with more than [`IP_ARG_MAX_DNS`] DNS servers
/// renders none here (the caller adds `netroot.ip.dns`).
pub(crate) fn render_ip(ip: &IpConfig, iface: &str) -> String {
    match ip {
        IpConfig::Dhcp => format!("{iface}:dhcp"),
        IpConfig::Static(s) => {
            let gw = s.gateway.map(|g| g.to_string()).unwrap_or_default();
            let host = s.hostname.as_deref().unwrap_or("");
            let mut out = format!(
                "{}::{gw}:{}:{host}:{iface}:none",
                s.address,
                prefix_to_netmask(s.prefix_len)
            );
            if s.dns.len() <= IP_ARG_MAX_DNS {
                for d in &s.dns {
                    out.push(':');
                    out.push_str(&d.to_string());
                }
            }
            out
        }
    }
}

/// A `bond=` port: an interface name, or a MAC written with dashes (colons separate fields).
fn parse_bond_port(s: &str) -> Result<PortId, ValueError> {
    if let Ok(mac) = parse_mac(s) {
        return Ok(PortId::Mac(mac));
    }
    validate_ifname(s)?;
    Ok(PortId::Name(s.to_string()))
}

/// Applies `bond=<name>[:<ports>[:<options>[:<mtu>]]]` to the bond.
pub(crate) fn apply_bond(bond: &mut BondConfig, v: &str) -> Result<(), ValueError> {
    let mut fields = v.split(':');
    let name = fields.next().unwrap_or("");
    validate_ifname(name)?;
    bond.name = name.to_string();
    if let Some(ports) = fields.next().filter(|p| !p.is_empty()) {
        let mut list = Vec::new();
        for p in ports.split(',') {
            let port = parse_bond_port(p)?;
            if list.contains(&port) {
                return Err(invalid("bond", v, format!("port {p} is listed twice")));
            }
            list.push(port);
        }
        bond.ports = list;
    }
    for opt in fields
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|o| !o.is_empty())
    {
        let (key, value) = opt
            .split_once('=')
            .ok_or_else(|| invalid("bond option", opt, "expected <option>=<value>"))?;
        match key {
            "mode" => bond.mode = value.parse()?,
            // The same parser as `netroot.bond.miimon` in the key table.
            "miimon" => bond.miimon_ms = positive("miimon interval", value)?,
            "lacp_rate" => bond.lacp_rate = value.parse()?,
            "xmit_hash_policy" => bond.xmit_hash_policy = value.parse()?,
            _ => {
                return Err(ValueError::Unknown {
                    kind: "bond option",
                    value: key.to_string(),
                    expected: "mode, miimon, lacp_rate, xmit_hash_policy".to_string(),
                })
            }
        }
    }
    if fields.next().is_some_and(|mtu| !mtu.is_empty()) {
        return Err(invalid(
            "bond",
            v,
            "setting the MTU with bond= is not supported",
        ));
    }
    if fields.next().is_some() {
        return Err(invalid(
            "bond",
            v,
            "expected <name>[:<ports>[:<options>[:<mtu>]]]",
        ));
    }
    Ok(())
}

/// Renders `bond=` with every option netroot sets; MAC ports use dashes.
pub(crate) fn render_bond(b: &BondConfig) -> String {
    let ports: Vec<String> = b
        .ports
        .iter()
        .map(|p| match p {
            PortId::Mac(mac) => format_mac(mac).replace(':', "-"),
            PortId::Name(n) => n.clone(),
        })
        .collect();
    format!(
        "{}:{}:mode={},miimon={},lacp_rate={},xmit_hash_policy={}",
        b.name,
        ports.join(","),
        b.mode,
        b.miimon_ms,
        b.lacp_rate,
        b.xmit_hash_policy
    )
}

/// Renders `root=nfs:<server>:<path>[:<options>]` (versions go in `netroot.nfs.versions`);
/// `None` when `root=` would read it otherwise: an export with `,` (dracut splits options there)
/// or `%` (`%s` is substituted), or options with `:`.
pub(crate) fn render_root(nfs: &NfsConfig) -> Option<String> {
    if nfs.export.contains([',', '%']) || nfs.options.contains(':') {
        return None;
    }
    let mut out = format!("nfs:{}:{}", nfs.server, nfs.export);
    if !nfs.options.is_empty() {
        out.push(':');
        out.push_str(&nfs.options);
    }
    Some(out)
}
