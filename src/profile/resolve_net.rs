//! Validation of the `[bond]` and `[ip]` sections.

use netroot_init::bootconfig::{self as bc};

use super::error::ProfileError;
use super::raw::{RawBond, RawIp};
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

/// `[bond]` → [`bc::BondConfig`]; ports are MAC addresses or interface names.
pub(super) fn bond(cx: &Ctx<'_>, b: RawBond) -> Result<bc::BondConfig, ProfileError> {
    let ports_val = b.ports.as_ref().ok_or_else(|| cx.missing("bond.ports"))?;
    if ports_val.value.is_empty() {
        return Err(cx.invalid(
            &ports_val.span,
            "bond.ports is empty (list MAC addresses or interface names)",
        ));
    }
    let mut ports = Vec::new();
    for p in &ports_val.value {
        let id =
            bond_port(&p.value).map_err(|m| cx.invalid(&p.span, format!("bond.ports: {m}")))?;
        if ports.contains(&id) {
            return Err(cx.invalid(&p.span, format!("bond.ports: \"{}\" listed twice", p.value)));
        }
        ports.push(id);
    }
    let min_ports = match &b.min_ports {
        Some(v) if v.value == 0 || v.value as usize > ports.len() => {
            return Err(cx.invalid(
                &v.span,
                format!(
                    "bond.min_ports must be between 1 and {} (the number of ports), got {}",
                    ports.len(),
                    v.value
                ),
            ))
        }
        Some(v) => v.value,
        None => 1,
    };
    let mode = match &b.mode {
        Some(v) => cx.parse::<bc::BondMode>(v)?,
        None => return Err(cx.missing("bond.mode")),
    };
    let mac = match &b.mac {
        Some(v) => Some(parse_mac(&v.value).ok_or_else(|| {
            cx.invalid(
                &v.span,
                format!("bond.mac: invalid MAC address \"{}\"", v.value),
            )
        })?),
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
            let (addr, prefix) = a.value.split_once('/').ok_or_else(|| {
                cx.invalid(
                    &a.span,
                    format!("ip.address: expected A.B.C.D/PREFIX, got \"{}\"", a.value),
                )
            })?;
            let address = addr.parse().map_err(|_| {
                cx.invalid(
                    &a.span,
                    format!("ip.address: invalid IPv4 address \"{addr}\""),
                )
            })?;
            let prefix_len = prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or_else(|| {
                    cx.invalid(
                        &a.span,
                        format!("ip.address: invalid prefix length \"{prefix}\""),
                    )
                })?;
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
