//! A node as a build record carries it ([`crate::record::NodeRecord`]) and back: the build
//! records the profile's nodes, and the menus and DHCP snippets of a published generation are
//! rendered from that copy, parsed with the same field parsers as `nodes.toml`.

use std::path::Path;

use netroot_boot::bootconfig::{format_mac, parse_mac, PortId, VlanId};

use super::parse::parse_address;
use super::{Node, NodesError, NODES_FILE};
use crate::profile::Location;
use crate::record::NodeRecord;

/// A bond port spelled as `nodes.toml` and profiles spell it (a MAC, or an interface name).
fn port_text(p: &PortId) -> String {
    match p {
        PortId::Mac(m) => format_mac(m),
        PortId::Name(n) => n.clone(),
    }
}

impl Node {
    /// The node as the build record stores it.
    pub fn to_record(&self) -> NodeRecord {
        NodeRecord {
            name: self.name.clone(),
            mac: self.mac_text(),
            address: self.address.map(|a| a.to_string()),
            ports: self.ports.iter().map(port_text).collect(),
            vlan: self.vlan.map(VlanId::get),
            line: self.at.line,
        }
    }

    /// A node of `profile` read back from a record (its `nodes.toml` line kept for messages).
    pub fn from_record(profile: &str, r: &NodeRecord) -> Result<Node, NodesError> {
        let at = Location {
            file: Path::new(NODES_FILE).to_path_buf(),
            line: r.line,
            col: 1,
        };
        let bad = |message: String| NodesError::Invalid {
            at: at.clone(),
            node: r.name.clone(),
            message: format!("in the published record: {message}"),
        };
        let mac = parse_mac(&r.mac).map_err(|e| bad(format!("mac {:?}: {e}", r.mac)))?;
        let address = r
            .address
            .as_deref()
            .map(|a| parse_address(a).map_err(|e| bad(format!("address {a:?}: {e}"))))
            .transpose()?;
        let ports = r
            .ports
            .iter()
            .map(|p| crate::profile::bond_port(p).map_err(|e| bad(format!("ports: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let vlan = r
            .vlan
            .map(|v| VlanId::new(i64::from(v)).map_err(|e| bad(format!("vlan: {e}"))))
            .transpose()?;
        Ok(Node {
            name: r.name.clone(),
            mac,
            profile: profile.to_string(),
            address,
            ports,
            vlan,
            vars: Default::default(),
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_survives_the_round_trip_through_a_record() {
        let text = "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"compute\"\n\
                    address = \"10.0.1.1/16\"\nports = [\"52:54:00:00:10:01\", \"eth1\"]\nvlan = 42\n";
        let inv = crate::nodes::Inventory::parse(Path::new(NODES_FILE), text).unwrap();
        let n = &inv.nodes[0];
        let back = Node::from_record("compute", &n.to_record()).unwrap();
        assert_eq!(back.name, n.name);
        assert_eq!(back.mac, n.mac);
        assert_eq!(back.address, n.address);
        assert_eq!(back.ports, n.ports);
        assert_eq!(back.vlan.map(VlanId::get), Some(42));
        assert_eq!(back.vlan, n.vlan);
        assert_eq!(back.at.line, 1);
    }

    #[test]
    fn a_damaged_record_names_the_node_and_field() {
        let r = NodeRecord {
            name: "c1".into(),
            mac: "52:54:00:00:10:zz".into(),
            address: None,
            ports: Vec::new(),
            vlan: None,
            line: 7,
        };
        let e = Node::from_record("compute", &r).unwrap_err().to_string();
        assert!(
            e.starts_with("nodes.toml:7:1: node \"c1\": in the published record: mac"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod vlan_tests {
    use super::*;

    #[test]
    fn a_record_with_a_vlan_outside_802_1q_is_refused() {
        let r = NodeRecord {
            name: "c1".into(),
            mac: "52:54:00:00:10:01".into(),
            address: None,
            ports: Vec::new(),
            vlan: Some(4095),
            line: 3,
        };
        let e = Node::from_record("compute", &r).unwrap_err().to_string();
        assert!(
            e.starts_with("nodes.toml:3:1: node \"c1\": in the published record: vlan: invalid vlan id \"4095\""),
            "{e}"
        );
    }
}
