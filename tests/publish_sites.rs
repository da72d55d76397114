//! Several profiles published into one TFTP/NFS pair (issue 10): every shared menu entry,
//! per-MAC file, export and DHCP line comes from the published generation records, never from
//! the live project; the shared default entry is stable; rollback renders from records; and
//! every refused publish (no client network, a broken `nodes.toml`, a read-only or full target)
//! leaves both trees byte for byte as they were, with `--dry-run` refusing the same way.
#![allow(clippy::disallowed_methods)] // tests write their fixtures directly

mod common;
mod publish_support;
#[path = "publish_sites/site.rs"]
mod site;
#[path = "publish_sites/snapshot.rs"]
mod snapshot;

use std::fs;
use std::path::Path;

use common::{assert_has, current, generations, stderr, stdout};
use site::{entries, Site, MENUS};
use snapshot::{assert_same, snapshot};

/// alpha's node and beta's node, by MAC.
const NODES: &str = "[[node]]\nname = \"na\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"alpha\"\n\
                     [[node]]\nname = \"nb\"\nmac = \"52:54:00:00:10:02\"\nprofile = \"beta\"\n";

/// Every profile's entries in every shared menu equal its active record's command line, plus
/// `netroot.node=NAME` in a node's own entry.
fn assert_entries_are_records(s: &Site, profiles: &[&str]) {
    for menu in MENUS {
        let text = s.tftp_text(menu);
        let all = entries(&text);
        for p in profiles {
            let gen = current(&s.tftp, p);
            let want = s.record_cmdline(p, &gen);
            let mine: Vec<_> = all.iter().filter(|e| e.profile == *p).collect();
            assert!(!mine.is_empty(), "{menu}: no entry of {p}:\n{text}");
            for e in mine {
                assert_eq!(
                    e.generation, gen,
                    "{menu}: {p}'s entry is not its active one"
                );
                assert_eq!(
                    e.without_node(),
                    want,
                    "{menu}: {p}'s entry is not its record"
                );
            }
        }
    }
}

#[test]
fn each_entry_is_its_own_profiles_record_whatever_the_project_says() {
    let Some(s) = Site::published(&["alpha", "beta"], NODES) else {
        return;
    };
    assert_entries_are_records(&s, &["alpha", "beta"]);
    for menu in MENUS {
        let text = s.tftp_text(menu);
        for e in entries(&text) {
            let other = if e.profile == "alpha" {
                "beta"
            } else {
                "alpha"
            };
            assert!(
                e.cmdline.contains(&format!("{}_extra=1", e.profile)),
                "{menu}: {e:?}"
            );
            assert!(
                !e.cmdline.contains(&format!("{other}_extra")),
                "{menu}: {e:?}"
            );
        }
    }
    // Each node's own files carry its own profile's record and its name.
    for (mac, node, profile) in [("01", "na", "alpha"), ("02", "nb", "beta")] {
        for file in [
            format!("pxelinux.cfg/01-52-54-00-00-10-{mac}"),
            format!("boot/grub/grub.cfg-01-52-54-00-00-10-{mac}"),
        ] {
            let found = entries(&s.tftp_text(&file));
            assert_eq!(found.len(), 1, "{file}: {found:?}");
            assert_eq!(found[0].profile, profile, "{file}");
            assert!(
                found[0].cmdline.contains(&format!("netroot.node={node}")),
                "{file}"
            );
            let gen = current(&s.tftp, profile);
            assert_eq!(
                found[0].without_node(),
                s.record_cmdline(profile, &gen),
                "{file}"
            );
        }
    }
    assert_side_files_name(&s, &["alpha", "beta"]);

    // An unpublished edit of alpha's profile is not in alpha's entries at beta's next publish.
    let alpha_entries = || -> Vec<_> { MENUS.iter().map(|m| s.entries_of(m, "alpha")).collect() };
    let alpha_menus = alpha_entries();
    // A new tree of beta's, published: alpha's entries stay as they were (else `why`).
    let publish_beta = |os_release: &str, why: &str| {
        s.tree("beta", os_release);
        s.publish_ok("beta");
        assert_eq!(alpha_entries(), alpha_menus, "{why}");
    };
    s.edit("alpha", "alpha_extra=1", "alpha_extra=2");
    publish_beta(
        "ID=beta-2\n",
        "an unpublished edit of alpha reached the menus",
    );
    assert_entries_are_records(&s, &["alpha", "beta"]);

    // A profile file that no longer loads does not take its published entries away.
    fs::write(s.profile_path("alpha"), "inherits = [\n").unwrap();
    publish_beta("ID=beta-3\n", "a broken alpha.toml changed alpha's entries");

    // A third profile joins; the other two stay as published.
    s.profile("gamma", "");
    s.publish_ok("gamma");
    assert_entries_are_records(&s, &["alpha", "beta", "gamma"]);
    assert_eq!(alpha_entries(), alpha_menus);
    assert_side_files_name(&s, &["alpha", "beta", "gamma"]);
}

/// The NFS exports (kernel and ganesha) name every published profile's export directory, and
/// the DHCP snippets every node.
fn assert_side_files_name(s: &Site, profiles: &[&str]) {
    let exports = s.nfs_text("netroot.exports");
    let ganesha = s.nfs_text("netroot.ganesha.conf");
    for p in profiles {
        let dir = s.nfs.join(p);
        let dir = dir.display().to_string();
        assert!(
            exports.contains(&format!("{dir} 10.0.2.0/24(")),
            "{p}:\n{exports}"
        );
        assert!(ganesha.contains(&dir), "{p}:\n{ganesha}");
    }
    let dnsmasq = s.nfs_text("netroot.dnsmasq.conf");
    for host in ["52:54:00:00:10:01,na", "52:54:00:00:10:02,nb"] {
        assert!(dnsmasq.contains(host), "{dnsmasq}");
    }
}

/// The default entry of the three shared menus.
fn default_entry(s: &Site) -> [String; 3] {
    let grub = s.tftp_text("boot/grub/grub.cfg");
    let ipxe = s.tftp_text("netroot.ipxe");
    let pxe = s.tftp_text("pxelinux.cfg/default");
    let find = |text: &str, prefix: &str, end: char| {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!("no {prefix:?} line:\n{text}");
            });
        line[prefix.len()..].split(end).next().unwrap().to_string()
    };
    [
        find(&grub, "set default='", '\''),
        find(&ipxe, "choose --default netroot.entry.", ' '),
        find(&pxe, "DEFAULT ", ' '),
    ]
}

#[test]
fn the_default_entry_is_stable_and_follows_netroot_toml_once_published() {
    let Some(s) = Site::new(&["alpha", "beta"]) else {
        return;
    };
    s.publish_ok("alpha");
    s.publish_ok("beta");
    let all = |p: &str| [p.to_string(), p.to_string(), p.to_string()];
    assert_eq!(
        default_entry(&s),
        all("alpha"),
        "the first published stays the default"
    );

    // A default that is not published yet warns and keeps the current one.
    fs::write(
        s.dir.path().join("netroot.toml"),
        "[menu]\ndefault = \"gamma\"\n",
    )
    .unwrap();
    s.tree("beta", "ID=beta-2\n");
    let o = s.publish_ok("beta");
    assert_has(&stdout(&o), "warning: menu.default = \"gamma\" is not published here yet: the default entry stays \"alpha\"");
    assert_eq!(default_entry(&s), all("alpha"));

    fs::write(
        s.dir.path().join("netroot.toml"),
        "[menu]\ndefault = \"beta\"\n",
    )
    .unwrap();
    s.tree("alpha", "ID=alpha-2\n");
    s.publish_ok("alpha");
    assert_eq!(
        default_entry(&s),
        all("beta"),
        "netroot.toml's default wins"
    );

    // Without netroot.toml the published default stays; it does not follow the publisher.
    fs::remove_file(s.dir.path().join("netroot.toml")).unwrap();
    s.tree("alpha", "ID=alpha-3\n");
    s.publish_ok("alpha");
    assert_eq!(default_entry(&s), all("beta"));
}

#[test]
fn rollback_renders_from_records_while_the_project_is_edited_and_broken() {
    let Some(s) = Site::new(&["alpha", "beta"]) else {
        return;
    };
    s.nodes(NODES);
    s.publish_ok("alpha");
    let g1 = current(&s.tftp, "alpha");
    s.tree("alpha", "ID=alpha-2\n");
    s.publish_ok("alpha");
    s.publish_ok("beta");
    let beta_menus: Vec<_> = MENUS.iter().map(|m| s.entries_of(m, "beta")).collect();

    s.edit("alpha", "alpha_extra=1", "alpha_extra=9");
    fs::write(s.profile_path("beta"), "[bond\n").unwrap();
    s.nodes("[[node]]\nname = \n");
    let o = s.netroot(&["rollback", "alpha"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(current(&s.tftp, "alpha"), g1);
    assert_entries_are_records(&s, &["alpha", "beta"]);
    for menu in MENUS {
        for e in s.entries_of(menu, "alpha") {
            assert!(e.cmdline.contains("alpha_extra=1"), "{menu}: {e:?}");
        }
    }
    let now: Vec<_> = MENUS.iter().map(|m| s.entries_of(m, "beta")).collect();
    assert_eq!(now, beta_menus, "rollback of alpha changed beta's entries");
    let na = entries(&s.tftp_text("pxelinux.cfg/01-52-54-00-00-10-01"));
    assert_eq!(
        na[0].generation, g1,
        "node na follows its profile's rollback"
    );
}

/// A profile with a root tree that inherits neither qemu-base nor compute: no client network.
const LONELY: &str = "inherits = [\"base\"]\n\
    [bond]\nmode = \"active-backup\"\nports = [\"eth0\"]\n\
    [nfs]\nserver = \"10.0.2.2\"\nexport = \"/export\"\n\
    [root]\nsource = \"dir\"\npath = \"tree-alpha\"\n";

#[test]
fn refused_publishes_and_their_dry_runs_change_nothing() {
    let Some(s) = Site::published(&["alpha", "beta"], NODES) else {
        return;
    };
    // A change, so that each refused publish below would have made a new generation.
    s.tree("alpha", "ID=alpha-2\n");
    let before = snapshot(&[&s.tftp, &s.nfs]);

    fs::write(s.profile_path("lonely"), LONELY).unwrap();
    s.refused("lonely", "sets no publish.client_network");
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "no client network");

    s.nodes(&format!(
        "{NODES}[[node]]\nname = \"nx\"\nmac = \"52:54:00:00:10:03\"\nprofile = \"nosuch\"\n"
    ));
    s.refused("alpha", "node \"nx\": profile \"nosuch\" does not exist");
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "unknown profile");

    s.nodes("[[node]]\nname = \n");
    s.refused("alpha", "nodes.toml:2:8:");
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "nodes.toml syntax");

    // Bad exports: the world as the client network, refused at the profile key.
    let alpha = fs::read_to_string(s.profile_path("alpha")).unwrap();
    fs::write(
        s.profile_path("alpha"),
        format!("{alpha}[publish]\nclient_network = \"0.0.0.0/0\"\n"),
    )
    .unwrap();
    s.nodes(NODES);
    s.refused("alpha", "profiles/alpha.toml:9:18: publish.client_network: refusing to export the root to the world");
    assert_same(
        &before,
        &snapshot(&[&s.tftp, &s.nfs]),
        "export to the world",
    );
    fs::write(s.profile_path("alpha"), alpha).unwrap();

    // Two nodes with one MAC: one DHCP reservation and one per-MAC file cannot serve both.
    s.nodes(&format!(
        "{NODES}[[node]]\nname = \"nc\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"beta\"\n"
    ));
    s.refused("alpha", "52:54:00:00:10:01");
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "duplicate MAC");

    // The same publish, once the project is fixed, goes through.
    s.nodes(NODES);
    s.publish_ok("alpha");
    assert_ne!(before, snapshot(&[&s.tftp, &s.nfs]));
}

#[test]
fn a_failing_hook_fails_the_command_after_a_complete_publish() {
    let Some(s) = Site::new(&["alpha"]) else {
        return;
    };
    s.publish_ok("alpha");
    let g1 = current(&s.tftp, "alpha");
    fs::write(
        s.profile_path("alpha"),
        format!(
            "{}[publish]\nhook = \"echo hook saw $GEN; exit 3\"\n",
            fs::read_to_string(s.profile_path("alpha")).unwrap()
        ),
    )
    .unwrap();
    s.tree("alpha", "ID=alpha-2\n");
    let o = s.publish("alpha", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let g2 = current(&s.tftp, "alpha");
    assert_ne!(g1, g2, "the publish itself happened");
    assert_has(&stdout(&o), "hook FAILED (exit code 3)");
    assert_has(&stdout(&o), &format!("hook saw {g2}"));
    assert_entries_are_records(&s, &["alpha"]);
    // The failed hook left a complete publish: the new generation active in the history and
    // both trees, no staging leftovers, every file intact.
    let left = snapshot(&[&s.tftp, &s.nfs]);
    let tmp: Vec<_> = left
        .keys()
        .filter(|p| p.to_string_lossy().contains(".netroot-tmp"))
        .collect();
    assert!(tmp.is_empty(), "staging leftovers: {tmp:?}");
    assert_eq!(generations(&s.tftp, "alpha"), sorted(&[&g1, &g2]));
    let history = s.tftp_text("netroot/alpha/history.json");
    assert_has(&history, &format!("\"active\": \"{g2}\""));
    assert_eq!(
        fs::read_link(s.nfs.join("alpha/current")).unwrap(),
        Path::new(&g2)
    );
    let v = s.netroot(&["verify", "alpha"]);
    assert!(v.status.success(), "{}", stdout(&v));
}

fn sorted(v: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn publish_keep_bounds_the_generations_of_a_profile() {
    let Some(s) = Site::new(&["alpha", "beta"]) else {
        return;
    };
    let text = fs::read_to_string(s.profile_path("alpha")).unwrap();
    fs::write(
        s.profile_path("alpha"),
        format!("{text}[publish]\nkeep = 2\n"),
    )
    .unwrap();
    s.publish_ok("beta");
    let mut published = Vec::new();
    for i in 0..5 {
        s.tree("alpha", &format!("ID=alpha-{i}\n"));
        s.publish_ok("alpha");
        published.push(current(&s.tftp, "alpha"));
    }
    let mut want = published[3..].to_vec();
    want.sort();
    assert_eq!(generations(&s.tftp, "alpha"), want);
    let mut nfs: Vec<String> = fs::read_dir(s.nfs.join("alpha"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('g') && !n.ends_with(".json"))
        .collect();
    nfs.sort();
    assert_eq!(nfs, want);
    assert_eq!(generations(&s.tftp, "beta").len(), 1, "keep is per profile");
    assert_entries_are_records(&s, &["alpha", "beta"]);
}

#[test]
fn read_only_and_full_targets_are_refused_before_any_write() {
    let Some(mnt) = site::Tmpfs::mount_or_skip("64m") else {
        return;
    };
    let Some(s) = Site::with_targets(&["alpha", "beta"], mnt.path()) else {
        return;
    };
    s.publish_ok("alpha");
    s.tree("alpha", "ID=alpha-2\n");
    s.publish_ok("alpha");
    s.publish_ok("beta");

    // Full: a file in alpha's tree 4 MiB larger than what is left of the filesystem.
    let free = rustix::fs::statvfs(mnt.path()).unwrap();
    let big = (free.f_bavail * free.f_frsize + (4 << 20)) as usize;
    fs::write(s.tree_dir("alpha").join("big"), vec![0x5a; big]).unwrap();
    let before = snapshot(&[&s.tftp, &s.nfs]);
    s.refused("alpha", "the TFTP and NFS filesystem has");
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "full target");
    fs::remove_file(s.tree_dir("alpha").join("big")).unwrap();

    // Read-only: refused at the writability check, dry run included.
    s.tree("alpha", "ID=alpha-ro\n");
    mnt.remount("ro");
    let before = snapshot(&[&s.tftp, &s.nfs]);
    s.refused("alpha", "target is not writable");
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "read-only target");
    let o = s.netroot(&["rollback", "alpha"]);
    assert!(
        !o.status.success(),
        "rollback onto a read-only target succeeded"
    );
    assert_same(&before, &snapshot(&[&s.tftp, &s.nfs]), "read-only rollback");
    mnt.remount("rw");
    s.publish_ok("alpha");
}

#[test]
fn a_build_whose_root_tree_is_gone_is_not_published_without_one() {
    let Some(s) = Site::new(&["alpha"]) else {
        return;
    };
    s.publish_ok("alpha");
    let a = netroot::deploy::artifacts(&s.out, "alpha").expect("artifacts");
    assert!(a.root_tree.is_some_and(|t| t.is_dir()));
    let link = s.out.join("alpha/rootfs");
    fs::remove_file(&link).unwrap();
    let e = netroot::deploy::artifacts(&s.out, "alpha").expect_err("no root tree");
    assert_eq!(
        e.to_string(),
        format!(
            "build output {} is missing (run netroot build first)",
            link.display()
        )
    );
}

#[test]
fn a_gc_failure_after_activation_is_a_warning_not_a_failed_publish() {
    let Some(busy) = site::Tmpfs::mount_or_skip("1m") else {
        return;
    };
    let Some(s) = Site::new(&["alpha"]) else {
        return;
    };
    s.publish_ok("alpha");
    let g1 = current(&s.tftp, "alpha");
    for i in 2..4 {
        s.tree("alpha", &format!("ID=alpha-{i}\n"));
        s.publish_ok("alpha");
    }
    // g1's tree is a mount point: moving or removing it fails with EBUSY.
    let mount_point = s.nfs.join("alpha").join(&g1);
    busy.bind_over(&mount_point);
    let text = fs::read_to_string(s.profile_path("alpha")).unwrap();
    fs::write(
        s.profile_path("alpha"),
        format!("{text}[publish]\nkeep = 2\n"),
    )
    .unwrap();
    s.tree("alpha", "ID=alpha-4\n");
    let o = s.publish("alpha", &[]);
    site::Tmpfs::unmount(&mount_point);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let g3 = current(&s.tftp, "alpha");
    assert!(
        stdout(&o).contains("warning: publish.keep = 2: removing old generations failed ("),
        "{}",
        stdout(&o)
    );
    assert_entries_are_records(&s, &["alpha"]);
    assert!(generations(&s.tftp, "alpha").contains(&g3));
}

#[test]
fn rollback_runs_the_hook_the_last_publish_recorded() {
    let Some(s) = Site::new(&["alpha"]) else {
        return;
    };
    let log = s.dir.path().join("hook.log");
    let text = fs::read_to_string(s.profile_path("alpha")).unwrap();
    let hook = format!(
        "[publish]\nhook = \"echo $NETROOT_ACTION $GEN >> {}\"\n",
        log.display()
    );
    fs::write(s.profile_path("alpha"), format!("{text}{hook}")).unwrap();
    s.publish_ok("alpha");
    let g1 = current(&s.tftp, "alpha");
    s.tree("alpha", "ID=alpha-2\n");
    s.publish_ok("alpha");
    let g2 = current(&s.tftp, "alpha");
    // The project no longer loads: rollback takes the hook from the history.
    fs::write(s.profile_path("alpha"), "[bond\n").unwrap();
    let o = s.netroot(&["rollback", "alpha"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_has(&stdout(&o), "hook ok: echo $NETROOT_ACTION");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("publish {g1}\npublish {g2}\nrollback {g1}\n")
    );
}

#[test]
fn per_mac_files_no_longer_rendered_are_removed() {
    let Some(s) = Site::new(&["alpha", "beta"]) else {
        return;
    };
    let na = "pxelinux.cfg/01-52-54-00-00-10-01";
    let na_grub = "boot/grub/grub.cfg-01-52-54-00-00-10-01";
    let nb = "pxelinux.cfg/01-52-54-00-00-10-02";
    s.publish_ok("alpha");
    let g1 = current(&s.tftp, "alpha");
    s.nodes(NODES);
    s.publish_ok("alpha");
    s.publish_ok("beta");
    assert!(s.tftp.join(na).is_file() && s.tftp.join(nb).is_file());

    // Rolling alpha back to g1 (built before na was in nodes.toml) takes na's files away: na
    // boots the shared menu's g1 like any machine without a file.
    let o = s.netroot(&["rollback", "alpha", "--to", &g1]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("tftp:{na}: removed (no longer rendered)")),
        "{}",
        stdout(&o)
    );
    assert!(!s.tftp.join(na).exists() && !s.tftp.join(na_grub).exists());
    assert!(!s.tftp_text("netroot.ipxe").contains("52:54:00:00:10:01"));
    assert!(s.tftp.join(nb).is_file(), "beta's node keeps its file");

    // A node dropped from nodes.toml loses its files at the next publish; the dry run says so.
    s.nodes("[[node]]\nname = \"na\"\nmac = \"52:54:00:00:10:01\"\nprofile = \"alpha\"\n");
    s.tree("beta", "ID=beta-2\n");
    let o = s.publish("beta", &["--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("tftp:{nb}: would remove (no longer rendered)")),
        "{}",
        stdout(&o)
    );
    assert!(s.tftp.join(nb).is_file(), "the dry run removed it");
    s.publish_ok("beta");
    assert!(!s.tftp.join(nb).exists());
    assert!(!s
        .nfs_text("netroot.dnsmasq.conf")
        .contains("52:54:00:00:10:02"));
    let history = s.tftp_text("netroot/beta/history.json");
    assert!(!history.contains("01-52-54-00-00-10-02"), "{history}");
    let v = s.netroot(&["verify", "beta"]);
    assert!(v.status.success(), "{}", stdout(&v));
}

#[test]
fn a_refused_first_publish_leaves_a_fresh_target_empty() {
    let Some(mnt) = site::Tmpfs::mount_or_skip("4m") else {
        return;
    };
    let Some(s) = Site::with_targets(&["alpha"], mnt.path()) else {
        return;
    };
    s.refused("alpha", "the TFTP and NFS filesystem has");
    assert_same(
        &snapshot(&[]),
        &snapshot(&[&s.tftp, &s.nfs]),
        "fresh target",
    );
}
