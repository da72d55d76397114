//! The address the node booted with (from DHCP or static config), and its handover files:
//! `/run/netroot/net.json` for the real root (which must not reconfigure the bond, see README)
//! and `/run/netroot/resolv.conf`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::bootconfig::format_mac;

/// Where the address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseSource {
    Dhcp,
    Static,
}

/// The node's IPv4 configuration as applied to the bond.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub source: LeaseSource,
    pub interface: String,
    pub mac: [u8; 6],
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    /// Seconds; `None` = infinite (static addresses, or an infinite DHCP lease).
    pub lease_secs: Option<u32>,
    /// When the lease was obtained, as time since kernel start (CLOCK_BOOTTIME).
    pub obtained_at: Duration,
    /// The same moment as Unix time, when the clock was set.
    pub obtained_unix: Option<u64>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    /// DHCP option 17 as received (used only if the config allows it).
    pub root_path: Option<String>,
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt<T: ToString>(v: &Option<T>) -> String {
    match v {
        Some(v) => json_str(&v.to_string()),
        None => "null".to_string(),
    }
}

fn json_num<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

impl Lease {
    /// `/run/netroot/net.json`: one object, keys in a fixed order, `null` for absent values.
    pub fn to_json(&self) -> String {
        let dns: Vec<String> = self.dns.iter().map(|d| json_str(&d.to_string())).collect();
        let source = match self.source {
            LeaseSource::Dhcp => "dhcp",
            LeaseSource::Static => "static",
        };
        let fields = [
            ("source", json_str(source)),
            ("interface", json_str(&self.interface)),
            ("mac", json_str(&format_mac(&self.mac))),
            ("address", json_str(&self.address.to_string())),
            ("prefix_len", self.prefix_len.to_string()),
            ("gateway", json_opt(&self.gateway)),
            ("dns", format!("[{}]", dns.join(", "))),
            ("server_id", json_opt(&self.server_id)),
            ("lease_time_secs", json_num(self.lease_secs)),
            (
                "obtained_at_boottime_ms",
                (self.obtained_at.as_millis()).to_string(),
            ),
            ("obtained_at_unix", json_num(self.obtained_unix)),
            ("hostname", json_opt(&self.hostname)),
            ("domain", json_opt(&self.domain)),
            ("root_path", json_opt(&self.root_path)),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  {}: {v}", json_str(k)))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    }

    /// `resolv.conf` text: `search` (when a domain is known) and one `nameserver` per server.
    pub fn resolv_conf(&self) -> String {
        let mut out = String::from("# written by netroot-init from the boot lease\n");
        if let Some(domain) = &self.domain {
            let _ = writeln!(out, "search {domain}");
        }
        for d in &self.dns {
            let _ = writeln!(out, "nameserver {d}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            source: LeaseSource::Dhcp,
            interface: "bond0".into(),
            mac: [0x52, 0x54, 0, 0, 0, 1],
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 2, 2)),
            dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(10, 0, 2, 4)],
            server_id: Some(Ipv4Addr::new(10, 0, 2, 2)),
            lease_secs: Some(86400),
            obtained_at: Duration::from_millis(7250),
            obtained_unix: Some(1_750_000_007),
            hostname: Some("node\"1".into()),
            domain: Some("cluster.local".into()),
            root_path: None,
        }
    }

    #[test]
    fn net_json_has_every_field() {
        assert_eq!(
            lease().to_json(),
            r#"{
  "source": "dhcp",
  "interface": "bond0",
  "mac": "52:54:00:00:00:01",
  "address": "10.0.2.15",
  "prefix_len": 24,
  "gateway": "10.0.2.2",
  "dns": ["10.0.2.3", "10.0.2.4"],
  "server_id": "10.0.2.2",
  "lease_time_secs": 86400,
  "obtained_at_boottime_ms": 7250,
  "obtained_at_unix": 1750000007,
  "hostname": "node\"1",
  "domain": "cluster.local",
  "root_path": null
}
"#
        );
    }

    #[test]
    fn static_json_uses_nulls_and_escapes_controls() {
        let mut l = lease();
        l.source = LeaseSource::Static;
        l.gateway = None;
        l.dns.clear();
        l.lease_secs = None;
        l.obtained_unix = None;
        l.root_path = Some("a\u{1}b\\".into());
        let j = l.to_json();
        assert!(j.contains("\"source\": \"static\""));
        assert!(j.contains("\"gateway\": null"));
        assert!(j.contains("\"dns\": []"));
        assert!(j.contains("\"lease_time_secs\": null"));
        assert!(j.contains("\"root_path\": \"a\\u0001b\\\\\""));
    }

    #[test]
    fn resolv_conf_lists_search_and_servers() {
        assert_eq!(
            lease().resolv_conf(),
            "# written by netroot-init from the boot lease\nsearch cluster.local\nnameserver 10.0.2.3\nnameserver 10.0.2.4\n"
        );
    }
}
