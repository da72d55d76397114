//! Validation of the `[bond]`, `[vlan]` and `[ip]` sections.

use netroot_boot::bootconfig::{self as bc};

use super::error::ProfileError;
use super::raw::{RawBond, RawIp, RawVlan};
use super::resolve::{defaults, ipv4, Ctx};
use super::source::Val;

fn ifname(cx: &Ctx<'_>, v: &Val<String>, what: &str) -> Result<String, ProfileError> {
    bc::validate_ifname(&v.value).map_err(|e| cx.invalid(&v.span, format!("{what}: {e}")))?;
    Ok(v.value.clone())
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    bc::parse_mac(s).ok()
}

/// One `bond.ports` item as profiles and `nodes.toml` spell it: a MAC address, else an interface
/// name; a value with a `:` that is no MAC is a mistyped MAC (interface names cannot hold `:`).
pub(crate) fn bond_port(s: &str) -> Result<bc::PortId, String> {
    match parse_mac(s) {
        Some(mac) => Ok(bc::PortId::Mac(mac)),
        None if s.contains(':') => Err(format!("invalid MAC address \"{s}\"")),
        None => bc::validate_ifname(s)
            .map(|()| bc::PortId::Name(s.to_string()))
            .map_err(|e| e.to_string()),
    }
}

/// `[vlan]` → the VLAN on the bond (`None` without the table); the table must set `id`, an
/// 802.1Q id 1-4094. The interface name it makes with the bond's is checked with every other
/// boot-config value (`resolve_boot::check`).
pub(super) fn vlan(
    cx: &Ctx<'_>,
    v: Option<&RawVlan>,
) -> Result<Option<bc::VlanConfig>, ProfileError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let id = v.id.as_ref().ok_or_else(|| cx.missing("vlan.id"))?;
    let id =
        bc::VlanId::new(id.value).map_err(|e| cx.invalid(&id.span, format!("vlan.id: {e}")))?;
    Ok(Some(bc::VlanConfig::new(id)))
}

/// `[bond]` → [`bc::BondConfig`]; ports are MAC addresses or interface names.
pub(super) fn bond(cx: &Ctx<'_>, b: RawBond) -> Result<bc::BondConfig, ProfileError> {
    let ports_val = b.ports.as_ref().ok_or_else(|| cx.missing("bond.ports"))?;
    // An empty list and a port listed twice are refused by the boot-config check
    // (`resolve_boot::check`), like every other value the init's parsers refuse.
    let mut ports = Vec::new();
    for p in &ports_val.value {
        let id =
            bond_port(&p.value).map_err(|m| cx.invalid(&p.span, format!("bond.ports: {m}")))?;
        ports.push(id);
    }
    // 0 or more than the ports is refused by the boot-config check (`resolve_boot::check`).
    let min_ports = b.min_ports.as_ref().map_or(1, |v| v.value);
    let mode = match &b.mode {
        Some(v) => cx.parse::<bc::BondMode>(v)?,
        None => return Err(cx.missing("bond.mode")),
    };
    let mac = match &b.mac {
        Some(v) => {
            bc::bond_mac(&v.value).map_err(|e| cx.invalid(&v.span, format!("bond.mac: {e}")))?
        }
        None => None,
    };
    Ok(bc::BondConfig {
        name: match &b.name {
            Some(v) => ifname(cx, v, "bond.name")?,
            None => defaults::BOND_NAME.to_string(),
        },
        mode,
        miimon_ms: b.miimon.map(|v| v.value).unwrap_or(defaults::MIIMON_MS),
        lacp_rate: match &b.lacp_rate {
            Some(v) => cx.parse::<bc::LacpRate>(v)?,
            None => bc::LacpRate::Slow,
        },
        xmit_hash_policy: match &b.xmit_hash_policy {
            Some(v) => cx.parse::<bc::XmitHashPolicy>(v)?,
            None => bc::XmitHashPolicy::Layer2,
        },
        mac,
        ports,
        min_ports,
    })
}

/// `[ip]` → [`bc::IpConfig`].
pub(super) fn ip(cx: &Ctx<'_>, i: RawIp) -> Result<bc::IpConfig, ProfileError> {
    let method = i
        .method
        .as_ref()
        .map(|m| m.value.as_str())
        .unwrap_or("dhcp");
    let static_only = [
        ("ip.address", &i.address),
        ("ip.gateway", &i.gateway),
        ("ip.hostname", &i.hostname),
    ];
    match method {
        "dhcp" => {
            for (name, v) in static_only {
                if let Some(v) = v {
                    return Err(cx.invalid(
                        &v.span,
                        format!("{name} is only valid with ip.method = \"static\""),
                    ));
                }
            }
            Ok(bc::IpConfig::Dhcp)
        }
        "static" => {
            let a = i.address.as_ref().ok_or_else(|| cx.missing("ip.address"))?;
            let (address, prefix_len) = bc::parse_cidr(&a.value)
                .map_err(|e| cx.invalid(&a.span, format!("ip.address: {e}")))?;
            let gateway = i
                .gateway
                .as_ref()
                .map(|g| ipv4(cx, g, "ip.gateway"))
                .transpose()?;
            let dns = i
                .dns
                .iter()
                .flat_map(|d| d.value.iter())
                .map(|d| ipv4(cx, d, "ip.dns"))
                .collect::<Result<_, _>>()?;
            Ok(bc::IpConfig::Static(bc::StaticIp {
                address,
                prefix_len,
                gateway,
                dns,
                hostname: i.hostname.map(|h| h.value),
            }))
        }
        other => {
            let span = i.method.as_ref().map(|m| m.span.clone()).unwrap_or(0..0);
            Err(cx.invalid(
                &span,
                format!("unknown ip method \"{other}\" (expected one of: dhcp, static)"),
            ))
        }
    }
}
