//! The node inventory: parsing, validation with positions, duplicates, DHCP snippets, vars, and
//! the shipped `examples/nodes.toml`.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::net::Ipv4Addr;
use std::path::Path;

use common::parse_inventory as parse;
use netroot::menus::node_boot_config;
use netroot::nodes::{
    dhcpd_hosts, dhcpd_pxe, dnsmasq_hosts, dnsmasq_pxe, Inventory, NodeAddress, NodeNetwork,
    PxeWiring,
};
use netroot::overlay::Vars;
use netroot::profile::Project;
use netroot_boot::bootconfig::BootConfig;

const GOOD: &str = r#"
[[node]]
name = "c001"
mac = "52:54:00:00:10:01"
profile = "compute"
address = "10.0.1.1/16"
[node.vars]
rack = "r1"
slots = [1, 2]

[[node]]
name = "c002"
mac = "52-54-00-00-10-02"
profile = "compute"

[[node]]
name = "gpu1"
mac = "52:54:00:AA:BB:CC"
profile = "gpu_v2"
address = "192.168.7.9/255.255.255.0"
"#;

/// The nodes of [`GOOD`].
fn good_nodes() -> Vec<netroot::nodes::Node> {
    parse(GOOD).unwrap().nodes
}

#[test]
fn parses_nodes_in_file_order() {
    let inv = parse(GOOD).unwrap();
    let summary: Vec<(String, String, String, Option<NodeAddress>)> = inv
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.mac_text(), n.profile.clone(), n.address))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "c001".into(),
                "52:54:00:00:10:01".into(),
                "compute".into(),
                Some(NodeAddress {
                    ip: [10, 0, 1, 1].into(),
                    prefix_len: 16
                })
            ),
            (
                "c002".into(),
                "52:54:00:00:10:02".into(),
                "compute".into(),
                None
            ),
            (
                "gpu1".into(),
                "52:54:00:aa:bb:cc".into(),
                "gpu_v2".into(),
                Some(NodeAddress {
                    ip: [192, 168, 7, 9].into(),
                    prefix_len: 24
                })
            ),
        ]
    );
    assert_eq!(inv.nodes[0].at.to_string(), "nodes.toml:2:1");
    assert_eq!(inv.nodes[0].vars["rack"], toml::Value::from("r1"));
    assert_eq!(
        inv.by_mac(&[0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]).unwrap().name,
        "gpu1"
    );
    assert_eq!(inv.by_name("c002").unwrap().profile, "compute");
    assert_eq!(inv.of_profile("compute").count(), 2);
    assert!(parse("").unwrap().nodes.is_empty());
}

#[test]
fn errors_carry_file_line_and_column() {
    let cases = [
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\nrack = 1\n",
            "nodes.toml:5:1: unknown field `rack`, expected one of `name`, `mac`, `profile`, `address`, `ports`, `vlan`, `vars`",
        ),
        (
            "[[node]]\nname = \"c1\"\nprofile = \"p\"\n",
            "nodes.toml:1:1: missing field `mac`",
        ),
        (
            "[[node]]\nname = \"c_1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\n",
            "nodes.toml:2:8: node \"c_1\": invalid node name \"c_1\": expected one host-name \
             label: letters, digits and inner hyphens, at most 63 characters",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10\"\nprofile = \"p\"\n",
            "nodes.toml:3:7: node \"c1\": mac: invalid mac address \"52:54:00:00:10\": expected \
             six hex pairs like 52:54:00:12:34:56",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"01:00:5e:00:00:01\"\nprofile = \"p\"\n",
            "nodes.toml:3:7: node \"c1\": mac: 01:00:5e:00:00:01 is a multicast address",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"00:00:00:00:00:00\"\nprofile = \"p\"\n",
            "nodes.toml:3:7: node \"c1\": mac: 00:00:00:00:00:00 is not a NIC address",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"a/b\"\n",
            "nodes.toml:4:11: node \"c1\": invalid profile name \"a/b\" (use letters, digits, '-', '_')",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\naddress = \"10.0.1.1\"\n",
            "nodes.toml:5:11: node \"c1\": address \"10.0.1.1\": expected A.B.C.D/PREFIX like 10.0.1.1/16",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\naddress = \"10.0.0.0/16\"\n",
            "nodes.toml:5:11: node \"c1\": address \"10.0.0.0/16\": 10.0.0.0 is the network address of 10.0.0.0/16",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\naddress = \"10.0.255.255/16\"\n",
            "nodes.toml:5:11: node \"c1\": address \"10.0.255.255/16\": 10.0.255.255 is the broadcast address of 10.0.0.0/16",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\naddress = \"10.0.1.1/33\"\n",
            "nodes.toml:5:11: node \"c1\": address \"10.0.1.1/33\": invalid netmask \"33\": expected \
             a prefix length 1-32 or a contiguous mask like 255.255.255.0",
        ),
        (
            "[[node]]\nname = \"c1\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\n[node.vars]\nnode = 1\n",
            "nodes.toml:5:1: node \"c1\": vars: \"node\" is reserved for the node's own fields",
        ),
        ("[[node]\n", "nodes.toml:1:8: unclosed array table, expected `]`"),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).unwrap_err(), want, "for {text:?}");
    }
}

#[test]
fn duplicates_name_both_nodes() {
    let base = "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"p\"\naddress = \"10.0.1.1/16\"\n";
    let cases = [
        (
            "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"p\"\n",
            "nodes.toml:7:1: node \"c001\": name c001 is already used by node \"c001\" (nodes.toml:1:1)",
        ),
        (
            "[[node]]\nname = \"c002\"\nmac = \"52-54-00-00-10-01\"\nprofile = \"p\"\n",
            "nodes.toml:7:1: node \"c002\": MAC 52:54:00:00:10:01 is already used by node \"c001\" (nodes.toml:1:1)",
        ),
        (
            "[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"p\"\naddress = \"10.0.1.1/24\"\n",
            "nodes.toml:7:1: node \"c002\": address 10.0.1.1 is already used by node \"c001\" (nodes.toml:1:1)",
        ),
    ];
    for (second, want) in cases {
        let text = format!("{base}\n{second}");
        assert_eq!(parse(&text).unwrap_err(), want);
    }
}

#[test]
fn unknown_profiles_are_reported_with_the_node() {
    let inv = parse(GOOD).unwrap();
    inv.check_profiles(&["compute".into(), "gpu_v2".into()])
        .unwrap();
    let err = inv
        .check_profiles(&["compute".into()])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "nodes.toml:16:1: node \"gpu1\": profile \"gpu_v2\" does not exist (available: compute)"
    );
}

#[test]
fn load_reads_the_file_and_reports_a_missing_one() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("nodes.toml");
    std::fs::write(&p, GOOD).unwrap();
    assert_eq!(
        Inventory::load(&p, Path::new("nodes.toml"))
            .unwrap()
            .nodes
            .len(),
        3
    );
    let missing = t.path().join("none.toml");
    let err = Inventory::load(&missing, Path::new("none.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot read {}", missing.display())
    );
}

#[test]
fn dnsmasq_snippet() {
    assert_eq!(
        dnsmasq_hosts(&good_nodes()),
        "# netroot node reservations (generated from nodes.toml; do not edit)\n\
         dhcp-host=52:54:00:00:10:01,c001,10.0.1.1\n\
         dhcp-host=52:54:00:00:10:02,c002\n\
         dhcp-host=52:54:00:aa:bb:cc,gpu1,192.168.7.9\n"
    );
}

#[test]
fn dhcpd_snippet() {
    assert_eq!(
        dhcpd_hosts(&good_nodes()),
        "# netroot node reservations (generated from nodes.toml; do not edit)\n\
         host c001 {\n  hardware ethernet 52:54:00:00:10:01;\n  fixed-address 10.0.1.1;\n  \
         option host-name \"c001\";\n}\n\
         host c002 {\n  hardware ethernet 52:54:00:00:10:02;\n  option host-name \"c002\";\n}\n\
         host gpu1 {\n  hardware ethernet 52:54:00:aa:bb:cc;\n  fixed-address 192.168.7.9;\n  \
         option host-name \"gpu1\";\n}\n"
    );
}

/// Writes `text` to `file` in a temporary directory and runs the installed `tool` on it with
/// the arguments `args` gives for the file's path, asserting success; returns its stderr, or
/// `None` (skipped, with the package to install) when `tool` is not installed.
fn tool_accepts(
    tool: &str,
    package: &str,
    file: &str,
    text: &str,
    args: impl FnOnce(&Path) -> Vec<std::ffi::OsString>,
) -> Option<String> {
    let Ok(prog) = which(tool) else {
        println!("skipped: {tool} not installed (apt-get install {package})");
        return None;
    };
    let t = tempfile::tempdir().unwrap();
    let conf = t.path().join(file);
    std::fs::write(&conf, text).unwrap();
    let out = common::output_ok(std::process::Command::new(prog).args(args(&conf)));
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn dhcpd_snippet_passes_dhcpd_syntax_check_when_installed() {
    let inv = parse(GOOD).unwrap();
    tool_accepts(
        "dhcpd",
        "isc-dhcp-server",
        "dhcpd.conf",
        &dhcpd_hosts(&inv.nodes),
        |conf| vec!["-t".into(), "-4".into(), "-cf".into(), conf.into()],
    );
}

#[test]
fn dnsmasq_snippet_passes_dnsmasq_test_when_installed() {
    let inv = parse(GOOD).unwrap();
    let Some(stderr) = tool_accepts(
        "dnsmasq",
        "dnsmasq",
        "hosts.conf",
        &dnsmasq_hosts(&inv.nodes),
        |conf| {
            vec![
                "--test".into(),
                format!("--conf-file={}", conf.display()).into(),
            ]
        },
    ) else {
        return;
    };
    assert!(stderr.contains("syntax check OK"), "{stderr}");
}

/// The published files' shape: the PXE wiring, then the reservations.
fn wiring() -> PxeWiring<'static> {
    PxeWiring {
        tftp_root: Path::new("/srv/tftp"),
        next_server: Some(Ipv4Addr::new(10, 0, 2, 2)),
        ipxe_script: "netroot.ipxe",
    }
}

#[test]
fn dhcpd_pxe_wiring_passes_dhcpd_syntax_check_when_installed() {
    let inv = parse(GOOD).unwrap();
    // A subnet declaration, as a real dhcpd.conf has, with the snippet included at top level.
    let conf = format!(
        "{}\n{}\nsubnet 10.0.2.0 netmask 255.255.255.0 {{ range 10.0.2.100 10.0.2.199; }}\n",
        dhcpd_pxe(&wiring()),
        dhcpd_hosts(&inv.nodes)
    );
    tool_accepts("dhcpd", "isc-dhcp-server", "dhcpd.conf", &conf, |conf| {
        vec!["-t".into(), "-4".into(), "-cf".into(), conf.into()]
    });
}

#[test]
fn dnsmasq_pxe_wiring_passes_dnsmasq_test_when_installed() {
    let inv = parse(GOOD).unwrap();
    let conf = format!("{}\n{}", dnsmasq_pxe(&wiring()), dnsmasq_hosts(&inv.nodes));
    let Some(stderr) = tool_accepts("dnsmasq", "dnsmasq", "netroot.conf", &conf, |conf| {
        vec![
            "--test".into(),
            format!("--conf-file={}", conf.display()).into(),
        ]
    }) else {
        return;
    };
    assert!(stderr.contains("syntax check OK"), "{stderr}");
}

fn which(prog: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn template_vars_layer_profile_node_and_node_fields() {
    let inv = parse(GOOD).unwrap();
    let profile: Vars = [
        ("site".to_string(), toml::Value::from("lab")),
        ("rack".to_string(), toml::Value::from("default")),
    ]
    .into();
    let v = inv.nodes[0].template_vars(&profile).unwrap();
    assert_eq!(v["site"], toml::Value::from("lab"));
    assert_eq!(v["rack"], toml::Value::from("r1"));
    let node = v["node"].as_table().unwrap();
    assert_eq!(node["name"], toml::Value::from("c001"));
    assert_eq!(node["mac"], toml::Value::from("52:54:00:00:10:01"));
    assert_eq!(node["address"], toml::Value::from("10.0.1.1/16"));
    assert_eq!(node["ip"], toml::Value::from("10.0.1.1"));
    assert_eq!(node["prefix_len"], toml::Value::from(16));
    let dhcp_node = inv.nodes[1].template_vars(&profile).unwrap();
    assert!(!dhcp_node["node"].as_table().unwrap().contains_key("ip"));
    let reserved: Vars = [("node".to_string(), toml::Value::from(1))].into();
    assert_eq!(
        inv.nodes[0]
            .template_vars(&reserved)
            .unwrap_err()
            .to_string(),
        "profile variable \"node\" is reserved for the node's own fields ({{ node.name }} ...)"
    );
}

#[test]
fn the_shipped_example_parses_and_fits_the_compute_profile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let display = Path::new("examples/nodes.toml");
    let inv = Inventory::load(&root.join(display), display).unwrap();
    let names: Vec<&str> = inv.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["c001", "c002", "c003", "c101", "c102"]);
    assert!(inv.nodes.iter().any(|n| n.address.is_some()));
    assert!(inv.nodes.iter().any(|n| !n.ports.is_empty()));
    assert!(inv.nodes.iter().all(|n| n.vars.contains_key("rack")));
    // It names the project's profiles, and its nodes boot on the compute profile's network.
    let project = Project::new(root);
    let profiles: Vec<String> = project
        .list_profiles()
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    inv.check_profiles(&profiles).unwrap();
    let spec = project.load_profile("compute").unwrap().boot;
    let clients = Some((Ipv4Addr::new(10, 0, 0, 0), 16));
    inv.check_network("compute", &NodeNetwork::of_boot(&spec, clients))
        .unwrap();
    // The build adds the kernel release; the boot config is only valid with one.
    let compute = BootConfig::new(spec, "6.1.0-56-amd64".into(), Vec::new());
    for n in &inv.nodes {
        node_boot_config(&compute, n).unwrap();
    }
}
