//! Network value spellings: MAC addresses, interface and host names, bond port ids and lists,
//! host IPv4 addresses and netmasks.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::model::PortId;
use super::values::{invalid, ValueError};

/// Longest Linux interface name: IFNAMSIZ (16) minus the terminating NUL.
pub const IFNAME_MAX_LEN: usize = 15;

/// Longest host name accepted (RFC 1123 total length limit for a DNS name).
const HOSTNAME_MAX_LEN: usize = 253;

/// Longest label of a host name (RFC 1035 section 2.3.4).
const HOSTNAME_LABEL_MAX_LEN: usize = 63;

/// Parses a MAC address: six two-digit hex groups separated by `:` or (consistently) `-`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], ValueError> {
    let bad = || {
        invalid(
            "mac address",
            s,
            "expected six hex pairs like 52:54:00:12:34:56",
        )
    };
    let sep = match s.as_bytes().get(2) {
        Some(b':') => ':',
        Some(b'-') => '-',
        _ => return Err(bad()),
    };
    let mut out = [0u8; 6];
    let mut groups = s.split(sep);
    for byte in out.iter_mut() {
        let g = groups.next().ok_or_else(bad)?;
        if g.len() != 2 || !g.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(g, 16).map_err(|_| bad())?;
    }
    match groups.next() {
        None => Ok(out),
        Some(_) => Err(bad()),
    }
}

/// Renders a MAC address as lowercase `52:54:00:12:34:56`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Checks a Linux interface name: 1-15 bytes, no `/`, `:`, `,`, whitespace or control characters,
/// not `.` or `..` (the kernel's `dev_valid_name`, plus `,` which separates list items here).
pub fn validate_ifname(s: &str) -> Result<(), ValueError> {
    let reason = if s.is_empty() {
        "must not be empty".to_string()
    } else if s.len() > IFNAME_MAX_LEN {
        format!("longer than {IFNAME_MAX_LEN} bytes")
    } else if s == "." || s == ".." {
        "is reserved".to_string()
    } else if s.chars().any(|c| {
        c == '/' || c == ':' || c == ',' || c == '"' || c.is_whitespace() || c.is_control()
    }) {
        "must not contain '/', ':', ',', '\"', spaces or control characters".to_string()
    } else {
        return Ok(());
    };
    Err(invalid("interface name", s, reason))
}

/// A client network `A.B.C.D/N` (an exports(5) client, a profile's `publish.client_network`)
/// → (address, prefix length 0..=32); `None` for anything else (a host name, a wildcard).
pub fn parse_ipv4_network(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let prefix = len.parse().ok().filter(|l: &u8| *l <= 32)?;
    Some((ip.parse().ok()?, prefix))
}

/// Checks a node name (`netroot.node`): one host-name label, so it is also a safe path component
/// (the node's layer is `.netroot/nodes/NAME` in the root tree).
pub fn validate_node_name(s: &str) -> Result<(), ValueError> {
    let ok = !s.is_empty()
        && s.len() <= HOSTNAME_LABEL_MAX_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "node name",
            s,
            format!(
                "expected one host-name label: letters, digits and inner hyphens, at most \
                 {HOSTNAME_LABEL_MAX_LEN} characters"
            ),
        ))
    }
}

/// Checks a host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
pub fn validate_hostname(s: &str) -> Result<(), ValueError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= HOSTNAME_LABEL_MAX_LEN
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if s.len() <= HOSTNAME_MAX_LEN && s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(invalid(
            "host name",
            s,
            "expected dot-separated labels of letters, digits and inner hyphens",
        ))
    }
}

impl FromStr for PortId {
    type Err = ValueError;
    /// `mac:<mac>`, `name:<ifname>`, or a bare MAC address or interface name.
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some(mac) = s.strip_prefix("mac:") {
            return Ok(PortId::Mac(parse_mac(mac)?));
        }
        if let Some(name) = s.strip_prefix("name:") {
            validate_ifname(name)?;
            return Ok(PortId::Name(name.to_string()));
        }
        if let Ok(mac) = parse_mac(s) {
            return Ok(PortId::Mac(mac));
        }
        if validate_ifname(s).is_ok() {
            return Ok(PortId::Name(s.to_string()));
        }
        Err(invalid(
            "port",
            s,
            "expected mac:<mac address>, name:<interface>, a MAC address or an interface name",
        ))
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortId::Mac(mac) => write!(f, "mac:{}", format_mac(mac)),
            PortId::Name(name) => write!(f, "name:{name}"),
        }
    }
}

/// Parses a comma-separated, non-empty list of distinct ports.
pub fn parse_ports(s: &str) -> Result<Vec<PortId>, ValueError> {
    if s.is_empty() {
        return Err(invalid("port list", s, "at least one port is required"));
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        let p: PortId = item.parse()?;
        if out.contains(&p) {
            return Err(invalid("port list", s, format!("port {p} is listed twice")));
        }
        out.push(p);
    }
    Ok(out)
}

/// Renders a port list as [`parse_ports`] reads it.
pub fn format_ports(ports: &[PortId]) -> String {
    ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses the IPv4 address of a host (server, client, gateway, DNS server): rejects the
/// unspecified, broadcast and multicast addresses, which cannot name one machine.
pub fn parse_host_ipv4(s: &str) -> Result<Ipv4Addr, ValueError> {
    let addr: Ipv4Addr = s
        .parse()
        .map_err(|_| invalid("IPv4 address", s, "expected a dotted quad like 10.0.2.2"))?;
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(invalid("IPv4 address", s, "not a host address"));
    }
    Ok(addr)
}

/// Parses a netmask given as a prefix length (`24`) or a dotted quad (`255.255.255.0`) into a
/// prefix length 1-32.
pub fn parse_netmask(s: &str) -> Result<u8, ValueError> {
    let prefix = if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u8>().ok()
    } else {
        s.parse::<Ipv4Addr>().ok().and_then(|m| {
            let bits = u32::from(m);
            // A valid mask is a run of ones followed by zeros: its complement plus one is a power of two.
            (!bits)
                .wrapping_add(1)
                .is_power_of_two()
                .then_some(bits.leading_ones() as u8)
        })
    };
    match prefix {
        Some(p) if (1..=32).contains(&p) => Ok(p),
        _ => Err(invalid(
            "netmask",
            s,
            "expected a prefix length 1-32 or a contiguous mask like 255.255.255.0",
        )),
    }
}

/// The dotted-quad netmask of a prefix length (`24` → `255.255.255.0`).
pub fn prefix_to_netmask(prefix_len: u8) -> Ipv4Addr {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(bits)
}
