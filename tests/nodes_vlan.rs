//! Per-node VLANs in `nodes.toml`: parsing (an 802.1Q id), errors at `file:line:col`, the
//! node's entry carrying `vlan=` and `ip=` on the VLAN while the profile's entry keeps the
//! profile's, and the refusal of a node whose image does not load 8021q.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod menus_common;

use common::parse_inventory as parse;
use menus_common::{boot, compute_profile};
use netroot::menus::{node_boot_config, node_entry, profile_entry};
use netroot_boot::bootconfig::{BootConfig, ModuleLoad, VlanConfig, VlanId, VLAN_MODULE};

/// One node `c1` whose `[[node]]` table ends with `line`.
fn node_with(line: &str) -> String {
    format!("[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\n{line}\n")
}

/// The compute boot config of an image that loads 8021q.
fn vlan_capable() -> BootConfig {
    let mut b = boot("compute", "/export/compute");
    b.modules.push(ModuleLoad {
        name: VLAN_MODULE.into(),
        path: "lib/modules/6.1.0-56-amd64/kernel/net/8021q/8021q.ko".into(),
        params: String::new(),
    });
    b
}

fn word<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split(' ').find(|w| w.starts_with(key))
}

#[test]
fn vlan_is_an_802_1q_id() {
    let inv = parse(&node_with("vlan = 4094")).unwrap();
    assert_eq!(inv.nodes[0].vlan.map(VlanId::get), Some(4094));
    assert_eq!(parse(&node_with("")).unwrap().nodes[0].vlan, None);
}

#[test]
fn bad_vlans_are_errors_at_the_value() {
    let why = "802.1Q ids are 1-4094 (0 marks priority-tagged frames of no VLAN, 4095 is reserved)";
    let cases = [
        (
            "vlan = 0",
            format!("nodes.toml:5:8: node \"c1\": vlan: invalid vlan id \"0\": {why}"),
        ),
        (
            "vlan = 4095",
            format!("nodes.toml:5:8: node \"c1\": vlan: invalid vlan id \"4095\": {why}"),
        ),
        (
            "vlan = -1",
            format!("nodes.toml:5:8: node \"c1\": vlan: invalid vlan id \"-1\": {why}"),
        ),
        (
            "vlan = \"5\"",
            "nodes.toml:5:8: invalid type: string \"5\", expected i64".to_string(),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(parse(&node_with(line)).unwrap_err(), want, "for {line:?}");
    }
}

#[test]
fn the_node_entry_puts_its_vlan_and_address_on_the_vlan() {
    let b = vlan_capable();
    let p = compute_profile(&b);
    let inv = parse(&node_with("vlan = 12\naddress = \"10.0.1.1/16\"")).unwrap();
    let own = node_entry(&p, &inv.nodes[0], None, "").unwrap();
    assert_eq!(word(&own.cmdline, "vlan="), Some("vlan=bond0.12:bond0"));
    assert_eq!(
        word(&own.cmdline, "ip="),
        Some("ip=10.0.1.1:::255.255.0.0:c1:bond0.12:none")
    );
    // The init, given the node's command line over the image's config, uses the node's VLAN.
    let mut cfg = b.clone();
    cfg.apply_cmdline(&own.cmdline).unwrap();
    assert_eq!(cfg.vlan_ifname().as_deref(), Some("bond0.12"));
    // The profile's entry has no VLAN: none rendered.
    let profiles = profile_entry(&p, None, "");
    assert_eq!(word(&profiles.cmdline, "vlan="), None);
    assert_eq!(word(&profiles.cmdline, "ip="), Some("ip=bond0:dhcp"));
}

#[test]
fn a_profile_vlan_is_rendered_and_a_node_vlan_replaces_it() {
    let mut b = vlan_capable();
    b.vlan = Some(VlanConfig::new(VlanId::new(5).unwrap()));
    let p = compute_profile(&b);
    let profiles = profile_entry(&p, None, "");
    assert_eq!(word(&profiles.cmdline, "vlan="), Some("vlan=bond0.5:bond0"));
    assert_eq!(word(&profiles.cmdline, "ip="), Some("ip=bond0.5:dhcp"));
    let inv = parse(&node_with("vlan = 7")).unwrap();
    let own = node_entry(&p, &inv.nodes[0], None, "").unwrap();
    assert_eq!(word(&own.cmdline, "vlan="), Some("vlan=bond0.7:bond0"));
    assert_eq!(word(&own.cmdline, "ip="), Some("ip=bond0.7:dhcp"));
    let plain = parse(&node_with("")).unwrap();
    let kept = node_boot_config(&b, &plain.nodes[0]).unwrap();
    assert_eq!(kept.vlan, b.vlan, "no vlan: the profile's");
}

#[test]
fn a_node_vlan_on_an_image_without_8021q_fails_naming_node_and_profile() {
    let b = boot("compute", "/export/compute");
    let inv = parse(&node_with("vlan = 5")).unwrap();
    let err = node_boot_config(&b, &inv.nodes[0]).unwrap_err().to_string();
    assert_eq!(
        err,
        "node \"c1\": vlan = 5 needs the 8021q module, which the image of profile \"compute\" \
         does not load (give the profile a [vlan] table, or add \"8021q\" to its [modules])"
    );
    // A bond name that leaves no room for the VLAN's is refused by the boot-config check.
    let mut long = vlan_capable();
    long.bond.name = "bond0123456789".into();
    let inv = parse(&node_with("vlan = 4000")).unwrap();
    let err = node_boot_config(&long, &inv.nodes[0])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("node \"c1\": "), "{err}");
    assert!(err.contains("bond0123456789.4000"), "{err}");
}
