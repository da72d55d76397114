//! The dracut- and kernel-compatible network and root keys: `ip=` and `bond=` as in
//! dracut.cmdline(7), `root=nfs:`/`root=nfs4:` as in dracut, and `nfsroot=` as in the kernel's
//! Documentation/admin-guide/nfs/nfsroot.rst. Each is parsed and rendered here, once.
//!
//! Deviations, because netroot runs one bond and mounts an NFS root: the `ip=` interface must be
//! the bond; MTU, MAC and peer fields are refused; `bond=` options not given keep the image's
//! values (dracut would use kernel defaults) and an empty port field keeps the image's ports;
//! `vers=`/`nfsvers=` in NFS options select the versions netroot tries (`vers=4` means any 4.x,
//! as for mount).

use super::fields::{export_path, nfs_options, positive};
use super::model::{BondConfig, IpConfig, NfsConfig, NfsVersion, PortId, StaticIp};
use super::net::{
    format_mac, parse_host_ipv4, parse_mac, parse_netmask, prefix_to_netmask, validate_hostname,
    validate_ifname,
};
use super::values::{format_nfs_versions, invalid, ValueError};

/// `ip=` methods that mean DHCP (dracut and kernel spellings).
const DHCP_METHODS: [&str; 3] = ["dhcp", "on", "any"];

/// `ip=` methods that mean a static address in the 7-field form.
const STATIC_METHODS: [&str; 2] = ["none", "off"];

/// Most DNS servers the `ip=` static form carries; more go in `netroot.ip.dns`.
pub(crate) const IP_ARG_MAX_DNS: usize = 2;

const IP_SYNTAX: &str =
    "expected dhcp, <interface>:dhcp, or <client>:<peer>:<gateway>:<netmask>:<hostname>:<interface>:none[:<dns1>[:<dns2>]]";

/// A parsed `ip=`: the addressing and the interface it names, if any.
#[derive(Debug)]
pub(crate) struct IpArg {
    pub ip: IpConfig,
    pub iface: Option<String>,
}

fn dhcp_method(v: &str, method: &str) -> Result<(), ValueError> {
    if DHCP_METHODS.contains(&method) {
        Ok(())
    } else if STATIC_METHODS.contains(&method) {
        Err(invalid(
            "ip",
            v,
            "netroot needs an address: use dhcp or the static form",
        ))
    } else {
        Err(ValueError::Unknown {
            kind: "ip method",
            value: method.to_string(),
            expected: DHCP_METHODS.join(", "),
        })
    }
}

fn opt_iface(v: &str) -> Result<Option<String>, ValueError> {
    if v.is_empty() {
        return Ok(None);
    }
    validate_ifname(v)?;
    Ok(Some(v.to_string()))
}

/// Parses the value of `ip=`.
pub(crate) fn parse_ip(v: &str) -> Result<IpArg, ValueError> {
    let fields: Vec<&str> = v.split(':').collect();
    match fields.as_slice() {
        [method] => {
            dhcp_method(v, method)?;
            Ok(IpArg {
                ip: IpConfig::Dhcp,
                iface: None,
            })
        }
        [iface, method, extra @ ..] if extra.len() <= 2 => {
            dhcp_method(v, method)?;
            if extra.iter().any(|f| !f.is_empty()) {
                return Err(invalid(
                    "ip",
                    v,
                    "setting the MTU or MAC address with ip= is not supported",
                ));
            }
            Ok(IpArg {
                ip: IpConfig::Dhcp,
                iface: opt_iface(iface)?,
            })
        }
        [client, peer, gw, mask, host, iface, method, extra @ ..]
            if extra.len() <= IP_ARG_MAX_DNS =>
        {
            let iface = opt_iface(iface)?;
            if DHCP_METHODS.contains(method) {
                if [client, peer, gw, mask, host].iter().any(|f| !f.is_empty())
                    || extra.iter().any(|f| !f.is_empty())
                {
                    return Err(invalid(
                        "ip",
                        v,
                        "with dhcp only the interface field may be set",
                    ));
                }
                return Ok(IpArg {
                    ip: IpConfig::Dhcp,
                    iface,
                });
            }
            if !STATIC_METHODS.contains(method) {
                let expected = [STATIC_METHODS.as_slice(), DHCP_METHODS.as_slice()]
                    .concat()
                    .join(", ");
                return Err(ValueError::Unknown {
                    kind: "ip method",
                    value: method.to_string(),
                    expected,
                });
            }
            if !peer.is_empty() {
                return Err(invalid(
                    "ip",
                    v,
                    "a peer address is not supported (netroot addresses an Ethernet bond)",
                ));
            }
            let mut dns = Vec::new();
            for f in extra.iter().filter(|f| !f.is_empty()) {
                if f.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        "ip",
                        v,
                        "setting the MTU with ip= is not supported",
                    ));
                }
                dns.push(parse_host_ipv4(f)?);
            }
            let hostname = if host.is_empty() {
                None
            } else {
                validate_hostname(host)?;
                Some(host.to_string())
            };
            let ip = StaticIp {
                address: parse_host_ipv4(client)?,
                prefix_len: parse_netmask(mask)?,
                gateway: if gw.is_empty() {
                    None
                } else {
                    Some(parse_host_ipv4(gw)?)
                },
                dns,
                hostname,
            };
            Ok(IpArg {
                ip: IpConfig::Static(ip),
                iface,
            })
        }
        _ => Err(invalid("ip", v, IP_SYNTAX)),
    }
}

/// Renders `ip=` for the bond; a static config with more than [`IP_ARG_MAX_DNS`] DNS servers
/// renders none here (the caller adds `netroot.ip.dns`).
pub(crate) fn render_ip(ip: &IpConfig, bond: &str) -> String {
    match ip {
        IpConfig::Dhcp => format!("{bond}:dhcp"),
        IpConfig::Static(s) => {
            let gw = s.gateway.map(|g| g.to_string()).unwrap_or_default();
            let host = s.hostname.as_deref().unwrap_or("");
            let mut out = format!(
                "{}::{gw}:{}:{host}:{bond}:none",
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

/// Applies `root=`: `nfs:[<server>:]<path>[:<options>]`, `nfs4:...`, or `/dev/nfs` (the kernel's
/// marker for `nfsroot=`, which changes nothing by itself).
pub(crate) fn apply_root(nfs: &mut NfsConfig, v: &str) -> Result<(), ValueError> {
    if v == "/dev/nfs" {
        return Ok(());
    }
    let (spec, v4_only) = match (v.strip_prefix("nfs:"), v.strip_prefix("nfs4:")) {
        (Some(s), _) => (s, false),
        (_, Some(s)) => (s, true),
        _ => return Err(ValueError::Unknown {
            kind: "root",
            value: v.to_string(),
            expected:
                "nfs:[<server>:]<path>[:<options>], nfs4:[<server>:]<path>[:<options>], /dev/nfs"
                    .to_string(),
        }),
    };
    let (server, rest) = match spec.split_once(':') {
        Some((server, rest)) if !server.starts_with('/') => (server, rest),
        _ => ("", spec),
    };
    let (path, options) = rest.split_once(':').unwrap_or((rest, ""));
    apply_nfs(nfs, server, path, options, v4_only)
}

/// Applies the kernel's `nfsroot=[<server>:]<path>[,<options>]`.
pub(crate) fn apply_nfsroot(nfs: &mut NfsConfig, v: &str) -> Result<(), ValueError> {
    let (head, options) = v.split_once(',').unwrap_or((v, ""));
    let (server, path) = head.split_once(':').unwrap_or(("", head));
    if path.contains("%s") {
        return Err(invalid("nfsroot", v, "%s substitution is not supported"));
    }
    apply_nfs(nfs, server, path, options, false)
}

/// Every NFSv4 minor version, newest first: what `vers=4` (as for mount) and a bare `nfs4:` mean.
fn any_v4() -> Vec<NfsVersion> {
    NfsVersion::ALL.into_iter().filter(|v| v.is_v4()).collect()
}

fn apply_nfs(
    nfs: &mut NfsConfig,
    server: &str,
    path: &str,
    options: &str,
    v4_only: bool,
) -> Result<(), ValueError> {
    let server = if server.is_empty() {
        nfs.server
    } else {
        parse_host_ipv4(server)?
    };
    let export = export_path(path)?;
    let mut versions = None;
    let mut rest = Vec::new();
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("vers" | "nfsvers", "4")) => versions = Some(any_v4()),
            Some(("vers" | "nfsvers", vers)) => versions = Some(vec![vers.parse::<NfsVersion>()?]),
            _ => rest.push(opt),
        }
    }
    let options = nfs_options(&rest.join(","))?;
    let versions = match versions {
        Some(list) if v4_only && list.iter().any(|v| !v.is_v4()) => {
            return Err(invalid(
                "nfs version list",
                &format_nfs_versions(&list),
                "contradicts nfs4:",
            ))
        }
        Some(list) => list,
        None if v4_only => {
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

/// Renders `root=nfs:<server>:<path>[:<options>]` (versions go in `netroot.nfs.versions`).
pub(crate) fn render_root(nfs: &NfsConfig) -> String {
    let mut out = format!("nfs:{}:{}", nfs.server, nfs.export);
    if !nfs.options.is_empty() {
        out.push(':');
        out.push_str(&nfs.options);
    }
    out
}
