//! Parsing and validating `nodes.toml`: the raw schema (`deny_unknown_fields`, spans kept),
//! field checks and duplicate detection, each error at `file:line:col`. MACs are one namespace:
//! a node's `mac` and its port MACs may not appear in another node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use netroot_boot::bootconfig::{
    format_mac, parse_host_ipv4, parse_mac, parse_netmask, PortId, VlanId,
};
use serde::Deserialize;
use toml::Spanned;

use super::{Duplicate, Inventory, Node, NodeAddress, NodesError, NODE_VAR};
use crate::overlay::Vars;
use crate::profile::{bond_port, Location};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    node: Vec<Spanned<RawNode>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Spanned<String>,
    mac: Spanned<String>,
    profile: Spanned<String>,
    address: Option<Spanned<String>>,
    ports: Option<Spanned<Vec<Spanned<String>>>>,
    vlan: Option<Spanned<i64>>,
    vars: Option<Spanned<toml::Table>>,
}

/// Maps byte offsets of one file to `file:line:col`.
struct Locator<'a> {
    file: PathBuf,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: &Range<usize>) -> Location {
        let offset = span.start.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            file: self.file.clone(),
            line: before.matches('\n').count() + 1,
            col: before.get(line_start..).map_or(0, |s| s.chars().count()) + 1,
        }
    }
}

pub(super) fn parse(display: &Path, text: &str) -> Result<Inventory, NodesError> {
    let loc = Locator {
        file: display.to_path_buf(),
        text,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| NodesError::Syntax {
        at: loc.at(&e.span().unwrap_or(0..0)),
        message: e.message().trim_end_matches('.').to_string(),
    })?;
    let mut nodes: Vec<Node> = Vec::new();
    // (namespace, value) -> index into `nodes`.
    let mut seen: BTreeMap<(&'static str, String), usize> = BTreeMap::new();
    for raw in raw.node {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        let (node, port_at) = check_node(&loc, &span, &name, raw)?;
        for (space, what, value, at) in unique_keys(&node, port_at) {
            let key = (space, value);
            if let Some(other) = seen.get(&key).and_then(|&i| nodes.get(i)) {
                return Err(NodesError::Duplicate(Box::new(Duplicate {
                    at,
                    node: node.name.clone(),
                    what,
                    value: key.1,
                    other: other.name.clone(),
                    other_at: other.at.clone(),
                })));
            }
            seen.insert(key, nodes.len());
        }
        nodes.push(node);
    }
    Ok(Inventory { nodes })
}

/// Namespaces of the values no two nodes may share; a node's `mac` and its port MACs are one.
const NAMES: &str = "names";
const MACS: &str = "MACs";
const ADDRESSES: &str = "addresses";

/// What `node` may not share with another node: (namespace, what, value, where). Its own `mac`
/// may be one of its ports (it usually is: the NIC it network-boots from).
fn unique_keys(
    node: &Node,
    port_at: Vec<Location>,
) -> Vec<(&'static str, &'static str, String, Location)> {
    let mut keys = vec![
        (NAMES, "name", node.name.clone(), node.at.clone()),
        (MACS, "MAC", format_mac(&node.mac), node.at.clone()),
    ];
    if let Some(a) = node.address {
        keys.push((ADDRESSES, "address", a.ip.to_string(), node.at.clone()));
    }
    for (port, at) in node.ports.iter().zip(port_at) {
        match port {
            PortId::Mac(mac) if *mac != node.mac => {
                keys.push((MACS, "port MAC", format_mac(mac), at));
            }
            _ => {}
        }
    }
    keys
}

fn check_node(
    loc: &Locator<'_>,
    span: &Range<usize>,
    name: &str,
    raw: RawNode,
) -> Result<(Node, Vec<Location>), NodesError> {
    let invalid = |at: &Range<usize>, message: String| NodesError::Invalid {
        at: loc.at(at),
        node: name.to_string(),
        message,
    };
    // The init checks `netroot.node=` with the same function: a name valid here boots.
    netroot_boot::bootconfig::validate_node_name(name)
        .map_err(|e| invalid(&raw.name.span(), e.to_string()))?;
    let mac = parse_mac(raw.mac.get_ref())
        .map_err(|e| e.to_string())
        .and_then(|m| check_unicast(&m).map(|()| m))
        .map_err(|m| invalid(&raw.mac.span(), format!("mac: {m}")))?;
    let profile = raw.profile.get_ref();
    let profile_ok = !profile.is_empty()
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !profile_ok {
        return Err(invalid(
            &raw.profile.span(),
            format!("invalid profile name {profile:?} (use letters, digits, '-', '_')"),
        ));
    }
    let address = match &raw.address {
        None => None,
        Some(a) => Some(
            parse_address(a.get_ref())
                .map_err(|m| invalid(&a.span(), format!("address {:?}: {m}", a.get_ref())))?,
        ),
    };
    let (ports, port_at): (Vec<PortId>, Vec<Location>) = match &raw.ports {
        None => (Vec::new(), Vec::new()),
        Some(list) => check_ports(loc, list, &invalid)?.into_iter().unzip(),
    };
    let vlan = match &raw.vlan {
        None => None,
        Some(v) => {
            Some(VlanId::new(*v.get_ref()).map_err(|e| invalid(&v.span(), format!("vlan: {e}")))?)
        }
    };
    let vars = match raw.vars {
        None => Vars::new(),
        Some(v) => check_vars(v, &invalid)?,
    };
    let node = Node {
        name: name.to_string(),
        mac,
        profile: profile.clone(),
        address,
        ports,
        vlan,
        vars,
        at: loc.at(span),
    };
    Ok((node, port_at))
}

/// The node's `ports`, spelled as a profile's `bond.ports` (MAC addresses or interface names),
/// non-empty and distinct, with each item's span; port MACs are NIC addresses, so unicast.
fn check_ports(
    loc: &Locator<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
    invalid: &dyn Fn(&Range<usize>, String) -> NodesError,
) -> Result<Vec<(PortId, Location)>, NodesError> {
    if list.get_ref().is_empty() {
        return Err(invalid(
            &list.span(),
            "ports is empty (leave it out to use the profile's bond.ports)".to_string(),
        ));
    }
    let mut ports: Vec<(PortId, Location)> = Vec::new();
    for p in list.get_ref() {
        let bad = |m: String| invalid(&p.span(), format!("ports: {m}"));
        let id = bond_port(p.get_ref()).map_err(bad)?;
        if let PortId::Mac(mac) = &id {
            check_unicast(mac).map_err(bad)?;
        }
        if ports.iter().any(|(other, _)| *other == id) {
            return Err(bad(format!("\"{}\" listed twice", p.get_ref())));
        }
        ports.push((id, loc.at(&p.span())));
    }
    Ok(ports)
}

/// `[node.vars]`, which may not define the reserved [`NODE_VAR`].
fn check_vars(
    v: Spanned<toml::Table>,
    invalid: &dyn Fn(&Range<usize>, String) -> NodesError,
) -> Result<Vars, NodesError> {
    let span = v.span();
    let table = v.into_inner();
    if table.contains_key(NODE_VAR) {
        return Err(invalid(
            &span,
            format!("vars: {NODE_VAR:?} is reserved for the node's own fields"),
        ));
    }
    Ok(table.into_iter().collect())
}

/// A NIC's own address is unicast and not all zeros.
fn check_unicast(mac: &[u8; 6]) -> Result<(), String> {
    if mac.iter().all(|&b| b == 0) {
        Err(format!("{} is not a NIC address", format_mac(mac)))
    } else if mac[0] & 1 != 0 {
        Err(format!("{} is a multicast address", format_mac(mac)))
    } else {
        Ok(())
    }
}

/// `A.B.C.D/N` (or `/255.255.0.0`) naming a host: not the network or broadcast address of its
/// subnet, except in /31 and /32 where every address is a host (RFC 3021).
pub(super) fn parse_address(s: &str) -> Result<NodeAddress, String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| "expected A.B.C.D/PREFIX like 10.0.1.1/16".to_string())?;
    let ip = parse_host_ipv4(ip).map_err(|e| e.to_string())?;
    let prefix_len = parse_netmask(prefix).map_err(|e| e.to_string())?;
    if prefix_len < 31 {
        let host_bits = u32::MAX >> prefix_len;
        let host = u32::from(ip) & host_bits;
        if host == 0 || host == host_bits {
            let net = Ipv4Addr::from(u32::from(ip) & !host_bits);
            return Err(format!(
                "{ip} is the {} address of {net}/{prefix_len}",
                if host == 0 { "network" } else { "broadcast" }
            ));
        }
    }
    Ok(NodeAddress { ip, prefix_len })
}
