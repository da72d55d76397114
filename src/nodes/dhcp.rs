//! DHCP host reservations for the inventory, for dnsmasq and for ISC dhcpd. Nodes with a static
//! address get it as their fixed address; the others get their host name only (and an address
//! from the server's pool). Node names, MACs and addresses are validated when the inventory is
//! parsed, so nothing here needs quoting.

use super::Node;

/// First line of every generated snippet.
const HEADER: &str = "# netroot node reservations (generated from nodes.toml; do not edit)\n";

/// `dhcp-host=MAC,NAME[,ADDRESS]` lines for a dnsmasq configuration file, in inventory order.
pub fn dnsmasq_hosts(nodes: &[Node]) -> String {
    let mut out = String::from(HEADER);
    for n in nodes {
        out.push_str(&format!("dhcp-host={},{}", n.mac_text(), n.name));
        if let Some(a) = n.address {
            out.push_str(&format!(",{}", a.ip));
        }
        out.push('\n');
    }
    out
}

/// `host NAME { hardware ethernet MAC; [fixed-address ADDRESS;] option host-name "NAME"; }`
/// blocks for dhcpd.conf (dhcpd sends no host name for a host declaration unless told to, while
/// dnsmasq does: the option keeps both servers alike).
pub fn dhcpd_hosts(nodes: &[Node]) -> String {
    let mut out = String::from(HEADER);
    for n in nodes {
        out.push_str(&format!(
            "host {} {{\n  hardware ethernet {};\n",
            n.name,
            n.mac_text()
        ));
        if let Some(a) = n.address {
            out.push_str(&format!("  fixed-address {};\n", a.ip));
        }
        out.push_str(&format!("  option host-name \"{}\";\n}}\n", n.name));
    }
    out
}
