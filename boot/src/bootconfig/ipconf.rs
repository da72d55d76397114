//! The `ip=` grammar: the kernel's ten fields (Documentation/admin-guide/nfs/nfsroot.rst,
//! net/ipv4/ipconfig.c `ip_auto_config_setup`) and dracut's forms (dracut.cmdline(7),
//! modules.d/40network/net-lib.sh `ip_to_var`): `ip=<autoconf>`,
//! `ip=<interface>:<autoconf>[:[<mtu>][:<macaddr>]]` and
//! `ip=<client>:<server>:<gw>:<netmask>:<hostname>:<interface>:<autoconf>[:<dns0>[:<dns1>[:<ntp0>]]]`
//! (dracut: `...:<autoconf>[:[<mtu>][:<macaddr>]]`). Parsing only; `cmdline.rs` applies it.
//!
//! What netroot cannot do (IPv6, BOOTP/RARP, an MTU, NTP, ...) is refused naming the form.

use std::net::Ipv4Addr;

use super::fields::bond_mac;
use super::model::{IpConfig, StaticIp};
use super::net::{parse_host_ipv4, parse_netmask, validate_hostname, validate_ifname};
use super::values::{invalid, ValueError};

/// Most DNS servers the `ip=` static form carries (the kernel's `<dns0-ip>`, `<dns1-ip>`); more
/// go in `netroot.ip.dns`.
pub(crate) const IP_ARG_MAX_DNS: usize = 2;

/// Fields of the kernel's full form, up to `<ntp0-ip>`.
const KERNEL_FIELDS: usize = 10;

/// Fields up to `<autoconf>`, the shortest static form netroot accepts (fewer leave the method
/// to the kernel's default `any`, which is DHCP or static depending on what else is known).
const STATIC_FIELDS: usize = 7;

/// Parts of a MAC address written with `:`, which `ip=` then splits as fields.
const MAC_PARTS: usize = 6;

const IP_SYNTAX: &str = "expected <autoconf>, <interface>:<autoconf>[:[<mtu>][:<mac>]], or <client>:<server>:<gateway>:<netmask>:<hostname>:<interface>:<autoconf>[:<dns0>[:<dns1>[:<ntp0>]]]";

/// What an `<autoconf>` value asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Autoconf {
    Dhcp,
    Static,
}

/// Methods that select dracut's `<interface>:<autoconf>` form when they are the second field
/// (`ip_to_var`, plus `link6` which its manual lists there).
const IFACE_FORM_METHODS: [&str; 7] = ["dhcp", "on", "any", "dhcp6", "auto6", "either6", "link6"];

/// A parsed `ip=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpArg {
    pub ip: IpConfig,
    /// The interface it names, if any.
    pub iface: Option<String>,
    /// The kernel's `<server-ip>`: the NFS server when the root names none.
    pub server: Option<Ipv4Addr>,
    /// dracut's `<macaddr>`: the bond's MAC.
    pub mac: Option<[u8; 6]>,
}

fn autoconf(v: &str, method: &str, bare: bool) -> Result<Autoconf, ValueError> {
    let no = |why: &str| Err(invalid("ip", v, format!("{method}: {why}")));
    match method {
        "dhcp" | "on" | "any" => Ok(Autoconf::Dhcp),
        // dracut: DHCP on every interface at once, first answer wins: netroot has one bond.
        "single-dhcp" if bare => Ok(Autoconf::Dhcp),
        "none" | "off" => Ok(Autoconf::Static),
        "bootp" | "rarp" | "both" => no("netroot configures addresses by DHCP only"),
        "dhcp6" | "auto6" | "either6" | "link6" => no("IPv6 is not supported"),
        "ibft" => no("iBFT is not supported"),
        m if m.starts_with("dhcp,") => {
            no("a DHCP client identifier (dhcp,<type>,<value>) is not supported")
        }
        _ => Err(ValueError::Unknown {
            kind: "ip autoconf",
            value: method.to_string(),
            expected: "dhcp, on, any, none, off".to_string(),
        }),
    }
}

fn opt_iface(v: &str) -> Result<Option<String>, ValueError> {
    if v.is_empty() {
        return Ok(None);
    }
    validate_ifname(v)?;
    Ok(Some(v.to_string()))
}

/// An address field: empty or `0.0.0.0` (which the kernel maps to "not given") is `None`.
fn opt_addr(f: &str) -> Result<Option<Ipv4Addr>, ValueError> {
    if f.is_empty() || f == "0.0.0.0" {
        Ok(None)
    } else {
        parse_host_ipv4(f).map(Some)
    }
}

fn looks_like_ipv4(f: &str) -> bool {
    f.split('.').count() == 4 && f.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn no_mtu(v: &str) -> ValueError {
    invalid("ip", v, "setting the MTU with ip= is not supported")
}

fn mac(parts: &[&str]) -> Result<Option<[u8; 6]>, ValueError> {
    bond_mac(&parts.join(":"))
}

/// The kernel's classful netmask for an address given without one (nfsroot.rst: "derived from
/// the client IP address assuming classful addressing").
fn classful_prefix(v: &str, a: Ipv4Addr) -> Result<u8, ValueError> {
    match a.octets()[0] {
        0..=127 => Ok(8),
        128..=191 => Ok(16),
        192..=223 => Ok(24),
        _ => Err(invalid("ip", v, "no netmask, and the address has no class")),
    }
}

/// Parses the value of `ip=` (or the kernel's alias `nfsaddrs=`).
pub(crate) fn parse_ip(v: &str) -> Result<IpArg, ValueError> {
    let fields: Vec<&str> = v.split(':').collect();
    let dhcp = |iface, server, mac| IpArg {
        ip: IpConfig::Dhcp,
        iface,
        server,
        mac,
    };
    match fields.as_slice() {
        [""] => Err(invalid(
            "ip",
            v,
            "empty: no autoconfiguration (the kernel's ip=off); netroot needs an address",
        )),
        [one] if looks_like_ipv4(one) => Err(invalid(
            "ip",
            v,
            "anaconda's ip=<address> with gateway=/netmask= keys is not supported",
        )),
        [method] => match autoconf(v, method, true)? {
            Autoconf::Dhcp => Ok(dhcp(None, None, None)),
            Autoconf::Static => Err(invalid(
                "ip",
                v,
                "no autoconfiguration and no address; netroot needs one: use dhcp or the static form",
            )),
        },
        [iface, method, rest @ ..] if IFACE_FORM_METHODS.contains(method) => {
            autoconf(v, method, false)?;
            let mac = match rest {
                [] | [""] | ["", ""] => None,
                [mtu, ..] if !mtu.is_empty() => return Err(no_mtu(v)),
                [_, one] => mac(&[one])?,
                [_, parts @ ..] if parts.len() == MAC_PARTS => mac(parts)?,
                _ => return Err(invalid("ip", v, IP_SYNTAX)),
            };
            Ok(dhcp(opt_iface(iface)?, None, mac))
        }
        [client, server, gw, mask, host, iface, method, rest @ ..]
            if rest.len() <= KERNEL_FIELDS - STATIC_FIELDS || rest.len() == MAC_PARTS + 1 =>
        {
            let iface = opt_iface(iface)?;
            let server = opt_addr(server)?;
            let (dns, mac) = tail(v, rest)?;
            match autoconf(v, method, false)? {
                Autoconf::Dhcp => {
                    if [client, gw, mask, host].iter().any(|f| !f.is_empty()) || !dns.is_empty() {
                        return Err(invalid(
                            "ip",
                            v,
                            "with dhcp only the server and interface fields may be set",
                        ));
                    }
                    Ok(dhcp(iface, server, mac))
                }
                Autoconf::Static => {
                    let address = opt_addr(client)?.ok_or_else(|| {
                        invalid(
                            "ip",
                            v,
                            "no client address and no autoconfiguration; netroot needs an address",
                        )
                    })?;
                    let prefix_len = if mask.is_empty() {
                        classful_prefix(v, address)?
                    } else {
                        parse_netmask(mask)?
                    };
                    let hostname = if host.is_empty() {
                        None
                    } else {
                        validate_hostname(host)?;
                        Some(host.to_string())
                    };
                    let ip = StaticIp {
                        address,
                        prefix_len,
                        gateway: opt_addr(gw)?,
                        dns,
                        hostname,
                    };
                    Ok(IpArg {
                        ip: IpConfig::Static(ip),
                        iface,
                        server,
                        mac,
                    })
                }
            }
        }
        [_, _, _, _, _, ..] if fields.len() < STATIC_FIELDS => Err(invalid(
            "ip",
            v,
            "no <autoconf> field: give none/off for a static address or dhcp",
        )),
        _ => Err(invalid("ip", v, IP_SYNTAX)),
    }
}

/// Fields after `<autoconf>`: the kernel's `<dns0>:<dns1>:<ntp0>`, or dracut's
/// `<mtu>:<macaddr>` (an empty or numeric first field, a MAC in one field or six).
fn tail(v: &str, rest: &[&str]) -> Result<(Vec<Ipv4Addr>, Option<[u8; 6]>), ValueError> {
    let first = rest.first().copied().unwrap_or("");
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(no_mtu(v));
    }
    if rest.len() == MAC_PARTS + 1 {
        if !first.is_empty() {
            return Err(invalid("ip", v, IP_SYNTAX));
        }
        return Ok((Vec::new(), mac(&rest[1..])?));
    }
    let second = rest.get(1).copied().unwrap_or("");
    if first.is_empty() && !second.is_empty() && !looks_like_ipv4(second) {
        // dracut's `<autoconf>::<macaddr>`; the kernel reads a dns1 there, so only a MAC-shaped
        // value (not an address) is taken as one.
        if rest.len() > 2 {
            return Err(invalid("ip", v, IP_SYNTAX));
        }
        return Ok((Vec::new(), mac(&[second])?));
    }
    if rest.get(2).is_some_and(|ntp| !ntp.is_empty()) {
        return Err(invalid(
            "ip",
            v,
            "an NTP server (<ntp0-ip>) is not supported",
        ));
    }
    let mut dns = Vec::new();
    for f in rest.iter().take(IP_ARG_MAX_DNS) {
        if let Some(a) = opt_addr(f)? {
            dns.push(a);
        }
    }
    Ok((dns, None))
}
