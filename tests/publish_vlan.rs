//! A per-node VLAN through `netroot publish`: refused, before anything goes live, when the
//! profile's image does not load 8021q (the check reads the build record's boot.conf); with a
//! profile `[vlan]` the image loads it, the shared menu carries the profile's VLAN and the node's
//! per-MAC menu its own.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;

use common::*;

const SITE: &str = "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n\
                    [publish]\nclient_network = \"10.0.2.0/24\"\n";

#[test]
fn a_node_vlan_needs_8021q_in_its_image() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    root_tree(p.path(), &[("etc/os-release", "ID=one\n")]);
    fs::write(p.path().join("profiles/site.toml"), SITE).unwrap();
    fs::write(
        p.path().join("nodes.toml"),
        "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"site\"\nvlan = 5\n",
    )
    .unwrap();
    let (tftp, nfs, out) = (
        p.path().join("tftp"),
        p.path().join("nfs"),
        p.path().join("out"),
    );
    let publish = || {
        let mut c = netroot(p.path(), &["publish", "site", "--out"]);
        c.arg(&out)
            .arg("--kernel")
            .arg(&kernel)
            .arg("--tftp")
            .arg(&tftp)
            .arg("--nfs")
            .arg(&nfs);
        run(&mut c)
    };
    let o = publish();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_has(
        &stderr(&o),
        "node \"c001\": vlan = 5 needs the 8021q module, which the image of profile \"site\" does not load",
    );
    assert!(!tftp.join("boot/grub/grub.cfg").exists(), "nothing is live");

    fs::write(
        p.path().join("profiles/site.toml"),
        format!("{SITE}[vlan]\nid = 7\n"),
    )
    .unwrap();
    let o = publish();
    assert!(o.status.success(), "{}", stderr(&o));
    let shared = fs::read_to_string(tftp.join("boot/grub/grub.cfg")).unwrap();
    assert_has(&shared, "vlan=bond0.7:bond0 ip=bond0.7:dhcp");
    let own = fs::read_to_string(tftp.join("boot/grub/grub.cfg-01-52-54-00-00-10-01")).unwrap();
    assert_has(&own, "vlan=bond0.5:bond0 ip=bond0.5:dhcp");
}
