//! `netroot publish/rollback/gc/verify` end to end on temp TFTP and NFS directories: a built
//! profile with a root tree becomes an immutable generation, menus point at it explicitly, a
//! change makes a new generation, rollback flips back, verify finds tampering, gc prunes.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;

use std::fs;

use common::*;

#[test]
fn publish_rollback_verify_gc() {
    let Some(kernel) = kernel_dir() else { return };
    let p = project();
    let tree = root_tree(p.path(), &[("etc/os-release", "ID=one\n")]);
    fs::write(p.path().join("profiles/site.toml"), "inherits = [\"qemu-base\"]\n[root]\nsource = \"dir\"\npath = \"tree\"\n[publish]\nclient_network = \"10.0.2.0/24\"\n").unwrap();
    fs::write(
        p.path().join("nodes.toml"),
        "[[node]]\nname = \"c001\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"site\"\n",
    )
    .unwrap();
    let (tftp, nfs, out) = (
        p.path().join("tftp"),
        p.path().join("nfs"),
        p.path().join("out"),
    );
    let publish = |extra: &[&str]| {
        let mut c = netroot(p.path(), &["publish", "site", "--out"]);
        c.arg(&out)
            .arg("--kernel")
            .arg(&kernel)
            .arg("--tftp")
            .arg(&tftp)
            .arg("--nfs")
            .arg(&nfs)
            .args(extra);
        run(&mut c)
    };

    // Targets are required.
    let o = run(netroot(p.path(), &["publish", "site", "--out"])
        .arg(&out)
        .arg("--kernel")
        .arg(&kernel));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_has(
        &stderr(&o),
        "no tftp directory: give --tftp or set publish.tftp",
    );

    // Dry run: nothing written.
    let o = publish(&["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!tftp.join("netroot.ipxe").exists());

    let o = publish(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let g1 = current(&tftp, "site");
    for f in [
        "netroot.ipxe",
        "boot/grub/grub.cfg",
        "pxelinux.cfg/default",
        "pxelinux.cfg/01-52-54-00-00-10-01",
        "boot/grub/grub.cfg-01-52-54-00-00-10-01",
    ] {
        let text = fs::read_to_string(tftp.join(f)).unwrap_or_else(|e| {
            let listing = std::process::Command::new("find")
                .arg(&tftp)
                .output()
                .unwrap();
            panic!(
                "{f}: {e}\n{}\n{}",
                String::from_utf8_lossy(&listing.stdout),
                stdout(&o)
            )
        });
        assert!(
            text.contains(&format!("netroot/site/{g1}/vmlinuz")),
            "{f}: {text}"
        );
        assert!(
            text.contains(&format!("root=nfs:10.0.2.2:/export/site/{g1}")),
            "{f}: {text}"
        );
    }
    assert_eq!(
        fs::read_to_string(nfs.join("site").join(&g1).join("etc/os-release")).unwrap(),
        "ID=one\n"
    );
    assert_eq!(
        fs::read(tftp.join("netroot/site").join(&g1).join("initramfs.img")).unwrap(),
        fs::read(out.join("site/initramfs.img")).unwrap()
    );
    let exports = fs::read_to_string(nfs.join("netroot.exports")).unwrap();
    assert!(
        exports.contains("10.0.2.0/24(")
            && exports.contains("no_root_squash")
            && exports.contains("fsid="),
        "{exports}"
    );
    assert!(fs::read_to_string(nfs.join("netroot.ganesha.conf"))
        .unwrap()
        .contains("Only_Numeric_Owners = true"));

    let dnsmasq = fs::read_to_string(nfs.join("netroot.dnsmasq.conf")).unwrap();
    assert_has(&dnsmasq, "dhcp-host=52:54:00:00:10:01,c001");
    // The PXE wiring: dnsmasq serves this TFTP target and gives iPXE the published menu.
    assert_has(&dnsmasq, &format!("\ntftp-root={}\n", tftp.display()));
    assert_has(&dnsmasq, "\ndhcp-boot=tag:ipxe,netroot.ipxe\n");
    let dhcpd = fs::read_to_string(nfs.join("netroot.dhcpd.conf")).unwrap();
    // next-server: the default profile's NFS server, from its published record.
    assert_has(&dhcpd, "\nnext-server 10.0.2.2;\n");
    assert_has(&dhcpd, "  filename \"netroot.ipxe\";");
    if std::process::Command::new("grub-mknetdir")
        .arg("--version")
        .output()
        .is_ok()
    {
        assert!(tftp.join("boot/grub/i386-pc/core.0").is_file());
    }

    // Same content again: already published, nothing new.
    let o = publish(&[]);
    assert!(stdout(&o).contains("already published"), "{}", stdout(&o));
    assert_eq!(generations(&tftp, "site").len(), 1);

    // A root change makes a new generation; the old one stays untouched.
    fs::write(tree.join("etc/os-release"), "ID=two\n").unwrap();
    assert!(publish(&[]).status.success());
    let g2 = current(&tftp, "site");
    assert_ne!(g1, g2);
    assert_eq!(
        fs::read_to_string(nfs.join("site").join(&g1).join("etc/os-release")).unwrap(),
        "ID=one\n"
    );
    assert!(fs::read_to_string(tftp.join("netroot.ipxe"))
        .unwrap()
        .contains(&g2));

    // --json: the publish (here a re-publish of identical content) and verify reports.
    let o = publish(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["generation"], g2.as_str());
    assert_eq!(report["state"]["published"]["active"], true);
    let o = run(netroot(p.path(), &["verify", "site", "--json", "--tftp"])
        .arg(&tftp)
        .arg("--nfs")
        .arg(&nfs));
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["profile"], "site");
    assert_eq!(report["generations"].as_array().unwrap().len(), 2);

    // The generations, from the published history and records.
    let listed = |json: bool| {
        let mut c = netroot(p.path(), &["generations", "site", "--tftp"]);
        c.arg(&tftp).arg("--nfs").arg(&nfs);
        if json {
            c.arg("--json");
        }
        let o = run(&mut c);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let text = listed(false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&g1) && lines[0].contains(" rollback "),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&g2) && lines[1].contains(" active "),
        "{text}"
    );
    assert!(
        lines[1].contains("root tree (+0 files, +0 bytes)"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&listed(true)).unwrap();
    let list = json["generations"].as_array().unwrap();
    assert_eq!(list[0]["generation"], g1.as_str());
    assert_eq!(list[0]["changed"], serde_json::json!([]));
    assert_eq!(list[1]["active"], true);
    assert_eq!(list[0]["rollback_target"], true);
    assert!(list[1]["bytes"].as_u64().unwrap() > 0);

    // verify is clean, then catches a modified file by name.
    let verify = || {
        run(netroot(p.path(), &["verify", "site", "--tftp"])
            .arg(&tftp)
            .arg("--nfs")
            .arg(&nfs))
    };
    let o = verify();
    assert!(o.status.success(), "{}", stdout(&o));
    fs::write(
        nfs.join("site").join(&g2).join("etc/os-release"),
        "ID=tampered\n",
    )
    .unwrap();
    let o = verify();
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("etc/os-release"), "{}", stdout(&o));
    // --repair restores it from the build cache's root tree (the build output's rootfs).
    let repair = || {
        run(netroot(p.path(), &["verify", "site", "--repair", "--tftp"])
            .arg(&tftp)
            .arg("--nfs")
            .arg(&nfs)
            .arg("--out")
            .arg(&out))
    };
    let o = repair();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let damaged = nfs.join("site").join(&g2).join("etc/os-release");
    assert_has(
        &stdout(&o),
        &format!(
            "restored {} from the build cache's root tree",
            damaged.display()
        ),
    );
    assert_eq!(fs::read_to_string(&damaged).unwrap(), "ID=two\n");
    assert!(verify().status.success());
    // A file with no intact copy anywhere (g1's own content is gone from the build) is named,
    // and repair exits 1; restoring it by hand (content and mtime) makes verify clean again.
    let only = nfs.join("site").join(&g1).join("etc/os-release");
    let mtime = fs::metadata(&only).unwrap().modified().unwrap();
    fs::write(&only, "ID=lost\n").unwrap();
    let o = repair();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_has(
        &stdout(&o),
        &format!("cannot restore {}: no intact copy", only.display()),
    );
    fs::write(&only, "ID=one\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&only)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert!(verify().status.success(), "{}", stdout(&verify()));

    // rollback flips every consumer back to g1.
    let o = run(netroot(p.path(), &["rollback", "site", "--tftp"])
        .arg(&tftp)
        .arg("--nfs")
        .arg(&nfs)
        .arg("--out")
        .arg(&out));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(current(&tftp, "site"), g1);
    assert!(fs::read_to_string(tftp.join("boot/grub/grub.cfg"))
        .unwrap()
        .contains(&format!("root=nfs:10.0.2.2:/export/site/{g1}")));

    // A broken nodes.toml fails publish before the build and before anything is written: no
    // new generation, no flipped link, same menus and history. Rollback renders from the
    // published records alone, so it does not read nodes.toml and still works.
    let nodes = p.path().join("nodes.toml");
    let good_nodes = fs::read(&nodes).unwrap();
    fs::write(&nodes, "[[node]]\nname = \n").unwrap();
    let grub_before = fs::read(tftp.join("boot/grub/grub.cfg")).unwrap();
    let history_before = fs::read(tftp.join("netroot/site/history.json")).unwrap();
    fs::write(tree.join("etc/os-release"), "ID=broken-menus\n").unwrap();
    let o = publish(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("nodes.toml:2:8:") && !stdout(&o).contains("built"),
        "{}",
        stderr(&o)
    );
    assert_eq!(current(&tftp, "site"), g1);
    assert_eq!(generations(&tftp, "site").len(), 2);
    assert_eq!(
        fs::read(tftp.join("boot/grub/grub.cfg")).unwrap(),
        grub_before
    );
    assert_eq!(
        fs::read(tftp.join("netroot/site/history.json")).unwrap(),
        history_before
    );
    let o = run(
        netroot(p.path(), &["rollback", "site", "--to", &g2, "--tftp"])
            .arg(&tftp)
            .arg("--nfs")
            .arg(&nfs)
            .arg("--out")
            .arg(&out),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(current(&tftp, "site"), g2);
    assert_eq!(generations(&tftp, "site").len(), 2);
    let grub = fs::read_to_string(tftp.join("boot/grub/grub.cfg")).unwrap();
    assert!(grub.contains(&format!("/export/site/{g2}")), "{grub}");
    assert_ne!(grub.as_bytes(), grub_before);
    assert_ne!(
        fs::read(tftp.join("netroot/site/history.json")).unwrap(),
        history_before
    );
    fs::write(&nodes, good_nodes).unwrap();

    // A third generation, then gc --keep 2 removes the oldest one no consumer references.
    fs::write(tree.join("etc/os-release"), "ID=three\n").unwrap();
    assert!(publish(&[]).status.success());
    let before = generations(&tftp, "site");
    assert_eq!(before.len(), 3);
    let gc = |extra: &[&str]| {
        run(netroot(p.path(), &["gc", "site", "--keep", "2", "--tftp"])
            .arg(&tftp)
            .arg("--nfs")
            .arg(&nfs)
            .arg("--out")
            .arg(&out)
            .args(extra))
    };
    // --dry-run names the generation and its paths, and removes nothing.
    let o = gc(&["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed = stdout(&o);
    assert!(
        listed.starts_with("site: would remove 1 generation(s), would keep "),
        "{listed}"
    );
    let doomed: Vec<&String> = before
        .iter()
        .filter(|g| listed.contains(&format!("  would remove {g}\n")))
        .collect();
    assert_eq!(doomed.len(), 1, "{listed}");
    let tftp_part = tftp.join("netroot/site").join(doomed[0]);
    assert_has(&listed, &format!("    {}\n", tftp_part.display()));
    assert_eq!(generations(&tftp, "site"), before);
    let o = gc(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let left = generations(&tftp, "site");
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.contains(doomed[0]) && !tftp_part.exists(), "{left:?}");
    assert!(left.contains(&current(&tftp, "site")));
}
