//! Per-node bond ports in `nodes.toml`: parsing (the profile's `bond.ports` spellings), errors at
//! `file:line:col`, port MACs as duplicates, and the node's entry bonding its own ports while the
//! profile's entry keeps the profile's.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod menus_common;

use common::parse_inventory as parse;
use menus_common::{boot, compute_profile};
use netroot::menus::{node_boot_config, node_entry, profile_entry};
use netroot_boot::bootconfig::PortId;

const MIXED: &str = r#"
[[node]]
name = "c001"
mac = "52:54:00:00:10:01"
profile = "compute"
ports = ["52:54:00:00:10:01", "52-54-00-00-10-02", "enp65s0f0"]

[[node]]
name = "c002"
mac = "52:54:00:00:20:01"
profile = "compute"
"#;

/// One node `c1` whose `[[node]]` table ends with `line`.
fn node_with(line: &str) -> String {
    format!("[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\n{line}\n")
}

#[test]
fn ports_are_macs_or_interface_names_in_order() {
    let inv = parse(MIXED).unwrap();
    assert_eq!(
        inv.nodes[0].ports,
        [
            PortId::Mac([0x52, 0x54, 0, 0, 0x10, 1]),
            PortId::Mac([0x52, 0x54, 0, 0, 0x10, 2]),
            PortId::Name("enp65s0f0".into()),
        ]
    );
    assert!(inv.nodes[1].ports.is_empty(), "no ports: the profile's");
}

#[test]
fn bad_ports_are_errors_at_the_item() {
    let cases = [
        (
            "ports = [\"eth0\", \"52:54:00:zz:00:01\"]",
            "nodes.toml:5:18: node \"c1\": ports: invalid MAC address \"52:54:00:zz:00:01\"",
        ),
        (
            "ports = [\"eth0\", \"eth0\"]",
            "nodes.toml:5:18: node \"c1\": ports: \"eth0\" listed twice",
        ),
        (
            // The same port in both spellings is still one port.
            "ports = [\"52:54:00:00:10:09\", \"52-54-00-00-10-09\"]",
            "nodes.toml:5:31: node \"c1\": ports: \"52-54-00-00-10-09\" listed twice",
        ),
        (
            "ports = [\"01:00:5e:00:00:01\"]",
            "nodes.toml:5:10: node \"c1\": ports: 01:00:5e:00:00:01 is a multicast address",
        ),
        (
            "ports = [\"a-very-long-ifname0\"]",
            "nodes.toml:5:10: node \"c1\": ports: invalid interface name \"a-very-long-ifname0\": \
             longer than 15 bytes",
        ),
        (
            "ports = []",
            "nodes.toml:5:9: node \"c1\": ports is empty (leave it out to use the profile's \
             bond.ports)",
        ),
        (
            "ports = \"eth0\"",
            "nodes.toml:5:9: invalid type: string \"eth0\", expected a sequence",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(parse(&node_with(line)).unwrap_err(), want, "for {line:?}");
    }
}

#[test]
fn a_port_mac_of_another_node_is_a_duplicate() {
    let first = "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\n\
                 ports = [\"52:54:00:00:10:01\", \"52:54:00:00:10:02\"]\n\n";
    let cases = [
        (
            "[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:20:01\"\nprofile = \"p\"\n\
             ports = [\"52:54:00:00:20:01\", \"52-54-00-00-10-02\"]\n",
            "nodes.toml:11:31: node \"c002\": port MAC 52:54:00:00:10:02 is already used by \
             node \"c001\" (nodes.toml:1:1)",
        ),
        (
            // A node's boot MAC that is another node's port.
            "[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"p\"\n",
            "nodes.toml:7:1: node \"c002\": MAC 52:54:00:00:10:02 is already used by node \
             \"c001\" (nodes.toml:1:1)",
        ),
        (
            // A port that is another node's boot MAC.
            "[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:20:01\"\nprofile = \"p\"\n\
             ports = [\"eth0\", \"52:54:00:00:10:01\"]\n",
            "nodes.toml:11:18: node \"c002\": port MAC 52:54:00:00:10:01 is already used by \
             node \"c001\" (nodes.toml:1:1)",
        ),
    ];
    for (second, want) in cases {
        assert_eq!(parse(&format!("{first}{second}")).unwrap_err(), want);
    }
    // Interface names are per machine: two nodes may both bond `eth0`.
    let names = "[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:20:01\"\nprofile = \"p\"\n\
                 ports = [\"eth0\"]\n\n[[node]]\nname = \"c003\"\nmac = \"52:54:00:00:30:01\"\n\
                 profile = \"p\"\nports = [\"eth0\"]\n";
    assert_eq!(parse(&format!("{first}{names}")).unwrap().nodes.len(), 3);
}

#[test]
fn the_node_entry_bonds_the_nodes_ports_and_the_profile_entry_keeps_the_profiles() {
    let b = boot("compute", "/export/compute");
    let p = compute_profile(&b);
    let inv = parse(MIXED).unwrap();
    let own = node_entry(&p, &inv.nodes[0], None, "").unwrap();
    let bond_of = |cmdline: &str| {
        cmdline
            .split(' ')
            .find(|w| w.starts_with("bond="))
            .map(str::to_string)
    };
    assert_eq!(
        bond_of(&own.cmdline).as_deref(),
        Some(
            "bond=bond0:52-54-00-00-10-01,52-54-00-00-10-02,enp65s0f0:mode=802.3ad,miimon=100,\
             lacp_rate=fast,xmit_hash_policy=layer3+4"
        )
    );
    // The init, given the node's command line over the image's config, bonds the node's ports.
    let mut cfg = b.clone();
    cfg.apply_cmdline(&own.cmdline).unwrap();
    assert_eq!(cfg.bond.ports, inv.nodes[0].ports);
    let profiles = profile_entry(&p, None, "");
    let profile_bond = Some(
        "bond=bond0:52-54-00-00-00-01,52-54-00-00-00-02:mode=802.3ad,miimon=100,lacp_rate=fast,\
         xmit_hash_policy=layer3+4"
            .to_string(),
    );
    assert_eq!(bond_of(&profiles.cmdline), profile_bond);
    let other = node_entry(&p, &inv.nodes[1], None, "").unwrap();
    assert_eq!(bond_of(&other.cmdline), profile_bond);
}

#[test]
fn ports_the_bond_cannot_take_fail_naming_the_node() {
    let mut b = boot("compute", "/export/compute");
    b.bond.min_ports = 2;
    let inv = parse(&node_with("ports = [\"eth0\"]")).unwrap();
    let err = node_boot_config(&b, &inv.nodes[0]).unwrap_err().to_string();
    assert!(err.starts_with("node \"c1\": "), "{err}");
    assert!(err.contains("netroot.bond.min_ports"), "{err}");
    let two = parse(&node_with("ports = [\"eth0\", \"eth1\"]")).unwrap();
    assert_eq!(
        node_boot_config(&b, &two.nodes[0]).unwrap().bond.ports,
        [PortId::Name("eth0".into()), PortId::Name("eth1".into())]
    );
}
