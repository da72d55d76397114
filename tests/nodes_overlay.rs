//! Per-node overlay files end to end: `netroot publish` of a profile with a root tree and two
//! nodes in `nodes.toml` renders the overlay's templates once per node into
//! `.netroot/nodes/NAME/` of the published generation, names each node's layer with
//! `netroot.node=NAME` in its per-MAC menus (never in the default menus), and `netroot verify`
//! accepts the result. Also: the menu model with and without a node layer, and unsafe node names.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod menus_common;

use std::fs;
use std::path::Path;

use common::*;
use netroot::menus::{node_menus_with_layers, profile_entry, render_files, MenuModel, ProfileBoot};
use netroot::nodes::{Inventory, Node};

const NODES: &str = "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"site\"\n\
[node.vars]\nrack = \"r1\"\n\n\
[[node]]\nname = \"c002\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"site\"\n";

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn publish_renders_node_files_and_names_each_layer_in_its_own_menus() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    root_tree(p.path(), &[("etc/hostname", "image\n")]);
    let ov = p.path().join("overlays/nodefiles/etc");
    fs::create_dir_all(&ov).unwrap();
    fs::write(ov.join("hostname.j2"), "{{ node.name }}").unwrap();
    fs::write(ov.join("rack.j2"), "{{ rack }}").unwrap();
    fs::write(ov.join("motd"), "shared\n").unwrap();
    fs::write(
        p.path().join("profiles/site.toml"),
        "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n\
         [overlays]\nroot = [\"nodefiles\"]\n[vars]\nrack = \"r0\"\n\
         [publish]\nclient_network = \"10.0.2.0/24\"\n",
    )
    .unwrap();
    fs::write(p.path().join("nodes.toml"), NODES).unwrap();
    let (tftp, nfs, out) = (
        p.path().join("tftp"),
        p.path().join("nfs"),
        p.path().join("out"),
    );
    let targets = |c: &mut std::process::Command| {
        c.arg("--tftp").arg(&tftp).arg("--nfs").arg(&nfs);
    };
    // Publishes the profile; the generation `current` then names.
    let publish = || {
        let mut c = netroot(p.path(), &["publish", "site", "--out"]);
        c.arg(&out).arg("--kernel").arg(&kernel);
        targets(&mut c);
        let o = run(&mut c);
        assert!(o.status.success(), "{}", stderr(&o));
        current(&tftp, "site")
    };
    let gen = publish();
    let root = nfs.join("site").join(&gen);

    // Shared tree: the template needing a node is left out (the image's file stays), the one
    // the profile can render is rendered with the profile's value.
    assert_eq!(read(&root.join("etc/hostname")), "image\n");
    assert_eq!(read(&root.join("etc/rack")), "r0");
    assert_eq!(read(&root.join("etc/motd")), "shared\n");
    // Node layers: every template per node; node vars shadow profile vars; no plain files.
    let layer = |n: &str| root.join(".netroot/nodes").join(n);
    assert_eq!(read(&layer("c001").join("etc/hostname")), "c001");
    assert_eq!(read(&layer("c001").join("etc/rack")), "r1");
    assert_eq!(read(&layer("c002").join("etc/hostname")), "c002");
    assert_eq!(read(&layer("c002").join("etc/rack")), "r0");
    assert!(!layer("c001").join("etc/motd").exists());

    // Per-MAC menus name the node's layer; the default menus name none.
    for (node, mac) in [
        ("c001", "01-52-54-00-00-10-01"),
        ("c002", "01-52-54-00-00-10-02"),
    ] {
        for f in [
            format!("pxelinux.cfg/{mac}"),
            format!("boot/grub/grub.cfg-{mac}"),
        ] {
            let text = read(&tftp.join(&f));
            assert!(
                text.contains(&format!("netroot.node={node}")),
                "{f}: {text}"
            );
            assert!(text.contains(&format!("/export/site/{gen}")), "{f}: {text}");
        }
    }
    for f in ["pxelinux.cfg/default", "boot/grub/grub.cfg"] {
        let text = read(&tftp.join(f));
        assert!(!text.contains("netroot.node="), "{f}: {text}");
    }
    // iPXE: one script; the per-MAC sections carry the node, the default entry does not.
    let ipxe = read(&tftp.join("netroot.ipxe"));
    assert_eq!(ipxe.matches("netroot.node=c001").count(), 1, "{ipxe}");
    assert_eq!(ipxe.matches("netroot.node=c002").count(), 1, "{ipxe}");
    assert_eq!(
        ipxe.matches("netroot.node=").count(),
        2,
        "only the two node sections: {ipxe}"
    );

    let mut c = netroot(p.path(), &["verify", "site"]);
    targets(&mut c);
    let o = run(&mut c);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // A changed node variable is a new generation; the old one keeps its files.
    fs::write(
        p.path().join("nodes.toml"),
        NODES.replace("rack = \"r1\"", "rack = \"r2\""),
    )
    .unwrap();
    let gen2 = publish();
    assert_ne!(gen, gen2);
    let rack = |g: &str| {
        read(
            &nfs.join("site")
                .join(g)
                .join(".netroot/nodes/c001/etc/rack"),
        )
    };
    assert_eq!((rack(&gen).as_str(), rack(&gen2).as_str()), ("r1", "r2"));

    // A template that renders for no node of the inventory fails the build, naming the node.
    fs::write(ov.join("role.j2"), "{{ role }}").unwrap();
    let mut c = netroot(p.path(), &["publish", "site", "--out"]);
    c.arg(&out).arg("--kernel").arg(&kernel);
    targets(&mut c);
    let o = run(&mut c);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "node \"c001\": overlay \"nodefiles\": etc/role.j2:1:4: undefined value: `role` is undefined"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(current(&tftp, "site"), gen2);
}

fn inventory(text: &str) -> Inventory {
    Inventory::parse(Path::new("nodes.toml"), text).unwrap()
}

#[test]
fn only_nodes_with_a_layer_get_netroot_node() {
    let b = menus_common::boot("site", "/export/site/g1");
    let p = ProfileBoot {
        id: "site",
        title: "Site",
        boot: &b,
        kernel: "netroot/site/g1/vmlinuz",
        initrd: "netroot/site/g1/initramfs.img",
    };
    let model = MenuModel {
        entries: vec![profile_entry(&p, None, "")],
        default: "site".into(),
        timeout_secs: 0,
        http_base: None,
        serial: None,
        title: None,
        tftp_server: None,
    };
    let inv = inventory(NODES);
    let has_layer = |n: &Node| n.name == "c001";
    let nodes = node_menus_with_layers(&model, &[p], &inv.nodes, "", &has_layer).unwrap();
    let lines: Vec<&str> = nodes
        .iter()
        .map(|n| n.menu.entries[0].cmdline.as_str())
        .collect();
    assert!(lines[0].ends_with(" netroot.node=c001"), "{}", lines[0]);
    assert!(!lines[1].contains("netroot.node"), "{}", lines[1]);
    let files = render_files(&model, &nodes).unwrap();
    let file = |path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.contents.clone())
            .unwrap_or_else(|| panic!("no {path}"))
    };
    assert!(file("pxelinux.cfg/01-52-54-00-00-10-01").contains("netroot.node=c001"));
    assert!(file("boot/grub/grub.cfg-01-52-54-00-00-10-01").contains("netroot.node=c001"));
    assert!(!file("pxelinux.cfg/01-52-54-00-00-10-02").contains("netroot.node"));
    assert!(!file("pxelinux.cfg/default").contains("netroot.node"));
}

#[test]
fn node_names_that_are_not_a_safe_path_component_are_rejected() {
    for (name, shown) in [
        ("..", "\"..\""),
        ("a/b", "\"a/b\""),
        ("c001.lab", "\"c001.lab\""),
        ("", "\"\""),
    ] {
        let text = format!(
            "[[node]]\nname = \"{name}\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"site\"\n"
        );
        let err = Inventory::parse(Path::new("nodes.toml"), &text)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "nodes.toml:2:8: node {shown}: invalid node name {shown}: expected one host-name \
                 label: letters, digits and inner hyphens, at most 63 characters"
            )
        );
    }
}
