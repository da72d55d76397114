//! The node inventory: `nodes.toml` in the project lists every diskless node with its MAC
//! address, profile, optional static address and template variables.
//!
//! ```toml
//! [[node]]
//! name = "c001"
//! mac = "52:54:00:00:10:01"
//! profile = "compute"
//! address = "10.0.1.1/16"   # optional: static addressing instead of DHCP
//! ports = ["52:54:00:00:10:01", "52:54:00:00:10:02"]   # optional: instead of the profile's
//! vlan = 5                  # optional: 802.1Q VLAN id instead of the profile's [vlan]
//! [node.vars]
//! rack = "r1"
//! ```
//!
//! [`Inventory::parse`] checks every field and reports errors as `file:line:col`; duplicate names,
//! MACs (a node's `mac` and its port MACs are one namespace) and addresses are errors naming both
//! nodes. [`Inventory::check_profiles`] and [`Inventory::check_network`] check the inventory
//! against the profiles (names; client network, NFS server and gateway) at the node's position.
//! A name is one host-name label, so it is also a safe path component. [`dnsmasq_hosts`] and
//! [`dhcpd_hosts`] render the DHCP reservations; [`Node::template_vars`] gives a node's overlay
//! template variables: the build renders the root overlays' `*.j2` files with them into the
//! node's layer `.netroot/nodes/NAME/` of the root tree (`vars.rack` shadows a profile's `rack`
//! there; the shared tree keeps the profile's value), and the node's per-MAC menus boot with
//! `netroot.node=NAME` so the init mounts that layer. A node's `ports` replace its profile's
//! `bond.ports` in its per-MAC entry (`bond=`), its `vlan` the profile's VLAN (`vlan=`; the
//! image must load 8021q). `docs/nodes.md` documents every field and rule.

mod dhcp;
mod network;
mod parse;
mod record;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use netroot_boot::bootconfig::{format_mac, PortId, VlanId};

pub use dhcp::{
    check_config_path, dhcpd_hosts, dhcpd_pxe, dnsmasq_hosts, dnsmasq_pxe, PxeWiring, BIOS_CHAIN,
};
pub use network::NodeNetwork;

use crate::overlay::Vars;
use crate::profile::Location;

/// File name of the inventory inside a project.
pub const NODES_FILE: &str = "nodes.toml";

/// Template variable holding the node's own fields (`{{ node.name }}`); reserved, so neither a
/// profile nor a node may define a variable of that name.
pub const NODE_VAR: &str = "node";

/// A node's static IPv4 address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddress {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
}

impl std::fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix_len)
    }
}

/// One validated node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Host name (one DNS label); also the DHCP host name.
    pub name: String,
    pub mac: [u8; 6],
    /// Profile the node boots.
    pub profile: String,
    /// Static address; `None` for DHCP.
    pub address: Option<NodeAddress>,
    /// Bond ports of this node, in order; empty: the profile's `bond.ports`.
    pub ports: Vec<PortId>,
    /// 802.1Q VLAN of this node on its bond; `None`: the profile's (`[vlan]`, or none).
    pub vlan: Option<VlanId>,
    /// `[node.vars]`, on top of the profile's variables when rendering for this node.
    pub vars: Vars,
    /// Where the node's `[[node]]` table starts.
    pub at: Location,
}

/// All nodes of a project, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub nodes: Vec<Node>,
}

/// Anything wrong with the inventory; each message names the file position or node.
#[derive(Debug, thiserror::Error)]
pub enum NodesError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    #[error("{at}: node {node:?}: {message}")]
    Invalid {
        at: Location,
        node: String,
        message: String,
    },
    #[error("{0}")]
    Duplicate(Box<Duplicate>),
    #[error("{at}: node {node:?}: profile {profile:?} does not exist (available: {})", .available.join(", "))]
    UnknownProfile {
        at: Location,
        node: String,
        profile: String,
        available: Vec<String>,
    },
    #[error(
        "{at}: node {node:?}: address {address} is outside the client network \
             {network}/{prefix_len}"
    )]
    OutsideClientNetwork {
        at: Location,
        node: String,
        address: NodeAddress,
        network: Ipv4Addr,
        prefix_len: u8,
    },
    #[error("{at}: node {node:?}: address {address} is the NFS server's own address")]
    NfsServerAddress {
        at: Location,
        node: String,
        address: NodeAddress,
    },
    #[error(
        "{at}: node {node:?}: address {address}: the NFS server {server} is outside the node's \
         subnet {subnet}/{} and no gateway in it is configured{}",
        .address.prefix_len,
        network::gateway_note(*.gateway, .address)
    )]
    NfsUnreachable {
        at: Location,
        node: String,
        address: NodeAddress,
        /// The node's subnet (its address with the host bits cleared).
        subnet: Ipv4Addr,
        server: Ipv4Addr,
        /// The profile's gateway, which is not in the node's subnet (or is the node itself).
        gateway: Option<Ipv4Addr>,
    },
    #[error("profile variable {NODE_VAR:?} is reserved for the node's own fields ({{{{ node.name }}}} ...)")]
    ReservedVar,
}

/// Two nodes sharing a name, MAC (a node's or a port's) or address (boxed in [`NodesError`] to
/// keep it small).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub at: Location,
    pub node: String,
    /// `name`, `MAC`, `port MAC` or `address`.
    pub what: &'static str,
    pub value: String,
    pub other: String,
    pub other_at: Location,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: node {:?}: {} {} is already used by node {:?} ({})",
            self.at, self.node, self.what, self.value, self.other, self.other_at
        )
    }
}

impl Inventory {
    /// Reads and validates `path`; messages show `display` (the path relative to the project).
    pub fn load(path: &Path, display: &Path) -> Result<Self, NodesError> {
        let text = std::fs::read_to_string(path).map_err(|source| NodesError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(display, &text)
    }

    /// Validates the text of a `nodes.toml` shown as `display` in messages.
    pub fn parse(display: &Path, text: &str) -> Result<Self, NodesError> {
        parse::parse(display, text)
    }

    /// Checks that every node's profile is one of `available`.
    pub fn check_profiles(&self, available: &[String]) -> Result<(), NodesError> {
        match self.nodes.iter().find(|n| !available.contains(&n.profile)) {
            None => Ok(()),
            Some(n) => Err(NodesError::UnknownProfile {
                at: n.at.clone(),
                node: n.name.clone(),
                profile: n.profile.clone(),
                available: available.to_vec(),
            }),
        }
    }

    /// Checks every node of `profile` against its network ([`Node::check_network`]).
    pub fn check_network(&self, profile: &str, net: &NodeNetwork) -> Result<(), NodesError> {
        self.of_profile(profile)
            .try_for_each(|n| n.check_network(net))
    }

    pub fn by_name(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn by_mac(&self, mac: &[u8; 6]) -> Option<&Node> {
        self.nodes.iter().find(|n| &n.mac == mac)
    }

    /// The nodes that boot `profile`, in file order.
    pub fn of_profile<'a>(&'a self, profile: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.profile == profile)
    }
}

impl Node {
    /// The MAC as lowercase `52:54:00:00:10:01`.
    pub fn mac_text(&self) -> String {
        format_mac(&self.mac)
    }

    /// Template variables for this node: the profile's, then the node's `[node.vars]` on top,
    /// plus `node` = `{ name, mac, profile, address?, ip?, prefix_len? }`.
    pub fn template_vars(&self, profile_vars: &Vars) -> Result<Vars, NodesError> {
        if profile_vars.contains_key(NODE_VAR) {
            return Err(NodesError::ReservedVar);
        }
        let mut out = profile_vars.clone();
        out.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut node = toml::Table::new();
        node.insert("name".into(), self.name.clone().into());
        node.insert("mac".into(), self.mac_text().into());
        node.insert("profile".into(), self.profile.clone().into());
        if let Some(a) = self.address {
            node.insert("address".into(), a.to_string().into());
            node.insert("ip".into(), a.ip.to_string().into());
            node.insert("prefix_len".into(), i64::from(a.prefix_len).into());
        }
        out.insert(NODE_VAR.into(), toml::Value::Table(node));
        Ok(out)
    }
}
