//! Whether a node's static address can boot on its profile's network: it lies in the client
//! network the root is exported to, and the NFS server is on the node's subnet or reachable
//! through a gateway on it (the init adds the default route without `onlink`, so a gateway
//! outside the subnet is unusable). Nodes on DHCP get their addressing from the server and pass.

use std::net::Ipv4Addr;

use netroot_boot::bootconfig::{prefix_to_netmask, BootSpec, IpConfig};

use super::{Node, NodeAddress, NodesError};

/// What a profile's network says about where its nodes may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeNetwork {
    /// The network the root is exported to (`publish.client_network`), as address and prefix.
    pub client_network: Option<(Ipv4Addr, u8)>,
    /// `nfs.server`.
    pub nfs_server: Ipv4Addr,
    /// The gateway a node with a static address boots with.
    pub gateway: Option<Ipv4Addr>,
}

impl NodeNetwork {
    /// The network of nodes booting `boot`: its NFS server, and the gateway the per-node entry
    /// gives a static node (the profile's own static `ip.gateway`; a DHCP profile has none, see
    /// [`crate::menus::node_boot_config`]).
    pub fn of_boot(boot: &BootSpec, client_network: Option<(Ipv4Addr, u8)>) -> Self {
        NodeNetwork {
            client_network,
            nfs_server: boot.nfs.server,
            gateway: match &boot.ip {
                IpConfig::Static(s) => s.gateway,
                IpConfig::Dhcp => None,
            },
        }
    }
}

impl Node {
    /// Checks the node's static address against `net`: inside `net.client_network` when that is
    /// set, not the NFS server's own address, and the NFS server inside the node's subnet or a
    /// gateway inside it. Errors are at the node's `[[node]]` table.
    pub fn check_network(&self, net: &NodeNetwork) -> Result<(), NodesError> {
        let Some(address) = self.address else {
            return Ok(());
        };
        if let Some((network, prefix_len)) = net.client_network {
            if !in_subnet(network, prefix_len, address.ip) {
                return Err(NodesError::OutsideClientNetwork {
                    at: self.at.clone(),
                    node: self.name.clone(),
                    address,
                    network: subnet_of(network, prefix_len),
                    prefix_len,
                });
            }
        }
        if net.nfs_server == address.ip {
            return Err(NodesError::NfsServerAddress {
                at: self.at.clone(),
                node: self.name.clone(),
                address,
            });
        }
        let on_link =
            |ip: Ipv4Addr| ip != address.ip && in_subnet(address.ip, address.prefix_len, ip);
        if on_link(net.nfs_server) || net.gateway.is_some_and(on_link) {
            return Ok(());
        }
        Err(NodesError::NfsUnreachable {
            at: self.at.clone(),
            node: self.name.clone(),
            address,
            subnet: subnet_of(address.ip, address.prefix_len),
            server: net.nfs_server,
            gateway: net.gateway,
        })
    }
}

/// `ip` with the host bits of a /`prefix_len` cleared.
fn subnet_of(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(ip) & u32::from(prefix_to_netmask(prefix_len)))
}

/// Whether `ip` is in `network`/`prefix_len` (every address is in a /0).
fn in_subnet(network: Ipv4Addr, prefix_len: u8, ip: Ipv4Addr) -> bool {
    subnet_of(network, prefix_len) == subnet_of(ip, prefix_len)
}

/// Why the configured gateway (if any) does not help, for [`NodesError::NfsUnreachable`].
pub(super) fn gateway_note(gateway: Option<Ipv4Addr>, address: &NodeAddress) -> String {
    match gateway {
        None => String::new(),
        Some(g) if g == address.ip => format!(" (the gateway {g} is the node's own address)"),
        Some(g) => format!(" (the gateway {g} is outside it)"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::nodes::Inventory;

    const NFS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn node(address: &str) -> Node {
        let text = format!(
            "# c1\n[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\n\
             address = \"{address}\"\n"
        );
        let inv = Inventory::parse(Path::new("nodes.toml"), &text).unwrap();
        inv.nodes.into_iter().next().unwrap()
    }

    fn net(client: Option<(Ipv4Addr, u8)>, gateway: Option<Ipv4Addr>) -> NodeNetwork {
        NodeNetwork {
            client_network: client,
            nfs_server: NFS,
            gateway,
        }
    }

    fn check(address: &str, net: &NodeNetwork) -> Result<(), String> {
        node(address).check_network(net).map_err(|e| e.to_string())
    }

    const CLIENTS: Option<(Ipv4Addr, u8)> = Some((Ipv4Addr::new(10, 0, 0, 0), 16));

    #[test]
    fn an_address_inside_the_client_network_and_the_servers_subnet_passes() {
        check("10.0.1.1/16", &net(CLIENTS, None)).unwrap();
        // The client network's own host bits do not matter.
        check(
            "10.0.1.1/16",
            &net(Some((Ipv4Addr::new(10, 0, 7, 7), 16)), None),
        )
        .unwrap();
        // No client network: only reachability counts.
        check("10.0.1.1/16", &net(None, None)).unwrap();
    }

    #[test]
    fn an_address_outside_the_client_network_names_node_address_network_and_position() {
        assert_eq!(
            check("10.1.0.5/8", &net(CLIENTS, None)).unwrap_err(),
            "nodes.toml:2:1: node \"c1\": address 10.1.0.5/8 is outside the client network \
             10.0.0.0/16"
        );
        let narrow = Some((Ipv4Addr::new(10, 0, 1, 3), 32));
        check("10.0.1.3/16", &net(narrow, None)).unwrap();
        assert_eq!(
            check("10.0.1.4/16", &net(narrow, None)).unwrap_err(),
            "nodes.toml:2:1: node \"c1\": address 10.0.1.4/16 is outside the client network \
             10.0.1.3/32"
        );
    }

    #[test]
    fn a_client_network_of_prefix_zero_holds_every_address() {
        check(
            "192.168.5.5/24",
            &net(
                Some((Ipv4Addr::UNSPECIFIED, 0)),
                Some([192, 168, 5, 1].into()),
            ),
        )
        .unwrap();
    }

    #[test]
    fn a_server_outside_the_subnet_needs_a_gateway_inside_it() {
        let gw = Some(Ipv4Addr::new(192, 168, 5, 1));
        check("192.168.5.9/24", &net(None, gw)).unwrap();
        assert_eq!(
            check("192.168.5.9/24", &net(None, None)).unwrap_err(),
            "nodes.toml:2:1: node \"c1\": address 192.168.5.9/24: the NFS server 10.0.0.1 is \
             outside the node's subnet 192.168.5.0/24 and no gateway in it is configured"
        );
        assert_eq!(
            check("192.168.5.9/24", &net(None, Some([192, 168, 6, 1].into()))).unwrap_err(),
            "nodes.toml:2:1: node \"c1\": address 192.168.5.9/24: the NFS server 10.0.0.1 is \
             outside the node's subnet 192.168.5.0/24 and no gateway in it is configured (the \
             gateway 192.168.6.1 is outside it)"
        );
        assert_eq!(
            check("192.168.5.9/24", &net(None, Some([192, 168, 5, 9].into()))).unwrap_err(),
            "nodes.toml:2:1: node \"c1\": address 192.168.5.9/24: the NFS server 10.0.0.1 is \
             outside the node's subnet 192.168.5.0/24 and no gateway in it is configured (the \
             gateway 192.168.5.9 is the node's own address)"
        );
    }

    #[test]
    fn the_client_network_is_checked_before_reachability() {
        let err = check("192.168.5.9/24", &net(CLIENTS, None)).unwrap_err();
        assert!(
            err.contains("outside the client network 10.0.0.0/16"),
            "{err}"
        );
    }

    #[test]
    fn a_host_route_reaches_nothing_but_a_point_to_point_peer_does() {
        let err = check("10.0.1.1/32", &net(CLIENTS, Some([10, 0, 0, 254].into()))).unwrap_err();
        assert!(
            err.contains("outside the node's subnet 10.0.1.1/32"),
            "{err}"
        );
        // In a /31 both addresses are hosts (RFC 3021): the other one may be the server.
        check("10.0.0.0/31", &net(CLIENTS, None)).unwrap();
    }

    #[test]
    fn the_node_may_not_be_the_nfs_server() {
        assert_eq!(
            check("10.0.0.1/16", &net(CLIENTS, None)).unwrap_err(),
            "nodes.toml:2:1: node \"c1\": address 10.0.0.1/16 is the NFS server's own address"
        );
    }

    #[test]
    fn nodes_on_dhcp_pass_whatever_the_network() {
        let mut n = node("10.0.1.1/16");
        n.address = None;
        n.check_network(&net(Some((Ipv4Addr::new(172, 16, 0, 0), 12)), None))
            .unwrap();
    }

    #[test]
    fn the_inventory_checks_the_nodes_of_one_profile() {
        let text = "[[node]]\nname = \"a1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"a\"\n\
                    address = \"192.168.5.9/24\"\n\n\
                    [[node]]\nname = \"b1\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"b\"\n\
                    address = \"10.0.1.1/16\"\n\n\
                    [[node]]\nname = \"b2\"\nmac = \"52:54:00:00:10:03\"\nprofile = \"b\"\n\
                    address = \"10.9.1.1/16\"\n";
        let inv = Inventory::parse(Path::new("nodes.toml"), text).unwrap();
        let b = net(CLIENTS, None);
        assert_eq!(
            inv.check_network("b", &b).unwrap_err().to_string(),
            "nodes.toml:13:1: node \"b2\": address 10.9.1.1/16 is outside the client network \
             10.0.0.0/16"
        );
        inv.check_network("a", &net(None, Some([192, 168, 5, 1].into())))
            .unwrap();
        inv.check_network("none", &b).unwrap();
    }

    #[test]
    fn of_boot_takes_the_server_and_a_static_profiles_gateway() {
        let project = crate::profile::Project::new(Path::new(env!("CARGO_MANIFEST_DIR")));
        let mut boot = project.load_profile("compute").unwrap().boot;
        assert_eq!(boot.ip, IpConfig::Dhcp);
        let dhcp = NodeNetwork::of_boot(&boot, CLIENTS);
        assert_eq!((dhcp.nfs_server, dhcp.gateway), (NFS, None));
        assert_eq!(dhcp.client_network, CLIENTS);
        boot.ip = IpConfig::Static(netroot_boot::bootconfig::StaticIp {
            address: [10, 0, 9, 9].into(),
            prefix_len: 16,
            gateway: Some([10, 0, 0, 254].into()),
            dns: Vec::new(),
            hostname: None,
        });
        assert_eq!(
            NodeNetwork::of_boot(&boot, None).gateway,
            Some([10, 0, 0, 254].into())
        );
    }
}
