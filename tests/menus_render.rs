//! Boot menus for GRUB, iPXE and PXELINUX: golden files for one profile, several profiles and
//! per-node menus; GRUB syntax through grub-script-check; iPXE sanity; and, per dialect, a
//! model of the loader's parsing that checks the kernel receives each entry's exact parameters.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod menus_common;

use std::net::Ipv4Addr;
use std::path::Path;

use menus_common::*;
use netroot::menus::{
    grub_cfg, ipxe_script, ipxe_script_with_nodes, node_menus, per_mac_name, profile_entry,
    pxelinux_cfg, render_files, MenuEntry, MenuModel, NodeMenu, PerMac,
};
use netroot::nodes::Inventory;
use netroot_boot::bootconfig::{IpConfig, StaticIp};

/// Extra words with quoting every dialect must carry: a value with spaces and a `$`.
const EXTRA: &str = "quiet rd.note=\"two words\" x=$y";

fn single() -> MenuModel {
    let b = boot("compute", "/export/compute");
    MenuModel {
        entries: vec![profile_entry(&compute_profile(&b), None, "")],
        default: "compute".into(),
        timeout_secs: 5,
        http_base: None,
        serial: None,
        title: None,
        tftp_server: None,
    }
}

fn several() -> MenuModel {
    let compute = boot("compute", "/export/compute");
    let gpu = boot("gpu", "/export/gpu");
    let serial = Some((0, 115_200));
    let entries = vec![
        profile_entry(&compute_profile(&compute), serial, EXTRA),
        profile_entry(&gpu_profile("GPU nodes (it's new)", &gpu), serial, EXTRA),
    ];
    MenuModel {
        entries,
        default: "gpu".into(),
        timeout_secs: 10,
        http_base: Some("http://10.0.2.2:8080/boot".into()),
        serial,
        title: Some("Cluster lab".into()),
        tftp_server: Some(Ipv4Addr::new(10, 0, 2, 2)),
    }
}

const NODES: &str = r#"
[[node]]
name = "c001"
mac = "52:54:00:00:10:01"
profile = "compute"
address = "10.0.1.1/16"

[[node]]
name = "c002"
mac = "52:54:00:00:10:02"
profile = "compute"

[[node]]
name = "g001"
mac = "52:54:00:00:20:01"
profile = "gpu"
address = "10.0.2.1/16"
"#;

fn with_nodes() -> (MenuModel, Vec<NodeMenu>) {
    let compute = boot("compute", "/export/compute");
    let gpu = gpu_static_boot();
    let profiles = [compute_profile(&compute), gpu_profile("GPU nodes", &gpu)];
    let serial = Some((1, 57_600));
    let base = MenuModel {
        entries: profiles
            .iter()
            .map(|p| profile_entry(p, serial, "quiet"))
            .collect(),
        default: "compute".into(),
        timeout_secs: 3,
        http_base: None,
        serial,
        title: None,
        tftp_server: None,
    };
    let inv = Inventory::parse(Path::new("nodes.toml"), NODES).unwrap();
    let nodes = node_menus(&base, &profiles, &inv.nodes, "quiet").unwrap();
    (base, nodes)
}

/// Every entry of every dialect gives the kernel exactly the entry's parameters.
fn assert_loaders_pass_cmdlines(m: &MenuModel) {
    let grub = grub_cfg(m).unwrap();
    let ipxe = ipxe_script(m).unwrap();
    let pxe = pxelinux_cfg(m).unwrap();
    for e in &m.entries {
        let want = kernel_params(&e.cmdline);
        // GRUB: the `linux` line of this entry's menuentry.
        let block = grub
            .split("\nmenuentry ")
            .find(|b| b.contains(&format!("--id '{}'", e.id)))
            .unwrap();
        let linux = block
            .lines()
            .find(|l| l.trim_start().starts_with("linux "))
            .unwrap();
        let words = grub_words(linux);
        let kernel = words[1].clone();
        let got = kernel_params(&grub_loader_cmdline(&kernel, &words[2..]));
        assert_eq!(got[0].0, "BOOT_IMAGE");
        assert_eq!(&got[1..], &want[..], "GRUB entry {}", e.id);
        // iPXE: the `kernel` line after this entry's label.
        let label = format!(":netroot.entry.{}\n", e.id);
        let after = &ipxe[ipxe.find(&label).unwrap() + label.len()..];
        let line = after.lines().find(|l| l.starts_with("kernel ")).unwrap();
        let got = kernel_params(&ipxe_kernel_cmdline(line));
        assert_eq!(got[0], ("initrd".to_string(), Some("initrd".to_string())));
        assert_eq!(&got[1..], &want[..], "iPXE entry {}", e.id);
        // PXELINUX: APPEND is passed verbatim.
        let label = format!("\nLABEL {}\n", e.id);
        let after = &pxe[pxe.find(&label).unwrap() + label.len()..];
        let append = after
            .lines()
            .take_while(|l| l.starts_with("  "))
            .find_map(|l| l.trim_start().strip_prefix("APPEND "))
            .unwrap();
        assert_eq!(kernel_params(append), want, "PXELINUX entry {}", e.id);
    }
}

#[test]
fn single_profile_golden() {
    let m = single();
    assert_eq!(
        m.entries[0].cmdline,
        "root=nfs:10.0.2.2:/export/compute netroot.nfs.versions=4.2,4.1 \
         bond=bond0:52-54-00-00-00-01,52-54-00-00-00-02:mode=802.3ad,miimon=100,lacp_rate=fast,\
         xmit_hash_policy=layer3+4 netroot.bond.min_ports=1 ip=bond0:dhcp"
    );
    let grub = grub_cfg(&m).unwrap();
    golden("single/grub.cfg", &grub);
    assert_grub_syntax(&grub);
    let ipxe = ipxe_script(&m).unwrap();
    golden("single/netroot.ipxe", &ipxe);
    assert_ipxe_sane(&ipxe);
    golden("single/pxelinux.cfg", &pxelinux_cfg(&m).unwrap());
    assert_loaders_pass_cmdlines(&m);
}

#[test]
fn several_profiles_golden() {
    let m = several();
    let grub = grub_cfg(&m).unwrap();
    golden("several/grub.cfg", &grub);
    assert_grub_syntax(&grub);
    assert!(grub.contains("set root=(tftp,10.0.2.2)\n"));
    assert!(grub.contains("serial --unit=0 --speed=115200\n"));
    let ipxe = ipxe_script(&m).unwrap();
    golden("several/netroot.ipxe", &ipxe);
    assert_ipxe_sane(&ipxe);
    assert!(ipxe.contains("kernel http://10.0.2.2:8080/boot/netroot/gpu/3/vmlinuz "));
    let pxe = pxelinux_cfg(&m).unwrap();
    golden("several/pxelinux.cfg", &pxe);
    assert!(pxe.starts_with("# netroot boot menu (generated; do not edit)\nSERIAL 0 115200\n"));
    assert_loaders_pass_cmdlines(&m);
}

#[test]
fn grub_net_default_root_and_tftp_server_forms() {
    let mut m = single();
    let net_default = grub_cfg(&m).unwrap();
    assert!(!net_default.contains("set root"));
    assert!(net_default.contains("\tlinux ($root)/netroot/compute/7/vmlinuz "));
    m.tftp_server = Some(Ipv4Addr::new(192, 168, 1, 5));
    let with_server = grub_cfg(&m).unwrap();
    assert!(with_server.contains("set root=(tftp,192.168.1.5)\n"));
    assert_grub_syntax(&with_server);
    // iPXE follows the same server, or DHCP's next-server without one.
    assert!(ipxe_script(&m)
        .unwrap()
        .contains("kernel tftp://192.168.1.5/netroot/compute/7/vmlinuz "));
    m.tftp_server = None;
    assert!(ipxe_script(&m)
        .unwrap()
        .contains("kernel tftp://${next-server}/netroot/compute/7/vmlinuz "));
}

#[test]
fn zero_timeout_boots_the_default_at_once() {
    let mut m = several();
    m.timeout_secs = 0;
    let ipxe = ipxe_script(&m).unwrap();
    assert!(ipxe.contains(":netroot.menu\ngoto netroot.entry.gpu\n"));
    assert!(!ipxe.contains("\nchoose "));
    assert_ipxe_sane(&ipxe);
    assert!(grub_cfg(&m).unwrap().contains("set timeout=0\n"));
    let pxe = pxelinux_cfg(&m).unwrap();
    assert!(pxe.contains("PROMPT 0\n") && !pxe.contains("TIMEOUT"));
}

#[test]
fn per_node_golden_files() {
    let (base, nodes) = with_nodes();
    let files = render_files(&base, &nodes).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "boot/grub/grub.cfg",
            "boot/grub/grub.cfg-01-52-54-00-00-10-01",
            "boot/grub/grub.cfg-01-52-54-00-00-10-02",
            "boot/grub/grub.cfg-01-52-54-00-00-20-01",
            "netroot.ipxe",
            "pxelinux.cfg/01-52-54-00-00-10-01",
            "pxelinux.cfg/01-52-54-00-00-10-02",
            "pxelinux.cfg/01-52-54-00-00-20-01",
            "pxelinux.cfg/default",
        ]
    );
    for f in &files {
        golden(&format!("nodes/{}", f.path), &f.contents);
        if f.path.starts_with("boot/grub/") {
            assert_grub_syntax(&f.contents);
        }
    }
    let ipxe = &files
        .iter()
        .find(|f| f.path == "netroot.ipxe")
        .unwrap()
        .contents;
    assert_ipxe_sane(ipxe);
    assert_eq!(ipxe, &ipxe_script_with_nodes(&base, &nodes).unwrap());
    assert!(ipxe.contains("iseq ${netX/mac} 52:54:00:00:10:01 && goto node.c001.menu ||\n"));
    for n in &nodes {
        assert_loaders_pass_cmdlines(&n.menu);
    }
}

#[test]
fn node_entries_carry_static_addresses_console_and_host_name() {
    let (_, nodes) = with_nodes();
    let profile_boot = |n: &NodeMenu| {
        if n.menu.default == "gpu" {
            gpu_static_boot()
        } else {
            boot("compute", "/export/compute")
        }
    };
    let expect = [
        (
            "c001",
            IpConfig::Static(StaticIp {
                address: Ipv4Addr::new(10, 0, 1, 1),
                prefix_len: 16,
                gateway: None,
                dns: vec![],
                hostname: Some("c001".into()),
            }),
        ),
        ("c002", IpConfig::Dhcp),
        (
            "g001",
            IpConfig::Static(StaticIp {
                address: Ipv4Addr::new(10, 0, 2, 1),
                prefix_len: 16,
                gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
                dns: vec![Ipv4Addr::new(10, 0, 0, 53)],
                hostname: Some("g001".into()),
            }),
        ),
    ];
    for (n, (name, ip)) in nodes.iter().zip(expect) {
        assert_eq!(n.name, name);
        let e: &MenuEntry = &n.menu.entries[0];
        // The init, given the node's command line, ends up with the node's addressing.
        let mut cfg = profile_boot(n);
        cfg.apply_cmdline(&e.cmdline).unwrap();
        assert_eq!(cfg.ip, ip, "node {name}");
        assert!(e
            .cmdline
            .ends_with(" console=tty0 console=ttyS1,57600n8 quiet"));
    }
    assert_eq!(nodes[0].menu.entries[0].title, "Compute nodes (node c001)");
}

#[test]
fn kernel_cmdline_appends_console_and_extra_words() {
    let b = boot("compute", "/export/compute");
    let plain = b.entry_cmdline(None, "");
    assert_eq!(plain, b.to_cmdline());
    assert_eq!(
        b.entry_cmdline(Some((0, 115_200)), "  quiet  "),
        format!("{plain} console=tty0 console=ttyS0,115200n8 quiet")
    );
}

#[test]
fn per_mac_file_names() {
    let mac = [0x52, 0x54, 0x00, 0xAB, 0x10, 0x01];
    assert_eq!(
        per_mac_name(&mac, PerMac::Grub),
        "grub.cfg-01-52-54-00-ab-10-01"
    );
    assert_eq!(
        per_mac_name(&mac, PerMac::Pxelinux),
        "pxelinux.cfg/01-52-54-00-ab-10-01"
    );
}
