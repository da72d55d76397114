//! Per-field parsers and renderers used by the key table (`keys.rs`): value checks that belong
//! to one config field rather than to a value type (paths, module lines, NFS options, the
//! static-address fields that depend on `netroot.ip`).

use std::net::Ipv4Addr;
use std::time::Duration;

use super::model::{BootConfig, IpConfig, ModuleLoad, StaticIp};
use super::net::{parse_host_ipv4, parse_mac, parse_netmask};
use super::units::parse_duration;
use super::values::{invalid, ValueError};

pub(crate) fn set<T>(field: &mut T, value: Result<T, ValueError>) -> Result<(), ValueError> {
    *field = value?;
    Ok(())
}

pub(crate) fn push<T>(list: &mut Vec<T>, value: Result<T, ValueError>) -> Result<(), ValueError> {
    list.push(value?);
    Ok(())
}

/// An optional value: empty means unset.
pub(crate) fn opt<T>(
    v: &str,
    parse: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<Option<T>, ValueError> {
    if v.is_empty() {
        Ok(None)
    } else {
        parse(v).map(Some)
    }
}

/// Free text: non-empty, no control characters (spaces allowed).
pub(crate) fn text(kind: &'static str, v: &str) -> Result<String, ValueError> {
    if v.is_empty() {
        Err(invalid(kind, v, "must not be empty"))
    } else if v.chars().any(char::is_control) {
        Err(invalid(kind, v, "must not contain control characters"))
    } else {
        Ok(v.to_string())
    }
}

/// One word: non-empty, no whitespace, quotes, `/` or control characters.
pub(crate) fn word(kind: &'static str, v: &str) -> Result<String, ValueError> {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '/')
    {
        Err(invalid(
            kind,
            v,
            "expected one word without spaces, quotes or '/'",
        ))
    } else {
        Ok(v.to_string())
    }
}

/// An absolute path usable on the kernel command line: no whitespace, quotes or control characters.
pub(crate) fn abs_path(kind: &'static str, v: &str) -> Result<String, ValueError> {
    if !v.starts_with('/') {
        Err(invalid(kind, v, "must be an absolute path"))
    } else if v
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        Err(invalid(
            kind,
            v,
            "must not contain spaces, quotes or control characters",
        ))
    } else {
        Ok(v.to_string())
    }
}

/// The NFS export: an absolute path without `:` (which separates fields of `root=nfs:`).
pub(crate) fn export_path(v: &str) -> Result<String, ValueError> {
    let path = abs_path("nfs export", v)?;
    if path.contains(':') {
        return Err(invalid("nfs export", v, "must not contain ':'"));
    }
    Ok(path)
}

/// Address options the init writes into every NFS mount itself.
const NETROOT_SET_OPTIONS: [&str; 3] = ["addr", "clientaddr", "mountaddr"];

/// Extra NFS mount options: comma-separated, no spaces; the NFS version is chosen by
/// `netroot.nfs.versions`, so `vers=`/`nfsvers=` are refused here.
pub(crate) fn nfs_options(v: &str) -> Result<String, ValueError> {
    if v.is_empty() {
        return Ok(String::new());
    }
    for opt in v.split(',') {
        let name = opt.split_once('=').map_or(opt, |(n, _)| n);
        if opt.is_empty()
            || opt
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"')
        {
            return Err(invalid(
                "nfs options",
                v,
                "expected comma-separated options without spaces or quotes",
            ));
        }
        let version_flag = name
            .strip_prefix('v')
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()));
        if name == "vers" || name == "nfsvers" {
            return Err(invalid(
                "nfs options",
                v,
                "set the NFS version with netroot.nfs.versions, not vers=",
            ));
        }
        if name == "minorversion" || version_flag {
            return Err(invalid(
                "nfs options",
                v,
                format!("set the NFS version with netroot.nfs.versions, not {name}"),
            ));
        }
        // The init sets these from the server and the lease; a second value would win.
        if NETROOT_SET_OPTIONS.contains(&name) {
            return Err(invalid(
                "nfs options",
                v,
                format!("{name}= is set by netroot from the server"),
            ));
        }
    }
    Ok(v.to_string())
}

pub(crate) fn positive(kind: &'static str, v: &str) -> Result<u32, ValueError> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            kind,
            v,
            "expected a whole number greater than zero",
        )),
    }
}

pub(crate) fn timeout(v: &str) -> Result<Duration, ValueError> {
    let d = parse_duration(v)?;
    if d.is_zero() {
        return Err(invalid("timeout", v, "must be greater than zero"));
    }
    Ok(d)
}

pub(crate) fn parse_bool(v: &str) -> Result<bool, ValueError> {
    match v {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(ValueError::Unknown {
            kind: "boolean",
            value: v.to_string(),
            expected: "1, 0".to_string(),
        }),
    }
}

pub(crate) fn render_bool(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

/// A bond MAC must be a unicast, non-zero address.
pub fn bond_mac(v: &str) -> Result<Option<[u8; 6]>, ValueError> {
    opt(v, |v| {
        let mac = parse_mac(v)?;
        if mac == [0; 6] || mac[0] & 1 == 1 {
            return Err(invalid(
                "mac address",
                v,
                "a bond needs a unicast, non-zero address",
            ));
        }
        Ok(mac)
    })
}

/// `<name> <path> [<params>]`: single spaces separate name and path; params are the rest, verbatim.
pub(crate) fn parse_module(v: &str) -> Result<ModuleLoad, ValueError> {
    let bad = |reason: &str| invalid("module", v, reason);
    let (name, rest) = v
        .split_once(' ')
        .ok_or_else(|| bad("expected <name> <path in image> [<params>]"))?;
    let (path, params) = rest.split_once(' ').unwrap_or((rest, ""));
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(bad("module name must be letters, digits, '_' or '-'"));
    }
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|c| c == "..")
        || path.chars().any(|c| c.is_control() || c == '"')
    {
        return Err(bad(
            "module path must be relative to the image root, without '..'",
        ));
    }
    if params.chars().any(char::is_control) {
        return Err(bad("module parameters must not contain control characters"));
    }
    Ok(ModuleLoad {
        name: name.to_string(),
        path: path.to_string(),
        params: params.to_string(),
    })
}

pub(crate) fn render_module(m: &ModuleLoad) -> String {
    if m.params.is_empty() {
        format!("{} {}", m.name, m.path)
    } else {
        format!("{} {} {}", m.name, m.path, m.params)
    }
}

/// `<address>/<prefix>` of a static configuration.
pub fn parse_cidr(v: &str) -> Result<(Ipv4Addr, u8), ValueError> {
    let (addr, prefix) = v
        .split_once('/')
        .ok_or_else(|| invalid("ip", v, "expected dhcp or <address>/<prefix>"))?;
    let address = parse_host_ipv4(addr)?;
    let prefix_len = parse_netmask(prefix)?;
    Ok((address, prefix_len))
}

/// `netroot.ip`: switching to static keeps an existing static configuration's other fields.
pub(crate) fn set_ip(c: &mut BootConfig, v: &str) -> Result<(), ValueError> {
    if v == "dhcp" {
        c.ip = IpConfig::Dhcp;
        return Ok(());
    }
    let (address, prefix_len) = parse_cidr(v)?;
    match &mut c.ip {
        IpConfig::Static(s) => {
            s.address = address;
            s.prefix_len = prefix_len;
        }
        IpConfig::Dhcp => {
            c.ip = IpConfig::Static(StaticIp {
                address,
                prefix_len,
                gateway: None,
                dns: Vec::new(),
                hostname: None,
            })
        }
    }
    Ok(())
}

pub(crate) fn render_ip(ip: &IpConfig) -> String {
    match ip {
        IpConfig::Dhcp => "dhcp".to_string(),
        IpConfig::Static(s) => format!("{}/{}", s.address, s.prefix_len),
    }
}

pub(crate) fn static_ip(c: &BootConfig) -> Option<&StaticIp> {
    match &c.ip {
        IpConfig::Static(s) => Some(s),
        IpConfig::Dhcp => None,
    }
}

/// Applies a value that only exists for static addressing.
pub(crate) fn set_static(
    c: &mut BootConfig,
    kind: &'static str,
    v: &str,
    f: fn(&mut StaticIp, &str) -> Result<(), ValueError>,
) -> Result<(), ValueError> {
    match &mut c.ip {
        IpConfig::Static(s) => f(s, v),
        IpConfig::Dhcp => Err(invalid(
            kind,
            v,
            "only valid with a static netroot.ip (netroot.ip is dhcp)",
        )),
    }
}

/// Comma-separated DNS servers; empty means none.
pub(crate) fn parse_dns(v: &str) -> Result<Vec<Ipv4Addr>, ValueError> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(',').map(parse_host_ipv4).collect()
}

pub(crate) fn render_dns(dns: &[Ipv4Addr]) -> String {
    dns.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
